/**
 * The real `--check` of both daemons inside the lab (they probe capture, raw sockets and ports,
 * so they run in lab hosts only): intercept in aux passes, and fails with the right line once
 * aux forwards IPv4; tcpcopy in prod fails while no intercept listens and passes once one does.
 * Both name the offloads of their capture device as the lab's profile set them (GRO on by default).
 * Plus --config and SIGHUP on the real daemons: intercept's log level follows the file and a bad
 * file keeps the running settings; tcpcopy's -r drops to 1 % for new sessions while the keep-alive
 * sessions it is copying go on whole.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseIpv4 } from '@tcpcopy/common';
import { sampled } from '@tcpcopy/copier';
import { withLab, type Lab, type OffloadProfile } from '../lab/index.js';
import {
  CONTROL_PORT,
  INTERCEPT_BIN,
  TCPCOPY_BIN,
  settle,
  sleep,
  startIntercept,
  startTcpcopy,
} from './copy-harness.js';
import { logLines, poll } from './daemon-helpers.js';
import type { SentRequest } from './keepalive-client.js';

const SERVER_PORT = 80;

interface CheckRun {
  code: number | null;
  lines: string[];
  stderr: string;
}

async function check(lab: Lab, host: string, bin: string, args: readonly string[]): Promise<CheckRun> {
  const r = await lab.exec(host, bin, [...args, '--check'], { check: false, timeoutMs: 20_000 });
  return { code: r.code, lines: r.stdout.split('\n').filter((l) => l !== ''), stderr: r.stderr };
}

/** The exit status, with the whole output when it is not the expected one. */
function assertStatus(run: CheckRun, expected: number): void {
  assert.equal(run.code, expected, `exit ${run.code}, stdout:\n${run.lines.join('\n')}\nstderr:\n${run.stderr}`);
}

function failures(run: CheckRun): string[] {
  return run.lines.filter((l) => l.startsWith('FAIL '));
}

/**
 * What --check names for a lab host's device under the profile's ethtool settings (topology.ts);
 * `host` sets nothing, and the kernel's veth defaults vary between versions.
 */
const OFFLOADS_SHOWN: Partial<Record<OffloadProfile, string>> = {
  nic: 'rx-checksum on, gro on; tx-checksum, tso, gso, lro off',
  off: 'all off',
};

/** The one offload line of `device`: a PASS saying nothing is to be set, naming what the lab set. */
function assertOffloadLine(run: CheckRun, lab: Lab, device: string): void {
  const lines = run.lines.filter((l) => l.includes(`offloads on ${device}`));
  assert.equal(lines.length, 1, run.lines.join('\n'));
  const shown = OFFLOADS_SHOWN[lab.offloads];
  const expected = `PASS offloads on ${device}: ${shown ?? ''}`;
  assert.ok(lines[0]!.startsWith(expected), `expected "${expected}...", got:\n${lines[0]}`);
  assert.match(lines[0]!, /\. Nothing to set: /);
  if (lab.offloads === 'nic') assert.match(lines[0]!, /\bgro on\b/);
}

function assertEveryLineIsAVerdict(run: CheckRun): void {
  assert.ok(run.lines.length >= 5, run.lines.join('\n'));
  for (const l of run.lines) assert.match(l, /^(PASS|FAIL|NOTE) \S/);
  assert.equal(run.stderr, '');
}

test('--check in the lab: intercept in aux (pass, bad filter, port in use, ip_forward=1); tcpcopy in prod without and with a reachable intercept', async (t) => {
  await withLab(t, async (lab) => {
    const { aux, target } = lab.hosts;
    const interceptArgs = ['-i', aux.iface, '-F', `tcp and src port ${SERVER_PORT}`];

    const good = await check(lab, 'aux', INTERCEPT_BIN, interceptArgs);
    assertEveryLineIsAVerdict(good);
    assertStatus(good, 0);
    assert.deepEqual(failures(good), []);
    for (const expected of [
      'PASS running as root (raw sockets and capture need CAP_NET_RAW)',
      `PASS capture interface ${aux.iface} exists and is up`,
      `PASS capture opens on ${aux.iface} with filter "tcp and src port ${SERVER_PORT}"`,
      `PASS control port 0.0.0.0:${CONTROL_PORT} can be bound`,
      "PASS net.ipv4.ip_forward is 0 (the test server's replies end here once captured)",
    ]) {
      assert.ok(good.lines.includes(expected), `missing "${expected}" in:\n${good.lines.join('\n')}`);
    }
    assert.ok(
      good.lines.some((l) => l.startsWith('NOTE rp_filter here: all=0 ')),
      good.lines.join('\n'),
    );
    assertOffloadLine(good, lab, aux.iface);
    assert.match(
      good.lines.find((l) => l.includes(`offloads on ${aux.iface}`))!,
      /: reply records carry headers only /,
    );

    const badFilter = await check(lab, 'aux', INTERCEPT_BIN, ['-i', aux.iface, '-F', 'tcp and and']);
    assertStatus(badFilter, 1);
    assert.equal(failures(badFilter).length, 1, badFilter.lines.join('\n'));
    assert.match(
      failures(badFilter)[0]!,
      new RegExp(`^FAIL capture filter "tcp and and" does not compile on ${aux.iface}: .*syntax error`),
    );

    const transfer = ['-x', `${SERVER_PORT}-${target.ip}:${SERVER_PORT}`, '-s', aux.ip];
    const alone = await check(lab, 'prod', TCPCOPY_BIN, transfer);
    assertEveryLineIsAVerdict(alone);
    assertStatus(alone, 1);
    assert.deepEqual(failures(alone), [
      `FAIL intercept ${aux.ip}:${CONTROL_PORT} is not reachable: connection refused (ECONNREFUSED) (is intercept running there? check -s, -p, intercept's -b and firewalls)`,
    ]);
    for (const expected of [
      'PASS raw IP socket opens (the copies are sent through it)',
      `PASS capture opens on ${lab.hosts.prod.iface} with filter`,
    ]) {
      assert.ok(
        alone.lines.some((l) => l.startsWith(expected)),
        `missing "${expected}" in:\n${alone.lines.join('\n')}`,
      );
    }
    // Without -i tcpcopy captures on every interface that is up: lo is named as well, `any` never.
    assertOffloadLine(alone, lab, lab.hosts.prod.iface);
    assert.match(
      alone.lines.find((l) => l.includes(`offloads on ${lab.hosts.prod.iface}`))!,
      /: merged packets are split to the MTU \(-M 1500\), /,
    );
    assert.ok(
      alone.lines.some((l) => l.startsWith('PASS offloads on lo: ')),
      alone.lines.join('\n'),
    );

    const intercept = await startIntercept(lab, SERVER_PORT);
    const paired = await check(lab, 'prod', TCPCOPY_BIN, transfer);
    assertStatus(paired, 0);
    assert.deepEqual(failures(paired), []);
    assert.ok(paired.lines.includes(`PASS intercept ${aux.ip}:${CONTROL_PORT} accepts connections`));

    // What the start itself would trip over once the network is fine: each its own FAIL line.
    const openKey = join(lab.logDir, 'open.key');
    writeFileSync(openKey, 'k'.repeat(32), { mode: 0o644 });
    const startNeeds = ['-u', 'nosuchuser', '-l', '/nonexistent/x.log', '-P', '/nonexistent/x.pid'];
    const broken = await check(lab, 'prod', TCPCOPY_BIN, [
      ...transfer,
      ...startNeeds,
      '--metrics',
      `${aux.ip}:9100`,
      '--auth-file',
      openKey,
    ]);
    assertStatus(broken, 1);
    const brokenLines = failures(broken);
    assert.equal(brokenLines.length, 5, brokenLines.join('\n'));
    for (const expected of [
      /^FAIL -u nosuchuser: no such user/,
      /^FAIL -l \/nonexistent\/x\.log: /,
      /^FAIL -P \/nonexistent\/x\.pid: /,
      /^FAIL --metrics /,
      /^FAIL --auth-file .*private/,
    ]) {
      assert.ok(
        brokenLines.some((l) => expected.test(l)),
        `no line matches ${String(expected)} in:\n${brokenLines.join('\n')}`,
      );
    }
    const interceptBroken = await check(lab, 'aux', INTERCEPT_BIN, [...interceptArgs, ...startNeeds, '-p', '36525']);
    assertStatus(interceptBroken, 1);
    assert.equal(failures(interceptBroken).length, 3, failures(interceptBroken).join('\n'));

    const busy = await check(lab, 'aux', INTERCEPT_BIN, interceptArgs);
    assertStatus(busy, 1);
    assert.deepEqual(failures(busy), [
      `FAIL control port 0.0.0.0:${CONTROL_PORT} cannot be bound: address already in use (EADDRINUSE) (another intercept running? is -b an address of this host?)`,
    ]);
    assert.ok(intercept.running, 'the probes left the running intercept alone');
    assert.deepEqual(await intercept.stop('SIGTERM', 3000), { code: 0, signal: null }, intercept.stderr);

    await lab.exec('aux', 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    const forwarding = await check(lab, 'aux', INTERCEPT_BIN, interceptArgs);
    assertStatus(forwarding, 1);
    assert.deepEqual(failures(forwarding), [
      "FAIL net.ipv4.ip_forward is 1: it must be 0 on the intercept host, or the test server's replies are forwarded to the fake clients (sysctl -w net.ipv4.ip_forward=0)",
    ]);
  });
});

test('intercept --config: flags override the file; SIGHUP applies a new log level, names what needs a restart, and a bad file keeps the running settings', async (t) => {
  await withLab(t, async (lab) => {
    const { aux } = lab.hosts;
    const configFile = join(lab.logDir, 'intercept.yaml');
    const logFile = join(lab.logDir, 'intercept.log');
    const settings = (more: string): string =>
      `# intercept settings\ndevices: [${aux.iface}]\nlogFile: ${logFile}\n${more}`;
    writeFileSync(configFile, settings(`filter: tcp and src port ${SERVER_PORT}\nport: 4000\nlogLevel: info\n`));
    const intercept = lab.spawn('aux', INTERCEPT_BIN, ['--config', configFile, '-p', String(CONTROL_PORT)], {
      name: 'intercept',
    });
    await lab.waitForPort('aux', CONTROL_PORT, 10_000, intercept); // -p beats the file's port
    const running = await poll(
      () => logLines(logFile).find((l) => l['msg'] === 'intercept running'),
      'intercept running',
    );
    assert.deepEqual(running['devices'], [aux.iface]);

    const logged = (msg: string): Promise<Record<string, unknown>> =>
      poll(() => logLines(logFile).find((l) => l['msg'] === msg), msg);
    writeFileSync(configFile, settings(`filter: tcp and src port ${SERVER_PORT + 1}\nport: 5000\nlogLevel: warn\n`));
    process.kill(intercept.pid!, 'SIGHUP');
    assert.deepEqual((await logged('config reloaded'))['applied'], { logLevel: 'warn' });
    assert.deepEqual(
      (await logged('changed settings take effect on restart only'))['settings'],
      ['filter'],
      "the port is still the command line's",
    );

    writeFileSync(configFile, settings('filter: tcp\nlogLevel: verbose\n'));
    process.kill(intercept.pid!, 'SIGHUP');
    const failed = await logged('config reload failed: the current settings stay');
    assert.equal((failed['err'] as { code: string }).code, 'TCPCOPY_ERR_BAD_FLAG');
    assert.match(
      (failed['err'] as { message: string }).message,
      /^--log-level "verbose": expected one of .* \(logLevel in .*intercept\.yaml\)$/,
    );
    assert.ok(intercept.running, 'a bad file does not stop the daemon');
    await lab.waitForPort('aux', CONTROL_PORT);

    const stopped = await intercept.stop('SIGTERM', 3000);
    assert.deepEqual(stopped, { code: 0, signal: null }, intercept.stderr);
    // Still at warn: the info lines of the shutdown are not written.
    assert.equal(
      logLines(logFile).find((l) => l['msg'] === 'final stats'),
      undefined,
    );
  });
});

const KEEPALIVE_CLIENT = fileURLToPath(new URL('./keepalive-client.js', import.meta.url));
const KEEPALIVE_TAG = /[?&]c=(\d+)&r=(\d+)/;
const FRESH_TAG = /[?&]n=(\d+)/;
const FRESH_SESSIONS = 20;

test(
  'tcpcopy --config: SIGHUP lowers -r to 1 % for new sessions; the keep-alive sessions being copied go on whole',
  { timeout: 90_000 },
  async (t) => {
    await withLab(t, async (lab) => {
      const prod = await lab.startNginx('prod');
      const target = await lab.startNginx('target');
      await startIntercept(lab, SERVER_PORT);
      const configFile = join(lab.logDir, 'tcpcopy.yaml');
      writeFileSync(configFile, 'percentage: 100\n');
      const tcpcopy = await startTcpcopy(lab, { port: SERVER_PORT, extra: ['--config', configFile] });
      const client = lab.spawnNode('client', KEEPALIVE_CLIENT, [
        JSON.stringify({
          host: lab.hosts.prod.ip,
          port: SERVER_PORT,
          connections: 4,
          intervalMs: 100,
          path: '/index.html',
        }),
      ]);
      const keepalive = (): string[] => target.readAccessLog().flatMap((e) => KEEPALIVE_TAG.exec(e.path)?.[1] ?? []);
      await poll(() => (new Set(keepalive()).size === 4 ? true : undefined), 'the 4 keep-alive connections copied');

      writeFileSync(configFile, 'percentage: 1\n');
      process.kill(tcpcopy.pid!, 'SIGHUP');
      const [reloaded] = await tcpcopy.waitFor(/\{[^\n]*"msg":"config reloaded"[^\n]*\}/, { stream: 'stderr' });
      assert.deepEqual((JSON.parse(reloaded) as { applied: unknown }).applied, { samplePercent: 1 });
      const reloadedAt = Date.now();
      for (let n = 0; n < FRESH_SESSIONS; n++) {
        await lab.exec('client', 'curl', ['-sS', '-o', '/dev/null', `${prod.url('/index.html')}?n=${n}`]);
      }
      await sleep(1000);
      await client.stop('SIGTERM', 5000);
      const sent = client.jsonLines<SentRequest>().filter((l) => l.r !== undefined);
      assert.ok(
        sent.filter((s) => s.at > reloadedAt).length >= 20,
        'the keep-alive clients went on sending after the reload',
      );

      // Every keep-alive request reaches target, before and after the reload.
      const key = (c: number | string, r: number | string): string => `${c}/${r}`;
      const wanted = new Set(sent.map((s) => key(s.c, s.r)));
      const copiedKeepalive = (): Set<string> =>
        new Set(
          target.readAccessLog().flatMap((e) => {
            const m = KEEPALIVE_TAG.exec(e.path);
            return m === null ? [] : [key(m[1]!, m[2]!)];
          }),
        );
      await settle(() => [...copiedKeepalive()].filter((k) => wanted.has(k)).length, wanted.size);
      const got = copiedKeepalive();
      assert.deepEqual(
        [...wanted].filter((k) => !got.has(k)),
        [],
        'keep-alive requests that did not reach target',
      );

      // The fresh sessions are copied exactly when their client ip:port samples in at 1 %.
      const fresh = prod.readAccessLog().filter((e) => FRESH_TAG.test(e.path));
      assert.equal(fresh.length, FRESH_SESSIONS);
      const expected = fresh
        .filter((e) => {
          const [ip = '', port = ''] = e.client.split(':');
          return sampled(parseIpv4(ip)!, Number(port), 1);
        })
        .map((e) => e.path)
        .sort();
      const copiedFresh = target
        .readAccessLog()
        .filter((e) => FRESH_TAG.test(e.path))
        .map((e) => e.path)
        .sort();
      assert.deepEqual(copiedFresh, expected);
      assert.ok(expected.length < FRESH_SESSIONS / 2, `${expected.length} of ${FRESH_SESSIONS} sample in at 1 %`);
    });
  },
);
