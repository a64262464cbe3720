/**
 * Writes complete IPv4+TCP packets with correct checksums into a caller-provided buffer: the
 * copier's faked SYN/ACK/RST and the test builders share this one implementation.
 */
import { writeU16, writeU32 } from './bytes.js';
import { ipv4HeaderChecksum, tcpChecksum } from './checksum.js';
import {
  IPPROTO_TCP,
  IPV4_FLAG_DF,
  IPV4_MAX_TOTAL_LENGTH,
  IPV4_MIN_HEADER_LENGTH,
  IPV4_MAX_HEADER_LENGTH,
  IPV4_OFF_CHECKSUM,
  IPV4_OFF_DST,
  IPV4_OFF_FLAGS_FRAGMENT,
  IPV4_OFF_ID,
  IPV4_OFF_PROTOCOL,
  IPV4_OFF_SRC,
  IPV4_OFF_TOS,
  IPV4_OFF_TOTAL_LENGTH,
  IPV4_OFF_TTL,
  IPV4_OFF_VERSION_IHL,
  IPV4_VERSION,
  IPV4_WORD_LENGTH,
} from './ipv4.js';
import {
  TCP_MIN_HEADER_LENGTH,
  TCP_OFF_ACK,
  TCP_OFF_CHECKSUM,
  TCP_OFF_DATA_OFFSET,
  TCP_OFF_DST_PORT,
  TCP_OFF_FLAGS,
  TCP_OFF_SEQ,
  TCP_OFF_SRC_PORT,
  TCP_OFF_URGENT,
  TCP_OFF_WINDOW,
  TCP_WORD_LENGTH,
} from './tcp.js';
import { encodeTcpOptions, tcpOptionsLength, type TcpOptionsSpec } from './tcp-options.js';

/** TTL of packets the copier crafts, as upstream tcpcopy uses (and Linux's default). */
export const DEFAULT_TTL = 64;

/** Everything needed to write one IPv4+TCP packet. Addresses are host-order uint32. */
export interface TcpPacketFields {
  src: number;
  dst: number;
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  /** TcpFlag bits. */
  flags: number;
  window: number;
  urgent?: number;
  options?: TcpOptionsSpec;
  payload?: Uint8Array;
  /** IP identification; default 0. */
  ipId?: number;
  /** Default DEFAULT_TTL. */
  ttl?: number;
  tos?: number;
  /** Don't-fragment flag; default true (TCP does path-MTU discovery, RFC 1191). */
  df?: boolean;
  /** IP options, zero-padded (End of Option List) to a multiple of 4 bytes. */
  ipOptions?: Uint8Array;
}

function padded4(n: number): number {
  return (n + 3) & ~3;
}

function ipHeaderLength(fields: TcpPacketFields): number {
  return IPV4_MIN_HEADER_LENGTH + padded4(fields.ipOptions?.length ?? 0);
}

/** Bytes writeTcpPacket will write for `fields`. */
export function tcpPacketLength(fields: TcpPacketFields): number {
  const tcpHeader = TCP_MIN_HEADER_LENGTH + (fields.options === undefined ? 0 : tcpOptionsLength(fields.options));
  return ipHeaderLength(fields) + tcpHeader + (fields.payload?.length ?? 0);
}

/**
 * Writes the packet at `offset` and returns its length. Throws RangeError for fields that cannot
 * form a packet (options or IP options too long, total over 65535 bytes, buffer too short):
 * those are caller bugs, never input data.
 */
export function writeTcpPacket(buf: Uint8Array, offset: number, fields: TcpPacketFields): number {
  const ipLen = ipHeaderLength(fields);
  if (ipLen > IPV4_MAX_HEADER_LENGTH)
    throw new RangeError(`IP options make a ${ipLen}-byte header, at most ${IPV4_MAX_HEADER_LENGTH}`);
  const total = tcpPacketLength(fields);
  if (total > IPV4_MAX_TOTAL_LENGTH) throw new RangeError(`packet of ${total} bytes exceeds the IPv4 maximum`);
  if (offset + total > buf.length) throw new RangeError(`buffer too short: need ${total} bytes at offset ${offset}`);

  const ip = offset;
  buf[ip + IPV4_OFF_VERSION_IHL] = (IPV4_VERSION << 4) | (ipLen / IPV4_WORD_LENGTH);
  buf[ip + IPV4_OFF_TOS] = fields.tos ?? 0;
  writeU16(buf, ip + IPV4_OFF_TOTAL_LENGTH, total);
  writeU16(buf, ip + IPV4_OFF_ID, fields.ipId ?? 0);
  writeU16(buf, ip + IPV4_OFF_FLAGS_FRAGMENT, fields.df === false ? 0 : IPV4_FLAG_DF);
  buf[ip + IPV4_OFF_TTL] = fields.ttl ?? DEFAULT_TTL;
  buf[ip + IPV4_OFF_PROTOCOL] = IPPROTO_TCP;
  writeU16(buf, ip + IPV4_OFF_CHECKSUM, 0);
  writeU32(buf, ip + IPV4_OFF_SRC, fields.src | 0);
  writeU32(buf, ip + IPV4_OFF_DST, fields.dst | 0);
  if (fields.ipOptions !== undefined) {
    buf.set(fields.ipOptions, ip + IPV4_MIN_HEADER_LENGTH);
    buf.fill(0, ip + IPV4_MIN_HEADER_LENGTH + fields.ipOptions.length, ip + ipLen);
  }

  const tcp = ip + ipLen;
  const optLen = fields.options === undefined ? 0 : encodeTcpOptions(fields.options, buf, tcp + TCP_MIN_HEADER_LENGTH);
  const tcpLen = TCP_MIN_HEADER_LENGTH + optLen;
  writeU16(buf, tcp + TCP_OFF_SRC_PORT, fields.srcPort);
  writeU16(buf, tcp + TCP_OFF_DST_PORT, fields.dstPort);
  writeU32(buf, tcp + TCP_OFF_SEQ, fields.seq | 0);
  writeU32(buf, tcp + TCP_OFF_ACK, fields.ack | 0);
  buf[tcp + TCP_OFF_DATA_OFFSET] = (tcpLen / TCP_WORD_LENGTH) << 4;
  buf[tcp + TCP_OFF_FLAGS] = fields.flags;
  writeU16(buf, tcp + TCP_OFF_WINDOW, fields.window);
  writeU16(buf, tcp + TCP_OFF_URGENT, fields.urgent ?? 0);
  if (fields.payload !== undefined) buf.set(fields.payload, tcp + tcpLen);

  writeU16(buf, ip + IPV4_OFF_CHECKSUM, ipv4HeaderChecksum(buf, ip, ipLen));
  writeU16(buf, tcp + TCP_OFF_CHECKSUM, tcpChecksum(buf, fields.src | 0, fields.dst | 0, tcp, total - ipLen));
  return total;
}
