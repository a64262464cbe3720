/**
 * Shared set-up of the end-to-end copy tests: the real `intercept` on aux and the real `tcpcopy`
 * on prod, as a user would start them, inside a lab; plus polling helpers for the test server's
 * view of what arrived.
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Lab, LabProcess } from '../lab/index.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const TCPCOPY_BIN = join(ROOT, 'packages/copier/bin/tcpcopy');
export const INTERCEPT_BIN = join(ROOT, 'packages/intercept/bin/intercept');
export const CONTROL_PORT = 36524;
const CAPTURE_SETTLE_MS = 500;

/** `a.b.c.x`: the lab's whole fake-client /24, in tcpcopy's -c notation. */
export function fakeRange(lab: Lab): string {
  return lab.fakeIp(1).replace(/\.1$/, '.x');
}

export async function startIntercept(lab: Lab, serverPort: number, extra: readonly string[] = []): Promise<LabProcess> {
  const aux = lab.host('aux');
  const proc = lab.spawn('aux', INTERCEPT_BIN, ['-i', aux.iface, '-F', `tcp and src port ${serverPort}`, ...extra], { name: 'intercept' });
  await lab.waitForPort('aux', CONTROL_PORT, 10_000, proc);
  return proc;
}

export interface CopierOptions {
  /** `-x` value; default `<port>-<target>:<port>`. */
  transfer?: string;
  port?: number;
  copies?: number;
  extra?: readonly string[];
}

/** Starts tcpcopy on prod the way the README says, and waits until it captures. */
export async function startTcpcopy(lab: Lab, opts: CopierOptions = {}): Promise<LabProcess> {
  const port = opts.port ?? 80;
  const transfer = opts.transfer ?? `${port}-${lab.host('target').ip}:${port}`;
  const args = ['-x', transfer, '-s', lab.host('aux').ip, '-c', fakeRange(lab), '-n', String(opts.copies ?? 1), ...(opts.extra ?? [])];
  const proc = lab.spawn('prod', TCPCOPY_BIN, args, { name: 'tcpcopy' });
  await proc.waitFor(/"msg":"capturing"/, { stream: 'stderr', timeoutMs: 15_000 });
  // libpcap needs a moment after activation before the first frames are delivered.
  await sleep(CAPTURE_SETTLE_MS);
  return proc;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Polls `count` until it reaches `expected` or stops changing for `quietMs`; returns the last
 * value. Copies trail production by the test server's round trips, so tests wait, then compare.
 */
export async function settle(count: () => number | Promise<number>, expected: number, opts: { quietMs?: number; timeoutMs?: number } = {}): Promise<number> {
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
