/**
 * What /proc says about a daemon the lab started: CPU time, resident memory, its command line.
 * Network namespaces share the root's pid namespace, so /proc/<pid> of a lab process is readable
 * from here.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** proc(5): utime and stime are fields 14 and 15 of /proc/<pid>/stat, counted from 1. After
 *  the `(comm)` field (which may hold spaces) the next field is the 3rd, `state`. */
const STAT_FIRST_FIELD_AFTER_COMM = 3;
const STAT_UTIME_FIELD = 14;
const STAT_STIME_FIELD = 15;
/** sysconf(_SC_CLK_TCK) on every Linux we run on; asked of getconf when available. */
const DEFAULT_CLOCK_TICKS = 100;
const RESOLVE_POLL_MS = 20;

let clockTicks: number | undefined;

/** Clock ticks per second, the unit of utime and stime. */
export function clockTicksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
      clockTicks = Number.isInteger(n) && n > 0 ? n : DEFAULT_CLOCK_TICKS;
    } catch {
      clockTicks = DEFAULT_CLOCK_TICKS;
    }
  }
  return clockTicks;
}

/** User plus system CPU seconds of every thread of the process so far. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const field = (n: number): number => Number(fields[n - STAT_FIRST_FIELD_AFTER_COMM]);
  const ticks = field(STAT_UTIME_FIELD) + field(STAT_STIME_FIELD);
  if (!Number.isFinite(ticks)) throw new Error(`unreadable /proc/${pid}/stat: ${stat}`);
  return ticks / clockTicksPerSecond();
}

export interface Memory {
  /** VmRSS: resident now. */
  rssKiB: number;
  /** VmHWM: the highest VmRSS since the process started. */
  hwmKiB: number;
}

export function memory(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key: string): number => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB$`, 'm').exec(status);
    if (m === null) throw new Error(`no ${key} in /proc/${pid}/status`);
    return Number(m[1]);
  };
  return { rssKiB: kib('VmRSS'), hwmKiB: kib('VmHWM') };
}

export function commOf(pid: number): string {
  return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
}

/** argv of the process, quoted for a shell where needed. */
export function commandLineOf(pid: number): string {
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
    .split('\0')
    .filter((a) => a !== '');
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter((s) => s !== '')
      .map(Number);
  } catch {
    return [];
  }
}

/**
 * The pid whose CPU and memory are the daemon's. lab.spawn runs `ip netns exec <ns> <cmd>`,
 * which execs in place (and `#!/usr/bin/env node` execs node in place too), so normally `pid`
 * itself once its comm matches; a wrapper that forks instead is followed down to its only child.
 */
export async function resolveDaemonPid(pid: number, comm: RegExp, timeoutMs = 5000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let seen = '';
  for (;;) {
    let current = pid;
    for (let depth = 0; depth < 4; depth++) {
      let name: string;
      try {
        name = commOf(current);
      } catch {
        throw new Error(`process ${current} exited while looking for ${comm}`);
      }
      seen = `${current}:${name}`;
      if (comm.test(name)) return current;
      const children = childrenOf(current);
      if (children.length !== 1) break;
      current = children[0]!;
    }
    if (Date.now() > deadline)
      throw new Error(`no process matching ${comm} under pid ${pid} after ${timeoutMs} ms (last seen ${seen})`);
    await new Promise((r) => setTimeout(r, RESOLVE_POLL_MS));
  }
}

/**
 * Samples VmRSS of some processes every `intervalMs` and keeps the highest value of each since
 * the last reset(). A process that has exited is skipped (its last peak stays).
 */
export class RssSampler {
  private readonly peaks = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pids: Readonly<Record<string, number>>,
    intervalMs = 200,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  reset(): void {
    this.peaks.clear();
    this.sample();
  }

  /** Highest VmRSS per name since the last reset, in KiB (sampled once more now). */
  peakKiB(name: string): number | undefined {
    this.sample();
    return this.peaks.get(name);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private sample(): void {
    for (const [name, pid] of Object.entries(this.pids)) {
      let rss: number;
      try {
        rss = memory(pid).rssKiB;
      } catch {
        continue;
      }
      this.peaks.set(name, Math.max(this.peaks.get(name) ?? 0, rss));
    }
  }
}
