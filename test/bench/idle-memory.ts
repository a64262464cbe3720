/**
 * Idle footprint of both daemons as an operator starts them (no -i: one capture on every
 * interface), in a lab: resident memory once they capture and have been idle a few seconds,
 * then after 2,000 short HTTP requests have been copied.
 *
 * Run as root: pnpm bench:memory (builds first). Writes test/bench/results/idle-memory.json.
 */
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLab, type LabProcess } from '../lab/index.js';
import { runAb, settle, sleep, startIntercept, startTcpcopy } from '../e2e/copy-harness.js';

const RESULTS_PATH = fileURLToPath(new URL('../../bench/results/idle-memory.json', import.meta.url));
const IDLE_MS = 3000;
const REQUESTS = 2000;

/** VmRSS of the daemon (the lab spawns it through `ip netns exec`, which execs it in place). */
function residentMiB(proc: LabProcess): number {
  const kib = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${proc.pid}/status`, 'utf8'))?.[1];
  if (kib === undefined) throw new Error(`no VmRSS for ${proc.name}`);
  return Math.round(Number(kib) / 1024);
}

const lab = await createLab();
try {
  const prod = await lab.startNginx('prod');
  const target = await lab.startNginx('target');
  const intercept = await startIntercept(lab, 80);
  const tcpcopy = await startTcpcopy(lab, { port: 80 });
  await sleep(IDLE_MS);
  const idle = { tcpcopy: residentMiB(tcpcopy), intercept: residentMiB(intercept) };
  await runAb(lab, prod.url('/index.html'), { requests: REQUESTS, concurrency: 8 });
  const copied = await settle(() => target.readAccessLog().length, REQUESTS);
  const afterLoad = { tcpcopy: residentMiB(tcpcopy), intercept: residentMiB(intercept) };
  const result = {
    date: new Date().toISOString(),
    offloads: lab.offloads,
    idleMiB: idle,
    afterRequestsMiB: afterLoad,
    requests: REQUESTS,
    copied,
  };
  mkdirSync(path.dirname(RESULTS_PATH), { recursive: true });
  writeFileSync(RESULTS_PATH, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(
    `idle: tcpcopy ${idle.tcpcopy} MiB, intercept ${idle.intercept} MiB; after ${REQUESTS} requests (${copied} copied): ` +
      `tcpcopy ${afterLoad.tcpcopy} MiB, intercept ${afterLoad.intercept} MiB (offloads ${lab.offloads})\n`,
  );
} finally {
  await lab.destroy({ keepLogs: false });
}
