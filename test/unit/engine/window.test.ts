import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { seqAdd, seqDiff } from '@tcpcopy/copier';
import { Client, Sim, bytes, connect } from './harness.js';
import type { Packet } from './packets.js';

const isData = (p: Packet): boolean => p.payload.length > 0;

/** An answer far larger than a closed window lets through in the time allowed. */
const ANSWER_BYTES = 1_000_000;

describe('engine: the target’s receive window', () => {
  test('a zero window stops sending; a window update resumes it', () => {
    const sim = new Sim();
    const c = connect(sim);
    const conn = sim.target.only();
    sim.target.setWindow(conn, 0, sim.now);
    sim.settle();
    c.feed(c.data(bytes(400, 1)));
    c.feed(c.data(bytes(400, 2)));
    sim.run(50);
    assert.equal(sim.injected().filter(isData).length, 0, 'nothing sent into a zero window');
    assert.equal(conn.received.length, 0);
    sim.run(3000);
    assert.equal(conn.outOfWindowBytes, 0, 'window probes carry no data');
    assert.equal(conn.received.length, 0);
    assert.equal(sim.engine.counters.sessionsEnded.retransmit_limit, 0);
    sim.target.setWindow(conn, 65535, sim.now);
    sim.settle();
    assert.deepEqual(conn.received, c.stream);
  });

  test('a lost window update is recovered by the zero-window probe', () => {
    const sim = new Sim();
    const c = connect(sim);
    const conn = sim.target.only();
    sim.target.setWindow(conn, 0, sim.now);
    sim.settle();
    c.feed(c.data(bytes(100)));
    sim.run(10);
    sim.toEngine = () => [];
    sim.target.setWindow(conn, 65535, sim.now);
    sim.settle();
    sim.toEngine = () => [0];
    sim.run(5000);
    assert.deepEqual(conn.received, c.stream);
  });

  test('a small window limits bytes in flight', () => {
    const sim = new Sim({ latencyMs: 5, target: { window: 1000 } });
    const c = connect(sim);
    const conn = sim.target.only();
    for (let i = 0; i < 6; i++) c.feed(c.data(bytes(400, i)));
    sim.run(1);
    assert.equal(sim.injected().filter(isData).length, 2, '800 of 1000 bytes in flight, a third 400 would not fit');
    sim.run(2000);
    assert.deepEqual(conn.received, c.stream);
    assert.equal(conn.outOfWindowBytes, 0);
  });

  test('window scale applies when both SYNs carried it', () => {
    // Field value 16 with shift 6 = 1024 bytes: three 300-byte segments fit.
    const sim = new Sim({ latencyMs: 5, target: { window: 1024, windowScale: 6 } });
    const c = connect(sim, { windowScale: 7 });
    const conn = sim.target.only();
    assert.equal(conn.rcvShift, 6);
    for (let i = 0; i < 4; i++) c.feed(c.data(bytes(300, i)));
    sim.run(11); // past the first ACK (window field 16)
    for (let i = 0; i < 4; i++) c.feed(c.data(bytes(300, 10 + i)));
    sim.run(1);
    const inFlight = sim.injected().filter(isData).length;
    assert.ok(inFlight >= 6, `the scaled window allows more than one segment (${inFlight} sent)`);
    sim.run(2000);
    assert.deepEqual(conn.received, c.stream);
  });

  test('window scale is ignored when only the target offered it', () => {
    // The client SYN has no window-scale option; a (misbehaving) target sends one anyway and
    // advertises a field of 100: that is 100 bytes, not 100 << 7.
    const sim = new Sim({ latencyMs: 5, target: { window: 100, windowScale: 7, forceWindowScale: true } });
    const c = connect(sim);
    const conn = sim.target.only();
    assert.equal(conn.rcvShift, 0);
    assert.equal(sim.targetSent[0]!.windowScale, 7, 'the SYN-ACK did carry the option');
    c.feed(c.data(bytes(60, 1)));
    c.feed(c.data(bytes(60, 2)));
    sim.run(1);
    assert.equal(sim.injected().filter(isData).length, 1, '60 + 60 > 100: the second waits');
    sim.run(100);
    assert.deepEqual(conn.received, c.stream);
  });

  test('a faked SYN never offers window scaling', () => {
    const sim = new Sim({ target: { windowScale: 7 } });
    connect(sim, { windowScale: 5 });
    assert.equal(sim.target.only().rcvShift, 7);
    const d = new Client(sim, { port: 40100 });
    d.feed(d.data('mid'));
    sim.settle();
    const conn = sim.target.conn(d.ip, 40100)!;
    assert.equal(conn.rcvShift, 0);
    assert.equal(conn.received.toString(), 'mid');
  });

  test('our ACKs advertise the largest window the client showed, not a window it closed for a moment', () => {
    // Production's answer filled the real client's buffer: its last ACK advertised 1 (x 128
    // bytes). The test server's answer arrives later and must not be held to 128 bytes a round trip.
    const sim = new Sim({ latencyMs: 1, target: { window: 65535, windowScale: 7 } });
    const c = connect(sim, { windowScale: 7 });
    c.feed(c.data('GET /big'));
    sim.settle();
    c.feed(c.pureAck(2000));
    c.feed(c.pureAck(1));
    c.feed(c.fin(ANSWER_BYTES));
    const conn = sim.target.only();
    sim.target.respond(conn, bytes(ANSWER_BYTES), sim.now);
    sim.run(500);
    assert.equal(
      seqDiff(conn.sndUna, seqAdd(conn.iss, 1)),
      ANSWER_BYTES,
      'the whole answer acknowledged within 500 ms',
    );
  });
});
