// Property: a copy whose streams are production's, cut and captured differently, is always identical.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { seededRandom } from '@tcpcopy/common/testing';
import { Harness, conversation, hubOptions, perturbed, type Turn } from './hub-harness.js';

const printable = fc.string({ minLength: 1, maxLength: 40 }).map((s) => s.replace(/[^ -~]/g, 'x'));

/** HTTP turns: a few requests, some pipelined in one turn, each answered with a Content-Length body. */
const httpTurns = fc
  .array(fc.array(printable, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 4 })
  .map((groups): Turn[] =>
    groups.map((bodies, g) => ({
      request: bodies.map((_, i) => `GET /${g}/${i} HTTP/1.1\r\nHost: h\r\n\r\n`).join(''),
      answer: bodies.map((b) => `HTTP/1.1 200 OK\r\nContent-Length: ${b.length}\r\n\r\n${b}`).join(''),
    })),
  );

/** Any protocol: turns of arbitrary bytes. */
const byteTurns = fc.array(
  fc.record({
    request: fc.uint8Array({ minLength: 1, maxLength: 60 }).map((a) => Buffer.from(a)),
    answer: fc.uint8Array({ minLength: 1, maxLength: 200 }).map((a) => Buffer.from(a)),
  }),
  { minLength: 1, maxLength: 5 },
);

describe('comparison hub property', () => {
  for (const [name, turns] of [
    ['HTTP', httpTurns],
    ['bytes', byteTurns],
  ] as const) {
    test(`${name}: the same streams split, reordered and duplicated differently give only identical`, () => {
      fc.assert(
        fc.property(turns, fc.integer(), fc.integer(), (t: Turn[], seedP: number, seedC: number) => {
          const h = new Harness(hubOptions({ mode: 'auto', compareBytes: 32 }));
          assert.equal(h.start(0), true);
          h.production(perturbed(conversation(t), seededRandom(seedP)));
          h.copy(0, perturbed(conversation(t), seededRandom(seedC)));
          h.end(0);
          assert.ok(h.reported.length > 0);
          assert.deepEqual(
            h.reported.filter(([, outcome]) => outcome !== 'identical'),
            [],
          );
          assert.equal(h.hub.size, 0);
          assert.equal(h.hub.memoryBytes, 0);
        }),
      );
    });
  }
});
