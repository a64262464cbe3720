/** The capture-loss watch (copier/src/daemon/capture-loss.ts): what it tells the engine and the operator. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger, type PacketSource, type SourceStats } from '@tcpcopy/common';
import { Engine } from '@tcpcopy/copier';
import { CAPTURE_LOSS_REPEAT_MS, CaptureLossWatch } from '@tcpcopy/copier/daemon';

test('a growing kernel drop count is reported to the engine at once, and to the operator once a minute', () => {
  const stats: SourceStats = { received: 0, truncated: 0, kernelDropped: 0 };
  const source: PacketSource = { start: () => undefined, stop: () => undefined, stats: () => stats };
  const reported: number[] = [];
  const engine = Object.assign(Object.create(Engine.prototype) as Engine, {
    noteCaptureLoss: (now: number) => reported.push(now),
  });
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({
    name: 'tcpcopy',
    level: 'info',
    stderr: { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) },
  });
  const watch = new CaptureLossWatch(source, engine, log, 16 << 20);

  watch.check(1000);
  assert.deepEqual([reported, lines], [[], []], 'no drops, nothing said');
  stats.kernelDropped = 40;
  watch.check(2000);
  stats.kernelDropped = 45;
  watch.check(3000);
  watch.check(4000); // unchanged: nothing new
  stats.kernelDropped = 50;
  watch.check(2000 + CAPTURE_LOSS_REPEAT_MS);

  assert.deepEqual(reported, [2000, 3000, 2000 + CAPTURE_LOSS_REPEAT_MS]);
  const warnings = lines.filter((l) => l['level'] === 40);
  assert.equal(warnings.length, 2, 'one warning, then one a minute later');
  assert.match(String(warnings[0]!['msg']), /capture ring overflowed.*capture_dropped.*raise -B/);
  assert.deepEqual([warnings[0]!['kernelDropped'], warnings[0]!['total'], warnings[0]!['bufferMb']], [40, 40, 16]);
  assert.deepEqual(
    [warnings[1]!['kernelDropped'], warnings[1]!['total']],
    [10, 50],
    'the second counts what the first did not',
  );
});
