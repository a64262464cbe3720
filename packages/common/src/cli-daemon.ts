/** Flags both daemons share (logging, process management, capture devices) and their config. */
import { str, type FlagSpec, type FlagTable, type HelpSection, type RawArgs } from './cli.js';
import {
  deepFreeze,
  readDevices,
  readListen,
  readLogLevel,
  readText,
  readUser,
  type ListenAddress,
} from './cli-values.js';
import { DEFAULT_LOG_LEVEL, LOG_LEVELS, type LogLevel } from './log.js';

/** Metrics are served on loopback unless an address is given: they are not for the world. */
export const DEFAULT_METRICS_HOST = 0x7f000001; // 127.0.0.1

export const DEVICES_FLAG: FlagSpec = {
  short: '-i',
  long: '--device',
  value: '<list>',
  list: true,
  expected: 'comma-separated interface names, e.g. eth0,eth1',
  help: 'dev[,dev...]: capture on these interfaces',
  defaultText: 'every interface (one capture on "any")',
};

/** -h's headings for the daemon flags both programs take (docs/flags.md's sections). */
export const DAEMON_HELP_SECTIONS = [
  { heading: 'Control channel:', flags: ['authFile'] },
  { heading: 'Daemon:', flags: ['daemonize', 'logFile', 'logLevel', 'pidFile', 'user', 'metrics', 'configFile'] },
  { heading: 'Diagnostics:', flags: ['check'] },
] as const satisfies readonly HelpSection<keyof typeof DAEMON_FLAGS>[];

export const DAEMON_FLAGS = {
  logFile: {
    short: '-l',
    long: '--log-file',
    value: '<file>',
    expected: 'a file path',
    help: 'append JSON log lines to this file',
    defaultText: 'stderr',
  },
  daemonize: { short: '-d', long: '--daemon', help: 'run in the background, detached from the terminal' },
  pidFile: {
    short: '-P',
    long: '--pid-file',
    value: '<file>',
    expected: 'a file path',
    help: 'write the process id to this file',
  },
  user: {
    short: '-u',
    long: '--user',
    value: '<user>',
    expected: 'a user name or a numeric uid',
    help: 'drop root privileges to this user once capture and sockets are open',
  },
  authFile: {
    long: '--auth-file',
    value: '<file>',
    expected: 'a file only its owner may read (chmod 600) holding a secret of at least 16 bytes',
    help: 'prove this shared secret on the control channel (the same file on both hosts; chmod 600)',
    defaultText: 'no authentication',
  },
  logLevel: {
    long: '--log-level',
    value: '<level>',
    expected: `one of ${LOG_LEVELS.join(', ')}`,
    help: `log level: ${LOG_LEVELS.join(', ')}`,
    defaultText: DEFAULT_LOG_LEVEL,
  },
  metrics: {
    long: '--metrics',
    value: '<[addr:]port>',
    expected: '[addr:]port, e.g. 127.0.0.1:9100',
    help: 'serve metrics on this address (address defaults to 127.0.0.1)',
  },
  configFile: {
    long: '--config',
    value: '<file>',
    expected: 'a file path',
    help: 'read settings from this YAML or JSON file (flags override it; SIGHUP re-reads it)',
  },
  check: { long: '--check', help: 'run the preflight checks, print PASS/FAIL per check and exit (0 = all pass)' },
} as const satisfies FlagTable<string>;
export type DaemonFlag = keyof typeof DAEMON_FLAGS;

/** Settings both daemons share. */
export interface DaemonConfig {
  readonly logFile: string | undefined;
  readonly logLevel: LogLevel;
  readonly daemonize: boolean;
  readonly pidFile: string | undefined;
  readonly user: string | undefined;
  readonly metrics: ListenAddress | undefined;
  readonly configFile: string | undefined;
  readonly check: boolean;
  /** --auth-file: its path only, as configs are logged; the key is read once, at start (auth-file.ts). */
  readonly authFile: string | undefined;
}

export function readDaemonConfig(raw: RawArgs<DaemonFlag>): DaemonConfig {
  const f = DAEMON_FLAGS;
  return deepFreeze({
    logFile: readText(f.logFile, str(raw.logFile)),
    logLevel: readLogLevel(f.logLevel, str(raw.logLevel), DEFAULT_LOG_LEVEL),
    daemonize: raw.daemonize === true,
    pidFile: readText(f.pidFile, str(raw.pidFile)),
    user: readUser(f.user, str(raw.user)),
    metrics: readListen(f.metrics, str(raw.metrics), DEFAULT_METRICS_HOST),
    configFile: readText(f.configFile, str(raw.configFile)),
    check: raw.check === true,
    authFile: readText(f.authFile, str(raw.authFile)),
  });
}

/** Capture devices (`-i`): empty means every interface, captured on "any". */
export function readCaptureDevices(raw: string | true | undefined): readonly string[] {
  return readDevices(DEVICES_FLAG, str(raw));
}
