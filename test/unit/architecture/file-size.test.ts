/**
 * No source file grows past MAX_LINES: a file that does holds more than one job (session.ts once
 * held five in 800 lines), and is split along them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
const MAX_LINES = 400;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

test(`every source file under packages/*/src has at most ${MAX_LINES} lines`, () => {
  const files = readdirSync(join(ROOT, 'packages')).flatMap((p) => {
    try {
      return sources(join(ROOT, 'packages', p, 'src'));
    } catch {
      return []; // a package without src/
    }
  });
  assert.ok(files.length > 50, `found only ${files.length} source files: the walk is broken`);
  const long = files
    .map((f) => [relative(ROOT, f), readFileSync(f, 'utf8').split('\n').length - 1] as const)
    .filter(([, lines]) => lines > MAX_LINES);
  assert.deepEqual(long, []);
});
