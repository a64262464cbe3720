/**
 * Minimal classic pcap reader and writer for tests and fixtures (not pcapng). Format: a 24-byte
 * global header whose magic also gives the byte order and timestamp resolution, then records of
 * a 16-byte header (seconds, sub-seconds, captured length, original length) and the data.
 */

export const PCAP_MAGIC_MICROS = 0xa1b2c3d4;
export const PCAP_MAGIC_NANOS = 0xa1b23c4d;
export const PCAP_GLOBAL_HEADER_LENGTH = 24;
export const PCAP_RECORD_HEADER_LENGTH = 16;
const PCAP_VERSION_MAJOR = 2;
const PCAP_VERSION_MINOR = 4;
/** The link-type field's low 16 bits; the high bits may carry FCS information. */
const LINK_TYPE_MASK = 0xffff;

export interface PcapRecord {
  seconds: number;
  /** Microseconds, or nanoseconds when the file says so. */
  fraction: number;
  /** Original length on the wire (>= data.length when the snaplen cut the packet). */
  originalLength: number;
  /** A view into the file buffer. */
  data: Buffer;
}

export interface PcapFile {
  linkType: number;
  snapLength: number;
  nanoseconds: boolean;
  bigEndian: boolean;
  records: PcapRecord[];
}

/** Parses a whole pcap file; throws on a bad magic or a record that runs past the end. */
export function readPcap(file: Buffer): PcapFile {
  if (file.length < PCAP_GLOBAL_HEADER_LENGTH) throw new Error('pcap: file shorter than the global header');
  const magicLe = file.readUInt32LE(0);
  const magicBe = file.readUInt32BE(0);
  let bigEndian: boolean;
  let nanoseconds: boolean;
  if (magicLe === PCAP_MAGIC_MICROS || magicLe === PCAP_MAGIC_NANOS) {
    bigEndian = false;
    nanoseconds = magicLe === PCAP_MAGIC_NANOS;
  } else if (magicBe === PCAP_MAGIC_MICROS || magicBe === PCAP_MAGIC_NANOS) {
    bigEndian = true;
    nanoseconds = magicBe === PCAP_MAGIC_NANOS;
  } else {
    throw new Error(`pcap: bad magic 0x${magicBe.toString(16)} (pcapng is not supported)`);
  }
  const u32 = (at: number): number => (bigEndian ? file.readUInt32BE(at) : file.readUInt32LE(at));
  const snapLength = u32(16);
  const linkType = u32(20) & LINK_TYPE_MASK;
  const records: PcapRecord[] = [];
  let at = PCAP_GLOBAL_HEADER_LENGTH;
  while (at < file.length) {
    if (at + PCAP_RECORD_HEADER_LENGTH > file.length) throw new Error(`pcap: truncated record header at ${at}`);
    const capturedLength = u32(at + 8);
    const start = at + PCAP_RECORD_HEADER_LENGTH;
    if (start + capturedLength > file.length) throw new Error(`pcap: truncated record data at ${at}`);
    records.push({
      seconds: u32(at),
      fraction: u32(at + 4),
      originalLength: u32(at + 12),
      data: file.subarray(start, start + capturedLength),
    });
    at = start + capturedLength;
  }
  return { linkType, snapLength, nanoseconds, bigEndian, records };
}

export interface WritePcapOptions {
  bigEndian?: boolean;
  nanoseconds?: boolean;
  snapLength?: number;
}

/** Serialises records (only data, seconds, fraction and originalLength are used). */
export function writePcap(
  linkType: number,
  records: readonly Pick<PcapRecord, 'data' | 'seconds' | 'fraction' | 'originalLength'>[],
  opts: WritePcapOptions = {},
): Buffer {
  const be = opts.bigEndian === true;
  const size = PCAP_GLOBAL_HEADER_LENGTH + records.reduce((n, r) => n + PCAP_RECORD_HEADER_LENGTH + r.data.length, 0);
  const out = Buffer.alloc(size);
  const u32 = (v: number, at: number): void => void (be ? out.writeUInt32BE(v, at) : out.writeUInt32LE(v, at));
  const u16 = (v: number, at: number): void => void (be ? out.writeUInt16BE(v, at) : out.writeUInt16LE(v, at));
  u32(opts.nanoseconds === true ? PCAP_MAGIC_NANOS : PCAP_MAGIC_MICROS, 0);
  u16(PCAP_VERSION_MAJOR, 4);
  u16(PCAP_VERSION_MINOR, 6);
  u32(opts.snapLength ?? 262144, 16);
  u32(linkType, 20);
  let at = PCAP_GLOBAL_HEADER_LENGTH;
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
