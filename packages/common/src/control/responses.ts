/**
 * Response batches (intercept -> copier): many header records back to back in one Buffer, each
 *   u16 headersLength | IPv4 header (IHL*4 bytes, as captured) | TCP header with options (doff*4)
 * with the payload stripped and the IPv4 total length kept verbatim.
 */
import { readU16, writeU16 } from '../packet/bytes.js';
import { IPV4_MIN_HEADER_LENGTH, IPV4_OFF_TOTAL_LENGTH, IPV4_OFF_VERSION_IHL, IPV4_VERSION } from '../packet/ipv4.js';
import { TCP_MIN_HEADER_LENGTH, TCP_OFF_DATA_OFFSET } from '../packet/tcp.js';
import { RESPONSE_MAX_HEADERS_BYTES, RESPONSE_MIN_HEADERS_BYTES, RESPONSE_RECORD_LENGTH_BYTES } from './constants.js';
import { GrowableBuffer } from './growable.js';

/** Both header-length fields count 32-bit words (RFC 791 IHL, RFC 9293 data offset). */
const WORD_BYTES = 4;

/**
 * Null when every record of `records` is self-consistent, else why not: the length prefix agrees
 * with IHL and data offset, and the total length leaves a payload length >= 0.
 */
export function checkResponseBatch(records: Buffer): string | null {
  let at = 0;
  while (at < records.length) {
    if (records.length - at < RESPONSE_RECORD_LENGTH_BYTES) return `truncated record length at byte ${at}`;
    const length = readU16(records, at);
    const ip = at + RESPONSE_RECORD_LENGTH_BYTES;
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
    at = ip + length;
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
    const target = this.out.reserve(RESPONSE_RECORD_LENGTH_BYTES + headersLength);
    writeU16(target, at, headersLength);
    // Buffer#copy takes offsets, so no subarray view is allocated per record.
    buf.copy(target, at + RESPONSE_RECORD_LENGTH_BYTES, offset, offset + headersLength);
    this.out.commit(RESPONSE_RECORD_LENGTH_BYTES + headersLength);
    this.records++;
  }

  /** The records so far; valid until `clear()` is followed by another `append()`. */
  view(): Buffer {
    return this.out.view();
  }

  clear(): void {
    this.out.clear();
    this.records = 0;
  }
}
