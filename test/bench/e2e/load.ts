/**
 * Load generation from the lab's client host: h2load for a fixed rate of short connections
 * (one request each), wrk for as many as the lab can serve. Also what the client needs to open
 * tens of thousands of connections in a few seconds, and counting an access log's lines cheaply.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { Lab } from '../../lab/index.js';

/** Debian packages of the load generators (program -> package). */
const LOAD_TOOLS: Readonly<Record<string, string>> = { h2load: 'nghttp2-client', wrk: 'wrk' };
/** h2load starts connections in bursts of `-r` every `--rate-period`: 100 small bursts a second
 *  instead of one burst of the whole second's connections. */
const RATE_PERIODS_PER_SECOND = 100;
/** wrk for the "max" level: one thread per core, enough connections to keep nginx busy. */
export const MAX_LEVEL_THREADS = 2;
export const MAX_LEVEL_CONNECTIONS = 50;
/** A load run may take this much longer than its nominal duration before it is killed. */
const LOAD_GRACE_MS = 60_000;

/** Installs the load generators when missing (apt-get, idempotent: nothing to do the next time). */
export function ensureLoadTools(): void {
  const missing = Object.entries(LOAD_TOOLS)
    .filter(([, pkg]) => !isInstalled(pkg))
    .map(([, pkg]) => pkg);
  if (missing.length === 0) return;
  process.stderr.write(`[bench:e2e] installing ${missing.join(', ')}\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: 'inherit', env });
}

function isInstalled(pkg: string): boolean {
  try {
    return execFileSync('dpkg-query', ['-W', '-f=${Status}', pkg], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).includes('install ok installed');
  } catch {
    return false;
  }
}

/**
 * The client closes every connection first, so each leaves a TIME_WAIT socket for 60 s: 10,000
 * connections a second would run out of the default 28,000 local ports in three seconds. Reusing
 * a TIME_WAIT port after 1 s (RFC 7323 timestamps keep that safe) and using every port above
 * 1023 lets one client address keep up. Both sysctls are per network namespace.
 */
export async function tuneClient(lab: Lab): Promise<void> {
  await lab.exec('client', 'sysctl', [
    '-q',
    '-w',
    'net.ipv4.tcp_tw_reuse=1',
    'net.ipv4.ip_local_port_range=1024 65535',
  ]);
}

export interface LoadRun {
  tool: 'h2load' | 'wrk';
  argv: string[];
  /** Wall time of the load generator, start to exit. */
  wallSeconds: number;
  /** The generator's own requests per second. */
  reportedRps: number | undefined;
  /** Requests the generator counts as failed or errored (h2load), or socket errors (wrk). */
  errors: number | undefined;
  /** Its summary lines, for the logs. */
  summary: string;
}

/** Runs a load generator in the client host for a level of `seconds`; throws unless it exits 0. */
async function runLoadTool(
  lab: Lab,
  argv: string[],
  seconds: number,
): Promise<{ stdout: string; wallSeconds: number }> {
  const started = Date.now();
  const { stdout, stderr, code } = await lab.exec('client', argv[0]!, argv.slice(1), {
    timeoutMs: seconds * 1000 + LOAD_GRACE_MS,
    check: false,
  });
  if (code !== 0) {
    throw new Error(`${argv[0]} exited with ${code}: ${argv.join(' ')}\n${stderr.trim() || stdout.slice(-2000)}`);
  }
  return { stdout, wallSeconds: (Date.now() - started) / 1000 };
}

/** `rate` new connections a second for `seconds`, one request each (h2load -r: each client
 *  makes -n/-c = 1 request, and -c clients are started at -r per --rate-period). */
export async function runFixedRate(lab: Lab, url: string, rate: number, seconds: number): Promise<LoadRun> {
  const total = rate * seconds;
  const [perPeriod, period] =
    rate % RATE_PERIODS_PER_SECOND === 0
      ? [rate / RATE_PERIODS_PER_SECOND, `${1000 / RATE_PERIODS_PER_SECOND}ms`]
      : [rate, '1s'];
  const argv = [
    'h2load',
    '--h1',
    '-t',
    '1',
    '-n',
    String(total),
    '-c',
    String(total),
    '-m',
    '1',
    '-r',
    String(perPeriod),
    '--rate-period',
    period,
    url,
  ];
  const { stdout, wallSeconds } = await runLoadTool(lab, argv, seconds);
  const rps = /finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(stdout);
  const reqs =
    /requests: \d+ total, \d+ started, \d+ done, \d+ succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(
      stdout,
    );
  return {
    tool: 'h2load',
    argv,
    wallSeconds,
    reportedRps: rps ? Number(rps[1]) : undefined,
    errors: reqs ? Number(reqs[1]) + Number(reqs[2]) + Number(reqs[3]) : undefined,
    summary: stdout
      .split('\n')
      .filter((l) => /^(finished in|requests:|status codes:)/.test(l))
      .join('\n'),
  };
}

/** As many short connections as the lab serves: wrk with `Connection: close`, so nginx closes
 *  each connection after its answer. */
export async function runMax(lab: Lab, url: string, seconds: number): Promise<LoadRun> {
  const argv = [
    'wrk',
    '-t',
    String(MAX_LEVEL_THREADS),
    '-c',
    String(MAX_LEVEL_CONNECTIONS),
    '-d',
    `${seconds}s`,
    '-H',
    'Connection: close',
    url,
  ];
  const { stdout, wallSeconds } = await runLoadTool(lab, argv, seconds);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(stdout);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  return {
    tool: 'wrk',
    argv,
    wallSeconds,
    reportedRps: rps ? Number(rps[1]) : undefined,
    errors: sock ? Number(sock[1]) + Number(sock[2]) + Number(sock[3]) + Number(sock[4]) : 0,
    summary: stdout
      .split('\n')
      .filter((l) => /requests in|Requests\/sec|Socket errors|Non-2xx/.test(l))
      .map((l) => l.trim())
      .join('\n'),
  };
}

const NEWLINE = 0x0a;
const READ_CHUNK = 1 << 20;

/**
 * Counts the complete lines of a file that only grows (an access log), reading only what was
 * appended since the last call: a level of 100,000 requests is counted many times while the copy
 * settles, and re-reading or parsing the whole log each time would load the CPUs being measured.
 */
export class LineCounter {
  private offset = 0;
  private lines = 0;
  private readonly buf = Buffer.allocUnsafe(READ_CHUNK);

  constructor(private readonly path: string) {}

  count(): number {
    const fd = openSync(this.path, 'r');
    try {
      const size = fstatSync(fd).size;
      while (this.offset < size) {
        const n = readSync(fd, this.buf, 0, Math.min(READ_CHUNK, size - this.offset), this.offset);
        if (n === 0) break;
        for (let i = 0; i < n; i++) if (this.buf[i] === NEWLINE) this.lines++;
        this.offset += n;
      }
    } finally {
      closeSync(fd);
    }
    return this.lines;
  }
}
