/**
 * Writes classic pcap files for tests (readers: io/pcap-file.ts). Independent of the reader's
 * code except for the format constants, so reader tests have a second opinion to check against.
 */
import {
  PCAP_FILE_HEADER_LENGTH,
  PCAP_MAGIC_MICROSECONDS,
  PCAP_MAGIC_NANOSECONDS,
  PCAP_RECORD_HEADER_LENGTH,
} from '../io/pcap-format.js';

const PCAP_VERSION_MAJOR = 2;
const PCAP_VERSION_MINOR = 4;
/** tcpdump's default snapshot length. */
const DEFAULT_SNAP_LENGTH = 262_144;

export interface PcapRecordToWrite {
  seconds: number;
  /** Microseconds, or nanoseconds in a nanosecond file. */
  fraction: number;
  /** Length on the wire; more than data.length for a record cut by the snapshot length. */
  originalLength: number;
  data: Uint8Array;
}

export interface WritePcapOptions {
  bigEndian?: boolean;
  nanoseconds?: boolean;
  snapLength?: number;
}

/** A whole pcap file: the 24-byte file header, then a 16-byte header and the data per record. */
export function writePcap(
  linkType: number,
  records: readonly PcapRecordToWrite[],
  opts: WritePcapOptions = {},
): Buffer {
  const be = opts.bigEndian === true;
  const size = PCAP_FILE_HEADER_LENGTH + records.reduce((n, r) => n + PCAP_RECORD_HEADER_LENGTH + r.data.length, 0);
  const out = Buffer.alloc(size);
  const u32 = (v: number, at: number): void => void (be ? out.writeUInt32BE(v, at) : out.writeUInt32LE(v, at));
  const u16 = (v: number, at: number): void => void (be ? out.writeUInt16BE(v, at) : out.writeUInt16LE(v, at));
  u32(opts.nanoseconds === true ? PCAP_MAGIC_NANOSECONDS : PCAP_MAGIC_MICROSECONDS, 0);
  u16(PCAP_VERSION_MAJOR, 4);
  u16(PCAP_VERSION_MINOR, 6);
  u32(opts.snapLength ?? DEFAULT_SNAP_LENGTH, 16);
  u32(linkType, 20);
  let at = PCAP_FILE_HEADER_LENGTH;
  for (const r of records) {
    u32(r.seconds, at);
    u32(r.fraction, at + 4);
    u32(r.data.length, at + 8);
    u32(r.originalLength, at + 12);
    out.set(r.data, at + PCAP_RECORD_HEADER_LENGTH);
    at += PCAP_RECORD_HEADER_LENGTH + r.data.length;
  }
  return out;
}
