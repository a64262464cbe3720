/**
 * Upstream's legacy control protocol end to end, HTTP (ab through production nginx) and Redis
 * (redis-cli) copied to the test server's nginx and redis-server:
 * - our tcpcopy (--protocol auto) with a simulated C intercept, and our intercept with a
 *   simulated C tcpcopy: Python programs written from upstream's structs
 *   (simulated-c-intercept.py, simulated-c-tcpcopy.py), not from our codecs;
 * - on one of our intercepts at once, a copier speaking upstream tcpcopy's protocol
 *   (--protocol legacy, its bytes checked against upstream's structs in the unit tests) and a
 *   native one;
 * - when the C tools are built by hand outside the repo (never committed): our tcpcopy with
 *   upstream's intercept (INTERCEPT_C_BIN), upstream's tcpcopy with our intercept (TCPCOPY_C_BIN).
 */
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { withLab, type Lab, type NginxServer } from '../lab/index.js';
import {
  CONTROL_PORT,
  ROOT,
  fakeRange,
  runAb,
  settle,
  sleep,
  startIntercept,
  startTcpcopy,
  statAt,
  stopForStats,
} from './copy-harness.js';
import { REDIS_PORT, redisCli, resp, snapshot } from './redis-helpers.js';

const REQUESTS = 300;
const KEYS = 300;
const SIMULATED_C_INTERCEPT = join(ROOT, 'test/e2e/simulated-c-intercept.py');
const SIMULATED_C_TCPCOPY = join(ROOT, 'test/e2e/simulated-c-tcpcopy.py');
const PORTS = `80,${REDIS_PORT}`;
const INTERCEPT_FILTER = `tcp and (src port 80 or src port ${REDIS_PORT})`;

interface Servers {
  prod: NginxServer;
  target: NginxServer;
}

async function startServers(lab: Lab): Promise<Servers> {
  await lab.startRedis('prod', { port: REDIS_PORT });
  await lab.startRedis('target', { port: REDIS_PORT });
  return { prod: await lab.startNginx('prod'), target: await lab.startNginx('target') };
}

/** `-x` for both services. */
function transfers(lab: Lab): string {
  const target = lab.host('target').ip;
  return `80-${target}:80,${REDIS_PORT}-${target}:${REDIS_PORT}`;
}

/**
 * ab (short, then keep-alive connections) and 300 SETs of distinct keys through redis-cli --pipe;
 * the test server must log every request `copies` times and hold production's keys and values.
 */
async function copiesEverything(lab: Lab, servers: Servers, copies = 1): Promise<void> {
  const short = await runAb(lab, servers.prod.url('/index.html'), { requests: REQUESTS, concurrency: 4 });
  const keepAlive = await runAb(lab, servers.prod.url('/1k.bin'), {
    requests: REQUESTS,
    concurrency: 4,
    keepAlive: true,
  });
  assert.deepEqual([short.complete, keepAlive.complete], [REQUESTS, REQUESTS]);
  const kv = new Map(Array.from({ length: KEYS }, (_, i) => [`legacy:${i}`, `value-${i}-${'x'.repeat(i * 7)}`]));
  const piped = await redisCli(lab, 'client', 'prod', ['--pipe'], resp(kv));
  assert.match(piped, new RegExp(`errors: 0, replies: ${KEYS}`));

  const expected = 2 * REQUESTS * copies;
  const arrived = await settle(() => servers.target.readAccessLog().length, expected);
  assert.equal(arrived, expected, `the test server received ${arrived} of ${expected} requests`);
  await settle(async () => (await snapshot(lab, 'target')).size, KEYS);
  assert.deepEqual(await snapshot(lab, 'target'), await snapshot(lab, 'prod'), 'the same keys and values');
  const guards = await lab.guardCounters();
  assert.deepEqual(
    Object.values(guards),
    Object.values(guards).map(() => 0),
    JSON.stringify(guards),
  );
}

/** A C binary named by `variable`, or why the case is skipped. */
function cBinary(t: TestContext, variable: 'INTERCEPT_C_BIN' | 'TCPCOPY_C_BIN'): string | undefined {
  const bin = process.env[variable];
  if (bin === undefined || bin === '')
    t.skip(`${variable} is not set: build upstream's C tools outside the repo and point it at the binary`);
  else if (!existsSync(bin)) t.skip(`${variable}=${bin}: no such file`);
  else return bin;
  return undefined;
}

test(
  'our tcpcopy (--protocol auto) with a simulated C intercept copies HTTP and Redis whole',
  { timeout: 120_000 },
  async (t) => {
    await withLab(t, async (lab) => {
      const servers = await startServers(lab);
      const intercept = lab.spawn(
        'aux',
        'python3',
        [SIMULATED_C_INTERCEPT, lab.host('aux').iface, PORTS, String(CONTROL_PORT)],
        { name: 'simulated-c-intercept' },
      );
      await lab.waitForPort('aux', CONTROL_PORT, 10_000, intercept);
      const tcpcopy = await startTcpcopy(lab, { transfer: transfers(lab) });
      assert.match(tcpcopy.stderr, /taking it for upstream's C intercept/);
      await copiesEverything(lab, servers);
      assert.match(tcpcopy.stderr, /connected to intercept/);
      // Our hellos read as records of a copier "too old" (as upstream's intercept logs them), then
      // each of the -C 2 connections opens with the version record.
      assert.equal(intercept.stdout.match(/copier connected, protocol version 6/g)?.length, 2, intercept.stdout);
      assert.doesNotMatch(intercept.stdout, /not compatible/);
      const stats = await stopForStats(tcpcopy);
      assert.equal(statAt(stats, 'control.intercepts.0.protocol'), 'legacy');
    });
  },
);

test(
  'a legacy copier and a native one on one intercept at once both copy HTTP and Redis whole',
  { timeout: 120_000 },
  async (t) => {
    await withLab(t, async (lab) => {
      const servers = await startServers(lab);
      const intercept = await startIntercept(lab, 80, ['-F', INTERCEPT_FILTER]);
      // Two copies of every session: distinct fake clients, so their tuples never meet.
      const legacy = await startTcpcopy(lab, {
        transfer: transfers(lab),
        extra: ['--protocol', 'legacy', '-c', `${lab.fakeIp(1)},${lab.fakeIp(2)}`],
      });
      const native = await startTcpcopy(lab, {
        transfer: transfers(lab),
        extra: ['--protocol', 'native', '-c', `${lab.fakeIp(3)},${lab.fakeIp(4)}`],
      });
      await copiesEverything(lab, servers, 2);
      assert.match(intercept.stderr, /copier connected \(legacy protocol\)/);
      assert.match(legacy.stderr, /speaking upstream's legacy protocol/);
      const legacyStats = await stopForStats(legacy);
      const nativeStats = await stopForStats(native);
      assert.equal(statAt(legacyStats, 'control.intercepts.0.protocol'), 'legacy');
      assert.equal(statAt(nativeStats, 'control.intercepts.0.protocol'), 'native');
    });
  },
);

test(
  'a simulated C tcpcopy with our intercept: HTTP and Redis sessions replayed whole',
  { timeout: 120_000 },
  async (t) => {
    await withLab(t, async (lab) => {
      const servers = await startServers(lab);
      const intercept = await startIntercept(lab, 80, ['-F', INTERCEPT_FILTER]);
      const play = async (port: number, requests: readonly string[]): Promise<void> => {
        const file = join(lab.logDir, `requests-${port}.txt`);
        // One Python bytes literal per line, as the simulator reads them.
        writeFileSync(file, requests.map((r) => `b${JSON.stringify(r)}`).join('\n') + '\n');
        const target = lab.host('target').ip;
        const args = [SIMULATED_C_TCPCOPY, lab.host('aux').ip, String(CONTROL_PORT), target, String(port)];
        const { stdout } = await lab.exec('prod', 'python3', [...args, lab.fakeIp(7), file], { timeoutMs: 60_000 });
        assert.match(stdout, new RegExp(`replayed ${requests.length} sessions`));
      };
      const sessions = 30;
      await play(
        80,
        Array.from(
          { length: sessions },
          (_, i) => `GET /index.html?c=${i} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`,
        ),
      );
      await play(
        REDIS_PORT,
        Array.from({ length: sessions }, (_, i) => `SET c:${i} v${i}\r\nQUIT\r\n`),
      );
      assert.match(intercept.stderr, /copier connected \(legacy protocol\)/);
      const logged = servers.target.readAccessLog();
      assert.equal(logged.filter((e) => e.path.startsWith('/index.html?c=') && e.status === 200).length, sessions);
      const keys = await snapshot(lab, 'target');
      assert.deepEqual(
        [...keys].sort(),
        Array.from({ length: sessions }, (_, i): [string, string] => [`c:${i}`, `v${i}`]).sort(),
      );
    });
  },
);

test("our tcpcopy (--protocol auto) with upstream's C intercept", { timeout: 120_000 }, async (t) => {
  const bin = cBinary(t, 'INTERCEPT_C_BIN');
  if (bin === undefined) return;
  await withLab(t, async (lab) => {
    const servers = await startServers(lab);
    const aux = lab.host('aux');
    const log = join(lab.logDir, 'c-intercept.log');
    const intercept = lab.spawn('aux', bin, ['-i', aux.iface, '-F', INTERCEPT_FILTER, '-l', log], {
      name: 'c-intercept',
    });
    await lab.waitForPort('aux', CONTROL_PORT, 10_000, intercept);
    const tcpcopy = await startTcpcopy(lab, { transfer: transfers(lab) });
    await copiesEverything(lab, servers);
    assert.match(tcpcopy.stderr, /taking it for upstream's C intercept/);
    const stats = await stopForStats(tcpcopy);
    assert.equal(statAt(stats, 'control.intercepts.0.protocol'), 'legacy');
  });
});

test("upstream's C tcpcopy with our intercept", { timeout: 120_000 }, async (t) => {
  const bin = cBinary(t, 'TCPCOPY_C_BIN');
  if (bin === undefined) return;
  await withLab(t, async (lab) => {
    const servers = await startServers(lab);
    const intercept = await startIntercept(lab, 80, ['-F', INTERCEPT_FILTER]);
    const args = ['-x', transfers(lab), '-s', lab.host('aux').ip, '-c', fakeRange(lab)];
    args.push('-l', join(lab.logDir, 'c-tcpcopy.log'));
    const tcpcopy = lab.spawn('prod', bin, args, { name: 'c-tcpcopy' });
    await intercept.waitFor(/copier connected \(legacy protocol\)/, { stream: 'stderr', timeoutMs: 10_000 });
    // Upstream's tcpcopy says nowhere when it captures; its raw socket is open within a second.
    await sleep(1000);
    assert.ok(tcpcopy.running, tcpcopy.stderr);
    await copiesEverything(lab, servers);
  });
});
