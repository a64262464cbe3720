/**
 * Upstream's control protocol (tcpcopy 1.3 / intercept 1.0), intercept to copier: one 64-byte
 * record per reply, the reply's IPv4 header (20 bytes) and its TCP header cut or padded to 44,
 * in "combined" frames (u16 count 1..16, then the records) or, from older builds, bare
 * (docs/protocol.md §6). Pure: native response batches (responses.ts) in and out, so everything
 * past the socket is the same for both protocols.
 */
import { ControlError, ErrorCode } from '../errors.js';
import { readU16, writeU16 } from '../packet/bytes.js';
import { ipv4HeaderChecksum } from '../packet/checksum.js';
import {
  IPV4_MIN_HEADER_LENGTH,
  IPV4_OFF_CHECKSUM,
  IPV4_OFF_TOTAL_LENGTH,
  IPV4_OFF_VERSION_IHL,
  IPV4_VERSION,
} from '../packet/ipv4.js';
import { TCP_MIN_HEADER_LENGTH, TCP_OFF_DATA_OFFSET } from '../packet/tcp.js';
import { TCP_OPTION_HEADER_LENGTH, TCP_SACK_BLOCK_LENGTH, TcpOptionKind } from '../packet/tcp-options.js';
import { RESPONSE_RECORD_LENGTH_BYTES } from './constants.js';
import { GrowableBuffer } from './growable.js';
import { ResponseBatchBuilder, ResponseBatchCursor } from './responses.js';

export const LEGACY_REPLY_RECORD_BYTES = 64;
/** Only the fixed IPv4 header travels: upstream's intercept copies 20 bytes whatever IHL says. */
export const LEGACY_REPLY_IP_BYTES = IPV4_MIN_HEADER_LENGTH;
/** The TCP header with up to 24 bytes of options (data offset 11 at most). */
export const LEGACY_REPLY_TCP_BYTES = LEGACY_REPLY_RECORD_BYTES - LEGACY_REPLY_IP_BYTES;
export const LEGACY_COMBINED_COUNT_BYTES = 2;
/** Upstream's copier treats a larger count as a fatal mismatch. */
export const LEGACY_MAX_COMBINED_RECORDS = 16;

/** Both header-length fields count 32-bit words. */
const WORD = 4;

/**
 * Writes the TCP options of `src[from, to)` that fit in `room` bytes (a multiple of 4) at
 * `dst[at]`, whole and in their order; a SACK option keeps as many blocks as fit. NOPs are left
 * out (they only align) and the end is padded with end-of-list zeros. Returns the bytes written,
 * a multiple of 4. What cannot travel is lost: later SACK blocks, options after a malformed one.
 */
function fitOptions(src: Buffer, from: number, to: number, dst: Buffer, at: number, room: number): number {
  let used = 0;
  let i = from;
  while (i < to) {
    const kind = src[i]!;
    if (kind === TcpOptionKind.Eol) break;
    if (kind === TcpOptionKind.Nop) {
      i++;
      continue;
    }
    if (i + 1 >= to) break;
    const len = src[i + 1]!;
    if (len < TCP_OPTION_HEADER_LENGTH || i + len > to) break;
    let keep = len;
    if (kind === TcpOptionKind.Sack && len > room - used) {
      const blocks = Math.floor((room - used - TCP_OPTION_HEADER_LENGTH) / TCP_SACK_BLOCK_LENGTH);
      if (blocks > 0) keep = TCP_OPTION_HEADER_LENGTH + blocks * TCP_SACK_BLOCK_LENGTH;
    }
    if (keep <= room - used) {
      src.copy(dst, at + used, i, i + keep);
      dst[at + used + 1] = keep;
      used += keep;
    }
    i += len;
  }
  const length = Math.ceil(used / WORD) * WORD;
  dst.fill(TcpOptionKind.Eol, at + used, at + length);
  return length;
}

/**
 * Writes one reply's headers (`src[ip, ip + headersLength)`: an IPv4 header and its TCP header) as
 * a 64-byte legacy record at `dst[at]`. The IPv4 header loses its options and the TCP header keeps
 * what fits in 44 bytes; the total length shrinks by what was removed, so the payload length
 * upstream derives from it (total - IHL*4 - doff*4) stays the reply's. Returns false when the
 * headers are not a plausible IPv4/TCP pair (nothing is written then).
 */
export function writeLegacyReply(src: Buffer, ip: number, headersLength: number, dst: Buffer, at: number): boolean {
  const ihl = (src[ip + IPV4_OFF_VERSION_IHL]! & 0x0f) * WORD;
  if (ihl < IPV4_MIN_HEADER_LENGTH || ihl + TCP_MIN_HEADER_LENGTH > headersLength) return false;
  const tcp = ip + ihl;
  const tcpLength = headersLength - ihl;
  src.copy(dst, at, ip, ip + LEGACY_REPLY_IP_BYTES);
  const tcpAt = at + LEGACY_REPLY_IP_BYTES;
  let keptTcp = tcpLength;
  if (tcpLength <= LEGACY_REPLY_TCP_BYTES) {
    src.copy(dst, tcpAt, tcp, tcp + tcpLength);
  } else {
    src.copy(dst, tcpAt, tcp, tcp + TCP_MIN_HEADER_LENGTH);
    const room = LEGACY_REPLY_TCP_BYTES - TCP_MIN_HEADER_LENGTH;
    keptTcp =
      TCP_MIN_HEADER_LENGTH +
      fitOptions(src, tcp + TCP_MIN_HEADER_LENGTH, tcp + tcpLength, dst, tcpAt + TCP_MIN_HEADER_LENGTH, room);
    dst[tcpAt + TCP_OFF_DATA_OFFSET] = ((keptTcp / WORD) << 4) | (dst[tcpAt + TCP_OFF_DATA_OFFSET]! & 0x0f);
  }
  dst.fill(0, tcpAt + keptTcp, at + LEGACY_REPLY_RECORD_BYTES);
  const removed = ihl - LEGACY_REPLY_IP_BYTES + tcpLength - keptTcp;
  if (removed > 0) {
    dst[at + IPV4_OFF_VERSION_IHL] = (IPV4_VERSION << 4) | (LEGACY_REPLY_IP_BYTES / WORD);
    writeU16(dst, at + IPV4_OFF_TOTAL_LENGTH, readU16(src, ip + IPV4_OFF_TOTAL_LENGTH) - removed);
    writeU16(dst, at + IPV4_OFF_CHECKSUM, ipv4HeaderChecksum(dst, at, LEGACY_REPLY_IP_BYTES));
  }
  return true;
}

/**
 * The intercept's writer toward a legacy copier: a native response batch becomes combined frames
 * of at most 16 records, in one reusable buffer.
 */
export class LegacyReplyEncoder {
  private readonly out = new GrowableBuffer(
    LEGACY_COMBINED_COUNT_BYTES + LEGACY_MAX_COMBINED_RECORDS * LEGACY_REPLY_RECORD_BYTES,
  );
  private readonly cursor = new ResponseBatchCursor();

  /** The frames for `records`; valid until the next call. Empty when no record could be written. */
  encode(records: Buffer): Buffer {
    this.out.clear();
    const cursor = this.cursor.reset(records);
    let countAt = -1;
    let inFrame = 0;
    while (cursor.next()) {
      if (countAt < 0 || inFrame === LEGACY_MAX_COMBINED_RECORDS) {
        countAt = this.out.length;
        this.out.reserve(LEGACY_COMBINED_COUNT_BYTES);
        this.out.commit(LEGACY_COMBINED_COUNT_BYTES);
        inFrame = 0;
      }
      const at = this.out.length;
      const buf = this.out.reserve(LEGACY_REPLY_RECORD_BYTES);
      // Our capture hands over IPv4/TCP headers only: anything else is left out, not sent.
      if (!writeLegacyReply(cursor.buffer, cursor.offset, cursor.length, buf, at)) continue;
      this.out.commit(LEGACY_REPLY_RECORD_BYTES);
      writeU16(buf, countAt, ++inFrame);
    }
    // A frame opened for records that were all skipped would say 0, which upstream never sends.
    if (inFrame === 0 && countAt >= 0) return this.out.view().subarray(0, countAt);
    return this.out.view();
  }
}

export interface LegacyReplyHandlers {
  /** What one pushed chunk held, as a native response batch (valid during the call). */
  onRecords(records: Buffer): void;
  /** Called once; the decoder ignores further input. */
  onError(err: ControlError): void;
}

/**
 * The copier's reader of a legacy intercept's stream, any chunking: combined frames, or bare
 * records as builds without TC_COMBINED send them. The two cannot be confused: a frame starts
 * with a count of at most 16, whose first byte is 0, a record with IPv4's version nibble 4.
 */
export class LegacyReplyDecoder {
  private readonly partial = Buffer.alloc(LEGACY_REPLY_RECORD_BYTES);
  private partialFilled = 0;
  /** Records still due in the current combined frame; 0 between frames. */
  private remaining = 0;
  private readonly count = Buffer.alloc(LEGACY_COMBINED_COUNT_BYTES);
  private countFilled = 0;
  private dead = false;
  private readonly batch = new ResponseBatchBuilder(
    LEGACY_MAX_COMBINED_RECORDS * (RESPONSE_RECORD_LENGTH_BYTES + LEGACY_REPLY_RECORD_BYTES),
  );

  constructor(private readonly handlers: LegacyReplyHandlers) {}

  get failed(): boolean {
    return this.dead;
  }

  push(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length && !this.dead) {
      const atUnitStart = this.remaining === 0 && this.partialFilled === 0;
      if (this.countFilled > 0 || (atUnitStart && chunk[pos]! >> 4 !== IPV4_VERSION)) {
        pos += this.readCount(chunk, pos);
      } else if (this.partialFilled > 0 || chunk.length - pos < LEGACY_REPLY_RECORD_BYTES) {
        const n = Math.min(LEGACY_REPLY_RECORD_BYTES - this.partialFilled, chunk.length - pos);
        chunk.copy(this.partial, this.partialFilled, pos, pos + n);
        this.partialFilled += n;
        pos += n;
        if (this.partialFilled < LEGACY_REPLY_RECORD_BYTES) break;
        this.partialFilled = 0;
        this.record(this.partial, 0);
      } else {
        this.record(chunk, pos);
        pos += LEGACY_REPLY_RECORD_BYTES;
      }
    }
    // Records read before a fault are sound: they are delivered all the same.
    if (this.batch.count > 0) {
      this.handlers.onRecords(this.batch.view());
      this.batch.clear();
    }
  }

  /** Reads (part of) a combined frame's count at `chunk[pos]`; returns the bytes taken. */
  private readCount(chunk: Buffer, pos: number): number {
    const n = Math.min(LEGACY_COMBINED_COUNT_BYTES - this.countFilled, chunk.length - pos);
    chunk.copy(this.count, this.countFilled, pos, pos + n);
    this.countFilled += n;
    if (this.countFilled < LEGACY_COMBINED_COUNT_BYTES) return n;
    this.countFilled = 0;
    const count = readU16(this.count, 0);
    if (count === 0 || count > LEGACY_MAX_COMBINED_RECORDS) {
      this.fail(`combined frame of ${count} records (1..${LEGACY_MAX_COMBINED_RECORDS} expected)`);
    } else {
      this.remaining = count;
    }
    return n;
  }

  private record(buf: Buffer, at: number): void {
    if (this.remaining > 0) this.remaining--;
    const headersLength = nativeHeadersLength(buf, at);
    if (typeof headersLength === 'string') {
      this.fail(headersLength);
      return;
    }
    this.batch.append(buf, at, headersLength);
    const appended = this.batch.view();
    normaliseLegacyHeaders(buf, at, headersLength, appended, appended.length - headersLength);
  }

  private fail(message: string): void {
    if (this.dead) return;
    this.dead = true;
    this.handlers.onError(new ControlError(ErrorCode.CONTROL_MALFORMED, `legacy intercept: ${message}`));
  }
}

/**
 * The headers of a legacy record as a native record carries them: the 20-byte IPv4 header and the
 * TCP header up to its last option wholly inside the record. Or why the record is unusable.
 */
function nativeHeadersLength(buf: Buffer, at: number): number | string {
  const versionIhl = buf[at + IPV4_OFF_VERSION_IHL]!;
  if (versionIhl >> 4 !== IPV4_VERSION) return `record is not IPv4 (first byte ${versionIhl})`;
  if ((versionIhl & 0x0f) * WORD < IPV4_MIN_HEADER_LENGTH) return `record has IHL ${versionIhl & 0x0f}`;
  const tcp = at + LEGACY_REPLY_IP_BYTES;
  const tcpLength = (buf[tcp + TCP_OFF_DATA_OFFSET]! >> 4) * WORD;
  if (tcpLength < TCP_MIN_HEADER_LENGTH) return `record has TCP data offset ${tcpLength / WORD}`;
  if (tcpLength <= LEGACY_REPLY_TCP_BYTES) return LEGACY_REPLY_IP_BYTES + tcpLength;
  return (
    LEGACY_REPLY_IP_BYTES +
    TCP_MIN_HEADER_LENGTH +
    wholeOptionsLength(buf, tcp + TCP_MIN_HEADER_LENGTH, tcp + LEGACY_REPLY_TCP_BYTES)
  );
}

/** Bytes of `buf[from, to)` up to the end of its last whole option, rounded down to 4. */
function wholeOptionsLength(buf: Buffer, from: number, to: number): number {
  let i = from;
  while (i < to) {
    const kind = buf[i]!;
    if (kind === TcpOptionKind.Eol) break;
    if (kind === TcpOptionKind.Nop) {
      i++;
      continue;
    }
    if (i + 1 >= to || buf[i + 1]! < TCP_OPTION_HEADER_LENGTH || i + buf[i + 1]! > to) break;
    i += buf[i + 1]!;
  }
  return Math.floor((i - from) / WORD) * WORD;
}

/**
 * Fixes the copy at `out[at]` of the legacy record at `src[from]` (`headersLength` bytes) so that
 * IHL and data offset describe what it holds, and the total length still gives the reply's
 * payload length: upstream's intercept copies 20 bytes of IPv4 header whatever IHL says, and cuts
 * TCP options at 44 bytes without lowering the data offset. The IPv4 checksum is left as it
 * was: the copier never verifies a record's.
 */
function normaliseLegacyHeaders(src: Buffer, from: number, headersLength: number, out: Buffer, at: number): void {
  const ihl = (src[from + IPV4_OFF_VERSION_IHL]! & 0x0f) * WORD;
  const tcpLength = (src[from + LEGACY_REPLY_IP_BYTES + TCP_OFF_DATA_OFFSET]! >> 4) * WORD;
  const removed = ihl - LEGACY_REPLY_IP_BYTES + tcpLength - (headersLength - LEGACY_REPLY_IP_BYTES);
  if (removed === 0) return;
  out[at + IPV4_OFF_VERSION_IHL] = (IPV4_VERSION << 4) | (LEGACY_REPLY_IP_BYTES / WORD);
  const keptTcp = headersLength - LEGACY_REPLY_IP_BYTES;
  const offsetAt = at + LEGACY_REPLY_IP_BYTES + TCP_OFF_DATA_OFFSET;
  out[offsetAt] = ((keptTcp / WORD) << 4) | (out[offsetAt]! & 0x0f);
  const total = readU16(src, from + IPV4_OFF_TOTAL_LENGTH);
  // A total below the headers is the peer's error; the pipeline counts such a record as truncated.
  writeU16(out, at + IPV4_OFF_TOTAL_LENGTH, Math.max(0, total - removed));
}
