/**
 * ReceiveRanges: the test server's segments seen beyond a hole, absorbed when the hole fills.
 * Example cases, the bound, sequence wrap-around, and a model-based property (a set of seen
 * bytes) over random segment orders.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { seqAdd } from '@tcpcopy/copier';
import { MAX_RECEIVE_RANGES, ReceiveRanges } from '@tcpcopy/copier';

describe('ReceiveRanges', () => {
  test('a filled hole jumps the receive point past every range it reaches', () => {
    const r = new ReceiveRanges();
    r.add(200, 300, 100);
    r.add(300, 400, 100); // touching: merged
    r.add(500, 600, 100);
    assert.equal(r.size, 2);
    assert.equal(r.advance(150), 150, 'the hole 150..200 is still open');
    assert.equal(r.advance(200), 400, 'filled: up to the next hole');
    assert.equal(r.size, 1);
    assert.equal(r.advance(550), 600, 'a receive point inside a range takes the whole range');
    assert.equal(r.size, 0);
  });

  test('ranges at or before the receive point, and empty ones, are ignored', () => {
    const r = new ReceiveRanges();
    r.add(100, 200, 100);
    r.add(50, 90, 100);
    r.add(300, 300, 100);
    assert.equal(r.size, 0);
  });

  test('a range bridging others merges them all', () => {
    const r = new ReceiveRanges();
    r.add(200, 250, 100);
    r.add(300, 350, 100);
    r.add(400, 450, 100);
    r.add(240, 410, 100);
    assert.equal(r.size, 1);
    assert.equal(r.advance(200), 450);
  });

  test('at most MAX_RECEIVE_RANGES are kept; merging still works when full', () => {
    const r = new ReceiveRanges();
    for (let i = 0; i < MAX_RECEIVE_RANGES + 5; i++) r.add(1000 + i * 100, 1050 + i * 100, 0);
    assert.equal(r.size, MAX_RECEIVE_RANGES);
    r.add(1050, 1100, 0); // touches the first two: merges, never grows past the bound
    assert.equal(r.size, MAX_RECEIVE_RANGES - 1);
    assert.equal(r.advance(1000), 1150);
  });

  test('sequence numbers wrap around 2^32', () => {
    const r = new ReceiveRanges();
    const base = 0xffffff00;
    r.add(seqAdd(base, 0x80), seqAdd(base, 0x180), base);
    assert.equal(r.advance(seqAdd(base, 0x80)), seqAdd(base, 0x180));
  });

  test('property: the receive point is where the first unseen byte is (model: a set of bytes)', () => {
    const segment = fc.record({ start: fc.integer({ min: 0, max: 200 }), length: fc.integer({ min: 1, max: 40 }) });
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.array(segment, { maxLength: MAX_RECEIVE_RANGES / 2 }),
        fc.integer({ min: 0, max: 250 }),
        (base, segments, hole) => {
          const r = new ReceiveRanges();
          const seen = new Set<number>();
          const rcvNxt = 0; // relative to base: everything below was received in order
          for (const { start, length } of segments) {
            if (start <= rcvNxt) continue; // only segments beyond the receive point are ranges
            r.add(seqAdd(base, start), seqAdd(base, start + length), seqAdd(base, rcvNxt));
            for (let b = start; b < start + length; b++) seen.add(b);
          }
          // The hole up to `hole` is filled in order.
          let expected = hole;
          while (seen.has(expected)) expected++;
          assert.equal(r.advance(seqAdd(base, hole)), seqAdd(base, expected));
        },
      ),
    );
  });
});
