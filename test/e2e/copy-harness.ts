/**
 * Shared set-up of the end-to-end copy tests: the real `intercept` on aux and the real `tcpcopy`
 * on prod, as a user would start them, inside a lab; plus polling helpers for the test server's
 * view of what arrived.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AccessLogEntry, Lab, LabProcess } from '../lab/index.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const TCPCOPY_BIN = join(ROOT, 'packages/copier/bin/tcpcopy');
export const INTERCEPT_BIN = join(ROOT, 'packages/intercept/bin/intercept');
export const CONTROL_PORT = 36524;

/** `a.b.c.x`: the lab's whole fake-client /24, in tcpcopy's -c notation. */
export function fakeRange(lab: Lab): string {
  return lab.fakeIp(1).replace(/\.1$/, '.x');
}

export async function startIntercept(lab: Lab, serverPort: number, extra: readonly string[] = []): Promise<LabProcess> {
  const aux = lab.host('aux');
  const proc = lab.spawn('aux', INTERCEPT_BIN, ['-i', aux.iface, '-F', `tcp and src port ${serverPort}`, ...extra], {
    name: 'intercept',
  });
  await lab.waitForPort('aux', CONTROL_PORT, 10_000, proc);
  return proc;
}

export interface CopierOptions {
  /** `-x` value; default `<port>-<target>:<port>`. */
  transfer?: string;
  port?: number;
  copies?: number;
  extra?: readonly string[];
  /** Options for node itself (e.g. --cpu-prof): tcpcopy then runs as `node <options> tcpcopy`. */
  nodeArgs?: readonly string[];
}

/** The node options tcpcopy's first line gives it (#!/usr/bin/env -S node OPTIONS), as a launcher passes them. */
function binNodeOptions(): string[] {
  const first = readFileSync(TCPCOPY_BIN, 'utf8').split('\n', 1)[0]!;
  const options = /^#!\/usr\/bin\/env -S node (.*)$/.exec(first)?.[1];
  return options === undefined ? [] : options.split(' ').filter((w) => w !== '');
}

/** lab.guardCounters() when nothing crossed where it must not. */
export const NO_GUARD_HITS = { clientFromOthers: 0, prodFromTarget: 0, prodFromFakeSubnet: 0, prodToSelf: 0 };

/** Starts tcpcopy on prod the way the README says, and waits until it captures. */
export async function startTcpcopy(lab: Lab, opts: CopierOptions = {}): Promise<LabProcess> {
  const port = opts.port ?? 80;
  const transfer = opts.transfer ?? `${port}-${lab.host('target').ip}:${port}`;
  const args = [
    '-x',
    transfer,
    '-s',
    lab.host('aux').ip,
    '-c',
    fakeRange(lab),
    '-n',
    String(opts.copies ?? 1),
    ...(opts.extra ?? []),
  ];
  const proc =
    opts.nodeArgs === undefined
      ? lab.spawn('prod', TCPCOPY_BIN, args, { name: 'tcpcopy' })
      : lab.spawn('prod', process.execPath, [...binNodeOptions(), ...opts.nodeArgs, TCPCOPY_BIN, ...args], {
          name: 'tcpcopy',
        });
  // The ring is bound before this line is logged: every packet from here on is captured.
  await proc.waitFor(/"msg":"capturing"/, { stream: 'stderr', timeoutMs: 15_000 });
  return proc;
}

/** The process ids `cmd args` prints in a lab host (`pidof tcpcopy`, `pgrep -x intercept`). */
export async function pidsNamed(lab: Lab, cmd: string, args: readonly string[]): Promise<number[]> {
  const { stdout } = await lab.exec('prod', cmd, [...args], { check: false });
  return stdout.trim().split(/\s+/).map(Number);
}

/** A lab process's resident memory now (VmRSS) or at its peak so far (VmHWM), in MiB. */
export function residentMiB(proc: LabProcess, field: 'VmRSS' | 'VmHWM'): number {
  const kib = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${proc.pid}/status`, 'utf8'))?.[1];
  if (kib === undefined) throw new Error(`no ${field} for ${proc.name}`);
  return Number(kib) / 1024;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Polls `count` until it reaches `expected` or stops changing for `quietMs`; returns the last
 * value. Copies trail production by the test server's round trips, so tests wait, then compare.
 */
export async function settle(
  count: () => number | Promise<number>,
  expected: number,
  opts: { quietMs?: number; timeoutMs?: number } = {},
): Promise<number> {
  const quietMs = opts.quietMs ?? 3000;
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  let last = -1;
  let changedAt = Date.now();
  for (;;) {
    const now = await count();
    if (now !== last) {
      last = now;
      changedAt = Date.now();
    }
    if (now >= expected && Date.now() - changedAt >= 500) return now;
    if (Date.now() - changedAt >= quietMs || Date.now() > deadline) return now;
    await sleep(200);
  }
}

/** The copier's last stats object (its final stats after SIGTERM), parsed from its JSON log. */
export function lastStats(proc: LabProcess): Record<string, unknown> | undefined {
  const lines = proc.stderr.split('\n').filter((l) => l.includes('"msg":"final stats"') || l.includes('"msg":"stats"'));
  const last = lines.at(-1);
  return last === undefined ? undefined : (JSON.parse(last) as Record<string, unknown>);
}

/** Stops a daemon with SIGTERM and returns the stats object it logs on the way out. */
export async function stopForStats(proc: LabProcess): Promise<Record<string, unknown>> {
  const exit = await proc.stop('SIGTERM', 5000);
  const stats = proc.stderr
    .split('\n')
    .filter((l) => l.includes('"msg":"final stats"'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .at(-1);
  if (stats === undefined)
    throw new Error(
      `${proc.name} logged no final stats (exit ${exit.code ?? exit.signal}):\n${proc.stderr.slice(-2000)}`,
    );
  return stats;
}

/** A value inside a stats object by dotted path ('capture.framesDropped.truncated'). */
export function statAt(stats: Record<string, unknown>, path: string): unknown {
  let v: unknown = stats;
  for (const key of path.split('.'))
    v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined;
  return v;
}

/** A numeric stat; throws when it is missing, so a renamed counter cannot pass as 0. */
export function numberAt(stats: Record<string, unknown>, path: string): number {
  const v = statAt(stats, path);
  if (typeof v !== 'number') throw new Error(`stat ${path} is ${JSON.stringify(v)} in ${JSON.stringify(stats)}`);
  return v;
}

export interface AbOptions {
  requests: number;
  concurrency: number;
  keepAlive?: boolean;
  timeoutMs?: number;
}

/** ab from the client host; returns its complete and failed counts (it must not error out). */
export async function runAb(lab: Lab, url: string, opts: AbOptions): Promise<{ complete: number; failed: number }> {
  const args = [
    '-q',
    '-n',
    String(opts.requests),
    '-c',
    String(opts.concurrency),
    ...(opts.keepAlive === true ? ['-k'] : []),
    url,
  ];
  const { stdout } = await lab.exec('client', 'ab', args, { timeoutMs: opts.timeoutMs ?? 60_000 });
  const complete = /Complete requests:\s+(\d+)/.exec(stdout);
  const failed = /Failed requests:\s+(\d+)/.exec(stdout);
  if (!complete || !failed) throw new Error(`unexpected ab output:\n${stdout}`);
  return { complete: Number(complete[1]), failed: Number(failed[1]) };
}

/** One `ss` sample: the peer `ip:port` of every established connection to the sampled port. */
export type SocketSample = string[];

const SAMPLE_SEPARATOR = '--sample--';

/**
 * Samples `host`'s established TCP connections on local `port` every `intervalMs` (a shell loop
 * inside the host, so sampling costs no namespace switch per sample). stop() returns the samples.
 */
export function sampleConnections(
  lab: Lab,
  host: string,
  port: number,
  intervalMs = 100,
): { stop(): Promise<SocketSample[]> } {
  const seconds = (intervalMs / 1000).toFixed(3);
  const loop = `while :; do ss -Htn state established '( sport = :${port} )'; echo ${SAMPLE_SEPARATOR}; sleep ${seconds}; done`;
  const proc = lab.spawn(host, 'sh', ['-c', loop], { name: 'ss-sampler' });
  return {
    async stop(): Promise<SocketSample[]> {
      await proc.stop('SIGTERM', 1000);
      // The log file keeps everything (the in-memory copy is bounded).
      const text = readFileSync(proc.stdoutPath, 'utf8');
      const samples = text.split(`${SAMPLE_SEPARATOR}\n`).slice(0, -1);
      // With a state filter ss omits the state column: Recv-Q Send-Q Local Peer.
      return samples.map((s) =>
        s
          .split('\n')
          .filter((l) => l.trim() !== '')
          .map((l) => l.trim().split(/\s+/)[3] ?? ''),
      );
    },
  };
}

/** Requests of an nginx access log counted by method, path and status: what two servers must share. */
export function requestSummary(entries: readonly AccessLogEntry[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const e of entries) {
    const key = `${e.method} ${e.path} ${e.status}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}
