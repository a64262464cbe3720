/**
 * Logging for both daemons: pino JSON lines to the `-l` file, or to stderr (human-readable when
 * stderr is a terminal). Components take child loggers (`componentLogger(log, 'capture')`);
 * nothing is logged per packet above `debug`.
 */
import { closeSync, openSync } from 'node:fs';
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
  /** Writes out everything buffered, synchronously (before process.exit). */
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

function fileLogger(
  file: string,
  options: pino.LoggerOptions,
  stderr: { write(s: string): unknown },
): RootLogger {
  // Fail at start-up, with the path and the OS reason, when the file cannot be opened (as upstream
  // does); pino's asynchronous destination would only report it later, as an 'error' event.
  try {
    closeSync(openSync(file, 'a'));
  } catch (err) {
    throw new RuntimeError(ErrorCode.LOG_FILE, `cannot open log file ${file}: ${(err as Error).message}`, { cause: err });
  }
  // sync: false batches writes off the hot path; pino registers a synchronous flush on exit.
  const dest = pino.destination({ dest: file, sync: false, append: true });
  // A failing log file (disk full, removed directory on reopen) must not kill the daemon.
  dest.on('error', (err: Error) => {
    stderr.write(`log file ${file}: ${err.message}\n`);
  });
  const logger = pino(options, dest);
  return Object.assign(logger, {
    reopen: () => dest.reopen(),
    flush: () => {
      try {
        dest.flushSync();
      } catch {
        // Not open yet (asynchronous open in progress): nothing has been written to lose.
      }
    },
  });
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
