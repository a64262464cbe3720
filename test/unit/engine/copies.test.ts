import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { toAddress } from '@tcpcopy/common/testing';
import {
  FIRST_FAKE_PORT,
  FakeAddressPlan,
  endpointKey,
  sampled,
  type EngineTarget,
  type TupleOccupancy,
  type Tuple,
} from '@tcpcopy/copier';
import { CLIENT_IP, Client, Sim, TARGET_IP, TARGET_PORT, bytes, connect, engineConfig } from './harness.js';

const target: EngineTarget = { matchIp: 0, matchPort: 8000, targetIp: TARGET_IP, targetPort: TARGET_PORT };
const pool = (n: number): number[] => Array.from({ length: n }, (_, i) => toAddress(`10.99.0.${i + 1}`));
const tupleKey = (t: Tuple): string => `${t.srcIp}:${t.srcPort}>${t.dstIp}:${t.dstPort}`;

/** A request/response exchange on every replica, then the client closes. */
function exchange(sim: Sim, c: Client): void {
  c.feed(c.data(bytes(700, 1)));
  sim.settle();
  for (const conn of sim.target.accepted) sim.target.respond(conn, bytes(300), sim.now);
  sim.settle();
  c.feed(c.data(bytes(900, 2), 300));
  sim.settle();
  c.feed(c.fin());
  sim.settle();
}

function assertReplicas(sim: Sim, c: Client, n: number): Tuple[] {
  const adds = sim.host.routeAdds;
  assert.equal(adds.length, n);
  assert.equal(new Set(adds.map(tupleKey)).size, n, 'distinct 4-tuples');
  assert.equal(sim.target.accepted.length, n);
  for (const conn of sim.target.accepted) {
    assert.deepEqual(conn.received, c.stream, `replica ${conn.clientPort} received the whole stream`);
    assert.equal(conn.finReceived, true);
  }
  assert.equal(sim.engine.counters.sessionsStarted, n);
  assert.equal(sim.engine.counters.sessionsEstablished, n);
  return adds;
}

describe('engine: -n replicas, -c fake addresses, -f port shift', () => {
  test('-n 3 without -c: three sessions on distinct source ports, each with the full stream', () => {
    const sim = new Sim({ config: { copies: 3 } });
    const c = connect(sim, { port: 50000 });
    exchange(sim, c);
    const adds = assertReplicas(sim, c, 3);
    for (const t of adds) assert.equal(t.srcIp, CLIENT_IP);
    assert.equal(adds[0]!.srcPort, 50000, 'the first copy keeps the client port');
  });

  test('-n 5 with a -c pool of 2: addresses from the pool, tuples still distinct', () => {
    const sim = new Sim({ config: { copies: 5, fakeIps: pool(2) } });
    const c = connect(sim);
    exchange(sim, c);
    const adds = assertReplicas(sim, c, 5);
    for (const t of adds) assert.ok(pool(2).includes(t.srcIp));
    assert.equal(new Set(adds.map((t) => t.srcIp)).size, 2);
  });

  test('-n 3 with a -c pool of 4: one fake address per replica', () => {
    const sim = new Sim({ config: { copies: 3, fakeIps: pool(4) } });
    const c = connect(sim);
    exchange(sim, c);
    const adds = assertReplicas(sim, c, 3);
    assert.equal(new Set(adds.map((t) => t.srcIp)).size, 3);
  });

  test('-c maps a client to the same fake address for all its sessions', () => {
    const sim = new Sim({ config: { fakeIps: pool(3) } });
    const a = connect(sim, { port: 1111 });
    const b = connect(sim, { port: 2222 });
    const other = connect(sim, { port: 3333, ip: CLIENT_IP + 1 });
    const [ta, tb, tother] = sim.host.routeAdds;
    assert.equal(ta!.srcIp, tb!.srcIp);
    assert.notEqual(ta!.srcIp, tother!.srcIp, 'round robin over the pool for new clients');
    a.feed(a.data('a'));
    b.feed(b.data('b'));
    other.feed(other.data('o'));
    sim.settle();
    assert.deepEqual(
      sim.target.accepted.map((conn) => conn.received.toString()),
      ['a', 'b', 'o'],
    );
  });

  test('-f shifts every source port', () => {
    const sim = new Sim({ config: { portShift: 2048 } });
    connect(sim, { port: 40000 });
    assert.equal(sim.host.routeAdds[0]!.srcPort, 42048);
    connect(sim, { port: 65000 });
    const wrapped = sim.host.routeAdds[1]!.srcPort;
    assert.ok(wrapped >= FIRST_FAKE_PORT && wrapped <= 0xffff, `wrapped into the unprivileged range: ${wrapped}`);
  });

  test('two clients whose shifted ports collide still get distinct tuples', () => {
    // Client 1 on port 1000+shift lands where client 2 already is; -c not used.
    const sim = new Sim({ config: { copies: 2 } });
    const c1 = connect(sim, { port: 40000 });
    const c2 = connect(sim, { port: 40000 + 4099 }); // replica 1 of c1 would want this port
    const adds = sim.host.routeAdds;
    assert.equal(adds.length, 4);
    assert.equal(new Set(adds.map(tupleKey)).size, 4);
    c1.feed(c1.data('one'));
    c2.feed(c2.data('two'));
    sim.settle();
    const got = sim.target.accepted.map((conn) => conn.received.toString()).sort();
    assert.deepEqual(got, ['one', 'one', 'two', 'two']);
  });
});

describe('engine: -r sampling', () => {
  test('sampled() is stable per ip:port and close to the percentage', () => {
    let kept = 0;
    for (let port = 1024; port < 11024; port++) {
      const first = sampled(CLIENT_IP, port, 30);
      assert.equal(sampled(CLIENT_IP, port, 30), first);
      if (first) kept++;
    }
    assert.ok(kept > 2700 && kept < 3300, `kept ${kept} of 10000 at 30 %`);
    assert.equal(sampled(CLIENT_IP, 1, 100), true);
  });

  test('-g ramps the copied share from 1 % to 100 % over the first 100 s, overriding -r', () => {
    const sim = new Sim({ config: { rampUp: true, samplePercent: 100 } });
    const startAt = (second: number, ports: number[]): number[] => {
      sim.run(Math.max(0, second * 1000 - sim.now));
      for (const port of ports) {
        const c = new Client(sim, { port });
        c.feed(c.syn());
      }
      return ports.filter((p) => sampled(CLIENT_IP, p, Math.min(100, second + 1)));
    };
    const early = startAt(
      0,
      Array.from({ length: 300 }, (_, i) => 10000 + i),
    );
    const middle = startAt(
      49,
      Array.from({ length: 300 }, (_, i) => 11000 + i),
    );
    const late = startAt(
      100,
      Array.from({ length: 100 }, (_, i) => 12000 + i),
    );
    const started = new Set(sim.host.routeAdds.map((t) => t.srcPort));
    assert.deepEqual(
      [...started].filter((p) => p < 11000),
      early,
      'second 0: 1 %',
    );
    assert.deepEqual(
      [...started].filter((p) => p >= 11000 && p < 12000),
      middle,
      'second 49: 50 %',
    );
    assert.equal([...started].filter((p) => p >= 12000).length, late.length, 'from second 99 on: everything');
    assert.equal(late.length, 100);
    assert.ok(
      early.length < 15 && middle.length > 100 && middle.length < 200,
      `${early.length} early, ${middle.length} at 50 %`,
    );
  });

  test('whole sessions are sampled: every packet of a sampled-out client is ignored', () => {
    const sim = new Sim({ config: { samplePercent: 40 } });
    const ports = Array.from({ length: 60 }, (_, i) => 20000 + i);
    const clients = ports.map((port) => {
      const c = new Client(sim, { port });
      c.feed(c.syn());
      return c;
    });
    sim.settle();
    for (const c of clients) {
      c.feed(c.pureAck());
      c.feed(c.data(`from ${c.port}`));
    }
    sim.settle();
    const expected = ports.filter((p) => sampled(CLIENT_IP, p, 40));
    assert.ok(expected.length > 10 && expected.length < 50);
    assert.deepEqual(
      sim.target.accepted.map((conn) => conn.clientPort),
      expected,
    );
    for (const conn of sim.target.accepted) assert.equal(conn.received.toString(), `from ${conn.clientPort}`);
    assert.equal(sim.engine.counters.sessionsStarted, expected.length);
  });
});

describe('engine: tuple space', () => {
  test('allocate(): a full fake address is told in a bounded number of tries; the next pool address takes over', () => {
    const one = new FakeAddressPlan([toAddress('10.99.0.1')], 0);
    let tries = 0;
    const all: TupleOccupancy = { has: () => (tries++, true) };
    assert.equal(one.allocate(CLIENT_IP, 40000, 0, target, all), undefined);
    assert.ok(tries <= 512, `${tries} tries, not a scan of every port`);
    const taken = new Set<number>();
    for (let port = FIRST_FAKE_PORT; port <= 0xffff; port++)
      if (port !== 1234) taken.add(endpointKey(toAddress('10.99.0.1'), port));
    assert.equal(one.allocate(CLIENT_IP, 40000, 0, target, taken), undefined, 'nearly full counts as full');
    const two = new FakeAddressPlan([toAddress('10.99.0.1'), toAddress('10.99.0.2')], 0);
    const spilled = two.allocate(CLIENT_IP, 40000, 0, target, taken);
    assert.equal(spilled?.srcIp, toAddress('10.99.0.2'));
    assert.equal(spilled?.srcPort, 40000);
  });

  test('-H: a loopback client is copied from the -H address, and -c maps that one', () => {
    const loopback = toAddress('127.0.0.1');
    const replacement = toAddress('10.50.0.9');
    const none = new Set<number>();
    const plain = new FakeAddressPlan([], 0, replacement);
    assert.equal(plain.allocate(loopback, 40000, 0, target, none)?.srcIp, replacement);
    assert.equal(plain.allocate(toAddress('127.8.0.1'), 40000, 0, target, none)?.srcIp, replacement);
    assert.equal(plain.allocate(CLIENT_IP, 40000, 0, target, none)?.srcIp, CLIENT_IP, 'others keep their own');
    assert.equal(new FakeAddressPlan([], 0).allocate(loopback, 40000, 0, target, none)?.srcIp, loopback);
    const pooled = new FakeAddressPlan([toAddress('10.99.0.1'), toAddress('10.99.0.2')], 0, replacement);
    const first = pooled.allocate(loopback, 40000, 0, target, none)?.srcIp;
    assert.equal(pooled.allocate(replacement, 40001, 0, target, none)?.srcIp, first, 'the same fake address as -H');
  });

  test('allocate() never hands out a taken tuple and never a privileged port', () => {
    const plan = new FakeAddressPlan([], 0);
    const taken = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const t = plan.allocate(CLIENT_IP, 65000 + (i % 500), i % 7, target, taken)!;
      const key = endpointKey(t.srcIp, t.srcPort);
      assert.ok(!taken.has(key));
      assert.ok(t.srcPort >= FIRST_FAKE_PORT || t.srcPort === 65000 + (i % 500));
      taken.add(key);
    }
  });

  test('a long run of taken ports (a client taking its ports in sequence) is left in a few tries', () => {
    const plan = new FakeAddressPlan([toAddress('10.99.0.1')], 0);
    const target = { matchIp: 0, matchPort: 80, targetIp: TARGET_IP, targetPort: 80 };
    const run = new Set<number>();
    for (let port = 20_000; port < 60_000; port++) run.add(endpointKey(toAddress('10.99.0.1'), port));
    let tries = 0;
    const taken: TupleOccupancy = { has: (key) => (tries++, run.has(key)) };
    const tuple = plan.allocate(CLIENT_IP, 30_000, 0, target, taken);
    assert.ok(tuple !== undefined && !run.has(endpointKey(tuple.srcIp, tuple.srcPort)));
    // Steps of 7,919 leave a run of 40,000 in at most 6 tries.
    assert.ok(tries <= 6, `${tries} ports tried (port + 1, + 2, ... would try 30,001)`);
  });

  test('the engine counts replicas left without a tuple and runs the others', () => {
    /** Only two tuples exist in this world. */
    class TwoTuples extends FakeAddressPlan {
      override allocate(
        ip: number,
        _port: number,
        _replica: number,
        t: EngineTarget,
        taken: TupleOccupancy,
      ): Tuple | undefined {
        const free = [5001, 5002].find((p) => !taken.has(endpointKey(ip, p)));
        return free === undefined ? undefined : { srcIp: ip, srcPort: free, dstIp: t.targetIp, dstPort: t.targetPort };
      }
    }
    const config = engineConfig({ copies: 3 });
    const sim = new Sim({ config, addresses: new TwoTuples([], 0) });
    const c = connect(sim);
    assert.equal(sim.engine.counters.tupleSpaceExhausted, 1);
    assert.equal(sim.engine.counters.sessionsStarted, 2);
    c.feed(c.data('x'));
    sim.settle();
    assert.deepEqual(
      sim.target.accepted.map((conn) => conn.received.toString()),
      ['x', 'x'],
    );
    const d = connect(sim, { port: 40001 });
    assert.equal(sim.engine.counters.tupleSpaceExhausted, 4);
    assert.equal(sim.engine.counters.sessionsStarted, 2, 'no session without a tuple');
    d.feed(d.data('y'));
    sim.settle();
    assert.equal(sim.host.routeAdds.length, 2);
  });
});
