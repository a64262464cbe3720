import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Engine } from '@tcpcopy/copier';
import { Sim, bytes, connect } from './harness.js';

/** The engine's timer heap size: internal, but its growth is the regression this file guards. */
function heapEntries(engine: Engine): number {
  return (engine as unknown as { timers: { size: number } }).timers.size;
}

describe('engine: timers', () => {
  test('a long download next to an idle session does not pile up timer entries', () => {
    const sim = new Sim();
    connect(sim, { port: 1000 }); // idle keep-alive session: its far deadline is the heap's top
    sim.run(10);
    const c = connect(sim, { port: 2000 });
    const conn = sim.target.conn(c.ip, 2000)!;
    c.feed(c.data('GET /big'));
    sim.settle();
    for (let i = 0; i < 10; i++) {
      sim.target.respond(conn, bytes(100_000), sim.now);
      sim.settle();
    }
    assert.ok(sim.engine.counters.targetPackets > 1000);
    const entries = heapEntries(sim.engine);
    assert.ok(entries <= 8, `${entries} timer entries for 2 sessions`);
  });

  test('the idle session still times out on time after the other one’s traffic', () => {
    const sim = new Sim({ config: { keepaliveTimeoutMs: 5000 } });
    connect(sim, { port: 1000 });
    const idleSince = sim.injected().at(-1)!.at; // the handshake ACK answered the last SYN-ACK
    const c = connect(sim, { port: 2000 });
    for (let i = 0; i < 20; i++) {
      c.feed(c.data(`req ${i}`, i === 0 ? 0 : 10));
      sim.run(50);
      sim.target.respond(sim.target.conn(c.ip, 2000)!, bytes(10), sim.now);
      sim.run(50);
    }
    sim.run(idleSince + 5000 - sim.now - 1);
    assert.equal(sim.engine.counters.sessionsEnded.idle_timeout, 0);
    sim.run(1);
    assert.equal(sim.engine.counters.sessionsEnded.idle_timeout, 1);
    assert.equal(sim.injected().at(-1)!.srcPort, 1000);
  });

  test('nextDeadline never lies in the past after a tick', () => {
    const sim = new Sim();
    const c = connect(sim);
    c.feed(c.data('x'));
    for (let i = 0; i < 200; i++) {
      sim.run(7);
      assert.ok(sim.engine.nextDeadline() > sim.now || sim.engine.nextDeadline() === Infinity);
    }
  });
});
