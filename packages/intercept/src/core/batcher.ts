/**
 * Per-connection response batching. Records for one copier connection accumulate in a reusable
 * ResponseBatchBuilder (a record continuing the last one's data is merged into it, as GRO would
 * merge the segments) and leave as one responses frame when the batch holds maxRecords records or
 * maxBytes bytes, or when the daemon has handled everything the capture delivered in this turn of
 * the event loop (flushWaiting): a record waits for no timer, since every millisecond it waits is
 * added to the test server's round trip and slows its answers (upstream waits up to ~2 ms). A
 * slow connection never makes us buffer without bound: above its high-water mark of unsent bytes,
 * new records for it are dropped and counted; the copier treats them as lost replies.
 * A connection whose copier asked for payloads gets payload records instead (never merged), and
 * its high-water mark counts their bytes like any other unsent output.
 */
import {
  CONTROL_FRAME_HEADER_BYTES,
  CONTROL_MAX_FRAME_BYTES,
  PAYLOAD_RECORD_PREFIX_BYTES,
  PayloadBatchBuilder,
  ResponseBatchBuilder,
} from '@tcpcopy/common/records';
import type { ConnectionId } from './keys.js';

export interface BatcherOptions {
  /** Flush once a batch holds this many records. */
  maxRecords: number;
  /** Flush once a batch holds this many bytes. */
  maxBytes: number;
  /** Drop records for a connection whose unsent output exceeds this many bytes. */
  highWaterBytes: number;
}

export const DEFAULT_BATCHER_OPTIONS: Readonly<BatcherOptions> = Object.freeze({
  maxRecords: 128,
  maxBytes: 16 * 1024,
  highWaterBytes: 4 * 1024 * 1024,
});

/** Room for the msgpack map around the records in a responses frame (type key, records key, bin32 header). */
const FRAME_OVERHEAD_BYTES = 64;
/** The largest record of either kind: a payload record of a whole 64 KiB IPv4 packet. */
const MAX_RECORD_BYTES = PAYLOAD_RECORD_PREFIX_BYTES + 0xffff;

export const BatchAppend = {
  /** The record waits in the batch. */
  Queued: 0,
  /** The batch reached a size limit: flush it now. */
  Full: 1,
  /** Dropped: the connection's output is above its high-water mark. */
  Dropped: 2,
  /** Merged into the batch's last record, whose data it continues (the batch did not grow). */
  Merged: 3,
} as const;
export type BatchAppend = (typeof BatchAppend)[keyof typeof BatchAppend];

export class Batcher {
  readonly options: Readonly<BatcherOptions>;
  private readonly batches = new Map<ConnectionId, ResponseBatchBuilder | PayloadBatchBuilder>();

  /**
   * `pendingBytes` reports a connection's unsent output (e.g. socket.writableLength);
   * `wantsPayloads` whether its copier was granted payload records (asked once per connection,
   * when its first record is batched: the grant is settled by the hello, before any route).
   */
  constructor(
    private readonly pendingBytes: (conn: ConnectionId) => number,
    options: Partial<BatcherOptions> = {},
    private readonly wantsPayloads: (conn: ConnectionId) => boolean = () => false,
  ) {
    const o = { ...DEFAULT_BATCHER_OPTIONS, ...options };
    const largest = CONTROL_FRAME_HEADER_BYTES + FRAME_OVERHEAD_BYTES + o.maxBytes + MAX_RECORD_BYTES;
    if (!(o.maxRecords >= 1 && o.maxBytes >= 1 && largest <= CONTROL_MAX_FRAME_BYTES)) {
      throw new RangeError(`batcher options out of range: ${JSON.stringify(o)}`);
    }
    this.options = Object.freeze(o);
  }

  /** Records waiting in `conn`'s batch. */
  pendingRecords(conn: ConnectionId): number {
    return this.batches.get(conn)?.count ?? 0;
  }

  /** Payload bytes in `conn`'s batch (0 for a headers-only connection). */
  pendingPayloadBytes(conn: ConnectionId): number {
    const builder = this.batches.get(conn);
    return builder instanceof PayloadBatchBuilder ? builder.payloadBytes : 0;
  }

  /**
   * Batches the reply at `buf[offset]`: its `length` bytes of headers, and for a payload
   * connection the `payloadLength` captured bytes of data that follow them.
   */
  append(conn: ConnectionId, buf: Buffer, offset: number, length: number, payloadLength = 0): BatchAppend {
    if (this.pendingBytes(conn) > this.options.highWaterBytes) return BatchAppend.Dropped;
    let builder = this.batches.get(conn);
    if (builder === undefined) {
      builder = this.wantsPayloads(conn) ? new PayloadBatchBuilder() : new ResponseBatchBuilder();
      this.batches.set(conn, builder);
    }
    if (builder instanceof PayloadBatchBuilder) builder.append(buf, offset, length, payloadLength);
    else if (builder.appendMerging(buf, offset, length)) return BatchAppend.Merged;
    const full = builder.count >= this.options.maxRecords || builder.byteLength >= this.options.maxBytes;
    return full ? BatchAppend.Full : BatchAppend.Queued;
  }

  /** Connections with records waiting. */
  *waiting(): IterableIterator<ConnectionId> {
    for (const [conn, builder] of this.batches) if (builder.count > 0) yield conn;
  }

  /**
   * Hands `conn`'s waiting records to `send` (valid during the call only: the transport frames
   * and copies them) and empties the batch; false when nothing waits.
   */
  flush(conn: ConnectionId, send: (records: Buffer) => void): boolean {
    const builder = this.batches.get(conn);
    if (builder === undefined || builder.count === 0) return false;
    send(builder.view());
    builder.clear();
    return true;
  }

  /** Forgets `conn` (it closed); returns how many waiting records were discarded. */
  discard(conn: ConnectionId): number {
    const n = this.pendingRecords(conn);
    this.batches.delete(conn);
    return n;
  }
}
