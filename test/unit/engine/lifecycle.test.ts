import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ESTABLISH_TIMEOUT_MS,
  PRESSED_BUDGET_SHARE,
  SESSION_BYTES,
  SessionEndReason,
  type EngineCounters,
} from '@tcpcopy/copier';
import { Client, Sim, bytes, connect } from './harness.js';
import { isRst } from './packets.js';

function endedTotal(c: EngineCounters): number {
  return Object.values(c.sessionsEnded).reduce((a, b) => a + b, 0);
}

describe('engine: timeouts, shutdown, memory', () => {
  test('an idle established session ends after the keepalive timeout with an RST', () => {
    const sim = new Sim({ config: { keepaliveTimeoutMs: 10_000, sessionTimeoutMs: 5_000 } });
    const c = connect(sim);
    c.feed(c.data('req'));
    sim.settle();
    const last = sim.now;
    sim.run(9_000);
    assert.equal(
      sim.engine.counters.sessionsEnded.idle_timeout,
      0,
      'nothing pending: the longer keepalive limit applies',
    );
    sim.run(2_000);
    assert.equal(sim.engine.counters.sessionsEnded.idle_timeout, 1);
    const rst = sim.injected().find(isRst)!;
    assert.equal(rst.at, last + 10_000);
    sim.settle();
    assert.equal(sim.target.only().resetByPeer, true);
  });

  test('shutdown resets live sessions and withdraws every route', () => {
    const sim = new Sim({ config: { copies: 2 } });
    const a = connect(sim, { port: 1000 });
    a.feed(a.data('a'));
    connect(sim, { port: 2000 });
    sim.target.reset(sim.target.accepted[3]!, sim.now); // one already over, lingering
    sim.settle();
    assert.equal(sim.engine.sessionCount, 4);
    sim.engine.shutdown(sim.now);
    assert.equal(sim.injected().filter(isRst).length, 3);
    assert.equal(sim.host.routeDels.length, 4);
    assert.equal(sim.engine.sessionCount, 0);
    assert.equal(sim.engine.counters.sessionsEnded.shutdown, 3);
    assert.equal(sim.engine.nextDeadline(), Infinity);
    assert.equal(sim.engine.totalBufferedBytes, 0);
    sim.settle();
    for (const conn of sim.target.accepted) assert.equal(conn.state, 'closed');
  });

  test('above the memory cap (-m) new sessions are shed, existing ones go on', () => {
    const sim = new Sim({ config: { memoryBudgetBytes: SESSION_BYTES + 3000 } });
    const a = connect(sim, { port: 1000 });
    const conn = sim.target.only();
    sim.target.setWindow(conn, 0, sim.now);
    sim.settle();
    a.feed(a.data(bytes(4000, 1)));
    assert.ok(sim.engine.totalBufferedBytes > 3000);
    const b = new Client(sim, { port: 2000 });
    b.feed(b.syn());
    assert.equal(sim.engine.counters.sessionsShed, 1);
    assert.equal(sim.engine.counters.sessionsStarted, 1);
    sim.target.setWindow(conn, 65535, sim.now);
    sim.settle();
    assert.deepEqual(conn.received, a.stream);
    assert.equal(sim.engine.totalBufferedBytes, 0, 'acknowledged data is released');
    const d = connect(sim, { port: 3000 });
    d.feed(d.data('after'));
    sim.settle();
    assert.equal(sim.target.conn(d.ip, 3000)?.received.toString(), 'after');
  });

  test('while the resident set is near -m (memoryPressure) sessions hold at most 1/8 of their budget: new ones are shed, existing ones go on', () => {
    const sim = new Sim({ config: { memoryBudgetBytes: PRESSED_BUDGET_SHARE * SESSION_BYTES - PRESSED_BUDGET_SHARE } });
    sim.engine.memoryPressure = true;
    // Sessions holding nothing, shedding cannot bring the memory down: one is admitted.
    const a = connect(sim, { port: 1000 });
    const b = new Client(sim, { port: 2000 });
    b.feed(b.syn());
    a.feed(a.data('still copied'));
    sim.settle();
    assert.equal(sim.engine.counters.sessionsShed, 1);
    assert.equal(sim.target.conn(a.ip, 1000)?.received.toString(), 'still copied');
    sim.engine.memoryPressure = false;
    const c = connect(sim, { port: 3000 });
    c.feed(c.data('after'));
    sim.settle();
    assert.equal(sim.target.conn(c.ip, 3000)?.received.toString(), 'after');
    assert.equal(sim.engine.counters.sessionsStarted, 2);
  });

  test('the copy lag is the age of the oldest client segment the test server has not acknowledged', () => {
    const sim = new Sim();
    const c = connect(sim);
    const conn = sim.target.only();
    sim.target.setWindow(conn, 0, sim.now);
    sim.settle();
    const target = sim.engine.targetCounters[0]!;
    const capturedAt = sim.now;
    c.feed(c.data('GET / HTTP/1.1\r\n\r\n'));
    sim.run(2000);
    sim.engine.refreshCopyLag(sim.now);
    assert.equal(target.copyLagMs, sim.now - capturedAt, 'the request waits behind a closed window');
    sim.target.setWindow(conn, 65535, sim.now);
    sim.run(1000);
    sim.engine.refreshCopyLag(sim.now);
    assert.equal(target.copyLagMs, 0, 'acknowledged: no lag');
  });

  test('counters add up over a mix of session fates', () => {
    const sim = new Sim({ config: { lingerMs: 1000 } });
    // 1: finishes cleanly.
    const fine = connect(sim, { port: 1001 });
    fine.feed(fine.data(bytes(500)));
    sim.settle();
    sim.target.respond(sim.target.accepted[0]!, bytes(200), sim.now);
    sim.settle();
    fine.feed(fine.fin(200));
    sim.settle();
    sim.target.close(sim.target.accepted[0]!, sim.now);
    sim.settle();
    // 2: the target resets it.
    const reset = connect(sim, { port: 1002 });
    reset.feed(reset.data('x'));
    sim.settle();
    sim.target.reset(sim.target.accepted[1]!, sim.now);
    sim.settle();
    // 3: never established (SYN-ACKs lost).
    sim.toEngine = (p) => (p.dstPort === 1003 ? [] : [0]);
    const lost = new Client(sim, { port: 1003 });
    lost.feed(lost.syn());
    // 4: joined mid-stream, still live at the end.
    const live = new Client(sim, { port: 1004 });
    live.feed(live.data(bytes(300)));
    sim.run(ESTABLISH_TIMEOUT_MS + 1000);

    const k = sim.engine.counters;
    assert.equal(k.sessionsStarted, 4);
    assert.equal(k.sessionsJoinedMidStream, 1);
    assert.equal(k.sessionsEstablished, 3);
    assert.equal(k.sessionsEnded.finished, 1);
    assert.equal(k.sessionsEnded.target_reset, 1);
    assert.equal(k.sessionsEnded.establish_timeout, 1);
    // started = ended + live once the lingering is over
    assert.equal(k.sessionsStarted, endedTotal(k) + sim.engine.sessionCount);
    assert.equal(sim.engine.sessionCount, 1);
    // started = established + ended before establishing + live not established
    assert.equal(k.sessionsStarted, k.sessionsEstablished + k.sessionsEnded.establish_timeout);
    assert.equal(k.packetsInjected, sim.injected().length);
    assert.equal(
      k.bytesInjected,
      sim.injected().reduce((n, p) => n + p.raw.length, 0),
    );
    assert.equal(k.clientPayloadBytes, 500 + 1 + 300);
    assert.equal(k.payloadBytesAcked, 500 + 1 + 300);
    assert.equal(k.targetPayloadBytes, 200);
    assert.equal(sim.host.routeAdds.length, 4);
    assert.equal(sim.host.routeDels.length, 3);
    assert.equal(sim.engine.totalBufferedBytes, 0);
    sim.engine.shutdown(sim.now);
    assert.equal(k.sessionsStarted, endedTotal(k));
    assert.equal(k.sessionsEnded[SessionEndReason.Shutdown], 1);
  });
});
