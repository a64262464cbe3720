/**
 * Teardown that always happens: every live lab is registered here, and the process's exit,
 * uncaught exceptions and termination signals destroy them synchronously. Namespaces left by a
 * run that could not clean up (SIGKILL, power loss) are removed by sweepStaleLabs, which only
 * ever touches names matching the lab pattern whose owning process is gone.
 */
import { readFileSync, readdirSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { parseNamespaceName, prefixOwner, processStartTime } from './names.js';
import type { CommandRunner } from './shell.js';

export interface Destroyable {
  destroySync(): void;
}

const live = new Set<Destroyable>();
const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
let installed = false;

export function registerLab(lab: Destroyable): void {
  installHandlers();
  live.add(lab);
}

export function unregisterLab(lab: Destroyable): void {
  live.delete(lab);
}

function destroyAllSync(): void {
  for (const lab of [...live]) {
    try {
      lab.destroySync();
    } catch (err) {
      process.stderr.write(`lab teardown failed: ${String(err)}\n`);
    }
  }
}

function installHandlers(): void {
  if (installed) return;
  installed = true;
  process.on('exit', destroyAllSync);
  // The monitor observes an uncaught exception without changing how the process dies.
  process.on('uncaughtExceptionMonitor', destroyAllSync);
  for (const sig of SIGNALS) {
    const onSignal = (): void => {
      destroyAllSync();
      process.off(sig, onSignal);
      // Die of the same signal, as the process would have without us, unless someone else
      // listens and has their own plan.
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

/** Written into each run's log directory before any namespace exists. */
export interface LabRecord {
  prefix: string;
  pid: number;
  /** processStartTime(pid) when the lab was created: tells a live owner from a reused pid. */
  startTime: string;
  slot: number;
}

export const RECORD_FILE = 'lab.json';
export const CLAIMS_DIR = '.claims';

function readRecord(path: string): LabRecord | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as LabRecord;
  } catch {
    return undefined;
  }
}

/** True while the process that created the lab `prefix` is still running. */
export function ownerAlive(logRoot: string, prefix: string, pid: number): boolean {
  const start = processStartTime(pid);
  if (start === undefined) return false;
  const record = readRecord(join(logRoot, prefix, RECORD_FILE));
  // Without a record (log directory removed by hand) a living pid gets the benefit of the doubt.
  return record === undefined || record.startTime === start;
}

export function listNamespaces(run: CommandRunner): string[] {
  const { stdout } = run.runSync('ip', ['netns', 'list']);
  return stdout
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name !== '');
}

/** Kills whatever still runs inside `ns` and deletes it (deleting a netns removes its veths). */
export function deleteNamespaceSync(run: CommandRunner, ns: string): void {
  const { stdout } = run.runSync('ip', ['netns', 'pids', ns]);
  for (const pid of stdout.split('\n').filter((s) => /^\d+$/.test(s))) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  run.runSync('ip', ['netns', 'del', ns]);
}

/** Removes namespaces and subnet claims of labs whose creating process has died. */
export function sweepStaleLabs(run: CommandRunner, logRoot: string): string[] {
  const removed: string[] = [];
  const verdict = new Map<string, boolean>();
  for (const ns of listNamespaces(run)) {
    const parsed = parseNamespaceName(ns);
    if (!parsed) continue;
    let alive = verdict.get(parsed.prefix);
    if (alive === undefined) {
      alive = ownerAlive(logRoot, parsed.prefix, parsed.pid);
      verdict.set(parsed.prefix, alive);
    }
    if (alive) continue;
    deleteNamespaceSync(run, ns);
    removed.push(ns);
  }
  sweepClaims(logRoot);
  pruneOldLogs(logRoot);
  return removed;
}

/** Log directories of finished runs are kept for post-mortems, but not forever. */
const LOG_RETENTION_MS = 24 * 60 * 60 * 1000;

function pruneOldLogs(logRoot: string): void {
  const cutoff = Date.now() - LOG_RETENTION_MS;
  for (const name of readdirSync(logRoot)) {
    const pid = prefixOwner(name);
    if (pid === undefined) continue;
    const path = join(logRoot, name);
    try {
      if (statSync(path).mtimeMs > cutoff || ownerAlive(logRoot, name, pid)) continue;
      rmSync(path, { recursive: true, force: true });
    } catch {
      // Removed by a parallel sweep.
    }
  }
}

function sweepClaims(logRoot: string): void {
  const dir = join(logRoot, CLAIMS_DIR);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const record = readRecord(join(dir, name));
    if (record && processStartTime(record.pid) === record.startTime) continue;
    try {
      unlinkSync(join(dir, name));
    } catch {
      // Another sweeper got there first.
    }
  }
}
