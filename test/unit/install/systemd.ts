/**
 * Test helpers for scripts/install and the systemd units it writes: render its templates through
 * the script's own functions, read unit files, run `systemd-analyze verify`, and turn a unit's
 * privilege settings into a `setpriv` command line that runs a program the way systemd would.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
export const INSTALL_SCRIPT = join(ROOT, 'scripts/install');
export const DAEMONS = ['tcpcopy', 'intercept'] as const;
export type Daemon = (typeof DAEMONS)[number];

/** Calls one of scripts/install's functions (render_unit, render_env, ...) and returns its output. */
export function installFunction(name: string, args: readonly string[]): string {
  // $0 is not the script's path, so it does not run main (the script's own guard).
  return execFileSync('bash', ['-c', 'source "$1" && shift && "$@"', 'install-test', INSTALL_SCRIPT, name, ...args], {
    encoding: 'utf8',
  });
}

/** section -> key -> every value assigned, in order (a unit may repeat a key, e.g. Environment=). */
export type UnitFile = ReadonlyMap<string, ReadonlyMap<string, readonly string[]>>;

/** Reads systemd's INI dialect: [Section], Key=Value, '#' and ';' comments. No continuations. */
export function parseUnit(text: string): UnitFile {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = new Map();
      sections.set(header[1]!, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (current === undefined || eq < 1) throw new Error(`not a unit file line: ${raw}`);
    const key = line.slice(0, eq).trim();
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return sections;
}

/** The effective value of a key (the last assignment), or undefined. */
export function setting(unit: UnitFile, section: string, key: string): string | undefined {
  return unit.get(section)?.get(key)?.at(-1);
}

/** Environment= assignments (`A=1 B=2` forms, several lines), as an object. */
export function unitEnvironment(unit: UnitFile): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of unit.get('Service')?.get('Environment') ?? []) {
    for (const pair of line.split(/\s+/)) {
      const eq = pair.indexOf('=');
      if (eq > 0) env[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
  }
  return env;
}

/** The uid systemd's DynamicUser= stands for in these tests: nobody. */
export const DYNAMIC_USER_ID = 65534;

/**
 * A setpriv(1) prefix that gives a program what the unit gives it: the user (DynamicUser= as
 * nobody), exactly the ambient and bounding capabilities, and no_new_privs. Throws on a unit
 * without DynamicUser=yes: the emulation would then be of something else.
 */
export function setprivArgs(unit: UnitFile): string[] {
  if (setting(unit, 'Service', 'DynamicUser') !== 'yes')
    throw new Error('setprivArgs emulates DynamicUser=yes units only');
  const caps = (key: string): string =>
    [
      '-all',
      ...(setting(unit, 'Service', key) ?? '')
        .split(/\s+/)
        .filter((c) => c !== '')
        .map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`),
    ].join(',');
  return [
    `--reuid=${DYNAMIC_USER_ID}`,
    `--regid=${DYNAMIC_USER_ID}`,
    '--clear-groups',
    `--inh-caps=${caps('AmbientCapabilities')}`,
    `--ambient-caps=${caps('AmbientCapabilities')}`,
    `--bounding-set=${caps('CapabilityBoundingSet')}`,
    ...(setting(unit, 'Service', 'NoNewPrivileges') === 'yes' ? ['--no-new-privs'] : []),
  ];
}

/**
 * `systemd-analyze verify` on unit files. It works without systemd as PID 1; it exits 0 on
 * settings it merely ignores (an unknown key, a bad value) but says so on stderr, so a unit is
 * valid only when the exit status is 0 and nothing was printed.
 */
export function verifyUnits(paths: readonly string[]): { ok: boolean; output: string } {
  const r = spawnSync('systemd-analyze', ['verify', ...paths], { encoding: 'utf8' });
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
  return { ok: r.status === 0 && output === '', output: r.error ? r.error.message : output };
}
