import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TcpFlag } from '@tcpcopy/common';
import { seqGe, seqLe } from '@tcpcopy/copier';
import { Sim, bytes, connect, dropWhere } from './harness.js';
import { describe as describePacket, isSyn, type Packet } from './packets.js';

/** Every injected packet after the handshake carries TSecr = the latest target TSval seen. */
function assertEcrTracksTarget(sim: Sim): void {
  for (const p of sim.injected()) {
    if (isSyn(p) || p.flags & TcpFlag.RST) continue;
    assert.ok(p.ts !== undefined, `timestamps on ${describePacket(p)}`);
    const arrived = (strict: boolean): number | undefined => {
      let best: number | undefined;
      for (const r of sim.targetSent) {
        const at = r.at + sim.latencyMs;
        if (r.ts === undefined || (strict ? at >= p.at : at > p.at)) continue;
        if (best === undefined || seqGe(r.ts.val, best)) best = r.ts.val;
      }
      return best;
    };
    const candidates = [arrived(true), arrived(false)];
    assert.ok(candidates.includes(p.ts.ecr), `TSecr of ${describePacket(p)} is one of ${candidates.join('/')}`);
  }
}

function assertTsValMonotonic(packets: readonly Packet[]): void {
  let last: number | undefined;
  for (const p of packets) {
    if (p.ts === undefined || p.flags & TcpFlag.RST) continue;
    if (last !== undefined)
      assert.ok(seqLe(last, p.ts.val), `TSval went back to ${p.ts.val} from ${last}: ${describePacket(p)}`);
    last = p.ts.val;
  }
}

describe('engine: TCP timestamps (RFC 7323)', () => {
  test('TSecr carries the target’s latest TSval through requests and responses', () => {
    const sim = new Sim({ latencyMs: 3 });
    const c = connect(sim, { timestamps: true });
    const conn = sim.target.only();
    assert.equal(conn.tsOk, true);
    for (let i = 0; i < 5; i++) {
      sim.run(37);
      c.feed(c.data(`req-${i}`, i === 0 ? 0 : 1000));
      sim.run(5);
      sim.target.respond(conn, bytes(1000, i), sim.now);
      sim.settle();
    }
    assertEcrTracksTarget(sim);
    assertTsValMonotonic(sim.injected());
    assert.equal(conn.pawsDrops, 0);
    assert.equal(conn.badEcrs, 0);
  });

  test('TSval never decreases: a client clock that steps back and retransmissions are clamped', () => {
    const sim = new Sim();
    const c = connect(sim, { timestamps: true });
    const conn = sim.target.only();
    c.feed(c.data('one'));
    sim.settle();
    c.tsOffset = -500; // e.g. a segment captured out of TS order
    c.feed(c.data('two'));
    sim.settle();
    sim.toTarget = dropWhere((p) => p.payload.toString() === 'three', 1);
    c.tsOffset = 0;
    c.feed(c.data('three'));
    sim.run(50);
    c.tsOffset = 10_000;
    c.feed(c.data('four'));
    sim.run(1000);
    assertTsValMonotonic(sim.injected());
    assert.equal(conn.pawsDrops, 0);
    assert.equal(conn.received.toString(), 'onetwothreefour');
  });

  test('TSval wraps around 2^32 without going “backwards”', () => {
    const sim = new Sim();
    const c = connect(sim, { timestamps: true, tsBase: 0xffffffff - 20 });
    const conn = sim.target.only();
    for (let i = 0; i < 4; i++) {
      sim.run(15);
      c.feed(c.data(`w${i}`));
      sim.settle();
    }
    assert.ok(
      sim.injected().some((p) => p.ts !== undefined && p.ts.val < 100),
      'the TS clock wrapped',
    );
    assertTsValMonotonic(sim.injected());
    assert.equal(conn.pawsDrops, 0);
    assert.equal(conn.received.toString(), 'w0w1w2w3');
  });

  test('a target that refuses timestamps gets no TSecr rewriting and the faked ACKs carry none', () => {
    const sim = new Sim({ target: { timestamps: false } });
    const c = connect(sim, { timestamps: true });
    c.feed(c.data('x'));
    sim.settle();
    const acks = sim.injected().filter((p) => p.flags === TcpFlag.ACK);
    assert.ok(acks.length > 0);
    for (const a of acks) assert.equal(a.ts, undefined, describePacket(a));
    assert.equal(sim.target.only().received.toString(), 'x');
  });
});
