/**
 * Arguments of the e2e lab programs (tcp-script, frame-sender): one JSON object, given inline in
 * argv[2] or, when it is too large for an argument (E2BIG above 128 KiB), as `@<path>` of a file.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function programArgs<T>(): T {
  const arg = process.argv[2] ?? '{}';
  return JSON.parse(arg.startsWith('@') ? readFileSync(arg.slice(1), 'utf8') : arg) as T;
}

let written = 0;

/** Writes `args` to a file in `dir` and returns the `@<path>` argument naming it. */
export function argsFile(dir: string, name: string, args: object): string {
  const path = join(dir, `${name}-${++written}.json`);
  writeFileSync(path, JSON.stringify(args));
  return `@${path}`;
}
