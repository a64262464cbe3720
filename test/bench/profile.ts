/**
 * Where the copier's CPU goes under load: tcpcopy runs under `node --cpu-prof` in a lab while
 * h2load offers short connections at a fixed rate to production nginx; the profile's self time
 * is summed per function and per source file, and the top entries are printed.
 *
 * Run as root: pnpm bench:profile (builds first). Env BENCH_RATE (default 5000 req/s) and
 * BENCH_SECONDS (default 10), BENCH_COMPARE=1 for tcpcopy --compare. Writes
 * test/bench/results/profile.json (profile-compare.json); the .cpuprofile itself is
 * kept under test/bench/results/profiles/ for Chrome DevTools or speedscope.
 */
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLab } from '../lab/index.js';
import { settle, startIntercept, startTcpcopy } from '../e2e/copy-harness.js';
import { ensureLoadTools, runFixedRate, tuneClient } from './e2e/load.js';

const RESULTS_DIR = fileURLToPath(new URL('../../bench/results/', import.meta.url));
const PROFILE_DIR = path.join(RESULTS_DIR, 'profiles');
const RATE = Number(process.env.BENCH_RATE ?? 5000);
/** BENCH_COMPARE=1: tcpcopy runs with --compare (results in profile-compare.json). */
const COMPARE = process.env.BENCH_COMPARE === '1';
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const TOP = 30;

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Self time in ms per key, from a V8 .cpuprofile. */
function selfTimes(profile: CpuProfile, keyOf: (n: ProfileNode) => string): Map<string, number> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const totals = new Map<string, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]!)!;
    const key = keyOf(node);
    totals.set(key, (totals.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  }
  return totals;
}

/** The source file of a profile node, shortened; V8's own nodes ((idle), (garbage collector),
 *  (program)) by their name. */
function sourceOf(n: ProfileNode): string {
  const url = n.callFrame.url;
  if (url === '') return n.callFrame.functionName;
  const at = url.indexOf('/packages/');
  if (at >= 0) return url.slice(at + 1);
  const nm = url.lastIndexOf('node_modules/');
  return nm >= 0 ? url.slice(nm) : url;
}

function top(totals: Map<string, number>, all: number): { what: string; ms: number; percent: number }[] {
  return [...totals]
    .sort((a, b) => b[1] - a[1])
    .slice(0, TOP)
    .map(([what, ms]) => ({ what, ms: Math.round(ms), percent: Math.round((1000 * ms) / all) / 10 }));
}

ensureLoadTools();
rmSync(PROFILE_DIR, { recursive: true, force: true });
mkdirSync(PROFILE_DIR, { recursive: true });
const lab = await createLab();
let served = 0;
let copied = 0;
try {
  await tuneClient(lab);
  const prod = await lab.startNginx('prod');
  const target = await lab.startNginx('target');
  await startIntercept(lab, 80);
  const tcpcopy = await startTcpcopy(lab, {
    port: 80,
    nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`],
    extra: COMPARE ? ['--compare'] : [],
  });
  await runFixedRate(lab, prod.url('/index.html'), RATE, SECONDS);
  served = prod.readAccessLog().length;
  copied = await settle(() => target.readAccessLog().length, served);
  await tcpcopy.stop('SIGTERM', 10_000);
} finally {
  await lab.destroy({ keepLogs: false });
}
const file = readdirSync(PROFILE_DIR).find((f) => f.endsWith('.cpuprofile'));
if (file === undefined) throw new Error(`tcpcopy wrote no profile into ${PROFILE_DIR}`);
const profile = JSON.parse(readFileSync(path.join(PROFILE_DIR, file), 'utf8')) as CpuProfile;
const byFunction = selfTimes(profile, (n) =>
  n.callFrame.url === ''
    ? n.callFrame.functionName
    : `${n.callFrame.functionName || '(anonymous)'} ${sourceOf(n)}:${n.callFrame.lineNumber + 1}`,
);
const byFile = selfTimes(profile, sourceOf);
const IDLE = '(idle)';
const busy = [...byFile].filter(([k]) => k !== IDLE).reduce((a, [, ms]) => a + ms, 0);
const withoutIdle = (m: Map<string, number>): Map<string, number> => new Map([...m].filter(([k]) => k !== IDLE));
const result = {
  date: new Date().toISOString(),
  rate: RATE,
  seconds: SECONDS,
  compare: COMPARE,
  served,
  copied,
  busyMs: Math.round(busy),
  busyMsPer1000Requests: Math.round((1000 * busy) / Math.max(1, served)),
  byFile: top(withoutIdle(byFile), busy),
  byFunction: top(withoutIdle(byFunction), busy),
  profile: path.join('test/bench/results/profiles', file),
};
writeFileSync(
  path.join(RESULTS_DIR, COMPARE ? 'profile-compare.json' : 'profile.json'),
  `${JSON.stringify(result, null, 2)}\n`,
);
process.stdout.write(
  `tcpcopy at ${RATE} req/s for ${SECONDS} s: ${served} served, ${copied} copied; ${result.busyMs} ms busy (${result.busyMsPer1000Requests} ms per 1,000 requests)\n`,
);
process.stdout.write('\nby file (self time, % of busy):\n');
for (const r of result.byFile) process.stdout.write(`${String(r.percent).padStart(6)} %  ${r.what}\n`);
process.stdout.write('\nby function:\n');
for (const r of result.byFunction) process.stdout.write(`${String(r.percent).padStart(6)} %  ${r.what}\n`);
