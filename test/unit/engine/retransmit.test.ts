import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TcpFlag } from '@tcpcopy/common';
import { ESTABLISH_TIMEOUT_MS, INITIAL_RTO_MS, MAX_RETRANSMISSIONS, MIN_RTO_MS, seqAdd } from '@tcpcopy/copier';
import { Client, Sim, bytes, connect, dropWhere } from './harness.js';
import { isPureAck, isRst, isSyn, type Packet } from './packets.js';

const isData = (p: Packet): boolean => p.payload.length > 0;

describe('engine: retransmission toward the target', () => {
  test('a lost data segment is resent on the retransmission timeout', () => {
    const sim = new Sim();
    const c = connect(sim);
    sim.toTarget = dropWhere(isData, 1);
    c.feed(c.data('lost once'));
    const sent = sim.now;
    sim.settle();
    sim.run(1000);
    const copies = sim.injected().filter(isData);
    assert.equal(copies.length, 2);
    // The handshake measured an RTT of 2 ms, so the RTO is at its floor.
    assert.equal(copies[1]!.at - sent, MIN_RTO_MS);
    assert.equal(sim.target.only().received.toString(), 'lost once');
    assert.equal(sim.engine.counters.retransmissions, 1);
  });

  test('three duplicate acks trigger one fast retransmission before the RTO', () => {
    const sim = new Sim();
    const c = connect(sim);
    sim.toTarget = dropWhere(isData, 1);
    for (let i = 0; i < 5; i++) c.feed(c.data(bytes(100, i)));
    const sent = sim.now;
    sim.run(50);
    const conn = sim.target.only();
    assert.deepEqual(conn.received, c.stream);
    assert.equal(sim.engine.counters.fastRetransmissions, 1);
    const resent = sim.injected().filter(isData).slice(5);
    assert.equal(resent.length, 1, 'only the missing segment is resent');
    assert.equal(resent[0]!.seq, seqAdd(c.isn, 1));
    assert.ok(resent[0]!.at - sent < MIN_RTO_MS, 'before the RTO');
  });

  test('go back N: several lost segments are all recovered', () => {
    const sim = new Sim();
    const c = connect(sim);
    let n = 0;
    sim.toTarget = (p) => (isData(p) && n++ % 2 === 0 && n < 8 ? [] : [0]);
    for (let i = 0; i < 6; i++) c.feed(c.data(bytes(300, i)));
    sim.run(5000);
    assert.deepEqual(sim.target.only().received, c.stream);
  });

  test('with SACK, a timeout resends only what the test server lacks; without, it goes back N', () => {
    const lost = new Set([...Array.from({ length: 16 }, (_, i) => 5 + i)].filter((n) => n !== 10 && n !== 15));
    const retransmissionsWith = (sack: boolean): number => {
      const sim = new Sim({ target: { sack, window: 65535 } });
      const c = connect(sim);
      let n = 0;
      // Two segments past the first loss arrive: too few duplicate ACKs for a fast retransmit,
      // so the retransmission timer recovers the rest.
      sim.toTarget = (p) => (isData(p) && lost.has(++n) ? [] : [0]);
      for (let i = 0; i < 20; i++) c.feed(c.data(bytes(1000, i)));
      sim.run(10_000);
      assert.deepEqual(sim.target.only().received, c.stream);
      return sim.engine.counters.retransmissions;
    };
    const withSack = retransmissionsWith(true);
    const without = retransmissionsWith(false);
    assert.equal(withSack, lost.size, 'each lost segment once');
    assert.ok(without > withSack, `${without} retransmissions without SACK, ${withSack} with`);
  });

  test('a lost SYN is retransmitted after the initial RTO', () => {
    const sim = new Sim();
    sim.toTarget = dropWhere(isSyn, 1);
    const c = new Client(sim);
    c.feed(c.syn());
    sim.run(INITIAL_RTO_MS - 1);
    assert.equal(sim.injected().filter(isSyn).length, 1);
    sim.run(10);
    const syns = sim.injected().filter(isSyn);
    assert.equal(syns.length, 2);
    assert.equal(syns[1]!.at, INITIAL_RTO_MS);
    assert.equal(syns[1]!.seq, c.isn);
    sim.settle();
    assert.equal(sim.target.only().state, 'established');
  });

  test('a lost SYN-ACK record: the SYN retransmission draws a new SYN-ACK', () => {
    const sim = new Sim();
    sim.toEngine = dropWhere((p) => (p.flags & TcpFlag.SYN) !== 0, 1);
    const c = new Client(sim);
    c.feed(c.syn());
    c.feed(c.data('after'));
    sim.run(2000);
    assert.equal(sim.engine.counters.sessionsEstablished, 1);
    assert.equal(sim.target.only().received.toString(), 'after');
  });

  test('a lost handshake ACK: the target’s SYN-ACK retransmission is answered again', () => {
    const sim = new Sim();
    let first = true;
    sim.toTarget = (p) => {
      if (first && isPureAck(p)) {
        first = false;
        return [];
      }
      return [0];
    };
    const c = new Client(sim);
    c.feed(c.syn());
    sim.run(3000);
    assert.equal(sim.target.only().state, 'established');
    assert.ok(sim.injected().filter(isPureAck).length >= 2);
  });

  test('no SYN-ACK within 3 s: RST, establish_timeout, and the route is withdrawn after the linger', () => {
    const sim = new Sim({ config: { lingerMs: 1000 } });
    sim.toTarget = () => [];
    const c = new Client(sim);
    c.feed(c.syn());
    sim.run(ESTABLISH_TIMEOUT_MS + 10);
    const rst = sim.injected().find(isRst);
    assert.ok(rst !== undefined, sim.describeInjected());
    assert.equal(rst.at, ESTABLISH_TIMEOUT_MS);
    assert.equal(rst.seq, seqAdd(c.isn, 1));
    assert.equal(sim.engine.counters.sessionsEnded.establish_timeout, 1);
    assert.equal(sim.engine.counters.sessionsEstablished, 0);
    assert.equal(sim.host.routeDels.length, 0, 'still lingering');
    sim.run(1000);
    assert.deepEqual(sim.host.routeDels, sim.host.routeAdds);
    assert.equal(sim.engine.sessionCount, 0);
    assert.equal(sim.engine.nextDeadline(), Infinity, 'no timers left');
  });

  test('the retransmission limit ends a session whose data is never acknowledged', () => {
    const sim = new Sim();
    const c = connect(sim);
    sim.toTarget = () => [];
    c.feed(c.data('black hole'));
    sim.run(120_000);
    const counters = sim.engine.counters;
    assert.equal(counters.sessionsEnded.retransmit_limit, 1);
    assert.equal(counters.retransmissions, MAX_RETRANSMISSIONS);
    assert.ok(isRst(sim.injected().at(-1)!), 'a last RST');
  });

  test('a lost ACK of response data: the target’s retransmission is acked again', () => {
    const sim = new Sim();
    const c = connect(sim);
    const conn = sim.target.only();
    c.feed(c.data('req'));
    sim.settle();
    sim.toTarget = dropWhere(isPureAck, 1);
    sim.target.respond(conn, bytes(500), sim.now);
    sim.run(2000);
    assert.equal(conn.sndUna, conn.sndNxt, 'the target saw its response acknowledged');
    const dataFromTarget = sim.targetSent.filter(isData);
    assert.equal(dataFromTarget.length, 2, 'sent once, retransmitted once');
  });

  test('a lost response record (intercept loss) is recovered from the target’s retransmission', () => {
    const sim = new Sim();
    const c = connect(sim);
    const conn = sim.target.only();
    c.feed(c.data('req-1'));
    sim.settle();
    sim.toEngine = dropWhere(isData, 1);
    sim.target.respond(conn, bytes(700), sim.now);
    c.feed(c.data('req-2', 700));
    sim.run(1000);
    assert.equal(conn.sndUna, conn.sndNxt);
    assert.equal(conn.received.toString(), 'req-1req-2');
  });
});
