/**
 * End to end: what copying costs under load, ours against the C upstream (tcpcopy 1.3 +
 * intercept 1.0). For each copier a fresh lab: nginx on prod and on target serving the same small
 * page, intercept on aux, tcpcopy on prod; a probe request first proves that copies arrive. Then
 * short connections (one request each) at fixed offered rates from the client with h2load, and as
 * many as the lab serves with wrk. Per level: production's rate, fidelity (requests the test
 * server logged / requests production logged, once the copy has settled), the daemons' CPU
 * seconds per 1000 requests (utime+stime over the level and its settle time) and their peak RSS.
 *
 * Run as root: pnpm bench:e2e (builds first). BENCH_SECONDS sets each level's length (default 10).
 * Ours runs twice: as is, and with --compare (its cost). The C copier runs too when
 * UPSTREAM_TCPCOPY and UPSTREAM_INTERCEPT name its executables; BENCH_COPIERS picks among them.
 * Writes test/bench/results/e2e.json. Installs h2load (nghttp2-client) and wrk when missing.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLab, defaultOffloadProfile, type Lab } from '../lab/index.js';
import { sleep } from '../e2e/copy-harness.js';
import {
  startOurs,
  startUpstream,
  tail,
  upstreamFromEnv,
  type CopierName,
  type RunningCopier,
  type UpstreamBinaries,
} from './e2e/copiers.js';
import { LineCounter, ensureLoadTools, runFixedRate, runMax, tuneClient, type LoadRun } from './e2e/load.js';
import { RssSampler, cpuSeconds, memory } from './e2e/proc.js';
import { copierTable, idleLine, ratioTable, ratios, type CopierResult, type LevelResult } from './e2e/report.js';

const RESULTS_PATH = fileURLToPath(new URL('../../bench/results/e2e.json', import.meta.url));
const OFFERED_RATES = [1000, 2000, 5000, 10_000] as const;
const DEFAULT_LEVEL_SECONDS = 10;
/** The page both servers serve: a few hundred bytes, one segment each way. */
const PAGE_PATH = '/index.html';
const PAGE = `<!doctype html>\n<html><head><title>bench:e2e</title></head><body>\n${'<p>copied traffic, short connections</p>\n'.repeat(8)}</body></html>\n`;
/** After the daemons are ready and before any request, for the idle footprint. */
const IDLE_MS = 1000;
const PROBE_TIMEOUT_MS = 10_000;
/** The copy of a level has settled when the test server's count has not moved for this long. */
const SETTLE_QUIET_MS = 3000;
const SETTLE_TIMEOUT_MS = 120_000;
const POLL_MS = 100;
const RSS_SAMPLE_MS = 200;

type Level = { label: string; rate: number | 'max' };

function levelSeconds(env: NodeJS.ProcessEnv): number {
  const raw = env['BENCH_SECONDS'];
  if (raw === undefined || raw === '') return DEFAULT_LEVEL_SECONDS;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`BENCH_SECONDS=${raw}: expected a whole number of seconds >= 1`);
  return n;
}

function countLines(file: string): number {
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  return text === '' ? 0 : text.trimEnd().split('\n').length;
}

function note(line: string): void {
  process.stderr.write(`[bench:e2e] ${line}\n`);
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function ensureRunning(copier: RunningCopier): void {
  for (const proc of [copier.tcpcopy, copier.intercept]) {
    if (!proc.running)
      throw new Error(
        `${copier.name} ${proc.name} exited:\n${proc.stderr.slice(-2000)}\n${copier.logFiles.map((f) => tail(f)).join('\n')}`,
      );
  }
}

/** One request through production; resolves with the ms its copy took to reach the test server,
 *  or fails (never hangs) when no copy arrives. */
async function probe(lab: Lab, url: string, targetLines: LineCounter, copier: RunningCopier): Promise<number> {
  const before = targetLines.count();
  const started = Date.now();
  await lab.exec('client', 'curl', ['-sS', '-o', '/dev/null', '-m', '5', url], { timeoutMs: 10_000 });
  while (Date.now() - started < PROBE_TIMEOUT_MS) {
    if (targetLines.count() > before) return Date.now() - started;
    await sleep(POLL_MS);
  }
  ensureRunning(copier);
  throw new Error(
    `the probe request reached production but no copy reached the test server within ${PROBE_TIMEOUT_MS} ms: ` +
      `the ${copier.name} copier copies nothing in this lab\n${copier.logFiles.map((f) => tail(f)).join('\n')}`,
  );
}

/** Waits until `count` has not changed for SETTLE_QUIET_MS; returns whether it settled in time. */
async function settle(count: () => number): Promise<boolean> {
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  let last = count();
  let changedAt = Date.now();
  while (Date.now() - changedAt < SETTLE_QUIET_MS) {
    if (Date.now() > deadline) return false;
    await sleep(POLL_MS);
    const now = count();
    if (now !== last) {
      last = now;
      changedAt = Date.now();
    }
  }
  return true;
}

interface LevelContext {
  lab: Lab;
  url: string;
  seconds: number;
  copier: RunningCopier;
  prodLines: LineCounter;
  targetLines: LineCounter;
  sampler: RssSampler;
}

async function runLevel(ctx: LevelContext, level: Level): Promise<LevelResult> {
  const { copier, prodLines, targetLines, sampler } = ctx;
  const prod0 = prodLines.count();
  const target0 = targetLines.count();
  const tcpcopyCpu0 = cpuSeconds(copier.tcpcopyPid);
  const interceptCpu0 = cpuSeconds(copier.interceptPid);
  sampler.reset();
  const started = Date.now();
  const load: LoadRun =
    level.rate === 'max'
      ? await runMax(ctx.lab, ctx.url, ctx.seconds)
      : await runFixedRate(ctx.lab, ctx.url, level.rate, ctx.seconds);
  const settleStarted = Date.now();
  const settled = await settle(() => targetLines.count());
  if (!settled)
    note(
      `${copier.name} ${level.label}: the test server's count still moved after ${SETTLE_TIMEOUT_MS} ms; measuring anyway`,
    );
  const ended = Date.now();
  ensureRunning(copier);
  const tcpcopyCpu = cpuSeconds(copier.tcpcopyPid) - tcpcopyCpu0;
  const interceptCpu = cpuSeconds(copier.interceptPid) - interceptCpu0;
  const prodRequests = prodLines.count() - prod0;
  const targetRequests = targetLines.count() - target0;
  const per1k = (cpu: number): number | null => (prodRequests === 0 ? null : cpu / (prodRequests / 1000));
  return {
    level: level.label,
    offeredRps: level.rate,
    load: {
      tool: load.tool,
      argv: load.argv,
      wallSeconds: load.wallSeconds,
      generatorRps: load.reportedRps ?? null,
      generatorErrors: load.errors ?? null,
    },
    measuredSeconds: (ended - started) / 1000,
    settleSeconds: (ended - settleStarted) / 1000,
    prodRequests,
    prodRps: prodRequests / load.wallSeconds,
    targetRequests,
    fidelity: prodRequests === 0 ? null : targetRequests / prodRequests,
    tcpcopyCpuSeconds: tcpcopyCpu,
    interceptCpuSeconds: interceptCpu,
    tcpcopyCpuPer1k: per1k(tcpcopyCpu),
    interceptCpuPer1k: per1k(interceptCpu),
    tcpcopyPeakRssKiB: sampler.peakKiB('tcpcopy') ?? null,
    interceptPeakRssKiB: sampler.peakKiB('intercept') ?? null,
    tcpcopyHwmKiB: memory(copier.tcpcopyPid).hwmKiB,
    interceptHwmKiB: memory(copier.interceptPid).hwmKiB,
  };
}

async function runCopier(
  name: CopierName,
  levels: readonly Level[],
  seconds: number,
  upstream: UpstreamBinaries | undefined,
): Promise<CopierResult> {
  const result: CopierResult = { name, levels: [] };
  let lab: Lab | undefined;
  let failed = false;
  try {
    lab = await createLab();
    result.offloads = lab.offloads;
    note(`${name}: lab ${lab.prefix} (offloads ${lab.offloads})`);
    await tuneClient(lab);
    const files = { [PAGE_PATH.slice(1)]: PAGE };
    const prod = await lab.startNginx('prod', { files });
    const target = await lab.startNginx('target', { files });
    let copier: RunningCopier;
    if (name === 'ours') copier = await startOurs(lab);
    else if (name === 'ours-compare') copier = await startOurs(lab, 1, path.join(lab.logDir, 'diff.log'));
    else if (upstream !== undefined) copier = await startUpstream(lab, upstream);
    else throw new Error('no upstream binaries');
    result.commandLines = { ...copier.commandLines };
    note(`${name}: intercept (aux): ${copier.commandLines.intercept}`);
    note(`${name}: tcpcopy (prod): ${copier.commandLines.tcpcopy}`);

    await sleep(IDLE_MS);
    ensureRunning(copier);
    result.idle = {
      tcpcopyRssKiB: memory(copier.tcpcopyPid).rssKiB,
      interceptRssKiB: memory(copier.interceptPid).rssKiB,
    };
    const prodLines = new LineCounter(prod.accessLogPath);
    const targetLines = new LineCounter(target.accessLogPath);
    const url = prod.url(PAGE_PATH);
    result.probeCopiedMs = await probe(lab, url, targetLines, copier);
    note(`${name}: probe copied in ${result.probeCopiedMs} ms`);

    const sampler = new RssSampler({ tcpcopy: copier.tcpcopyPid, intercept: copier.interceptPid }, RSS_SAMPLE_MS);
    try {
      for (const level of levels) {
        const r = await runLevel({ lab, url, seconds, copier, prodLines, targetLines, sampler }, level);
        result.levels.push(r);
        note(
          `${name} ${level.label}: prod ${r.prodRequests} (${r.prodRps.toFixed(0)}/s), copied ${r.targetRequests} ` +
            `(${r.fidelity === null ? '-' : (100 * r.fidelity).toFixed(1)}%), tcpcopy ${r.tcpcopyCpuSeconds.toFixed(2)} cpu s, settled in ${r.settleSeconds.toFixed(1)} s`,
        );
      }
    } finally {
      sampler.stop();
    }
    result.guards = { ...(await lab.guardCounters()) };
    if (name === 'ours-compare') result.diffLogLines = countLines(path.join(lab.logDir, 'diff.log'));
  } catch (err) {
    failed = true;
    result.error = message(err);
    if (lab !== undefined) result.logDir = lab.logDir;
    note(`${name} FAILED: ${result.error}${lab === undefined ? '' : `\nlogs kept in ${lab.logDir}`}`);
  } finally {
    await lab?.destroy({ keepLogs: failed || process.env.BENCH_KEEP_LOGS === '1' });
  }
  return result;
}

const seconds = levelSeconds(process.env);
/** BENCH_LEVELS=10000,max runs only those levels. */
const wanted = process.env.BENCH_LEVELS?.split(',');
const levels: Level[] = [
  ...OFFERED_RATES.map((rate): Level => ({ label: String(rate), rate })),
  { label: 'max', rate: 'max' } as Level,
].filter((level) => wanted === undefined || wanted.includes(level.label));
ensureLoadTools();
const upstream = upstreamFromEnv(process.env);
/** BENCH_COPIERS=ours,c runs only those (default: ours, ours-compare, and c when its binaries are given). */
const copiers = (process.env.BENCH_COPIERS ?? 'ours,ours-compare,c').split(',');
const results: CopierResult[] = [];
for (const name of ['ours', 'ours-compare'] as const) {
  if (copiers.includes(name)) results.push(await runCopier(name, levels, seconds, undefined));
}
if (!copiers.includes('c')) note('C copier not asked for (BENCH_COPIERS)');
else if ('binaries' in upstream) results.push(await runCopier('c', levels, seconds, upstream.binaries));
else {
  note(`C copier skipped: ${upstream.skipped}`);
  results.push({ name: 'c', skipped: upstream.skipped, levels: [] });
}

const ran = (name: CopierName): CopierResult | undefined =>
  results.find((r) => r.name === name && r.skipped === undefined && r.levels.length > 0);
const ours = ran('ours');
const c = ran('c');
const withCompare = ran('ours-compare');
const compared = ours !== undefined && c !== undefined ? ratios(ours, c) : undefined;
const compareCost = ours !== undefined && withCompare !== undefined ? ratios(withCompare, ours) : undefined;
const cpus = os.cpus();
const report = {
  date: new Date().toISOString(),
  machine: {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? null,
    node: process.version,
    kernel: os.release(),
    totalMemMiB: Math.round(os.totalmem() / 2 ** 20),
  },
  offloads: results.find((r) => r.offloads !== undefined)?.offloads ?? defaultOffloadProfile(),
  levelSeconds: seconds,
  copiers: Object.fromEntries(results.map((r) => [r.name, r])),
  ...(compared === undefined ? {} : { ratiosOursOverC: compared }),
  ...(compareCost === undefined ? {} : { ratiosCompareOverOurs: compareCost }),
};
mkdirSync(path.dirname(RESULTS_PATH), { recursive: true });
writeFileSync(RESULTS_PATH, `${JSON.stringify(report, null, 2)}\n`);

const out: string[] = [
  `bench:e2e: ${seconds} s per level, short connections, offloads ${report.offloads}, ${cpus.length} cpus, node ${process.version}`,
];
for (const r of results) {
  out.push('', `== ${r.name}${r.skipped === undefined ? '' : ` (skipped: ${r.skipped})`}`);
  if (r.skipped !== undefined) continue;
  if (r.commandLines) out.push(`intercept: ${r.commandLines.intercept}`, `tcpcopy:   ${r.commandLines.tcpcopy}`);
  out.push(idleLine(r));
  if (r.levels.length > 0) out.push(copierTable(r));
  if (r.guards && Object.values(r.guards).some((n) => n !== 0))
    out.push(`LEAK GUARDS NOT ZERO: ${JSON.stringify(r.guards)}`);
  if (r.diffLogLines !== undefined)
    out.push(`diff log: ${r.diffLogLines} differing exchanges (same page on both: 0 expected)`);
  if (r.error !== undefined)
    out.push(`ERROR: ${r.error.split('\n')[0]}${r.logDir === undefined ? '' : ` (logs: ${r.logDir})`}`);
}
if (compared !== undefined) {
  out.push('', '== ours / c', ratioTable(compared));
  if (ours?.idle !== undefined && c?.idle !== undefined) {
    out.push(
      `idle rss ours/c: tcpcopy ${(ours.idle.tcpcopyRssKiB / c.idle.tcpcopyRssKiB).toFixed(2)}, intercept ${(ours.idle.interceptRssKiB / c.idle.interceptRssKiB).toFixed(2)}`,
    );
  }
}
if (compareCost !== undefined)
  out.push('', '== ours with --compare / ours', ratioTable(compareCost, ['ours-compare', 'ours']));
out.push('', `written to ${path.relative(process.cwd(), RESULTS_PATH)}`);
process.stdout.write(`${out.join('\n')}\n`);
if (results.some((r) => r.error !== undefined)) process.exitCode = 1;
