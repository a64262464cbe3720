/**
 * A hole in the test server's stream as intercept reports it (a segment lost between target and
 * aux): once the server resends the missing segment, the copier acknowledges everything it saw
 * beyond the hole in one ACK, as a TCP receiver with an out-of-order queue does. Acknowledging
 * only the resent segment made the server resend every later one, a retransmission timeout each:
 * a 64 KiB response then took seconds per loss (e2e: keep-alive copy under 3 % frame loss).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TcpFlag } from '@tcpcopy/common';
import { Sim, bytes, connect, dropWhere } from './harness.js';
import { sackBlocksOf } from './packets.js';

const SEGMENTS = 20;
const MSS = 1000;
const TARGET_RTO_MS = 200;

/** A connection whose client has sent `request`; the test server's response starts at firstDataSeq. */
function requested(request: string) {
  const sim = new Sim({ target: { mss: MSS, rtoMs: TARGET_RTO_MS } });
  const c = connect(sim, { window: 65535 });
  const conn = sim.target.only();
  c.feed(c.data(request));
  sim.settle();
  return { sim, c, conn, firstDataSeq: conn.sndNxt };
}

describe('engine: acknowledging the test server', () => {
  test('a batch of records in order draws one ACK, after the batch, covering all of it', () => {
    const { sim, conn, firstDataSeq } = requested('GET /big');
    const acksBefore = sim.injected().filter((p) => p.payload.length === 0 && p.flags === TcpFlag.ACK).length;
    sim.target.respond(conn, bytes(SEGMENTS * MSS), sim.now); // one window's worth, delivered together
    sim.settle();
    const acks = sim
      .injected()
      .filter((p) => p.payload.length === 0 && p.flags === TcpFlag.ACK)
      .slice(acksBefore);
    assert.equal(acks.length, 1, 'one ACK for the batch, not one per record');
    assert.equal(acks[0]!.ack, (firstDataSeq + SEGMENTS * MSS) >>> 0);
  });
});

describe("engine: holes in the test server's stream", () => {
  test('after the resent segment fills the hole, one ACK covers everything seen beyond it', () => {
    const { sim, conn, firstDataSeq } = requested('GET /big');
    // The third response segment never reaches intercept the first time.
    sim.toEngine = dropWhere((p) => p.payload.length > 0 && p.seq === firstDataSeq + 2 * MSS, 1);
    sim.target.respond(conn, bytes(SEGMENTS * MSS), sim.now);
    const start = sim.now;
    assert.ok(
      sim.runUntil(() => conn.sndUna === conn.sndNxt, 5000),
      `response never acknowledged:\n${sim.describeAll()}`,
    );
    const dataSent = sim.targetSent.filter((p) => p.payload.length > 0);
    assert.equal(dataSent.length, SEGMENTS + 1, `only the lost segment is resent:\n${sim.describeAll()}`);
    assert.ok(sim.now - start < 2 * TARGET_RTO_MS, `acknowledged ${sim.now - start} ms after the response started`);
    const acks = sim.injected().filter((p) => p.flags === TcpFlag.ACK && p.payload.length === 0);
    assert.equal(acks.at(-1)?.ack, conn.sndNxt, 'the last ACK covers the whole response');
  });

  test('a FIN seen beyond the hole closes the stream once the hole is filled', () => {
    const { sim, c, conn, firstDataSeq } = requested('GET /close');
    sim.toEngine = dropWhere((p) => p.payload.length > 0 && p.seq === firstDataSeq, 1);
    sim.target.respond(conn, bytes(3 * MSS), sim.now);
    sim.target.close(conn, sim.now);
    // The client saw the whole response and the FIN, and closes too.
    c.feed(c.fin(3 * MSS + 1));
    assert.ok(
      sim.runUntil(() => conn.finAcked && conn.finReceived, 5000),
      `not closed:\n${sim.describeAll()}`,
    );
    assert.equal(sim.targetSent.filter((p) => p.payload.length > 0).length, 4, 'only the lost segment is resent');
  });
});

describe('engine: duplicate ACKs for a hole', () => {
  test('every segment beyond a hole is answered at once with a duplicate ACK (RFC 5681 §4.2), so the server can fast-retransmit', () => {
    const { sim, conn, firstDataSeq: holeAt } = requested('GET /big');
    sim.toEngine = dropWhere((p) => p.payload.length > 0 && p.seq === holeAt, 1);
    const before = sim.injected().length;
    sim.target.respond(conn, bytes(10 * MSS), sim.now); // all ten arrive in one batch of records
    sim.run(5);
    const dupAcks = sim
      .injected(before)
      .filter((p) => p.flags === TcpFlag.ACK && p.payload.length === 0 && p.ack === holeAt);
    assert.equal(dupAcks.length, 9, `one duplicate ACK per segment beyond the hole:\n${sim.describeAll()}`);
  });
});

describe('engine: SACK', () => {
  for (const timestamps of [false, true]) {
    test(`with SACK negotiated${timestamps ? ' and timestamps' : ''}, duplicate ACKs report what was seen beyond the holes (RFC 2018)`, () => {
      const sim = new Sim({ target: { mss: MSS, rtoMs: TARGET_RTO_MS } });
      const c = connect(sim, { window: 65535, timestamps });
      const conn = sim.target.only();
      assert.ok(conn.syn.sackPermitted, 'the client offered SACK and the copier passed it on');
      c.feed(c.data('GET /big'));
      sim.settle();
      const base = conn.sndNxt;
      const at = (n: number): number => (base + n * MSS) >>> 0;
      // Segments 2, 5 and 7 never reach intercept: three ranges seen beyond the first hole.
      const lost = new Set([at(2), at(5), at(7)]);
      sim.toEngine = dropWhere((p) => p.payload.length > 0 && lost.has(p.seq), 3);
      const before = sim.injected().length;
      sim.target.respond(conn, bytes(10 * MSS), sim.now);
      sim.run(5);
      const dupAcks = sim.injected(before).filter((p) => p.flags === TcpFlag.ACK && p.ack === at(2));
      assert.equal(dupAcks.length, 5, `one duplicate ACK per segment beyond the first hole:\n${sim.describeAll()}`);
      const last = sackBlocksOf(dupAcks.at(-1)!);
      const expected: [number, number][] = [
        [at(8), at(10)],
        [at(6), at(7)],
        [at(3), at(5)],
      ];
      assert.deepEqual(
        last,
        expected.slice(0, timestamps ? 3 : 4),
        'the latest range first, then the others from the highest',
      );
      assert.deepEqual(
        sackBlocksOf(dupAcks[0]!),
        [[at(3), at(4)]],
        'the first duplicate ACK reports the first segment beyond the hole',
      );
    });
  }

  test('without SACK negotiated, no SACK option is sent', () => {
    const sim = new Sim({ target: { mss: MSS, rtoMs: TARGET_RTO_MS } });
    const c = connect(sim, { window: 65535, sackPermitted: false });
    const conn = sim.target.only();
    c.feed(c.data('GET /big'));
    sim.settle();
    const holeAt = conn.sndNxt;
    sim.toEngine = dropWhere((p) => p.payload.length > 0 && p.seq === holeAt, 1);
    const before = sim.injected().length;
    sim.target.respond(conn, bytes(5 * MSS), sim.now);
    sim.run(5);
    const dupAcks = sim.injected(before).filter((p) => p.flags === TcpFlag.ACK && p.ack === holeAt);
    assert.equal(dupAcks.length, 4);
    for (const p of dupAcks) assert.deepEqual(sackBlocksOf(p), []);
  });
});
