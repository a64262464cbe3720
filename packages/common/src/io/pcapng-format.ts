/**
 * pcapng blocks (https://datatracker.ietf.org/doc/draft-ietf-opsawg-pcapng/), the format
 * Wireshark, dumpcap and tshark write by default: a file is sections, each a Section Header Block
 * (its byte order) followed by Interface Description Blocks (link type, snapshot length and
 * timestamp unit per interface) and packet blocks naming their interface; every other block is
 * skipped by its length. Where the draft leaves room, we do what libpcap's sf-pcapng.c does, so
 * a file upstream tcpcopy replays replays here too. Pure: Buffers in, fields out, never throws.
 */
import { isSupportedLinkType } from '../packet/link.js';
import {
  MAX_PCAP_RECORD_BYTES,
  NO_PACKET,
  PcapReadStatus,
  type CaptureRecord,
  type RecordFraming,
  type RecordStatus,
} from './pcap-format.js';

/** Block types (§4, §10.1). */
export const PcapngBlockType = {
  SectionHeader: 0x0a0d0d0a,
  InterfaceDescription: 0x00000001,
  SimplePacket: 0x00000003,
  EnhancedPacket: 0x00000006,
} as const;
/** Section Header Block byte-order magic, as the writer's byte order puts it (§4.1). */
export const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;
/** The only major version (minor versions 0 and 2 read alike, §4.1). */
const SUPPORTED_MAJOR_VERSION = 1;

/** Every block: type 4, total length 4, body, total length again 4 (§3.1). */
export const PCAPNG_MIN_BLOCK_LENGTH = 12;
const BLOCK_ALIGNMENT = 4;
const BLOCK_LENGTH_OFFSET = 4;
const BLOCK_TRAILER_LENGTH = 4;
/** Longest block read: libpcap refuses a Section Header Block above 1 MiB (BT_SHB_INSANE_MAX),
 *  and once it knows an interface any block above an Enhanced Packet Block of the largest
 *  snapshot length with 128 KiB of options; so this holds every block it reads (but a skipped
 *  block of 1 to 16 MiB before the first interface). */
export const MAX_PCAPNG_BLOCK_LENGTH = 1024 * 1024;

/** SHB: byte-order magic 4, major version 2, minor version 2, section length 8, options. */
const SHB_BYTE_ORDER_OFFSET = 8;
const SHB_MAJOR_VERSION_OFFSET = 12;
const SHB_MIN_LENGTH = 28;
/** IDB: link type 2, reserved 2, snapshot length 4, options (§4.2). */
const IDB_LINKTYPE_OFFSET = 8;
const IDB_SNAPLEN_OFFSET = 12;
const IDB_OPTIONS_OFFSET = 16;
const IDB_MIN_LENGTH = 20;
/** EPB: interface id 4, timestamp high 4, timestamp low 4, captured length 4, original length 4,
 *  packet data padded to 4, options (§4.3). */
const EPB_INTERFACE_OFFSET = 8;
const EPB_TIMESTAMP_HIGH_OFFSET = 12;
const EPB_TIMESTAMP_LOW_OFFSET = 16;
const EPB_CAPTURED_OFFSET = 20;
const EPB_ORIGINAL_OFFSET = 24;
const EPB_DATA_OFFSET = 28;
const EPB_MIN_LENGTH = 32;
/** SPB: original length 4, packet data (§4.4): the packet of the section's first interface. */
const SPB_ORIGINAL_OFFSET = 8;
const SPB_DATA_OFFSET = 12;
const SPB_MIN_LENGTH = 16;
const SPB_INTERFACE = 0;

/** Options: code 2, length 2, value padded to 4 (§3.5). */
const OPTION_HEADER_LENGTH = 4;
const OPTION_LENGTH_OFFSET = 2;
const OPT_ENDOFOPT = 0;
/** if_tsresol: 1 byte; the top bit set means 2^-n seconds, clear 10^-n; default 10^-6 (§4.2). */
const IF_TSRESOL = 9;
const IF_TSRESOL_LENGTH = 1;
const TSRESOL_BINARY = 0x80;
const TSRESOL_EXPONENT_MASK = 0x7f;
/** if_tsoffset: 8 bytes, signed seconds added to every timestamp of the interface. */
const IF_TSOFFSET = 14;
const IF_TSOFFSET_LENGTH = 8;
/** The finest resolutions libpcap reads: 10^-19 and 2^-63 s, the largest that fit 64 bits. */
const MAX_DECIMAL_EXPONENT = 19;
const MAX_BINARY_EXPONENT = 63;

const MICROS_DECIMAL_EXPONENT = 6;
const MICROS_PER_SECOND = 1_000_000;
const TWO_TO_32 = 2 ** 32;
const DIGIT = 0x10000;
const DIGIT_BITS = 16;
/** A divisor of one long-division step: remainder times DIGIT plus a digit stays an exact double. */
const MAX_DIVISOR_EXPONENT = 9;

/** How an interface's timestamp units become microseconds. */
const TimeScale = {
  /** 10^-n s with n <= 6: multiply by 10^(6-n). */
  Multiply: 0,
  /** 10^-n s with n > 6: divide by 10^(n-6). */
  Divide: 1,
  /** 2^-n s. */
  Binary: 2,
} as const;
type TimeScale = (typeof TimeScale)[keyof typeof TimeScale];

interface PcapngInterface {
  /** LINKTYPE_ value; packets of an unsupported one are refused when they come. */
  linkType: number;
  /** 0: no limit (§4.2). */
  snapLength: number;
  timeScale: TimeScale;
  /** The factor (Multiply), the power of ten divided by (Divide) or the binary exponent. */
  timeFactor: number;
  offsetMicros: number;
}

/** The byte order of the Section Header Block at `offset` (12 bytes there), or undefined when its
 *  byte-order magic is neither. */
export function pcapngSectionByteOrder(buf: Buffer, offset: number): boolean | undefined {
  if (buf.readUInt32BE(offset + SHB_BYTE_ORDER_OFFSET) === PCAPNG_BYTE_ORDER_MAGIC) return true;
  if (buf.readUInt32LE(offset + SHB_BYTE_ORDER_OFFSET) === PCAPNG_BYTE_ORDER_MAGIC) return false;
  return undefined;
}

/** Whether a file starting with `head` is pcapng: it starts with a Section Header Block (whose
 *  type, \n\r\r\n, reads the same in both byte orders) of a known byte-order magic. */
export function isPcapng(head: Buffer): boolean {
  return (
    head.length >= PCAPNG_MIN_BLOCK_LENGTH &&
    head.readUInt32LE(0) === PcapngBlockType.SectionHeader &&
    pcapngSectionByteOrder(head, 0) !== undefined
  );
}

/** The blocks of a pcapng file, one section after another; keeps the current section's byte
 *  order and interfaces (reused across sections: no allocation once the most interfaces a
 *  section has were seen). */
export class PcapngFraming implements RecordFraming {
  readonly prefixLength = PCAPNG_MIN_BLOCK_LENGTH;
  dataOffset = 0;
  /** Interfaces of the current section: interfaces[0, interfaceCount). */
  interfaceCount = 0;
  private bigEndian = false;
  private skippingSection = false;
  private readonly interfaces: PcapngInterface[] = [];

  /** The link type of interface `id` of the current section (id < interfaceCount). */
  linkTypeOf(id: number): number {
    return this.interfaces[id]!.linkType;
  }

  recordLength(buf: Buffer, offset: number): number {
    let bigEndian = this.bigEndian;
    if (buf.readUInt32LE(offset) === PcapngBlockType.SectionHeader) {
      const order = pcapngSectionByteOrder(buf, offset);
      if (order === undefined) return 0;
      bigEndian = order;
    }
    const length = readU32(buf, offset + BLOCK_LENGTH_OFFSET, bigEndian);
    const valid =
      length >= PCAPNG_MIN_BLOCK_LENGTH && length % BLOCK_ALIGNMENT === 0 && length <= MAX_PCAPNG_BLOCK_LENGTH;
    return valid ? length : 0;
  }

  decodeRecord(buf: Buffer, offset: number, length: number, out: CaptureRecord): RecordStatus {
    const type = readU32(buf, offset, this.bigEndian);
    const bigEndian = type === PcapngBlockType.SectionHeader ? pcapngSectionByteOrder(buf, offset)! : this.bigEndian;
    if (readU32(buf, offset + length - BLOCK_TRAILER_LENGTH, bigEndian) !== length)
      return PcapReadStatus.LengthMismatch;
    if (type === PcapngBlockType.SectionHeader) {
      if (length < SHB_MIN_LENGTH) return PcapReadStatus.BadBlock;
      // A new section describes its interfaces anew (§4.2); one of another major version cannot
      // be read and is skipped whole (§3.4; libpcap stops there instead).
      this.bigEndian = bigEndian;
      this.interfaceCount = 0;
      this.skippingSection = readU16(buf, offset + SHB_MAJOR_VERSION_OFFSET, bigEndian) !== SUPPORTED_MAJOR_VERSION;
      return NO_PACKET;
    }
    if (this.skippingSection) return NO_PACKET;
    switch (type) {
      case PcapngBlockType.InterfaceDescription:
        return this.decodeInterface(buf, offset, length);
      case PcapngBlockType.EnhancedPacket:
        return this.decodeEnhancedPacket(buf, offset, length, out);
      case PcapngBlockType.SimplePacket:
        return this.decodeSimplePacket(buf, offset, length, out);
      default:
        return NO_PACKET;
    }
  }

  private decodeInterface(buf: Buffer, offset: number, length: number): RecordStatus {
    if (length < IDB_MIN_LENGTH) return PcapReadStatus.BadBlock;
    const be = this.bigEndian;
    let iface = this.interfaces[this.interfaceCount];
    if (iface === undefined) {
      iface = { linkType: 0, snapLength: 0, timeScale: TimeScale.Multiply, timeFactor: 1, offsetMicros: 0 };
      this.interfaces.push(iface);
    }
    iface.linkType = readU16(buf, offset + IDB_LINKTYPE_OFFSET, be);
    iface.snapLength = readU32(buf, offset + IDB_SNAPLEN_OFFSET, be);
    setTimeScale(iface, MICROS_DECIMAL_EXPONENT);
    iface.offsetMicros = 0;
    const end = offset + length - BLOCK_TRAILER_LENGTH;
    // Offsets stay multiples of 4 from the block's start, as `end` is: a header always fits.
    for (let at = offset + IDB_OPTIONS_OFFSET; at < end;) {
      const code = readU16(buf, at, be);
      const valueLength = readU16(buf, at + OPTION_LENGTH_OFFSET, be);
      const value = at + OPTION_HEADER_LENGTH;
      at = value + padded(valueLength);
      if (at > end) return PcapReadStatus.BadBlock;
      if (code === OPT_ENDOFOPT) break;
      if (code === IF_TSRESOL) {
        if (valueLength !== IF_TSRESOL_LENGTH || !setTimeResolution(iface, buf[value]!)) return PcapReadStatus.BadBlock;
      } else if (code === IF_TSOFFSET) {
        if (valueLength !== IF_TSOFFSET_LENGTH) return PcapReadStatus.BadBlock;
        iface.offsetMicros = readI64(buf, value, be) * MICROS_PER_SECOND;
      }
    }
    this.interfaceCount++;
    return NO_PACKET;
  }

  private decodeEnhancedPacket(buf: Buffer, offset: number, length: number, out: CaptureRecord): RecordStatus {
    if (length < EPB_MIN_LENGTH) return PcapReadStatus.BadBlock;
    const be = this.bigEndian;
    const id = readU32(buf, offset + EPB_INTERFACE_OFFSET, be);
    const captured = readU32(buf, offset + EPB_CAPTURED_OFFSET, be);
    const status = this.checkPacket(id, captured, length - EPB_DATA_OFFSET - BLOCK_TRAILER_LENGTH, out);
    if (status !== PcapReadStatus.Packet) return status;
    const high = readU32(buf, offset + EPB_TIMESTAMP_HIGH_OFFSET, be);
    out.tsMicros = timestampMicros(high, readU32(buf, offset + EPB_TIMESTAMP_LOW_OFFSET, be), this.interfaces[id]!);
    out.capturedLength = captured;
    out.originalLength = readU32(buf, offset + EPB_ORIGINAL_OFFSET, be);
    this.dataOffset = offset + EPB_DATA_OFFSET;
    return status;
  }

  /** An SPB has no timestamp: its packet keeps the time of the packet before it (libpcap gives
   *  0, which a replay would take for a jump back to 1970). */
  private decodeSimplePacket(buf: Buffer, offset: number, length: number, out: CaptureRecord): RecordStatus {
    if (length < SPB_MIN_LENGTH) return PcapReadStatus.BadBlock;
    if (this.interfaceCount === 0) return PcapReadStatus.UnknownInterface;
    const original = readU32(buf, offset + SPB_ORIGINAL_OFFSET, this.bigEndian);
    // The captured length is min(original length, snapshot length) (§4.4).
    const snapLength = this.interfaces[SPB_INTERFACE]!.snapLength;
    const captured = snapLength === 0 ? original : Math.min(original, snapLength);
    const status = this.checkPacket(SPB_INTERFACE, captured, length - SPB_DATA_OFFSET - BLOCK_TRAILER_LENGTH, out);
    if (status !== PcapReadStatus.Packet) return status;
    out.capturedLength = captured;
    out.originalLength = original;
    this.dataOffset = offset + SPB_DATA_OFFSET;
    return status;
  }

  /** Checks a packet of `captured` bytes on interface `id` in a block with `room` bytes for
   *  them; sets its link type. */
  private checkPacket(id: number, captured: number, room: number, out: CaptureRecord): RecordStatus {
    if (id >= this.interfaceCount) return PcapReadStatus.UnknownInterface;
    const linkType = this.interfaces[id]!.linkType;
    if (!isSupportedLinkType(linkType)) return PcapReadStatus.UnsupportedLinkType;
    if (captured > MAX_PCAP_RECORD_BYTES) return PcapReadStatus.BadRecordLength;
    if (captured > room) return PcapReadStatus.BadBlock;
    out.linkType = linkType;
    return PcapReadStatus.Packet;
  }
}

/** Takes if_tsresol's byte; false for a resolution finer than libpcap reads. */
function setTimeResolution(iface: PcapngInterface, tsresol: number): boolean {
  const exponent = tsresol & TSRESOL_EXPONENT_MASK;
  if ((tsresol & TSRESOL_BINARY) === 0) {
    if (exponent > MAX_DECIMAL_EXPONENT) return false;
    setTimeScale(iface, exponent);
    return true;
  }
  if (exponent > MAX_BINARY_EXPONENT) return false;
  iface.timeScale = TimeScale.Binary;
  iface.timeFactor = exponent;
  return true;
}

function setTimeScale(iface: PcapngInterface, decimalExponent: number): void {
  const finer = decimalExponent > MICROS_DECIMAL_EXPONENT;
  iface.timeScale = finer ? TimeScale.Divide : TimeScale.Multiply;
  iface.timeFactor = finer
    ? decimalExponent - MICROS_DECIMAL_EXPONENT
    : 10 ** (MICROS_DECIMAL_EXPONENT - decimalExponent);
}

/**
 * Microseconds since the epoch (rounded down, as the classic reader rounds nanoseconds) of a
 * timestamp of high·2^32 + low units. The 64-bit count is never formed: above 2^53 a double
 * loses units, and a nanosecond count of today is ~2^60. Exact wherever the result is below 2^53.
 */
function timestampMicros(high: number, low: number, iface: PcapngInterface): number {
  return unitsToMicros(high, low, iface) + iface.offsetMicros;
}

function unitsToMicros(high: number, low: number, iface: PcapngInterface): number {
  switch (iface.timeScale) {
    case TimeScale.Multiply:
      return (high * TWO_TO_32 + low) * iface.timeFactor;
    case TimeScale.Divide:
      return dividedByPowerOfTen(high, low, iface.timeFactor);
    case TimeScale.Binary:
      return binaryUnitsToMicros(high, low, iface.timeFactor);
  }
}

/** floor((high·2^32 + low) / 10^exponent): long division by 16-bit digits, in steps of at most
 *  10^9 (floor(floor(x/a)/b) = floor(x/ab)), so every intermediate is an exact double. */
function dividedByPowerOfTen(high: number, low: number, exponent: number): number {
  for (let left = exponent; left > 0; left -= MAX_DIVISOR_EXPONENT) {
    const divisor = 10 ** Math.min(left, MAX_DIVISOR_EXPONENT);
    let remainder = 0;
    let quotientHigh = 0;
    let quotientLow = 0;
    for (let digit = 3; digit >= 0; digit--) {
      const word = digit >= 2 ? high : low;
      const n = remainder * DIGIT + ((word >>> ((digit % 2) * DIGIT_BITS)) & (DIGIT - 1));
      const q = Math.floor(n / divisor);
      remainder = n - q * divisor;
      if (digit >= 2) quotientHigh = quotientHigh * DIGIT + q;
      else quotientLow = quotientLow * DIGIT + q;
    }
    high = quotientHigh;
    low = quotientLow;
  }
  return high * TWO_TO_32 + low;
}

/** floor((high·2^32 + low) · 10^6 / 2^exponent): whole seconds by shifting, then the remaining
 *  fraction, whose products with 10^6 stay below 2^53. */
function binaryUnitsToMicros(high: number, low: number, exponent: number): number {
  if (exponent >= 32) {
    const unitsPerHigh = 2 ** (exponent - 32);
    const seconds = Math.floor(high / unitsPerHigh);
    const restHigh = high - seconds * unitsPerHigh;
    // floor((r·2^32 + low)·10^6 / 2^e) = floor((r·10^6 + floor(low·10^6 / 2^32)) / 2^(e-32))
    const fraction = Math.floor(
      (restHigh * MICROS_PER_SECOND + Math.floor((low * MICROS_PER_SECOND) / TWO_TO_32)) / unitsPerHigh,
    );
    return seconds * MICROS_PER_SECOND + fraction;
  }
  const unitsPerSecond = 2 ** exponent;
  const lowSeconds = Math.floor(low / unitsPerSecond);
  const seconds = high * (TWO_TO_32 / unitsPerSecond) + lowSeconds;
  const fraction = Math.floor(((low - lowSeconds * unitsPerSecond) * MICROS_PER_SECOND) / unitsPerSecond);
  return seconds * MICROS_PER_SECOND + fraction;
}

function padded(length: number): number {
  return (length + BLOCK_ALIGNMENT - 1) & ~(BLOCK_ALIGNMENT - 1);
}

function readU16(buf: Buffer, offset: number, bigEndian: boolean): number {
  return bigEndian ? buf.readUInt16BE(offset) : buf.readUInt16LE(offset);
}

function readU32(buf: Buffer, offset: number, bigEndian: boolean): number {
  return bigEndian ? buf.readUInt32BE(offset) : buf.readUInt32LE(offset);
}

/** A signed 64-bit value as a double (exact below 2^53), without a BigInt. */
function readI64(buf: Buffer, offset: number, bigEndian: boolean): number {
  const high = bigEndian ? buf.readInt32BE(offset) : buf.readInt32LE(offset + 4);
  const low = bigEndian ? buf.readUInt32BE(offset + 4) : buf.readUInt32LE(offset);
  return high * TWO_TO_32 + low;
}
