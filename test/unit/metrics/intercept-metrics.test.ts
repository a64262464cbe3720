/**
 * intercept's metrics on a real InterceptDaemon (loopback control socket, fake capture): the
 * exposition says what the stats line says, per copier connection too, and covers every counter.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ControlMessageType, TcpFlag } from '@tcpcopy/common';
import { MetricsRegistry } from '@tcpcopy/common/metrics';
import { registerInterceptMetrics } from '@tcpcopy/intercept';
import { replyPacket, routesBuffer, type ReplySpec } from '../control/fixtures.js';
import { TestCopier, eventually, startDaemon } from '../intercept/daemon-helpers.js';
import { parsePrometheusText, type Exposition } from './prom-text.js';

// replyPacket's defaults: the target 10.0.0.2:8000 answering the fake client 10.9.0.1:40000.
const CLIENT_IP = 0x0a090001;
const TARGET_IP = 0x0a000002;
const TARGET_PORT = 8000;
const routeAdd = (clientPort: number) =>
  ({
    type: ControlMessageType.RouteAdd,
    routes: routesBuffer([[CLIENT_IP, clientPort, TARGET_IP, TARGET_PORT]]),
  }) as const;
const ack = (seq: number, dstPort = 40000): ReplySpec => ({
  seq,
  dstPort,
  flags: TcpFlag.ACK | TcpFlag.PSH,
  payloadLength: 100,
});

async function scrape(metrics: MetricsRegistry): Promise<Exposition> {
  return parsePrometheusText(await metrics.text());
}

describe('intercept metrics', { timeout: 30_000 }, () => {
  test('replies captured, routed (per connection), parked, released, unroutable', async (t) => {
    const h = await startDaemon(t);
    const metrics = registerInterceptMetrics(new MetricsRegistry(), h.daemon);
    const a = await TestCopier.ready(t, h.port);
    const b = await TestCopier.ready(t, h.port);
    a.send(routeAdd(40000));
    await a.sync();
    b.send(routeAdd(40001));
    await b.sync();
    h.source.emit(replyPacket(ack(1, 40000)));
    h.source.emit(replyPacket(ack(2, 40000)));
    h.source.emit(replyPacket(ack(3, 40001)));
    h.source.emit(replyPacket(ack(4, 40002))); // no route: unroutable
    h.source.emit(replyPacket({ seq: 9, dstPort: 40003, flags: TcpFlag.SYN | TcpFlag.ACK })); // parked
    await a.waitForRecords(2);
    await b.waitForRecords(1);
    b.send(routeAdd(40003)); // releases the parked SYN-ACK to b
    await b.waitForRecords(2);

    const e = await scrape(metrics);
    assert.equal(e.value('intercept_replies_captured_total'), 5);
    assert.equal(e.value('intercept_replies_routed_total'), 3);
    assert.equal(e.value('intercept_replies_unroutable_total'), 1);
    assert.equal(e.value('intercept_replies_parked_total'), 1);
    assert.equal(e.value('intercept_replies_released_total'), 1);
    assert.equal(e.value('intercept_parked_replies'), 0);
    assert.equal(e.value('intercept_routes'), 3);
    assert.equal(e.value('intercept_records_sent_total'), 4);
    assert.equal(e.value('intercept_control_connections'), 2);
    assert.equal(e.value('intercept_capture_frames_total'), 5);
    assert.equal(e.sum('intercept_replies_dropped_total'), 0);
    assert.deepEqual(
      e
        .family('intercept_replies_dropped_total')
        .samples.map((s) => s.labels['reason'])
        .sort(),
      ['backpressure', 'connection_closed', 'parked_expired', 'parked_overflow'],
    );

    // Per connection: labelled with its number, its peer address and the copier's instance id.
    const peer = (c: TestCopier): string => `127.0.0.1:${c.socket.localPort}`;
    const routed = e.samples('intercept_connection_replies_routed_total');
    assert.equal(routed.length, 2);
    const ofA = routed.find((s) => s.labels['peer'] === peer(a));
    const ofB = routed.find((s) => s.labels['peer'] === peer(b));
    assert.equal(ofA?.value, 2);
    assert.equal(ofB?.value, 1);
    assert.equal(ofA?.labels['copier'], 'copier:1');
    assert.equal(e.value('intercept_connection_replies_released_total', ofB!.labels), 1);
    assert.equal(e.value('intercept_connection_routes', ofB!.labels), 2);
    assert.equal(e.value('intercept_connection_records_sent_total', ofA!.labels), 2);
    // The stats line reads the same counters.
    const stats = h.daemon.stats();
    assert.equal(stats.replies.routed, e.value('intercept_replies_routed_total'));
    assert.equal(stats.sent.bytesSent, e.value('intercept_sent_bytes_total'));

    // A closed connection's series go with it.
    a.socket.destroy();
    await eventually(() => h.daemon.server.connectionCount === 1, 'a to close');
    const after = await scrape(metrics);
    assert.deepEqual(
      after.samples('intercept_connection_replies_routed_total').map((s) => s.labels['peer']),
      [peer(b)],
    );
    assert.equal(after.value('intercept_routes_closed_total'), 1);
  });

  test('every counter of the core, the server and the capture is exported', async (t) => {
    const h = await startDaemon(t);
    const metrics = registerInterceptMetrics(new MetricsRegistry(), h.daemon);
    // A distinct value per daemon-wide counter, far from anything else in the exposition.
    let next = 7_000_001;
    const expected = new Map<string, number>();
    const fill = (obj: Record<string, unknown>, prefix: string): void => {
      for (const [k, v] of Object.entries(obj)) {
        if (typeof v !== 'number') continue;
        obj[k] = next;
        expected.set(`${prefix}.${k}`, next);
        next += 11;
      }
    };
    fill(h.daemon.core.counters as unknown as Record<string, unknown>, 'core');
    fill(h.daemon.server.counters as unknown as Record<string, unknown>, 'server');
    const values = new Set(
      [...(await scrape(metrics)).families.values()].flatMap((f) => f.samples.map((s) => s.value)),
    );
    const missing = [...expected].filter(([, v]) => !values.has(v)).map(([name]) => name);
    assert.deepEqual(missing, [], 'counters missing from the metrics');
  });
});
