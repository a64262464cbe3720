/**
 * Running and reading tcpcopy --compare in the lab (docs/compare.md), beyond the servers of
 * compare-servers.ts: intercept and tcpcopy started with a diff log and stopped for their final
 * stats, whether the copier asked intercept for payloads, the compare counters, what every record
 * says of its session, the request tags the tests put in their URLs and read back from records and
 * access logs, ab for short connections and curl clients that hold a keep-alive connection
 * (optionally at a fixed request rate, so a connection can outlive tcpcopy's start), production's
 * access log polled until it holds every request, and a host's TCP retransmission counter (to show
 * a fault was felt).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { AccessLogEntry, Lab, LabProcess, NginxServer } from '../lab/index.js';
import { requestLine, type DiffRecord } from './compare-servers.js';
import {
  runAb,
  settle,
  sleep,
  startIntercept,
  startTcpcopy,
  statAt,
  stopForStats,
  type CopierOptions,
} from './copy-harness.js';

/** After the test server logged the last copy: its answers reach the copier, the copies close. */
const ANSWERS_IN_FLIGHT_MS = 1500;

export interface Comparing {
  intercept: LabProcess;
  tcpcopy: LabProcess;
  diffLog: string;
}

/**
 * intercept for `port`, then tcpcopy --compare `mode` (bare --compare, auto, when undefined) with a
 * diff log in the run's log directory.
 */
export async function startComparing(
  lab: Lab,
  opts: CopierOptions & { port: number; mode?: string },
): Promise<Comparing> {
  const { mode, ...copier } = opts;
  const intercept = await startIntercept(lab, opts.port);
  const diffLog = join(lab.logDir, 'diff.jsonl');
  const compare = mode === undefined ? ['--compare'] : ['--compare', mode];
  const tcpcopy = await startTcpcopy(lab, {
    ...copier,
    extra: [...compare, '--diff-log', diffLog, ...(opts.extra ?? [])],
  });
  return { intercept, tcpcopy, diffLog };
}

/**
 * The copier connected to intercept, and every control connection asked for payloads (`asked`) or
 * none did: the `payloads` of intercept's 'copier connected' lines.
 */
export function assertPayloadsAsked(intercept: LabProcess, asked: boolean): void {
  const payloads = intercept.stderr
    .split('\n')
    .filter((l) => l.includes('"msg":"copier connected"'))
    .map((l) => (JSON.parse(l) as Record<string, unknown>)['payloads']);
  assert.ok(payloads.length > 0, 'the copier connected to intercept');
  const every = asked ? 'every control connection asked for payloads' : 'no control connection asked for payloads';
  assert.deepEqual(new Set(payloads), new Set([asked]), every);
}

/** The final stats' `compare` object (docs/compare.md), byKind without its zero entries. */
export interface CompareCounts {
  copiesCompared: number;
  copiesShed: { memory: number; connections: number; busy: number };
  compared: number;
  identical: number;
  different: number;
  notComparable: number;
  byKind: Record<string, number>;
  /** Production connections compared in HTTP mode (once each, whatever -n). */
  httpConnections: number;
}

export function compareStats(stats: Record<string, unknown>): CompareCounts {
  const c = statAt(stats, 'compare') as Partial<CompareCounts> | undefined;
  assert.ok(c !== undefined && typeof c === 'object', `no compare object in the final stats: ${JSON.stringify(stats)}`);
  const byKind: Record<string, number> = {};
  for (const [kind, n] of Object.entries(c.byKind ?? {})) if (n !== 0) byKind[kind] = n;
  const shed = c.copiesShed;
  return {
    copiesCompared: c.copiesCompared ?? NaN,
    copiesShed: { memory: shed?.memory ?? NaN, connections: shed?.connections ?? NaN, busy: shed?.busy ?? NaN },
    compared: c.compared ?? NaN,
    identical: c.identical ?? NaN,
    different: c.different ?? NaN,
    notComparable: c.notComparable ?? NaN,
    byKind,
    httpConnections: c.httpConnections ?? NaN,
  };
}

/** The counts of exchanges alone: CompareCounts without the copies' and connections'. */
export type ExchangeCounts = Pick<CompareCounts, 'compared' | 'identical' | 'different' | 'notComparable' | 'byKind'>;

export function exchangeCounts(stats: Record<string, unknown>): ExchangeCounts {
  const { compared, identical, different, notComparable, byKind } = compareStats(stats);
  return { compared, identical, different, notComparable, byKind };
}

/** What every record must say of its session, whatever it reports: client, test server, both answers. */
export function assertSession(lab: Lab, r: DiffRecord, targetPort: number): void {
  const line = JSON.stringify(r).slice(0, 2000);
  assert.match(r.session.client, new RegExp(`^${lab.host('client').ip.replaceAll('.', '\\.')}:\\d+$`), line);
  assert.equal(r.session.target, `${lab.host('target').ip}:${targetPort}`, line);
  assert.ok(Number.isInteger(r.session.copy), line);
  assert.notEqual(r.test, null, `the test server answered every copy: ${line}`);
  assert.match(r.production.sha256, /^[0-9a-f]{64}$/, line);
}

/** A request's query parameter, from a record's request line. */
export function queryParam(r: DiffRecord, name: string): string | undefined {
  const query = requestLine(r).split(' ')[1]?.split('?')[1] ?? '';
  return new URLSearchParams(query).get(name) ?? undefined;
}

/** A keep-alive request's tag `c/r` (connection, request on it), from a record or an access-log entry. */
export function tagOf(from: DiffRecord | AccessLogEntry): string | undefined {
  const query = 'session' in from ? (requestLine(from).split(' ')[1]?.split('?')[1] ?? '') : from.path.split('?')[1];
  const params = new URLSearchParams(query ?? '');
  const [c, r] = [params.get('c'), params.get('r')];
  return c === null || r === null ? undefined : `${c}/${r}`;
}

/**
 * The URL of request `r` of keep-alive connection `c`: `<path>?s=<style>&c=<c>&r=<r>&d=<style><c>`.
 * `d` keys the test server's late answers (compare-servers.ts): of two requests for PATHS.late on
 * one connection, it delays the second.
 */
export function taggedUrl(server: NginxServer, path: string, style: string, c: number, r: number): string {
  return server.url(`${path}?s=${style}&c=${c}&r=${r}&d=${style}${c}`);
}

/**
 * curl on client requesting `paths` in order on one connection (`taggedUrl`, connection `c`),
 * in the background; with `ratePerSecond`, at most that many requests a second (curl --rate),
 * so the connection stays open for paths.length / rate seconds. Wait with `expectKeepAlive`.
 */
export function spawnKeepAlive(
  lab: Lab,
  server: NginxServer,
  c: number,
  paths: readonly string[],
  opts: { style: string; ratePerSecond?: number },
): LabProcess {
  const args = ['-sS', '-w', '%{http_code} %{num_connects}\\n'];
  if (opts.ratePerSecond !== undefined) args.push('--rate', `${opts.ratePerSecond}/s`);
  paths.forEach((p, r) => args.push('-o', '/dev/null', taggedUrl(server, p, opts.style, c, r)));
  return lab.spawn('client', 'curl', args, { name: `curl-${opts.style}-${c}` });
}

/** Waits for a spawnKeepAlive curl: it succeeded, every answer 200, all `requests` on one connection. */
export async function expectKeepAlive(curl: LabProcess, requests: number): Promise<void> {
  await curl.succeeded();
  assert.deepEqual(
    curl.stdout.trim().split('\n'),
    Array.from({ length: requests }, (_, r) => `200 ${r === 0 ? 1 : 0}`),
    `${curl.name}: every answer 200, all on one connection`,
  );
}

/** Runs spawnKeepAlive curls for connections 0..connections-1, each requesting `paths`, and waits for them. */
export async function keepAliveCurls(
  lab: Lab,
  server: NginxServer,
  connections: number,
  paths: readonly string[],
  style: string,
): Promise<void> {
  const curls = Array.from({ length: connections }, (_, c) => spawnKeepAlive(lab, server, c, paths, { style }));
  await Promise.all(curls.map((curl) => expectKeepAlive(curl, paths.length)));
}

/**
 * ab from client (HTTP/1.0, a connection per request): `n` requests of `path?s=short<query>` per
 * entry, in turn, `concurrency` at a time (default up to 4).
 */
export async function shortRequests(
  lab: Lab,
  server: NginxServer,
  counts: Readonly<Record<string, number>>,
  opts: { query?: string; concurrency?: number } = {},
): Promise<void> {
  for (const [path, n] of Object.entries(counts)) {
    const url = server.url(`${path}?s=short${opts.query ?? ''}`);
    const ab = await runAb(lab, url, { requests: n, concurrency: opts.concurrency ?? Math.min(4, n) });
    assert.deepEqual(ab, { complete: n, failed: 0 }, `ab ${url}`);
  }
}

/** Keep-alive connections 0..connections-1 of one style, each requesting `paths` in order. */
export interface KeepAliveSet {
  style: string;
  connections: number;
  paths: readonly string[];
}

/** Runs a KeepAliveSet's curls, in parallel. */
export function runKeepAlive(lab: Lab, server: NginxServer, set: KeepAliveSet): Promise<void> {
  return keepAliveCurls(lab, server, set.connections, set.paths, set.style);
}

/** Requests and connections of short requests and keep-alive sets. */
export function totals(short: Readonly<Record<string, number>>, keepAlive: readonly KeepAliveSet[]): [number, number] {
  const shortTotal = Object.values(short).reduce((a, b) => a + b, 0);
  return [
    shortTotal + keepAlive.reduce((n, k) => n + k.connections * k.paths.length, 0),
    shortTotal + keepAlive.reduce((n, k) => n + k.connections, 0),
  ];
}

/** Waits until `arrived()` reaches `expected` (or stops changing), then for the answers in flight; stops tcpcopy. */
export async function finish(
  tcpcopy: LabProcess,
  arrived: () => number | Promise<number>,
  expected: number,
  what: string,
  quietMs = 3000,
): Promise<Record<string, unknown>> {
  const n = await settle(arrived, expected, { quietMs });
  assert.equal(n, expected, `${what}: ${n} of ${expected}`);
  await sleep(ANSWERS_IN_FLIGHT_MS);
  // SIGTERM: the final stats flush the comparisons of copies not yet released.
  return stopForStats(tcpcopy);
}

/**
 * Production logged `total` requests. Polled: nginx writes a request's log line after sending its
 * answer, so a client can have its answer (and the test read the log) before the line is there.
 */
export async function assertServed(prod: NginxServer, total: number): Promise<void> {
  const logged = await settle(() => prod.readAccessLog().length, total, { quietMs: 1000 });
  assert.equal(logged, total, 'production served every request');
}

/** Segments a host's kernel TCP retransmitted (/proc/net/snmp is the reader's namespace's). */
export async function retransmittedSegments(lab: Lab, host: string): Promise<number> {
  const { stdout } = await lab.exec(host, 'cat', ['/proc/net/snmp']);
  const [names, values] = stdout.split('\n').filter((l) => l.startsWith('Tcp:'));
  const i = names?.split(/\s+/).indexOf('RetransSegs') ?? -1;
  const v = Number(values?.split(/\s+/)[i]);
  assert.ok(i > 0 && Number.isInteger(v), `RetransSegs in ${host}'s /proc/net/snmp:\n${stdout}`);
  return v;
}
