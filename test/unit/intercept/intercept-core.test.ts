import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TcpFlag } from '@tcpcopy/common';
import { InterceptCore, PARKING_TTL_MS, ReplyOutcome, type InterceptCoreOptions } from '@tcpcopy/intercept';
import { routesBuffer } from '../control/fixtures.js';
import { RecordingTransport, captured, expectedRecord, type Captured } from './helpers.js';

// replyPacket's defaults: target 10.0.0.2:8000 answering the fake client 10.9.0.1:40000.
const CLIENT_IP = 0x0a090001;
const TARGET_IP = 0x0a000002;
const route = (clientPort = 40000): Buffer => routesBuffer([[CLIENT_IP, clientPort, TARGET_IP, 8000]]);
const ack = (seq: number, dstPort = 40000): Captured =>
  captured({ seq, dstPort, flags: TcpFlag.ACK, payloadLength: 100 });
const synAck = (seq: number): Captured => captured({ seq, flags: TcpFlag.SYN | TcpFlag.ACK, tcpOptionWords: 5 });
const rst = (seq: number): Captured => captured({ seq, flags: TcpFlag.RST });

function setup(options: InterceptCoreOptions = {}): { core: InterceptCore; net: RecordingTransport } {
  const net = new RecordingTransport();
  return { core: new InterceptCore(net, options), net };
}

const reply = (core: InterceptCore, c: Captured, nowMs: number): ReplyOutcome =>
  core.onReply(c.buf, c.ip, c.tcp, nowMs);

describe('InterceptCore routing', () => {
  test('a routed reply waits in its batch, then leaves as a header record (payload stripped)', () => {
    const { core, net } = setup();
    core.onRouteAdd(7, route(), 0);
    const r = ack(1);
    assert.equal(reply(core, r, 100), ReplyOutcome.Routed);
    core.tick(100_000);
    assert.equal(net.sent.length, 0, 'time alone sends nothing');
    assert.equal(core.flushWaiting(), 1);
    assert.equal(core.flushWaiting(), 0);
    assert.deepEqual(net.recordsTo(7), [expectedRecord(r)]);
    assert.equal(expectedRecord(r).readUInt16BE(2), 140, 'total length kept: 40 bytes of headers + 100 of payload');
    assert.equal(core.counters.repliesCaptured, 1);
    assert.equal(core.counters.routed, 1);
    assert.equal(core.counters.framesSent, 1);
    assert.equal(core.counters.recordsSent, 1);
    assert.equal(core.counters.bytesSent, net.sent[0]!.frame.length);
    assert.deepEqual(core.connectionCounters(7), {
      routesAdded: 1,
      routesRebound: 0,
      routesDeleted: 0,
      routed: 1,
      released: 0,
      droppedBackpressure: 0,
      merged: 0,
      framesSent: 1,
      recordsSent: 1,
      bytesSent: net.sent[0]!.frame.length,
      payloadBytesSent: 0,
    });
  });

  test('replies of different flows go to the connections that added them, in order', () => {
    const { core, net } = setup();
    core.onRouteAdd(1, route(40000), 0);
    core.onRouteAdd(2, route(40001), 0);
    const replies = [ack(1, 40000), ack(2, 40001), ack(3, 40000)];
    for (const r of replies) reply(core, r, 0);
    core.flushWaiting();
    assert.deepEqual(net.recordsTo(1), [expectedRecord(replies[0]!), expectedRecord(replies[2]!)]);
    assert.deepEqual(net.recordsTo(2), [expectedRecord(replies[1]!)]);
  });

  test('rebinding: the latest routeAdd takes the flow over', () => {
    const { core, net } = setup();
    core.onRouteAdd(1, route(), 0);
    core.onRouteAdd(2, route(), 1);
    reply(core, ack(1), 1);
    core.flushWaiting();
    assert.equal(net.recordsTo(1).length, 0);
    assert.equal(net.recordsTo(2).length, 1);
    assert.equal(core.counters.routesRebound, 1);
    assert.equal(core.connectionCounters(2)?.routesRebound, 1);
    assert.equal(core.routes.routesOf(1), 0);
  });

  test('routeDel removes the route, but only from the connection holding it', () => {
    const { core } = setup();
    core.onRouteAdd(1, route(), 0);
    core.onRouteDel(2, route());
    assert.equal(core.counters.routeDelIgnored, 1);
    assert.equal(reply(core, ack(1), 0), ReplyOutcome.Routed);
    core.onRouteDel(1, route());
    assert.equal(core.counters.routesDeleted, 1);
    assert.equal(reply(core, ack(2), 0), ReplyOutcome.Unroutable);
    assert.equal(core.counters.unroutable, 1);
  });

  test('a closed connection loses its routes and its waiting records', () => {
    const { core, net } = setup();
    core.onRouteAdd(
      1,
      routesBuffer([
        [CLIENT_IP, 40000, TARGET_IP, 8000],
        [CLIENT_IP, 40001, TARGET_IP, 8000],
      ]),
      0,
    );
    reply(core, ack(1), 0);
    reply(core, ack(2), 0);
    const final = core.onConnectionClosed(1);
    assert.equal(final?.routed, 2);
    assert.equal(core.connectionCounters(1), undefined);
    assert.equal(core.counters.routesClosed, 2);
    assert.equal(core.counters.droppedOnClose, 2);
    assert.equal(core.routes.size, 0);
    core.flushWaiting();
    assert.equal(net.sent.length, 0);
    assert.equal(reply(core, ack(3), 10), ReplyOutcome.Unroutable);
  });

  test('idle routes expire through tick', () => {
    const { core } = setup({ routeIdleTimeoutMs: 1000 });
    core.onRouteAdd(1, route(), 0);
    reply(core, ack(1), 500);
    core.tick(1499);
    assert.equal(core.routes.size, 1);
    core.tick(1500);
    assert.equal(core.routes.size, 0);
    assert.equal(core.counters.routesExpired, 1);
  });
});

describe('InterceptCore parking', () => {
  test('SYN-ACK and RST without a route are parked, other replies are unroutable', () => {
    const { core } = setup();
    assert.equal(reply(core, synAck(1), 0), ReplyOutcome.Parked);
    assert.equal(reply(core, rst(2), 0), ReplyOutcome.Parked);
    assert.equal(reply(core, ack(3), 0), ReplyOutcome.Unroutable);
    assert.equal(core.counters.parked, 2);
    assert.equal(core.counters.unroutable, 1);
    assert.equal(core.parking.size, 2);
  });

  test('routeAdd releases the parked replies to the new connection, in order, before newer ones', () => {
    const { core, net } = setup();
    const parked = [synAck(1), synAck(1), rst(2)];
    for (const [i, r] of parked.entries()) reply(core, r, i);
    core.onRouteAdd(4, route(), 10);
    const later = ack(3);
    reply(core, later, 10);
    core.flushWaiting();
    assert.deepEqual(net.recordsTo(4), [...parked, later].map(expectedRecord));
    assert.equal(core.counters.released, 3);
    assert.equal(core.connectionCounters(4)?.released, 3);
    assert.equal(core.parking.size, 0);
  });

  test('a parked reply is copied: reusing the capture buffer does not change it', () => {
    const { core, net } = setup();
    const r = synAck(1);
    const before = Buffer.from(expectedRecord(r));
    reply(core, r, 0);
    r.buf.fill(0);
    core.onRouteAdd(1, route(), 1);
    core.flushWaiting();
    assert.deepEqual(net.recordsTo(1), [before]);
  });

  test('parked replies expire after 30 s and are not released afterwards', () => {
    const { core, net } = setup();
    reply(core, synAck(1), 0);
    reply(core, synAck(2), 5000);
    core.tick(PARKING_TTL_MS - 1);
    assert.equal(core.counters.parkedExpired, 0);
    core.tick(PARKING_TTL_MS);
    assert.equal(core.counters.parkedExpired, 1);
    core.onRouteAdd(1, route(), PARKING_TTL_MS + 1);
    core.flushWaiting();
    assert.equal(net.recordsTo(1).length, 1);
    assert.equal(net.recordsTo(1)[0]!.readUInt32BE(24), 2, 'the younger SYN-ACK (seq 2) survived');
  });

  test('the lot is bounded: overflow drops the oldest and counts it', () => {
    const { core } = setup({ parkingMaxRecords: 2 });
    for (let i = 0; i < 5; i++) reply(core, synAck(i), 0);
    assert.equal(core.parking.size, 2);
    assert.equal(core.counters.parkedOverflow, 3);
  });
});

describe('InterceptCore batching and backpressure', () => {
  test('a full batch leaves at once, without waiting for tick', () => {
    const { core, net } = setup({ batcher: { maxRecords: 3 } });
    core.onRouteAdd(1, route(), 0);
    for (let i = 0; i < 7; i++) reply(core, ack(i), 0);
    assert.equal(net.sent.length, 2);
    assert.equal(core.counters.recordsSent, 6);
    core.flushWaiting();
    assert.equal(net.sent.length, 3);
    assert.equal(net.recordsTo(1).length, 7);
  });

  test('releases that fill a batch flush it too', () => {
    const { core, net } = setup({ batcher: { maxRecords: 2 } });
    for (let i = 0; i < 3; i++) reply(core, synAck(i), 0);
    core.onRouteAdd(1, route(), 0);
    assert.equal(net.sent.length, 1);
    core.flushWaiting();
    assert.equal(net.recordsTo(1).length, 3);
  });

  test('a connection above the high-water mark has replies dropped and counted; others flow', () => {
    const { core, net } = setup({ batcher: { highWaterBytes: 1000 } });
    core.onRouteAdd(1, route(40000), 0);
    core.onRouteAdd(2, route(40001), 0);
    net.pending.set(1, 1001);
    assert.equal(reply(core, ack(1, 40000), 0), ReplyOutcome.DroppedBackpressure);
    assert.equal(reply(core, ack(2, 40001), 0), ReplyOutcome.Routed);
    assert.equal(core.counters.droppedBackpressure, 1);
    assert.equal(core.connectionCounters(1)?.droppedBackpressure, 1);
    assert.equal(core.counters.routed, 1);
    net.pending.set(1, 0);
    assert.equal(reply(core, ack(3, 40000), 0), ReplyOutcome.Routed);
    core.flushWaiting();
    assert.equal(net.recordsTo(1).length, 1);
    assert.equal(net.recordsTo(2).length, 1);
  });

  test('parked replies released to a congested connection are dropped, not counted as released', () => {
    const { core, net } = setup({ batcher: { highWaterBytes: 10 } });
    reply(core, synAck(1), 0);
    net.pending.set(1, 11);
    core.onRouteAdd(1, route(), 0);
    assert.equal(core.counters.released, 0);
    assert.equal(core.counters.droppedBackpressure, 1);
    assert.equal(core.parking.size, 0);
  });
});
