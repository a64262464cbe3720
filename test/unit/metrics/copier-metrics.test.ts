/**
 * tcpcopy's metrics over the engine harness: per-target series, the loss identity as a user
 * reads it from the exposition, the documented fraction, and every counter exported.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger, ipv4ToString, type PacketSink, type PacketSource } from '@tcpcopy/common';
import { MetricsRegistry } from '@tcpcopy/common/metrics';
import { toAddress } from '@tcpcopy/common/testing';
import { InterceptLinks } from '@tcpcopy/copier/daemon';
import { registerCopierMetrics } from '@tcpcopy/copier/daemon';
import { Pipeline } from '@tcpcopy/copier/daemon';
import { Client, PROD_PORT, Sim, TARGET_IP, TARGET_PORT, bytes, connect } from '../engine/harness.js';
import { parsePrometheusText, type Exposition } from './prom-text.js';

const TARGET = `${ipv4ToString(TARGET_IP)}:${TARGET_PORT}`;
const OTHER_IP = toAddress('203.0.113.77');

const source: PacketSource = {
  start: () => {},
  stop: () => {},
  stats: () => ({ received: 0, truncated: 0, kernelDropped: 0 }),
};
const sink: PacketSink = {
  send: () => true,
  stats: () => ({ sent: 0, errors: { EPERM: 0 }, retried: 0, queueFull: 0, queued: 0 }),
  close: async () => {},
};

function setUp(sim: Sim, copies: number): { metrics: MetricsRegistry; pipeline: Pipeline; links: InterceptLinks } {
  const pipeline = new Pipeline(sim.engine, []);
  const links = new InterceptLinks({
    intercepts: [{ ip: toAddress('192.0.2.30'), port: 36524 }],
    connectionsPerIntercept: 2,
    protocol: 'auto',
    instanceId: 'test:1',
    software: 'test',
    log: createLogger({ name: 'test', level: 'fatal', stderr: { write: () => true } }),
    onRecords: () => 0,
  });
  const metrics = registerCopierMetrics(new MetricsRegistry(), {
    engine: sim.engine,
    pipeline,
    links,
    source,
    sink,
    clock: { now: () => sim.now },
    copies,
  });
  return { metrics, pipeline, links };
}

/** The identity and the fraction, computed from the exposition as docs/metrics.md tells users to. */
function fromExposition(e: Exposition, target: string): { expected: number; accounted: number; fraction: number } {
  const l = { target };
  const expected = e.value('tcpcopy_payload_expected_bytes_total', l);
  const duplicate = e.value('tcpcopy_payload_duplicate_bytes_total', l);
  const acked = e.value('tcpcopy_payload_acked_bytes_total', l);
  const accounted =
    acked + duplicate + e.value('tcpcopy_payload_pending_bytes', l) + e.sum('tcpcopy_payload_dropped_bytes_total', l);
  return { expected, accounted, fraction: acked / (expected - duplicate) };
}

describe('copier metrics', () => {
  test('per test server: sessions, packets and the payload identity, readable from the exposition', async () => {
    const sim = new Sim({
      config: {
        copies: 2,
        targets: [
          { matchIp: 0, matchPort: PROD_PORT, targetIp: TARGET_IP, targetPort: TARGET_PORT },
          { matchIp: 0, matchPort: PROD_PORT + 1, targetIp: OTHER_IP, targetPort: TARGET_PORT }, // nobody answers
        ],
      },
      target: { onFin: (conn, now) => sim.target.close(conn, now) },
    });
    const { metrics } = setUp(sim, 2);
    for (let k = 0; k < 3; k++) {
      const c = connect(sim, { port: 41000 + k });
      c.feed(c.data(bytes(2000)));
      c.feed(c.retransmission(0, 500));
      sim.settle();
      c.feed(c.fin());
    }
    const lost = new Client(sim, { port: 42000, dstPort: PROD_PORT + 1 });
    lost.feed(lost.syn());
    lost.feed(lost.data('never'));
    sim.run(2000);

    let e = parsePrometheusText(await metrics.text());
    const other = `203.0.113.77:${TARGET_PORT}`;
    assert.equal(e.value('tcpcopy_sessions_started_total', { target: TARGET }), 6);
    assert.equal(e.value('tcpcopy_sessions_established_total', { target: TARGET }), 6);
    assert.equal(e.value('tcpcopy_sessions_started_total', { target: other }), 2);
    assert.equal(e.value('tcpcopy_sessions_established_total', { target: other }), 0);
    assert.equal(e.value('tcpcopy_sessions_ended_total', { target: TARGET, reason: 'finished' }), 6);
    assert.equal(e.value('tcpcopy_copies'), 2);
    assert.equal(e.value('tcpcopy_payload_captured_bytes_total', { target: TARGET }), 3 * 2500);
    assert.equal(e.value('tcpcopy_payload_duplicate_bytes_total', { target: TARGET }), 2 * 3 * 500);
    for (const t of [TARGET, other]) {
      const { expected, accounted } = fromExposition(e, t);
      assert.equal(accounted, expected, t);
    }
    assert.equal(fromExposition(e, TARGET).fraction, 1);
    assert.equal(
      e.value('tcpcopy_payload_pending_bytes', { target: other }),
      2 * 5,
      'held by sessions still in SYN-SENT',
    );

    sim.run(10_000); // the silent target's sessions time out
    e = parsePrometheusText(await metrics.text());
    assert.equal(e.value('tcpcopy_sessions_ended_total', { target: other, reason: 'establish_timeout' }), 2);
    assert.equal(e.value('tcpcopy_payload_dropped_bytes_total', { target: other, reason: 'establish_timeout' }), 2 * 5);
    assert.equal(fromExposition(e, other).fraction, 0);
    assert.equal(e.value('tcpcopy_intercept_connections_ready', { intercept: '192.0.2.30:36524' }), 0);
    assert.equal(e.value('tcpcopy_intercept_replies_total', { intercept: '192.0.2.30:36524' }), 0);
  });

  test('every counter of the engine, the pipeline and the control links is exported', async () => {
    const sim = new Sim();
    const { metrics, pipeline, links } = setUp(sim, 1);
    // A distinct value per counter, far from anything else in the exposition.
    let next = 5_000_001;
    const expected = new Map<string, number>();
    const fill = (obj: Record<string, unknown>, path: string): void => {
      for (const [k, v] of Object.entries(obj)) {
        if (typeof v === 'number') {
          obj[k] = next;
          expected.set(`${path}.${k}`, next);
          next += 13;
        } else if (v !== null && typeof v === 'object') fill(v as Record<string, unknown>, `${path}.${k}`);
      }
    };
    // The engine-wide totals of per-target counters are exported per target (their sums).
    const perTarget = new Set([
      'clientPackets',
      'clientPayloadBytes',
      'payloadBytesAcked',
      'sessionsStarted',
      'sessionsEstablished',
      'sessionsEnded',
    ]);
    fill(sim.engine.counters as unknown as Record<string, unknown>, 'engine');
    for (const name of [...expected.keys()]) if (perTarget.has(name.split('.')[1]!)) expected.delete(name);
    fill(sim.engine.targetCounters[0] as unknown as Record<string, unknown>, 'target');
    fill(pipeline.counters as unknown as Record<string, unknown>, 'pipeline');
    fill(links.counters as unknown as Record<string, unknown>, 'links');
    fill(links.perIntercept[0] as unknown as Record<string, unknown>, 'intercept');
    // The copy's lag is computed afresh at each scrape (checked in lifecycle.test.ts).
    expected.delete('target.copyLagMs');
    // Link counters that are about connections, not replies or routes, stay in the stats line only.
    for (const name of ['links.connects', 'links.disconnects', 'links.responseFrames']) expected.delete(name);
    const values = new Set(
      [...parsePrometheusText(await metrics.text()).families.values()].flatMap((f) => f.samples.map((s) => s.value)),
    );
    const missing = [...expected].filter(([, v]) => !values.has(v)).map(([name]) => name);
    assert.deepEqual(missing, [], 'counters missing from the metrics');
  });
});
