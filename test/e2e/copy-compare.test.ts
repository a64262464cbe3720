/**
 * Response comparison end to end (issue 11, docs/compare.md): real nginx and redis-server on prod
 * and on target, real clients on client, tcpcopy --compare on prod, intercept on aux. The test
 * servers answer some requests differently in one way each (compare-servers.ts); every request
 * that gets another answer must be in the diff log exactly once with the right kind, and nothing
 * else: not where only Date differs, not a 1 MiB answer equal on both, not Redis writes or other
 * keys. With --compare off, the copier asks intercept for no payload and captures no answer.
 * The HTTP cases run once per offload profile (what production's answers look like in the
 * copier's capture depends on it); Redis and the off case once.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OFFLOAD_PROFILES, withLab, type Lab, type LabProcess, type NginxServer } from '../lab/index.js';
import {
  assertPayloadsAsked,
  assertServed,
  assertSession,
  exchangeCounts,
  finish,
  queryParam,
  runKeepAlive,
  shortRequests,
  startComparing,
  totals,
  type KeepAliveSet,
} from './compare-harness.js';
import {
  BIG_SIZE,
  BIG_TAIL_OFFSET,
  COMPARE_BYTES,
  EXPECTED_KIND,
  ODD_KEY,
  ODD_VALUES,
  PATHS,
  REDIS_KEYS,
  atMillisecond,
  countBy,
  dateDiffered,
  readDiffLog,
  redisValue,
  requestPath,
  seedRedis,
  startNginxPair,
  type DiffRecord,
} from './compare-servers.js';
import { NO_GUARD_HITS, numberAt, settle, startIntercept, startTcpcopy, statAt, stopForStats } from './copy-harness.js';
import { REDIS_PORT, redisCli } from './redis-helpers.js';

/** Where a record's request was on its connection: `r` on keep-alive ones, else the first. */
function exchangeOf(r: DiffRecord): number {
  return queryParam(r, 's') === 'ka' ? Number(queryParam(r, 'r')) : 0;
}

/** Waits until target logged `expected` copied requests, then for the answers in flight; stops tcpcopy. */
function finishCopies(tcpcopy: LabProcess, target: NginxServer, expected: number): Promise<Record<string, unknown>> {
  return finish(tcpcopy, () => target.readAccessLog().length, expected, 'copied requests the test server logged');
}

/**
 * Where in its second a round of requests with late answers starts: production answers the delayed
 * request before the second ends, the test server LATE_DELAY_MS later, in the next one.
 */
const LATE_START_MS = 720;
// Short connections (ab, HTTP/1.0): requests per path.
const SHORT: Readonly<Record<string, number>> = {
  [PATHS.same]: 30,
  [PATHS.body]: 20,
  [PATHS.status]: 20,
  [PATHS.headers]: 20,
};
/** Rounds of two short late requests (one ab, one `d`): the test server delays the second. */
const SHORT_LATE_ROUNDS = 3;
// Keep-alive (curl, HTTP/1.1): every connection requests these paths in order; the test server
// delays the second late request (one `d` per connection), and the copier sends the rest of the
// connection after it.
const KA: KeepAliveSet = {
  style: 'ka',
  connections: 6,
  paths: [
    ...[PATHS.same, PATHS.body, PATHS.status, PATHS.headers, PATHS.same, PATHS.late, PATHS.late],
    ...[PATHS.body, PATHS.same, PATHS.status, PATHS.headers, PATHS.same, PATHS.body],
  ],
};

/**
 * Short and keep-alive requests to every site path, late ones timed to get another Date on the
 * test server: each request to a differing path reported once with its kind, nothing else.
 */
async function httpCase(lab: Lab): Promise<void> {
  const { prod, target } = await startNginxPair(lab);
  const { intercept, tcpcopy, diffLog } = await startComparing(lab, { port: 80 });

  await shortRequests(lab, prod, SHORT);
  for (let round = 0; round < SHORT_LATE_ROUNDS; round++) {
    await atMillisecond(LATE_START_MS);
    await shortRequests(lab, prod, { [PATHS.late]: 2 }, { query: `&d=short${round}`, concurrency: 1 });
  }
  await atMillisecond(LATE_START_MS);
  await runKeepAlive(lab, prod, KA);

  const total = totals(SHORT, [KA])[0] + 2 * SHORT_LATE_ROUNDS;
  await assertServed(prod, total);
  const stats = await finishCopies(tcpcopy, target, total);
  const targetLog = target.readAccessLog();

  // Not vacuous: some identical answers had another Date on the test server (its late answers,
  // and the requests the copier sent after them), and still nothing was reported for them.
  const prodLog = prod.readAccessLog();
  for (const style of ['short', 'ka']) {
    const n = dateDiffered(prodLog, targetLog, style);
    assert.ok(n > 0, `${n} identical answers (${style}) with another Date on the test server`);
  }

  assertPayloadsAsked(intercept, true);

  // Expected records: one per request to a differing path, by style, path and kind.
  const expected: Record<string, number> = {};
  const add = (style: string, path: string, n: number): void => {
    const kind = EXPECTED_KIND[path];
    if (kind !== undefined) expected[`${style} ${path} ${kind}`] = (expected[`${style} ${path} ${kind}`] ?? 0) + n;
  };
  for (const [path, n] of Object.entries(SHORT)) add('short', path, n);
  for (const path of KA.paths) add('ka', path, KA.connections);
  const expectedRecords = Object.values(expected).reduce((a, b) => a + b, 0);

  const records = readDiffLog(diffLog);
  assert.deepEqual(
    countBy(records, (r) => `${queryParam(r, 's') ?? '?'} ${requestPath(r)} ${r.kind}`),
    expected,
    'diff-log records by connection style, path and kind',
  );

  for (const r of records) {
    const line = JSON.stringify(r);
    assertSession(lab, r, 80);
    assert.match(r.request.http?.requestLine ?? '', /^GET \/\S+ HTTP\/1\.[01]$/, `HTTP mode's request line: ${line}`);
    assert.equal(r.exchange, exchangeOf(r), `exchange index: ${line}`);
    if (r.kind === 'status') {
      assert.equal(r.production.http?.status, 200, line);
      assert.equal(r.test?.http?.status, 503, line);
    } else if (r.kind === 'headers') {
      const extra = (h: [string, string][] | undefined): boolean =>
        (h ?? []).some(([name, value]) => name.toLowerCase() === 'x-build' && value === 'canary');
      assert.ok(extra(r.test?.http?.headers) && !extra(r.production.http?.headers), `X-Build on test only: ${line}`);
    } else if (r.kind === 'body') {
      assert.equal(r.test?.length, r.production.length, line);
      assert.ok(r.excerpt?.production.includes('100') && r.excerpt.test.includes('999'), `excerpt: ${line}`);
    }
  }
  // Each keep-alive connection is one session, and reports its differing requests in it.
  const perSession = countBy(
    records.filter((r) => queryParam(r, 's') === 'ka'),
    (r) => r.session.client,
  );
  const differingPerConnection = KA.paths.filter((p) => EXPECTED_KIND[p] !== undefined).length;
  assert.deepEqual(
    Object.values(perSession),
    Array<number>(KA.connections).fill(differingPerConnection),
    'records per keep-alive session',
  );

  assert.deepEqual(
    exchangeCounts(stats),
    {
      compared: total,
      identical: total - expectedRecords,
      different: expectedRecords,
      notComparable: 0,
      byKind: countBy(records, (r) => r.kind),
    },
    'the final stats count every exchange',
  );
  assert.deepEqual(await lab.guardCounters(), NO_GUARD_HITS);
}

for (const offloads of OFFLOAD_PROFILES) {
  test(
    `HTTP over short and keep-alive connections: every request to a differing path reported once with its kind, nothing else (offloads ${offloads})`,
    { timeout: 120_000 },
    (t) => withLab(t, (lab) => httpCase(lab), { offloads }),
  );
}

/**
 * Requests for the 1 MiB files, short and keep-alive: those for the one that differs at
 * BIG_TAIL_OFFSET are reported, each once; with `--compare-bytes` (`compareBytes`) past that
 * offset, at the byte that differs.
 */
async function bigAnswers(lab: Lab, compareBytes?: { flag: string }): Promise<void> {
  const { prod, target } = await startNginxPair(lab);
  const extra = compareBytes === undefined ? [] : ['--compare-bytes', compareBytes.flag];
  const { tcpcopy, diffLog } = await startComparing(lab, { port: 80, mode: 'auto', extra });

  const SHORT_EACH = 3;
  const short = { [PATHS.big]: SHORT_EACH, [PATHS.bigTail]: SHORT_EACH };
  await shortRequests(lab, prod, short);
  const ka: KeepAliveSet = { style: 'ka', connections: 2, paths: [PATHS.big, PATHS.bigTail, PATHS.big, PATHS.bigTail] };
  await runKeepAlive(lab, prod, ka);
  const [total] = totals(short, [ka]);
  const stats = await finishCopies(tcpcopy, target, total);

  const records = readDiffLog(diffLog);
  assert.deepEqual(
    countBy(records, (r) => `${queryParam(r, 's') ?? '?'} ${requestPath(r)}`),
    {
      [`short ${PATHS.bigTail}`]: SHORT_EACH,
      [`ka ${PATHS.bigTail}`]: ka.connections * ka.paths.filter((p) => p === PATHS.bigTail).length,
    },
    'exactly the requests for the differing 1 MiB file reported',
  );
  for (const r of records) {
    const line = JSON.stringify(r).slice(0, 2000);
    assertSession(lab, r, 80);
    assert.equal(r.test?.length, r.production.length, line);
    assert.ok(r.production.length >= BIG_SIZE, `the whole answer counted: ${line}`);
    assert.equal(r.exchange, exchangeOf(r), `exchange index: ${line}`);
    assert.notEqual(r.test?.sha256, r.production.sha256, line);
    if (compareBytes === undefined) {
      assert.ok(r.kind === 'body' || r.kind === 'hash', `beyond the prefix only the hash differs: ${line}`);
      assert.ok(r.offset === null || r.offset >= COMPARE_BYTES, `no difference inside the first 64 KiB: ${line}`);
    } else {
      // The offset counts from the body (HTTP mode) or from the answer's first byte (its head first).
      assert.equal(r.kind, 'body', line);
      assert.ok(
        r.offset !== null && r.offset >= BIG_TAIL_OFFSET && r.offset < BIG_TAIL_OFFSET + 1024,
        `the differing byte, inside the compared ${compareBytes.flag}: ${line}`,
      );
      assert.notEqual(r.excerpt, null, line);
    }
  }
  assert.deepEqual(exchangeCounts(stats), {
    compared: total,
    identical: total - records.length,
    different: records.length,
    notComparable: 0,
    byKind: countBy(records, (r) => r.kind),
  });
}

for (const offloads of OFFLOAD_PROFILES) {
  test(
    `1 MiB answers: equal ones compared by hash and not reported, one differing beyond 64 KiB reported (offloads ${offloads})`,
    { timeout: 90_000 },
    (t) => withLab(t, (lab) => bigAnswers(lab), { offloads }),
  );
}

test('--compare-bytes 1m: a 1 MiB answer is compared whole, its differing byte found', { timeout: 90_000 }, (t) =>
  withLab(t, (lab) => bigAnswers(lab, { flag: '1m' })),
);

// Redis: redis-cli with a command on its command line sends just that command (-r: that many times
// on one connection). Without one it first asks COMMAND DOCS, whose answer lists the commands in an
// order that differs between any two redis-server processes: a real difference, left out here.
const READS_OF_ODD = 6;

test(
  'Redis: exactly the GETs of the key holding another value on the test server are reported',
  { timeout: 90_000 },
  async (t) => {
    await withLab(t, async (lab) => {
      await lab.startRedis('prod', { port: REDIS_PORT });
      await lab.startRedis('target', { port: REDIS_PORT });
      await seedRedis(lab, 'prod');
      await seedRedis(lab, 'target');
      const { intercept, tcpcopy, diffLog } = await startComparing(lab, { port: REDIS_PORT });

      // Connections of several commands, in parallel: [args, commands sent].
      const long: [string[], number][] = [
        [['-r', String(READS_OF_ODD), 'GET', ODD_KEY], READS_OF_ODD],
        [['-r', String(READS_OF_ODD), 'GET', ODD_KEY], READS_OF_ODD],
        [['-r', '6', 'GET', REDIS_KEYS[3]!], 6],
        [['-r', '4', 'SET', 'written:1', 'hello'], 4],
        [['-r', '4', 'INCR', 'counter'], 4],
        [['-r', '3', 'MGET', REDIS_KEYS[1]!, REDIS_KEYS[2]!], 3],
        // A read of the odd key whose answer is the same on both (the values have one length).
        [['-r', '3', 'STRLEN', ODD_KEY], 3],
      ];
      const outs = await Promise.all(long.map(([args]) => redisCli(lab, 'client', 'prod', args)));
      assert.equal(outs[0], `${ODD_VALUES.prod}\n`.repeat(READS_OF_ODD));
      assert.equal(outs[2], `${redisValue(REDIS_KEYS[3]!)}\n`.repeat(6));
      // One command per connection, one after the other; the odd key is written last, and read again.
      const short: string[][] = [
        ['GET', ODD_KEY],
        ['GET', REDIS_KEYS[5]!],
        ['GET', ODD_KEY],
        ['GET', REDIS_KEYS[5]!],
        ['GET', ODD_KEY],
        ['GET', REDIS_KEYS[5]!],
        ['SET', ODD_KEY, 'balance=555'],
      ];
      for (const args of short) await redisCli(lab, 'client', 'prod', args);
      // Copies of different connections keep no order between them: the reads after the write wait
      // until its copy is applied on the test server (read there, where nothing is copied).
      const onTarget = async (args: string[], expected: string): Promise<number> =>
        (await redisCli(lab, 'target', 'target', args)) === expected ? 1 : 0;
      const written = await settle(() => onTarget(['GET', ODD_KEY], 'balance=555\n'), 1, { quietMs: 5000 });
      assert.equal(written, 1, `the write of ${ODD_KEY} reached the test server`);
      const after: string[][] = [
        ['GET', ODD_KEY],
        ['GET', ODD_KEY],
      ];
      for (const args of after) await redisCli(lab, 'client', 'prod', args);
      const total = long.reduce((n, [, commands]) => n + commands, 0) + short.length + after.length;

      // The test server has everything once it holds the counter and the other write.
      const copied = (): Promise<number> => onTarget(['MGET', 'counter', 'written:1'], '4\nhello\n');
      const stats = await finish(tcpcopy, copied, 1, 'the writes reached the test server', 5000);

      assertPayloadsAsked(intercept, true);
      const records = readDiffLog(diffLog);
      const oddReadsBeforeWrite = 2 * READS_OF_ODD + 3;
      assert.equal(
        records.length,
        oddReadsBeforeWrite,
        `records: ${records.map((r) => `${r.request.firstBytes} -> ${r.production.firstBytes} / ${r.test?.firstBytes}`).join(' | ')}`,
      );
      const getOdd = `*2\\r\\n$3\\r\\nGET\\r\\n$${ODD_KEY.length}\\r\\n${ODD_KEY}\\r\\n`;
      for (const r of records) {
        const line = JSON.stringify(r);
        assertSession(lab, r, REDIS_PORT);
        assert.equal(r.request.firstBytes, getOdd, `only GET ${ODD_KEY}: ${line}`);
        assert.equal(r.request.http, undefined, `bytes mode: ${line}`);
        assert.equal(r.kind, 'bytes', line);
        // "$11\r\nbalance=" is the same on both: the first differing byte is the value's ninth.
        assert.equal(r.offset, `$${ODD_VALUES.prod.length}\r\nbalance=`.length, line);
        assert.equal(r.production.firstBytes, `$11\\r\\n${ODD_VALUES.prod}\\r\\n`, line);
        assert.equal(r.test?.firstBytes, `$11\\r\\n${ODD_VALUES.target}\\r\\n`, line);
      }
      // The repeated GETs are exchanges 0..5 of their two sessions; the single ones exchange 0.
      assert.deepEqual(
        countBy(records, (r) => String(r.exchange)),
        { '0': 2 + 3, '1': 2, '2': 2, '3': 2, '4': 2, '5': 2 },
        'exchange indices',
      );
      assert.equal(Object.keys(countBy(records, (r) => r.session.client)).length, 2 + 3, 'sessions reported');
      assert.deepEqual(exchangeCounts(stats), {
        compared: total,
        identical: total - oddReadsBeforeWrite,
        different: oddReadsBeforeWrite,
        notComparable: 0,
        byKind: { bytes: oddReadsBeforeWrite },
      });
      assert.deepEqual(await lab.guardCounters(), NO_GUARD_HITS);
    });
  },
);

test(
  '--compare off: no payload asked of intercept, no answer captured, nothing compared',
  { timeout: 60_000 },
  async (t) => {
    await withLab(t, async (lab) => {
      const prod = await lab.startNginx('prod');
      const target = await lab.startNginx('target');
      const intercept = await startIntercept(lab, 80);
      const tcpcopy = await startTcpcopy(lab, { port: 80 });

      await shortRequests(lab, prod, { '/64k.bin': 10 });
      const stats = await finishCopies(tcpcopy, target, 10);

      assertPayloadsAsked(intercept, false);
      const interceptStats = await stopForStats(intercept);
      assert.equal(statAt(interceptStats, 'sent.payloadBytesSent'), 0, 'no payload on the control channel');
      assert.doesNotMatch(intercept.stderr, /"snapLength":65535/, "intercept's capture stayed at headers");
      assert.equal(numberAt(stats, 'capture.answersCaptured'), 0, "the copier captured none of production's answers");
      const compare = statAt(stats, 'compare') as { compared?: number } | undefined;
      assert.ok(compare === undefined || compare.compared === 0, `nothing compared: ${JSON.stringify(compare)}`);
    });
  },
);
