/**
 * common/metrics.ts: metrics read plain counter objects at scrape time (nothing is pushed per
 * event), and serveMetrics serves them on loopback at /metrics only.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { ErrorCode, isTcpcopyError, parseIpv4 } from '@tcpcopy/common';
import { MetricsRegistry, serveMetrics } from '@tcpcopy/common/metrics';
import { parsePrometheusText } from './prom-text.js';

const LOOPBACK = parseIpv4('127.0.0.1')!;

function sampleRegistry(counters: { packets: number; ended: Record<string, number>; live: number }): MetricsRegistry {
  return new MetricsRegistry()
    .add({ name: 'test_packets_total', help: 'Packets.', kind: 'counter', read: (emit) => emit(counters.packets) })
    .add({ name: 'test_live', help: 'Live now.', kind: 'gauge', read: (emit) => emit(counters.live) })
    .addTable('test_ended_total', 'Ended, by reason.', 'reason', () => counters.ended);
}

async function get(
  port: number,
  path: string,
  method = 'GET',
): Promise<{ status: number; type: string | null; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { method });
  return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
}

describe('MetricsRegistry', () => {
  test('each scrape reads the counter objects as they are then', async () => {
    const counters = { packets: 0, ended: { finished: 0, 'odd "reason"\\': 0 }, live: 5 };
    const metrics = sampleRegistry(counters);
    let e = parsePrometheusText(await metrics.text());
    assert.equal(e.value('test_packets_total'), 0);
    assert.equal(e.family('test_packets_total').type, 'counter');
    assert.equal(e.family('test_live').type, 'gauge');
    assert.equal(e.value('test_live'), 5);
    counters.packets = 123_456_789_012;
    counters.ended.finished = 7;
    counters.ended['odd "reason"\\'] = 2;
    counters.live = 1;
    e = parsePrometheusText(await metrics.text());
    assert.equal(e.value('test_packets_total'), 123_456_789_012, 'replaced, not accumulated');
    assert.equal(e.value('test_ended_total', { reason: 'finished' }), 7);
    assert.equal(e.value('test_ended_total', { reason: 'odd "reason"\\' }), 2, 'label values escaped');
    assert.equal(e.value('test_live'), 1);
    // A second scrape without changes reads the same values (collect() replaces them).
    assert.equal(parsePrometheusText(await metrics.text()).value('test_packets_total'), 123_456_789_012);
  });

  test('labelled series that vanish from the source vanish from the exposition', async () => {
    const peers = new Map([
      ['a', 1],
      ['b', 2],
    ]);
    const metrics = new MetricsRegistry().add({
      name: 'test_peer_bytes_total',
      help: 'Per peer.',
      kind: 'counter',
      labels: ['peer'],
      read: (emit) => {
        for (const [peer, n] of peers) emit(n, { peer });
      },
    });
    assert.equal(parsePrometheusText(await metrics.text()).samples('test_peer_bytes_total').length, 2);
    peers.delete('a');
    const e = parsePrometheusText(await metrics.text());
    assert.deepEqual(
      e.samples('test_peer_bytes_total').map((s) => s.labels['peer']),
      ['b'],
    );
  });

  test('process metrics on request', async () => {
    const e = parsePrometheusText(await new MetricsRegistry({ processMetrics: true }).text());
    assert.ok(e.value('process_resident_memory_bytes') > 0);
    assert.ok(e.families.has('nodejs_eventloop_lag_seconds'));
  });
});

describe('serveMetrics', () => {
  test('serves the exposition at GET /metrics on the given address', async (t) => {
    const counters = { packets: 42, ended: { finished: 1 }, live: 0 };
    const server = await serveMetrics(sampleRegistry(counters), { host: LOOPBACK, port: 0 });
    t.after(() => server.close());
    assert.equal(server.address.address, '127.0.0.1');
    const { port } = server.address;
    const ok = await get(port, '/metrics');
    assert.equal(ok.status, 200);
    assert.match(ok.type ?? '', /^text\/plain; version=0\.0\.4/);
    assert.equal(parsePrometheusText(ok.body).value('test_packets_total'), 42);
    counters.packets = 43;
    assert.equal(parsePrometheusText((await get(port, '/metrics?x=1')).body).value('test_packets_total'), 43);
    assert.equal((await get(port, '/metrics', 'HEAD')).body, '');
    assert.equal((await get(port, '/')).status, 404);
    assert.equal((await get(port, '/metricsx')).status, 404);
    assert.equal((await get(port, '/metrics', 'POST')).status, 405);
  });

  test('a collector that throws answers 500 and the server goes on', async (t) => {
    let fail = true;
    const metrics = new MetricsRegistry().add({
      name: 'test_flaky',
      help: 'Throws once.',
      kind: 'gauge',
      read: (emit) => {
        if (fail) throw new Error('boom');
        emit(1);
      },
    });
    const server = await serveMetrics(metrics, { host: LOOPBACK, port: 0 });
    t.after(() => server.close());
    const bad = await get(server.address.port, '/metrics');
    assert.equal(bad.status, 500);
    assert.match(bad.body, /boom/);
    fail = false;
    assert.equal(parsePrometheusText((await get(server.address.port, '/metrics')).body).value('test_flaky'), 1);
  });

  test('a busy port is a RuntimeError with code TCPCOPY_ERR_LISTEN naming --metrics', async (t) => {
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    t.after(() => busy.close());
    const { port } = busy.address() as AddressInfo;
    await assert.rejects(serveMetrics(new MetricsRegistry(), { host: LOOPBACK, port }), (err: unknown) => {
      assert.ok(isTcpcopyError(err, ErrorCode.LISTEN));
      assert.match(err.message, new RegExp(`--metrics: cannot listen on 127\\.0\\.0\\.1:${port}: EADDRINUSE`));
      return true;
    });
  });

  test('close() ends open keep-alive connections too', async () => {
    const server = await serveMetrics(new MetricsRegistry(), { host: LOOPBACK, port: 0 });
    await get(server.address.port, '/metrics'); // fetch keeps the connection alive
    await server.close();
    await assert.rejects(get(server.address.port, '/metrics'));
  });
});
