/**
 * Where captured frames come from. The daemons take a PacketSource, so the same wiring runs on
 * a live interface (LiveCapture), a pcap file (PcapFileSource) or a test's fake.
 */
import type { LinkType } from '../packet/link.js';

/**
 * Called once per frame, synchronously. `buf[offset, offset + length)` is the frame, starting
 * with its link header (none for LinkType.Ipv4); the memory is reused for later frames, so
 * decode and rewrite inside the call and copy whatever must outlive it. `tsMicros` is the
 * capture time in microseconds since the epoch when the source knows it (pcap files), undefined
 * otherwise (a live capture is handled as it arrives). `outgoing`: this host sent the packet (a
 * live capture of both directions says so; other sources never do).
 */
export type PacketHandler = (
  buf: Buffer,
  offset: number,
  length: number,
  linkType: LinkType,
  tsMicros?: number,
  outgoing?: boolean,
) => void;

export interface SourceStats {
  /** Frames handed to the handler. */
  received: number;
  /** Frames cut short by the snapshot length (the handler still got their first bytes). */
  truncated: number;
  /** Frames the kernel dropped before we read them, when the source can tell. */
  kernelDropped?: number;
  /** Packets whose sender left the TCP checksum to hardware (checksum offload), when known. */
  checksumPartial?: number;
  /** Bytes of the kernel rings being read now, for a live capture. */
  ringBytes?: number;
  /** Times a live capture's ring was replaced by one twice its size. */
  ringGrowths?: number;
  /** A live capture with a spill area: the most bytes it held at once, and how often it was full. */
  spillPeakBytes?: number;
  spillFull?: number;
  /** A live capture with a spill area: the bytes captured and not read yet, now. */
  spillHeldBytes?: number;
}

export interface PacketSource {
  start(onPacket: PacketHandler): void;
  /** Stops delivering; idempotent. */
  stop(): void;
  stats(): SourceStats;
  /**
   * Keeps the first `snapLength` bytes of each packet from now on (IPV4_MAX_TOTAL_LENGTH: whole
   * packets), for a source that cuts packets at all (a live capture); throws a PacketIoError when
   * it cannot, and nothing changes then.
   */
  setSnapLength?(snapLength: number): void;
}
