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
  /** Offset of the IP header in the buffer (the frame's offset plus the link header length). */
  networkOffset: number;
  /** Bytes from networkOffset to the end of the captured frame (what decodeIpv4 may read). */
  networkLength: number;
  /** EtherType (or its equivalent) of the payload, e.g. 0x0800 for IPv4. */
  etherType: number;
  /** Number of 802.1Q / 802.1ad tags skipped (Ethernet only). */
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
  /** More-fragments set or a non-zero fragment offset: this is not a whole datagram. */
  isFragment: boolean;
  /** Fragment offset in bytes; non-zero means no transport header is present. */
  fragmentOffset: number;
  ttl: number;
  protocol: number;
  checksum: number;
  /** Addresses as unsigned 32-bit integers in host order (a.b.c.d = a<<24 | ...). */
  src: number;
  dst: number;
  /**
   * Bytes of the packet actually present: min(available, totalLength). Less than totalLength when
   * the capture was cut by snaplen or the record carries headers only; link padding is excluded.
   */
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
  /** Offset of the SACK option's kind byte in the buffer (for blanking it); -1 when absent. */
  sackOffset: number;
  /** Number of SACK blocks (0..4); left/right edges in sackBlocks[0..2n) (length 8, reused). */
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
  /** Payload bytes actually present in the buffer (<= payloadLength). */
  capturedPayloadLength: number;
  options: TcpOptionsView;
}

/** Number of SACK edges a TcpOptionsView can hold: 4 blocks of (left, right) (RFC 2018 §3). */
export const MAX_SACK_EDGES = 8;

export function newLinkView(): LinkView {
  return { networkOffset: 0, networkLength: 0, etherType: 0, vlanTags: 0, packetType: -1 };
}

export function newIpv4View(): Ipv4View {
  return {
    offset: 0,
    headerLength: 0,
    totalLength: 0,
    tos: 0,
    id: 0,
    flagsFragment: 0,
    isFragment: false,
    fragmentOffset: 0,
    ttl: 0,
    protocol: 0,
    checksum: 0,
    src: 0,
    dst: 0,
    capturedLength: 0,
  };
}

export function newTcpOptionsView(): TcpOptionsView {
  return {
    mss: -1,
    windowScale: -1,
    sackPermitted: false,
    hasTimestamps: false,
    tsVal: 0,
    tsEcr: 0,
    tsValOffset: -1,
    sackOffset: -1,
    sackBlockCount: 0,
    sackBlocks: new Array<number>(MAX_SACK_EDGES).fill(0),
    unknownCount: 0,
  };
}

export function newTcpView(): TcpView {
  return {
    offset: 0,
    srcPort: 0,
    dstPort: 0,
    seq: 0,
    ack: 0,
    headerLength: 0,
    flags: 0,
    window: 0,
    checksum: 0,
    urgent: 0,
    payloadLength: 0,
    payloadOffset: 0,
    capturedPayloadLength: 0,
    options: newTcpOptionsView(),
  };
}
