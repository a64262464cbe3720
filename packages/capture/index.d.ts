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
  /** Bytes kept of each packet (1..65535); default whole packets. */
  snapLength?: number;
  /**
   * Spill mode: a thread copies each retired block into a spill area of this many bytes (a
   * whole number of blocks) and returns it to the kernel at once; `buffer` is then the spill
   * area, whose pages are resident only as far as the backlog reaches.
   */
  spillBytes?: number;
}

export interface OpenedRing {
  /** The whole ring (or spill area), mapped: descriptors point into it. Valid for packets only during onBlock. */
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
  /** Spill mode: the most bytes of blocks waiting for onBlock at once. */
  spillPeakBytes: number;
  /** Spill mode: bytes of blocks waiting for onBlock now (how far JavaScript is behind). */
  spillHeldBytes: number;
  /** Spill mode: times a retired block found the spill area full (it waited in the ring). */
  spillFull: number;
}

export declare class PacketRing {
  /** Throws an Error whose `code` is EINVAL, ENODEV, EPERM, FILTER, ENOMEM or ESYSCALL. */
  open(device: string, filter: string, options: PacketRingOptions, onBlock: (count: number) => void): OpenedRing;
  /** Stops reading and closes the socket; idempotent, callable from inside onBlock. */
  close(): void;
  /** Hands every retired block to onBlock now (before a close that must lose none of them). */
  drain(): void;
  /**
   * Replaces the filter of the open ring at once, and with `snapLength` (1..65535) the bytes kept
   * of each packet from then on (default: as before); throws an Error whose `code` is FILTER or EINVAL.
   */
  setFilter(filter: string, snapLength?: number): void;
  /** Direction `both` only: whether what this host sends is shown (it costs the kernel a copy per
   *  packet sent, matched or not). */
  setOutgoing(seen: boolean): void;
  stats(): PacketRingStats;
}

/** Compiles a pcap-filter(7) expression for raw IPv4; returns its instruction count or throws (code FILTER). */
export declare function compileFilter(filter: string): number;

/** A device's offload features, as `ethtool -k` names them; each is on (true) or off. */
export interface DeviceOffloads {
  /** rx-checksumming: the device verifies received checksums. */
  rxChecksum: boolean;
  /** tx-checksumming: this host's packets leave with checksums for the device to finish. */
  txChecksum: boolean;
  /** tcp-segmentation-offload: the device cuts this host's super-segments to the MTU. */
  tso: boolean;
  /** generic-segmentation-offload: the stack cuts them just before the driver. */
  gso: boolean;
  /** generic-receive-offload: received segments of a flow are merged (up to 64 KiB) in software. */
  gro: boolean;
  /** large-receive-offload: the same, done by the device. */
  lro: boolean;
}

/**
 * Reads a device's offload features (the legacy SIOCETHTOOL ioctls; no privilege needed). A
 * feature the driver does not implement is false. Throws an Error whose `code` is EINVAL (not a
 * device name), ENODEV, EPERM, ENOMEM or ESYSCALL.
 */
export declare function offloads(device: string): DeviceOffloads;

export declare const FIELDS: number;
export declare const FLAG_CHECKSUM_PARTIAL: number;
export declare const FLAG_CHECKSUM_VERIFIED: number;
export declare const FLAG_OUTGOING: number;

/**
 * An AF_PACKET socket that sends whole Ethernet frames on one device, past the IP stack
 * (tcpcopy -o). It receives nothing. The constructor throws an Error whose `code` is EINVAL
 * (not an Ethernet device name), ENODEV, EPERM (no CAP_NET_RAW) or ESYSCALL.
 */
export declare class LinkSocket {
  constructor(device: string);
  /** The device's own MAC address, `aa:bb:cc:dd:ee:ff`. */
  readonly mac: string;
  /** Sends `buffer[offset, offset + length)` as one frame; throws an Error whose message is strerror(errno). */
  send(buffer: Buffer, offset: number, length: number): void;
  close(): void;
}

/** libpcap's own version text (pcap_lib_version), e.g. `libpcap version 1.10.3 (with TPACKET_V3)`. */
export declare function libpcapVersion(): string;
