import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ControlMessageType, encodeFrame } from '@tcpcopy/common';
import { BatchAppend, Batcher, DEFAULT_BATCHER_OPTIONS } from '@tcpcopy/intercept';
import { captured, expectedRecord, recordsOf } from './helpers.js';

const reply = captured({ tcpOptionWords: 3 });
const recordBytes = 2 + expectedRecord(reply).length;

function append(b: Batcher, conn: number, nowMs: number): BatchAppend {
  return b.append(conn, reply.buf, reply.ip.offset, recordBytes - 2, nowMs);
}

/** The responses frame the transport would make of `conn`'s batch; null when nothing waits. */
function flushFrame(b: Batcher, conn: number): Buffer | null {
  let frame: Buffer | null = null;
  b.flush(conn, (records) => (frame = encodeFrame({ type: ControlMessageType.Responses, records })));
  return frame;
}

describe('Batcher', () => {
  test('defaults flush within 2 ms', () => {
    assert.equal(DEFAULT_BATCHER_OPTIONS.maxDelayMs, 2);
    assert.equal(new Batcher(() => 0).options.maxDelayMs, 2);
  });

  test('full by record count', () => {
    const b = new Batcher(() => 0, { maxRecords: 3 });
    assert.equal(append(b, 1, 0), BatchAppend.Queued);
    assert.equal(append(b, 1, 0), BatchAppend.Queued);
    assert.equal(append(b, 1, 0), BatchAppend.Full);
    const frame = flushFrame(b, 1);
    assert.ok(frame !== null);
    assert.deepEqual(
      recordsOf(frame),
      [1, 2, 3].map(() => expectedRecord(reply)),
    );
    assert.equal(b.pendingRecords(1), 0);
    assert.equal(flushFrame(b, 1), null);
  });

  test('full by bytes', () => {
    const b = new Batcher(() => 0, { maxBytes: recordBytes * 2 });
    assert.equal(append(b, 1, 0), BatchAppend.Queued);
    assert.equal(append(b, 1, 0), BatchAppend.Full);
  });

  test('due when the oldest record is 2 ms old, per connection', () => {
    const b = new Batcher(() => 0);
    append(b, 1, 10);
    append(b, 1, 11);
    append(b, 2, 11);
    assert.deepEqual(b.flushDue(11), []);
    assert.deepEqual(b.flushDue(12), [1]);
    assert.deepEqual(b.flushDue(13), [1, 2]);
    assert.equal(recordsOf(flushFrame(b, 1)!).length, 2);
    assert.equal(recordsOf(flushFrame(b, 2)!).length, 1);
    assert.deepEqual(b.flushDue(100), []);
    // The next batch's clock starts at its own first record.
    append(b, 1, 100);
    assert.deepEqual(b.flushDue(101), []);
    assert.deepEqual(b.flushDue(102), [1]);
  });

  test('a connection above its high-water mark gets records dropped, others do not', () => {
    const pending = new Map([[1, 5000]]);
    const b = new Batcher((conn) => pending.get(conn) ?? 0, { highWaterBytes: 4096 });
    assert.equal(append(b, 1, 0), BatchAppend.Dropped);
    assert.equal(append(b, 2, 0), BatchAppend.Queued);
    assert.equal(b.pendingRecords(1), 0);
    pending.set(1, 4096);
    assert.equal(append(b, 1, 0), BatchAppend.Queued);
  });

  test('discard forgets a closed connection and reports what it lost', () => {
    const b = new Batcher(() => 0);
    append(b, 1, 0);
    append(b, 1, 0);
    assert.equal(b.discard(1), 2);
    assert.equal(b.discard(1), 0);
    assert.deepEqual(b.flushDue(100), []);
  });

  test('options that could not fit one frame are refused', () => {
    assert.throws(() => new Batcher(() => 0, { maxBytes: 2 * 1024 * 1024 }), RangeError);
    assert.throws(() => new Batcher(() => 0, { maxRecords: 0 }), RangeError);
  });
});
