/**
 * Classic pcap file headers (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcap-03.html):
 * a 24-byte file header whose magic gives the byte order and the timestamp resolution, then
 * per packet a 16-byte record header (seconds, micro- or nanoseconds, captured length, original
 * length) followed by the captured bytes. Pure: Buffers in, fields out, never throws.
 *
 * Also what the file reader (pcap-file.ts) asks of a format, classic or pcapng (pcapng-format.ts):
 * how long the record at hand is, and what it holds.
 */
import type { LinkType } from '../packet/link.js';

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
/** Largest packet accepted: tcpdump's maximum snapshot length (MAXIMUM_SNAPLEN, 256 KiB). */
export const MAX_PCAP_RECORD_BYTES = 262_144;

export const PcapReadStatus = {
  Packet: 0,
  End: 1,
  /** The file ends inside a record (e.g. tcpdump was killed mid-write): treat as the end. */
  TruncatedRecord: 2,
  /** A record claims a length no capture has (a packet above MAX_PCAP_RECORD_BYTES; a pcapng
   *  block shorter than 12 bytes, not a multiple of 4, longer than any block libpcap reads, or
   *  a Section Header Block whose byte-order magic is unknown): corrupt from here on. */
  BadRecordLength: 3,
  /** A pcapng block whose trailing length differs from its leading one. */
  LengthMismatch: 4,
  /** A pcapng block whose body contradicts its length or the format: shorter than its fixed
   *  fields, a packet or options running past the block, an if_tsresol finer than libpcap
   *  reads. */
  BadBlock: 5,
  /** A pcapng packet on an interface its section never described. */
  UnknownInterface: 6,
  /** A pcapng packet on an interface of a link type we do not decode. */
  UnsupportedLinkType: 7,
} as const;
export type PcapReadStatus = (typeof PcapReadStatus)[keyof typeof PcapReadStatus];

/** decodeRecord's answer for a record that holds no packet (most pcapng blocks): read on. */
export const NO_PACKET = -1;
export type RecordStatus = PcapReadStatus | typeof NO_PACKET;

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

/** A packet record as the reader hands it out: its header fields and its frames' link type. */
export interface CaptureRecord extends PcapRecordHeader {
  linkType: LinkType;
}

/** What the reader needs of a file format to cut the file into records. */
export interface RecordFraming {
  /** Bytes at the front of every record that its length is read from. */
  readonly prefixLength: number;
  /** After decodeRecord returned Packet: where the packet's bytes start in the buffer. */
  readonly dataOffset: number;
  /** The whole length of the record at `offset` (its prefix is there), or 0 when no record can
   *  be what the prefix says (BadRecordLength). */
  recordLength(buf: Buffer, offset: number): number;
  /** Decodes the whole record at `offset`: Packet with `out` filled in, NO_PACKET, or why not. */
  decodeRecord(buf: Buffer, offset: number, length: number, out: CaptureRecord): RecordStatus;
}

/** Classic pcap records: a 16-byte header, then the captured bytes; every record a packet. */
export class PcapRecordFraming implements RecordFraming {
  readonly prefixLength = PCAP_RECORD_HEADER_LENGTH;
  dataOffset = 0;

  constructor(
    private readonly file: PcapFileHeader,
    private readonly linkType: LinkType,
  ) {}

  recordLength(buf: Buffer, offset: number): number {
    const captured = readU32(buf, offset + RECORD_CAPTURED_OFFSET, this.file.bigEndian);
    return captured > MAX_PCAP_RECORD_BYTES ? 0 : PCAP_RECORD_HEADER_LENGTH + captured;
  }

  decodeRecord(buf: Buffer, offset: number, _length: number, out: CaptureRecord): RecordStatus {
    decodePcapRecordHeader(buf, offset, this.file, out);
    out.linkType = this.linkType;
    this.dataOffset = offset + PCAP_RECORD_HEADER_LENGTH;
    return PcapReadStatus.Packet;
  }
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
