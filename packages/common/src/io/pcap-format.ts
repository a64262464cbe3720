/**
 * Classic pcap file headers (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcap-03.html):
 * a 24-byte file header whose magic gives the byte order and the timestamp resolution, then
 * per packet a 16-byte record header (seconds, micro- or nanoseconds, captured length, original
 * length) followed by the captured bytes. Pure: Buffers in, fields out, never throws.
 */

/** Magic of files with microsecond timestamps, as written by the capturing host. */
export const PCAP_MAGIC_MICROSECONDS = 0xa1b2c3d4;
/** Magic of files with nanosecond timestamps. */
export const PCAP_MAGIC_NANOSECONDS = 0xa1b23c4d;
export const PCAP_FILE_HEADER_LENGTH = 24;
export const PCAP_RECORD_HEADER_LENGTH = 16;
const FILE_SNAPLEN_OFFSET = 16;
const FILE_LINKTYPE_OFFSET = 20;
/** LinkType field: the link type is the low 16 bits; above them sit FCS flags (draft §4). */
const LINKTYPE_MASK = 0xffff;
const RECORD_FRACTION_OFFSET = 4;
const RECORD_CAPTURED_OFFSET = 8;
const RECORD_ORIGINAL_OFFSET = 12;
const MICROS_PER_SECOND = 1_000_000;
const NANOS_PER_MICRO = 1000;

export const PcapHeaderStatus = {
  Ok: 0,
  Truncated: 1,
  /** Not a classic pcap file (pcapng, or not a capture at all). */
  BadMagic: 2,
} as const;
export type PcapHeaderStatus = (typeof PcapHeaderStatus)[keyof typeof PcapHeaderStatus];

export interface PcapFileHeader {
  bigEndian: boolean;
  nanoseconds: boolean;
  snapLength: number;
  /** pcap LINKTYPE_ value (compare with LinkType). */
  linkType: number;
}

export function decodePcapFileHeader(buf: Buffer, out: PcapFileHeader): PcapHeaderStatus {
  if (buf.length < PCAP_FILE_HEADER_LENGTH) return PcapHeaderStatus.Truncated;
  const le = buf.readUInt32LE(0);
  const be = buf.readUInt32BE(0);
  if (le === PCAP_MAGIC_MICROSECONDS || le === PCAP_MAGIC_NANOSECONDS) {
    out.bigEndian = false;
    out.nanoseconds = le === PCAP_MAGIC_NANOSECONDS;
  } else if (be === PCAP_MAGIC_MICROSECONDS || be === PCAP_MAGIC_NANOSECONDS) {
    out.bigEndian = true;
    out.nanoseconds = be === PCAP_MAGIC_NANOSECONDS;
  } else {
    return PcapHeaderStatus.BadMagic;
  }
  out.snapLength = readU32(buf, FILE_SNAPLEN_OFFSET, out.bigEndian);
  out.linkType = readU32(buf, FILE_LINKTYPE_OFFSET, out.bigEndian) & LINKTYPE_MASK;
  return PcapHeaderStatus.Ok;
}

export interface PcapRecordHeader {
  /** Capture time in microseconds since the epoch (nanosecond files are rounded down). */
  tsMicros: number;
  capturedLength: number;
  originalLength: number;
}

/** Reads the record header at `offset`; the caller has checked that 16 bytes are there. */
export function decodePcapRecordHeader(buf: Buffer, offset: number, file: PcapFileHeader, out: PcapRecordHeader): void {
  const seconds = readU32(buf, offset, file.bigEndian);
  const fraction = readU32(buf, offset + RECORD_FRACTION_OFFSET, file.bigEndian);
  out.tsMicros = seconds * MICROS_PER_SECOND + (file.nanoseconds ? Math.floor(fraction / NANOS_PER_MICRO) : fraction);
  out.capturedLength = readU32(buf, offset + RECORD_CAPTURED_OFFSET, file.bigEndian);
  out.originalLength = readU32(buf, offset + RECORD_ORIGINAL_OFFSET, file.bigEndian);
}

function readU32(buf: Buffer, offset: number, bigEndian: boolean): number {
  return bigEndian ? buf.readUInt32BE(offset) : buf.readUInt32LE(offset);
}
