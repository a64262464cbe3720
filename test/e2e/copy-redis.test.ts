/**
 * Online copy of Redis, end to end: redis-cli on client writes 1,000 keys to redis-server on prod
 * over four connections, two request/response (one SET at a time, each waiting for +OK) and two
 * pipelined (`--pipe`: every command sent before any reply is read), copied by tcpcopy (prod) to
 * redis-server on target; then redis-benchmark SETs random keys of a 1,000-key space over 20
 * concurrent connections. Afterwards target must hold exactly the same keys and values.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { OFFLOAD_PROFILES, withLab, type Lab } from '../lab/index.js';
import { NO_GUARD_HITS, numberAt, settle, startIntercept, startTcpcopy, stopForStats } from './copy-harness.js';
import { REDIS_PORT as PORT, commandLines, redisCli, resp, snapshot } from './redis-helpers.js';

const CONNECTIONS = 4;
const KEYS_PER_CONNECTION = 250;
const KEYS = CONNECTIONS * KEYS_PER_CONNECTION;
const BENCH_REQUESTS = 2000;
const BENCH_CONNECTIONS = 20;
const BENCH_KEYSPACE = 1000;

/** Random values from 1 to 2,000 bytes (hex), so some SETs span several segments. */
function workload(conn: number): Map<string, string> {
  const kv = new Map<string, string>();
  for (let i = 0; i < KEYS_PER_CONNECTION; i++) {
    const size = 1 + Math.floor(Math.random() * 1000);
    kv.set(`k:${conn}:${i}`, randomBytes(size).toString('hex'));
  }
  return kv;
}

async function dbsize(lab: Lab, host: string): Promise<number> {
  return Number((await redisCli(lab, host, host, ['DBSIZE'])).trim());
}

for (const offloads of OFFLOAD_PROFILES) {
  test(
    `1,000 keys written to production Redis arrive on the test server with the same values (offloads ${offloads})`,
    { timeout: 90_000 },
    async (t) => {
      await withLab(
        t,
        async (lab) => {
          await lab.startRedis('prod', { port: PORT });
          await lab.startRedis('target', { port: PORT });
          await startIntercept(lab, PORT);
          const tcpcopy = await startTcpcopy(lab, { port: PORT });

          const written = new Map<string, string>();
          const clients: Promise<string>[] = [];
          for (let conn = 0; conn < CONNECTIONS; conn++) {
            const kv = workload(conn);
            for (const [k, v] of kv) written.set(k, v);
            const pipelined = conn % 2 === 1;
            clients.push(
              pipelined
                ? redisCli(lab, 'client', 'prod', ['--pipe'], resp(kv))
                : redisCli(lab, 'client', 'prod', [], commandLines(kv)),
            );
          }
          const outputs = await Promise.all(clients);
          for (const [conn, out] of outputs.entries()) {
            if (conn % 2 === 1)
              assert.match(out, new RegExp(`errors: 0, replies: ${KEYS_PER_CONNECTION}`), `pipe ${conn}: ${out}`);
            else
              assert.equal(
                out.split('\n').filter((l) => l === 'OK').length,
                KEYS_PER_CONNECTION,
                `connection ${conn} got every +OK`,
              );
          }

          const bench = await lab.exec(
            'client',
            'redis-benchmark',
            [
              '-h',
              lab.host('prod').ip,
              '-p',
              String(PORT),
              '-q',
              '-t',
              'set',
              '-n',
              String(BENCH_REQUESTS),
              '-c',
              String(BENCH_CONNECTIONS),
              '-r',
              String(BENCH_KEYSPACE),
              '-d',
              '100',
            ],
            { timeoutMs: 60_000 },
          );
          assert.match(bench.stdout, /SET: [\d.]+ requests per second/, bench.stdout + bench.stderr);

          // The benchmark's random keys: how many distinct ones only production can tell (read after
          // tcpcopy stopped, or the copier would copy these reads too); wait until target stops growing.
          const arrived = await settle(() => dbsize(lab, 'target'), Infinity, { quietMs: 3000, timeoutMs: 40_000 });
          const stats = await stopForStats(tcpcopy);
          const prod = await snapshot(lab, 'prod');
          const target = await snapshot(lab, 'target');
          for (const [k, v] of written) assert.equal(prod.get(k), v, `production holds ${k} as written`);
          const benchKeys = [...prod.keys()].filter((k) => k.startsWith('key:')).length;
          assert.ok(benchKeys > BENCH_KEYSPACE / 2, `the benchmark wrote ${benchKeys} keys`);
          assert.equal(prod.size, KEYS + benchKeys, 'nothing else on production');
          assert.equal(arrived, prod.size, `target holds ${arrived} of ${prod.size} keys`);
          const differing = [...prod].filter(([k, v]) => target.get(k) !== v).map(([k]) => k);
          assert.deepEqual(differing.slice(0, 10), [], `${differing.length} keys missing or different on target`);
          assert.equal(target.size, prod.size, 'no extra keys on target');

          const started = numberAt(stats, 'sessions.started');
          assert.ok(started >= CONNECTIONS + BENCH_CONNECTIONS, `${started} sessions copied`);
          assert.equal(numberAt(stats, 'sessions.ended.finished'), started, 'every copied session closed cleanly');
          const guards = await lab.guardCounters();
          assert.deepEqual(guards, NO_GUARD_HITS);
        },
        { offloads },
      );
    },
  );
}
