/**
 * A program running inside a lab namespace. Each one leads its own process group (so nginx's
 * workers or a shell's children die with it), its stdout/stderr are teed to files in the run's
 * log directory and kept (bounded) in memory, and the lab kills it at teardown.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Output kept in memory per stream; the log files keep everything. */
const MAX_KEPT_CHARS = 1024 * 1024;
const DEFAULT_STOP_GRACE_MS = 2000;

export class LabProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<ExitInfo>;
  private exitInfo: ExitInfo | undefined;
  private out = '';
  private err = '';
  private readonly files: WriteStream[] = [];

  constructor(
    readonly name: string,
    argv: readonly string[],
    readonly stdoutPath: string,
    readonly stderrPath: string,
    opts: Pick<SpawnOptions, 'env' | 'cwd'> = {},
  ) {
    this.child = spawn(argv[0]!, argv.slice(1), { ...opts, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    const outFile = createWriteStream(stdoutPath);
    const errFile = createWriteStream(stderrPath);
    this.files.push(outFile, errFile);
    this.child.stdout!.setEncoding('utf8');
    this.child.stderr!.setEncoding('utf8');
    this.child.stdout!.on('data', (s: string) => {
      outFile.write(s);
      this.out = keepTail(this.out + s);
    });
    this.child.stderr!.on('data', (s: string) => {
      errFile.write(s);
      this.err = keepTail(this.err + s);
    });
    // A spawn failure (ENOENT) surfaces as 'error' and then 'close'; record it like an exit.
    this.child.on('error', (e) => errFile.write(`spawn error: ${e.message}\n`));
    this.exited = new Promise((resolve) => {
      this.child.on('close', (code, signal) => {
        this.exitInfo = { code, signal };
        for (const f of this.files) f.end();
        resolve(this.exitInfo);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exitInfo === undefined && this.child.pid !== undefined;
  }

  get stdout(): string {
    return this.out;
  }

  get stderr(): string {
    return this.err;
  }

  /** stdout as JSON lines (the agents' output protocol). */
  jsonLines<T = Record<string, unknown>>(): T[] {
    return parseJsonLines<T>(this.out);
  }

  /** Resolves with the first match of `pattern` in the program's stdout (or stderr with
   *  `stream: 'stderr'`); rejects on timeout or when the program exits first. */
  async waitFor(
    pattern: RegExp,
    opts: { stream?: 'stdout' | 'stderr'; timeoutMs?: number } = {},
  ): Promise<RegExpExecArray> {
    const stream = opts.stream ?? 'stdout';
    const source = stream === 'stdout' ? this.child.stdout! : this.child.stderr!;
    const text = (): string => (stream === 'stdout' ? this.out : this.err);
    const timeoutMs = opts.timeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const m = pattern.exec(text());
        if (m) {
          cleanup();
          resolve(m);
        }
        return m !== null;
      };
      const onExit = (): void => {
        if (check()) return;
        cleanup();
        reject(
          new Error(`${this.name} exited before printing ${pattern} on ${stream}; stderr:\n${this.err.slice(-2000)}`),
        );
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new Error(
            `${this.name} did not print ${pattern} on ${stream} within ${timeoutMs} ms; stderr:\n${this.err.slice(-2000)}`,
          ),
        );
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        source.off('data', check);
        this.child.off('close', onExit);
      };
      // Our own 'data' listener ran first (registered in the constructor), so text() is current.
      source.on('data', check);
      this.child.on('close', onExit);
      if (!check() && this.exitInfo !== undefined) onExit();
    });
  }

  /** Signals the whole process group. Harmless when it has already exited. */
  signal(sig: NodeJS.Signals): void {
    if (!this.running) return;
    try {
      process.kill(-this.child.pid!, sig);
    } catch {
      // ESRCH: the group is already gone.
    }
  }

  /** `sig` (default SIGTERM) to the group, SIGKILL after `graceMs`; resolves when it has exited. */
  async stop(sig: NodeJS.Signals = 'SIGTERM', graceMs = DEFAULT_STOP_GRACE_MS): Promise<ExitInfo> {
    if (this.exitInfo !== undefined || this.child.pid === undefined) return this.exited;
    this.signal(sig);
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** For exit handlers: no waiting possible, so straight to SIGKILL. */
  killNow(): void {
    this.signal('SIGKILL');
  }

  /** Waits for exit and fails unless the status was 0. */
  async succeeded(): Promise<void> {
    const info = await this.exited;
    if (info.code !== 0) {
      throw new Error(
        `${this.name} failed (code ${info.code}, signal ${info.signal}); stderr:\n${this.err.slice(-2000)}`,
      );
    }
  }
}

/** One JSON value per non-blank line; anything else is an error. */
export function parseJsonLines<T>(text: string): T[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as T);
}

function keepTail(s: string): string {
  return s.length > MAX_KEPT_CHARS ? s.slice(s.length - MAX_KEPT_CHARS) : s;
}
