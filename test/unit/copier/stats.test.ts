/**
 * The copier's stats line reports every engine counter: a counter the engine keeps but the line
 * leaves out is invisible to operators (truncated captures were, until the bad-input e2e test).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger, type PacketSink, type PacketSource } from '@tcpcopy/common';
import { Engine, FakeAddressPlan } from '@tcpcopy/copier';
import { MemoryGuard, Pipeline, processMemoryReadings, statsSnapshot } from '@tcpcopy/copier/daemon';
import { engineConfig } from '../engine/harness.js';

/** Every number in a nested stats object, by dotted path. */
function leaves(value: unknown, path = '', out = new Map<string, number>()): Map<string, number> {
  if (typeof value === 'number') out.set(path, value);
  else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) leaves(v, path === '' ? k : `${path}.${k}`, out);
  }
  return out;
}

const source: PacketSource = { start: () => {}, stop: () => {}, stats: () => ({ received: 0, truncated: 0 }) };
const sink: PacketSink = {
  send: () => true,
  stats: () => ({ sent: 0, errors: {}, retried: 0, queueFull: 0, queued: 0 }),
  close: async () => {},
};

function quietEngine(): Engine {
  return new Engine(
    engineConfig(),
    { inject: () => {}, routeAdd: () => {}, routeDel: () => {} },
    new FakeAddressPlan([], 0),
  );
}

test('the stats line carries every engine counter', () => {
  const engine = quietEngine();
  // A distinct value per counter, far from anything else in the snapshot.
  const counters = engine.counters as unknown as Record<string, unknown>;
  const expected = new Map<string, number>();
  let next = 1_000_001;
  for (const name of leaves(counters).keys()) {
    const [head, tail] = name.split('.');
    if (tail === undefined) counters[head!] = next;
    else (counters[head!] as Record<string, number>)[tail] = next;
    expected.set(name, next);
    next += 7;
  }
  const reported = new Set(
    leaves(statsSnapshot({ engine, pipeline: new Pipeline(engine, []), source, sink }, 0)).values(),
  );
  const missing = [...expected].filter(([, v]) => !reported.has(v)).map(([name]) => name);
  assert.deepEqual(missing, [], 'engine counters missing from the stats line');
});

test("the stats line shows the process's memory as the kernel and V8 count it, and the -m guard's state", () => {
  const engine = quietEngine();
  const log = createLogger({ name: 'tcpcopy', level: 'fatal' });
  const memoryGuard = new MemoryGuard(1 << 20, processMemoryReadings(source, 0), undefined, () => {}, log);
  memoryGuard.check(0);
  const line = statsSnapshot({ engine, pipeline: new Pipeline(engine, []), source, sink, memoryGuard }, 0);
  const memory = line['process'] as Record<string, unknown>;
  assert.ok((memory['rss'] as number) > 1 << 20);
  assert.ok((memory['heapUsed'] as number) > 0 && (memory['heapUsed'] as number) <= (memory['heapTotal'] as number));
  assert.equal(memory['memoryPressure'], true, 'any process is above a 1 MiB cap');
  assert.equal(memory['pressureEpisodes'], 1);
});
