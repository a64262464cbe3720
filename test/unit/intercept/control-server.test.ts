// InterceptDaemon on loopback (127.0.0.1, port 0) with a fake packet source: real control
// sockets, no capture.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { setImmediate as turn } from 'node:timers/promises';
import {
  CONTROL_FRAME_HEADER_BYTES,
  CONTROL_MAX_HELLO_FRAME_BYTES,
  CONTROL_PROTOCOL_VERSION,
  ControlMessageType,
  DecodeStatus,
  ErrorCode,
  EtherType,
  LinkType,
  PacketIoError,
  TcpFlag,
  decodeIpv4,
  decodeTcp,
  encodeFrame,
  isTcpcopyError,
  newIpv4View,
  newTcpView,
} from '@tcpcopy/common';
import { wrapLink } from '@tcpcopy/common/testing';
import { replyHeaders, replyPacket, routesBuffer, type ReplySpec } from '../control/fixtures.js';
import { FakeSource, TestCopier, eventually, startDaemon, type Harness } from './daemon-helpers.js';

// replyPacket's defaults: the target 10.0.0.2:8000 answering the fake client 10.9.0.1:40000.
const CLIENT_IP = 0x0a090001;
const TARGET_IP = 0x0a000002;
const TARGET_PORT = 8000;
const routeAdd = (clientPort = 40000) =>
  ({
    type: ControlMessageType.RouteAdd,
    routes: routesBuffer([[CLIENT_IP, clientPort, TARGET_IP, TARGET_PORT]]),
  }) as const;
const routeDel = (clientPort = 40000) =>
  ({
    type: ControlMessageType.RouteDel,
    routes: routesBuffer([[CLIENT_IP, clientPort, TARGET_IP, TARGET_PORT]]),
  }) as const;
const ack = (seq: number, dstPort = 40000): ReplySpec => ({
  seq,
  dstPort,
  flags: TcpFlag.ACK | TcpFlag.PSH,
  payloadLength: 100,
});

/** The daemon's id for a client's connection (its peer label is the client's local address). */
function connOf(h: Harness, c: TestCopier): number {
  const info = h.daemon.server.peerInfo().find((p) => p.peer === `127.0.0.1:${c.socket.localPort}`);
  assert.ok(info, 'connection not known to the daemon');
  return info.conn;
}

describe('InterceptDaemon control server', { timeout: 60_000 }, () => {
  test('answers a copier hello with its own', async (t) => {
    const h = await startDaemon(t);
    const c = await TestCopier.ready(t, h.port);
    assert.deepEqual(
      { ...c.hello },
      {
        type: ControlMessageType.Hello,
        version: CONTROL_PROTOCOL_VERSION,
        role: 'intercept',
        instanceId: 'test:1',
        software: 'intercept test',
      },
    );
    assert.equal(h.daemon.server.counters.ready, 1);
  });

  test('a reply on a registered route reaches the copier as its header record, payload stripped', async (t) => {
    const h = await startDaemon(t);
    const c = await TestCopier.ready(t, h.port);
    c.send(routeAdd());
    await c.sync();
    assert.equal(h.daemon.core.routes.size, 1);

    const spec = ack(123456);
    const sentAt = performance.now();
    h.source.emit(replyPacket(spec));
    const [record] = await c.waitForRecords(1);
    const latencyMs = performance.now() - sentAt;
    assert.deepEqual(record, replyHeaders(spec));
    const ip = newIpv4View();
    const tcp = newTcpView();
    assert.equal(decodeIpv4(record!, 0, record!.length, ip), DecodeStatus.Ok);
    assert.equal(decodeTcp(record!, ip, tcp), DecodeStatus.Ok);
    assert.deepEqual(
      {
        src: ip.src,
        dst: ip.dst,
        srcPort: tcp.srcPort,
        dstPort: tcp.dstPort,
        seq: tcp.seq,
        flags: tcp.flags,
        payloadLength: tcp.payloadLength,
      },
      {
        src: TARGET_IP,
        dst: CLIENT_IP,
        srcPort: TARGET_PORT,
        dstPort: 40000,
        seq: 123456,
        flags: TcpFlag.ACK | TcpFlag.PSH,
        payloadLength: 100,
      },
    );
    assert.ok(latencyMs < 100, `a lone record took ${latencyMs.toFixed(1)} ms`);
    const stats = h.daemon.stats();
    assert.equal(stats.replies.routed, 1);
    assert.equal(stats.sent.recordsSent, 1);
    assert.equal(stats.connections[0]?.routed, 1);
    assert.equal(stats.connections[0]?.routes, 1);
  });

  test('replies leave in capture order, batched, on every link type the capture may deliver', async (t) => {
    const h = await startDaemon(t);
    const c = await TestCopier.ready(t, h.port);
    c.send(routeAdd());
    await c.sync();
    const specs = [LinkType.Ethernet, LinkType.LinuxSll2, LinkType.LinuxSll, LinkType.Raw].map((_, i) => ack(i + 1));
    [LinkType.Ethernet, LinkType.LinuxSll2, LinkType.LinuxSll, LinkType.Raw].forEach((lt, i) =>
      h.source.emit(replyPacket(specs[i]), lt),
    );
    assert.deepEqual(
      await c.waitForRecords(4),
      specs.map((s) => replyHeaders(s)),
    );
    assert.equal(h.daemon.core.counters.framesSent, 1, 'records of one burst share a frame');
  });

  test('a SYN-ACK captured before its routeAdd is parked, then delivered ahead of later replies', async (t) => {
    const h = await startDaemon(t);
    const c = await TestCopier.ready(t, h.port);
    const synAck: ReplySpec = { seq: 7000, flags: TcpFlag.SYN | TcpFlag.ACK, tcpOptionWords: 5 };
    h.source.emit(replyPacket(synAck));
    assert.equal(h.daemon.stats().replies.parked, 1);
    assert.equal(h.daemon.stats().parkedNow, 1);
    c.send(routeAdd());
    await c.sync();
    h.source.emit(replyPacket(ack(7001)));
    assert.deepEqual(await c.waitForRecords(2), [replyHeaders(synAck), replyHeaders(ack(7001))]);
    assert.equal(h.daemon.stats().replies.released, 1);
    assert.equal(h.daemon.stats().parkedNow, 0);
  });

  test('routeDel and a closed connection delete routes; replies are then unroutable', async (t) => {
    const h = await startDaemon(t);
    const a = await TestCopier.ready(t, h.port);
    a.send(routeAdd(40000));
    a.send(routeAdd(40001));
    a.send(routeDel(40000));
    await a.sync();
    assert.equal(h.daemon.core.routes.size, 1);
    h.source.emit(replyPacket(ack(1, 40000)));
    assert.equal(h.daemon.stats().replies.unroutable, 1);

    a.socket.destroy();
    await eventually(() => h.daemon.core.routes.size === 0, 'routes of the closed connection to go');
    const stats = h.daemon.stats();
    assert.equal(stats.routes.routesDeleted, 1);
    assert.equal(stats.routes.routesClosed, 1);
    assert.equal(stats.control.open, 0);
    h.source.emit(replyPacket(ack(2, 40001)));
    assert.equal(h.daemon.stats().replies.unroutable, 2);
  });

  test('garbage, oversized, truncated and out-of-order input closes that connection only', async (t) => {
    const h = await startDaemon(t);
    const good = await TestCopier.ready(t, h.port);
    good.send(routeAdd());
    await good.sync();

    const hello = {
      type: ControlMessageType.Hello,
      version: 1,
      role: 'copier',
      instanceId: 'x',
      software: 'x',
    } as const;
    const malformedLength = Buffer.from([0, 0, 0, 3, 0xc1, 0xc1, 0xc1]); // 0xc1: never used in msgpack
    const tooLarge = Buffer.from([0x7f, 0xff, 0xff, 0xff]);
    // A legacy copier from before 2013 sent a route first, no version record.
    const preVersionLegacy = Buffer.from([0, 0, 0, 0, 0x9c, 0x40, 0, 1, 10, 0, 0, 2, 0x1f, 0x40]);
    const truncated = encodeFrame(hello).subarray(0, CONTROL_FRAME_HEADER_BYTES + 5);
    const cases: { name: string; bytes: Buffer[]; end?: boolean; code: string }[] = [
      { name: 'garbage payload', bytes: [malformedLength], code: ErrorCode.CONTROL_MALFORMED },
      { name: 'oversized length', bytes: [tooLarge], code: ErrorCode.CONTROL_FRAME_TOO_LARGE },
      // Before its hello a peer may not make us buffer more than a hello's worth (64 KiB here).
      { name: 'large frame before hello', bytes: [Buffer.from([0, 1, 0, 0])], code: ErrorCode.CONTROL_FRAME_TOO_LARGE },
      { name: 'legacy peer without a version record', bytes: [preVersionLegacy], code: ErrorCode.CONTROL_VERSION },
      { name: 'truncated frame', bytes: [truncated], end: true, code: ErrorCode.CONTROL_MALFORMED },
      { name: 'route before hello', bytes: [encodeFrame(routeAdd(40002))], code: ErrorCode.CONTROL_UNEXPECTED },
      {
        name: 'hello from an intercept',
        bytes: [encodeFrame({ ...hello, role: 'intercept' })],
        code: ErrorCode.CONTROL_UNEXPECTED,
      },
      { name: 'second hello', bytes: [encodeFrame(hello), encodeFrame(hello)], code: ErrorCode.CONTROL_UNEXPECTED },
      {
        name: 'garbage after a good hello',
        bytes: [encodeFrame(hello), malformedLength, encodeFrame(routeAdd(40003))],
        code: ErrorCode.CONTROL_MALFORMED,
      },
    ];
    const expected: Record<string, number> = {};
    for (const k of cases) {
      const bad = await TestCopier.connect(t, h.port);
      bad.socket.write(Buffer.concat(k.bytes));
      if (k.end === true) bad.socket.end();
      await bad.waitClosed();
      expected[k.code] = (expected[k.code] ?? 0) + 1;
      assert.deepEqual({ ...h.daemon.server.counters.rejected }, expected, k.name);
      assert.ok(
        h.logs.some((l) => l.includes(k.code)),
        `${k.name}: ${k.code} logged`,
      );
    }
    assert.equal(h.daemon.core.routes.size, 1, 'no bad connection added a route');

    h.source.emit(replyPacket(ack(42)));
    assert.deepEqual(await good.waitForRecords(1), [replyHeaders(ack(42))]);
    assert.equal(h.daemon.stats().control.open, 1);
  });

  test('after the hello, frames up to the full limit are accepted (a batch of 1,000 routes)', async (t) => {
    const h = await startDaemon(t);
    const c = await TestCopier.ready(t, h.port);
    const routes = routesBuffer(
      Array.from(
        { length: 1000 },
        (_, i) => [CLIENT_IP, 20000 + i, TARGET_IP, TARGET_PORT] as [number, number, number, number],
      ),
    );
    assert.ok(routes.length > CONTROL_MAX_HELLO_FRAME_BYTES);
    c.send({ type: ControlMessageType.RouteAdd, routes });
    await c.sync();
    assert.equal(h.daemon.core.routes.size, 1000);
  });

  test('a copier that never sends its hello is closed after the hello timeout', async (t) => {
    const h = await startDaemon(t, { helloTimeoutMs: 50 });
    const silent = await TestCopier.connect(t, h.port);
    await silent.waitClosed();
    assert.equal(h.daemon.server.counters.helloTimeouts, 1);
    const ready = await TestCopier.ready(t, h.port);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(ready.socket.destroyed, false, 'the hello cancels the timeout');
  });

  test('a copier that never reads loses records (counted) while another keeps receiving all of its own', async (t) => {
    const highWaterBytes = 64 * 1024;
    const h = await startDaemon(t, { core: { batcher: { highWaterBytes } } });
    const slow = await TestCopier.ready(t, h.port);
    const fast = await TestCopier.ready(t, h.port);
    slow.send(routeAdd(40001));
    fast.send(routeAdd(40000));
    await slow.sync();
    await fast.sync();
    slow.socket.pause();
    const slowConn = connOf(h, slow);

    const fastPacket = replyPacket(ack(1, 40000));
    const slowPacket = replyPacket(ack(1, 40001));
    let sentToFast = 0;
    for (
      let round = 0;
      round < 400 && (h.daemon.core.connectionCounters(slowConn)?.droppedBackpressure ?? 0) === 0;
      round++
    ) {
      for (let i = 0; i < 1000; i++) {
        h.source.emit(slowPacket);
        h.source.emit(fastPacket);
        sentToFast++;
      }
      await turn();
    }
    const slowCounters = h.daemon.core.connectionCounters(slowConn);
    assert.ok((slowCounters?.droppedBackpressure ?? 0) > 0, 'the slow connection never reached its high-water mark');
    assert.ok(
      h.daemon.server.pendingBytes(slowConn) > highWaterBytes,
      'its output is bounded by dropping, not by blocking',
    );
    const records = await fast.waitForRecords(sentToFast, 10_000);
    assert.equal(records.length, sentToFast);
    assert.equal(h.daemon.stats().replies.droppedBackpressure, slowCounters?.droppedBackpressure);
  });

  test('frames that are not IPv4/TCP are counted by reason; replies without a route are counted', async (t) => {
    const h = await startDaemon(t);
    const udpLike = replyPacket();
    udpLike[9] = 17; // IPv4 protocol field: UDP
    h.source.emit(udpLike);
    h.source.emitFrame(wrapLink(LinkType.Ethernet, replyPacket(), { etherType: EtherType.Ipv6 }), LinkType.Ethernet);
    h.source.emit(replyPacket(), LinkType.Ethernet, 30); // cut inside the TCP header
    h.source.emit(replyPacket({ payloadLength: 1000 }), LinkType.Ethernet, 900); // cut in the payload: fine
    const { capture, replies } = h.daemon.stats();
    assert.deepEqual(capture, {
      received: 4,
      truncated: 0,
      decodeFailures: { 'not TCP': 1, 'not IPv4': 1, truncated: 1 },
    });
    assert.equal(replies.repliesCaptured, 1);
    assert.equal(replies.unroutable, 1);
  });

  test('a reply leaves in the turn of the event loop that captured it', async (t) => {
    const h = await startDaemon(t);
    const c = await TestCopier.ready(t, h.port);
    c.send(routeAdd());
    await c.sync();
    const started = performance.now();
    h.source.emit(replyPacket(ack(8)));
    assert.equal(h.daemon.stats().sent.recordsSent, 0, 'batched while the capture may deliver more');
    await new Promise((r) => setImmediate(r));
    assert.equal(h.daemon.stats().sent.recordsSent, 1, 'sent at the end of the same turn, no timer');
    await c.waitForRecords(1);
    assert.ok(performance.now() - started < 100);
    assert.deepEqual(c.records(), [replyHeaders(ack(8))]);
  });

  test('stop() sends what is batched, closes the connections and stops the capture', async (t) => {
    const h = await startDaemon(t);
    const c = await TestCopier.ready(t, h.port);
    c.send(routeAdd());
    await c.sync();
    h.source.emit(replyPacket(ack(9)));
    assert.equal(h.daemon.stats().sent.recordsSent, 0, 'held in its batch until the end of this turn');
    const started = performance.now();
    await h.daemon.stop();
    assert.ok(performance.now() - started < 500);
    await c.waitClosed();
    assert.deepEqual(c.records(), [replyHeaders(ack(9))]);
    assert.equal(h.source.stopped, 1);
    await assert.rejects(TestCopier.connect(t, h.port), /ECONNREFUSED/);
  });

  test('a port already in use: LISTEN error, capture never started', async (t) => {
    const first = await startDaemon(t);
    const source = new FakeSource();
    await assert.rejects(startDaemon(t, { port: first.port, source }), (err) => isTcpcopyError(err, ErrorCode.LISTEN));
    assert.equal(source.started, 0);
  });

  test('a capture that cannot start: its error, and the control port is released', async (t) => {
    const probe = createServer();
    const port = await new Promise<number>((resolve) =>
      probe.listen(0, '127.0.0.1', () => resolve((probe.address() as { port: number }).port)),
    );
    await new Promise((r) => probe.close(r));
    const failure = new PacketIoError(ErrorCode.FILTER, 'cannot compile');
    await assert.rejects(startDaemon(t, { port, source: new FakeSource(failure) }), failure);
    const again = await startDaemon(t, { port });
    assert.equal(again.port, port);
  });
});
