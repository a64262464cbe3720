import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  CLIENT_SILENCE_LIMIT_MS,
  HALF_OPEN_FLOWS_LIMIT,
  LINGERING_BYTES,
  PENDING_SYN_TTL_MS,
  PendingSyns,
  SESSION_BYTES,
  type Segment,
} from '@tcpcopy/copier';
import { Client, Sim, bytes, connect } from './harness.js';
import { isSyn } from './packets.js';

/** SYNs of `count` clients (ports from `firstPort`) that never answer production's SYN-ACK. */
function flood(sim: Sim, count: number, firstPort = 10_000): Client[] {
  const clients: Client[] = [];
  for (let i = 0; i < count; i++) {
    const c = new Client(sim, { port: firstPort + i });
    c.feed(c.syn());
    clients.push(c);
  }
  return clients;
}

function syn(seq: number): Segment {
  return {
    packet: Buffer.alloc(40),
    ipHeaderLength: 20,
    tcpHeaderLength: 20,
    seq,
    seqLength: 1,
    payloadLength: 0,
    flags: 0x02,
    clientAck: 0,
    window: 0,
    hasTimestamps: false,
    tsVal: 0,
    windowScale: -1,
    sackPermitted: false,
    capturedAt: 0,
  };
}

describe('PendingSyns', () => {
  test('a handshake ACK (ISN + 1) takes the record; any other sequence number leaves it', () => {
    const pending = new PendingSyns(10, 1000);
    pending.hold(1, syn(0xffffffff), 0);
    assert.equal(pending.take(1, 5), undefined);
    assert.equal(pending.take(2, 0), undefined);
    assert.equal(pending.take(1, 0)?.seq, 0xffffffff, 'ISN + 1 wraps');
    assert.equal(pending.size, 0);
  });

  test('beyond the capacity the oldest go; records older than the TTL expire; a retransmission renews one', () => {
    const pending = new PendingSyns(3, 1000);
    for (let key = 1; key <= 3; key++) assert.equal(pending.hold(key, syn(key * 100), key), 0);
    assert.equal(pending.hold(4, syn(400), 4), 1, 'the oldest made room');
    assert.equal(pending.take(1, 101), undefined);
    assert.equal(pending.retransmitted(2, 200, 900), true);
    assert.equal(pending.retransmitted(3, 999, 900), false, 'another ISN is not a retransmission');
    assert.equal(pending.expire(1003), 1, 'key 3 is 1000 ms old; key 2 was renewed at 900');
    assert.equal(pending.expire(1004), 1, 'key 4');
    assert.equal(pending.expire(1899), 0);
    assert.equal(pending.size, 1);
    assert.equal(pending.take(2, 201)?.seq, 200);
  });
});

describe('engine: a SYN flood', () => {
  test(`beyond ${HALF_OPEN_FLOWS_LIMIT} half-open flows, SYNs are held: no session, no SYN to the test server, no route`, () => {
    const sim = new Sim();
    flood(sim, HALF_OPEN_FLOWS_LIMIT + 500);
    const c = sim.engine.counters;
    assert.equal(c.sessionsStarted, HALF_OPEN_FLOWS_LIMIT);
    assert.equal(c.synsHeld, 500);
    assert.equal(sim.engine.pendingSynCount, 500);
    assert.equal(sim.host.routeAdds.length, HALF_OPEN_FLOWS_LIMIT);
    assert.equal(sim.injected().filter(isSyn).length, HALF_OPEN_FLOWS_LIMIT);
  });

  test('a real client among the flood is copied whole, with its own SYN options, once its ACK shows it is real', () => {
    const sim = new Sim();
    flood(sim, HALF_OPEN_FLOWS_LIMIT);
    const real = new Client(sim, { port: 40_000, windowScale: 7, mss: 1400 });
    real.feed(real.syn());
    assert.equal(sim.engine.counters.synsHeld, 1);
    sim.run(5);
    real.feed(real.pureAck());
    real.feed(real.data(bytes(3000, 4)));
    sim.settle();
    const conn = sim.target.conn(real.ip, 40_000);
    assert.ok(conn !== undefined, 'the held SYN started a session');
    assert.deepEqual(conn.received, real.stream);
    const synToTarget = sim.injected().filter((p) => isSyn(p) && p.srcPort === 40_000);
    assert.equal(synToTarget.length, 1);
    assert.equal(synToTarget[0]!.windowScale, 7);
    assert.equal(synToTarget[0]!.mss, 1400);
    assert.equal(sim.engine.counters.sessionsJoinedMidStream, 0, 'not a faked handshake');
    assert.equal(sim.engine.pendingSynCount, 0);
  });

  test('held SYNs expire after their TTL and are counted; a client that answers later is joined mid-stream', () => {
    const sim = new Sim();
    flood(sim, HALF_OPEN_FLOWS_LIMIT);
    const late = new Client(sim, { port: 40_001 });
    late.feed(late.syn());
    sim.run(PENDING_SYN_TTL_MS + 1);
    late.feed(late.pureAck());
    assert.equal(sim.engine.counters.synsExpired, 1);
    late.feed(late.data('late request'));
    sim.settle();
    assert.equal(sim.target.conn(late.ip, 40_001)?.received.toString(), 'late request');
    assert.equal(sim.engine.counters.sessionsJoinedMidStream, 1);
  });

  test('a client reset forgets its held SYN', () => {
    const sim = new Sim();
    flood(sim, HALF_OPEN_FLOWS_LIMIT);
    const c = new Client(sim, { port: 40_002 });
    c.feed(c.syn());
    c.feed(c.rst());
    assert.equal(sim.engine.pendingSynCount, 0);
  });

  test(`sessions whose client never spoke after its SYN end after ${CLIENT_SILENCE_LIMIT_MS / 1000} s (client_silent); new SYNs start sessions again`, () => {
    const sim = new Sim();
    flood(sim, HALF_OPEN_FLOWS_LIMIT);
    const talker = connect(sim, { port: 50_000 }); // held, then promoted by its ACK
    sim.run(CLIENT_SILENCE_LIMIT_MS + 1);
    const c = sim.engine.counters;
    assert.equal(c.sessionsEnded.client_silent, HALF_OPEN_FLOWS_LIMIT);
    sim.run(sim.config.lingerMs + 1);
    assert.equal(sim.engine.sessionCount, 1, 'the real client lives on');
    const next = new Client(sim, { port: 50_001 });
    next.feed(next.syn());
    assert.equal(c.synsHeld, 1, 'only the real client had been held');
    assert.equal(sim.engine.sessionCount, 2);
    talker.feed(talker.data('still here'));
    sim.settle();
    assert.equal(sim.target.conn(talker.ip, 50_000)?.received.toString(), 'still here');
  });
});

describe('engine: the -m budget', () => {
  test('a closed session lingering on its tuple counts at its own, smaller cost, and nothing once gone', () => {
    const sim = new Sim();
    const c = connect(sim);
    assert.equal(sim.engine.memoryInUse, SESSION_BYTES);
    c.feed(c.rst());
    sim.settle();
    assert.equal(sim.engine.counters.sessionsEnded.client_reset, 1);
    assert.equal(sim.engine.memoryInUse, LINGERING_BYTES);
    sim.run(sim.config.lingerMs + 1);
    assert.equal(sim.engine.memoryInUse, 0);
  });

  test('counts sessions, not only buffered bytes: the session past the budget is shed and counted', () => {
    const sim = new Sim({ config: { memoryBudgetBytes: 2.5 * SESSION_BYTES } });
    for (let port = 1000; port < 1004; port++) {
      const c = new Client(sim, { port });
      c.feed(c.syn());
    }
    assert.equal(sim.engine.counters.sessionsStarted, 3, 'the third took the estimate past the budget');
    assert.equal(sim.engine.counters.sessionsShed, 1);
    assert.ok(sim.engine.memoryInUse >= 3 * SESSION_BYTES);
  });
});
