/**
 * Upstream's legacy control protocol end to end, HTTP from ab through production nginx to the
 * test server's nginx: our tcpcopy speaking it to our intercept (always), and, when the C tools
 * are built by hand outside the repo (never committed), our tcpcopy with upstream's intercept
 * (INTERCEPT_C_BIN) and upstream's tcpcopy with our intercept (TCPCOPY_C_BIN).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { withLab, type Lab, type NginxServer } from '../lab/index.js';
import {
  CONTROL_PORT,
  fakeRange,
  runAb,
  settle,
  sleep,
  startIntercept,
  startTcpcopy,
  statAt,
  stopForStats,
} from './copy-harness.js';

const REQUESTS = 300;

/** ab, short then keep-alive connections; every request must reach the test server. */
async function copiesEveryRequest(lab: Lab, prod: NginxServer, target: NginxServer): Promise<void> {
  const short = await runAb(lab, prod.url('/index.html'), { requests: REQUESTS, concurrency: 4 });
  const keepAlive = await runAb(lab, prod.url('/1k.bin'), { requests: REQUESTS, concurrency: 4, keepAlive: true });
  assert.deepEqual([short.complete, keepAlive.complete], [REQUESTS, REQUESTS]);
  const arrived = await settle(() => target.readAccessLog().length, 2 * REQUESTS);
  assert.equal(arrived, 2 * REQUESTS, `the test server received ${arrived} of ${2 * REQUESTS} requests`);
  const guards = await lab.guardCounters();
  assert.deepEqual(
    Object.values(guards),
    Object.values(guards).map(() => 0),
    JSON.stringify(guards),
  );
}

/** A C binary named by `variable`, or why the case is skipped. */
function cBinary(variable: 'INTERCEPT_C_BIN' | 'TCPCOPY_C_BIN'): { bin: string } | { skip: string } {
  const bin = process.env[variable];
  if (bin === undefined || bin === '')
    return { skip: `${variable} is not set: build upstream's C tools outside the repo and point it at the binary` };
  if (!existsSync(bin)) return { skip: `${variable}=${bin}: no such file` };
  return { bin };
}

test("our tcpcopy and intercept in upstream's legacy protocol", { timeout: 120_000 }, async (t) => {
  await withLab(t, async (lab) => {
    const prod = await lab.startNginx('prod');
    const target = await lab.startNginx('target');
    const intercept = await startIntercept(lab, 80);
    const tcpcopy = await startTcpcopy(lab, { port: 80, extra: ['--protocol', 'legacy'] });
    await copiesEveryRequest(lab, prod, target);
    assert.match(tcpcopy.stderr, /speaking upstream's legacy protocol/);
    assert.match(tcpcopy.stderr, /connected to intercept/);
    const stats = await stopForStats(tcpcopy);
    assert.equal(statAt(stats, 'control.intercepts.0.protocol'), 'legacy');
    assert.match(intercept.stderr, /copier connected \(legacy protocol\)/);
  });
});

test("our tcpcopy (--protocol auto) with upstream's C intercept", { timeout: 120_000 }, async (t) => {
  const c = cBinary('INTERCEPT_C_BIN');
  if ('skip' in c) {
    t.skip(c.skip);
    return;
  }
  await withLab(t, async (lab) => {
    const prod = await lab.startNginx('prod');
    const target = await lab.startNginx('target');
    const aux = lab.host('aux');
    const log = join(lab.logDir, 'c-intercept.log');
    const intercept = lab.spawn('aux', c.bin, ['-i', aux.iface, '-F', 'tcp and src port 80', '-l', log], {
      name: 'c-intercept',
    });
    await lab.waitForPort('aux', CONTROL_PORT, 10_000, intercept);
    const tcpcopy = await startTcpcopy(lab, { port: 80 });
    await copiesEveryRequest(lab, prod, target);
    assert.match(tcpcopy.stderr, /taking it for upstream's C intercept/);
    assert.match(tcpcopy.stderr, /connected to intercept/);
    const stats = await stopForStats(tcpcopy);
    assert.equal(statAt(stats, 'control.intercepts.0.protocol'), 'legacy');
  });
});

test("upstream's C tcpcopy with our intercept", { timeout: 120_000 }, async (t) => {
  const c = cBinary('TCPCOPY_C_BIN');
  if ('skip' in c) {
    t.skip(c.skip);
    return;
  }
  await withLab(t, async (lab) => {
    const prod = await lab.startNginx('prod');
    const target = await lab.startNginx('target');
    const intercept = await startIntercept(lab, 80);
    const args = ['-x', `80-${lab.host('target').ip}:80`, '-s', lab.host('aux').ip, '-c', fakeRange(lab)];
    args.push('-l', join(lab.logDir, 'c-tcpcopy.log'));
    const tcpcopy = lab.spawn('prod', c.bin, args, { name: 'c-tcpcopy' });
    await intercept.waitFor(/copier connected \(legacy protocol\)/, { stream: 'stderr', timeoutMs: 10_000 });
    // Upstream's tcpcopy says nowhere when it captures; its raw socket is open within a second.
    await sleep(1000);
    assert.ok(tcpcopy.running, tcpcopy.stderr);
    await copiesEveryRequest(lab, prod, target);
  });
});
