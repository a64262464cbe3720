/**
 * Logging for both daemons: pino JSON lines to the `-l` file, or to stderr (human-readable when
 * stderr is a terminal). Components take child loggers (`componentLogger(log, 'capture')`);
 * nothing is logged per packet above `debug`.
 */
import { openSync } from 'node:fs';
import { pino, type DestinationStream, type Logger } from 'pino';
import { ErrorCode, RuntimeError } from './errors.js';

export type { Logger } from 'pino';

/** The levels `--log-level` accepts, most verbose first (pino's numeric levels 10..60). */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const DEFAULT_LOG_LEVEL: LogLevel = 'info';

export function isLogLevel(s: string): s is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(s);
}

export interface LoggerOptions {
  /** Append JSON lines to this file (`-l`); stderr when absent. */
  readonly file?: string | undefined;
  readonly level: LogLevel;
  /** Program name, written as `name` on every line. */
  readonly name: string;
  /** Where stderr output goes (tests); defaults to process.stderr. */
  readonly stderr?: { write(s: string): unknown; readonly isTTY?: boolean };
}

/** The root logger of a process: a pino Logger plus control of its destination. */
export type RootLogger = Logger & {
  /** Reopens the log file at the same path (after logrotate moved it; SIGHUP). No-op without -l. */
  reopen(): void;
  /** Makes sure every line logged so far is in the file (fsync); call before process.exit. */
  flush(): void;
};

/** Child logger for one component; the `component` key is how log lines are filtered. */
export function componentLogger(parent: Logger, component: string, bindings?: Record<string, unknown>): Logger {
  return parent.child({ component, ...bindings });
}

export function createLogger(opts: LoggerOptions): RootLogger {
  const stderr = opts.stderr ?? process.stderr;
  const options = { name: opts.name, level: opts.level, timestamp: pino.stdTimeFunctions.isoTime };
  if (opts.file !== undefined) return fileLogger(opts.file, options, stderr);
  const dest: DestinationStream =
    stderr.isTTY === true
      ? { write: (line: string) => stderr.write(formatLogLine(line)) }
      : { write: (line: string) => stderr.write(line) };
  return Object.assign(pino(options, dest), { reopen: () => {}, flush: () => {} });
}

function fileLogger(file: string, options: pino.LoggerOptions, stderr: { write(s: string): unknown }): RootLogger {
  const dest = new ReopenableFile(file, (err) => stderr.write(`log file ${file}: ${err.message}\n`));
  return Object.assign(pino(options, dest), { reopen: () => dest.reopen(), flush: () => dest.flushSync() });
}

type SonicBoom = ReturnType<typeof pino.destination>;

/**
 * An append-only log file that can be reopened in place: each generation is a pino.destination
 * over a descriptor we open synchronously, so a missing directory or a permission problem fails
 * start-up with the path and the reason (as upstream does) instead of surfacing later as an
 * 'error' event.
 *
 * Writes are synchronous (one write(2) per line). We measured the asynchronous mode (sync: false)
 * and it cannot promise what a daemon's last words need: flushSync() skips the chunk an
 * asynchronous write already has in flight (a flushed file read back right away missed lines in
 * about 1 run in 10), process.exit() can lose or reorder that chunk, and pino's own path-based
 * destination throws "sonic boom is not ready yet" from its exit hook when the process exits
 * before the asynchronous open completes. Log volume is low by design (nothing per packet above
 * debug), so a few microseconds per line buys lines that are on disk when the call returns.
 */
class ReopenableFile implements DestinationStream {
  private current: SonicBoom;

  constructor(
    private readonly path: string,
    private readonly onError: (err: Error) => void,
  ) {
    try {
      this.current = this.open();
    } catch (err) {
      const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new RuntimeError(ErrorCode.LOG_FILE, `cannot open log file ${path}: ${why}`, { cause: err });
    }
  }

  write(line: string): void {
    this.current.write(line);
  }

  /** New lines go to a freshly opened `path`; the old descriptor is closed. */
  reopen(): void {
    let next: SonicBoom;
    try {
      next = this.open();
    } catch (err) {
      this.onError(err as Error); // keep logging to the old file rather than nowhere
      return;
    }
    const old = this.current;
    this.current = next;
    old.end();
  }

  flushSync(): void {
    this.current.flushSync();
  }

  private open(): SonicBoom {
    const dest = pino.destination({ fd: openSync(this.path, 'a'), sync: true });
    // A failing log file (disk full) must not kill the daemon.
    dest.on('error', this.onError);
    return dest;
  }
}

const LEVEL_LABELS: Readonly<Record<number, string>> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};
/** Keys shown in the line's prefix rather than among the trailing fields. */
const PREFIX_KEYS = new Set(['level', 'time', 'pid', 'hostname', 'name', 'component', 'msg']);

/**
 * One pino JSON line as `12:00:00.000 INFO  tcpcopy/capture: message key=value ...`, for a
 * terminal. An error's stack follows on indented lines. Lines that are not JSON pass unchanged.
 */
export function formatLogLine(line: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  const time = typeof rec['time'] === 'string' ? rec['time'].slice(11, 23) : '';
  const level = (LEVEL_LABELS[rec['level'] as number] ?? String(rec['level'])).padEnd(5);
  const who = [rec['name'], rec['component']].filter((s) => s !== undefined).join('/');
  let out = `${time} ${level} ${who}: ${typeof rec['msg'] === 'string' ? rec['msg'] : ''}`;
  let stack = '';
  for (const [key, value] of Object.entries(rec)) {
    if (PREFIX_KEYS.has(key)) continue;
    if (key === 'err' && typeof value === 'object' && value !== null) {
      const err = value as { message?: unknown; code?: unknown; stack?: unknown };
      out += ` err=${JSON.stringify(err.code ?? err.message)}`;
      if (typeof err.stack === 'string') stack = `\n    ${err.stack.split('\n').join('\n    ')}`;
      continue;
    }
    out += ` ${key}=${JSON.stringify(value)}`;
  }
  return `${out}${stack}\n`;
}
