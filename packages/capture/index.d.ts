/** Where a ring captures: IPv4 packets only, link header stripped (SOCK_DGRAM). */
export interface PacketRingOptions {
  /** Kernel ring size, a whole number of blocks. */
  ringBytes: number;
  /** One block: a page multiple of at least 128 KiB (a packet of up to 64 KiB must fit). */
  blockBytes: number;
  /** A block that is not full is handed over after this long (TPACKET_V3 retire timeout). */
  blockTimeoutMs: number;
  /** `in`: only what this host receives; `both`: also what it sends (flagged FLAG_OUTGOING). */
  direction: 'in' | 'both';
  /** Promiscuous mode on a named device (mirrored traffic); ignored on `any`. */
  promiscuous: boolean;
}

export interface OpenedRing {
  /** The whole ring, mapped: descriptors point into it. Valid for packets only during onBlock. */
  buffer: Buffer;
  /** FIELDS int32 per packet of the current block: offset, captured, length, flags. */
  descriptors: Int32Array;
  blockCount: number;
}

export interface PacketRingStats {
  /** Packets the filter accepted and the ring held. */
  received: number;
  /** Packets the filter accepted but the full ring could not hold (PACKET_STATISTICS). */
  kernelDropped: number;
  /** Packets whose checksum the sender left unfinished (TP_STATUS_CSUMNOTREADY). */
  checksumPartial: number;
  ringFreezes: number;
}

export declare class PacketRing {
  /** Throws an Error whose `code` is EINVAL, ENODEV, EPERM, FILTER, ENOMEM or ESYSCALL. */
  open(device: string, filter: string, options: PacketRingOptions, onBlock: (count: number) => void): OpenedRing;
  /** Stops reading and closes the socket; idempotent, callable from inside onBlock. */
  close(): void;
  stats(): PacketRingStats;
}

/** Compiles a pcap-filter(7) expression for raw IPv4; returns its instruction count or throws (code FILTER). */
export declare function compileFilter(filter: string): number;

export declare const FIELDS: number;
export declare const FLAG_CHECKSUM_PARTIAL: number;
export declare const FLAG_CHECKSUM_VERIFIED: number;
export declare const FLAG_OUTGOING: number;
