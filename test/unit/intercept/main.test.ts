// The real bin with flags that never reach capture: --check prints the configuration, and
// accepted-but-unimplemented features fail with exit 1 instead of being ignored.
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
  test('--check prints the validated configuration and exits 0 without starting', () => {
    const r = run(['-F', 'tcp and src port 8000', '-i', 'eth9', '-b', '127.0.0.1', '-p', '4000', '--check']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    const config = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.deepEqual(
      { filter: config['filter'], devices: config['devices'], bindAddress: config['bindAddress'], port: config['port'] },
      { filter: 'tcp and src port 8000', devices: ['eth9'], bindAddress: '127.0.0.1', port: 4000 },
    );
  });

  test('--config is refused (exit 1, TCPCOPY_ERR_NOT_IMPLEMENTED) rather than ignored', () => {
    for (const args of [['--config', '/nonexistent.conf']]) {
      const r = run(['-F', 'tcp', '-i', 'eth9', ...args]);
      assert.equal(r.status, 1, args.join(' '));
      assert.match(r.stderr, /TCPCOPY_ERR_NOT_IMPLEMENTED/);
    }
  });
});
