/** docs/metrics.md documents every metric both daemons export, and no metric they do not. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parsePrometheusText } from './prom-text.js';
import { daemonRegistries } from './registries.js';

// test/dist/unit/metrics/docs.test.js -> repository root.
const DOCS = readFileSync(fileURLToPath(new URL('../../../../docs/metrics.md', import.meta.url)), 'utf8');
const OURS = /^(tcpcopy|intercept)_/;

test('docs/metrics.md and the exported metrics name the same series', async (t) => {
  const { copier, intercept } = await daemonRegistries(t);
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
