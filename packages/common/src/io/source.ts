/**
 * Where captured frames come from. The daemons take a PacketSource, so the same wiring runs on
 * a live interface (LiveCapture), a pcap file (PcapFileSource) or a test's fake.
 */
import type { LinkType } from '../packet/link.js';

/**
 * Called once per frame, synchronously. `buf[0..length)` is the frame, starting with its link
 * header; the buffer is reused for the next frame, so decode and rewrite inside the call and
 * copy whatever must outlive it (DESIGN.md §7). `tsMicros` is the capture time in microseconds
 * since the epoch when the source knows it (pcap files), undefined otherwise (cap gives none).
 */
export type PacketHandler = (buf: Buffer, length: number, linkType: LinkType, tsMicros?: number) => void;

export interface SourceStats {
  /** Frames handed to the handler. */
  received: number;
  /** Frames cut short by the snapshot length (the handler still got their first bytes). */
  truncated: number;
  /** Frames the kernel dropped before we read them, when the source can tell. */
  kernelDropped?: number;
}

export interface PacketSource {
  start(onPacket: PacketHandler): void;
  /** Stops delivering; idempotent. */
  stop(): void;
  stats(): SourceStats;
}
