/** TCP options: decoding into a reusable view and encoding for crafted packets. */
import { readI32, readU16, writeU16, writeU32 } from './bytes.js';
import { DecodeStatus, MAX_SACK_EDGES, type TcpOptionsView } from './types.js';

/** Option kinds (IANA "TCP Option Kind Numbers"). */
export const TcpOptionKind = {
  /** End of option list (RFC 9293 §3.2). */
  Eol: 0,
  /** No-operation, used to align later options (RFC 9293 §3.2). */
  Nop: 1,
  /** Maximum segment size, SYN only (RFC 9293 §3.2, §3.7.1). */
  Mss: 2,
  /** Window scale shift, SYN only (RFC 7323 §2.2). */
  WindowScale: 3,
  /** SACK permitted, SYN only (RFC 2018 §2). */
  SackPermitted: 4,
  /** SACK blocks (RFC 2018 §3). */
  Sack: 5,
  /** Timestamps TSval/TSecr (RFC 7323 §3.2). */
  Timestamps: 8,
} as const;

/** Kind and length octets that start every option except EOL and NOP (RFC 9293 §3.1). */
export const TCP_OPTION_HEADER_LENGTH = 2;
/** Total option lengths (kind and length octets included) fixed by each option's RFC. */
export const TCP_OPTION_LENGTH_MSS = 4;
export const TCP_OPTION_LENGTH_WINDOW_SCALE = 3;
export const TCP_OPTION_LENGTH_SACK_PERMITTED = 2;
export const TCP_OPTION_LENGTH_TIMESTAMPS = 10;
/** SACK: kind + length, then 8 bytes (left, right edge) per block (RFC 2018 §3). */
export const TCP_SACK_BLOCK_LENGTH = 8;
export const TCP_MAX_SACK_BLOCKS = MAX_SACK_EDGES / 2;
/** Options fit in the 40 bytes a 4-bit data offset allows beyond the 20-byte header (RFC 9293 §3.1). */
export const TCP_MAX_OPTIONS_LENGTH = 40;
/**
 * Largest shift a receiver honours: a larger value is used as 14 (RFC 7323 §2.3). Decoders keep
 * the wire value; flow-control maths must clamp with this.
 */
export const TCP_MAX_WINDOW_SCALE = 14;
/** TSecr follows the 4-byte TSval (RFC 7323 §3.2). */
const TS_ECR_OFFSET = TCP_OPTION_HEADER_LENGTH + 4;
/** Encoder padding: two NOPs (or the 2-byte SACK-permitted) put a 10-byte option on a 4-byte boundary. */
const ALIGN_PAIR_LENGTH = 2;
const NOP_LENGTH = 1;

/**
 * Decodes the option bytes [start, end) of a TCP header. "The option-length counts the two
 * octets of option-kind and option-length as well as the option-data octets" (RFC 9293 §3.1);
 * a length that is too short, runs past the header, or is wrong for a known kind is
 * BadOptionLength. Unknown kinds are counted and skipped by their length.
 */
export function decodeTcpOptions(buf: Uint8Array, start: number, end: number, out: TcpOptionsView): DecodeStatus {
  out.mss = -1;
  out.windowScale = -1;
  out.sackPermitted = false;
  out.hasTimestamps = false;
  out.tsVal = 0;
  out.tsEcr = 0;
  out.tsValOffset = -1;
  out.sackOffset = -1;
  out.sackBlockCount = 0;
  out.unknownCount = 0;
  let i = start;
  while (i < end) {
    const kind = buf[i]!;
    if (kind === TcpOptionKind.Eol) break;
    if (kind === TcpOptionKind.Nop) {
      i++;
      continue;
    }
    if (i + 1 >= end) return DecodeStatus.BadOptionLength;
    const len = buf[i + 1]!;
    if (len < TCP_OPTION_HEADER_LENGTH || i + len > end) return DecodeStatus.BadOptionLength;
    switch (kind) {
      case TcpOptionKind.Mss:
        if (len !== TCP_OPTION_LENGTH_MSS) return DecodeStatus.BadOptionLength;
        out.mss = readU16(buf, i + TCP_OPTION_HEADER_LENGTH);
        break;
      case TcpOptionKind.WindowScale:
        if (len !== TCP_OPTION_LENGTH_WINDOW_SCALE) return DecodeStatus.BadOptionLength;
        out.windowScale = buf[i + TCP_OPTION_HEADER_LENGTH]!;
        break;
      case TcpOptionKind.SackPermitted:
        if (len !== TCP_OPTION_LENGTH_SACK_PERMITTED) return DecodeStatus.BadOptionLength;
        out.sackPermitted = true;
        break;
      case TcpOptionKind.Sack: {
        const blockBytes = len - TCP_OPTION_HEADER_LENGTH;
        const blocks = blockBytes / TCP_SACK_BLOCK_LENGTH;
        if (blocks < 1 || blocks > TCP_MAX_SACK_BLOCKS || blockBytes % TCP_SACK_BLOCK_LENGTH !== 0) {
          return DecodeStatus.BadOptionLength;
        }
        const edges = out.sackBlocks;
        for (let e = 0; e < blocks * 2; e++) edges[e] = readI32(buf, i + TCP_OPTION_HEADER_LENGTH + e * 4) >>> 0;
        out.sackBlockCount = blocks;
        out.sackOffset = i;
        break;
      }
      case TcpOptionKind.Timestamps:
        if (len !== TCP_OPTION_LENGTH_TIMESTAMPS) return DecodeStatus.BadOptionLength;
        out.hasTimestamps = true;
        out.tsValOffset = i + TCP_OPTION_HEADER_LENGTH;
        out.tsVal = readI32(buf, i + TCP_OPTION_HEADER_LENGTH) >>> 0;
        out.tsEcr = readI32(buf, i + TS_ECR_OFFSET) >>> 0;
        break;
      default:
        out.unknownCount++;
    }
    i += len;
  }
  return DecodeStatus.Ok;
}

/** Options to encode. Absent fields are not written. */
export interface TcpOptionsSpec {
  mss?: number;
  windowScale?: number;
  sackPermitted?: boolean;
  /** SACK blocks as [left, right] edges, 1..4 of them. */
  sack?: readonly (readonly [number, number])[];
  timestamps?: { val: number; ecr: number };
  /** Already-encoded options appended verbatim (e.g. kinds this module does not know). */
  raw?: Uint8Array;
}

/**
 * Encoded size of `opts` including the padding to a 4-byte boundary. Multi-byte options are
 * NOP-aligned the way Linux lays them out (MSS, SACK-permitted + timestamps, NOP + window scale).
 */
export function tcpOptionsLength(opts: TcpOptionsSpec): number {
  let n = 0;
  if (opts.mss !== undefined) n += TCP_OPTION_LENGTH_MSS;
  if (opts.timestamps !== undefined) n += ALIGN_PAIR_LENGTH + TCP_OPTION_LENGTH_TIMESTAMPS;
  else if (opts.sackPermitted === true) n += ALIGN_PAIR_LENGTH + TCP_OPTION_LENGTH_SACK_PERMITTED;
  if (opts.windowScale !== undefined) n += NOP_LENGTH + TCP_OPTION_LENGTH_WINDOW_SCALE;
  if (opts.sack !== undefined && opts.sack.length > 0) {
    n += ALIGN_PAIR_LENGTH + TCP_OPTION_HEADER_LENGTH + opts.sack.length * TCP_SACK_BLOCK_LENGTH;
  }
  if (opts.raw !== undefined) n += opts.raw.length;
  return (n + 3) & ~3;
}

/**
 * Writes `opts` at `offset`, zero-padded (EOL) to a multiple of 4 bytes, and returns the number
 * of bytes written. Throws RangeError when they exceed the 40 bytes of option space, when there
 * are more than 4 SACK blocks, or when `buf` is too short: those are caller bugs, not input data.
 */
export function encodeTcpOptions(opts: TcpOptionsSpec, buf: Uint8Array, offset: number): number {
  const total = tcpOptionsLength(opts);
  if (total > TCP_MAX_OPTIONS_LENGTH)
    throw new RangeError(`TCP options need ${total} bytes, at most ${TCP_MAX_OPTIONS_LENGTH} fit`);
  if (opts.sack !== undefined && opts.sack.length > TCP_MAX_SACK_BLOCKS) {
    throw new RangeError(`${opts.sack.length} SACK blocks, at most ${TCP_MAX_SACK_BLOCKS}`);
  }
  if (offset + total > buf.length) throw new RangeError('buffer too short for the TCP options');
  let i = offset;
  if (opts.mss !== undefined) {
    buf[i] = TcpOptionKind.Mss;
    buf[i + 1] = TCP_OPTION_LENGTH_MSS;
    writeU16(buf, i + 2, opts.mss);
    i += TCP_OPTION_LENGTH_MSS;
  }
  if (opts.timestamps !== undefined) {
    // SACK-permitted fills the 2 bytes that would otherwise be NOP,NOP before the timestamps.
    if (opts.sackPermitted === true) {
      buf[i] = TcpOptionKind.SackPermitted;
      buf[i + 1] = TCP_OPTION_LENGTH_SACK_PERMITTED;
    } else {
      buf[i] = TcpOptionKind.Nop;
      buf[i + 1] = TcpOptionKind.Nop;
    }
    buf[i + 2] = TcpOptionKind.Timestamps;
    buf[i + 3] = TCP_OPTION_LENGTH_TIMESTAMPS;
    writeU32(buf, i + ALIGN_PAIR_LENGTH + TCP_OPTION_HEADER_LENGTH, opts.timestamps.val);
    writeU32(buf, i + ALIGN_PAIR_LENGTH + TS_ECR_OFFSET, opts.timestamps.ecr);
    i += ALIGN_PAIR_LENGTH + TCP_OPTION_LENGTH_TIMESTAMPS;
  } else if (opts.sackPermitted === true) {
    buf[i] = TcpOptionKind.Nop;
    buf[i + 1] = TcpOptionKind.Nop;
    buf[i + 2] = TcpOptionKind.SackPermitted;
    buf[i + 3] = TCP_OPTION_LENGTH_SACK_PERMITTED;
    i += ALIGN_PAIR_LENGTH + TCP_OPTION_LENGTH_SACK_PERMITTED;
  }
  if (opts.windowScale !== undefined) {
    buf[i] = TcpOptionKind.Nop;
    buf[i + 1] = TcpOptionKind.WindowScale;
    buf[i + 2] = TCP_OPTION_LENGTH_WINDOW_SCALE;
    buf[i + 3] = opts.windowScale;
    i += NOP_LENGTH + TCP_OPTION_LENGTH_WINDOW_SCALE;
  }
  if (opts.sack !== undefined && opts.sack.length > 0) {
    buf[i] = TcpOptionKind.Nop;
    buf[i + 1] = TcpOptionKind.Nop;
    buf[i + 2] = TcpOptionKind.Sack;
    buf[i + 3] = TCP_OPTION_HEADER_LENGTH + opts.sack.length * TCP_SACK_BLOCK_LENGTH;
    i += ALIGN_PAIR_LENGTH + TCP_OPTION_HEADER_LENGTH;
    for (const [left, right] of opts.sack) {
      writeU32(buf, i, left);
      writeU32(buf, i + 4, right);
      i += TCP_SACK_BLOCK_LENGTH;
    }
  }
  if (opts.raw !== undefined) {
    buf.set(opts.raw, i);
    i += opts.raw.length;
  }
  buf.fill(TcpOptionKind.Eol, i, offset + total);
  return total;
}
