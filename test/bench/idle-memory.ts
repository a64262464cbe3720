/**
 * Idle footprint of both daemons as an operator starts them (no -i: one capture on every
 * interface), in a lab: resident memory once they capture and have been idle a few seconds, the
 * CPU they use idle (timers, polls, the capture's block timeout), then resident memory after
 * 2,000 short HTTP requests have been copied.
 *
 * Run as root: pnpm bench:memory (builds first). Writes test/bench/results/idle-memory.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLab, type LabProcess } from '../lab/index.js';
import { residentMiB as residentOf, runAb, settle, sleep, startIntercept, startTcpcopy } from '../e2e/copy-harness.js';
import { cpuSeconds } from './e2e/proc.js';

const RESULTS_PATH = fileURLToPath(new URL('../../bench/results/idle-memory.json', import.meta.url));
const IDLE_MS = 3000;
const REQUESTS = 2000;

const IDLE_CPU_MS = 10_000;

function residentMiB(proc: LabProcess): number {
  return Math.round(residentOf(proc, 'VmRSS'));
}

/** CPU milliseconds per second each daemon uses over IDLE_CPU_MS with no traffic. */
async function idleCpu(procs: Record<string, LabProcess>): Promise<Record<string, number>> {
  const before = Object.fromEntries(Object.entries(procs).map(([name, p]) => [name, cpuSeconds(p.pid!)]));
  await sleep(IDLE_CPU_MS);
  return Object.fromEntries(
    Object.entries(procs).map(([name, p]) => [
      name,
      Math.round(((cpuSeconds(p.pid!) - before[name]!) * 1e7) / IDLE_CPU_MS) / 10,
    ]),
  );
}

const lab = await createLab();
try {
  const prod = await lab.startNginx('prod');
  const target = await lab.startNginx('target');
  const intercept = await startIntercept(lab, 80);
  const tcpcopy = await startTcpcopy(lab, { port: 80 });
  await sleep(IDLE_MS);
  const idle = { tcpcopy: residentMiB(tcpcopy), intercept: residentMiB(intercept) };
  const idleCpuMsPerSecond = await idleCpu({ tcpcopy, intercept });
  await runAb(lab, prod.url('/index.html'), { requests: REQUESTS, concurrency: 8 });
  const copied = await settle(() => target.readAccessLog().length, REQUESTS);
  const afterLoad = { tcpcopy: residentMiB(tcpcopy), intercept: residentMiB(intercept) };
  const result = {
    date: new Date().toISOString(),
    offloads: lab.offloads,
    idleMiB: idle,
    idleCpuMsPerSecond,
    afterRequestsMiB: afterLoad,
    requests: REQUESTS,
    copied,
  };
  mkdirSync(path.dirname(RESULTS_PATH), { recursive: true });
  writeFileSync(RESULTS_PATH, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(
    `idle: tcpcopy ${idle.tcpcopy} MiB and ${idleCpuMsPerSecond['tcpcopy']} ms CPU/s, intercept ${idle.intercept} MiB ` +
      `and ${idleCpuMsPerSecond['intercept']} ms CPU/s; after ${REQUESTS} requests (${copied} copied): ` +
      `tcpcopy ${afterLoad.tcpcopy} MiB, intercept ${afterLoad.intercept} MiB (offloads ${lab.offloads})\n`,
  );
} finally {
  await lab.destroy({ keepLogs: false });
}
