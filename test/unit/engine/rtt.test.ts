import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { INITIAL_RTO_MS, MAX_RTO_MS, MIN_RTO_MS, RttEstimator } from '@tcpcopy/copier';
import { Client, Sim } from './harness.js';
import { isSyn } from './packets.js';

describe('RTT estimation', () => {
  test('RFC 6298: first sample sets srtt and rttvar; RTO stays within bounds; back-off doubles', () => {
    const e = new RttEstimator();
    assert.equal(e.rto, INITIAL_RTO_MS);
    e.sample(400);
    assert.equal(e.srtt, 400);
    assert.equal(e.rttvar, 200);
    assert.equal(e.rto, 400 + 4 * 200);
    e.sample(10);
    e.sample(10);
    for (let i = 0; i < 50; i++) e.sample(1);
    assert.equal(e.rto, MIN_RTO_MS);
    for (let i = 0; i < 10; i++) e.backOff();
    assert.equal(e.rto, MAX_RTO_MS);
  });

  test('a new session starts from the RTO its test server has shown: no spurious SYN retransmission', () => {
    // 600 ms each way through intercept: a round trip above the blind initial RTO.
    const sim = new Sim({ latencyMs: 600 });
    const first = new Client(sim, { port: 41001 });
    first.feed(first.syn());
    sim.run(1500);
    first.feed(first.pureAck());
    first.feed(first.data('GET /a HTTP/1.1\r\n\r\n'));
    sim.run(4000);
    const synsOf = (port: number): number => sim.injected().filter((p) => isSyn(p) && p.srcPort === port).length;
    assert.ok(synsOf(41001) > 1, 'the first session, with no history, retransmitted its SYN');

    const second = new Client(sim, { port: 41002 });
    second.feed(second.syn());
    sim.run(4000);
    assert.equal(synsOf(41002), 1, 'the second session waited long enough for the SYN-ACK');
    assert.equal(sim.target.conns.size, 2);
  });
});
