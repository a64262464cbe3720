/**
 * The pure layers stay pure: the copier's session engine and the intercept core take buffers and
 * time, so loading them must not load a logger, a metrics registry, a CLI parser, a YAML parser
 * or the control codec's msgpackr (with its native addon), nor any capture or socket binding.
 * The compiled import graph of each is walked from its entry point, through relative imports and
 * @tcpcopy sub-paths, the way Node resolves them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
const FORBIDDEN = ['pino', 'prom-client', 'commander', 'yaml', 'msgpackr', 'raw-socket', 'cap', '@tcpcopy/capture'];
const IMPORT =
  /(?:^|[;\s])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|(?:^|[;\s])import\s*\(?\s*['"]([^'"]+)['"]/g;

/** Every package a module and what it imports load, first seen from which file. */
function packagesLoadedBy(entry: string): Map<string, string> {
  const packages = new Map<string, string>();
  const seen = new Set<string>();
  const pending = [entry];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(IMPORT)) {
      const spec = (m[1] ?? m[2])!;
      if (spec.startsWith('node:')) continue;
      if (spec.startsWith('.')) pending.push(resolve(dirname(file), spec));
      else if (spec.startsWith('@tcpcopy/')) pending.push(createRequire(file).resolve(spec));
      else if (!packages.has(spec)) packages.set(spec, file);
    }
  }
  return packages;
}

for (const [layer, entry] of [
  ['the copier engine', 'packages/copier/dist/engine/index.js'],
  ['the intercept core', 'packages/intercept/dist/core/index.js'],
] as const) {
  test(`${layer} loads no I/O, logging, CLI or codec library`, () => {
    const loaded = packagesLoadedBy(resolve(ROOT, entry));
    const bad = [...loaded].filter(([name]) => FORBIDDEN.some((f) => name === f || name.startsWith(`${f}/`)));
    assert.deepEqual(
      bad.map(([name, from]) => `${name} (from ${from.slice(ROOT.length + 1)})`),
      [],
    );
  });
}

test('the walk sees what the daemons load (it can fail)', () => {
  const loaded = packagesLoadedBy(resolve(ROOT, 'packages/intercept/dist/main.js'));
  for (const name of ['pino', 'msgpackr', 'commander'])
    assert.ok(loaded.has(name), `${name} not found from intercept's main`);
});
