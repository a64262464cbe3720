/**
 * Sessions joined mid-stream, end to end: keep-alive clients open their connections to nginx on
 * prod and send a request every 100 ms on each BEFORE tcpcopy starts. tcpcopy never sees those
 * SYNs; it must fake a handshake toward target on the first captured request of each connection
 * (DESIGN §3) and then copy every later request of that connection, in one copied connection.
 */
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { withLab, type AccessLogEntry } from '../lab/index.js';
import { numberAt, settle, sleep, startIntercept, startTcpcopy, stopForStats } from './copy-harness.js';
import type { SentRequest } from './keepalive-client.js';

const CLIENT_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'keepalive-client.js');
const CONNECTIONS = 8;
const INTERVAL_MS = 100;
/** Requests each connection sends before the copier starts, and while it copies (about). */
const BEFORE_MS = 1500;
const DURING_MS = 3000;
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

test('keep-alive connections opened before tcpcopy started are joined and copied from then on', { timeout: 60_000 }, async (t) => {
  await withLab(t, async (lab) => {
    const prod = await lab.startNginx('prod');
    const target = await lab.startNginx('target');
    await startIntercept(lab, 80);

    const client = lab.spawnNode('client', CLIENT_SCRIPT, [
      JSON.stringify({ host: lab.host('prod').ip, port: 80, connections: CONNECTIONS, intervalMs: INTERVAL_MS, path: '/index.html' }),
    ]);
    await sleep(BEFORE_MS);
    const spawnedAt = Date.now();
    const tcpcopy = await startTcpcopy(lab, { port: 80 });
    // Everything sent from here on was sent while tcpcopy was capturing.
    const copyingSince = Date.now();
    await sleep(DURING_MS);
    await client.stop('SIGTERM', 5000);
    const lines = client.jsonLines<SentRequest & { error?: string; done?: boolean }>();
    assert.deepEqual(lines.filter((l) => l.error !== undefined), [], 'the client saw no errors');
    assert.ok(lines.some((l) => l.done === true), 'the client closed its connections');
    const sent = lines.filter((l) => l.r !== undefined);
    const expected = sent.filter((s) => s.at >= copyingSince);
    const before = sent.filter((s) => s.at < copyingSince);
    assert.ok(before.length >= CONNECTIONS * 5, `${before.length} requests went by before tcpcopy started`);
    assert.ok(expected.length >= CONNECTIONS * 10, `${expected.length} requests sent while copying`);

    const prodLog = tagged(prod.readAccessLog());
    assert.equal(prodLog.length, sent.length, 'production served every request');
    assert.equal(new Set(prodLog.map((p) => p.entry.connection)).size, CONNECTIONS, 'on one production connection per client connection');

    const inTarget = (): Tagged[] => tagged(target.readAccessLog());
    await settle(() => inTarget().filter((e) => expected.some((s) => s.c === e.c && s.r === e.r)).length, expected.length);
    const stats = await stopForStats(tcpcopy);
    const copied = inTarget();
    const got = new Set(copied.map((e) => `${e.c}/${e.r}`));
    const missing = expected.filter((s) => !got.has(`${s.c}/${s.r}`)).map((s) => `${s.c}/${s.r}`);
    assert.deepEqual(missing, [], `${missing.length} of ${expected.length} requests sent while copying did not reach target`);
    for (const e of copied) {
      assert.equal(e.entry.status, 200, `target answered ${e.c}/${e.r} with ${e.entry.status}`);
      assert.ok(e.entry.client.startsWith(lab.fakeIp(1).replace(/\.1$/, '.')), `target saw a fake client, not ${e.entry.client}`);
    }
    // Each client connection is one copied connection on target, whose first request is the
    // first one the copier captured: nothing from before the join, nothing twice.
    const byConnection = new Map<number, Tagged[]>();
    for (const e of copied) byConnection.set(e.c, [...(byConnection.get(e.c) ?? []), e]);
    assert.equal(byConnection.size, CONNECTIONS);
    const targetConnections = new Set<number>();
    for (const [c, entries] of byConnection) {
      const conns = new Set(entries.map((e) => e.entry.connection));
      assert.equal(conns.size, 1, `connection ${c} was copied over ${conns.size} target connections`);
      targetConnections.add(entries[0]!.entry.connection);
      const rs = entries.map((e) => e.r);
      assert.deepEqual(rs, rs.map((_, i) => rs[0]! + i), `connection ${c}: requests in order, no gaps or repeats`);
      assert.deepEqual(entries.map((e) => e.entry.connectionRequests), rs.map((_, i) => i + 1), `connection ${c}: one request at a time`);
      const firstCapturable = Math.min(...sent.filter((s) => s.c === c && s.at >= spawnedAt).map((s) => s.r));
      assert.ok(rs[0]! >= firstCapturable, `connection ${c}: request ${rs[0]} was sent before tcpcopy started`);
    }
    assert.equal(targetConnections.size, CONNECTIONS, 'distinct target connections');

    assert.equal(numberAt(stats, 'sessions.joinedMidStream'), CONNECTIONS, 'every session was joined mid-stream');
    assert.equal(numberAt(stats, 'sessions.started'), CONNECTIONS);
    assert.equal(numberAt(stats, 'sessions.established'), CONNECTIONS);
    assert.equal(numberAt(stats, 'sessions.ended.finished'), CONNECTIONS, 'the client FINs closed every copied session');
    const guards = await lab.guardCounters();
    assert.deepEqual(guards, { clientFromOthers: 0, prodFromTarget: 0, prodFromFakeSubnet: 0, prodToSelf: 0 });
  });
});
