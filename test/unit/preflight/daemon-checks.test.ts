// --check, the part both daemons share: -u, -l, -P, --metrics, --auth-file, from facts and probed.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checksExitCode, daemonChecks, gatherDaemonFacts, ExitCode, type DaemonConfig } from '@tcpcopy/common';
import { line } from './facts.js';

const BASE: DaemonConfig = {
  logFile: undefined,
  logLevel: 'info',
  daemonize: false,
  pidFile: undefined,
  user: undefined,
  metrics: undefined,
  configFile: undefined,
  check: true,
  authFile: undefined,
};

describe('--check: what starting needs', () => {
  test('nothing configured: no line', async () => {
    assert.deepEqual(daemonChecks(BASE, await gatherDaemonFacts(BASE)), []);
  });

  test('each item configured and in order passes; each broken one fails with why', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'daemon-checks-'));
    const key = join(dir, 'auth.key');
    writeFileSync(key, 'k'.repeat(32));
    chmodSync(key, 0o600);
    const good: DaemonConfig = {
      ...BASE,
      user: 'root',
      logFile: join(dir, 'x.log'),
      pidFile: join(dir, 'x.pid'),
      metrics: { host: 0x7f000001, port: 0 },
      authFile: key,
    };
    const passing = daemonChecks(good, await gatherDaemonFacts(good));
    assert.deepEqual(passing.map(line), [
      'PASS user root exists (-u)',
      `PASS log file ${dir}/x.log can be written (-l)`,
      `PASS pid file ${dir}/x.pid can be written (-P)`,
      'PASS metrics address 127.0.0.1:0 can be bound',
      `PASS auth key ${key} is private and long enough`,
    ]);
    assert.equal(checksExitCode(passing), ExitCode.Ok);

    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const open = join(dir, 'open.key');
    writeFileSync(open, 'k'.repeat(32));
    chmodSync(open, 0o644);
    writeFileSync(join(dir, 'held.pid'), `${process.ppid}\n`);
    const bad: DaemonConfig = {
      ...BASE,
      user: 'nosuchuser-tcpcopy',
      logFile: '/nonexistent/x.log',
      pidFile: join(dir, 'held.pid'),
      metrics: { host: 0x7f000001, port: (busy.address() as AddressInfo).port },
      authFile: open,
    };
    const failing = daemonChecks(bad, await gatherDaemonFacts(bad));
    busy.close();
    const lines = failing.map(line);
    assert.equal(lines.length, 5);
    assert.ok(
      lines.every((l) => l.startsWith('FAIL ')),
      lines.join('\n'),
    );
    assert.match(lines[0]!, /^FAIL -u nosuchuser-tcpcopy: no such user/);
    assert.match(lines[1]!, /^FAIL -l \/nonexistent\/x\.log: directory \/nonexistent does not exist/);
    assert.match(lines[2]!, new RegExp(`belongs to running process ${process.ppid}`));
    assert.match(lines[3]!, /^FAIL --metrics 127\.0\.0\.1:\d+: /);
    assert.match(lines[4]!, /private/);
    assert.equal(checksExitCode(failing), ExitCode.Failure);
  });
});
