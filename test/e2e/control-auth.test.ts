/**
 * The authenticated control channel in the lab (docs/security.md): intercept on aux with
 * --auth-file and --allow (prod, and target, from which strangers come), tcpcopy on prod.
 * - A key file others may read is refused by both daemons: one line, exit 2.
 * - tcpcopy with another key, without a key, and with a key against an intercept without one:
 *   refused on both sides with TCPCOPY_ERR_CONTROL_AUTH, logged with the peer's address, and
 *   tcpcopy (no -L) exits 1 with that code.
 * - With the same key, ab against production's nginx is copied whole to the test server's,
 *   while strangers send garbage, stall before and after their hello, register routes without
 *   the key, and connect from a source outside --allow: none of it adds a route or gets a record,
 *   and the paired copier's copy is complete.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withLab, type Lab, type LabProcess } from '../lab/index.js';
import {
  NO_GUARD_HITS,
  CONTROL_PORT,
  INTERCEPT_BIN,
  TCPCOPY_BIN,
  fakeRange,
  numberAt,
  requestSummary,
  runAb,
  settle,
  startIntercept,
  startTcpcopy,
  statAt,
  stopForStats,
} from './copy-harness.js';
import type { StrangerArgs } from './control-stranger.js';

const STRANGER = fileURLToPath(new URL('./control-stranger.js', import.meta.url));
const REQUESTS = 1000;
const AUTH = 'TCPCOPY_ERR_CONTROL_AUTH';
/** A second intercept, without a key, for the copier that has one. */
const KEYLESS_PORT = CONTROL_PORT + 1;

function keyFile(dir: string, name: string, bytes: Buffer, mode = 0o600): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  chmodSync(path, mode);
  return path;
}

function copierArgs(lab: Lab, extra: readonly string[]): string[] {
  return ['-x', `80-${lab.host('target').ip}:80`, '-s', lab.host('aux').ip, '-c', fakeRange(lab), ...extra];
}

/**
 * tcpcopy run to its end: exit 1, its last stderr line `tcpcopy: TCPCOPY_ERR_CONTROL_AUTH: ...`
 * matching `why` (the warnings of its retries come before it).
 */
async function assertRefused(lab: Lab, extra: readonly string[], why: RegExp): Promise<void> {
  const r = await lab.exec('prod', TCPCOPY_BIN, copierArgs(lab, extra), { check: false, timeoutMs: 20_000 });
  assert.equal(r.code, 1, r.stderr);
  const last = r.stderr.trimEnd().split('\n').at(-1) ?? '';
  assert.match(last, new RegExp(`^tcpcopy: ${AUTH}: intercept ${lab.host('aux').ip}:\\d+ `));
  assert.match(last, why);
}

function strangers(lab: Lab, host: string, args: Omit<StrangerArgs, 'host' | 'port'>): LabProcess {
  const full: StrangerArgs = { host: lab.host('aux').ip, port: CONTROL_PORT, ...args };
  return lab.spawnNode(host, STRANGER, [JSON.stringify(full)], { name: `stranger-${args.mode}` });
}

/** The peer addresses intercept logged with a refusal of `code`. */
function refusedPeers(intercept: LabProcess, code: string): Set<string> {
  const peers = new Set<string>();
  for (const line of intercept.stderr.split('\n')) {
    if (!line.includes(code)) continue;
    const peer = /"peer":"([\d.]+):\d+"/.exec(line)?.[1];
    if (peer !== undefined) peers.add(peer);
  }
  return peers;
}

test(
  'control channel with --auth-file and --allow: refusals on both sides, a whole copy beside strangers',
  { timeout: 120_000 },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'tcpcopy-auth-lab-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const key = keyFile(dir, 'auth.key', Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 37 + 11) & 0xff)));
    const otherKey = keyFile(dir, 'other.key', Buffer.alloc(32, 0x42));
    const readable = keyFile(dir, 'readable.key', Buffer.alloc(32, 0x43), 0o644);

    await withLab(t, async (lab) => {
      const { prod: prodHost, target: targetHost, aux } = lab.hosts;
      const prod = await lab.startNginx('prod');
      const target = await lab.startNginx('target');

      for (const [host, bin, args] of [
        ['prod', TCPCOPY_BIN, copierArgs(lab, ['--auth-file', readable])],
        ['aux', INTERCEPT_BIN, ['-F', 'tcp and src port 80', '--auth-file', readable]],
      ] as const) {
        const r = await lab.exec(host, bin, [...args], { check: false });
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, /^\w+: --auth-file "[^"]+": its group or others may access it \(mode 0644\)[^\n]*\n$/);
      }

      const intercept = await startIntercept(lab, 80, [
        '--auth-file',
        key,
        '--allow',
        `${prodHost.ip},${targetHost.ip}`,
      ]);
      const keyless = lab.spawn('aux', INTERCEPT_BIN, ['-F', 'tcp and src port 80', '-p', String(KEYLESS_PORT)], {
        name: 'intercept-keyless',
      });
      await lab.waitForPort('aux', KEYLESS_PORT, 10_000, keyless);

      // Each is refused within tcpcopy's 3 s start-up wait; they run side by side.
      await Promise.all([
        assertRefused(lab, ['--auth-file', otherKey], /sent a proof that does not match our key/),
        assertRefused(lab, [], /requires authentication and tcpcopy has no --auth-file/),
        assertRefused(lab, ['--auth-file', key, '-p', String(KEYLESS_PORT)], /does not authenticate/),
      ]);
      assert.ok(refusedPeers(intercept, AUTH).has(prodHost.ip), 'intercept logged the refusals with the address');
      assert.ok(refusedPeers(keyless, AUTH).has(prodHost.ip), 'so did the intercept without a key');
      await keyless.stop('SIGTERM', 5000);

      // Strangers: garbage and stalls from an allowed host, routes without the key, and a source outside --allow.
      const routes: StrangerArgs['routes'] = Array.from({ length: 64 }, (_, i) => [
        lab.fakeIp(250),
        30000 + i,
        targetHost.ip,
        80,
      ]);
      const crowd = [
        strangers(lab, 'target', { mode: 'garbage', connections: 20 }),
        strangers(lab, 'target', { mode: 'silent', connections: 10 }),
        strangers(lab, 'target', { mode: 'nonce', connections: 10 }),
        strangers(lab, 'target', { mode: 'routes', connections: 5, routes }),
        // aux itself is outside --allow; the client host stays out of this (the guards watch it).
        strangers(lab, 'aux', { mode: 'routes', connections: 5, routes }),
      ];

      const tcpcopy = await startTcpcopy(lab, { port: 80, extra: ['--auth-file', key] });
      const short = await runAb(lab, prod.url('/index.html'), { requests: REQUESTS, concurrency: 8 });
      const keepAlive = await runAb(lab, prod.url('/1k.bin'), { requests: REQUESTS, concurrency: 4, keepAlive: true });
      assert.deepEqual(
        [short, keepAlive],
        [
          { complete: REQUESTS, failed: 0 },
          { complete: REQUESTS, failed: 0 },
        ],
      );
      const arrived = await settle(() => target.readAccessLog().length, 2 * REQUESTS);
      assert.equal(arrived, 2 * REQUESTS, `target received ${arrived} of ${2 * REQUESTS} requests`);
      assert.deepEqual(
        requestSummary(target.readAccessLog()),
        requestSummary(prod.readAccessLog()),
        'same methods, paths and statuses',
      );

      // Every stranger was closed (the stalled ones by the 10 s hello timeout) and got no record.
      for (const proc of crowd) await proc.waitFor(/"event":"done"/, { timeoutMs: 20_000 });
      for (const proc of crowd) {
        for (const line of proc.jsonLines<{ event: string; records?: number; messages?: number[] }>()) {
          if (line.event === 'closed') assert.equal(line.records, 0, `${proc.name}: no record`);
        }
      }

      const copier = await stopForStats(tcpcopy);
      const served = await stopForStats(intercept);
      assert.equal(numberAt(copier, 'control.authFailures'), 0);
      assert.equal(numberAt(copier, 'control.disconnects'), 0, 'the paired connections were never lost');
      assert.equal(numberAt(served, 'control.authenticated'), 2, "tcpcopy's two connections (-C 2) proved the key");
      assert.equal(
        numberAt(served, 'routes.routesAdded'),
        numberAt(copier, 'control.routesAdded'),
        "intercept's routes are the paired copier's only",
      );
      assert.equal(numberAt(served, 'control.notAllowed'), 5, 'the host outside --allow was closed at once');
      assert.equal(numberAt(served, 'control.helloTimeouts'), 20, 'the stalled strangers were timed out');
      // At least two connections each of the copiers with another key and without one, and the five
      // strangers who said hello without a key; the garbage is malformed.
      const rejected = statAt(served, 'control.rejected') as Record<string, number>;
      assert.ok((rejected[AUTH] ?? 0) >= 2 + 2 + 5, `refusals counted: ${JSON.stringify(rejected)}`);
      assert.equal(rejected['TCPCOPY_ERR_CONTROL_MALFORMED'], 20, JSON.stringify(rejected));
      assert.ok(refusedPeers(intercept, AUTH).has(targetHost.ip), 'strangers logged with their address');
      assert.ok(intercept.stderr.includes(`"peer":"${aux.ip}:`), 'the source outside --allow logged');

      const guards = await lab.guardCounters();
      assert.deepEqual(guards, NO_GUARD_HITS);
    });
  },
);
