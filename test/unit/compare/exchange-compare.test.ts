/**
 * Bytes-mode comparison: each kind of difference, identical answers reporting nothing, offsets and
 * excerpts, lost bytes, and pairing by client offset (merged turns are unpaired, later ones pair).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ExchangeRecorder,
  compareExchange,
  compareSession,
  EXCERPT_BEFORE,
  EXCERPT_AFTER,
} from '@tcpcopy/copier/compare';
import type { Exchange, ExchangeEnding } from '../../../packages/copier/src/compare/index.js';

const COMPARE_BYTES = 64;

/** The exchanges a recorder makes of turns given as [request, answer] pairs. */
function record(turns: readonly (readonly [string, string | Buffer])[], ending: ExchangeEnding = 'end'): Exchange[] {
  const r = new ExchangeRecorder({ compareBytes: COMPARE_BYTES, requestBytes: 64 });
  const done: Exchange[] = [];
  turns.forEach(([request, answer], at) => {
    const closed = r.clientBytes(Buffer.from(request), at);
    if (closed) done.push(closed);
    r.serverBytes(Buffer.isBuffer(answer) ? answer : Buffer.from(answer), at);
  });
  const last = r.end(ending === 'reset');
  if (last) done.push(last);
  return done;
}

function one(answer: string | Buffer, ending: ExchangeEnding = 'end'): Exchange {
  return record([['GET / HTTP/1.1\r\n\r\n', answer]], ending)[0]!;
}

describe('compareExchange', () => {
  test('identical answers: no difference', () => {
    const c = compareExchange(one('same answer'), one('same answer'));
    assert.equal(c.outcome, 'identical');
    assert.equal(c.difference, undefined);
  });

  test('bytes: the first differing offset, and excerpts around it from both sides', () => {
    const production = 'HTTP/1.1 200 OK\r\nX-Build: 41\r\nContent-Length: 2\r\n\r\nok';
    const test = production.replace('41', '42');
    const c = compareExchange(one(production), one(test));
    const offset = production.indexOf('41') + 1;
    assert.equal(c.outcome, 'different');
    assert.equal(c.difference!.kind, 'bytes');
    assert.equal(c.difference!.offset, offset);
    const excerpt = c.difference!.excerpt!;
    assert.equal(excerpt.start, offset - EXCERPT_BEFORE);
    assert.equal(excerpt.production.toString(), production.slice(offset - EXCERPT_BEFORE, offset + EXCERPT_AFTER));
    assert.equal(excerpt.test.toString(), test.slice(offset - EXCERPT_BEFORE, offset + EXCERPT_AFTER));
  });

  test('bytes at offset 0: the excerpt starts at 0', () => {
    const c = compareExchange(one('abc'), one('xbc'));
    assert.equal(c.difference!.offset, 0);
    assert.equal(c.difference!.excerpt!.start, 0);
    assert.equal(c.difference!.excerpt!.production.toString(), 'abc');
  });

  test('length: equal prefixes, the offset is where the shorter answer ends', () => {
    const c = compareExchange(one('answer'), one('answer and more'));
    assert.equal(c.difference!.kind, 'length');
    assert.equal(c.difference!.offset, 6);
    assert.equal(c.difference!.excerpt!.test.toString(), 'answer and more');
  });

  test('length beyond the compared prefix has no offset', () => {
    const long = Buffer.alloc(1000, 'a');
    const c = compareExchange(one(long), one(long.subarray(0, 900)));
    assert.equal(c.difference!.kind, 'length');
    assert.equal(c.difference!.offset, undefined);
    assert.equal(c.difference!.excerpt, undefined);
  });

  test('hash: same length, same prefix, different bytes beyond it', () => {
    const production = Buffer.alloc(1000, 'a');
    const test = Buffer.from(production);
    test[COMPARE_BYTES + 100] = 0x62;
    const c = compareExchange(one(production), one(test));
    assert.equal(c.difference!.kind, 'hash');
    assert.equal(c.difference!.offset, undefined);
  });

  test('a difference just inside the prefix is bytes, just outside is hash', () => {
    const production = Buffer.alloc(200, 'a');
    const inside = Buffer.from(production);
    inside[COMPARE_BYTES - 1] = 0x62;
    const outside = Buffer.from(production);
    outside[COMPARE_BYTES] = 0x62;
    assert.equal(compareExchange(one(production), one(inside)).difference!.offset, COMPARE_BYTES - 1);
    assert.equal(compareExchange(one(production), one(outside)).difference!.kind, 'hash');
  });

  test('timeout: the test server never answered, or its session ended without the turn', () => {
    const unanswered = record([['GET / HTTP/1.1\r\n\r\n', '']])[0]!;
    assert.equal(compareExchange(one('answer'), unanswered).difference!.kind, 'timeout');
    const missing = compareExchange(one('answer'), undefined);
    assert.equal(missing.difference!.kind, 'timeout');
    assert.equal(missing.test, undefined);
  });

  test('reset: the test server reset the connection where production did not', () => {
    assert.equal(compareExchange(one('answer'), one('', 'reset')).difference!.kind, 'reset');
    assert.equal(compareExchange(one('answer'), one('ans', 'reset')).difference!.kind, 'reset');
    assert.equal(compareExchange(one('answer'), one('answer', 'reset')).difference!.kind, 'reset');
    assert.equal(compareExchange(one('answer', 'reset'), one('answer', 'reset')).outcome, 'identical');
  });

  test('production not answering while the test server does is a length difference', () => {
    const c = compareExchange(one(''), one('surprise'));
    assert.equal(c.difference!.kind, 'length');
    assert.equal(c.difference!.offset, 0);
  });

  test('lost bytes on either side: not compared', () => {
    const r = new ExchangeRecorder({ compareBytes: COMPARE_BYTES, requestBytes: 64 });
    r.clientBytes(Buffer.from('GET / HTTP/1.1\r\n\r\n'), 0);
    r.serverBytes(Buffer.from('ans'), 1);
    r.serverGap(3, 1);
    const lossy = r.end(false)!;
    assert.equal(compareExchange(lossy, one('answer')).outcome, 'lost');
    assert.equal(compareExchange(one('answer'), lossy).outcome, 'lost');
  });
});

describe('compareSession', () => {
  const turns = [
    ['q1', 'a1'],
    ['q2', 'a2'],
    ['q3', 'a3'],
  ] as const;

  test('pairs turns in order and reports only the differing one', () => {
    const test = record([turns[0], ['q2', 'XX'], turns[2]]);
    const results = compareSession(record(turns), test, true);
    assert.deepEqual(
      results.map((c) => [c.index, c.outcome, c.difference?.kind]),
      [
        [0, 'identical', undefined],
        [1, 'different', 'bytes'],
        [2, 'identical', undefined],
      ],
    );
  });

  test('turns the test side has not reached wait while its session lasts, time out once it ended', () => {
    const production = record(turns);
    const test = record([turns[0]]);
    assert.deepEqual(
      compareSession(production, test, false).map((c) => c.index),
      [0],
    );
    assert.deepEqual(
      compareSession(production, test, true).map((c) => [c.index, c.difference?.kind]),
      [
        [0, undefined],
        [1, 'timeout'],
        [2, 'timeout'],
      ],
    );
  });

  test('turns merged on the test side are unpaired, and the turns after them pair again', () => {
    // The test server was slow: the copier sent q1 and q2 before it answered.
    const test = record([
      ['q1q2', 'a1a2'],
      ['q3', 'a3'],
    ]);
    assert.deepEqual(
      compareSession(record(turns), test, true).map((c) => [c.index, c.outcome]),
      [
        [0, 'unpaired'],
        [1, 'unpaired'],
        [2, 'identical'],
      ],
    );
  });
});
