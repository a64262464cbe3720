/**
 * Internet checksums: full computation (RFC 1071) for the IPv4 header and TCP segment (with the
 * pseudo-header of RFC 9293 §3.1), and incremental updates (RFC 1624) for in-place rewrites.
 * Hot path: no allocation, 16-bit words summed into a double (no overflow below 2^53), folded once.
 */
import { readU16, writeU16 } from './bytes.js';
import { IPPROTO_TCP, IPV4_OFF_CHECKSUM } from './ipv4.js';
import { TCP_OFF_CHECKSUM } from './tcp.js';
import type { Ipv4View, TcpView } from './types.js';

/** A ones'-complement sum over data that verifies: the checksum made the total all ones. */
export const CHECKSUM_VALID_SUM = 0xffff;
/** Both checksums are one 16-bit word, skipped when computing the value to store in it. */
const CHECKSUM_FIELD_LENGTH = 2;

/** Folds carries above bit 15 back into the low 16 bits (end-around carry). */
function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

/** Below this many bytes, setting up the word loop costs more than it saves. */
const WORD_SUM_MIN_BYTES = 64;
const HOST_LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;
/**
 * 32-bit words over the memory of the last buffer summed: one view per underlying ArrayBuffer
 * (the capture ring, a pool slab), made again only when that changes, so the per-packet path
 * allocates nothing.
 */
let wordsOf: ArrayBufferLike | undefined;
let words: Uint32Array<ArrayBufferLike> = new Uint32Array(0);

/**
 * Ones'-complement sum of the big-endian 16-bit words in buf[start, end), plus `initial`,
 * folded to 16 bits (not complemented). An odd trailing byte is padded with a zero byte.
 *
 * The bulk of a long range is summed 32 bits at a time in the host's byte order, four times
 * fewer loads: a sum of 32-bit words folds to the sum of their 16-bit halves (2^16 = 1 mod
 * 0xffff), and the ones'-complement sum of byte-swapped words is the byte-swapped sum
 * (RFC 1071 §2(B)), so on a little-endian host one swap at the end makes it big-endian.
 */
export function onesComplementSum(buf: Uint8Array, start: number, end: number, initial = 0): number {
  let sum = initial;
  let i = start;
  const at = buf.byteOffset + start;
  // Word loads need 4-byte alignment; an odd start would pair bytes across 16-bit words.
  if (end - start >= WORD_SUM_MIN_BYTES && (at & 1) === 0) {
    if ((at & 2) !== 0) {
      sum += (buf[i]! << 8) | buf[i + 1]!;
      i += 2;
    }
    if (buf.buffer !== wordsOf) {
      wordsOf = buf.buffer;
      words = new Uint32Array(buf.buffer, 0, buf.buffer.byteLength >>> 2);
    }
    const first = (buf.byteOffset + i) >>> 2;
    const count = (end - i) >>> 2;
    let native = 0;
    for (let w = first, last = first + count; w < last; w++) native += words[w]!;
    // Folded here, not by fold(): a double above 2^31 passed to a call that V8 does not inline
    // is allocated as a heap number.
    const high = Math.floor(native / 0x100000000);
    const low = native - high * 0x100000000;
    let half = high + (low >>> 16) + (low & 0xffff);
    half = (half & 0xffff) + (half >>> 16);
    half = (half & 0xffff) + (half >>> 16);
    sum += HOST_LITTLE_ENDIAN ? ((half & 0xff) << 8) | (half >>> 8) : half;
    i += count << 2;
  }
  const pairsEnd = end - 1;
  for (; i < pairsEnd; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  if (i < end) sum += buf[i]! << 8;
  return fold(sum);
}

/**
 * Unfolded sum of the TCP/UDP pseudo-header: source, destination, zero + protocol, length.
 * Addresses as uint32 or int32 (same bits); 32-bit arguments everywhere in this module likewise.
 */
export function pseudoHeaderSum(src: number, dst: number, protocol: number, length: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + length;
}

/** The checksum the IPv4 header at `offset` should carry (its checksum field is ignored). */
export function ipv4HeaderChecksum(buf: Uint8Array, offset: number, headerLength: number): number {
  const csum = offset + IPV4_OFF_CHECKSUM;
  const sum = onesComplementSum(
    buf,
    csum + CHECKSUM_FIELD_LENGTH,
    offset + headerLength,
    onesComplementSum(buf, offset, csum),
  );
  return ~sum & 0xffff;
}

/**
 * The checksum the TCP segment buf[offset, offset + segmentLength) should carry (its checksum
 * field is ignored). segmentLength is the IP total length minus the IP header length: the
 * checksum covers header and payload (RFC 9293 §3.1, "Checksum").
 */
export function tcpChecksum(buf: Uint8Array, src: number, dst: number, offset: number, segmentLength: number): number {
  const csum = offset + TCP_OFF_CHECKSUM;
  let sum = onesComplementSum(buf, offset, csum, pseudoHeaderSum(src, dst, IPPROTO_TCP, segmentLength));
  sum = onesComplementSum(buf, csum + CHECKSUM_FIELD_LENGTH, offset + segmentLength, sum);
  return ~sum & 0xffff;
}

/** True when the whole IP packet is in the buffer, so the TCP checksum can be computed. */
export function isWholePacket(ip: Ipv4View): boolean {
  return ip.capturedLength === ip.totalLength;
}

export function verifyIpv4Checksum(buf: Uint8Array, ip: Ipv4View): boolean {
  return onesComplementSum(buf, ip.offset, ip.offset + ip.headerLength) === CHECKSUM_VALID_SUM;
}

/** False also when the packet was not captured whole (see isWholePacket). */
export function verifyTcpChecksum(buf: Uint8Array, ip: Ipv4View): boolean {
  if (!isWholePacket(ip)) return false;
  const segmentLength = ip.totalLength - ip.headerLength;
  const start = ip.offset + ip.headerLength;
  const pseudo = pseudoHeaderSum(ip.src | 0, ip.dst | 0, IPPROTO_TCP, segmentLength);
  const sum = onesComplementSum(buf, start, start + segmentLength, pseudo);
  return sum === CHECKSUM_VALID_SUM;
}

/** Recomputes and stores the IPv4 header checksum (buffer and view). */
export function writeIpv4Checksum(buf: Uint8Array, ip: Ipv4View): void {
  ip.checksum = ipv4HeaderChecksum(buf, ip.offset, ip.headerLength);
  writeU16(buf, ip.offset + IPV4_OFF_CHECKSUM, ip.checksum);
}

/** Recomputes and stores the TCP checksum (buffer and view); false when the packet is not whole. */
export function writeTcpChecksum(buf: Uint8Array, ip: Ipv4View, tcp: TcpView): boolean {
  if (!isWholePacket(ip)) return false;
  tcp.checksum = tcpChecksum(buf, ip.src | 0, ip.dst | 0, tcp.offset, ip.totalLength - ip.headerLength);
  writeU16(buf, tcp.offset + TCP_OFF_CHECKSUM, tcp.checksum);
  return true;
}

/**
 * RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), the checksum after one 16-bit word of the covered data
 * changes from m to m'. Unlike eqn. 2 it cannot produce 0xffff from a checksum that is not 0xffff
 * (a full computation never does), so it agrees bit for bit with recomputing from scratch.
 */
export function checksumAdjust16(oldSum: number, oldWord: number, newWord: number): number {
  const sum = (~oldSum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  return ~fold(sum) & 0xffff;
}

/**
 * checksumAdjust16 for a 32-bit field (two words), e.g. an address or a sequence number, stored at
 * an even offset from the start of the checksummed data (see swapBytesInWords for odd ones).
 */
export function checksumAdjust32(oldSum: number, oldValue: number, newValue: number): number {
  const sum = (~oldSum & 0xffff) + (~oldValue >>> 16) + (~oldValue & 0xffff) + (newValue >>> 16) + (newValue & 0xffff);
  return ~fold(sum) & 0xffff;
}

/** Applies checksumAdjust16 to the checksum stored at `at`; returns the new checksum. */
export function adjustChecksumAt16(buf: Uint8Array, at: number, oldWord: number, newWord: number): number {
  const sum = checksumAdjust16(readU16(buf, at), oldWord, newWord);
  writeU16(buf, at, sum);
  return sum;
}

/** Applies checksumAdjust32 to the checksum stored at `at`; returns the new checksum. */
export function adjustChecksumAt32(buf: Uint8Array, at: number, oldValue: number, newValue: number): number {
  const sum = checksumAdjust32(readU16(buf, at), oldValue, newValue);
  writeU16(buf, at, sum);
  return sum;
}

/**
 * A 32-bit field at an odd offset from the start of the checksummed data (a TCP option after an
 * unpadded one) straddles words; its contribution equals that of the value with the bytes of each
 * half swapped (RFC 1071 §2(B), byte-order independence). Feed such values through this first.
 */
export function swapBytesInWords(v: number): number {
  return (((v & 0x00ff00ff) << 8) | ((v >>> 8) & 0x00ff00ff)) >>> 0;
}
