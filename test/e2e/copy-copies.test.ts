/**
 * -n N end to end: every production connection is replayed N times toward nginx on target, each
 * replica on its own 4-tuple. Target's access log must hold exactly N times what production
 * served, connection for connection (a keep-alive connection's replicas carry the same requests),
 * and replicas of one client connection must be live at the same time on distinct tuples.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OFFLOAD_PROFILES, withLab, type AccessLogEntry } from '../lab/index.js';
import {
  numberAt,
  runAb,
  sampleConnections,
  settle,
  startIntercept,
  startTcpcopy,
  stopForStats,
  type SocketSample,
} from './copy-harness.js';

const SHORT_REQUESTS = 600;
const KEEPALIVE_REQUESTS = 600;

/** Requests per nginx connection, sorted: the shape of the traffic, independent of addresses. */
function requestsPerConnection(entries: readonly AccessLogEntry[]): number[] {
  const counts = new Map<number, number>();
  for (const e of entries) counts.set(e.connection, (counts.get(e.connection) ?? 0) + 1);
  return [...counts.values()].sort((a, b) => a - b);
}

function repeatEach(values: readonly number[], times: number): number[] {
  return values.flatMap((v) => Array.from({ length: times }, () => v)).sort((a, b) => a - b);
}

/** The client `ip:port` of each nginx connection, checking a connection never changes client. */
function clientOfConnection(entries: readonly AccessLogEntry[]): Map<number, string> {
  const clients = new Map<number, string>();
  for (const e of entries) {
    const known = clients.get(e.connection);
    assert.ok(
      known === undefined || known === e.client,
      `connection ${e.connection} seen from ${known} and ${e.client}`,
    );
    clients.set(e.connection, e.client);
  }
  return clients;
}

/**
 * Replicas of one client connection keep the client's port on distinct fake addresses, so per
 * sample, the live peers sharing a port are the replicas of one production connection: never more
 * than `copies` (more would mean two client connections merged), and the tuples all distinct.
 */
function largestReplicaGroup(samples: readonly SocketSample[], copies: number): number {
  let largest = 0;
  for (const sample of samples) {
    assert.equal(new Set(sample).size, sample.length, `a 4-tuple listed twice in one sample: ${sample.join(' ')}`);
    const byPort = new Map<string, number>();
    for (const peer of sample) {
      const port = peer.slice(peer.lastIndexOf(':') + 1);
      byPort.set(port, (byPort.get(port) ?? 0) + 1);
    }
    for (const [port, n] of byPort) {
      assert.ok(n <= copies, `${n} live connections from port ${port} at once, with -n ${copies}: ${sample.join(' ')}`);
      largest = Math.max(largest, n);
    }
  }
  return largest;
}

for (const [copies, offloads] of [2, 5].flatMap((n) => OFFLOAD_PROFILES.map((o) => [n, o] as const))) {
  test(
    `-n ${copies}: target serves exactly ${copies}x production's short and keep-alive requests, replicas on distinct tuples (offloads ${offloads})`,
    { timeout: 110_000 },
    async (t) => {
      await withLab(
        t,
        async (lab) => {
          const prod = await lab.startNginx('prod', { keepaliveRequests: 1000 });
          const target = await lab.startNginx('target', { keepaliveRequests: 1000 });
          await startIntercept(lab, 80);
          const tcpcopy = await startTcpcopy(lab, { port: 80, copies });
          const sampler = sampleConnections(lab, 'target', 80);

          const short = await runAb(lab, prod.url('/index.html'), { requests: SHORT_REQUESTS, concurrency: 8 });
          const keepAlive = await runAb(lab, prod.url('/1k.bin'), {
            requests: KEEPALIVE_REQUESTS,
            concurrency: 4,
            keepAlive: true,
          });
          assert.deepEqual(
            [short, keepAlive],
            [
              { complete: SHORT_REQUESTS, failed: 0 },
              { complete: KEEPALIVE_REQUESTS, failed: 0 },
            ],
          );

          const expected = copies * (SHORT_REQUESTS + KEEPALIVE_REQUESTS);
          const arrived = await settle(() => target.readAccessLog().length, expected);
          const samples = await sampler.stop();
          const prodLog = prod.readAccessLog();
          const targetLog = target.readAccessLog();
          const stats = await stopForStats(tcpcopy);
          assert.equal(prodLog.length, SHORT_REQUESTS + KEEPALIVE_REQUESTS, 'production served every request');
          assert.equal(
            arrived,
            expected,
            `target received ${arrived} requests, expected ${copies} x ${prodLog.length}; tcpcopy stats: ${JSON.stringify(stats)}`,
          );

          // Connection for connection: N replicas of each production connection, same requests each.
          assert.deepEqual(
            requestsPerConnection(targetLog),
            repeatEach(requestsPerConnection(prodLog), copies),
            'requests per connection',
          );
          // No tuple served two connections during the run (production's client ports were all distinct).
          const prodClients = [...clientOfConnection(prodLog).values()];
          assert.equal(
            new Set(prodClients).size,
            prodClients.length,
            'ab reused a client port: the tuple check below would be moot',
          );
          const targetClients = [...clientOfConnection(targetLog).values()];
          assert.equal(targetClients.length, copies * prodClients.length);
          assert.equal(
            new Set(targetClients).size,
            targetClients.length,
            'a fake 4-tuple carried two target connections',
          );
          for (const c of targetClients)
            assert.ok(c.startsWith(lab.fakeIp(1).replace(/\.1$/, '.')), `target saw ${c}, not a fake client`);

          // The sampler saw replicas live at once, never more than N per client connection. All N
          // at once is a matter of when ss looks (a short request's replicas last milliseconds):
          // on a loaded 2-core machine it saw 3 of 5 together.
          assert.ok(samples.length > 10, `only ${samples.length} ss samples`);
          const together = largestReplicaGroup(samples, copies);
          assert.ok(together >= 2, `replicas of one connection were never seen live together (${together})`);
          assert.ok(together <= copies, `${together} live replicas of one connection, more than -n ${copies}`);

          assert.equal(numberAt(stats, 'sessions.tupleSpaceExhausted'), 0);
          // ab also opens a few connections it closes without a request: nginx logs none of those.
          const started = numberAt(stats, 'sessions.started');
          assert.ok(
            started % copies === 0 && started >= copies * prodClients.length,
            `${started} sessions for ${prodClients.length} logged connections`,
          );
          assert.equal(numberAt(stats, 'sessions.established'), started, JSON.stringify(stats));
          assert.deepEqual(await lab.guardCounters(), {
            clientFromOthers: 0,
            prodFromTarget: 0,
            prodFromFakeSubnet: 0,
            prodToSelf: 0,
          });
        },
        { offloads },
      );
    },
  );
}
