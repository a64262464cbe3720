/**
 * SIGHUP, for both daemons: reopen the log file (logrotate), then re-read the --config file and
 * apply the settings that can change while sessions run. Everything else a new file changes is
 * named in a warning and waits for a restart; a file that no longer validates is logged and the
 * running settings stay as they were.
 */
import { isDeepStrictEqual } from 'node:util';
import type { DaemonConfig } from './cli-daemon.js';
import type { LogLevel, RootLogger } from './log.js';

/** How each run-time setting is put into effect (beyond the log level, which is built in). */
export type ReloadAppliers<C> = { readonly [P in keyof C]?: (value: C[P]) => void };

export type ReloadOutcome =
  | { readonly ok: true; readonly applied: readonly string[]; readonly restartNeeded: readonly string[] }
  | { readonly ok: false; readonly error: unknown };

export interface ConfigReloaderOptions<C extends DaemonConfig> {
  /** The daemon's root logger: its file is reopened and its level follows `logLevel`. */
  readonly log: RootLogger;
  /** Parses the command line again, re-reading the file (runCli's context.reload). */
  readonly load: () => C;
  /** The daemon's other run-time settings. */
  readonly apply?: ReloadAppliers<C>;
}

export class ConfigReloader<C extends DaemonConfig> {
  private current: C;
  private readonly appliers: ReloadAppliers<C>;

  constructor(
    initial: C,
    private readonly options: ConfigReloaderOptions<C>,
  ) {
    this.current = initial;
    const log = options.log;
    this.appliers = {
      ...options.apply,
      logLevel: (level: LogLevel) => {
        log.level = level; // child loggers inherit it (pino children are prototype-linked)
      },
    } as ReloadAppliers<C>;
  }

  /** The settings in effect: the initial ones with every applied reload on top. */
  get settings(): C {
    return this.current;
  }

  /** SIGHUP: reopen the log, then reload the config file when there is one. */
  onSighup(): ReloadOutcome | undefined {
    this.options.log.reopen();
    return this.current.configFile === undefined ? undefined : this.reload();
  }

  reload(): ReloadOutcome {
    const log = this.options.log;
    const file = this.current.configFile;
    let next: C;
    try {
      next = this.options.load();
    } catch (error) {
      log.error({ err: error, file }, 'config reload failed: the current settings stay');
      return { ok: false, error };
    }
    const changed = (Object.keys(next) as (keyof C & string)[]).filter(
      (k) => !isDeepStrictEqual(next[k], this.current[k]),
    );
    const applied = changed.filter((k) => this.appliers[k] !== undefined);
    const restartNeeded = changed.filter((k) => this.appliers[k] === undefined);
    const updated: Partial<C> = {};
    for (const key of applied) updated[key] = next[key];
    // Said at info under the old level or the new one, whichever shows it: an operator turning
    // the level down to warn still sees the reload confirmed.
    const announce = (): void => void log.info({ file, applied: updated }, 'config reloaded');
    const announceFirst = log.isLevelEnabled('info');
    if (announceFirst) announce();
    for (const key of applied) (this.appliers[key] as (value: C[typeof key]) => void)(next[key]);
    if (!announceFirst) announce();
    this.current = Object.freeze({ ...this.current, ...updated });
    if (restartNeeded.length > 0) {
      log.warn({ file, settings: restartNeeded }, 'changed settings take effect on restart only');
    }
    return { ok: true, applied, restartNeeded };
  }
}
