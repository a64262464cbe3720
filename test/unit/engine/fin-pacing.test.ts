/**
 * The client's FIN and pacing. A request the quiet rule released early (the test server's
 * response stalled on a loss) is pipelined behind the unfinished response; the test server then
 * still owes response bytes when the client's FIN comes. Sent then, the FIN reaches a server still
 * writing: nginx counts it as "client prematurely closed connection" and resets, losing every
 * response and pipelined request it had not finished (found by a keep-alive e2e run under 3 %
 * frame loss). So a FIN waits until the target has sent, over the whole connection, as much as
 * production did, or has been quiet long enough to cover its retransmission timeout.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TcpFlag } from '@tcpcopy/common';
import { FIN_RELEASE_QUIET_MS, responseQuietMs } from '@tcpcopy/copier';
import { Sim, bytes, connect } from './harness.js';
import type { Packet } from './packets.js';

const RESPONSE = 1000;

function sentAt(sim: Sim, text: string): Packet | undefined {
  return sim.injected().find((p) => p.payload.toString() === text);
}

function finSent(sim: Sim): Packet | undefined {
  return sim.injected().find((p) => (p.flags & TcpFlag.FIN) !== 0);
}

/** req-1 answered in full; req-2's response stalls after 300 bytes, so req-3 is released early. */
function pipelinedBehindAStall(): { sim: Sim; c: ReturnType<typeof connect>; conn: ReturnType<Sim['target']['only']> } {
  const sim = new Sim({ latencyMs: 2 });
  const c = connect(sim);
  const conn = sim.target.only();
  c.feed(c.data('req-1'));
  sim.settle();
  sim.target.respond(conn, bytes(RESPONSE), sim.now);
  sim.settle();
  c.feed(c.data('req-2', RESPONSE));
  sim.settle();
  assert.ok(sentAt(sim, 'req-2'), 'req-2 released: the target answered req-1 in full');
  sim.target.respond(conn, bytes(300), sim.now);
  sim.settle();
  c.feed(c.data('req-3', RESPONSE));
  sim.run(responseQuietMs(0) + 50);
  assert.ok(sentAt(sim, 'req-3'), 'req-3 released by the quiet rule while response 2 stalls');
  sim.target.respond(conn, bytes(RESPONSE - 300), sim.now); // the rest of response 2
  sim.settle();
  return { sim, c, conn };
}

describe('engine: the client FIN waits for the whole response', () => {
  test('a FIN is held while the target still owes response bytes, though the last response looks complete', () => {
    const { sim, c, conn } = pipelinedBehindAStall();
    c.feed(c.fin(RESPONSE)); // production had answered req-3 in full
    sim.target.respond(conn, bytes(RESPONSE - 300), sim.now); // response 3, but for its last 300 bytes
    sim.run(50);
    assert.equal(finSent(sim), undefined, `FIN sent with 300 response bytes still owed:\n${sim.describeAll()}`);
    const last = sim.now;
    sim.target.respond(conn, bytes(300), sim.now);
    sim.run(20);
    const fin = finSent(sim);
    assert.ok(fin, 'FIN released once the target sent what production did');
    assert.ok(fin.at - last <= 10, `FIN released on arrival of the last bytes (after ${fin.at - last} ms)`);
    assert.equal(conn.received.toString(), 'req-1req-2req-3');
    assert.equal(sim.engine.counters.finsReleasedOnQuiet, 0, 'no bound was hit');
  });

  test('a target whose responses are shorter gets the FIN after FIN_RELEASE_QUIET_MS of quiet', () => {
    const { sim, c, conn } = pipelinedBehindAStall();
    c.feed(c.fin(RESPONSE));
    sim.target.respond(conn, bytes(100), sim.now); // the target's version of response 3 is shorter
    sim.settle();
    const quietFrom = sim.now;
    sim.run(FIN_RELEASE_QUIET_MS - 50);
    assert.equal(finSent(sim), undefined, 'held within the quiet period');
    assert.equal(sim.engine.counters.finsReleasedOnQuiet, 0);
    sim.run(100);
    const fin = finSent(sim);
    assert.ok(fin, 'released after the quiet period');
    assert.equal(sim.engine.counters.finsReleasedOnQuiet, 1, 'the bound was hit: counted');
    assert.ok(
      fin.at - quietFrom <= FIN_RELEASE_QUIET_MS + 5,
      `released ${fin.at - quietFrom} ms after the target went quiet`,
    );
  });
});
