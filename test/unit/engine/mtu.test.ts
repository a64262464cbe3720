import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TcpFlag } from '@tcpcopy/common';
import { Client, Sim, assertChecksums, bytes, connect } from './harness.js';
import type { Packet } from './packets.js';

const isData = (p: Packet): boolean => p.payload.length > 0;

describe('engine: captured packets larger than the MTU (receive offload)', () => {
  test('a 4000-byte capture is split into MTU-sized segments with valid checksums', () => {
    const sim = new Sim({ config: { mtu: 1500 } });
    const c = connect(sim, { timestamps: true });
    c.feed(c.data(bytes(4000, 9), 0, TcpFlag.ACK | TcpFlag.PSH));
    sim.settle();
    const pieces = sim.injected().filter(isData);
    assert.equal(pieces.length, 3);
    for (const p of pieces) assert.ok(p.raw.length <= 1500, `piece of ${p.raw.length} bytes`);
    assert.deepEqual(
      pieces.map((p) => p.flags & TcpFlag.PSH),
      [0, 0, TcpFlag.PSH],
      'PSH only on the last piece',
    );
    assert.ok(
      pieces.every((p) => p.ts !== undefined),
      'options are kept on every piece',
    );
    assertChecksums(sim);
    assert.deepEqual(sim.target.only().received, c.stream);
    assert.equal(sim.engine.counters.segmentsSplit, 3);
  });

  test('a FIN on an oversized capture stays on the last piece', () => {
    const sim = new Sim({ config: { mtu: 576 } });
    const c = connect(sim);
    c.feed(c.data(bytes(2000), 0, TcpFlag.ACK | TcpFlag.FIN));
    sim.settle();
    const pieces = sim.injected().filter(isData);
    assert.ok(pieces.length >= 4);
    for (const p of pieces) assert.ok(p.raw.length <= 576);
    assert.deepEqual(
      pieces.map((p) => (p.flags & TcpFlag.FIN) !== 0),
      pieces.map((_, i) => i === pieces.length - 1),
    );
    const conn = sim.target.only();
    assert.deepEqual(conn.received, c.stream);
    assert.equal(conn.finReceived, true);
    assertChecksums(sim);
  });

  test('an oversized first segment of a joined session is split after the faked handshake', () => {
    const sim = new Sim({ config: { mtu: 1000 } });
    const c = new Client(sim);
    c.feed(c.data(bytes(2500, 4)));
    sim.settle();
    for (const p of sim.injected()) assert.ok(p.raw.length <= 1000);
    assert.deepEqual(sim.target.only().received, c.stream);
    assertChecksums(sim);
  });

  test('the pieces of a split capture reach every replica', () => {
    const sim = new Sim({ config: { mtu: 1500, copies: 2 } });
    const c = connect(sim);
    c.feed(c.data(bytes(6000, 5)));
    sim.settle();
    assert.equal(sim.target.accepted.length, 2);
    for (const conn of sim.target.accepted) assert.deepEqual(conn.received, c.stream);
  });
});
