// The real bin with flags that never reach capture: --config problems are one line and exit 2.
// (--check probes the host, so it runs in the lab: test/e2e/check.test.ts.)
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const INTERCEPT = fileURLToPath(new URL('../../../../packages/intercept/bin/intercept', import.meta.url)); // test/dist/unit/intercept

function run(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(INTERCEPT, args, { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.error, undefined);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('intercept main', () => {
  test('--config with a missing file: one line naming it, exit 2', () => {
    const r = run(['-F', 'tcp', '-i', 'eth9', '--config', '/nonexistent.conf']);
    assert.deepEqual(r, {
      status: 2,
      stdout: '',
      stderr: 'intercept: --config /nonexistent.conf: cannot read it: ENOENT: no such file or directory\n',
    });
  });
});
