/**
 * The engine's optional observer hooks (--compare follows every copy through them): a flow's
 * start before its copies', each copy's start before its first packet, its close, and the flow's
 * end once every copy's tuple is freed; a port its client reused starts a new flow, and the old
 * one never reports an end that would be taken for the new one's.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ipv4ToString } from '@tcpcopy/common';
import { SessionEndReason, type EngineHost, type Tuple } from '@tcpcopy/copier';
import { CLIENT_IP, Sim, connect } from './harness.js';

type Event = string;

function observe(sim: Sim): Event[] {
  const events: Event[] = [];
  const endpoint = (ip: number, port: number): string => `${ipv4ToString(ip)}:${port}`;
  const copy = (t: Tuple): string => endpoint(t.srcIp, t.srcPort);
  const host: EngineHost = sim.host;
  const inject = sim.host.inject.bind(sim.host);
  host.inject = (packet, length, dstIp) => {
    events.push('inject');
    inject(packet, length, dstIp);
  };
  host.flowStarted = (ip, port) => events.push(`flowStarted ${endpoint(ip, port)}`);
  host.sessionStarted = (tuple, ip, port, replica) =>
    events.push(`sessionStarted ${copy(tuple)} of ${endpoint(ip, port)} #${replica}`);
  host.sessionClosed = (tuple, reason) => events.push(`sessionClosed ${copy(tuple)} ${reason}`);
  host.flowEnded = (ip, port) => events.push(`flowEnded ${endpoint(ip, port)}`);
  const routeDel = sim.host.routeDel.bind(sim.host);
  host.routeDel = (tuple) => {
    events.push(`routeDel ${copy(tuple)}`);
    routeDel(tuple);
  };
  return events;
}

const client = `${ipv4ToString(CLIENT_IP)}:40000`;

describe('engine: observer hooks', () => {
  test('-n 2: the flow, then each copy before its SYN; closes, then the flow ends after both tuples', () => {
    const sim = new Sim({ config: { copies: 2, lingerMs: 1000 } });
    const events = observe(sim);
    const c = connect(sim);
    const firsts = events.slice(0, 4);
    assert.equal(firsts[0], `flowStarted ${client}`);
    assert.match(firsts[1]!, new RegExp(`^sessionStarted \\S+ of ${client} #0$`));
    assert.equal(firsts[2], 'inject', "copy 0's SYN after its start");
    assert.match(firsts[3]!, new RegExp(`^sessionStarted \\S+ of ${client} #1$`));
    c.feed(c.rst());
    sim.settle();
    const closes = events.filter((e) => e.startsWith('sessionClosed'));
    assert.equal(closes.length, 2);
    for (const close of closes) assert.ok(close.endsWith(` ${SessionEndReason.ClientReset}`), close);
    assert.equal(events.filter((e) => e.startsWith('flowEnded')).length, 0, 'the tuples still linger');
    sim.run(1500);
    const tail = events.filter((e) => e.startsWith('routeDel') || e.startsWith('flowEnded'));
    assert.equal(tail.length, 3);
    assert.equal(tail[2], `flowEnded ${client}`, 'after both tuples are freed, once');
  });

  test("a reused port starts a new flow; the old flow's end is not reported for it", () => {
    const sim = new Sim({ config: { lingerMs: 1000 } });
    const events = observe(sim);
    const first = connect(sim);
    first.feed(first.rst());
    sim.settle();
    const second = connect(sim, { isn: 0x70000000 });
    assert.equal(events.filter((e) => e === `flowStarted ${client}`).length, 2);
    sim.run(1500);
    assert.equal(events.filter((e) => e.startsWith('flowEnded')).length, 0, 'the new flow is live');
    second.feed(second.rst());
    sim.settle();
    sim.run(1500);
    assert.deepEqual(
      events.filter((e) => e.startsWith('flowEnded')),
      [`flowEnded ${client}`],
    );
  });
});
