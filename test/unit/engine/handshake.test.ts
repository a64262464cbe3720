import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TcpFlag } from '@tcpcopy/common';
import { buildTcpPacket } from '@tcpcopy/common/testing';
import { seqAdd } from '@tcpcopy/copier';
import { CLIENT_IP, Client, PROD_IP, Sim, TARGET_IP, TARGET_PORT, assertChecksums, bytes, connect } from './harness.js';
import { decodePacket, isPureAck, isSyn } from './packets.js';

describe('engine: handshake with a captured SYN', () => {
  test('route is added before the SYN; the SYN keeps its options and goes to the target from the client address', () => {
    const sim = new Sim();
    const c = new Client(sim, { port: 41000, windowScale: 7, timestamps: true, mss: 1400 });
    assert.equal(c.feed(c.syn()), true);
    const events = sim.host.events;
    assert.equal(events.length, 2);
    assert.equal(events[0]!.kind, 'routeAdd');
    assert.equal(events[1]!.kind, 'inject');
    const tuple = sim.host.routeAdds[0]!;
    assert.deepEqual(tuple, { srcIp: CLIENT_IP, srcPort: 41000, dstIp: TARGET_IP, dstPort: TARGET_PORT });
    const syn = sim.injected()[0]!;
    assert.ok(isSyn(syn));
    assert.equal(syn.src, CLIENT_IP);
    assert.equal(syn.srcPort, 41000);
    assert.equal(syn.dst, TARGET_IP);
    assert.equal(syn.dstPort, TARGET_PORT);
    assert.equal(syn.seq, c.isn, 'the client ISN is never translated');
    assert.equal(syn.mss, 1400);
    assert.equal(syn.windowScale, 7);
    assert.equal(syn.sackPermitted, true);
    assert.ok(syn.ts !== undefined);
    assert.equal(syn.window, 64240);
    assertChecksums(sim);
  });

  test('after the SYN-ACK: a third ACK acking target ISN + 1, then data acked in the target space', () => {
    const sim = new Sim({ target: { isn: () => 0xfffffff0 } });
    const c = new Client(sim, { timestamps: true, windowScale: 7 });
    c.feed(c.syn());
    sim.run(1);
    c.feed(c.pureAck());
    sim.settle();
    const conn = sim.target.only();
    assert.equal(conn.state, 'established');
    const third = sim.injected()[1]!;
    assert.ok(isPureAck(third), 'a pure ACK completes the handshake');
    assert.equal(third.seq, seqAdd(c.isn, 1));
    assert.equal(third.ack, seqAdd(0xfffffff0, 1));
    assert.equal(sim.injected().length, 2, 'the captured third ACK itself is not forwarded');

    c.feed(c.data('GET / HTTP/1.1\r\n\r\n'));
    sim.settle();
    const data = sim.injected()[2]!;
    assert.equal(data.payload.toString(), 'GET / HTTP/1.1\r\n\r\n');
    assert.equal(data.seq, seqAdd(c.isn, 1));
    assert.equal(data.ack, seqAdd(0xfffffff0, 1), 'ack translated to the target sequence space');
    assert.equal(conn.received.toString(), 'GET / HTTP/1.1\r\n\r\n');

    // A response across the 2^32 wrap: the next request acks what the target sent.
    sim.target.respond(conn, bytes(300), sim.now);
    sim.settle();
    c.feed(c.data('next', 300));
    sim.settle();
    const next = sim.injected().find((p) => p.payload.toString() === 'next')!;
    assert.equal(next.ack, seqAdd(0xfffffff0, 301));
    assert.equal(conn.received.toString(), 'GET / HTTP/1.1\r\n\r\nnext');
    assertChecksums(sim);
    assert.deepEqual(sim.target.badPackets, []);
  });

  test('a retransmitted client SYN is not forwarded again; the handshake still completes once', () => {
    const sim = new Sim();
    const c = new Client(sim);
    const syn = c.syn();
    c.feed(syn);
    c.feed(syn);
    sim.settle();
    assert.equal(sim.injected().filter(isSyn).length, 1);
    assert.equal(sim.host.routeAdds.length, 1);
    assert.equal(sim.engine.counters.sessionsStarted, 1);
    assert.equal(sim.engine.counters.sessionsEstablished, 1);
  });

  test('a new SYN with another ISN on the same client port: the old session still finishes, the new one gets its own tuple', () => {
    const sim = new Sim({ latencyMs: 20 });
    const c1 = connect(sim, { port: 42000, isn: 1000 });
    c1.feed(c1.data('one'));
    // The client reuses the port before the copier has replayed 'one' (it lags under load).
    const c2 = new Client(sim, { port: 42000, isn: 900_000 });
    c2.feed(c2.syn());
    sim.settle();
    c2.feed(c2.pureAck());
    c2.feed(c2.data('two'));
    sim.settle();
    assert.equal(sim.engine.counters.clientPortReuses, 1);
    assert.equal(sim.target.accepted.length, 2);
    const [a, b] = sim.target.accepted;
    assert.equal(a!.received.toString(), 'one', 'the old session delivered what was captured for it');
    assert.equal(a!.resetByPeer, false, 'the old connection is not cut short');
    assert.equal(b!.received.toString(), 'two');
    assert.notEqual(a!.clientPort, b!.clientPort, 'the live tuple is not reused');
  });

  test('data captured before the SYN-ACK waits for the handshake', () => {
    const sim = new Sim({ latencyMs: 20 });
    const c = new Client(sim);
    c.feed(c.syn());
    c.feed(c.pureAck());
    c.feed(c.data('early'));
    assert.equal(sim.injected().length, 1, 'only the SYN before the SYN-ACK');
    sim.settle();
    const inj = sim.injected();
    assert.ok(isPureAck(inj[1]!));
    assert.equal(inj[2]!.payload.toString(), 'early');
    assert.equal(sim.target.only().received.toString(), 'early');
  });

  test('a SYN carrying data (TCP Fast Open): the data reaches a target that did not accept it in the SYN', () => {
    const sim = new Sim();
    const c = new Client(sim);
    const syn = buildTcpPacket({
      src: c.ip,
      dst: c.dstIp,
      srcPort: c.port,
      dstPort: c.dstPort,
      seq: c.isn,
      ack: 0,
      flags: TcpFlag.SYN,
      window: 64240,
      options: { mss: 1460 },
      payload: Buffer.from('GET /tfo'),
    });
    c.feed(syn);
    c.seq = seqAdd(c.isn, 1 + 8);
    sim.run(1);
    c.feed(c.pureAck());
    sim.run(5000);
    assert.equal(sim.target.only().received.toString(), 'GET /tfo');
    assert.equal(sim.engine.counters.sessionsEnded.retransmit_limit, 0);
  });

  test('not our target: packets to other ports are not claimed', () => {
    const sim = new Sim();
    const c = new Client(sim, { dstPort: 9999 });
    assert.equal(c.feed(c.syn()), false);
    assert.equal(sim.injected().length, 0);
    assert.equal(sim.engine.counters.clientPackets, 0);
  });

  test('-x with an IP matches only that production address', () => {
    const sim = new Sim({
      config: { targets: [{ matchIp: PROD_IP, matchPort: 8000, targetIp: TARGET_IP, targetPort: TARGET_PORT }] },
    });
    const other = new Client(sim, { dstIp: PROD_IP + 1, port: 1 });
    assert.equal(other.feed(other.syn()), false);
    const c = new Client(sim, { port: 2 });
    assert.equal(c.feed(c.syn()), true);
  });

  test('a truncated capture (snaplen) is counted and not forwarded', () => {
    const sim = new Sim();
    const c = connect(sim);
    const before = sim.injected().length;
    assert.equal(sim.client(c.data(bytes(500)), 100), true);
    sim.settle();
    assert.equal(sim.injected().length, before);
    assert.equal(sim.engine.counters.truncatedPackets, 1);
  });
});

describe('engine: the test server restarts the handshake (SYN cookies)', () => {
  test('a SYN-ACK with a new ISN replaces a cookie SYN-ACK the server no longer honours', () => {
    const COOKIE_ISN = 0x0badc0de;
    const sim = new Sim({ target: { isn: () => 0x12345678 } });
    // The server's real SYN-ACK reaches the copier late, after the copier's SYN retransmission.
    sim.toEngine = (p) => ((p.flags & TcpFlag.SYN) !== 0 ? [300] : [0]);
    // What was seen in the lab: the server silently ignores packets acking its cookie ISN.
    sim.toTarget = (p) => (p.ack === seqAdd(COOKIE_ISN, 1) && (p.flags & TcpFlag.ACK) !== 0 ? [] : [0]);
    const c = new Client(sim, { timestamps: true });
    c.feed(c.syn());
    sim.run(250);
    // The server's first answer was a cookie: it keeps no state for it.
    const cookie = buildTcpPacket({
      src: TARGET_IP,
      dst: CLIENT_IP,
      srcPort: TARGET_PORT,
      dstPort: c.port,
      seq: COOKIE_ISN,
      ack: seqAdd(c.isn, 1),
      flags: TcpFlag.SYN | TcpFlag.ACK,
      window: 65160,
      options: { mss: 1460, timestamps: { val: 1, ecr: 0 } },
    });
    sim.targetRecord(decodePacket(cookie, sim.now));
    c.feed(c.pureAck());
    c.feed(c.data('GET / HTTP/1.1\r\n\r\n'));
    sim.settle();
    assert.equal(sim.engine.counters.handshakesRestarted, 1);
    assert.equal(sim.target.only().state, 'established');
    assert.equal(sim.target.only().received.toString(), 'GET / HTTP/1.1\r\n\r\n', sim.describeAll());
  });
});
