/**
 * Congestion control toward the test server (congestion.ts): unbounded while nothing is lost,
 * RFC 5681 after a loss, NewReno partial ACKs (RFC 6582). The bottleneck below models the lab's
 * tbf shaper: a FIFO drained at a fixed rate that drops what would wait longer than its limit.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CongestionWindow, DEFAULT_SEND_MSS, MIN_RTO_MS, seqAdd } from '@tcpcopy/copier';
import { Sim, bytes, connect, dropWhere, type Impairment } from './harness.js';
import type { Packet } from './packets.js';

const isData = (p: Packet): boolean => p.payload.length > 0;
const SEGMENT = 1448;

function bottleneck(bytesPerMs: number, queueMs: number): Impairment {
  let busyUntil = 0;
  return (p, now) => {
    const wait = Math.max(0, busyUntil - now);
    if (wait > queueMs) return [];
    const service = p.raw.length / bytesPerMs;
    busyUntil = now + wait + service;
    return [wait + service];
  };
}

describe('engine: congestion control toward the target', () => {
  test('behind a bottleneck slower than the client, the upload arrives near the bottleneck rate, with few retransmissions', () => {
    // 4 MB from a client twice as fast as the path to the target (the lab's slow-link upload).
    const sim = new Sim({ latencyMs: 1, target: { window: 1 << 20, windowScale: 7 } });
    const c = connect(sim, { windowScale: 7 });
    const conn = sim.target.only();
    const rate = 5000; // bytes per ms: 40 Mbit/s
    sim.toTarget = bottleneck(rate, 200);
    const total = 4 * 1024 * 1024;
    const start = sim.now;
    for (let off = 0, i = 0; off < total; off += SEGMENT, i++) {
      if (i % 7 === 0) sim.run(1); // about 10,000 bytes per ms
      c.feed(c.data(bytes(Math.min(SEGMENT, total - off), i)));
    }
    assert.ok(
      sim.runUntil(() => conn.receivedLength >= total, 60_000),
      'the whole upload arrived',
    );
    assert.deepEqual(conn.received, c.stream);
    const took = sim.now - start;
    const segments = Math.ceil(total / SEGMENT);
    const k = sim.engine.counters;
    const ideal = total / rate;
    assert.ok(took < 1.5 * ideal, `took ${took.toFixed(0)} ms, the bottleneck needs ${ideal.toFixed(0)} ms`);
    assert.ok(k.retransmissions < segments / 3, `${k.retransmissions} retransmissions for ${segments} segments`);
  });

  test('while nothing is lost, the receive window alone bounds what is in flight', () => {
    const sim = new Sim({ latencyMs: 5, target: { window: 1 << 20, windowScale: 7 } });
    const c = connect(sim, { windowScale: 7 });
    sim.target.setWindow(sim.target.only(), 1 << 20, sim.now);
    sim.settle();
    const before = sim.injected().length;
    for (let i = 0; i < 200; i++) c.feed(c.data(bytes(SEGMENT, i)));
    assert.equal(sim.injected(before).filter(isData).length, 200, 'no slow start: all 200 segments at once');
  });

  test('after a retransmission timeout, one segment, then slow start', () => {
    const sim = new Sim({ latencyMs: 5, target: { window: 1 << 20, windowScale: 7 } });
    const c = connect(sim, { windowScale: 7 });
    sim.target.setWindow(sim.target.only(), 1 << 20, sim.now);
    sim.settle();
    // The whole flight is lost: no duplicate ACK comes back, only the timer can tell.
    sim.toTarget = dropWhere(isData, 40);
    for (let i = 0; i < 40; i++) c.feed(c.data(bytes(SEGMENT, i)));
    const sentBefore = sim.injected().length;
    sim.runUntil(() => sim.injected().length > sentBefore + 40);
    const firstRetransmit = sim.injected().filter(isData)[40]!;
    sim.run(1);
    const burst = sim.injected().filter((p) => isData(p) && p.at === firstRetransmit.at);
    assert.equal(burst.length, 1, 'the loss window: one segment (RFC 5681 §3.1)');
    assert.equal(firstRetransmit.seq, seqAdd(c.isn, 1));
    sim.run(20);
    const next = sim
      .injected()
      .filter((p) => isData(p) && p.at > firstRetransmit.at && p.at <= firstRetransmit.at + 11);
    assert.equal(next.length, 2, 'its ACK releases two (slow start)');
    sim.run(1000);
    assert.deepEqual(sim.target.only().received, c.stream);
  });

  test('NewReno: a partial ACK after a fast retransmission resends the next hole at once', () => {
    const sim = new Sim({ latencyMs: 2 });
    const c = connect(sim);
    // Segments 1 and 4 of 10 lost: three duplicate ACKs repair the first, and the partial ACK
    // that follows must repair the second without waiting for the timer.
    let n = 0;
    sim.toTarget = (p) => (isData(p) && [1, 4].includes(n++) ? [] : [0]);
    for (let i = 0; i < 10; i++) c.feed(c.data(bytes(500, i)));
    const start = sim.now;
    assert.ok(
      sim.runUntil(() => sim.target.only().received.length === c.stream.length, MIN_RTO_MS / 2),
      'repaired before any timeout',
    );
    assert.ok(sim.now - start < MIN_RTO_MS / 2);
    assert.equal(
      sim.engine.counters.fastRetransmissions,
      1,
      'one fast retransmission; the second hole by the partial ACK',
    );
    assert.equal(sim.engine.counters.retransmissions, 2);
  });

  test('the window arithmetic (RFC 5681 eq. 2-4)', () => {
    const mss = 1000;
    const cc = new CongestionWindow();
    cc.setSendMss(mss);
    assert.equal(cc.cwnd, Infinity);
    assert.equal(cc.onAck(5000, 5000), false);
    assert.equal(cc.cwnd, Infinity, 'unbounded until a loss');
    assert.equal(cc.onDuplicateAcks(20_000, 30_000), true);
    assert.equal(cc.cwnd, 10_000, 'ssthresh = flight / 2');
    assert.equal(cc.onDuplicateAcks(20_000, 30_000), false, 'no second fast retransmission in one recovery');
    assert.equal(cc.onAck(1000, 20_000), true, 'partial ACK: below recover');
    assert.equal(cc.onAck(10_000, 30_000), false, 'full ACK ends the recovery');
    assert.equal(cc.cwnd, 10_000);
    cc.onAck(1000, 31_000);
    assert.equal(cc.cwnd, 10_100, 'congestion avoidance: SMSS * SMSS / cwnd per ACK');
    cc.onTimeout(8000, true);
    assert.equal(cc.cwnd, mss, 'loss window');
    cc.onAck(1000, 32_000);
    assert.equal(cc.cwnd, 2 * mss, 'slow start below ssthresh (4000)');
    cc.onTimeout(2000, false);
    cc.onAck(3000, 35_000);
    assert.equal(cc.cwnd, 2 * mss, 'a repeated timeout keeps ssthresh (4000); slow start adds at most SMSS');
    const fresh = new CongestionWindow();
    fresh.setSendMss(-1);
    fresh.onTimeout(0, true);
    assert.equal(fresh.cwnd, DEFAULT_SEND_MSS, 'no MSS option: 536 (RFC 9293 §3.7.1)');
  });
});
