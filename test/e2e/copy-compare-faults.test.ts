/**
 * Response comparison under real conditions (issue 11, docs/compare.md): real nginx on prod and on
 * target serving the compare sites (compare-servers.ts), real clients, tcpcopy --compare on prod.
 * - Loss on both sides: 3 % of TCP frames dropped on prod's and target's switch ports, both
 *   directions, so production's answers (captured before the drop) and the test server's are
 *   retransmitted, and answers of 1 MiB cross hundreds of segments: every differing request is
 *   reported once, nothing else, and the counters count each exchange once.
 * - Mid-stream join: keep-alive connections opened before tcpcopy starts are compared from their
 *   first whole turn: the request in progress at the join is copied but not compared.
 * - `-n 2`: each copy compared on its own: every differing request reported once per copy.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OFFLOAD_PROFILES, withLab, type Lab, type NginxServer } from '../lab/index.js';
import {
  assertServed,
  compareStats,
  expectKeepAlive,
  finish,
  queryParam,
  retransmittedSegments,
  runKeepAlive,
  shortRequests,
  spawnKeepAlive,
  startComparing,
  tagOf,
  totals,
  type CompareCounts,
  type KeepAliveSet,
} from './compare-harness.js';
import {
  EXPECTED_KIND,
  PATHS,
  countBy,
  readDiffLog,
  requestPath,
  startNginxPair,
  type DiffRecord,
} from './compare-servers.js';
import { NO_GUARD_HITS, numberAt, sleep, stopForStats } from './copy-harness.js';

const NO_SHEDDING = { memory: 0, connections: 0, busy: 0 };

/** The kind a path must be reported with; undefined: it must not be reported. */
function kindOf(path: string): string | undefined {
  // Beyond the compared 64 KiB only the hash tells the 1 MiB bodies apart: a body difference.
  return path === PATHS.bigTail ? 'body' : EXPECTED_KIND[path];
}

/** What every record must say whatever it reports: its session, an HTTP request, the test's answer. */
function assertRecord(lab: Lab, r: DiffRecord): void {
  const line = JSON.stringify(r).slice(0, 2000);
  assert.match(r.session.client, new RegExp(`^${lab.host('client').ip.replaceAll('.', '\\.')}:\\d+$`), line);
  assert.equal(r.session.target, `${lab.host('target').ip}:80`, line);
  assert.match(r.request.http?.requestLine ?? '', /^GET \/\S+ HTTP\/1\.[01]$/, `HTTP mode's request line: ${line}`);
  assert.notEqual(r.test, null, `the test server answered every copy: ${line}`);
  assert.equal(r.kind, kindOf(requestPath(r)), `a record of the path's kind, no false difference: ${line}`);
  if (r.kind === 'status') assert.deepEqual([r.production.http?.status, r.test?.http?.status], [200, 503], line);
}

/** A record as `<style> <tag or path> <path> <kind>`: keep-alive requests one by one, short ones by path. */
function recordKey(r: DiffRecord): string {
  const style = queryParam(r, 's') ?? '?';
  return `${style} ${style === 'short' ? '-' : (tagOf(r) ?? '?')} ${requestPath(r)} ${r.kind}`;
}

/** The records expected of short requests (`short`: count per path) and keep-alive ones (one per request). */
function expectedKeys(
  short: Readonly<Record<string, number>>,
  keepAlive: readonly KeepAliveSet[],
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [path, n] of Object.entries(short)) {
    const kind = kindOf(path);
    if (kind !== undefined) out[`short - ${path} ${kind}`] = n;
  }
  for (const { style, connections, paths } of keepAlive)
    for (let c = 0; c < connections; c++)
      paths.forEach((path, r) => {
        const kind = kindOf(path);
        if (kind !== undefined) out[`${style} ${c}/${r} ${path} ${kind}`] = 1;
      });
  return out;
}

// 1. Loss on both sides, once per offload profile (what the captures see of production's and the
// test server's answers, merged or not, depends on it).
const LOSS_PERMILLE = 30;
const LOSS_SHORT: Record<string, number> = {
  [PATHS.same]: 16,
  [PATHS.body]: 8,
  [PATHS.status]: 8,
  [PATHS.headers]: 8,
};
/**
 * Small answers on parallel connections; 1 MiB answers (hundreds of segments each, losses inside
 * them) on one connection at a time: several at once at veth speed saturate tcpcopy on a busy
 * 2-core machine, which then sheds comparisons (copiesShed.busy), as it must.
 */
const LOSS_KA: readonly KeepAliveSet[] = [
  {
    style: 'ka',
    connections: 4,
    paths: [PATHS.same, PATHS.body, PATHS.status, PATHS.same, PATHS.headers, PATHS.same, PATHS.body],
  },
  { style: 'big', connections: 1, paths: [PATHS.same, PATHS.bigTail, PATHS.body, PATHS.big, PATHS.headers] },
];
/** Exchanges the capture lost bytes of that may go uncompared: a few, and only when it did. */
const MAX_NOT_COMPARABLE = 3;

for (const offloads of OFFLOAD_PROFILES) {
  test(
    `${LOSS_PERMILLE / 10} % frame loss on prod and target, both directions: every differing request reported once, nothing counted twice (offloads ${offloads})`,
    { timeout: 90_000 },
    async (t) => {
      await withLab(
        t,
        async (lab) => {
          const { prod, target } = await startNginxPair(lab);
          const { intercept, tcpcopy, diffLog } = await startComparing(lab, { port: 80 });
          const retransBefore = [await retransmittedSegments(lab, 'prod'), await retransmittedSegments(lab, 'target')];
          for (const host of ['prod', 'target'])
            for (const direction of ['from', 'to'] as const) await lab.dropFrames(host, LOSS_PERMILLE, direction);

          await shortRequests(lab, prod, LOSS_SHORT);
          for (const set of LOSS_KA) await runKeepAlive(lab, prod, set);
          const [total, connections] = totals(LOSS_SHORT, LOSS_KA);
          await assertServed(prod, total);
          const stats = await finish(
            tcpcopy,
            () => target.readAccessLog().length,
            total,
            'copies logged by target',
            8000,
          );
          const interceptStats = await stopForStats(intercept);
          const retransAfter = [await retransmittedSegments(lab, 'prod'), await retransmittedSegments(lab, 'target')];

          // The loss was real on both sides: production's and the test server's answers were
          // retransmitted (prod's counter also has tcpcopy's control connection, a few segments),
          // and so were the copier's requests.
          const summary = JSON.stringify({
            injected: stats['injected'],
            client: stats['client'],
            capture: stats['capture'],
          });
          t.diagnostic(
            `retransmitted segments prod/target ${retransBefore.join('/')} -> ${retransAfter.join('/')}; ${summary}`,
          );
          assert.ok(retransAfter[0]! - retransBefore[0]! > 0, 'production retransmitted');
          assert.ok(retransAfter[1]! - retransBefore[1]! > 0, 'the test server retransmitted');
          assert.ok(numberAt(stats, 'injected.retransmissions') > 0, `the copier retransmitted: ${summary}`);

          const counts = compareStats(stats);
          assert.deepEqual(counts.copiesShed, NO_SHEDDING, 'no comparison shed: tcpcopy was never saturated');
          const records = readDiffLog(diffLog);
          for (const r of records) {
            assertRecord(lab, r);
            // A keep-alive request's exchange index is its place on the connection: no turn counted twice.
            if (queryParam(r, 's') !== 'short') assert.equal(r.exchange, Number(queryParam(r, 'r')), recordKey(r));
          }
          const expected = expectedKeys(LOSS_SHORT, LOSS_KA);
          const got = countBy(records, recordKey);
          // Reported beyond what was expected (a duplicate, a false difference) / expected, not reported.
          const extra = Object.entries(got).filter(([k, n]) => n > (expected[k] ?? 0));
          const missing = Object.entries(expected).filter(([k, n]) => (got[k] ?? 0) < n);
          assert.deepEqual(extra, [], 'records beyond one per differing request');
          const captureLost =
            numberAt(stats, 'capture.kernelDropped') +
            numberAt(stats, 'capture.truncated') +
            numberAt(interceptStats, 'capture.kernelDropped') +
            numberAt(interceptStats, 'capture.truncated');
          const missed = missing.reduce((n, [k, want]) => n + want - (got[k] ?? 0), 0);
          assert.ok(
            missed <= counts.notComparable,
            `${missed} differing requests not reported (${JSON.stringify(missing)}) but ${counts.notComparable} not comparable`,
          );
          assert.ok(
            counts.notComparable <= (captureLost > 0 ? MAX_NOT_COMPARABLE : 0),
            `${counts.notComparable} exchanges not comparable, the captures lost ${captureLost} frames`,
          );
          assert.deepEqual(
            counts,
            {
              // Every copy followed (ab also opens connections it sends nothing on: copied, nothing to compare).
              copiesCompared: numberAt(stats, 'sessions.started'),
              copiesShed: NO_SHEDDING,
              compared: total,
              identical: total - records.length - counts.notComparable,
              different: records.length,
              notComparable: counts.notComparable,
              byKind: countBy(records, (r) => r.kind),
              httpConnections: connections,
            },
            'every exchange compared once: the counters agree with the records',
          );
          assert.deepEqual(await lab.guardCounters(), NO_GUARD_HITS);
        },
        { offloads },
      );
    },
  );
}

// 2. Mid-stream join. Connections 0 and 1 alternate an identical path and a differing one (in
// opposite phases); 2 and 3 request only differing paths, so the request in progress at the join
// is one that would be reported if it were compared.
const JOIN_CONNECTIONS = 4;
const JOIN_REQUESTS = 40;
const JOIN_RATE_PER_S = 5;
const BEFORE_JOIN_MS = 1200;
/** At least this many requests each connection sends before the join, and compares after it. */
const MIN_BEFORE = 3;
const MIN_COMPARED = 8;
const DIFFERING_PATHS = [PATHS.body, PATHS.status, PATHS.headers];

function joinPath(c: number, r: number): string {
  if (c < 2 && r % 2 === c) return PATHS.same;
  return DIFFERING_PATHS[(r + c) % DIFFERING_PATHS.length]!;
}

test(
  'keep-alive connections opened before tcpcopy started are compared from their first whole turn',
  { timeout: 60_000 },
  async (t) => {
    await withLab(t, async (lab) => {
      const { prod, target } = await startNginxPair(lab);
      const paths = (c: number): string[] => Array.from({ length: JOIN_REQUESTS }, (_, r) => joinPath(c, r));
      const curls = Array.from({ length: JOIN_CONNECTIONS }, (_, c) =>
        spawnKeepAlive(lab, prod, c, paths(c), { style: 'join', ratePerSecond: JOIN_RATE_PER_S }),
      );
      await sleep(BEFORE_JOIN_MS);
      const { tcpcopy, diffLog } = await startComparing(lab, { port: 80 });
      await Promise.all(curls.map((curl) => expectKeepAlive(curl, JOIN_REQUESTS)));

      // Every connection's last request reached the test server.
      const onTarget = (): Map<number, number[]> => requestsByConnection(target);
      const lastArrived = (): number => [...onTarget().values()].filter((rs) => rs.includes(JOIN_REQUESTS - 1)).length;
      const stats = await finish(tcpcopy, lastArrived, JOIN_CONNECTIONS, 'connections whose last request was copied');
      const counts = compareStats(stats);
      assert.deepEqual(counts.copiesShed, NO_SHEDDING, 'no comparison shed: tcpcopy was never saturated');

      // Each connection copied from its first captured request k on, contiguously: k, k+1, ...
      // Its first whole turn is k+1 (k was the turn in progress, its start unseen by the compare).
      const first = new Map<number, number>();
      for (const [c, rs] of onTarget()) {
        const k = rs[0]!;
        assert.deepEqual(
          rs,
          Array.from({ length: JOIN_REQUESTS - k }, (_, i) => k + i),
          `connection ${c}: requests copied from ${k} on, in order, once each`,
        );
        assert.ok(k >= MIN_BEFORE, `connection ${c}: joined mid-stream, ${k} requests before the join`);
        assert.ok(JOIN_REQUESTS - k - 1 >= MIN_COMPARED, `connection ${c}: ${JOIN_REQUESTS - k - 1} requests after`);
        first.set(c, k);
      }
      assert.equal(first.size, JOIN_CONNECTIONS, 'every connection was copied');
      assert.equal(numberAt(stats, 'sessions.joinedMidStream'), JOIN_CONNECTIONS, 'every session joined mid-stream');
      t.diagnostic(`first copied request per connection: ${JSON.stringify(Object.fromEntries(first))}`);

      // Expected: the differing requests after each connection's first whole turn, with their
      // exchange index counted from it; none for the request in progress at the join.
      const expected: string[] = [];
      let compared = 0;
      for (const [c, k] of first)
        for (let r = k + 1; r < JOIN_REQUESTS; r++) {
          compared++;
          const kind = kindOf(joinPath(c, r));
          if (kind !== undefined) expected.push(`${c}/${r} ${joinPath(c, r)} ${kind} exchange ${r - k - 1}`);
        }
      const records = readDiffLog(diffLog);
      for (const r of records) assertRecord(lab, r);
      assert.deepEqual(
        records.map((r) => `${tagOf(r)} ${requestPath(r)} ${r.kind} exchange ${r.exchange}`).sort(),
        expected.sort(),
        'records: the differing requests from the first whole turn on, each once',
      );
      assert.deepEqual(
        counts,
        {
          copiesCompared: JOIN_CONNECTIONS,
          copiesShed: NO_SHEDDING,
          compared,
          identical: compared - expected.length,
          different: expected.length,
          notComparable: 0,
          byKind: countBy(records, (r) => r.kind),
          httpConnections: JOIN_CONNECTIONS,
        },
        'the exchanges from the first whole turn on, each counted once',
      );
      assert.deepEqual(await lab.guardCounters(), NO_GUARD_HITS);
    });
  },
);

/** The test server's `join` requests: connection -> its request numbers in the order logged. */
function requestsByConnection(target: NginxServer): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const e of target.readAccessLog()) {
    const tag = tagOf(e);
    if (tag === undefined) continue;
    const [c, r] = tag.split('/').map(Number) as [number, number];
    out.set(c, [...(out.get(c) ?? []), r]);
  }
  return out;
}

// 3. -n 2.
const COPIES = 2;
const COPIES_SHORT: Record<string, number> = {
  [PATHS.same]: 8,
  [PATHS.body]: 4,
  [PATHS.status]: 4,
  [PATHS.headers]: 4,
};
const COPIES_KA: KeepAliveSet = {
  style: 'ka',
  connections: 3,
  paths: [PATHS.same, PATHS.body, PATHS.status, PATHS.same, PATHS.headers, PATHS.same],
};

test(
  `-n ${COPIES}: each copy compared on its own, every differing request reported once per copy`,
  { timeout: 60_000 },
  async (t) => {
    await withLab(t, async (lab) => {
      const { prod, target } = await startNginxPair(lab);
      const { tcpcopy, diffLog } = await startComparing(lab, { port: 80, copies: COPIES });

      await shortRequests(lab, prod, COPIES_SHORT);
      await runKeepAlive(lab, prod, COPIES_KA);
      const [total, connections] = totals(COPIES_SHORT, [COPIES_KA]);
      await assertServed(prod, total);
      const stats = await finish(
        tcpcopy,
        () => target.readAccessLog().length,
        COPIES * total,
        'copies logged by target',
      );

      const counts = compareStats(stats);
      assert.deepEqual(counts.copiesShed, NO_SHEDDING, 'no comparison shed: tcpcopy was never saturated');
      const records = readDiffLog(diffLog);
      for (const r of records) assertRecord(lab, r);
      const perCopy = expectedKeys(COPIES_SHORT, [COPIES_KA]);
      const expected: Record<string, number> = {};
      for (let copy = 0; copy < COPIES; copy++)
        for (const [k, n] of Object.entries(perCopy)) expected[`${k} copy ${copy}`] = n;
      assert.deepEqual(
        countBy(records, (r) => `${recordKey(r)} copy ${r.session.copy}`),
        expected,
        'records by request, kind and copy',
      );
      // A keep-alive request's two records: the same production session and exchange, copies 0 and 1.
      const byTag = new Map<string, DiffRecord[]>();
      for (const r of records.filter((r) => queryParam(r, 's') === 'ka'))
        byTag.set(tagOf(r)!, [...(byTag.get(tagOf(r)!) ?? []), r]);
      for (const [tag, rs] of byTag) {
        const r = Number(tag.split('/')[1]);
        assert.deepEqual(
          rs.map((x) => [x.session.client, x.exchange]),
          [
            [rs[0]!.session.client, r],
            [rs[0]!.session.client, r],
          ],
          `${tag}: one production session, exchange ${r}, in both records`,
        );
      }

      const differingTotal = Object.values(perCopy).reduce((a, b) => a + b, 0);
      assert.deepEqual(
        counts,
        {
          copiesCompared: numberAt(stats, 'sessions.started'),
          copiesShed: NO_SHEDDING,
          compared: COPIES * total,
          identical: COPIES * (total - differingTotal),
          different: COPIES * differingTotal,
          notComparable: 0,
          byKind: countBy(records, (r) => r.kind),
          httpConnections: connections,
        } satisfies CompareCounts,
        'each exchange compared once per copy',
      );
      assert.deepEqual(await lab.guardCounters(), NO_GUARD_HITS);
    });
  },
);
