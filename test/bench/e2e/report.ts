/** The figures of bench:e2e, as JSON and as tables for the terminal. */
import type { CopierName } from './copiers.js';

export interface LevelResult {
  /** '1000', '2000', ... or 'max'. */
  level: string;
  offeredRps: number | 'max';
  load: {
    tool: string;
    argv: string[];
    wallSeconds: number;
    generatorRps: number | null;
    generatorErrors: number | null;
  };
  /** From the level's start to the end of the settle wait: the span CPU time is counted over. */
  measuredSeconds: number;
  settleSeconds: number;
  prodRequests: number;
  /** prodRequests over the load generator's wall time. */
  prodRps: number;
  targetRequests: number;
  /** targetRequests / prodRequests. */
  fidelity: number | null;
  tcpcopyCpuSeconds: number;
  interceptCpuSeconds: number;
  tcpcopyCpuPer1k: number | null;
  interceptCpuPer1k: number | null;
  /** Highest VmRSS sampled every 200 ms during the level (load and settle). */
  tcpcopyPeakRssKiB: number | null;
  interceptPeakRssKiB: number | null;
  /** VmHWM at the end of the level: the peak since the daemon started. */
  tcpcopyHwmKiB: number;
  interceptHwmKiB: number;
}

export interface CopierResult {
  name: CopierName;
  /** Why this copier did not run at all. */
  skipped?: string;
  /** What stopped it; the levels before it are kept. */
  error?: string;
  logDir?: string;
  /** The lab's offload profile (test/lab/topology.ts). */
  offloads?: string;
  commandLines?: { tcpcopy: string; intercept: string };
  /** VmRSS once ready and idle, before any request. */
  idle?: { tcpcopyRssKiB: number; interceptRssKiB: number };
  /** How long the probe request's copy took to reach the test server. */
  probeCopiedMs?: number;
  levels: LevelResult[];
  /** The lab's leak guards after the run (all 0 when nothing leaked). */
  guards?: Record<string, number>;
  /** ours-compare: lines in its diff log after the run (both servers serve the same page: 0). */
  diffLogLines?: number;
}

export interface Ratio {
  level: string;
  tcpcopyCpuPer1k: number | null;
  interceptCpuPer1k: number | null;
  tcpcopyPeakRss: number | null;
  interceptPeakRss: number | null;
  fidelityOurs: number | null;
  fidelityC: number | null;
}

/** Per level, `ours`' figures over `c`'s (any two copiers: ours-compare over ours too). */
export function ratios(ours: CopierResult, c: CopierResult): Ratio[] {
  const div = (a: number | null | undefined, b: number | null | undefined): number | null =>
    a === null || a === undefined || b === null || b === undefined || b === 0 ? null : a / b;
  return ours.levels.flatMap((o) => {
    const u = c.levels.find((l) => l.level === o.level);
    if (u === undefined) return [];
    return [
      {
        level: o.level,
        tcpcopyCpuPer1k: div(o.tcpcopyCpuPer1k, u.tcpcopyCpuPer1k),
        interceptCpuPer1k: div(o.interceptCpuPer1k, u.interceptCpuPer1k),
        tcpcopyPeakRss: div(o.tcpcopyPeakRssKiB, u.tcpcopyPeakRssKiB),
        interceptPeakRss: div(o.interceptPeakRssKiB, u.interceptPeakRssKiB),
        fidelityOurs: o.fidelity,
        fidelityC: u.fidelity,
      },
    ];
  });
}

const MIB = 1024;

function fixed(n: number | null | undefined, digits: number): string {
  return n === null || n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(digits);
}

function mib(kib: number | null | undefined): string {
  return kib === null || kib === undefined ? '-' : (kib / MIB).toFixed(1);
}

function percent(x: number | null): string {
  return x === null ? '-' : `${(100 * x).toFixed(1)}%`;
}

/** Columns right-aligned except the first; a rule under the header. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function copierTable(r: CopierResult): string {
  const header = [
    'level',
    'offered/s',
    'prod req/s',
    'prod reqs',
    'copied',
    'fidelity',
    'tcpcopy cpu s/1k',
    'intercept cpu s/1k',
    'tcpcopy rss MiB',
    'tcpcopy hwm',
    'intercept rss MiB',
    'load errors',
  ];
  const rows = r.levels.map((l) => [
    l.level,
    l.offeredRps === 'max' ? 'max' : String(l.offeredRps),
    fixed(l.prodRps, 0),
    String(l.prodRequests),
    String(l.targetRequests),
    percent(l.fidelity),
    fixed(l.tcpcopyCpuPer1k, 3),
    fixed(l.interceptCpuPer1k, 3),
    mib(l.tcpcopyPeakRssKiB),
    mib(l.tcpcopyHwmKiB),
    mib(l.interceptPeakRssKiB),
    l.load.generatorErrors === null ? '-' : String(l.load.generatorErrors),
  ]);
  return table(header, rows);
}

export function ratioTable(rs: readonly Ratio[], over: readonly [CopierName, CopierName] = ['ours', 'c']): string {
  const [a, b] = over;
  const header = [
    'level',
    `tcpcopy cpu/1k ${a}/${b}`,
    `intercept cpu/1k ${a}/${b}`,
    `tcpcopy rss ${a}/${b}`,
    `intercept rss ${a}/${b}`,
    `fidelity ${a}`,
    `fidelity ${b}`,
  ];
  return table(
    header,
    rs.map((r) => [
      r.level,
      fixed(r.tcpcopyCpuPer1k, 2),
      fixed(r.interceptCpuPer1k, 2),
      fixed(r.tcpcopyPeakRss, 2),
      fixed(r.interceptPeakRss, 2),
      percent(r.fidelityOurs),
      percent(r.fidelityC),
    ]),
  );
}

export function idleLine(r: CopierResult): string {
  if (r.idle === undefined) return 'idle: -';
  return `idle rss: tcpcopy ${mib(r.idle.tcpcopyRssKiB)} MiB, intercept ${mib(r.idle.interceptRssKiB)} MiB`;
}
