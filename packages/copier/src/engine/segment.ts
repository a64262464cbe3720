/**
 * A captured client segment kept until the test server acknowledges it. Segments are immutable
 * and shared by every replica (-n) of a flow: each replica rewrites its own copy at send time.
 */
import {
  IPV4_OFF_CHECKSUM,
  IPV4_OFF_DST,
  IPV4_OFF_ID,
  IPV4_OFF_SRC,
  IPV4_OFF_TOTAL_LENGTH,
  TCP_OFF_CHECKSUM,
  TCP_OFF_FLAGS,
  TCP_OFF_SEQ,
  TcpFlag,
  ipv4HeaderChecksum,
  tcpChecksum,
  type Ipv4View,
  type TcpView,
} from '@tcpcopy/common/packet';
import { seqAdd } from './seq.js';

export interface Segment {
  /** The IPv4 packet as captured (addresses of the real client and production server). */
  readonly packet: Buffer;
  readonly ipHeaderLength: number;
  readonly tcpHeaderLength: number;
  readonly seq: number;
  /** Sequence space the segment occupies: payload, plus one for SYN and one for FIN. */
  readonly seqLength: number;
  readonly payloadLength: number;
  readonly flags: number;
  /** The ack number the real client sent: how much production response it had received. */
  readonly clientAck: number;
  readonly window: number;
  readonly hasTimestamps: boolean;
  readonly tsVal: number;
  /** Window-scale shift offered (meaningful on SYNs), -1 when absent. */
  readonly windowScale: number;
  /** SACK-permitted offered (meaningful on SYNs, RFC 2018 §2). */
  readonly sackPermitted: boolean;
  /** When it was captured (engine time, ms): how far the copy trails production. */
  readonly capturedAt: number;
}

export function segmentEnd(s: Segment): number {
  return seqAdd(s.seq, s.seqLength);
}

function seqLengthOf(flags: number, payloadLength: number): number {
  return payloadLength + (flags & TcpFlag.SYN ? 1 : 0) + (flags & TcpFlag.FIN ? 1 : 0);
}

/**
 * Copies a decoded captured packet into a Segment (the capture buffer is reused afterwards) and
 * computes its checksums afresh. A captured checksum cannot be trusted as a base for the
 * incremental updates made at send time: a segment sent by a local socket over a device with
 * checksum offload carries only the pseudo-header sum ("hardware" was to finish it), and a packet
 * merged by GRO/LRO carries its first segment's checksum over the whole merged payload. The
 * kernel marks both as verified, so no capture flag can tell a final checksum from these; the
 * sum costs one pass over the payload, once per captured segment whatever -n (docs/benchmarks.md).
 * `checksums` false skips it for a segment that splitToMtu will cut (each piece gets its own).
 * They are summed in the capture buffer, whose word view checksum.ts already holds.
 */
export function segmentFromCapture(buf: Buffer, ip: Ipv4View, tcp: TcpView, checksums = true, capturedAt = 0): Segment {
  const packet = Buffer.allocUnsafe(ip.totalLength);
  buf.copy(packet, 0, ip.offset, ip.offset + ip.totalLength);
  if (checksums) {
    packet.writeUInt16BE(ipv4HeaderChecksum(buf, ip.offset, ip.headerLength), IPV4_OFF_CHECKSUM);
    const tcpSum = tcpChecksum(buf, ip.src | 0, ip.dst | 0, tcp.offset, ip.totalLength - ip.headerLength);
    packet.writeUInt16BE(tcpSum, ip.headerLength + TCP_OFF_CHECKSUM);
  }
  return {
    packet,
    ipHeaderLength: ip.headerLength,
    tcpHeaderLength: tcp.headerLength,
    seq: tcp.seq,
    seqLength: seqLengthOf(tcp.flags, tcp.payloadLength),
    payloadLength: tcp.payloadLength,
    flags: tcp.flags,
    clientAck: tcp.ack,
    window: tcp.window,
    hasTimestamps: tcp.options.hasTimestamps,
    tsVal: tcp.options.hasTimestamps ? tcp.options.tsVal : 0,
    windowScale: tcp.options.windowScale,
    sackPermitted: tcp.options.sackPermitted,
    capturedAt,
  };
}

/**
 * Splits a segment whose IP packet exceeds `mtu` (receive offload merged several wire packets
 * before capture) into MTU-sized segments with consecutive IP IDs; PSH and FIN stay on the last
 * piece only. Upstream exits with EMSGSIZE on such packets (docs/upstream.md §1).
 */
export function splitToMtu(seg: Segment, mtu: number): Segment[] {
  const headers = seg.ipHeaderLength + seg.tcpHeaderLength;
  const chunk = mtu - headers;
  if (seg.packet.length <= mtu || chunk <= 0 || seg.payloadLength === 0) return [seg];
  const pieces: Segment[] = [];
  const baseId = seg.packet.readUInt16BE(IPV4_OFF_ID);
  for (let done = 0, n = 0; done < seg.payloadLength; done += chunk, n++) {
    const size = Math.min(chunk, seg.payloadLength - done);
    const last = done + size === seg.payloadLength;
    const packet = Buffer.allocUnsafe(headers + size);
    seg.packet.copy(packet, 0, 0, headers);
    seg.packet.copy(packet, headers, headers + done, headers + done + size);
    const flags = last ? seg.flags : seg.flags & ~(TcpFlag.FIN | TcpFlag.PSH);
    packet.writeUInt16BE(packet.length, IPV4_OFF_TOTAL_LENGTH);
    packet.writeUInt16BE((baseId + n) & 0xffff, IPV4_OFF_ID);
    packet.writeUInt32BE(seqAdd(seg.seq, done), seg.ipHeaderLength + TCP_OFF_SEQ);
    packet[seg.ipHeaderLength + TCP_OFF_FLAGS] = flags;
    refreshChecksums(packet, seg.ipHeaderLength);
    pieces.push({
      ...seg,
      packet,
      seq: seqAdd(seg.seq, done),
      seqLength: seqLengthOf(flags, size),
      payloadLength: size,
      flags,
    });
  }
  return pieces;
}

/**
 * TCP Fast Open (RFC 7413): a SYN that carries data becomes a bare SYN and a data segment after
 * it. The test server holds no TFO cookie for a fake client address (cookies are per client
 * address), so it would accept the data only after the handshake anyway. The data piece is sent
 * with ACK set, but its Segment.flags carry no ACK: the client sent it before any answer, so
 * request pacing never holds it back.
 */
export function splitSynData(seg: Segment): [Segment, Segment] {
  const headers = seg.ipHeaderLength + seg.tcpHeaderLength;
  const synPacket = Buffer.from(seg.packet.subarray(0, headers));
  synPacket.writeUInt16BE(headers, IPV4_OFF_TOTAL_LENGTH);
  refreshChecksums(synPacket, seg.ipHeaderLength);
  const dataPacket = Buffer.from(seg.packet);
  const dataSeq = seqAdd(seg.seq, 1);
  dataPacket.writeUInt32BE(dataSeq, seg.ipHeaderLength + TCP_OFF_SEQ);
  dataPacket[seg.ipHeaderLength + TCP_OFF_FLAGS] = TcpFlag.ACK | TcpFlag.PSH;
  refreshChecksums(dataPacket, seg.ipHeaderLength);
  const syn: Segment = {
    ...seg,
    packet: synPacket,
    seqLength: 1,
    payloadLength: 0,
    flags: seg.flags & ~(TcpFlag.FIN | TcpFlag.PSH),
  };
  const data: Segment = {
    ...seg,
    packet: dataPacket,
    seq: dataSeq,
    seqLength: seg.payloadLength,
    flags: TcpFlag.PSH,
    clientAck: 0,
  };
  return [syn, data];
}

function refreshChecksums(packet: Buffer, ipHeaderLength: number): void {
  packet.writeUInt16BE(ipv4HeaderChecksum(packet, 0, ipHeaderLength), IPV4_OFF_CHECKSUM);
  const src = packet.readUInt32BE(IPV4_OFF_SRC);
  const dst = packet.readUInt32BE(IPV4_OFF_DST);
  packet.writeUInt16BE(
    tcpChecksum(packet, src, dst, ipHeaderLength, packet.length - ipHeaderLength),
    ipHeaderLength + TCP_OFF_CHECKSUM,
  );
}
