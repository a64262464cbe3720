/**
 * `--check`, the part both daemons share: what starting as configured needs besides the network,
 * checked before it is needed: the -u user exists, -l and -P can be written (and -P names no
 * running process), --metrics can be bound, the --auth-file key is private and long enough.
 * Verdicts are pure (daemonChecks); gatherDaemonFacts probes.
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { readAuthFile } from './auth-file.js';
import type { DaemonConfig } from './cli-daemon.js';
import { groupsOf, pidFileHolder } from './daemon.js';
import { probeListen } from './io/host-facts.js';
import { ipv4ToString } from './packet/ipv4.js';
import { checkFail, checkPass, type CheckResult } from './preflight.js';

/** Why each configured item would fail at start; undefined when it would not (or is not set). */
export interface DaemonFacts {
  readonly user: string | undefined;
  readonly logFile: string | undefined;
  readonly pidFile: string | undefined;
  readonly metrics: string | undefined;
  readonly authFile: string | undefined;
}

/** One line per item the configuration sets. */
export function daemonChecks(config: DaemonConfig, facts: DaemonFacts): CheckResult[] {
  const results: CheckResult[] = [];
  /** `failed` prefixes the problem; without it, the problem names the flag itself. */
  const verdict = (set: unknown, problem: string | undefined, ok: string, failed?: string): void => {
    if (set === undefined) return;
    if (problem === undefined) results.push(checkPass(ok));
    else results.push(checkFail(failed === undefined ? problem : `${failed}: ${problem}`));
  };
  verdict(config.user, facts.user, `user ${config.user} exists (-u)`);
  verdict(config.logFile, facts.logFile, `log file ${config.logFile} can be written (-l)`, `-l ${config.logFile}`);
  verdict(config.pidFile, facts.pidFile, `pid file ${config.pidFile} can be written (-P)`, `-P ${config.pidFile}`);
  const metrics =
    config.metrics === undefined ? undefined : `${ipv4ToString(config.metrics.host)}:${config.metrics.port}`;
  verdict(metrics, facts.metrics, `metrics address ${metrics} can be bound`, `--metrics ${metrics}`);
  verdict(config.authFile, facts.authFile, `auth key ${config.authFile} is private and long enough`);
  return results;
}

/** Why `path` cannot be created or appended to by this process, or undefined. */
export function writableProblem(path: string): string | undefined {
  const target = existsSync(path) ? path : dirname(path);
  try {
    accessSync(target, constants.W_OK);
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? `directory ${target} does not exist` : `${target} is not writable (${code})`;
  }
}

function problemOf(run: () => unknown): string | undefined {
  try {
    run();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

export async function gatherDaemonFacts(config: DaemonConfig): Promise<DaemonFacts> {
  const user = config.user;
  const pidFile = config.pidFile;
  const holder = pidFile === undefined ? undefined : pidFileHolder(pidFile, process.pid);
  return {
    user: user === undefined ? undefined : problemOf(() => groupsOf(user)),
    logFile: config.logFile === undefined ? undefined : writableProblem(config.logFile),
    pidFile:
      pidFile === undefined
        ? undefined
        : holder !== undefined
          ? `it belongs to running process ${holder}`
          : writableProblem(pidFile),
    metrics:
      config.metrics === undefined
        ? undefined
        : await probeListen(ipv4ToString(config.metrics.host), config.metrics.port),
    authFile: problemOf(() => readAuthFile(config.authFile)),
  };
}
