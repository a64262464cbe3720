/**
 * The systemd units and env files scripts/install writes, rendered by the script's own functions:
 * `systemd-analyze verify` accepts them (and rejects broken ones), they hold the settings
 * docs/deploy.md promises, and their privileges can be reproduced with setpriv for the lab test.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DAEMON_CHILD_ENV } from '@tcpcopy/common';
import {
  DAEMONS,
  INSTALL_SCRIPT,
  installFunction,
  parseUnit,
  setprivArgs,
  setting,
  unitEnvironment,
  verifyUnits,
  type Daemon,
} from './systemd.js';

const dir = mkdtempSync(join(tmpdir(), 'units-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const PREFIX = join(dir, 'prefix');
const ENV_DIR = join(dir, 'default');
const UNIT_DIR = join(dir, 'units');
mkdirSync(join(PREFIX, 'sbin'), { recursive: true });
mkdirSync(UNIT_DIR);
for (const d of DAEMONS) {
  // verify checks that ExecStart names an executable.
  writeFileSync(join(PREFIX, 'sbin', d), '#!/bin/sh\n');
  chmodSync(join(PREFIX, 'sbin', d), 0o755);
}

const unitText = (d: Daemon, prefix = PREFIX): string => installFunction('render_unit', [d, prefix, ENV_DIR]);
const envText = (d: Daemon): string => installFunction('render_env', [d, PREFIX, ENV_DIR]);

function writeUnit(name: string, text: string): string {
  const path = join(UNIT_DIR, name);
  writeFileSync(path, text);
  return path;
}

/** Variables ExecStart expands: `$NAME` (split at spaces) and `${NAME}` (one argument). */
function execStartVariables(execStart: string): string[] {
  return [...execStart.matchAll(/\$\{?([A-Z_][A-Z0-9_]*)\}?/g)].map((m) => m[1]!);
}

describe('parseUnit', () => {
  test('sections, repeated keys in order, comments', () => {
    const unit = parseUnit('# c\n[Unit]\nA=1\n; c\n[Service]\nEnvironment=X=1\nEnvironment=Y=2 Z=3\nA = b c\n');
    assert.equal(setting(unit, 'Unit', 'A'), '1');
    assert.equal(setting(unit, 'Service', 'A'), 'b c');
    assert.deepEqual(unitEnvironment(unit), { X: '1', Y: '2', Z: '3' });
    assert.equal(setting(unit, 'Service', 'Missing'), undefined);
  });
  test('a line that is not Key=Value is an error', () => {
    assert.throws(() => parseUnit('[Unit]\nnonsense\n'), /not a unit file line/);
    assert.throws(() => parseUnit('A=1\n'), /not a unit file line/);
  });
});

describe('systemd-analyze verify', () => {
  test('accepts both generated units', () => {
    const r = verifyUnits(DAEMONS.map((d) => writeUnit(`${d}.service`, unitText(d))));
    assert.ok(r.ok, r.output);
  });

  const broken: ReadonlyArray<[what: string, edit: (text: string) => string, says: RegExp]> = [
    ['an unknown service type', (t) => t.replace(/^Type=exec$/m, 'Type=bogus'), /service type/],
    ['a misspelt key', (t) => t.replace(/^NoNewPrivileges=/m, 'NoNewPrivilege='), /Unknown key/i],
    [
      'a relative ExecStart',
      (t) => t.replace(/^ExecStart=\S+/m, 'ExecStart=sbin/tcpcopy'),
      /ExecStart|absolute|executable/i,
    ],
    ['a missing executable', (t) => t.replace(`${PREFIX}/sbin/`, `${PREFIX}/nowhere/`), /not executable|No such file/],
  ];
  for (const [what, edit, says] of broken) {
    test(`rejects a unit with ${what}`, () => {
      const text = edit(unitText('tcpcopy'));
      assert.notEqual(text, unitText('tcpcopy'), 'the edit applies');
      const r = verifyUnits([writeUnit('broken.service', text)]);
      assert.equal(r.ok, false, `verify passed a unit with ${what}`);
      assert.match(r.output, says);
    });
  }
});

for (const d of DAEMONS) {
  describe(`${d}.service`, () => {
    const unit = parseUnit(unitText(d));
    const service = (key: string): string | undefined => setting(unit, 'Service', key);

    test('no placeholder is left', () => {
      assert.doesNotMatch(unitText(d), /@[A-Z_]+@/);
      assert.doesNotMatch(envText(d), /@[A-Z_]+@/);
    });

    test('starts the installed wrapper in the foreground with the env file flags, restarts on failure', () => {
      assert.equal(service('Type'), 'exec');
      assert.equal(service('EnvironmentFile'), join(ENV_DIR, d));
      assert.equal(service('ExecStart')?.split(' ')[0], join(PREFIX, 'sbin', d));
      assert.equal(service('Restart'), 'on-failure');
      assert.equal(service('RestartPreventExitStatus'), '2');
      assert.equal(unitEnvironment(unit)[DAEMON_CHILD_ENV], '1', '-d is a no-op under the unit');
      assert.equal(setting(unit, 'Unit', 'After'), 'network-online.target');
      assert.equal(setting(unit, 'Unit', 'Wants'), 'network-online.target');
      assert.equal(setting(unit, 'Install', 'WantedBy'), 'multi-user.target');
    });

    test('is hardened: own user, CAP_NET_RAW only, read-only system but its log, run and state dirs', () => {
      const expected: Record<string, string> = {
        DynamicUser: 'yes',
        AmbientCapabilities: 'CAP_NET_RAW',
        CapabilityBoundingSet: 'CAP_NET_RAW',
        NoNewPrivileges: 'yes',
        ProtectSystem: 'strict',
        ProtectHome: 'yes',
        PrivateTmp: 'yes',
        ProtectKernelTunables: 'yes',
        LogsDirectory: d,
        RuntimeDirectory: d,
        StateDirectory: d,
      };
      for (const [key, value] of Object.entries(expected)) assert.equal(service(key), value, key);
      assert.match(service('RestrictAddressFamilies') ?? '', /AF_PACKET/, 'libpcap needs packet sockets');
      assert.equal(service('MemoryDenyWriteExecute'), undefined, "V8's JIT needs W+X memory");
      assert.equal(service('ProcSubset'), undefined, 'libpcap reads /proc/net/dev');
    });

    test('every variable ExecStart expands is assigned in the env file', () => {
      const vars = execStartVariables(service('ExecStart') ?? '');
      assert.ok(vars.length > 0);
      const envFile = join(dir, `${d}.env`);
      writeFileSync(envFile, envText(d));
      const out = execFileSync(
        'bash',
        ['-c', 'set -u; source "$0"; for v in "$@"; do echo "$v=${!v}"; done', envFile, ...vars],
        { encoding: 'utf8' },
      );
      assert.deepEqual(
        out.trim().split('\n'),
        vars.map((v) => `${v}=`),
        'assigned, and empty until the operator sets them',
      );
    });

    test("the wrapper execs node on the installed program, with the node options of the program's first line", () => {
      const wrapper = installFunction('render_wrapper', [d, PREFIX, '/usr/bin/node']);
      // tcpcopy caps V8's young generation (docs/architecture.md); intercept takes node's defaults.
      const options = d === 'tcpcopy' ? '--max-semi-space-size=4 ' : '';
      assert.match(wrapper, new RegExp(`^exec /usr/bin/node ${options}${PREFIX}/lib/${d}/bin/${d} "\\$@"$`, 'm'));
      assert.equal(spawnSync('sh', ['-n'], { input: wrapper }).status, 0);
    });

    // Granting a capability and changing uid take root: ./scripts/test runs as root, and so
    // this runs there; `pnpm test:unit` may run as anyone.
    const notRoot = process.getuid?.() !== 0 && 'setpriv needs root to grant CAP_NET_RAW and switch to nobody';
    test('setpriv reproduces its privileges: uid nobody, CAP_NET_RAW alone, no_new_privs', { skip: notRoot }, () => {
      const status = execFileSync('setpriv', [...setprivArgs(unit), 'cat', '/proc/self/status'], { encoding: 'utf8' });
      const field = (name: string): string => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1] ?? '';
      const NET_RAW = (1n << 13n).toString(16).padStart(16, '0'); // CAP_NET_RAW = 13
      assert.match(field('Uid'), /^65534\s/);
      for (const set of ['CapEff', 'CapPrm', 'CapAmb', 'CapBnd']) assert.equal(field(set), NET_RAW, set);
      assert.equal(field('NoNewPrivs'), '1');
    });
  });
}

test('intercept gets its filter as one argument', () => {
  const argv = setting(parseUnit(unitText('intercept')), 'Service', 'ExecStart')?.split(' ') ?? [];
  assert.equal(argv[argv.indexOf('-F') + 1], '${INTERCEPT_FILTER}', 'braced: systemd passes it whole, spaces included');
});

describe('scripts/install arguments', () => {
  const run = (args: string[]): { status: number | null; stderr: string } => {
    const r = spawnSync(INSTALL_SCRIPT, args, { encoding: 'utf8' });
    return { status: r.status, stderr: r.stderr };
  };
  for (const [args, says] of [
    [['--prefix', 'relative/dir'], /--prefix "relative\/dir": expected an absolute path/],
    [['--prefix', '/'], /--prefix "\/": expected/],
    [['--unit-dir', '/tmp/with space'], /--unit-dir "\/tmp\/with space"/],
    [['--prefix'], /--prefix: expected a directory/],
    [['--frobnicate'], /unknown argument "--frobnicate"/],
  ] as const) {
    test(`refuses ${args.join(' ')} with exit 2, touching nothing`, () => {
      const r = run([...args]);
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, says);
    });
  }
  test('--help prints the usage', () => {
    const r = spawnSync(INSTALL_SCRIPT, ['--help'], { encoding: 'utf8' });
    assert.equal(r.status, 0);
    assert.match(r.stdout, /--prefix DIR.*--uninstall/);
  });
});
