/**
 * Production and test servers that answer some requests differently, for the response-comparison
 * tests (docs/compare.md): two nginx sites alike but for one thing per differing path, two Redis
 * servers alike but for one key; the requests whose answers got another Date on the test server
 * (from both access logs); and the diff log tcpcopy writes, read back.
 *
 * Each differing path differs in one way only, so one kind names it: files of the same length and
 * modification time (Last-Modified and ETag are then the same), `return` answers with the same
 * body. Everything else is the same on both, so only Date can differ where nothing is reported.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { patternBytes, type AccessLogEntry, type Lab, type NginxServer } from '../lab/index.js';
import { redisCli } from './redis-helpers.js';

/** Resolves when the wall clock is `ms` into a second (the next such moment). */
export function atMillisecond(ms: number): Promise<void> {
  const wait = (ms - (Date.now() % 1000) + 1000) % 1000;
  return new Promise((r) => setTimeout(r, wait));
}

/** The kinds a differing path must be reported with (HTTP mode). */
export type HttpKind = 'status' | 'headers' | 'body';

/** The site's paths: what differs on the test server, if anything. */
export const PATHS = {
  /** Identical. */
  same: '/same.html',
  /** Identical, but the test server answers the second of two with the same `d` late, so its Date can differ. */
  late: '/late.html',
  /** Another body of the same length. */
  body: '/body.txt',
  /** 503 instead of 200, same body. */
  status: '/status',
  /** An extra header field (X-Build). */
  headers: '/header.html',
  /** 1 MiB, identical. */
  big: '/1m.bin',
  /** 1 MiB, one byte different at BIG_TAIL_OFFSET, beyond the compared prefix. */
  bigTail: '/1m-tail.bin',
} as const;

export const BIG_SIZE = 1024 * 1024;
/** Where the test server's copy of /1m-tail.bin differs: far beyond --compare-bytes (64 KiB). */
export const BIG_TAIL_OFFSET = 512 * 1024;
/** The compared prefix tcpcopy keeps by default. */
export const COMPARE_BYTES = 64 * 1024;

/** What each differing path must be reported as; the others must not be reported at all. */
export const EXPECTED_KIND: Readonly<Record<string, HttpKind>> = {
  [PATHS.body]: 'body',
  [PATHS.status]: 'status',
  [PATHS.headers]: 'headers',
};

function siteFiles(side: 'prod' | 'target'): Record<string, string | Buffer> {
  const tail = patternBytes(BIG_SIZE);
  if (side === 'target') tail[BIG_TAIL_OFFSET] = (tail[BIG_TAIL_OFFSET]! + 1) & 0xff;
  return {
    'same.html': '<html><body>the same on both servers</body></html>\n',
    'late.html': '<html><body>the same, but late on the test server</body></html>\n',
    // Same length on both: only the bytes differ.
    'body.txt': side === 'prod' ? 'price: 100 EUR\n' : 'price: 999 EUR\n',
    'header.html': '<html><body>one more header field on the test server</body></html>\n',
    '1m.bin': patternBytes(BIG_SIZE),
    '1m-tail.bin': tail,
  };
}

/**
 * The test server's late answers: `limit_req` keyed by the `d` query parameter delays the second
 * of two requests with the same `d` by up to 1/rate (333 ms) after the first. That is less than the
 * copier's pacing waits for a silent test server (NO_RESPONSE_RELEASE_MS, FIN_RELEASE_QUIET_MS:
 * a longer delay gets the next request or the client's FIN released behind it, and nginx drops a
 * delayed request whose client closed), yet enough to put the answer in another second than
 * production's when production answered late in its second (see atMillisecond).
 */
export const LATE_DELAY_MS = 333;
const LATE_RATE = '3r/s';

function serverConfig(side: 'prod' | 'target'): string {
  const status = side === 'prod' ? 200 : 503;
  const lines = [
    `location = ${PATHS.status} { default_type text/plain; return ${status} "status page\\n"; }`,
    side === 'target' ? `location = ${PATHS.headers} { add_header X-Build canary; }` : '',
    side === 'target' ? `location = ${PATHS.late} { limit_req zone=late burst=1000; }` : '',
  ];
  return lines.filter((l) => l !== '').join('\n    ');
}

/**
 * Requests to identical paths (`?s=<style>`) whose answers production and the test server logged
 * in different seconds: their Date fields differed (nginx takes both from one cached time). A URI
 * requested several times is paired in the order both logged it.
 */
export function dateDiffered(
  prodLog: readonly AccessLogEntry[],
  targetLog: readonly AccessLogEntry[],
  style: string,
): number {
  const byUri = (log: readonly AccessLogEntry[]): Map<string, number[]> => {
    const out = new Map<string, number[]>();
    for (const e of log) {
      const path = e.path.replace(/\?.*/, '');
      if (EXPECTED_KIND[path] !== undefined || !e.path.includes(`s=${style}`)) continue;
      out.set(
        e.path,
        [...(out.get(e.path) ?? []), e.loggedAt].sort((x, y) => x - y),
      );
    }
    return out;
  };
  const target = byUri(targetLog);
  let n = 0;
  for (const [uri, times] of byUri(prodLog))
    times.forEach((at, i) => {
      const copy = target.get(uri)?.[i];
      if (copy !== undefined && Math.floor(copy) !== Math.floor(at)) n++;
    });
  return n;
}

export interface ComparePair {
  prod: NginxServer;
  target: NginxServer;
}

/** nginx on prod and on target, port 80, serving the two sites. */
export async function startNginxPair(lab: Lab): Promise<ComparePair> {
  const start = (side: 'prod' | 'target'): Promise<NginxServer> => {
    // The lab writes every file with one modification time: Last-Modified and ETag agree.
    return lab.startNginx(side, {
      root: join(lab.logDir, `site-${side}`),
      files: siteFiles(side),
      serverConfig: serverConfig(side),
      ...(side === 'target' ? { httpConfig: `limit_req_zone $arg_d zone=late:1m rate=${LATE_RATE};` } : {}),
    });
  };
  return { prod: await start('prod'), target: await start('target') };
}

/** Keys both Redis servers hold; ODD_KEY holds another value (of the same length) on the test server. */
export const REDIS_KEYS: readonly string[] = Array.from({ length: 8 }, (_, i) => `user:${i}`);
export const ODD_KEY = 'user:odd';
export const ODD_VALUES = { prod: 'balance=100', target: 'balance=999' } as const;

export function redisValue(key: string): string {
  return `${key}:value`;
}

/** Seeds a Redis server in its own host (before tcpcopy starts, so the seeding is not copied). */
export async function seedRedis(lab: Lab, side: 'prod' | 'target'): Promise<void> {
  const args = ['MSET', ...REDIS_KEYS.flatMap((k) => [k, redisValue(k)]), ODD_KEY, ODD_VALUES[side]];
  const out = await redisCli(lab, side, side, args);
  if (out.trim() !== 'OK') throw new Error(`MSET on ${side}: ${out}`);
}

/** One line of tcpcopy's --diff-log (docs/compare-diff-log.schema.json), as far as the tests read it. */
export interface DiffHttp {
  status?: number;
  requestLine?: string;
  headers?: [string, string][];
}

export interface DiffAnswer {
  firstBytes: string;
  length: number;
  sha256: string;
  http?: DiffHttp;
}

export interface DiffRecord {
  session: { client: string; target: string; copy: number };
  exchange: number;
  request: { firstBytes: string; length: number; http?: DiffHttp };
  production: DiffAnswer;
  test: DiffAnswer | null;
  kind: string;
  offset: number | null;
  excerpt: { start: number; production: string; test: string } | null;
}

/** Every record of a diff log; [] when tcpcopy never created it. Every line must be whole JSON. */
export function readDiffLog(path: string): DiffRecord[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as DiffRecord);
}

/** The request line of a record: HTTP mode's, else the first line of the request's first bytes. */
export function requestLine(r: DiffRecord): string {
  return r.request.http?.requestLine ?? r.request.firstBytes.split('\\r\\n')[0] ?? '';
}

/** The path of an HTTP request line, without its query. */
export function requestPath(r: DiffRecord): string {
  return (requestLine(r).split(' ')[1] ?? '').replace(/\?.*/, '');
}

/** Counts of `key(r)` over the records, as a plain object (stable in assertion messages). */
export function countBy(records: readonly DiffRecord[], key: (r: DiffRecord) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of records) out[key(r)] = (out[key(r)] ?? 0) + 1;
  return out;
}
