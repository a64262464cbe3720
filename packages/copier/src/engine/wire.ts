/**
 * Packets as the test server sees them: a buffered client segment rewritten for one replica
 * (addresses, ports, ack, timestamps, window; checksums patched incrementally by the common
 * rewriter), and the packets the copier makes itself (faked SYN, ACK, RST).
 */
import {
  DecodeStatus,
  TcpFlag,
  blankSackOption,
  decodeIpv4,
  decodeTcp,
  newIpv4View,
  newTcpView,
  rewriteAck,
  rewriteDstAddr,
  rewriteDstPort,
  rewriteSrcAddr,
  rewriteSrcPort,
  rewriteTsEcr,
  rewriteTsVal,
  rewriteWindow,
  writeTcpPacket,
  type Ipv4View,
  type TcpOptionsSpec,
  type TcpView,
} from '@tcpcopy/common/packet';
import type { Segment } from './segment.js';

/** The 4-tuple of a replica session as the test server sees it. */
export interface Tuple {
  readonly srcIp: number;
  readonly srcPort: number;
  readonly dstIp: number;
  readonly dstPort: number;
}

/** Fields that change every time a segment is (re)sent. */
export interface SendState {
  ack: number;
  /** Window field to write, or -1 to keep the client's. */
  window: number;
  /** Timestamps negotiated with the test server: TSecr carries its latest TSval. */
  tsOn: boolean;
  tsEcr: number;
  /** Smallest TSval allowed: TSval must never go backwards (RFC 7323 §5.3, PAWS). */
  tsValFloor: number;
}

/** A reusable output buffer with views over what was last written into it. */
export class PacketScratch {
  readonly buf: Buffer;
  readonly ip: Ipv4View = newIpv4View();
  readonly tcp: TcpView = newTcpView();

  constructor(size: number) {
    this.buf = Buffer.alloc(size);
  }
}

/** Timestamps compare modulo 2^32 like sequence numbers (RFC 7323 §5.2). */
function laterTs(a: number, b: number): number {
  return ((a - b) | 0) >= 0 ? a : b;
}

/** Copies `seg` into the scratch buffer rewritten for `tuple`; returns the packet length. */
export function writeSegment(out: PacketScratch, seg: Segment, tuple: Tuple, state: SendState): number {
  const buf = out.buf;
  const { ip, tcp } = out;
  seg.packet.copy(buf, 0);
  // The segment decoded once already when captured: this cannot fail, it only re-finds offsets.
  if (decodeIpv4(buf, 0, seg.packet.length, ip) !== DecodeStatus.Ok || decodeTcp(buf, ip, tcp) !== DecodeStatus.Ok)
    return 0;
  // 32-bit values go in as int32 (`| 0`): a uint32 above 2^31 would be boxed on every call
  // (the rewriters take either; see common/src/packet/rewrite.ts).
  rewriteSrcAddr(buf, ip, tcp, tuple.srcIp | 0);
  rewriteDstAddr(buf, ip, tcp, tuple.dstIp | 0);
  rewriteSrcPort(buf, tcp, tuple.srcPort);
  rewriteDstPort(buf, tcp, tuple.dstPort);
  // The packet's own ACK bit, not seg.flags: a TFO data piece is sent with ACK (segment.ts).
  if (tcp.flags & TcpFlag.ACK) rewriteAck(buf, tcp, state.ack | 0);
  if (state.window >= 0) rewriteWindow(buf, tcp, state.window);
  if (tcp.options.hasTimestamps) {
    const tsVal = laterTs(tcp.options.tsVal, state.tsValFloor);
    if (tsVal !== tcp.options.tsVal) rewriteTsVal(buf, tcp, tsVal | 0);
    state.tsValFloor = tsVal;
    if (state.tsOn && tcp.flags & TcpFlag.ACK) rewriteTsEcr(buf, tcp, state.tsEcr | 0);
  }
  // Last: it recomputes the TCP checksum over everything written above.
  if (tcp.options.sackOffset >= 0) blankSackOption(buf, ip, tcp);
  return seg.packet.length;
}

export interface MadePacket {
  seq: number;
  ack: number;
  flags: number;
  window: number;
  ipId: number;
  options?: TcpOptionsSpec | undefined;
}

/** Writes a packet the copier makes itself (DF, TTL 64, no IP options); returns its length. */
export function writeMadePacket(out: Buffer, tuple: Tuple, p: MadePacket): number {
  return writeTcpPacket(out, 0, {
    src: tuple.srcIp,
    dst: tuple.dstIp,
    srcPort: tuple.srcPort,
    dstPort: tuple.dstPort,
    seq: p.seq,
    ack: p.flags & TcpFlag.ACK ? p.ack : 0,
    flags: p.flags,
    window: p.window,
    ipId: p.ipId & 0xffff,
    options: p.options,
  });
}
