/** Where the copies leave: a raw IPv4 socket, or with -o Ethernet frames on that device. */
import {
  RawSocketSink,
  ipv4ToString,
  openLinkLayerSink,
  type LinkLayerRoute,
  type PacketSink,
  type RawSocketSinkOptions,
} from '@tcpcopy/common';
import type { CopierConfig } from '../config.js';

/** Throws PacketIoError(RAW_SOCKET) when the socket cannot be opened. */
export function openCopySink(config: CopierConfig, options: RawSocketSinkOptions = {}): PacketSink {
  if (config.outputDevice === undefined) return new RawSocketSink(options);
  const routes = new Map<number, LinkLayerRoute>();
  for (const t of config.transfers) {
    // The config made sure every entry names its next hop with -o, the same for one target.
    routes.set(t.targetIp, {
      dstIp: ipv4ToString(t.targetIp),
      nextHopMac: t.nextHopMac!,
      ...(t.sourceMac === undefined ? {} : { sourceMac: t.sourceMac }),
    });
  }
  return openLinkLayerSink(config.outputDevice, [...routes.values()], options);
}

/** What --check says the copies are sent through. */
export function copySinkName(config: CopierConfig): string {
  return config.outputDevice === undefined ? 'raw IP socket' : `packet socket on ${config.outputDevice}`;
}
