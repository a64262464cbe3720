import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { NO_RESPONSE_RELEASE_MS, responseQuietMs } from '@tcpcopy/copier';
import { Sim, bytes, connect } from './harness.js';
import type { Packet } from './packets.js';

function sentAt(sim: Sim, text: string): Packet | undefined {
  return sim.injected().find((p) => p.payload.toString() === text);
}

describe('engine: request/response pacing', () => {
  test('the next request waits for the target response of the same size as production’s', () => {
    const sim = new Sim();
    const c = connect(sim);
    const conn = sim.target.only();
    c.feed(c.data('req-1'));
    sim.settle();
    // Production answered 1000 bytes; the client's next request acks them.
    c.feed(c.data('req-2', 1000));
    sim.run(5);
    assert.equal(sentAt(sim, 'req-2'), undefined, 'held: the target has not answered yet');
    sim.target.respond(conn, bytes(600), sim.now);
    sim.run(5);
    assert.equal(sentAt(sim, 'req-2'), undefined, 'held: 600 of 1000 bytes so far');
    const t = sim.now;
    sim.target.respond(conn, bytes(400), sim.now);
    sim.settle();
    const req2 = sentAt(sim, 'req-2');
    assert.ok(req2 !== undefined, 'released once the response is complete');
    assert.ok(req2.at - t <= 2, `released on arrival of the response (after ${req2.at - t} ms)`);
    assert.equal(conn.received.toString(), 'req-1req-2');
  });

  test('more segments of the same request are not held', () => {
    const sim = new Sim();
    const c = connect(sim);
    c.feed(c.data('part-1,'));
    c.feed(c.data('part-2'));
    sim.settle();
    assert.equal(sim.target.only().received.toString(), 'part-1,part-2');
  });

  test('a smaller target response releases the next request once the target goes quiet', () => {
    const sim = new Sim({ latencyMs: 2 });
    const c = connect(sim);
    const conn = sim.target.only();
    c.feed(c.data('req-1'));
    sim.settle();
    c.feed(c.data('req-2', 1000));
    sim.target.respond(conn, bytes(100), sim.now);
    sim.settle();
    const lastResponse = sim.targetSent.filter((p) => p.payload.length > 0).at(-1)!;
    const seen = lastResponse.at + sim.latencyMs;
    // The SYN/SYN-ACK and data round trips measured the RTT: 4 ms.
    const quiet = responseQuietMs(4);
    sim.run(seen + quiet - 1 - sim.now);
    assert.equal(sentAt(sim, 'req-2'), undefined, 'still within the quiet period');
    sim.run(10);
    const req2 = sentAt(sim, 'req-2');
    assert.ok(req2 !== undefined, 'released after the quiet period');
    assert.equal(req2.at, seen + quiet, 'released when the target was quiet for the quiet period');
  });

  test('a fractional quiet period releases the request at its deadline (no timer firing at the same instant forever)', () => {
    // The release time is quietSince + wait; checking now - quietSince >= wait at that time can
    // be false in floating point ((2 + 30.3) - 2 < 30.3), and the timer re-armed at `now`: a
    // livelock (the simulation throws). RTTs of 15.15 and 33.3 ms give such quiet periods.
    for (const fixedRttMs of [15.15, 33.3, 10.1, 12.35]) {
      for (let startMs = 0; startMs < 40; startMs++) {
        const sim = new Sim({ config: { fixedRttMs } });
        sim.run(startMs);
        const c = connect(sim);
        const conn = sim.target.only();
        c.feed(c.data('req-1'));
        sim.settle();
        c.feed(c.data('req-2', 1000));
        sim.target.respond(conn, bytes(100), sim.now);
        sim.run(responseQuietMs(fixedRttMs) + 10);
        assert.ok(
          sentAt(sim, 'req-2') !== undefined,
          `rtt ${fixedRttMs} ms, start ${startMs} ms: released after the quiet period`,
        );
      }
    }
  });

  test('no response at all: the request is released after NO_RESPONSE_RELEASE_MS', () => {
    const sim = new Sim();
    const c = connect(sim);
    c.feed(c.data('req-1'));
    sim.settle();
    const sent1 = sentAt(sim, 'req-1')!.at;
    c.feed(c.data('req-2', 1000));
    sim.run(NO_RESPONSE_RELEASE_MS - 20);
    assert.equal(sentAt(sim, 'req-2'), undefined);
    sim.run(100);
    const req2 = sentAt(sim, 'req-2');
    assert.ok(req2 !== undefined);
    assert.equal(req2.at, sent1 + NO_RESPONSE_RELEASE_MS);
  });

  test('-W (noWait) sends the next request immediately', () => {
    const sim = new Sim({ config: { noWait: true } });
    const c = connect(sim);
    c.feed(c.data('req-1'));
    sim.settle();
    const t = sim.now;
    c.feed(c.data('req-2', 1000));
    const req2 = sentAt(sim, 'req-2');
    assert.ok(req2 !== undefined);
    assert.equal(req2.at, t);
  });

  test('fixed RTT (-R) sets the quiet period', () => {
    const sim = new Sim({ config: { fixedRttMs: 100 } });
    const c = connect(sim);
    const conn = sim.target.only();
    c.feed(c.data('req-1'));
    sim.settle();
    c.feed(c.data('req-2', 1000));
    sim.target.respond(conn, bytes(10), sim.now);
    sim.settle();
    const t = sim.now;
    sim.run(responseQuietMs(100) - 5);
    assert.equal(sentAt(sim, 'req-2'), undefined);
    sim.run(20);
    const req2 = sentAt(sim, 'req-2');
    assert.ok(req2 !== undefined);
    assert.ok(req2.at >= t + responseQuietMs(100) - 2);
  });

  test('server speaks first: the first request waits for the target greeting', () => {
    const sim = new Sim();
    const c = connect(sim);
    const conn = sim.target.only();
    c.feed(c.data('USER x\r\n', 20)); // production's 20-byte greeting came first
    sim.run(10);
    assert.equal(sentAt(sim, 'USER x\r\n'), undefined);
    sim.target.respond(conn, bytes(20), sim.now);
    sim.settle();
    assert.ok(sentAt(sim, 'USER x\r\n') !== undefined);
    assert.equal(conn.received.toString(), 'USER x\r\n');
  });
});
