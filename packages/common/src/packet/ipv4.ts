/** IPv4 header (RFC 791 §3.1). */
import { readI32, readU16 } from './bytes.js';
import { DecodeStatus, type Ipv4View } from './types.js';

export const IPV4_VERSION = 4;
/** IHL counts 32-bit words. */
export const IPV4_WORD_LENGTH = 4;
/** Header without options: IHL 5 (32-bit words). */
export const IPV4_MIN_HEADER_LENGTH = 20;
/** IHL is 4 bits: at most 15 words. */
export const IPV4_MAX_HEADER_LENGTH = 60;
export const IPV4_MAX_TOTAL_LENGTH = 0xffff;
/** Protocol numbers (IANA "Assigned Internet Protocol Numbers"). */
export const IPPROTO_TCP = 6;

/** Flag bits in the flags/fragment-offset word (RFC 791 §3.1 "Flags"). */
export const IPV4_FLAG_DF = 0x4000;
export const IPV4_FLAG_MF = 0x2000;
export const IPV4_FRAGMENT_OFFSET_MASK = 0x1fff;
/** The fragment offset counts 8-byte units. */
export const IPV4_FRAGMENT_UNIT = 8;

/** Field offsets within the header. */
export const IPV4_OFF_VERSION_IHL = 0;
export const IPV4_OFF_TOS = 1;
export const IPV4_OFF_TOTAL_LENGTH = 2;
export const IPV4_OFF_ID = 4;
export const IPV4_OFF_FLAGS_FRAGMENT = 6;
export const IPV4_OFF_TTL = 8;
export const IPV4_OFF_PROTOCOL = 9;
export const IPV4_OFF_CHECKSUM = 10;
export const IPV4_OFF_SRC = 12;
export const IPV4_OFF_DST = 16;

/**
 * Decodes the IPv4 header at `offset`, of which `length` bytes were captured. A capture shorter
 * than the total length is accepted (snaplen cuts, header-only records) as long as the whole
 * header is present. Fragments decode Ok with isFragment set; decodeTcp refuses non-first ones.
 */
export function decodeIpv4(buf: Uint8Array, offset: number, length: number, out: Ipv4View): DecodeStatus {
  if (length < IPV4_MIN_HEADER_LENGTH) return DecodeStatus.Truncated;
  const versionIhl = buf[offset + IPV4_OFF_VERSION_IHL]!;
  if (versionIhl >> 4 !== IPV4_VERSION) return DecodeStatus.BadIpVersion;
  const headerLength = (versionIhl & 0x0f) * IPV4_WORD_LENGTH;
  // "The minimum value for a correct header is 5" (RFC 791, IHL).
  if (headerLength < IPV4_MIN_HEADER_LENGTH) return DecodeStatus.BadIhl;
  const totalLength = readU16(buf, offset + IPV4_OFF_TOTAL_LENGTH);
  if (totalLength < headerLength) return DecodeStatus.BadTotalLength;
  if (length < headerLength) return DecodeStatus.Truncated;
  const flagsFragment = readU16(buf, offset + IPV4_OFF_FLAGS_FRAGMENT);
  const fragmentOffset = (flagsFragment & IPV4_FRAGMENT_OFFSET_MASK) * IPV4_FRAGMENT_UNIT;
  out.offset = offset;
  out.headerLength = headerLength;
  out.totalLength = totalLength;
  out.tos = buf[offset + IPV4_OFF_TOS]!;
  out.id = readU16(buf, offset + IPV4_OFF_ID);
  out.flagsFragment = flagsFragment;
  out.fragmentOffset = fragmentOffset;
  out.isFragment = fragmentOffset !== 0 || (flagsFragment & IPV4_FLAG_MF) !== 0;
  out.ttl = buf[offset + IPV4_OFF_TTL]!;
  out.protocol = buf[offset + IPV4_OFF_PROTOCOL]!;
  out.checksum = readU16(buf, offset + IPV4_OFF_CHECKSUM);
  out.src = readI32(buf, offset + IPV4_OFF_SRC) >>> 0;
  out.dst = readI32(buf, offset + IPV4_OFF_DST) >>> 0;
  // Link padding (Ethernet frames are at least 60 bytes) is not part of the packet.
  out.capturedLength = length < totalLength ? length : totalLength;
  return DecodeStatus.Ok;
}

/** Dotted quad of a host-order uint32 address. */
export function ipv4ToString(n: number): string {
  return `${(n >>> 24) & 0xff}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
}

/** `10.0.0.3:8000` for messages. */
export function addrPortToString(ip: number, port: number): string {
  return `${ipv4ToString(ip)}:${port}`;
}

const DOTTED_QUAD = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const OCTET_WITH_LEADING_ZERO = /^0\d/;

/**
 * Strict dotted quad to a host-order uint32: four decimal octets 0..255, no leading zeros (which
 * inet_aton would read as octal), no shorthand forms. Undefined when malformed.
 */
export function parseIpv4(s: string): number | undefined {
  const m = DOTTED_QUAD.exec(s);
  if (m === null) return undefined;
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const part = m[i]!;
    if (OCTET_WITH_LEADING_ZERO.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    n = n * 256 + octet;
  }
  return n;
}
