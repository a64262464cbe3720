/**
 * Payload batches (intercept -> copier, payloadResponses; docs/protocol.md §3.3): records back to
 * back in one Buffer, each
 *   u16 headersLength | u16 payloadLength | IPv4 header | TCP header | payload
 * the headers as in a response record (total length verbatim), followed by what the capture held
 * of the reply's data. Headers and payload lie back to back as in the captured packet, so a
 * record is one copy out of the capture, and decodeIpv4 over headers + payload decodes it as the
 * packet it was (capturedPayloadLength says what the capture kept).
 */
import { readU16, writeU16 } from '../packet/bytes.js';
import { IPV4_OFF_TOTAL_LENGTH } from '../packet/ipv4.js';
import {
  PAYLOAD_RECORD_OFF_HEADERS_LENGTH,
  PAYLOAD_RECORD_OFF_PAYLOAD_LENGTH,
  PAYLOAD_RECORD_PREFIX_BYTES,
} from './constants.js';
import { GrowableBuffer } from './growable.js';
import { checkRecordHeaders } from './responses.js';

/**
 * Null when every record of `records` is self-consistent, else why not: the headers as a response
 * record's (checkRecordHeaders), and a payload no longer than the total length leaves for it.
 */
export function checkPayloadBatch(records: Buffer): string | null {
  let at = 0;
  while (at < records.length) {
    if (records.length - at < PAYLOAD_RECORD_PREFIX_BYTES) return `truncated record prefix at byte ${at}`;
    const headersLength = readU16(records, at + PAYLOAD_RECORD_OFF_HEADERS_LENGTH);
    const payloadLength = readU16(records, at + PAYLOAD_RECORD_OFF_PAYLOAD_LENGTH);
    const ip = at + PAYLOAD_RECORD_PREFIX_BYTES;
    const problem = checkRecordHeaders(records, at, ip, headersLength);
    if (problem !== null) return problem;
    if (payloadLength > readU16(records, ip + IPV4_OFF_TOTAL_LENGTH) - headersLength) {
      return `record at byte ${at} carries ${payloadLength} payload bytes, more than its IPv4 total length leaves`;
    }
    if (records.length - ip - headersLength < payloadLength) return `record at byte ${at} overruns the batch`;
    at = ip + headersLength + payloadLength;
  }
  return null;
}

/**
 * Walks a payload batch without allocating: after `next()` returns true, the record's headers
 * are `buffer[offset, offset + length)` and its payload the `payloadLength` bytes after them.
 * Batches from FrameDecoder are validated; on any other input the cursor stops at the first
 * record that does not fit.
 */
export class PayloadBatchCursor {
  buffer: Buffer = Buffer.alloc(0);
  offset = 0;
  length = 0;
  payloadOffset = 0;
  payloadLength = 0;
  private nextAt = 0;

  reset(records: Buffer): this {
    this.buffer = records;
    this.offset = 0;
    this.length = 0;
    this.payloadOffset = 0;
    this.payloadLength = 0;
    this.nextAt = 0;
    return this;
  }

  next(): boolean {
    const at = this.nextAt;
    if (this.buffer.length - at < PAYLOAD_RECORD_PREFIX_BYTES) return false;
    const length = readU16(this.buffer, at + PAYLOAD_RECORD_OFF_HEADERS_LENGTH);
    const payloadLength = readU16(this.buffer, at + PAYLOAD_RECORD_OFF_PAYLOAD_LENGTH);
    const start = at + PAYLOAD_RECORD_PREFIX_BYTES;
    if (this.buffer.length - start < length + payloadLength) return false;
    this.offset = start;
    this.length = length;
    this.payloadOffset = start + length;
    this.payloadLength = payloadLength;
    this.nextAt = start + length + payloadLength;
    return true;
  }
}

/**
 * Appends payload records into a growing buffer reused from one batch to the next; `view()` is
 * the `records` field of a payloadResponses message. Records are never merged: merging would
 * have to join payloads, and a record's payload may be cut by the capture.
 */
export class PayloadBatchBuilder {
  private readonly out: GrowableBuffer;
  private records = 0;
  private payload = 0;

  constructor(initialBytes = 16 * 1024) {
    this.out = new GrowableBuffer(initialBytes);
  }

  get count(): number {
    return this.records;
  }

  get byteLength(): number {
    return this.out.length;
  }

  /** Payload bytes in the batch (the records' data, without prefixes and headers). */
  get payloadBytes(): number {
    return this.payload;
  }

  /**
   * Appends the reply at `buf[offset]`: its `headersLength` bytes of IPv4 and TCP headers and the
   * `payloadLength` bytes of data that follow them, as they sit in a captured packet.
   */
  append(buf: Buffer, offset: number, headersLength: number, payloadLength: number): void {
    const at = this.out.length;
    const bytes = headersLength + payloadLength;
    const target = this.out.reserve(PAYLOAD_RECORD_PREFIX_BYTES + bytes);
    writeU16(target, at + PAYLOAD_RECORD_OFF_HEADERS_LENGTH, headersLength);
    writeU16(target, at + PAYLOAD_RECORD_OFF_PAYLOAD_LENGTH, payloadLength);
    // Buffer#copy takes offsets, so no subarray view is allocated per record.
    buf.copy(target, at + PAYLOAD_RECORD_PREFIX_BYTES, offset, offset + bytes);
    this.out.commit(PAYLOAD_RECORD_PREFIX_BYTES + bytes);
    this.records++;
    this.payload += payloadLength;
  }

  /** The records so far; valid until `clear()` is followed by another `append()`. */
  view(): Buffer {
    return this.out.view();
  }

  clear(): void {
    this.out.clear();
    this.records = 0;
    this.payload = 0;
  }
}
