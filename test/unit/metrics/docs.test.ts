/** docs/metrics.md documents every metric both daemons export, and no metric they do not. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createLogger, type PacketSink, type PacketSource } from '@tcpcopy/common';
import { MetricsRegistry } from '@tcpcopy/common/metrics';
import { InterceptLinks } from '@tcpcopy/copier/daemon';
import { registerCopierMetrics } from '@tcpcopy/copier/daemon';
import { Pipeline } from '@tcpcopy/copier/daemon';
import { registerInterceptMetrics } from '@tcpcopy/intercept';
import { Sim } from '../engine/harness.js';
import { startDaemon } from '../intercept/daemon-helpers.js';
import { parsePrometheusText } from './prom-text.js';

// test/dist/unit/metrics/docs.test.js -> repository root.
const DOCS = readFileSync(fileURLToPath(new URL('../../../../docs/metrics.md', import.meta.url)), 'utf8');
const OURS = /^(tcpcopy|intercept)_/;

test('docs/metrics.md and the exported metrics name the same series', async (t) => {
  const sim = new Sim();
  const source: PacketSource = { start: () => {}, stop: () => {}, stats: () => ({ received: 0, truncated: 0 }) };
  const sink: PacketSink = {
    send: () => true,
    stats: () => ({ sent: 0, errors: {}, retried: 0, queueFull: 0, queued: 0 }),
    close: async () => {},
  };
  const links = new InterceptLinks({
    intercepts: [],
    connectionsPerIntercept: 1,
    protocol: 'auto',
    instanceId: 'test:1',
    software: 'test',
    log: createLogger({ name: 'test', level: 'fatal', stderr: { write: () => true } }),
    onRecords: () => 0,
  });
  const copier = registerCopierMetrics(new MetricsRegistry(), {
    engine: sim.engine,
    pipeline: new Pipeline(sim.engine, []),
    links,
    source,
    sink,
    clock: { now: () => sim.now },
    copies: 1,
  });
  const h = await startDaemon(t);
  const intercept = registerInterceptMetrics(new MetricsRegistry(), h.daemon);
  const exported = new Set<string>();
  for (const registry of [copier, intercept]) {
    for (const name of parsePrometheusText(await registry.text()).families.keys()) exported.add(name);
  }
  assert.ok(exported.size > 80, `${exported.size} metrics`);
  const documented = new Set([...DOCS.matchAll(/`((?:tcpcopy|intercept)_[a-z0-9_]+)`/g)].map((m) => m[1]!));
  const undocumented = [...exported].filter((n) => OURS.test(n) && !documented.has(n));
  assert.deepEqual(undocumented, [], 'exported but not in docs/metrics.md');
  const mentioned = new Set([...DOCS.matchAll(/\b((?:tcpcopy|intercept)_[a-z0-9_]+[a-z0-9])\b/g)].map((m) => m[1]!));
  const stale = [...mentioned].filter((n) => !exported.has(n));
  assert.deepEqual(stale, [], 'in docs/metrics.md but not exported');
});
