/**
 * Running host commands for the lab: `ip`, `nft`, `ethtool`, and programs inside namespaces.
 * Every command the lab runs is appended to the run's commands.log, so a failed test can show
 * exactly how its network was built.
 */
import { execFile, execFileSync } from 'node:child_process';
import { appendFileSync } from 'node:fs';

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** Exit status; -1 when the program was killed by a signal or could not start. */
  code: number;
}

export interface ExecOptions {
  /** Written to the program's stdin. */
  input?: string;
  /** Killed (SIGKILL) after this many ms; default 30 s. */
  timeoutMs?: number;
  /** Reject when the exit status is not 0 (default true). */
  check?: boolean;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const MAX_OUTPUT_BYTES = 64 * 1024 * 1024;

export class CommandError extends Error {
  readonly code = 'LAB_ERR_COMMAND';
  constructor(
    readonly argv: readonly string[],
    readonly result: ExecResult,
  ) {
    super(`command failed (${result.code}): ${argv.join(' ')}\n${result.stderr.trim()}`);
    this.name = 'CommandError';
  }
}

export class CommandRunner {
  constructor(private readonly logFile?: string) {}

  async run(cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    this.log(cmd, args);
    const result = await new Promise<ExecResult>((resolve) => {
      const child = execFile(
        cmd,
        args,
        { timeout: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: MAX_OUTPUT_BYTES },
        (err, stdout, stderr) => {
          const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
          resolve({ stdout: String(stdout), stderr: String(stderr) || (err && code === -1 ? err.message : ''), code });
        },
      );
      if (opts.input !== undefined) child.stdin?.end(opts.input);
    });
    if (result.code !== 0 && opts.check !== false) throw new CommandError([cmd, ...args], result);
    return result;
  }

  /** Synchronous twin for exit and signal handlers, where nothing asynchronous runs any more. */
  runSync(cmd: string, args: readonly string[]): ExecResult {
    this.log(cmd, args);
    try {
      const stdout = execFileSync(cmd, args, {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: DEFAULT_TIMEOUT_MS,
      });
      return { stdout, stderr: '', code: 0 };
    } catch (err) {
      const e = err as { status?: number | null; stdout?: string; stderr?: string };
      return { stdout: e.stdout ?? '', stderr: e.stderr ?? String(err), code: e.status ?? -1 };
    }
  }

  /** Appends a time-stamped line to the commands log (if this runner has one). */
  note(line: string): void {
    if (this.logFile === undefined) return;
    try {
      appendFileSync(this.logFile, `${new Date().toISOString()} ${line}\n`);
    } catch {
      // The log directory may already be gone during a late teardown; commands still run.
    }
  }

  private log(cmd: string, args: readonly string[]): void {
    this.note([cmd, ...args].join(' '));
  }
}

/** Runs an `ip -batch` script: one process for many link/address/route commands. */
export function ipBatch(runner: CommandRunner, lines: readonly string[]): Promise<ExecResult> {
  return runner.run('ip', ['-batch', '-'], { input: lines.join('\n') + '\n' });
}
