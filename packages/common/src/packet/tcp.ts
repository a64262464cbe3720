/** TCP header (RFC 9293 §3.1). */
import { readI32, readU16 } from './bytes.js';
import { IPPROTO_TCP } from './ipv4.js';
import { decodeTcpOptions } from './tcp-options.js';
import { DecodeStatus, type Ipv4View, type TcpView } from './types.js';

/** Control bits in header byte 13 (RFC 9293 §3.1; ECE and CWR from RFC 3168 §6.1). */
export const TcpFlag = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
  ECE: 0x40,
  CWR: 0x80,
} as const;

/** The data offset counts 32-bit words. */
export const TCP_WORD_LENGTH = 4;
/** Header without options: data offset 5 (32-bit words). */
export const TCP_MIN_HEADER_LENGTH = 20;
/** Data offset is 4 bits: at most 15 words. */
export const TCP_MAX_HEADER_LENGTH = 60;

/** Field offsets within the header. */
export const TCP_OFF_SRC_PORT = 0;
export const TCP_OFF_DST_PORT = 2;
export const TCP_OFF_SEQ = 4;
export const TCP_OFF_ACK = 8;
export const TCP_OFF_DATA_OFFSET = 12;
export const TCP_OFF_FLAGS = 13;
export const TCP_OFF_WINDOW = 14;
export const TCP_OFF_CHECKSUM = 16;
export const TCP_OFF_URGENT = 18;

/**
 * Decodes the TCP header carried by a decoded IPv4 packet. The segment length comes from the
 * IP total length; the captured bytes from ip.capturedLength, so a snaplen-cut capture decodes as
 * long as the whole TCP header is present.
 */
export function decodeTcp(buf: Uint8Array, ip: Ipv4View, out: TcpView): DecodeStatus {
  if (ip.protocol !== IPPROTO_TCP) return DecodeStatus.NotTcp;
  // Only the first fragment carries the transport header (RFC 791 §3.2, fragmentation).
  if (ip.fragmentOffset !== 0) return DecodeStatus.Fragment;
  return decodeTcpSegment(
    buf,
    ip.offset + ip.headerLength,
    ip.totalLength - ip.headerLength,
    ip.capturedLength - ip.headerLength,
    out,
  );
}

/**
 * Decodes a TCP header at `offset` of a segment `segmentLength` bytes long (header + payload, as
 * the IP header says), of which `capturedLength` bytes are present in `buf`.
 */
export function decodeTcpSegment(
  buf: Uint8Array,
  offset: number,
  segmentLength: number,
  capturedLength: number,
  out: TcpView,
): DecodeStatus {
  // The IP total length leaves no room for a TCP header, whatever was captured.
  if (segmentLength < TCP_MIN_HEADER_LENGTH) return DecodeStatus.BadTotalLength;
  const present = capturedLength < segmentLength ? capturedLength : segmentLength;
  if (present < TCP_MIN_HEADER_LENGTH) return DecodeStatus.Truncated;
  const headerLength = (buf[offset + TCP_OFF_DATA_OFFSET]! >> 4) * TCP_WORD_LENGTH;
  // The data offset counts the header in 32-bit words; 5 is the fixed header (RFC 9293 §3.1).
  if (headerLength < TCP_MIN_HEADER_LENGTH || headerLength > segmentLength) return DecodeStatus.BadDataOffset;
  if (present < headerLength) return DecodeStatus.Truncated;
  const status = decodeTcpOptions(buf, offset + TCP_MIN_HEADER_LENGTH, offset + headerLength, out.options);
  if (status !== DecodeStatus.Ok) return status;
  out.offset = offset;
  out.srcPort = readU16(buf, offset + TCP_OFF_SRC_PORT);
  out.dstPort = readU16(buf, offset + TCP_OFF_DST_PORT);
  out.seq = readI32(buf, offset + TCP_OFF_SEQ) >>> 0;
  out.ack = readI32(buf, offset + TCP_OFF_ACK) >>> 0;
  out.headerLength = headerLength;
  out.flags = buf[offset + TCP_OFF_FLAGS]!;
  out.window = readU16(buf, offset + TCP_OFF_WINDOW);
  out.checksum = readU16(buf, offset + TCP_OFF_CHECKSUM);
  out.urgent = readU16(buf, offset + TCP_OFF_URGENT);
  out.payloadOffset = offset + headerLength;
  out.payloadLength = segmentLength - headerLength;
  out.capturedPayloadLength = present - headerLength;
  return DecodeStatus.Ok;
}
