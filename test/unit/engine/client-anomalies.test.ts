import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CAPTURE_LOSS_POLL_MS, GAP_TIMEOUT_MS, MAX_SESSION_SEGMENTS } from '@tcpcopy/copier';
import { TcpFlag, decodeIpv4, decodeTcp, newIpv4View, newTcpView } from '@tcpcopy/common';
import { buildTcpPacket } from '@tcpcopy/common/testing';
import { Sim, assertChecksums, bytes, connect } from './harness.js';
import { decodePacket, isRst, type Packet } from './packets.js';

const isData = (p: Packet): boolean => p.payload.length > 0;

describe('engine: what the capture gets wrong', () => {
  test('duplicated client segments (client retransmissions) are dropped', () => {
    const sim = new Sim();
    const c = connect(sim);
    const a = c.data(bytes(100, 1));
    c.feed(a);
    c.feed(a);
    sim.settle();
    c.feed(a);
    sim.settle();
    assert.equal(sim.injected().filter(isData).length, 1);
    assert.deepEqual(sim.target.only().received, c.stream);
    assert.equal(sim.engine.counters.clientRetransmissionsDropped, 2);
  });

  test('reordered client segments are reassembled', () => {
    const sim = new Sim();
    const c = connect(sim);
    const a = c.data(bytes(100, 1));
    const b = c.data(bytes(100, 2));
    const d = c.data(bytes(100, 3));
    c.feed(d);
    c.feed(a);
    sim.run(3);
    c.feed(b);
    sim.settle();
    assert.deepEqual(sim.target.only().received, c.stream);
    const sent = sim.injected().filter(isData);
    assert.deepEqual(
      sent.map((p) => p.seq),
      [...sent.map((p) => p.seq)].sort((x, y) => x - y),
      'sent in sequence order',
    );
  });

  test('a client retransmission re-segmented over new bytes: the new part gets through', () => {
    const sim = new Sim();
    const c = connect(sim);
    c.feed(c.data(bytes(100, 1)));
    c.data(bytes(100, 2)); // captured only as part of the retransmission below
    sim.settle();
    c.feed(c.retransmission(50, 150));
    c.feed(c.data(bytes(50, 3)));
    sim.settle();
    assert.deepEqual(sim.target.only().received, c.stream);
  });

  test('a capture gap: later segments wait, then the session ends (capture_gap) after GAP_TIMEOUT_MS', () => {
    const sim = new Sim({ config: { lingerMs: 1000 } });
    const c = connect(sim);
    c.feed(c.data('seen,'));
    sim.settle();
    c.data('never captured,');
    c.feed(c.data('after the gap'));
    const gapAt = sim.now;
    sim.run(GAP_TIMEOUT_MS - 10);
    const conn = sim.target.only();
    assert.equal(conn.received.toString(), 'seen,');
    assert.equal(sim.engine.counters.sessionsEnded.capture_gap, 0);
    sim.run(20);
    assert.equal(sim.engine.counters.sessionsEnded.capture_gap, 1);
    const rst = sim.injected().find(isRst)!;
    assert.equal(rst.at, gapAt + GAP_TIMEOUT_MS);
    sim.settle();
    assert.equal(conn.resetByPeer, true);
    assert.equal(conn.received.toString(), 'seen,');
    assert.equal(sim.engine.totalBufferedBytes, 0);
  });

  test('a gap while the capture reported kernel drops ends the session as capture_dropped', () => {
    const sim = new Sim({ config: { lingerMs: 1000 } });
    const c = connect(sim);
    c.feed(c.data('seen,'));
    sim.settle();
    c.data('dropped by the kernel,');
    sim.run(CAPTURE_LOSS_POLL_MS - 100);
    c.feed(c.data('after the gap'));
    // The daemon polls the drop count every CAPTURE_LOSS_POLL_MS: a report that much after the
    // drop still explains it.
    sim.engine.noteCaptureLoss(sim.now - CAPTURE_LOSS_POLL_MS + 50);
    sim.run(GAP_TIMEOUT_MS + 10);
    assert.equal(sim.engine.counters.sessionsEnded.capture_dropped, 1);
    assert.equal(sim.engine.counters.sessionsEnded.capture_gap, 0);
  });

  test('drops reported long before a gap do not explain it: capture_gap', () => {
    const sim = new Sim({ config: { lingerMs: 1000 } });
    const c = connect(sim);
    sim.engine.noteCaptureLoss(sim.now);
    c.feed(c.data('seen,'));
    sim.run(CAPTURE_LOSS_POLL_MS + 100);
    c.data('never captured,');
    c.feed(c.data('after the gap'));
    sim.run(GAP_TIMEOUT_MS + 10);
    assert.equal(sim.engine.counters.sessionsEnded.capture_gap, 1);
    assert.equal(sim.engine.counters.sessionsEnded.capture_dropped, 0);
  });

  test('a gap filled before the timeout is harmless', () => {
    const sim = new Sim();
    const c = connect(sim);
    const missing = c.data('b');
    c.feed(c.data('c'));
    sim.run(GAP_TIMEOUT_MS - 100);
    c.feed(missing);
    sim.run(GAP_TIMEOUT_MS * 2);
    assert.equal(sim.target.only().received.toString(), 'bc');
    assert.equal(sim.engine.counters.sessionsEnded.capture_gap, 0);
  });

  test('more than MAX_SESSION_SEGMENTS buffered ends the session (buffer_limit)', () => {
    const sim = new Sim();
    const c = connect(sim);
    c.data('x'); // the gap: every later segment waits behind it
    for (let i = 0; i < MAX_SESSION_SEGMENTS; i++) c.feed(c.data('y'));
    assert.equal(sim.engine.counters.sessionsEnded.buffer_limit, 0);
    c.feed(c.data('y'));
    assert.equal(sim.engine.counters.sessionsEnded.buffer_limit, 1);
    assert.equal(sim.engine.totalBufferedBytes, 0);
  });

  test('client pure ACKs on an established session are not forwarded', () => {
    const sim = new Sim();
    const c = connect(sim);
    const before = sim.injected().length;
    c.feed(c.pureAck());
    c.feed(c.pureAck());
    sim.settle();
    assert.equal(sim.injected().length, before);
    assert.equal(sim.engine.counters.clientPureAcksDropped, 3, 'the third handshake ACK too');
  });
});

describe('engine: client SACK blocks', () => {
  test("are not forwarded: they speak of production's sequence space", () => {
    const sim = new Sim();
    const c = connect(sim, { timestamps: true });
    const data = c.data('request');
    // The same segment as the client sends it after a loss on production's side: with SACK blocks.
    const withSack = buildTcpPacket({
      src: c.ip,
      dst: c.dstIp,
      srcPort: c.port,
      dstPort: c.dstPort,
      seq: decodePacket(data).seq,
      ack: decodePacket(data).ack,
      flags: TcpFlag.ACK | TcpFlag.PSH,
      window: 502,
      options: { timestamps: { val: decodePacket(data).ts!.val, ecr: 1 }, sack: [[5000, 6000]] },
      payload: Buffer.from('request'),
    });
    sim.client(withSack);
    sim.settle();
    const sent = sim.injected().find((p) => p.payload.toString() === 'request');
    assert.ok(sent);
    assert.equal(decoded(sent.raw), 0, 'no SACK block left');
    assert.equal(sim.target.only().received.toString(), 'request');
    assertChecksums(sim);
  });
});

function decoded(raw: Buffer): number {
  const ip = newIpv4View();
  const tcp = newTcpView();
  decodeIpv4(raw, 0, raw.length, ip);
  decodeTcp(raw, ip, tcp);
  return tcp.options.sackBlockCount;
}
