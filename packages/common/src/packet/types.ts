/**
 * Decoded header views. Decoders fill a caller-owned, reusable object (no allocation per
 * packet) and return a DecodeStatus; fields are only meaningful when the status is Ok.
 */

/** Why a decoder rejected its input. Ok is 0 so `if (status !== DecodeStatus.Ok)` reads plainly. */
export const DecodeStatus = {
  Ok: 0,
  Truncated: 1,
  UnsupportedLinkType: 2,
  NotIpv4: 3,
  BadIpVersion: 4,
  BadIhl: 5,
  BadTotalLength: 6,
  NotTcp: 7,
  BadDataOffset: 8,
  BadOptionLength: 9,
  Fragment: 10,
} as const;
export type DecodeStatus = (typeof DecodeStatus)[keyof typeof DecodeStatus];

/** Human-readable reason per status, indexed by the status value (for counters and logs). */
export const DECODE_STATUS_NAMES: readonly string[] = [
  'ok',
  'truncated',
  'unsupported link type',
  'not IPv4',
  'bad IP version',
  'bad IHL',
  'bad total length',
  'not TCP',
  'bad data offset',
  'bad option length',
  'fragment',
];

/** Where the network-layer packet starts inside a captured frame. */
export interface LinkView {
  /** Offset of the IP header from the start of the frame. */
  networkOffset: number;
  /** EtherType (or its equivalent) of the payload, e.g. 0x0800 for IPv4. */
  etherType: number;
  /** Number of 802.1Q tags skipped (Ethernet only). */
  vlanTags: number;
  /** SLL/SLL2 packet type (0 = to us, 4 = outgoing, ...); -1 when the link layer has none. */
  packetType: number;
}

export interface Ipv4View {
  /** Offset of the IPv4 header in the buffer. */
  offset: number;
  headerLength: number;
  totalLength: number;
  tos: number;
  id: number;
  /** Flags and fragment offset, as on the wire (3 bits flags + 13 bits offset). */
  flagsFragment: number;
  isFragment: boolean;
  ttl: number;
  protocol: number;
  checksum: number;
  /** Addresses as unsigned 32-bit integers in host order (a.b.c.d = a<<24 | ...). */
  src: number;
  dst: number;
  /** Bytes of the packet actually present (<= totalLength when the capture was cut by snaplen). */
  capturedLength: number;
}

export interface TcpOptionsView {
  /** -1 when absent. */
  mss: number;
  /** Window-scale shift; -1 when absent. */
  windowScale: number;
  sackPermitted: boolean;
  /** True when a timestamps option is present; then tsVal/tsEcr are set. */
  hasTimestamps: boolean;
  tsVal: number;
  tsEcr: number;
  /** Offset of the TSval field in the buffer (for in-place rewrites); -1 when absent. */
  tsValOffset: number;
  /** Number of SACK blocks (0..4); left/right edges in sackBlocks[0..2n). */
  sackBlockCount: number;
  sackBlocks: number[];
  /** Count of options with kinds this decoder does not interpret (kept opaque, still valid). */
  unknownCount: number;
}

export interface TcpView {
  offset: number;
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  headerLength: number;
  flags: number;
  window: number;
  checksum: number;
  urgent: number;
  /** Payload length according to the IP total length (may exceed the captured bytes). */
  payloadLength: number;
  /** Offset of the payload in the buffer. */
  payloadOffset: number;
  options: TcpOptionsView;
}
