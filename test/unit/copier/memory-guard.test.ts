/** -m on the resident set (daemon/memory-guard.ts), with the readings and the collector faked. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '@tcpcopy/common';
import { MEMORY_COLLECT_INTERVAL_MS, MemoryGuard, v8FullCollection } from '@tcpcopy/copier/daemon';

const MIB = 1 << 20;

function guardOf(limitMiB: number, spillCapacityMiB = 0) {
  const reading = { rss: 0, spillHeld: 0 };
  const pressures: boolean[] = [];
  const logs: string[] = [];
  let collections = 0;
  const guard = new MemoryGuard(
    limitMiB * MIB,
    { rss: () => reading.rss * MIB, spillHeld: () => reading.spillHeld * MIB, spillCapacity: spillCapacityMiB * MIB },
    () => collections++,
    (pressure) => pressures.push(pressure),
    createLogger({ name: 'tcpcopy', level: 'info', stderr: { write: (s: string) => logs.push(s) } }),
  );
  return { guard, reading, pressures, logs, collections: () => collections };
}

test('under 7/8 of -m nothing happens; from 7/8 garbage is collected, at most once a second; from 15/16 sessions are shed', () => {
  const g = guardOf(160);
  g.reading.rss = 139; // 7/8 of 160 is 140
  g.guard.check(0);
  assert.equal(g.collections(), 0);
  g.reading.rss = 141;
  g.guard.check(100);
  g.guard.check(200);
  assert.equal(g.collections(), 1, 'once per interval');
  assert.deepEqual(g.pressures, [], 'collected, not shed');
  g.reading.rss = 151; // 15/16 of 160 is 150
  g.guard.check(300);
  g.guard.check(400);
  assert.deepEqual(g.pressures, [true]);
  assert.equal(g.guard.pressure, true);
  assert.equal(g.guard.counters.pressureEpisodes, 1);
  g.guard.check(100 + MEMORY_COLLECT_INTERVAL_MS);
  assert.equal(g.collections(), 2);
  assert.equal(g.logs.filter((l) => l.includes('near -m')).length, 1, 'one warning while it goes on');
  const warning = JSON.parse(g.logs.find((l) => l.includes('near -m'))!) as Record<string, unknown>;
  assert.equal(warning['maxMemoryMB'], 160);
  assert.equal(warning['residentMB'], 151);

  g.reading.rss = 149;
  g.guard.check(2000);
  assert.deepEqual(g.pressures, [true, false], 'admitted again as soon as it is back under');
  g.reading.rss = 155;
  g.guard.check(2100);
  assert.equal(g.guard.counters.pressureEpisodes, 2);
});

test('the spill area counts as full: it may fill before the next look', () => {
  const g = guardOf(192, 64);
  g.reading.rss = 110;
  g.guard.check(0);
  assert.equal(g.guard.projectedBytes(), 174 * MIB);
  assert.deepEqual(g.pressures, []);
  g.reading.rss = 110 + 40; // 40 MiB of it filled: the same worst case
  g.reading.spillHeld = 40;
  g.guard.check(100);
  assert.equal(g.guard.projectedBytes(), 174 * MIB);
  g.reading.rss = 117;
  g.reading.spillHeld = 0;
  g.guard.check(200);
  assert.deepEqual(g.pressures, [true], '117 + 64 passes 15/16 of 192 (180)');
});

test("V8's full collection can be asked for without --expose-gc, and frees garbage", () => {
  const collect = v8FullCollection();
  assert.ok(collect !== undefined);
  let garbage: object[] | undefined = Array.from({ length: 200_000 }, (_, i) => ({ i }));
  const held = process.memoryUsage().heapUsed;
  garbage = undefined;
  collect();
  assert.equal(garbage, undefined);
  assert.ok(process.memoryUsage().heapUsed < held - 4 * MIB, 'the objects were collected');
});
