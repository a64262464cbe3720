import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TimerHeap, type TimerOwner } from '@tcpcopy/copier';

interface Owner extends TimerOwner {
  id: number;
}

const owner = (id: number): Owner => ({ id, timerDeadline: Infinity, timerIndex: -1 });

type Op = { kind: 'arm'; who: number; at: number } | { kind: 'disarm'; who: number } | { kind: 'pop'; now: number };

const arbOp: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('arm' as const), who: fc.nat(7), at: fc.integer({ min: 0, max: 1000 }) }),
  fc.record({ kind: fc.constant('disarm' as const), who: fc.nat(7) }),
  fc.record({ kind: fc.constant('pop' as const), now: fc.integer({ min: 0, max: 1000 }) }),
);

describe('engine: timer heap', () => {
  test('behaves like a map of owner -> single deadline (model-based)', () => {
    fc.assert(
      fc.property(fc.array(arbOp, { maxLength: 200 }), (ops) => {
        const heap = new TimerHeap<Owner>();
        const owners = Array.from({ length: 8 }, (_, i) => owner(i));
        const model = new Map<number, number>();
        for (const op of ops) {
          if (op.kind === 'arm') {
            heap.arm(owners[op.who]!, op.at);
            model.set(op.who, op.at);
          } else if (op.kind === 'disarm') {
            heap.disarm(owners[op.who]!);
            model.delete(op.who);
          } else {
            const due = [...model].filter(([, at]) => at <= op.now).sort((a, b) => a[1] - b[1]);
            const popped = heap.popExpired(op.now, []);
            assert.deepEqual(
              popped.map((o) => o.timerDeadline),
              popped.map(() => Infinity),
            );
            assert.deepEqual(new Set(popped.map((o) => o.id)), new Set(due.map(([id]) => id)));
            for (let i = 1; i < popped.length; i++) {
              assert.ok(model.get(popped[i - 1]!.id)! <= model.get(popped[i]!.id)!, 'earliest first');
            }
            for (const [id] of due) model.delete(id);
          }
          const earliest = Math.min(...model.values());
          assert.equal(heap.peekDeadline(), earliest);
          // Disarmed and popped owners leave the heap at once: it holds no reference to them.
          assert.equal(heap.size, model.size);
        }
      }),
    );
  });
});
