import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TcpFlag } from '@tcpcopy/common';
import { ESTABLISH_TIMEOUT_MS, INITIAL_RTO_MS, seqAdd } from '@tcpcopy/copier';
import { Client, Sim, TARGET_IP, TARGET_PORT, assertChecksums, bytes, dropWhere } from './harness.js';
import { decodePacket, isPureAck, isRst, isSyn } from './packets.js';

describe('engine: joining a session mid-stream (no SYN captured)', () => {
  test('the first data segment brings a faked SYN (seq - 1, MSS, window 65535), then an ACK, then the data', () => {
    const sim = new Sim({ config: { fakeSynMss: 1234 }, target: { isn: () => 77_000 } });
    const c = new Client(sim, { isn: 5_000_000, ipId: 500 });
    c.seq = seqAdd(c.isn, 1 + 4000); // 4000 bytes went by before the copier started
    const first = c.data('hello');
    assert.equal(c.feed(first), true);
    assert.equal(sim.host.events[0]!.kind, 'routeAdd', 'route before the faked SYN');
    const syn = sim.injected()[0]!;
    assert.ok(isSyn(syn));
    assert.equal(syn.seq, seqAdd(c.isn, 4000), 'seq = first data seq - 1');
    assert.equal(syn.mss, 1234);
    assert.equal(syn.window, 65535);
    assert.equal(syn.windowScale, -1);
    assert.equal(syn.ts, undefined, 'no timestamps when the client does not use them');
    assert.equal(syn.ttl, 64);
    assert.equal(syn.df, true);
    assert.equal(syn.ipId, 498, 'IP ID = captured ID - 2, as upstream');
    assert.equal(sim.injected().length, 1, 'the data waits for the SYN-ACK');
    sim.settle();
    const [, ack, data] = sim.injected();
    assert.ok(isPureAck(ack!));
    assert.equal(ack!.seq, seqAdd(c.isn, 4001));
    assert.equal(ack!.ack, 77_001);
    assert.equal(ack!.window, 65535);
    assert.equal(data!.payload.toString(), 'hello');
    assert.equal(data!.window, 65535, 'faked sessions always advertise 65535');
    assert.equal(data!.ack, 77_001);
    assert.equal(sim.target.only().received.toString(), 'hello');
    assert.equal(sim.engine.counters.sessionsJoinedMidStream, 1);
    assertChecksums(sim);
  });

  test('a client using timestamps gets a faked SYN offering them, and TSecr is translated', () => {
    const sim = new Sim();
    const c = new Client(sim, { timestamps: true });
    sim.now = 50;
    c.feed(c.data('x'));
    const syn = sim.injected()[0]!;
    assert.ok(syn.ts !== undefined);
    assert.equal(syn.ts.val, c.tsVal() - 1);
    sim.settle();
    const conn = sim.target.only();
    assert.equal(conn.tsOk, true);
    const data = sim.injected().find((p) => p.payload.length > 0)!;
    assert.ok(data.ts !== undefined);
    assert.equal(data.ts.ecr, sim.targetSent[0]!.ts!.val, 'TSecr = the SYN-ACK TSval');
    assert.equal(conn.received.toString(), 'x');
    assert.equal(conn.pawsDrops, 0);
  });

  test('pure ACKs and resets of unknown flows are ignored', () => {
    const sim = new Sim();
    const c = new Client(sim);
    c.seq = 1234;
    assert.equal(c.feed(c.pureAck()), true);
    assert.equal(c.feed(c.rst()), true);
    c.feed(c.fin());
    assert.equal(sim.injected().length, 0);
    assert.equal(sim.host.routeAdds.length, 0);
    assert.equal(sim.engine.counters.orphanPackets, 3);
    assert.equal(sim.engine.counters.sessionsStarted, 0);
  });

  test('-O (only sessions with a SYN) disables joining', () => {
    const sim = new Sim({ config: { onlySyn: true } });
    const c = new Client(sim);
    c.feed(c.data('no'));
    sim.settle();
    assert.equal(sim.injected().length, 0);
    assert.equal(sim.engine.counters.sessionsStarted, 0);
    const d = new Client(sim, { port: 40001 });
    d.feed(d.syn());
    sim.settle();
    assert.equal(sim.engine.counters.sessionsStarted, 1, 'sessions with a SYN still start');
  });

  test('the rest of the stream follows the joined session, and the client FIN closes it', () => {
    const sim = new Sim();
    const c = new Client(sim);
    c.feed(c.data(bytes(100, 1)));
    sim.settle();
    c.feed(c.data(bytes(200, 2)));
    sim.settle();
    c.feed(c.fin());
    sim.settle();
    const conn = sim.target.only();
    assert.deepEqual(conn.received, c.stream);
    assert.equal(conn.finReceived, true);
    assert.ok(sim.injected().some((p) => p.flags & TcpFlag.FIN));
  });

  /**
   * A copier killed without resetting its sessions leaves the test server holding connections on
   * the fake tuples; a new copier joins the same client connections on the same tuples, and the
   * test server answers its SYN with a challenge ACK (RFC 5961 §4) instead of a SYN-ACK.
   */
  function staleConnection(sim: Sim): Client {
    const old = new Client(sim, { isn: 1_000, dstIp: TARGET_IP, dstPort: TARGET_PORT });
    const deliver = (packet: Buffer): void => sim.target.receive(decodePacket(packet, sim.now), sim.now);
    deliver(old.syn());
    old.ack = seqAdd(sim.target.only().iss, 1);
    deliver(old.pureAck());
    deliver(old.data('GET /old'));
    sim.settle(); // the SYN-ACK and ACK reach the engine, which knows no such session
    assert.equal(sim.target.only().state, 'established');
    return old;
  }

  test('a connection the test server still holds on the tuple is reset (RST seq = its ACK), and the join goes on at once', () => {
    const sim = new Sim();
    staleConnection(sim);
    const stale = sim.target.only();
    const expectedRstSeq = stale.rcvNxt;
    const c = new Client(sim, { isn: 5_000_000 });
    c.seq = seqAdd(c.isn, 1 + 4000);
    c.feed(c.data('GET /new'));
    const joined = sim.runUntil(() => sim.target.accepted[1]?.received.toString() === 'GET /new', INITIAL_RTO_MS / 2);
    assert.ok(joined, `the request did not arrive before the SYN's retransmission timer:\n${sim.describeAll()}`);
    assert.equal(stale.challengeAcks, 1);
    assert.equal(stale.resetByPeer, true, 'the stale connection was reset');
    const rst = sim.injected().find(isRst)!;
    assert.equal(rst.seq, expectedRstSeq, 'RFC 9293 §3.10.7.3: <SEQ=SEG.ACK><CTL=RST>');
    assert.equal(rst.flags, TcpFlag.RST);
    assert.equal(sim.target.accepted[1]!.irs, seqAdd(c.isn, 4000), 'the faked SYN, sent again');
    assert.equal(sim.engine.counters.staleConnectionsReset, 1);
    assert.equal(sim.engine.counters.sessionsEstablished, 1);
    assertChecksums(sim);
  });

  test('a test server that keeps answering SYNs with ACKs gets one immediate SYN, then the retransmission timer', () => {
    const sim = new Sim();
    staleConnection(sim);
    sim.toTarget = dropWhere(isRst); // our resets never arrive: every SYN meets the old connection
    const c = new Client(sim);
    c.seq = seqAdd(c.isn, 1 + 4000);
    c.feed(c.data('GET /new'));
    sim.run(ESTABLISH_TIMEOUT_MS + 100);
    const syns = sim.injected().filter(isSyn).length;
    const rtoRetransmissions = Math.floor(Math.log2(ESTABLISH_TIMEOUT_MS / INITIAL_RTO_MS + 1));
    assert.ok(syns <= 2 + rtoRetransmissions, `${syns} SYNs in ${ESTABLISH_TIMEOUT_MS} ms:\n${sim.describeAll()}`);
    assert.equal(sim.engine.counters.staleConnectionsReset, syns, 'each challenge ACK reset');
    assert.equal(sim.engine.counters.sessionsEnded.establish_timeout, 1);
  });
});
