/**
 * Runs a daemon's bin: argv -> config -> main, and what belongs to the process around main: -d
 * (background.ts), the pid file, the stop signals, and how a failure reads: a bad flag is one
 * line and exit 2, any other failure one line (startup-error.ts) and exit 1.
 */
import {
  awaitReadiness,
  backgroundEnv,
  defaultLogFile,
  readinessProblem,
  ReadinessReport,
  spawnBackground,
  type BackgroundProcess,
} from './background.js';
import { CliExit, ExitCode } from './cli.js';
import { DAEMON_CHILD_ENV, writePidFile } from './daemon.js';
import { ConfigError } from './errors.js';
import { createLogger, LOG_LEVELS, type LogLevel } from './log.js';
import { startupErrorLine } from './startup-error.js';
import { catchStopSignals, type StopRequests } from './stop-signals.js';

/** What runCli needs from the process; tests pass their own. */
export interface CliIo {
  readonly argv: readonly string[];
  readonly stdout: { write(s: string): unknown };
  readonly stderr: { write(s: string): unknown; readonly isTTY?: boolean };
  exit(code: ExitCode): void;
  /** Tells -d's background process (and a run under systemd's units) from a plain start. */
  readonly env: NodeJS.ProcessEnv;
  readonly pid: number;
  readonly stops: StopRequests;
  /** -d: starts this program again as the background process, with `env`. */
  startBackground(env: NodeJS.ProcessEnv): BackgroundProcess;
  /** Runs `fn` when the process exits, however it exits. */
  atExit(fn: () => void): void;
}

/** This process's CliIo; the bin hands over the stop signals it caught before loading us. */
export function processIo(stops: StopRequests = catchStopSignals(process)): CliIo {
  return {
    argv: process.argv.slice(2),
    stdout: process.stdout,
    stderr: process.stderr,
    // stdout and stderr are synchronous for files, pipes and terminals on Linux: nothing is lost.
    exit: (code) => process.exit(code),
    env: process.env,
    pid: process.pid,
    stops,
    startBackground: (env) => spawnBackground(process.execPath, [...process.execArgv, ...process.argv.slice(1)], env),
    atExit: (fn) => process.once('exit', fn),
  };
}

/** The part of a daemon Config runCli uses. */
export interface CliConfig {
  readonly logFile: string | undefined;
  readonly logLevel: LogLevel;
  /** Upstream flag values taken otherwise than typed (clamped, or accepted and ignored). */
  readonly notices?: readonly string[];
  /** -d: run in the background; the parent waits until the daemon is ready. */
  readonly daemonize?: boolean;
  /** -P: written before main runs, removed however the process ends. */
  readonly pidFile?: string | undefined;
  /** --check: main only probes the host, in the foreground and without a pid file. */
  readonly check?: boolean;
}

/** What runCli hands main besides the config. */
export interface CliContext<C> {
  /**
   * Parses the same command line again, re-reading the --config file: the reload on SIGHUP.
   * Throws ConfigError when the file no longer validates.
   */
  reload(): C;
  /** Where to log: -l's file, else defaultLogFile in -d's background process; stderr when undefined. */
  readonly logFile: string | undefined;
  /** SIGTERM and SIGINT, caught since the bin's first line: a stop during start-up is seen too. */
  readonly stops: StopRequests;
  /** The daemon works (it captures): -d's parent exits 0. */
  ready(): void;
}

/** A daemon's main: resolves when it stops, with the exit status when it has one to give. */
export type CliMain<C> = (config: C, context: CliContext<C>) => Promise<ExitCode | void> | ExitCode | void;

/**
 * Runs a daemon: parse argv, then main. -h/-v print and exit 0; each notice of the config is a
 * `name: warning: ...` line on stderr (the journal, under systemd); a ConfigError prints
 * `name: message` as one line on stderr and exits 2; any other failure (of parse or main) prints
 * `name: CODE: message (advice)`, is logged with its stack when there is a log file, and exits 1.
 * -d's background process also sends that line, or `ready`, to its waiting parent. When main
 * resolves with an exit status (--check), runCli exits with it; when it resolves without one,
 * runCli returns and the process lives on as long as main left work scheduled.
 */
export async function runCli<C extends CliConfig>(
  name: string,
  parse: (argv: string[]) => C,
  main: CliMain<C>,
  io: CliIo = processIo(),
): Promise<void> {
  const report = new ReadinessReport(io.env);
  let config: C | undefined;
  let logFile: string | undefined;
  let removePidFile: (() => void) | undefined;
  try {
    config = parse([...io.argv]);
    for (const notice of config.notices ?? []) io.stderr.write(`${name}: warning: ${notice}\n`);
    logFile = config.logFile ?? (report.inBackground ? defaultLogFile(name) : undefined);
    if (config.check !== true) {
      if (config.daemonize === true && io.env[DAEMON_CHILD_ENV] !== '1') {
        io.exit(await startInBackground(name, config, io));
        return;
      }
      if (config.pidFile !== undefined) {
        removePidFile = writePidFile(config.pidFile, io.pid);
        io.atExit(removePidFile);
      }
    }
    const status = await main(config, {
      reload: () => parse([...io.argv]),
      logFile,
      stops: io.stops,
      ready: () => report.ready(),
    });
    removePidFile?.();
    if (status !== undefined) io.exit(status);
  } catch (err) {
    removePidFile?.();
    if (err instanceof CliExit) {
      io.stdout.write(err.output);
      io.exit(ExitCode.Ok);
      return;
    }
    const line = err instanceof ConfigError ? `${name}: ${oneLine(err.message)}` : startupErrorLine(name, err);
    io.stderr.write(`${line}\n`);
    report.failed(line);
    if (err instanceof ConfigError) {
      io.exit(ExitCode.Usage);
      return;
    }
    if (config !== undefined && isVerbose(config.logLevel)) io.stderr.write(stackOf(err));
    logFailure(name, logFile, line, err, io);
    io.exit(ExitCode.Failure);
  }
}

/** -d's parent: starts the background process and waits for its word. */
async function startInBackground(name: string, config: CliConfig, io: CliIo): Promise<ExitCode> {
  const proc = io.startBackground(backgroundEnv(io.env));
  let waiting = true;
  // Ctrl-C or SIGTERM while it starts stops the daemon as well; how it ended is then reported.
  void io.stops.requested.then((signal) => {
    if (waiting) proc.kill(signal);
  });
  const readiness = await awaitReadiness(proc);
  waiting = false;
  proc.release();
  const problem = readinessProblem(name, readiness, config.logFile ?? defaultLogFile(name));
  if (problem === undefined) return ExitCode.Ok;
  io.stderr.write(`${problem}\n`);
  return ExitCode.Failure;
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ');
}

function isVerbose(level: LogLevel): boolean {
  return LOG_LEVELS.indexOf(level) <= LOG_LEVELS.indexOf('debug');
}

/** The stack of `err` and of each cause under it, indented under the error line. */
function stackOf(err: unknown): string {
  let out = '';
  for (let e = err; e instanceof Error; e = e.cause)
    out += `    ${(e.stack ?? String(e)).split('\n').join('\n    ')}\n`;
  return out;
}

/** The failure in the log file too, with its stack, where an operator looks later. */
function logFailure(name: string, file: string | undefined, line: string, err: unknown, io: CliIo): void {
  if (file === undefined) return;
  try {
    const log = createLogger({ name, level: 'error', file, stderr: io.stderr });
    log.fatal({ err }, line.slice(name.length + 2));
    log.flush();
  } catch {
    // The log file itself is the problem: the line on stderr is all there is.
  }
}
