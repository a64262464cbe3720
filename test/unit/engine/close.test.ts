import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TcpFlag } from '@tcpcopy/common';
import { buildTcpPacket } from '@tcpcopy/common/testing';
import { FIN_RELEASE_QUIET_MS, FIN_WAIT_MS, seqAdd } from '@tcpcopy/copier';
import { Sim, TARGET_IP, TARGET_PORT, bytes, connect, dropWhere } from './harness.js';
import { decodePacket, hasFlags, isRst, type Packet } from './packets.js';

const isFin = (p: Packet): boolean => (p.flags & TcpFlag.FIN) !== 0;
const isData = (p: Packet): boolean => p.payload.length > 0;

describe('engine: closing (FIN and RST both ways)', () => {
  test('the client FIN is forwarded only once its data is acknowledged', () => {
    const sim = new Sim({ latencyMs: 5 });
    const c = connect(sim);
    c.feed(c.data(bytes(1000)));
    c.feed(c.fin());
    const dataAt = sim.now;
    sim.run(5);
    assert.equal(sim.injected().filter(isFin).length, 0, 'held while the data is unacknowledged');
    sim.settle();
    const fin = sim.injected().find(isFin)!;
    assert.equal(fin.at, dataAt + 10, 'sent when the ACK arrives');
    assert.equal(fin.seq, seqAdd(c.isn, 1001));
    const conn = sim.target.only();
    assert.equal(conn.finReceived, true);
    assert.deepEqual(conn.received, c.stream);
  });

  test('both FINs: the session finishes cleanly, no RST, the route goes after the linger', () => {
    const sim = new Sim({ config: { lingerMs: 2000 }, target: { onFin: (conn, now) => sim.target.close(conn, now) } });
    const c = connect(sim);
    c.feed(c.data('bye'));
    c.feed(c.fin());
    sim.settle();
    const conn = sim.target.only();
    assert.equal(conn.state, 'closed');
    assert.equal(conn.finAcked, true, 'the engine acked the target FIN');
    assert.equal(sim.engine.counters.sessionsEnded.finished, 1);
    assert.equal(sim.injected().filter(isRst).length, 0);
    assert.equal(conn.timeWaitPackets, 0);
    const endedAt = sim.now;
    assert.equal(sim.host.routeDels.length, 0);
    sim.run(3000);
    assert.equal(sim.host.routeDels.length, 1);
    const del = sim.host.events.find((e) => e.kind === 'routeDel')!;
    assert.ok(del.at >= endedAt + 2000 - 2 && del.at <= endedAt + 2000, `routeDel at ${del.at}`);
    assert.equal(sim.engine.sessionCount, 0);
  });

  test('a lost final ACK: the target’s FIN retransmission is acked again, not reset', () => {
    const sim = new Sim({ target: { onFin: (conn, now) => sim.target.close(conn, now) } });
    const c = connect(sim);
    c.feed(c.data('bye'));
    sim.settle();
    // Drop the engine's ACK of the target's FIN (the last packet of the exchange).
    sim.toTarget = dropWhere((p) => p.flags === TcpFlag.ACK && sim.target.only().finSent, 1);
    c.feed(c.fin());
    sim.run(1000);
    const conn = sim.target.only();
    assert.equal(sim.engine.counters.sessionsEnded.finished, 1);
    assert.equal(conn.finAcked, true, 'the FIN retransmission was acknowledged');
    assert.equal(conn.resetByPeer, false);
    assert.equal(sim.injected().filter(isRst).length, 0, sim.describeAll());
    assert.equal(sim.engine.counters.resetsToStrays, 0);
  });

  test('after a clean close, a late duplicate is acked (TIME_WAIT) while new data is reset', () => {
    const sim = new Sim({ target: { onFin: (conn, now) => sim.target.close(conn, now) } });
    const c = connect(sim);
    const conn = sim.target.only();
    c.feed(c.data('req'));
    sim.settle();
    sim.target.respond(conn, 'response', sim.now);
    sim.settle();
    c.feed(c.fin(8));
    sim.settle();
    assert.equal(sim.engine.counters.sessionsEnded.finished, 1);
    const old = sim.targetSent.find((p) => p.payload.length > 0)!;
    const before = sim.injected().length;
    sim.targetRecord(old);
    const reply = sim.injected().slice(before);
    assert.equal(reply.length, 1);
    assert.equal(reply[0]!.flags, TcpFlag.ACK, 'acknowledged, not reset');
    assert.equal(reply[0]!.ack, conn.sndNxt);
    const fresh = buildTcpPacket({
      src: TARGET_IP,
      dst: c.ip,
      srcPort: TARGET_PORT,
      dstPort: c.port,
      seq: conn.sndNxt,
      ack: conn.rcvNxt,
      flags: TcpFlag.ACK | TcpFlag.PSH,
      window: 100,
      payload: Buffer.from('new'),
    });
    sim.targetRecord(decodePacket(fresh));
    assert.ok(isRst(sim.injected().at(-1)!), 'data beyond the close is reset');
    assert.equal(sim.engine.counters.resetsToStrays, 1);
  });

  test('the target closes first: its FIN is acked; the client FIN later finishes the session', () => {
    const sim = new Sim();
    const c = connect(sim);
    const conn = sim.target.only();
    c.feed(c.data('GET'));
    sim.settle();
    sim.target.respond(conn, 'response', sim.now);
    sim.target.close(conn, sim.now);
    sim.settle();
    assert.equal(conn.finAcked, true);
    // The real client acks production's 8 bytes and its FIN: the target sent as much, so the
    // client FIN is not held by pacing.
    const t = sim.now;
    c.feed(c.fin(8 + 1));
    assert.equal(sim.injected().find(isFin)?.at, t);
    sim.settle();
    assert.equal(conn.finReceived, true);
    assert.equal(sim.engine.counters.sessionsEnded.finished, 1);
    assert.equal(sim.injected().filter(isRst).length, 0);
    assert.equal(conn.timeWaitPackets, 0, 'no redundant ACK after the FIN exchange');
  });

  test('the target closes and the client never does: the session ends after FIN_WAIT_MS with an RST', () => {
    const sim = new Sim();
    connect(sim);
    const conn = sim.target.only();
    sim.target.close(conn, sim.now);
    const closedAt = sim.now;
    sim.run(FIN_WAIT_MS + 100);
    assert.equal(sim.engine.counters.sessionsEnded.finished, 1);
    const rst = sim.injected().find(isRst)!;
    assert.ok(rst.at >= closedAt + FIN_WAIT_MS && rst.at <= closedAt + FIN_WAIT_MS + 2);
  });

  test("an answer still flowing after the client's FIN is not cut: FIN_WAIT_MS counts the test server's silence", () => {
    const sim = new Sim();
    const c = connect(sim);
    const conn = sim.target.only();
    c.feed(c.data('GET'));
    sim.settle();
    // The real client got production's 100-byte answer and closed; the test server has sent
    // nothing yet, so the FIN waits for it to be quiet, then goes.
    c.feed(c.fin(100));
    sim.run(FIN_RELEASE_QUIET_MS + 100);
    const finAt = sim.injected().find(isFin)?.at;
    assert.ok(finAt !== undefined, 'the FIN was released after the quiet time');
    // The answer trickles in, a piece a second, for twice FIN_WAIT_MS after the FIN.
    for (let piece = 0; piece < (2 * FIN_WAIT_MS) / 1000; piece++) {
      sim.target.respond(conn, 'x'.repeat(10), sim.now);
      sim.run(1000);
    }
    assert.equal(sim.injected().filter(isRst).length, 0, 'the session was cut while the answer flowed');
    assert.equal(conn.received.length, 3, 'the test server saw the request');
    sim.target.close(conn, sim.now);
    sim.settle();
    assert.equal(sim.engine.counters.sessionsEnded.finished, 1);
    assert.equal(sim.injected().filter(isRst).length, 0);
  });

  test('a target RST ends the session (target_reset) and nothing more is sent', () => {
    const sim = new Sim();
    const c = connect(sim);
    const conn = sim.target.only();
    c.feed(c.data('one'));
    sim.settle();
    sim.target.reset(conn, sim.now);
    sim.settle();
    assert.equal(sim.engine.counters.sessionsEnded.target_reset, 1);
    const before = sim.injected().length;
    c.feed(c.data('two', 100));
    sim.run(1000);
    assert.equal(sim.injected().length, before, 'no RST answers an RST, no more data');
    assert.equal(sim.engine.totalBufferedBytes, 0);
  });

  test('an out-of-window target RST is ignored (RFC 5961)', () => {
    const sim = new Sim();
    const c = connect(sim);
    const conn = sim.target.only();
    const rst = buildTcpPacket({
      src: TARGET_IP,
      dst: c.ip,
      srcPort: TARGET_PORT,
      dstPort: c.port,
      seq: seqAdd(conn.sndNxt, 0x40000000),
      ack: 0,
      flags: TcpFlag.RST,
      window: 0,
    });
    sim.targetRecord(decodePacket(rst));
    assert.equal(sim.engine.counters.sessionsEnded.target_reset, 0);
    c.feed(c.data('still alive'));
    sim.settle();
    assert.equal(conn.received.toString(), 'still alive');
  });

  test('a client RST on an idle connection is forwarded (client_reset)', () => {
    const sim = new Sim();
    const c = connect(sim);
    c.feed(c.data('abc'));
    sim.settle();
    c.feed(c.rst());
    sim.settle();
    const rst = sim.injected().find(isRst)!;
    assert.equal(rst.seq, seqAdd(c.isn, 4));
    assert.equal(sim.target.only().resetByPeer, true);
    assert.equal(sim.engine.counters.sessionsEnded.client_reset, 1);
  });

  test('a client RST right behind data in flight is forwarded after the data', () => {
    const sim = new Sim({ latencyMs: 5 });
    const c = connect(sim);
    c.feed(c.data(bytes(200)));
    c.feed(c.rst());
    sim.run(1000);
    const conn = sim.target.only();
    assert.deepEqual(conn.received, c.stream);
    assert.equal(conn.resetByPeer, true, sim.describeAll());
    assert.equal(sim.engine.counters.sessionsEnded.client_reset, 1);
  });

  test('stray target packets after the end are answered with RST; unknown after the linger', () => {
    const sim = new Sim({ config: { lingerMs: 1000 } });
    const c = connect(sim);
    const conn = sim.target.only();
    sim.target.reset(conn, sim.now);
    sim.settle();
    const stray = (seq: number): Packet =>
      decodePacket(
        buildTcpPacket({
          src: TARGET_IP,
          dst: c.ip,
          srcPort: TARGET_PORT,
          dstPort: c.port,
          seq,
          ack: seqAdd(c.isn, 1),
          flags: TcpFlag.ACK | TcpFlag.PSH,
          window: 100,
          payload: Buffer.from('late'),
        }),
      );
    const before = sim.injected().length;
    sim.targetRecord(stray(conn.sndNxt));
    const out = sim.injected().slice(before);
    assert.equal(out.length, 1);
    assert.ok(hasFlags(out[0]!, TcpFlag.RST));
    assert.equal(out[0]!.seq, seqAdd(c.isn, 1), 'RST seq = the stray packet’s ack');
    assert.equal(sim.engine.counters.resetsToStrays, 1);
    // A stray pure ACK is not answered.
    const ack = buildTcpPacket({
      src: TARGET_IP,
      dst: c.ip,
      srcPort: TARGET_PORT,
      dstPort: c.port,
      seq: conn.sndNxt,
      ack: seqAdd(c.isn, 1),
      flags: TcpFlag.ACK,
      window: 100,
    });
    sim.targetRecord(decodePacket(ack));
    assert.equal(sim.injected().length, before + 1);
    sim.run(1500);
    assert.equal(sim.host.routeDels.length, 1);
    sim.targetRecord(stray(conn.sndNxt));
    assert.equal(sim.injected().length, before + 1, 'forgotten: not ours any more');
    assert.equal(sim.engine.counters.targetUnknownSession, 1);
  });

  test('client data after the target reset is not sent while the session lingers', () => {
    const sim = new Sim({ config: { lingerMs: 1000 } });
    const c = connect(sim);
    sim.target.reset(sim.target.only(), sim.now);
    sim.settle();
    c.feed(c.data('x'));
    sim.run(500);
    assert.equal(sim.injected().filter(isData).length, 0);
  });
});
