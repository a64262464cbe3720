/** -m on the resident set (daemon/memory-guard.ts), with the readings and the collector faked. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '@tcpcopy/common';
import {
  MEMORY_COLLECT_AT,
  MEMORY_COLLECT_INTERVAL_MS,
  MEMORY_GUARD_IDLE_POLL_MS,
  MEMORY_GUARD_POLL_MS,
  MEMORY_SHED_AT,
  MemoryGuard,
  sessionRoom,
  v8FullCollection,
} from '@tcpcopy/copier/daemon';

const MIB = 1 << 20;

function guardOf(limitMiB: number, spillCapacityMiB = 0) {
  const reading = { rss: 0, spillHeld: 0, looks: 0 };
  const pressures: boolean[] = [];
  const logs: string[] = [];
  let collections = 0;
  const guard = new MemoryGuard(
    limitMiB * MIB,
    {
      rss: () => (reading.looks++, reading.rss * MIB),
      spillHeld: () => reading.spillHeld * MIB,
      spillCapacity: spillCapacityMiB * MIB,
    },
    () => collections++,
    (pressure) => pressures.push(pressure),
    createLogger({ name: 'tcpcopy', level: 'info', stderr: { write: (s: string) => logs.push(s) } }),
  );
  return { guard, reading, pressures, logs, collections: () => collections };
}

test('below MEMORY_COLLECT_AT of -m nothing happens; above it garbage is collected, at most once a second; above MEMORY_SHED_AT sessions are shed', () => {
  const g = guardOf(160);
  const collectAt = 160 * MEMORY_COLLECT_AT; // 110 MiB
  const shedAt = 160 * MEMORY_SHED_AT; // 130 MiB
  g.reading.rss = collectAt - 1;
  assert.equal(g.guard.check(0), (collectAt - 1) * MIB, 'the projected resident set');
  assert.equal(g.collections(), 0);
  g.reading.rss = collectAt + 1;
  g.guard.check(100);
  g.guard.check(200);
  assert.equal(g.collections(), 1, 'once per interval');
  assert.deepEqual(g.pressures, [], 'collected, not shed');
  g.reading.rss = shedAt + 1;
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
  assert.equal(warning['residentMB'], shedAt + 1);

  g.reading.rss = shedAt - 1;
  g.guard.check(2000);
  assert.deepEqual(g.pressures, [true, false], 'admitted again as soon as it is back under');
  g.reading.rss = shedAt + 5;
  g.guard.check(2100);
  assert.equal(g.guard.counters.pressureEpisodes, 2);
});

test('the spill area counts as full: it may fill before the next look', () => {
  const g = guardOf(256, 64); // sheds above 208 MiB
  g.reading.rss = 110;
  g.guard.check(0);
  assert.equal(g.guard.projectedBytes(), 174 * MIB);
  g.reading.rss = 110 + 40; // 40 MiB of it filled: the same worst case
  g.reading.spillHeld = 40;
  g.guard.check(100);
  assert.equal(g.guard.projectedBytes(), 174 * MIB);
  assert.deepEqual(g.pressures, []);
  g.reading.rss = 145;
  g.reading.spillHeld = 0;
  g.guard.check(200);
  assert.deepEqual(g.pressures, [true], '145 MiB resident and 64 that may come pass 208');
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

test('it looks once a second below half of -m, every 50 ms above, and not after stop()', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const g = guardOf(160);
  g.reading.rss = 70;
  g.guard.start(() => 0);
  assert.equal(g.reading.looks, 1, 'a look at once');
  t.mock.timers.tick(MEMORY_GUARD_IDLE_POLL_MS);
  assert.equal(g.reading.looks, 2);
  g.reading.rss = 90;
  t.mock.timers.tick(MEMORY_GUARD_IDLE_POLL_MS);
  assert.equal(g.reading.looks, 3);
  for (let i = 0; i < 4; i++) t.mock.timers.tick(MEMORY_GUARD_POLL_MS);
  assert.equal(g.reading.looks, 7);
  g.guard.stop();
  t.mock.timers.tick(MEMORY_GUARD_IDLE_POLL_MS * 2);
  assert.equal(g.reading.looks, 7);
});

test('what -m leaves sessions, and the warning at start when it is nothing or little', () => {
  const room = (limitMiB: number, fixedMiB: number) => sessionRoom(limitMiB * MIB, fixedMiB * MIB);
  assert.deepEqual(room(2048, 160), { budgetBytes: 1888 * MIB, fields: { maxMemoryMB: 2048, fixedMB: 160 } });
  assert.equal(room(170, 110).warning, undefined, '110 is below 13/16 of 170');
  assert.equal(room(170, 110).budgetBytes, 60 * MIB);
  assert.match(room(128, 110).warning ?? '', /leaves little room for sessions: most new sessions will be shed/);
  assert.equal(room(128, 110).budgetBytes, 18 * MIB);
  assert.match(room(100, 110).warning ?? '', /leaves no room for sessions: every new session is shed/);
  assert.equal(room(100, 110).budgetBytes, 0);
});
