/**
 * StreamReassembly: one direction of a captured connection as the byte stream its receiver read.
 * Example cases (duplicates, overlaps, reordering, wrap-around, the hold limit, FIN, flush) and a
 * property: any order and duplication of a segment set delivers the original bytes exactly once.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { StreamReassembly } from '@tcpcopy/copier/compare';

/** A sink that records what was delivered, gaps as runs of '?' so both read as one string. */
class Collected {
  chunks: Buffer[] = [];
  events: string[] = [];
  finCount = 0;
  data(bytes: Buffer): void {
    // The sink contract says the buffer is only valid during the call.
    this.chunks.push(Buffer.from(bytes));
    this.events.push(`data:${bytes.toString('latin1')}`);
  }
  gap(length: number): void {
    this.chunks.push(Buffer.alloc(length, '?'));
    this.events.push(`gap:${length}`);
  }
  fin(): void {
    this.finCount++;
    this.events.push('fin');
  }
  get text(): string {
    return Buffer.concat(this.chunks).toString('latin1');
  }
}

function setup(limit = 1 << 20, start = 1000): { r: InstanceType<typeof StreamReassembly>; out: Collected } {
  const out = new Collected();
  const r = new StreamReassembly(out, limit);
  r.start(start);
  return { r, out };
}

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

describe('StreamReassembly', () => {
  test('in-order segments are delivered as they come, duplicates once', () => {
    const { r, out } = setup();
    r.segment(1000, b('hello '), false);
    r.segment(1006, b('world'), false);
    r.segment(1000, b('hello '), false);
    r.segment(1006, b('world'), false);
    assert.deepEqual(out.events, ['data:hello ', 'data:world']);
    assert.equal(r.duplicateBytes, 11);
    assert.equal(r.nextSeq, 1011);
  });

  test('an overlapping retransmission delivers only its new bytes', () => {
    const { r, out } = setup();
    r.segment(1000, b('abcd'), false);
    r.segment(1002, b('cdefg'), false);
    assert.deepEqual(out.events, ['data:abcd', 'data:efg']);
    assert.equal(r.duplicateBytes, 2);
  });

  test('reordered segments are held, then delivered in order when the hole fills', () => {
    const { r, out } = setup();
    r.segment(1006, b('world'), false);
    r.segment(1003, b('lo '), false);
    assert.deepEqual(out.events, []);
    assert.equal(r.heldBytes, 8);
    r.segment(1000, b('hel'), false);
    assert.equal(out.text, 'hello world');
    assert.equal(r.heldBytes, 0);
  });

  test('a held segment overlapped by a later one is kept once', () => {
    const { r, out } = setup();
    r.segment(1004, b('efgh'), false);
    r.segment(1002, b('cdefghij'), false);
    assert.equal(r.heldBytes, 8, '1002..1010 once, not 12 bytes');
    assert.equal(r.duplicateBytes, 4);
    r.segment(1000, b('abcdef'), false);
    assert.equal(out.text, 'abcdefghij');
  });

  test('a segment bridging two held ones fills only the space between them', () => {
    const { r, out } = setup();
    r.segment(1002, b('cd'), false);
    r.segment(1006, b('gh'), false);
    r.segment(1001, b('bcdefghi'), false);
    assert.equal(r.heldBytes, 8);
    r.segment(1000, b('a'), false);
    assert.equal(out.text, 'abcdefghi');
  });

  test('sequence numbers wrap around 2^32', () => {
    const start = 0xfffffffa;
    const { r, out } = setup(1 << 20, start);
    r.segment(2, b('ghij'), false); // after the wrap: held
    r.segment(start, b('abcdef'), false); // 0xfffffffa..0x00000000
    r.segment(0, b('XY'), false); // 0..2 wraps to "XY"
    assert.equal(out.text, 'abcdefXYghij');
    assert.equal(r.nextSeq, 6);
  });

  test('past the hold limit the hole is declared lost and delivery goes on', () => {
    const { r, out } = setup(8);
    r.segment(1004, b('efgh'), false);
    r.segment(1008, b('ijkl'), false);
    assert.deepEqual(out.events, [], 'exactly at the limit: still waiting');
    r.segment(1012, b('m'), false);
    assert.deepEqual(out.events, ['gap:4', 'data:efgh', 'data:ijkl', 'data:m']);
    assert.equal(r.gapBytes, 4);
    r.segment(1000, b('abcd'), false);
    assert.equal(out.text, '????efghijklm', 'bytes declared lost are never delivered late');
  });

  test('the limit declares only the first hole lost when that is enough', () => {
    const { r, out } = setup(6);
    r.segment(1002, b('cd'), false);
    r.segment(1010, b('klmno'), false);
    assert.deepEqual(out.events, ['gap:2', 'data:cd']);
    assert.equal(r.heldBytes, 5);
    r.segment(1004, b('efghij'), false);
    assert.equal(out.text, '??cdefghijklmno');
  });

  test('FIN is reported once every byte before it arrived, and nothing past it is delivered', () => {
    const { r, out } = setup();
    r.segment(1003, b('def'), true);
    assert.equal(r.fin, 1006);
    assert.equal(out.finCount, 0);
    r.segment(1000, b('abcdefXYZ'), false); // runs past the FIN
    assert.deepEqual(out.events, ['data:abcdef', 'fin']);
    assert.equal(r.heldBytes, 0, 'the held copy of def was a duplicate');
    r.segment(1003, b('def'), true);
    assert.equal(out.finCount, 1, 'a retransmitted FIN is not reported again');
  });

  test('a FIN without data, in order', () => {
    const { r, out } = setup();
    r.segment(1000, b('ab'), false);
    r.segment(1002, Buffer.alloc(0), true);
    assert.deepEqual(out.events, ['data:ab', 'fin']);
  });

  test('flush declares the holes lost, delivers what was held, and reaches the FIN', () => {
    const { r, out } = setup();
    r.segment(1002, b('cd'), false);
    r.segment(1006, b('gh'), true);
    r.flush();
    assert.deepEqual(out.events, ['gap:2', 'data:cd', 'gap:2', 'data:gh', 'fin']);
    assert.equal(r.heldBytes, 0);
  });

  test('flush with a FIN beyond everything seen declares the rest lost', () => {
    const { r, out } = setup();
    r.segment(1000, b('ab'), false);
    r.segment(1010, Buffer.alloc(0), true);
    r.flush();
    assert.deepEqual(out.events, ['data:ab', 'gap:8', 'fin']);
  });

  test('without start(), the first segment seen starts the stream (a mid-stream join)', () => {
    const out = new Collected();
    const r = new StreamReassembly(out, 1024);
    r.segment(5000, b('xy'), false);
    r.segment(4990, b('0123456789'), false);
    assert.equal(out.text, 'xy');
  });

  test('a segment held beyond a hole is copied: the capture may reuse its buffer', () => {
    const { r, out } = setup();
    const reused = b('cd');
    r.segment(1002, reused, false);
    reused.fill(0);
    r.segment(1000, b('ab'), false);
    assert.equal(out.text, 'abcd');
  });
});

/** A byte string cut into segments that may overlap, as [offset, length] pairs covering all of it. */
const segmentSet = fc
  .record({
    size: fc.integer({ min: 1, max: 300 }),
    cuts: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 60 })), { maxLength: 30 }),
    start: fc.oneof(fc.constant(0xffffff00), fc.nat({ max: 0xffffffff })),
  })
  .map(({ size, cuts, start }) => {
    const segments: [number, number][] = [];
    // A tiling guarantees every byte is covered; the cuts add overlapping retransmissions.
    for (let at = 0; at < size; at += 37) segments.push([at, Math.min(37, size - at)]);
    for (const [at, length] of cuts) {
      const from = at % size;
      segments.push([from, Math.min(length, size - from)]);
    }
    return { size, segments, start };
  });

describe('StreamReassembly property', () => {
  test('any order and duplication of a segment set delivers the original bytes exactly once', () => {
    fc.assert(
      fc.property(
        segmentSet.chain((set) =>
          fc.record({
            set: fc.constant(set),
            order: fc.shuffledSubarray(
              set.segments.flatMap((s) => [s, s]),
              { minLength: set.segments.length * 2 },
            ),
          }),
        ),
        fc.boolean(),
        ({ set, order }, finLast) => {
          const original = Buffer.alloc(set.size);
          for (let i = 0; i < set.size; i++) original[i] = (i * 7 + 13) & 0xff;
          const out = new Collected();
          const r = new StreamReassembly(out, 1 << 20);
          r.start(set.start);
          for (const [at, length] of order) {
            const fin = finLast && at + length === set.size;
            r.segment((set.start + at) >>> 0, original.subarray(at, at + length), fin);
          }
          assert.deepEqual(Buffer.concat(out.chunks), original);
          assert.equal(r.gapBytes, 0);
          assert.equal(r.heldBytes, 0);
          assert.equal(out.finCount, finLast ? 1 : 0);
          const total = order.reduce((sum, [, length]) => sum + length, 0);
          assert.equal(r.duplicateBytes, total - set.size, 'every byte beyond the first copy counted once');
        },
      ),
      { numRuns: 300 },
    );
  });

  test('with a small hold limit, lost holes and delivered bytes still add up to the stream', () => {
    fc.assert(
      fc.property(segmentSet, fc.integer({ min: 1, max: 64 }), (set, limit) => {
        const out = new Collected();
        const r = new StreamReassembly(out, limit);
        r.start(set.start);
        const original = Buffer.alloc(set.size, 'x');
        // Reversed: everything arrives beyond a hole until the first segment comes last.
        for (const [at, length] of [...set.segments].reverse()) {
          r.segment((set.start + at) >>> 0, original.subarray(at, at + length), false);
          assert.ok(r.heldBytes <= limit, 'never more held than the limit');
        }
        r.flush();
        assert.equal(Buffer.concat(out.chunks).length, set.size);
        assert.equal(r.nextSeq, (set.start + set.size) >>> 0);
      }),
    );
  });
});
