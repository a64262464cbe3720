/**
 * Live capture with libpcap through the `cap` binding: one Cap handle per device, all feeding
 * one handler. cap opens in immediate mode with a 65535-byte snapshot and promiscuous mode.
 */
import { createRequire } from 'node:module';
import { ErrorCode, PacketIoError } from '../errors.js';
import { linkTypeFromCapName, type LinkType } from '../packet/link.js';
import type { PacketHandler, PacketSource, SourceStats } from './source.js';

/** The parts of `cap` we use (the package ships no types). */
export interface CapHandle {
  open(device: string, filter: string, bufSize: number, buffer: Buffer): string;
  close(): void;
  on(event: 'packet', listener: (nbytes: number, truncated: boolean) => void): void;
  removeAllListeners(event: 'packet'): void;
}
interface CapModule {
  Cap: { new (): CapHandle; deviceList(): { name: string }[] };
}

let capModule: CapModule | undefined;
/** Loaded on first use: importing @tcpcopy/common must not load a native addon. */
function loadCap(): CapModule {
  capModule ??= createRequire(import.meta.url)('cap') as CapModule;
  return capModule;
}

/**
 * Every cap handle ever made, kept for the life of the process. cap's close() stops its poll
 * handle but never uv_close()s it, and a handle whose open failed stops an uninitialised one in
 * its destructor: once such a Cap is garbage-collected, libuv's handle list points into freed
 * memory and the process aborts later (`uv_poll_stop: Assertion '!uv__is_closing(handle)'`, seen
 * in the lab). Its capture Buffer stays with it (DESIGN.md §7). A daemon opens a handful.
 */
const retainedHandles: unknown[] = [];

/** An opened cap handle: its link type name as cap reports it, and the buffer it writes into. */
export interface OpenedCapture {
  readonly cap: CapHandle;
  readonly buffer: Buffer;
  readonly linkName: string;
}

/** Opens `device` with `filter`; throws cap's error. The handle is retained (see above). */
export function openCapture(device: string, filter: string, ringBytes: number): OpenedCapture {
  const cap = new (loadCap().Cap)();
  const buffer = Buffer.alloc(CAP_SNAPSHOT_LENGTH);
  retainedHandles.push(cap, buffer);
  return { cap, buffer, linkName: cap.open(device, filter, ringBytes, buffer) };
}

/** cap's snapshot length (binding.cc) and so the largest frame a handle can deliver. */
export const CAP_SNAPSHOT_LENGTH = 65535;
/**
 * libpcap ring per device. In immediate mode each ring slot holds one frame: about the MTU on a
 * real device (32 MiB is ~16 000 frames, enough to ride out a pause of the event loop), but the
 * whole 64 KiB snapshot on `any`, whose MTU libpcap cannot know: there 32 MiB would be only
 * ~500 frames and a burst overruns it (measured in the lab: 1.6 % lost at ~65 k frames/s), so
 * `any` gets four times the memory. Capturing on the real devices is cheaper and preferred.
 */
export const DEFAULT_CAPTURE_RING_BYTES = 32 * 1024 * 1024;
export const DEFAULT_ANY_RING_BYTES = 128 * 1024 * 1024;
/** libpcap's pseudo-device for all interfaces (LINUX_SLL2 frames). */
export const ANY_DEVICE = 'any';

export interface LiveCaptureOptions {
  /** Interface names as libpcap knows them; 'any' captures on all (LINUX_SLL2 frames). */
  devices: readonly string[];
  /** pcap-filter(7) expression, applied in the kernel. */
  filter: string;
  /** libpcap ring per device; default DEFAULT_CAPTURE_RING_BYTES (DEFAULT_ANY_RING_BYTES on 'any'). */
  ringBytes?: number;
}

interface DeviceHandle {
  readonly device: string;
  readonly cap: CapHandle;
  /** cap keeps only a raw pointer to this Buffer: it must stay referenced for as long as the
   *  handle is open, or libpcap writes into freed memory (DESIGN.md §7). */
  readonly buffer: Buffer;
  readonly linkType: LinkType;
}

export class LiveCapture implements PacketSource {
  private readonly handles: DeviceHandle[] = [];
  private received = 0;
  private truncated = 0;

  constructor(private readonly options: LiveCaptureOptions) {
    if (options.devices.length === 0) throw new PacketIoError(ErrorCode.DEVICE, 'no capture device given');
  }

  /** Link type per device, known once started. */
  get linkTypes(): ReadonlyMap<string, LinkType> {
    return new Map(this.handles.map((h) => [h.device, h.linkType]));
  }

  /** Opens every device; throws a PacketIoError (DEVICE, FILTER or CAPTURE_OPEN) and opens
   *  none if any of them fails. */
  start(onPacket: PacketHandler): void {
    if (this.handles.length > 0) throw new PacketIoError(ErrorCode.CAPTURE_OPEN, 'capture already started');
    const { Cap } = loadCap();
    const known = new Set(Cap.deviceList().map((d) => d.name));
    try {
      for (const device of this.options.devices) {
        if (!known.has(device)) throw new PacketIoError(ErrorCode.DEVICE, `no capture device ${device} (have: ${[...known].join(', ')})`);
        this.handles.push(this.open(device, onPacket));
      }
    } catch (err) {
      this.stop();
      throw err;
    }
  }

  private open(device: string, onPacket: PacketHandler): DeviceHandle {
    let opened: OpenedCapture;
    try {
      const ring = this.options.ringBytes ?? (device === ANY_DEVICE ? DEFAULT_ANY_RING_BYTES : DEFAULT_CAPTURE_RING_BYTES);
      opened = openCapture(device, this.options.filter, ring);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const code = /filter|syntax/i.test(message) ? ErrorCode.FILTER : ErrorCode.CAPTURE_OPEN;
      throw new PacketIoError(code, `cannot capture on ${device} with filter "${this.options.filter}": ${message}`, { cause: err });
    }
    const { cap, buffer, linkName: name } = opened;
    const linkType = linkTypeFromCapName(name);
    if (linkType === undefined) {
      cap.close();
      throw new PacketIoError(ErrorCode.CAPTURE_OPEN, `${device}: unsupported link type ${name}`);
    }
    cap.on('packet', (nbytes, truncated) => {
      this.received++;
      if (truncated) this.truncated++;
      onPacket(buffer, nbytes, linkType);
    });
    return { device, cap, buffer, linkType };
  }

  stop(): void {
    for (const h of this.handles) {
      h.cap.removeAllListeners('packet');
      h.cap.close();
    }
    this.handles.length = 0;
  }

  /** cap exposes no pcap_stats(), so kernel drops are unknown here. */
  stats(): SourceStats {
    return { received: this.received, truncated: this.truncated };
  }
}
