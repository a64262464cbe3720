/**
 * Sessions joined mid-stream, end to end: keep-alive clients open their connections to nginx on
 * prod and send a request every 100 ms on each BEFORE tcpcopy starts. tcpcopy never sees those
 * SYNs; it must fake a handshake toward target on the first captured request of each connection
 * (DESIGN §3) and then copy every later request of that connection, in one copied connection.
 * The same must hold when a killed tcpcopy is restarted: the test server still holds the first
 * instance's connections on the very tuples the second one joins on.
 */
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import {
  OFFLOAD_PROFILES,
  withLab,
  type AccessLogEntry,
  type Lab,
  type LabProcess,
  type NginxServer,
} from '../lab/index.js';
import { NO_GUARD_HITS, numberAt, settle, sleep, startIntercept, startTcpcopy, stopForStats } from './copy-harness.js';
import type { SentRequest } from './keepalive-client.js';

const CLIENT_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'keepalive-client.js');
const CONNECTIONS = 8;
const INTERVAL_MS = 100;
/** Requests each connection sends before the copier starts, and while it copies (about). */
const BEFORE_MS = 1500;
const DURING_MS = 3000;
/** How long the first of two tcpcopy instances copies before it is killed. */
const RESTART_AFTER_MS = 1500;
const TAG = /[?&]c=(\d+)&r=(\d+)/;

interface Tagged {
  c: number;
  r: number;
  entry: AccessLogEntry;
}

function tagged(entries: readonly AccessLogEntry[]): Tagged[] {
  const out: Tagged[] = [];
  for (const entry of entries) {
    const m = TAG.exec(entry.path);
    if (m !== null) out.push({ c: Number(m[1]), r: Number(m[2]), entry });
  }
  return out;
}

interface Run {
  prod: NginxServer;
  target: NginxServer;
  client: LabProcess;
}

async function startClients(lab: Lab): Promise<Run> {
  const prod = await lab.startNginx('prod');
  const target = await lab.startNginx('target');
  await startIntercept(lab, 80);
  const client = lab.spawnNode('client', CLIENT_SCRIPT, [
    JSON.stringify({
      host: lab.host('prod').ip,
      port: 80,
      connections: CONNECTIONS,
      intervalMs: INTERVAL_MS,
      path: '/index.html',
    }),
  ]);
  await sleep(BEFORE_MS);
  return { prod, target, client };
}

/** Stops the clients (their FINs close the copied sessions) and returns what they sent. */
async function stopClients(run: Run): Promise<SentRequest[]> {
  await run.client.stop('SIGTERM', 5000);
  const lines = run.client.jsonLines<SentRequest & { error?: string; done?: boolean }>();
  assert.deepEqual(
    lines.filter((l) => l.error !== undefined),
    [],
    'the client saw no errors',
  );
  assert.ok(
    lines.some((l) => l.done === true),
    'the client closed its connections',
  );
  const sent = lines.filter((l) => l.r !== undefined);
  const prodLog = tagged(run.prod.readAccessLog());
  assert.equal(prodLog.length, sent.length, 'production served every request');
  assert.equal(
    new Set(prodLog.map((p) => p.entry.connection)).size,
    CONNECTIONS,
    'on one production connection per client connection',
  );
  return sent;
}

/**
 * Waits for the `expected` requests on target, stops tcpcopy and checks that each one arrived,
 * answered 200, from a fake client; returns tcpcopy's final stats and target's tagged log.
 */
async function expectOnTarget(
  lab: Lab,
  run: Run,
  tcpcopy: LabProcess,
  expected: readonly SentRequest[],
): Promise<{ stats: Record<string, unknown>; copied: Tagged[] }> {
  assert.ok(expected.length >= CONNECTIONS * 10, `${expected.length} requests sent while copying`);
  const inTarget = (): Tagged[] => tagged(run.target.readAccessLog());
  const key = (e: { c: number; r: number }): string => `${e.c}/${e.r}`;
  const wanted = new Set(expected.map(key));
  await settle(() => inTarget().filter((e) => wanted.has(key(e))).length, expected.length);
  const stats = await stopForStats(tcpcopy);
  const copied = inTarget();
  const got = new Set(copied.map(key));
  const missing = expected.filter((s) => !got.has(key(s))).map(key);
  assert.deepEqual(
    missing,
    [],
    `${missing.length} of ${expected.length} requests sent while copying did not reach target`,
  );
  for (const e of copied) {
    assert.equal(e.entry.status, 200, `target answered ${key(e)} with ${e.entry.status}`);
    assert.ok(
      e.entry.client.startsWith(lab.fakeIp(1).replace(/\.1$/, '.')),
      `target saw a fake client, not ${e.entry.client}`,
    );
  }
  return { stats, copied };
}

/** Target's requests of each client connection, grouped by the target connection they came on. */
function byConnection(copied: readonly Tagged[]): Map<number, Map<number, Tagged[]>> {
  const out = new Map<number, Map<number, Tagged[]>>();
  for (const e of copied) {
    let conns = out.get(e.c);
    if (conns === undefined) out.set(e.c, (conns = new Map()));
    conns.set(e.entry.connection, [...(conns.get(e.entry.connection) ?? []), e]);
  }
  return out;
}

/** One copied connection's requests: consecutive, in order, one at a time, none sent before `from`. */
function assertContiguous(c: number, entries: readonly Tagged[], firstAllowed: number): void {
  const rs = entries.map((e) => e.r);
  assert.deepEqual(
    rs,
    rs.map((_, i) => rs[0]! + i),
    `connection ${c}: requests in order, no gaps or repeats`,
  );
  assert.deepEqual(
    entries.map((e) => e.entry.connectionRequests),
    rs.map((_, i) => i + 1),
    `connection ${c}: one request at a time`,
  );
  assert.ok(rs[0]! >= firstAllowed, `connection ${c}: request ${rs[0]} was sent before this tcpcopy started`);
}

function firstSentSince(sent: readonly SentRequest[], c: number, since: number): number {
  return Math.min(...sent.filter((s) => s.c === c && s.at >= since).map((s) => s.r));
}

async function assertGuards(lab: Lab): Promise<void> {
  const guards = await lab.guardCounters();
  assert.deepEqual(guards, NO_GUARD_HITS);
}

for (const offloads of OFFLOAD_PROFILES) {
  test(
    `keep-alive connections opened before tcpcopy started are joined and copied from then on (offloads ${offloads})`,
    { timeout: 60_000 },
    async (t) => {
      await withLab(
        t,
        async (lab) => {
          const run = await startClients(lab);
          const spawnedAt = Date.now();
          const tcpcopy = await startTcpcopy(lab, { port: 80 });
          // Everything sent from here on was sent while tcpcopy was capturing.
          const copyingSince = Date.now();
          await sleep(DURING_MS);
          const sent = await stopClients(run);
          const before = sent.filter((s) => s.at < spawnedAt);
          assert.ok(before.length >= CONNECTIONS * 5, `${before.length} requests went by before tcpcopy started`);
          const { stats, copied } = await expectOnTarget(
            lab,
            run,
            tcpcopy,
            sent.filter((s) => s.at >= copyingSince),
          );

          // Each client connection is one copied connection on target, whose first request is the
          // first one the copier captured: nothing from before the join, nothing twice.
          const groups = byConnection(copied);
          assert.equal(groups.size, CONNECTIONS);
          const targetConnections = new Set<number>();
          for (const [c, conns] of groups) {
            assert.equal(conns.size, 1, `connection ${c} was copied over ${conns.size} target connections`);
            const [conn, entries] = [...conns][0]!;
            targetConnections.add(conn);
            assertContiguous(c, entries, firstSentSince(sent, c, spawnedAt));
          }
          assert.equal(targetConnections.size, CONNECTIONS, 'distinct target connections');

          assert.equal(numberAt(stats, 'sessions.joinedMidStream'), CONNECTIONS, 'every session was joined mid-stream');
          assert.equal(numberAt(stats, 'sessions.started'), CONNECTIONS);
          assert.equal(numberAt(stats, 'sessions.established'), CONNECTIONS);
          assert.equal(
            numberAt(stats, 'sessions.ended.finished'),
            CONNECTIONS,
            'the client FINs closed every copied session',
          );
          await assertGuards(lab);
        },
        { offloads },
      );
    },
  );
}

for (const offloads of OFFLOAD_PROFILES) {
  test(
    `a restarted tcpcopy joins the same connections again, though target still holds the killed one\'s (offloads ${offloads})`,
    { timeout: 60_000 },
    async (t) => {
      await withLab(
        t,
        async (lab) => {
          const run = await startClients(lab);
          const first = await startTcpcopy(lab, { port: 80 });
          await sleep(RESTART_AFTER_MS);
          // Killed: no last RSTs, so target keeps every copied connection open on its fake tuple.
          await first.stop('SIGKILL');
          const spawnedAt = Date.now();
          const second = await startTcpcopy(lab, { port: 80 });
          const copyingSince = Date.now();
          await sleep(DURING_MS);
          const sent = await stopClients(run);
          const { stats, copied } = await expectOnTarget(
            lab,
            run,
            second,
            sent.filter((s) => s.at >= copyingSince),
          );

          for (const [c, conns] of byConnection(copied)) {
            assert.equal(
              conns.size,
              2,
              `connection ${c}: one target connection per tcpcopy instance, have ${conns.size}`,
            );
            const [killed, restarted] = [...conns.values()].sort((a, b) => a[0]!.r - b[0]!.r);
            assert.equal(
              new Set([...killed!, ...restarted!].map((e) => e.entry.client)).size,
              1,
              `connection ${c}: both instances used the same fake tuple`,
            );
            assertContiguous(c, restarted!, firstSentSince(sent, c, spawnedAt));
          }
          assert.equal(numberAt(stats, 'sessions.joinedMidStream'), CONNECTIONS);
          assert.equal(
            numberAt(stats, 'sessions.staleConnectionsReset'),
            CONNECTIONS,
            "each faked SYN met the killed instance's connection",
          );
          assert.equal(numberAt(stats, 'sessions.established'), CONNECTIONS);
          assert.equal(numberAt(stats, 'sessions.ended.finished'), CONNECTIONS);
          await assertGuards(lab);
        },
        { offloads },
      );
    },
  );
}
