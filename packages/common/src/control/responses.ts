/**
 * Response batches (intercept -> copier): many header records back to back in one Buffer, each
 *   u16 headersLength | IPv4 header (IHL*4 bytes, as captured) | TCP header with options (doff*4)
 * with the payload stripped and the IPv4 total length kept verbatim.
 */
import { readU16, readU32, writeU16, writeU32 } from '../packet/bytes.js';
import {
  IPV4_MIN_HEADER_LENGTH,
  IPV4_OFF_SRC,
  IPV4_OFF_TOTAL_LENGTH,
  IPV4_OFF_VERSION_IHL,
  IPV4_VERSION,
} from '../packet/ipv4.js';
import { TCP_MIN_HEADER_LENGTH, TCP_OFF_DATA_OFFSET, TCP_OFF_FLAGS, TCP_OFF_SEQ, TcpFlag } from '../packet/tcp.js';

import { RESPONSE_MAX_HEADERS_BYTES, RESPONSE_MIN_HEADERS_BYTES, RESPONSE_RECORD_LENGTH_BYTES } from './constants.js';
import { GrowableBuffer } from './growable.js';

/** Both header-length fields count 32-bit words (RFC 791 IHL, RFC 9293 data offset). */
const WORD_BYTES = 4;
/** Source and destination addresses: 8 bytes from IPV4_OFF_SRC; the ports: the TCP header's first 4. */
const ADDRESSES_BYTES = 8;
const PORTS_BYTES = 4;
const IPV4_MAX_TOTAL_LENGTH = 0xffff;
/** Segments with these flags stay records of their own. */
const UNMERGEABLE = TcpFlag.SYN | TcpFlag.FIN | TcpFlag.RST | TcpFlag.URG;

/**
 * Null when every record of `records` is self-consistent, else why not: the length prefix agrees
 * with IHL and data offset, and the total length leaves a payload length >= 0.
 */
export function checkResponseBatch(records: Buffer): string | null {
  let at = 0;
  while (at < records.length) {
    if (records.length - at < RESPONSE_RECORD_LENGTH_BYTES) return `truncated record length at byte ${at}`;
    const length = readU16(records, at);
    const problem = checkRecordHeaders(records, at, at + RESPONSE_RECORD_LENGTH_BYTES, length);
    if (problem !== null) return problem;
    at += RESPONSE_RECORD_LENGTH_BYTES + length;
  }
  return null;
}

/**
 * Null when the `length` bytes at `records[ip]` are a reply's IPv4 and TCP headers as a record
 * carries them (docs/protocol.md §3.2), else why not; `at` names the record in the message.
 * Shared by header records and payload records, whose headers are alike.
 */
export function checkRecordHeaders(records: Buffer, at: number, ip: number, length: number): string | null {
  if (length < RESPONSE_MIN_HEADERS_BYTES || length > RESPONSE_MAX_HEADERS_BYTES) {
    return `record at byte ${at} has headers length ${length}`;
  }
  if (records.length - ip < length) return `record at byte ${at} overruns the batch`;
  const versionIhl = records[ip + IPV4_OFF_VERSION_IHL]!;
  if (versionIhl >> 4 !== IPV4_VERSION) return `record at byte ${at} is not IPv4`;
  const ipHeaderLength = (versionIhl & 0x0f) * WORD_BYTES;
  // "The minimum value for a correct header is 5" (RFC 791 IHL); a TCP header must still follow.
  if (ipHeaderLength < IPV4_MIN_HEADER_LENGTH || ipHeaderLength + TCP_MIN_HEADER_LENGTH > length) {
    return `record at byte ${at} has IHL ${ipHeaderLength / WORD_BYTES}`;
  }
  const tcpHeaderLength = (records[ip + ipHeaderLength + TCP_OFF_DATA_OFFSET]! >> 4) * WORD_BYTES;
  if (ipHeaderLength + tcpHeaderLength !== length) {
    return `record at byte ${at}: IHL and data offset give ${ipHeaderLength + tcpHeaderLength} bytes, length says ${length}`;
  }
  if (readU16(records, ip + IPV4_OFF_TOTAL_LENGTH) < length) {
    return `record at byte ${at} has an IPv4 total length shorter than its headers`;
  }
  return null;
}

/**
 * Walks a batch without allocating: after `next()` returns true, the record's headers are
 * `buffer[offset, offset + length)`, ready for decodeIpv4(buffer, offset, length, view).
 * Batches from FrameDecoder are validated; on any other input the cursor stops at the first
 * record that does not fit.
 */
export class ResponseBatchCursor {
  buffer: Buffer = Buffer.alloc(0);
  offset = 0;
  length = 0;
  private nextAt = 0;

  reset(records: Buffer): this {
    this.buffer = records;
    this.offset = 0;
    this.length = 0;
    this.nextAt = 0;
    return this;
  }

  next(): boolean {
    const at = this.nextAt;
    if (this.buffer.length - at < RESPONSE_RECORD_LENGTH_BYTES) return false;
    const length = readU16(this.buffer, at);
    const start = at + RESPONSE_RECORD_LENGTH_BYTES;
    if (this.buffer.length - start < length) return false;
    this.offset = start;
    this.length = length;
    this.nextAt = start + length;
    return true;
  }
}

/**
 * Appends header records into a growing buffer that is reused from one batch to the next; `view()`
 * is the `records` field of a responses message.
 */
export class ResponseBatchBuilder {
  private readonly out: GrowableBuffer;
  private records = 0;
  /** Where the last record starts (its length prefix), or -1. */
  private lastAt = -1;

  constructor(initialBytes = 4096) {
    this.out = new GrowableBuffer(initialBytes);
  }

  get count(): number {
    return this.records;
  }

  get byteLength(): number {
    return this.out.length;
  }

  /**
   * Appends the `headersLength` bytes at `buf[offset]`: a reply's IPv4 header immediately followed
   * by its TCP header (how they sit in a captured packet and in a record).
   */
  append(buf: Buffer, offset: number, headersLength: number): void {
    const at = this.out.length;
    this.lastAt = at;
    const target = this.out.reserve(RESPONSE_RECORD_LENGTH_BYTES + headersLength);
    writeU16(target, at, headersLength);
    // Buffer#copy takes offsets, so no subarray view is allocated per record.
    buf.copy(target, at + RESPONSE_RECORD_LENGTH_BYTES, offset, offset + headersLength);
    this.out.commit(RESPONSE_RECORD_LENGTH_BYTES + headersLength);
    this.records++;
  }

  /**
   * Appends a record, or merges it into the last one when it continues it: the same flow and
   * header length, data that starts where the last record's data ends, neither with SYN, FIN, RST
   * or URG, and both within one IPv4 total length. The merged record is the newer headers (their
   * ack, window, timestamps and SACK blocks) with the older sequence number and the two payloads'
   * length: what GRO makes of the same segments, which the copier already takes. Returns true
   * when merged.
   */
  appendMerging(buf: Buffer, offset: number, headersLength: number): boolean {
    const out = this.out.reserve(0);
    const last = this.lastAt + RESPONSE_RECORD_LENGTH_BYTES;
    if (this.lastAt < 0 || readU16(out, this.lastAt) !== headersLength) {
      this.append(buf, offset, headersLength);
      return false;
    }
    const ihl = (buf[offset + IPV4_OFF_VERSION_IHL]! & 0x0f) * WORD_BYTES;
    const lastTotal = readU16(out, last + IPV4_OFF_TOTAL_LENGTH);
    const payload = readU16(buf, offset + IPV4_OFF_TOTAL_LENGTH) - headersLength;
    const mergeable =
      (out[last + IPV4_OFF_VERSION_IHL]! & 0x0f) * WORD_BYTES === ihl &&
      sameBytes(out, last + IPV4_OFF_SRC, buf, offset + IPV4_OFF_SRC, ADDRESSES_BYTES) &&
      sameBytes(out, last + ihl, buf, offset + ihl, PORTS_BYTES) &&
      ((out[last + ihl + TCP_OFF_FLAGS]! | buf[offset + ihl + TCP_OFF_FLAGS]!) & UNMERGEABLE) === 0 &&
      payload > 0 &&
      lastTotal > headersLength &&
      lastTotal + payload <= IPV4_MAX_TOTAL_LENGTH &&
      ((readU32(out, last + ihl + TCP_OFF_SEQ) + lastTotal - headersLength) | 0) ===
        (readU32(buf, offset + ihl + TCP_OFF_SEQ) | 0);
    if (!mergeable) {
      this.append(buf, offset, headersLength);
      return false;
    }
    const seq = readU32(out, last + ihl + TCP_OFF_SEQ);
    buf.copy(out, last, offset, offset + headersLength);
    writeU32(out, last + ihl + TCP_OFF_SEQ, seq);
    writeU16(out, last + IPV4_OFF_TOTAL_LENGTH, lastTotal + payload);
    return true;
  }

  /** The records so far; valid until `clear()` is followed by another `append()`. */
  view(): Buffer {
    return this.out.view();
  }

  clear(): void {
    this.out.clear();
    this.records = 0;
    this.lastAt = -1;
  }
}

function sameBytes(a: Buffer, aAt: number, b: Buffer, bAt: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[aAt + i] !== b[bAt + i]) return false;
  return true;
}
