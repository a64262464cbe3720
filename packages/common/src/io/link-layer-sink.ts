/**
 * Link-layer sending (tcpcopy -o IFACE with -x ...@MAC): each copy leaves as an Ethernet frame
 * on IFACE through the capture addon's LinkSocket, past the host's IP stack: no routing, no
 * netfilter or conntrack (a firewall that drops the raw socket's packets as invalid never sees
 * these), no reverse-path filter. The frame goes to the next hop's MAC given with -x, from the
 * -x source MAC or IFACE's own. Queueing and retries are the raw-socket sink's: this is its
 * socket.
 */
import { createRequire } from 'node:module';
import { getSystemErrorMap } from 'node:util';
import type * as CaptureAddon from '@tcpcopy/capture';
import { RawSocketSink, type RawSocket, type RawSocketSinkOptions, type SendCallback } from './raw-socket-sink.js';
import type { PacketSink } from './sink.js';

/** Where the frames for one test server go. */
export interface LinkLayerRoute {
  /** The test server's address, as the sink is handed it. */
  readonly dstIp: string;
  /** `aa:bb:cc:dd:ee:ff`: the test server's, or the router's towards it. */
  readonly nextHopMac: string;
  /** `aa:bb:cc:dd:ee:ff`; default the device's own. */
  readonly sourceMac?: string;
}

const ETHER_HEADER_BYTES = 14;
const ETHER_OFF_SOURCE = 6;
const ETHER_OFF_TYPE = 12;
const ETHERTYPE_IPV4 = 0x0800;
const MAC_BYTES = 6;
/** The largest frame: an Ethernet header and the largest IPv4 packet. */
const MAX_FRAME_BYTES = ETHER_HEADER_BYTES + 0xffff;

/** The 6 bytes of a MAC address written as six hex pairs with any one-character separators. */
export function macBytes(mac: string): Buffer {
  const bytes = Buffer.alloc(MAC_BYTES);
  for (let i = 0; i < MAC_BYTES; i++) bytes[i] = parseInt(mac.slice(i * 3, i * 3 + 2), 16);
  return bytes;
}

/** As libuv words it, so that the raw-socket sink counts it by name (errnoName). */
function systemMessage(name: string): string {
  for (const [entryName, message] of getSystemErrorMap().values()) if (entryName === name) return message;
  return name;
}

/** The raw-socket sink's socket made of a link socket: frames assembled from the packets it is handed. */
export class LinkLayerSocket implements RawSocket {
  /** Headers and packets are assembled here: the link socket sends one frame per call. */
  private readonly frame = Buffer.allocUnsafe(MAX_FRAME_BYTES);
  private readonly headers = new Map<string, Buffer>();
  private readonly unreachable = systemMessage('EHOSTUNREACH');

  constructor(
    private readonly link: CaptureAddon.LinkSocket,
    routes: readonly LinkLayerRoute[],
  ) {
    for (const route of routes) {
      const header = Buffer.alloc(ETHER_HEADER_BYTES);
      macBytes(route.nextHopMac).copy(header, 0);
      macBytes(route.sourceMac ?? link.mac).copy(header, ETHER_OFF_SOURCE);
      header.writeUInt16BE(ETHERTYPE_IPV4, ETHER_OFF_TYPE);
      this.headers.set(route.dstIp, header);
    }
  }

  sendNow(buffer: Buffer, offset: number, length: number, address: string): void {
    const header = this.headers.get(address);
    if (header === undefined) throw new Error(this.unreachable);
    header.copy(this.frame, 0);
    buffer.copy(this.frame, ETHER_HEADER_BYTES, offset, offset + length);
    this.link.send(this.frame, 0, ETHER_HEADER_BYTES + length);
  }

  send(buffer: Buffer, offset: number, length: number, address: string, afterCallback: SendCallback): void {
    try {
      this.sendNow(buffer, offset, length, address);
      afterCallback(null, length);
    } catch (err) {
      afterCallback(err as Error, 0);
    }
  }

  pauseRecv(): void {}

  close(): void {
    this.link.close();
  }

  /** A link socket reports every error from send itself. */
  on(): this {
    return this;
  }
}

/** Opens the sink; throws PacketIoError(RAW_SOCKET) when the device cannot be sent on. */
export function openLinkLayerSink(
  device: string,
  routes: readonly LinkLayerRoute[],
  options: RawSocketSinkOptions = {},
): PacketSink {
  const createSocket = (): RawSocket => {
    const addon = createRequire(import.meta.url)('@tcpcopy/capture') as typeof CaptureAddon;
    return new LinkLayerSocket(new addon.LinkSocket(device), routes);
  };
  return new RawSocketSink({ socketName: `a packet socket on ${device}`, ...options, createSocket });
}
