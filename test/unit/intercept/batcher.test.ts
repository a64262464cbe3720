import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ControlMessageType, encodeFrame } from '@tcpcopy/common';
import { BatchAppend, Batcher, DEFAULT_BATCHER_OPTIONS } from '@tcpcopy/intercept';
import { captured, expectedRecord, recordsOf } from './helpers.js';

const reply = captured({ tcpOptionWords: 3 });
const recordBytes = 2 + expectedRecord(reply).length;

function append(b: Batcher, conn: number): BatchAppend {
  return b.append(conn, reply.buf, reply.ip.offset, recordBytes - 2);
}

/** The responses frame the transport would make of `conn`'s batch; null when nothing waits. */
function flushFrame(b: Batcher, conn: number): Buffer | null {
  let frame: Buffer | null = null;
  b.flush(conn, (records) => (frame = encodeFrame({ type: ControlMessageType.Responses, records })));
  return frame;
}

describe('Batcher', () => {
  test('defaults: a batch fills at 128 records or 16 KiB', () => {
    assert.equal(DEFAULT_BATCHER_OPTIONS.maxRecords, 128);
    assert.equal(new Batcher(() => 0).options.maxBytes, 16 * 1024);
  });

  test('full by record count', () => {
    const b = new Batcher(() => 0, { maxRecords: 3 });
    assert.equal(append(b, 1), BatchAppend.Queued);
    assert.equal(append(b, 1), BatchAppend.Queued);
    assert.equal(append(b, 1), BatchAppend.Full);
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
    assert.equal(append(b, 1), BatchAppend.Queued);
    assert.equal(append(b, 1), BatchAppend.Full);
  });

  test('waiting lists the connections with records until each is flushed', () => {
    const b = new Batcher(() => 0);
    append(b, 1);
    append(b, 1);
    append(b, 2);
    assert.deepEqual([...b.waiting()], [1, 2]);
    assert.equal(recordsOf(flushFrame(b, 1)!).length, 2);
    assert.deepEqual([...b.waiting()], [2]);
    assert.equal(recordsOf(flushFrame(b, 2)!).length, 1);
    assert.deepEqual([...b.waiting()], []);
    append(b, 1);
    assert.deepEqual([...b.waiting()], [1]);
  });

  test('a connection above its high-water mark gets records dropped, others do not', () => {
    const pending = new Map([[1, 5000]]);
    const b = new Batcher((conn) => pending.get(conn) ?? 0, { highWaterBytes: 4096 });
    assert.equal(append(b, 1), BatchAppend.Dropped);
    assert.equal(append(b, 2), BatchAppend.Queued);
    assert.equal(b.pendingRecords(1), 0);
    pending.set(1, 4096);
    assert.equal(append(b, 1), BatchAppend.Queued);
  });

  test('discard forgets a closed connection and reports what it lost', () => {
    const b = new Batcher(() => 0);
    append(b, 1);
    append(b, 1);
    assert.equal(b.discard(1), 2);
    assert.equal(b.discard(1), 0);
    assert.deepEqual([...b.waiting()], []);
  });

  test('options that could not fit one frame are refused', () => {
    assert.throws(() => new Batcher(() => 0, { maxBytes: 2 * 1024 * 1024 }), RangeError);
    assert.throws(() => new Batcher(() => 0, { maxRecords: 0 }), RangeError);
  });
});
