/**
 * scripts/install says where it put the units, and gives the `systemctl enable` hint only when
 * they went where systemd reads units (any name of those directories: /lib is /usr/lib on merged
 * /usr); elsewhere (a staging directory, the tests' temporary ones) it says systemd will not see them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INSTALL_SCRIPT } from './systemd.js';

/** Runs one of scripts/install's functions; its status and what it said on stderr. */
function call(name: string, ...args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync('bash', ['-c', 'source "$1" && shift && "$@"', 'install-test', INSTALL_SCRIPT, name, ...args], {
    encoding: 'utf8',
  });
  return { status: r.status, stderr: r.stderr };
}

test('systemd_reads: the system unit directories, under any of their names, and nothing else', (t) => {
  for (const dir of ['/etc/systemd/system', '/etc/systemd/system/', '/usr/lib/systemd/system', '/lib/systemd/system'])
    assert.equal(call('systemd_reads', dir).status, 0, dir);
  for (const dir of ['/opt/tcpcopy/units', '/etc/systemd', '/etc/systemd/system/multi-user.target.wants', '/tmp'])
    assert.equal(call('systemd_reads', dir).status, 1, dir);
  const dir = mkdtempSync(join(tmpdir(), 'unit-dirs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  symlinkSync('/etc/systemd/system', join(dir, 'units'));
  assert.equal(call('systemd_reads', join(dir, 'units')).status, 0, 'a link to /etc/systemd/system');
});

test('the last words of an install: where the units are, and systemctl only where systemd reads them', () => {
  const read = call('say_next', '/etc/systemd/system', '/etc/default');
  assert.equal(read.status, 0);
  assert.equal(
    read.stderr,
    '[install] units in /etc/systemd/system: tcpcopy.service, intercept.service\n' +
      '[install] installed. Next: edit /etc/default/tcpcopy or /etc/default/intercept, then systemctl enable --now tcpcopy (or intercept)\n',
  );
  const staged = call('say_next', '/tmp/stage/units', '/tmp/stage/default');
  assert.equal(staged.status, 0);
  assert.match(staged.stderr, /^\[install\] units in \/tmp\/stage\/units: tcpcopy\.service, intercept\.service\n/);
  assert.match(
    staged.stderr,
    /systemd does not read units from \/tmp\/stage\/units: copy them into \/etc\/systemd\/system/,
  );
  assert.doesNotMatch(staged.stderr, /systemctl/);
});
