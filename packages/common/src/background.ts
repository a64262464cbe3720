/**
 * -d, as nginx and sshd do it: the parent waits until its daemon is ready or has failed, so a
 * start-up error is seen where the command was typed. Node cannot fork, so the daemon is the same
 * program started again, detached (a session of its own, stdio on /dev/null), with one more
 * descriptor: the write end of a pipe, the readiness pipe. The daemon writes one line on it and
 * closes it: `ready` once it works, or its start-up error line. The parent exits 0 on `ready`,
 * prints the error line and exits 1 otherwise, and reports a daemon that ended without a word
 * with how it ended.
 */
import { spawn } from 'node:child_process';
import { closeSync, writeSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { DAEMON_CHILD_ENV } from './daemon.js';
import { ErrorCode, RuntimeError } from './errors.js';
import { startupErrorLine } from './startup-error.js';

/** Tells the background process which descriptor is its end of the readiness pipe. */
export const READY_FD_ENV = 'TCPCOPY_READY_FD';
/** The pipe's slot in the background process: after stdin, stdout and stderr. */
const READY_FD = 3;
/** The whole line of a daemon that started; any other line is its start-up error. */
export const READY_LINE = 'ready';

/** Where -d's background process logs when no -l is given: it has no terminal to log to. */
export function defaultLogFile(name: string): string {
  return `/var/log/${name}.log`;
}

/** The environment of -d's background process. */
export function backgroundEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { ...env, [DAEMON_CHILD_ENV]: '1', [READY_FD_ENV]: String(READY_FD) };
}

/** The parent's view of its background process (a fake one in tests). */
export interface BackgroundProcess {
  /** The read end of the readiness pipe. */
  readonly report: Readable;
  /** `listener` runs if the process could not be started at all. */
  onSpawnError(listener: (err: Error) => void): void;
  /** `listener` runs once the process has exited and its end of the pipe is closed. */
  onClose(listener: (code: number | null, signal: NodeJS.Signals | null) => void): void;
  kill(signal: NodeJS.Signals): void;
  /** The parent may exit while it runs. */
  release(): void;
}

/** Starts `command args` as -d's background process. */
export function spawnBackground(command: string, args: readonly string[], env: NodeJS.ProcessEnv): BackgroundProcess {
  const child = spawn(command, args, { detached: true, stdio: ['ignore', 'ignore', 'ignore', 'pipe'], env });
  const report = child.stdio[READY_FD] as Readable;
  return {
    report,
    onSpawnError: (listener) => child.once('error', listener),
    onClose: (listener) => child.once('close', listener),
    kill: (signal) => child.kill(signal),
    release: () => {
      report.destroy();
      child.unref();
    },
  };
}

/** How a background process's start-up ended, as its parent saw it. */
export type Readiness =
  | { readonly state: 'ready' }
  | { readonly state: 'failed'; readonly line: string }
  | { readonly state: 'ended'; readonly code: number | null; readonly signal: NodeJS.Signals | null }
  | { readonly state: 'not started'; readonly err: Error };

/** Resolves with the first line on the readiness pipe, or how the process ended without one. */
export function awaitReadiness(proc: BackgroundProcess): Promise<Readiness> {
  return new Promise((resolve) => {
    let text = '';
    proc.report.setEncoding('utf8');
    proc.report.on('data', (chunk: string) => {
      text += chunk;
      const end = text.indexOf('\n');
      if (end < 0) return;
      const line = text.slice(0, end);
      resolve(line === READY_LINE ? { state: 'ready' } : { state: 'failed', line });
    });
    proc.onSpawnError((err) => resolve({ state: 'not started', err }));
    // Everything it wrote before exiting has been read by now: an unfinished line counts too.
    proc.onClose((code, signal) =>
      resolve(text === '' ? { state: 'ended', code, signal } : { state: 'failed', line: text }),
    );
  });
}

/** What -d's parent prints for `readiness`: nothing once the daemon is ready. */
export function readinessProblem(name: string, readiness: Readiness, logFile: string): string | undefined {
  switch (readiness.state) {
    case 'ready':
      return undefined;
    case 'failed':
      return readiness.line;
    case 'not started':
      return startupErrorLine(
        name,
        new RuntimeError(ErrorCode.DAEMONIZE, `cannot start the background process: ${readiness.err.message}`),
      );
    case 'ended': {
      const how =
        readiness.signal === null ? `exited with status ${readiness.code}` : `was killed by ${readiness.signal}`;
      const what = `the background process ${how} before it was ready (its log: ${logFile})`;
      return startupErrorLine(name, new RuntimeError(ErrorCode.DAEMONIZE, what));
    }
  }
}

/**
 * The background process's end of the readiness pipe: it says `ready` or its error line once,
 * then closes the pipe. In any other process (-d not given, or systemd's unit setting
 * DAEMON_CHILD_ENV) there is no pipe and both calls do nothing.
 */
export class ReadinessReport {
  /** This process is -d's background process: it has no terminal to log to. */
  readonly inBackground: boolean;
  private fd: number | undefined;

  constructor(env: NodeJS.ProcessEnv) {
    const fd = Number(env[READY_FD_ENV]);
    this.fd = env[DAEMON_CHILD_ENV] === '1' && Number.isInteger(fd) && fd >= READY_FD ? fd : undefined;
    this.inBackground = this.fd !== undefined;
  }

  ready(): void {
    this.send(READY_LINE);
  }

  failed(line: string): void {
    this.send(line);
  }

  private send(line: string): void {
    const fd = this.fd;
    if (fd === undefined) return;
    this.fd = undefined;
    try {
      // Synchronous: a failing daemon exits right after saying why.
      writeSync(fd, `${line}\n`);
    } catch {
      // The parent is gone (EPIPE): nobody is waiting any more.
    }
    closeSync(fd);
  }
}
