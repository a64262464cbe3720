/**
 * Loss accounting (engine/counters.ts TargetCounters): per test server and per copy, every
 * captured client payload byte is in exactly one bucket, at every instant:
 *
 *   captured * copies = acked + duplicate + pending + sum(dropped by reason)
 *
 * checked after every event of random worlds (the engine harness's simulated test server and
 * network) that throw everything at it: capture duplicates, reordering, overlapping client
 * retransmissions, snapshot-length cuts, -r sampling, -m shedding, -O, scarce fake tuples,
 * lost SYN-ACKs, test-server resets, client resets, data after the end, a test server that
 * never answers, shutdown mid-stream. On a clean world the fraction that reached the test
 * server, acked / (expected - duplicate), is exactly 1.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { toAddress, seededRandom } from '@tcpcopy/common/testing';
import {
  FakeAddressPlan,
  PayloadDropReason,
  sampled,
  type EngineTarget,
  type TargetCounters,
  type Tuple,
  type TupleOccupancy,
} from '@tcpcopy/copier';
import {
  CLIENT_IP,
  Client,
  PROD_PORT,
  Sim,
  TARGET_IP,
  TARGET_PORT,
  bytes,
  connect,
  type Impairment,
} from '../engine/harness.js';

/** A second test server nobody answers for: every session to it times out. */
const SILENT_TARGET_IP = toAddress('203.0.113.99');
const SILENT_PORT = PROD_PORT + 2;

interface PlannedClient {
  withSyn: boolean;
  retransmitSyn: boolean;
  /** 0: the target; 1: the target through a second -x entry; 2: the silent target. */
  via: 0 | 1 | 2;
  timestamps: boolean;
  startMs: number;
  sizes: number[];
  gapMs: number;
  end: 'fin' | 'rst' | 'none';
  /** Data sent again after the end (a client that goes on after a reset, say). */
  after: number;
  dupMask: number;
  swapMask: number;
  /** Segment i is preceded by a retransmission covering half of i-1 and all of i. */
  overlapMask: number;
  /** Segment i is captured cut short (snapshot length); with refill, captured whole later. */
  truncMask: number;
  refill: boolean;
}

interface World {
  clients: PlannedClient[];
  copies: number;
  fakeIps: number;
  samplePercent: number;
  /** Tiny: new sessions are shed while others buffer. */
  memoryBudgetBytes: number;
  onlySyn: boolean;
  noWait: boolean;
  mtu: number;
  /** Share of tuple allocations refused (scarce fake tuples). */
  tupleRefusal: number;
  drop: number;
  lossUntilMs: number;
  /** Reset the n-th accepted connection at this time (-1: never). */
  targetResetAtMs: number;
  resetIndex: number;
  /** Shut the engine down at this time (Infinity: after everything settled). */
  shutdownAtMs: number;
  seed: number;
}

const arbClient: fc.Arbitrary<PlannedClient> = fc.record({
  withSyn: fc.boolean(),
  retransmitSyn: fc.boolean(),
  via: fc.constantFrom(0, 0, 0, 1, 2) as fc.Arbitrary<0 | 1 | 2>,
  timestamps: fc.boolean(),
  startMs: fc.integer({ min: 0, max: 3000 }),
  sizes: fc.array(fc.integer({ min: 1, max: 3000 }), { minLength: 1, maxLength: 6 }),
  gapMs: fc.integer({ min: 0, max: 800 }),
  end: fc.constantFrom('fin', 'rst', 'none') as fc.Arbitrary<'fin' | 'rst' | 'none'>,
  after: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 500 })),
  dupMask: fc.integer({ min: 0, max: 0xff }),
  swapMask: fc.integer({ min: 0, max: 0xff }),
  overlapMask: fc.integer({ min: 0, max: 0xff }),
  truncMask: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xff })),
  refill: fc.boolean(),
});

const arbWorld: fc.Arbitrary<World> = fc.record({
  clients: fc.array(arbClient, { minLength: 1, maxLength: 6 }),
  copies: fc.integer({ min: 1, max: 3 }),
  fakeIps: fc.integer({ min: 0, max: 2 }),
  samplePercent: fc.oneof(fc.constant(100), fc.integer({ min: 1, max: 99 })),
  memoryBudgetBytes: fc.oneof(fc.constant(512 * 1024 * 1024), fc.integer({ min: 0, max: 8000 })),
  onlySyn: fc.boolean(),
  noWait: fc.boolean(),
  mtu: fc.integer({ min: 576, max: 1500 }),
  tupleRefusal: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 0.5, noNaN: true })),
  drop: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 0.9, noNaN: true })),
  lossUntilMs: fc.integer({ min: 0, max: 12_000 }),
  targetResetAtMs: fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: 8000 })),
  resetIndex: fc.nat({ max: 10 }),
  shutdownAtMs: fc.oneof(fc.constant(Infinity), fc.integer({ min: 100, max: 10_000 })),
  seed: fc.integer(),
});

/** Refuses a share of tuple allocations: replicas go without a tuple (tuple_space_exhausted). */
class ScarceTuples extends FakeAddressPlan {
  constructor(
    pool: readonly number[],
    private readonly refusal: number,
    private readonly random: () => number,
  ) {
    super(pool, 0);
  }

  override allocate(
    ip: number,
    port: number,
    replica: number,
    t: EngineTarget,
    taken: TupleOccupancy,
  ): Tuple | undefined {
    return this.random() < this.refusal ? undefined : super.allocate(ip, port, replica, t, taken);
  }
}

/** The identity, for one test server's counters. */
function assertBalanced(t: TargetCounters, copies: number, where: string): void {
  const dropped = Object.values(t.payloadDropped).reduce((a, b) => a + b, 0);
  const accounted = t.payloadAcked + t.payloadDuplicate + t.payloadPending + dropped;
  assert.ok(t.payloadPending >= 0, `${t.target}: pending ${t.payloadPending} < 0 ${where}`);
  assert.equal(
    accounted,
    t.payloadCaptured * copies,
    `${t.target}: captured ${t.payloadCaptured} x ${copies} != ${JSON.stringify(t)} ${where}`,
  );
}

interface Timed {
  at: number;
  packet: Buffer;
  /** Bytes captured (less than the packet: a snapshot-length cut). */
  captured: number;
}

function capturePlan(c: Client, plan: PlannedClient, sim: Sim): Timed[] {
  const out: Timed[] = [];
  const at = (time: number, build: () => Buffer, cut = false): void => {
    sim.now = time;
    const packet = build();
    out.push({ at: time, packet, captured: cut ? packet.length - 1 : packet.length });
  };
  let t = plan.startMs;
  if (plan.withSyn) {
    const syn = c.syn();
    out.push({ at: t, packet: syn, captured: syn.length });
    if (plan.retransmitSyn) out.push({ at: t + 1, packet: syn, captured: syn.length });
    at(t + 2, () => c.pureAck());
    t += 3;
  }
  const starts: number[] = [];
  let offset = 0;
  const data: Timed[] = [];
  plan.sizes.forEach((size, i) => {
    t += plan.gapMs;
    starts.push(offset);
    const payload = bytes(size, i);
    if (i > 0 && (plan.overlapMask >> i) & 1) {
      // A retransmission that coalesces the end of the previous segment with this one, captured first.
      const from = starts[i - 1]! + Math.floor((offset - starts[i - 1]!) / 2);
      sim.now = t;
      const own = c.data(payload, 10);
      const merged = c.retransmission(from, offset + size - from);
      data.push({ at: t, packet: merged, captured: merged.length }, { at: t, packet: own, captured: own.length });
    } else {
      sim.now = t;
      const packet = c.data(payload, i === 0 ? 0 : 10);
      const cut = ((plan.truncMask >> i) & 1) === 1;
      data.push({ at: t, packet, captured: cut ? packet.length - 1 : packet.length });
      if (cut && plan.refill) data.push({ at: t + 400, packet, captured: packet.length });
    }
    offset += size;
  });
  // Capture anomalies on data packets: adjacent swaps, duplicates.
  for (let i = 0; i < data.length - 1; i++) {
    if ((plan.swapMask >> (i % 8)) & 1) {
      const a = data[i]!;
      data[i] = { ...data[i + 1]!, at: a.at };
      data[i + 1] = { ...a, at: data[i + 1]!.at };
      i++;
    }
  }
  data.forEach((p, i) => {
    out.push(p);
    if ((plan.dupMask >> (i % 8)) & 1) out.push({ ...p });
  });
  t += plan.gapMs + 1;
  if (plan.end === 'fin') at(t, () => c.fin(10));
  if (plan.end === 'rst') at(t, () => c.rst());
  if (plan.after > 0) at(t + 50, () => c.data(bytes(plan.after, 99)));
  sim.now = 0;
  return out;
}

function runWorld(w: World): void {
  const random = seededRandom(w.seed);
  const fakeIps = Array.from({ length: w.fakeIps }, (_, i) => toAddress(`10.99.0.${i + 1}`));
  const sim = new Sim({
    config: {
      targets: [
        { matchIp: 0, matchPort: PROD_PORT, targetIp: TARGET_IP, targetPort: TARGET_PORT },
        { matchIp: 0, matchPort: PROD_PORT + 1, targetIp: TARGET_IP, targetPort: TARGET_PORT },
        { matchIp: 0, matchPort: SILENT_PORT, targetIp: SILENT_TARGET_IP, targetPort: TARGET_PORT },
      ],
      copies: w.copies,
      fakeIps,
      samplePercent: w.samplePercent,
      memoryBudgetBytes: w.memoryBudgetBytes,
      onlySyn: w.onlySyn,
      noWait: w.noWait,
      mtu: w.mtu,
    },
    addresses: new ScarceTuples(fakeIps, w.tupleRefusal, random),
    target: { onFin: (conn, now) => sim.target.close(conn, now) },
  });
  const lossy: Impairment = () => (sim.now < w.lossUntilMs && random() < w.drop ? [] : [0]);
  sim.toTarget = lossy;
  sim.toEngine = lossy;
  const engine = sim.engine;
  assert.equal(engine.targetCounters.length, 2, 'two -x entries to one test server share its counters');

  const check = (where: string): void => {
    for (const t of engine.targetCounters) assertBalanced(t, w.copies, where);
  };
  const schedule: (Timed & { k: number })[] = [];
  w.clients.forEach((plan, k) => {
    const c = new Client(sim, {
      port: 20000 + k * 7,
      dstPort: PROD_PORT + plan.via,
      isn: 0xfffff000 + k * 999_983,
      timestamps: plan.timestamps,
    });
    for (const p of capturePlan(c, plan, sim)) schedule.push({ ...p, k });
  });
  schedule.sort((a, b) => a.at - b.at);
  let resetDone = w.targetResetAtMs < 0;
  let shutDown = false;
  const advance = (until: number): void => {
    sim.runUntil(
      () => {
        check(`at ${sim.now} ms`);
        if (!resetDone && sim.now >= w.targetResetAtMs) {
          resetDone = true;
          const conn = sim.target.accepted[w.resetIndex % Math.max(1, sim.target.accepted.length)];
          if (conn !== undefined && conn.state !== 'closed') sim.target.reset(conn, sim.now);
        }
        if (!shutDown && sim.now >= w.shutdownAtMs) {
          shutDown = true;
          engine.shutdown(sim.now);
          check(`after shutdown at ${sim.now} ms`);
        }
        return false;
      },
      Math.max(0, until - sim.now),
    );
  };
  for (const item of schedule) {
    advance(item.at);
    sim.client(item.packet, item.captured);
    check(`after client packet at ${sim.now} ms`);
  }
  advance(sim.now + 40_000);
  if (!shutDown) engine.shutdown(sim.now);
  check('after the final shutdown');

  let received = 0;
  for (const conn of sim.target.accepted) received += conn.receivedLength;
  const main = engine.targetCounters[0]!;
  assert.ok(main.payloadAcked <= received, `acked ${main.payloadAcked} > received by the target ${received}`);
  for (const t of engine.targetCounters) assert.equal(t.payloadPending, 0, 'nothing pending once every session ended');
  assert.equal(engine.targetCounters[1]!.payloadAcked, 0, 'the silent test server acknowledged nothing');
  // The engine-wide counters are the sums of the per-target ones.
  const sum = (f: (t: TargetCounters) => number): number => engine.targetCounters.reduce((n, t) => n + f(t), 0);
  const k = engine.counters;
  assert.equal(
    sum((t) => t.payloadCaptured),
    k.clientPayloadBytes,
  );
  assert.equal(
    sum((t) => t.payloadAcked),
    k.payloadBytesAcked,
  );
  assert.equal(
    sum((t) => t.sessionsStarted),
    k.sessionsStarted,
  );
  assert.equal(
    sum((t) => t.sessionsEstablished),
    k.sessionsEstablished,
  );
  assert.equal(
    sum((t) => t.packets),
    k.clientPackets,
  );
  for (const [reason, n] of Object.entries(k.sessionsEnded))
    assert.equal(
      sum((t) => t.sessionsEnded[reason as keyof typeof k.sessionsEnded]),
      n,
      reason,
    );
}

describe('loss accounting', () => {
  test('property: captured x copies = acked + duplicate + pending + dropped, after every event of random worlds', () => {
    fc.assert(
      fc.property(arbWorld, (w) => runWorld(w)),
      { numRuns: Number(process.env['ACCOUNTING_RUNS'] ?? 120) },
    );
  });

  test('a clean world: every captured byte acknowledged, the fraction is 1', () => {
    const sim = new Sim({ config: { copies: 2 }, target: { onFin: (conn, now) => sim.target.close(conn, now) } });
    for (let k = 0; k < 5; k++) {
      const c = connect(sim, { port: 30000 + k });
      c.feed(c.data(bytes(3000 + k)));
      c.feed(c.retransmission(0, 1000)); // a client retransmission: not new bytes
      sim.settle();
      c.feed(c.fin());
    }
    sim.run(20_000);
    const [t] = sim.engine.targetCounters;
    assert.ok(t !== undefined);
    assertBalanced(t, 2, 'clean');
    const expected = t.payloadCaptured * 2;
    assert.equal(t.payloadDuplicate, 2 * 5 * 1000);
    assert.equal(t.payloadAcked / (expected - t.payloadDuplicate), 1);
    assert.deepEqual(
      Object.entries(t.payloadDropped).filter(([, n]) => n > 0),
      [],
    );
    assert.equal(t.sessionsEnded.finished, 10);
  });

  test('each refusal lands under its own reason', () => {
    // -r: a client left out by the sampling, with its SYN and its data.
    const left = new Sim({ config: { samplePercent: 50, copies: 3 } });
    const port = Array.from({ length: 100 }, (_, i) => 1000 + i).find((p) => !sampled(CLIENT_IP, p, 50))!;
    const c = new Client(left, { port });
    c.feed(c.syn());
    c.feed(c.data('abcd'));
    left.run(1000);
    const ts = left.engine.targetCounters[0]!;
    assert.equal(left.engine.counters.sessionsStarted, 0);
    assert.equal(ts.payloadDropped[PayloadDropReason.SampledOut], 4 * 3);
    assertBalanced(ts, 3, 'sampled');

    // A snapshot-length cut: the packet is not copied.
    const cut = new Sim();
    const d = connect(cut);
    const p = d.data('0123456789');
    cut.client(p, p.length - 3);
    assert.equal(cut.engine.targetCounters[0]!.payloadDropped[PayloadDropReason.Truncated], 10);

    // -O: data of a connection without a SYN has no session.
    const only = new Sim({ config: { onlySyn: true } });
    const e = new Client(only);
    e.feed(e.data('xyz'));
    assert.equal(only.engine.targetCounters[0]!.payloadDropped[PayloadDropReason.Orphan], 3);

    // The test server never answers: what the session held goes with establish_timeout, and
    // what the client sends while the session lingers too.
    const deaf = new Sim();
    deaf.toEngine = () => [];
    const f = new Client(deaf);
    f.feed(f.syn());
    f.feed(f.data('hello'));
    deaf.run(5_500);
    f.feed(f.data('world!'));
    const td = deaf.engine.targetCounters[0]!;
    assert.equal(td.payloadDropped[PayloadDropReason.EstablishTimeout], 11);
    assert.equal(td.sessionsEnded.establish_timeout, 1);
    assertBalanced(td, 1, 'deaf');
  });
});
