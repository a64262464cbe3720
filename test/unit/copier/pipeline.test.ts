/**
 * The pipeline never copies the copier's own packets: from a -c fake address, or addressed to a
 * test server (what a copy looks like with the real client addresses, or when -F replaced the
 * built filter and a loopback target's copies reach the capture). Same-port copies must not loop.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { LinkType, TcpFlag, type Ipv4View, type TcpView } from '@tcpcopy/common';
import { buildTcpPacket, toAddress } from '@tcpcopy/common/testing';
import { Pipeline, type TrafficObserver } from '@tcpcopy/copier/daemon';
import { CLIENT_IP, PROD_IP, PROD_PORT, Sim, TARGET_IP, TARGET_PORT } from '../engine/harness.js';

function syn(src: number, dst: number, dstPort: number): Buffer {
  return buildTcpPacket({ src, dst, srcPort: 40000, dstPort, seq: 1, ack: 0, flags: TcpFlag.SYN, window: 65535 });
}

describe('Pipeline', () => {
  test("a packet to a test server's address and port is ignored as our own, not copied", () => {
    const sim = new Sim();
    const fake = toAddress('10.99.0.1');
    const pipeline = new Pipeline(sim.engine, [fake], [{ targetIp: TARGET_IP, targetPort: TARGET_PORT }]);
    for (const frame of [syn(CLIENT_IP, TARGET_IP, TARGET_PORT), syn(fake, PROD_IP, PROD_PORT)]) {
      pipeline.onFrame(LinkType.Ipv4, frame, 0, frame.length, sim.now);
    }
    assert.equal(pipeline.counters.ownPacketsIgnored, 2);
    assert.equal(sim.engine.counters.sessionsStarted, 0);
    const client = syn(CLIENT_IP, PROD_IP, PROD_PORT);
    pipeline.onFrame(LinkType.Ipv4, client, 0, client.length, sim.now);
    assert.equal(pipeline.counters.ownPacketsIgnored, 2);
    assert.equal(sim.engine.counters.sessionsStarted, 1, "a client's packet to production is copied");
  });

  test('what this host sends never reaches the engine: production answers go to the observer, the rest is ignored', () => {
    const sim = new Sim();
    const seen: string[] = [];
    const observer: TrafficObserver = {
      clientSegment: (_ip: Ipv4View, tcp: TcpView) => seen.push(`client ${tcp.srcPort}->${tcp.dstPort}`),
      serverSegment: (ip: Ipv4View, tcp: TcpView) => {
        const answer = tcp.srcPort === PROD_PORT && ip.src === PROD_IP;
        if (answer) seen.push(`answer to ${tcp.dstPort}`);
        return answer;
      },
      targetSegment: () => seen.push('target'),
    };
    const pipeline = new Pipeline(sim.engine, [], [{ targetIp: TARGET_IP, targetPort: TARGET_PORT }], observer);
    const feed = (frame: Buffer, outgoing: boolean): void =>
      pipeline.onFrame(LinkType.Ipv4, frame, 0, frame.length, sim.now, outgoing);
    const answer = buildTcpPacket({
      src: PROD_IP,
      dst: CLIENT_IP,
      srcPort: PROD_PORT,
      dstPort: 40000,
      seq: 9,
      ack: 2,
      flags: TcpFlag.SYN | TcpFlag.ACK,
      window: 65535,
    });
    // A client's SYN that this host sent itself (a local client, seen leaving on lo): not copied.
    feed(syn(CLIENT_IP, PROD_IP, PROD_PORT), true);
    assert.equal(sim.engine.counters.sessionsStarted, 0);
    feed(syn(CLIENT_IP, PROD_IP, PROD_PORT), false);
    assert.equal(sim.engine.counters.sessionsStarted, 1);
    feed(answer, true);
    // A mirror port: production's answer arrives from outside.
    feed(answer, false);
    assert.deepEqual(seen, [`client 40000->${PROD_PORT}`, 'answer to 40000', 'answer to 40000']);
    assert.equal(pipeline.counters.answersCaptured, 2);
    assert.equal(pipeline.counters.ownPacketsIgnored, 1);
    assert.equal(pipeline.counters.framesNotMatched, 0);
  });
});
