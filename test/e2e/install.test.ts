/**
 * ./scripts/install into a temporary prefix (and unit and env directories): the installed
 * programs run without the source tree, carry their native addons, a second run changes nothing,
 * the installed daemons copy traffic in the lab under the units' privileges (an unprivileged user
 * with CAP_NET_RAW alone, emulated with setpriv), and --uninstall removes all but the env files.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withLab } from '../lab/index.js';
import { CONTROL_PORT, fakeRange, pidsNamed, settle } from './copy-harness.js';
import { isAlive, logged, logLines, poll } from './daemon-helpers.js';
import {
  DAEMONS,
  DYNAMIC_USER_ID,
  INSTALL_SCRIPT,
  ROOT,
  parseUnit,
  setprivArgs,
  unitEnvironment,
} from '../unit/install/systemd.js';

const dir = mkdtempSync(join(tmpdir(), 'install-test-'));
chmodSync(dir, 0o755); // the lab test runs the installed programs as nobody
const PREFIX = join(dir, 'opt');
const UNIT_DIR = join(dir, 'units');
const ENV_DIR = join(dir, 'default');
const PACKAGE_DIR = { tcpcopy: 'copier', intercept: 'intercept' } as const;
/** Once everything is built and cached; the first install on a fresh machine takes longer. */
const INSTALL_TIMEOUT_MS = 300_000;
const REQUESTS = 200;

function install(...extra: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(INSTALL_SCRIPT, ['--prefix', PREFIX, '--unit-dir', UNIT_DIR, '--env-dir', ENV_DIR, ...extra], {
    encoding: 'utf8',
    timeout: INSTALL_TIMEOUT_MS,
  });
  return { status: r.status, stderr: r.stderr };
}

/** Every path under `root`, directories first (lstat: links are not followed). */
function walk(root: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    const path = join(root, entry.name);
    out.push(path);
    if (entry.isDirectory()) out.push(...walk(path));
  }
  return out;
}

const unitOf = (d: string): ReturnType<typeof parseUnit> =>
  parseUnit(readFileSync(join(UNIT_DIR, `${d}.service`), 'utf8'));

describe('scripts/install', () => {
  before(
    () => {
      const r = install();
      assert.equal(r.status, 0, r.stderr);
      // Units where systemd does not look: it says where they are, and gives no systemctl hint.
      assert.ok(r.stderr.includes(`units in ${UNIT_DIR}: tcpcopy.service, intercept.service`), r.stderr);
      assert.doesNotMatch(r.stderr, /systemctl/);
    },
    { timeout: INSTALL_TIMEOUT_MS },
  );
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('PREFIX/sbin/tcpcopy and intercept run from / with a bare environment', () => {
    for (const d of DAEMONS) {
      const { version } = JSON.parse(readFileSync(join(ROOT, 'packages', PACKAGE_DIR[d], 'package.json'), 'utf8')) as {
        version: string;
      };
      const r = spawnSync(join(PREFIX, 'sbin', d), ['-v'], {
        cwd: '/',
        env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, r.stderr);
      // The first line; then the Node.js and libpcap versions.
      assert.equal(r.stdout.split('\n')[0], `${d} ${version}`);
    }
  });

  test('the runtime is self-contained: no link leaves PREFIX, native addons built and loaded from it', () => {
    const paths = walk(PREFIX);
    const outside = paths.filter(
      (p) => lstatSync(p).isSymbolicLink() && !realpathSync(p).startsWith(`${realpathSync(PREFIX)}/`),
    );
    assert.deepEqual(outside, [], 'links out of PREFIX (into the source tree?)');
    for (const d of DAEMONS) {
      const lib = join(PREFIX, 'lib', d);
      for (const addon of ['packet_ring.node', 'raw.node']) {
        const built = paths.filter((p) => p.startsWith(`${lib}/`) && p.endsWith(`/build/Release/${addon}`));
        assert.equal(built.length, 1, `${d}: ${addon} built once`);
        const ldd = spawnSync('ldd', [built[0]!], { encoding: 'utf8' });
        assert.doesNotMatch(ldd.stdout, /not found/, ldd.stdout);
      }
      // Load the addons the way the program does (from @tcpcopy/common), from /, and list every
      // module file that got loaded: all of them must be under PREFIX.
      const probe = `
        const common = require('node:fs').realpathSync(${JSON.stringify(`${lib}/node_modules/@tcpcopy/common/package.json`)});
        const r = require('node:module').createRequire(common);
        r('@tcpcopy/capture'); r('raw-socket');
        const native = r('msgpackr').isNativeAccelerationEnabled;
        console.log(JSON.stringify({ native, loaded: Object.keys(require.cache) }));`;
      const r = spawnSync(process.execPath, ['-e', probe], { cwd: '/', encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const { native, loaded } = JSON.parse(r.stdout) as { native: boolean; loaded: string[] };
      assert.equal(native, true, `${d}: msgpackr-extract loads`);
      assert.deepEqual(
        loaded.filter((f) => !f.startsWith(`${lib}/`)),
        [],
        `${d}: modules loaded from outside ${lib}`,
      );
      for (const addon of ['packet_ring.node', 'raw.node'])
        assert.ok(
          loaded.some((f) => f.endsWith(`/${addon}`)),
          `${addon} loaded`,
        );
    }
  });

  test("a second run rewrites nothing and keeps the operator's env files", { timeout: INSTALL_TIMEOUT_MS }, () => {
    const flags = 'TCPCOPY_OPTS="-x 80-10.0.0.3:80 -s 10.0.0.4"\n';
    writeFileSync(join(ENV_DIR, 'tcpcopy'), flags);
    const watched = DAEMONS.flatMap((d) => [
      join(PREFIX, 'sbin', d),
      join(PREFIX, 'lib', d),
      join(PREFIX, 'lib', d, '.install-stamp'),
      join(UNIT_DIR, `${d}.service`),
      join(ENV_DIR, d),
    ]);
    const identity = (): Record<string, string> =>
      Object.fromEntries(watched.map((p) => [p, `inode ${statSync(p).ino} mtime ${statSync(p).mtimeMs}`]));
    const before = identity();
    const r = install();
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(identity(), before, `same files, untouched:\n${r.stderr}`);
    assert.match(r.stderr, new RegExp(`${join(PREFIX, 'lib', 'tcpcopy')}: up to date`));
    assert.match(r.stderr, new RegExp(`${join(ENV_DIR, 'tcpcopy')}: kept`));
    assert.equal(readFileSync(join(ENV_DIR, 'tcpcopy'), 'utf8'), flags);
  });

  test(
    "lab: the installed daemons, with the units' privileges, copy every request and stop cleanly",
    { timeout: 90_000 },
    async (t) => {
      const run = join(dir, 'run');
      mkdirSync(run, { recursive: true });
      chownSync(run, DYNAMIC_USER_ID, DYNAMIC_USER_ID);
      const file = (name: string): string => join(run, name);
      await withLab(t, async (lab) => {
        const prod = await lab.startNginx('prod');
        const target = await lab.startNginx('target');
        const aux = lab.host('aux');

        // intercept as intercept.service starts it: its Environment= makes an upstream -d a no-op,
        // so the process systemd started is the daemon (and writes its pid).
        const iUnit = unitOf('intercept');
        const intercept = lab.spawn(
          'aux',
          'setpriv',
          [
            ...setprivArgs(iUnit),
            join(PREFIX, 'sbin/intercept'),
            '-i',
            aux.iface,
            '-F',
            'tcp and src port 80',
            '-d',
            '-P',
            file('intercept.pid'),
            '-l',
            file('intercept.log'),
          ],
          { name: 'intercept', env: { ...process.env, ...unitEnvironment(iUnit) } },
        );
        await lab.waitForPort('aux', CONTROL_PORT, 10_000, intercept);
        assert.equal(
          readFileSync(file('intercept.pid'), 'utf8').trim(),
          String(intercept.pid),
          '-d stayed in the foreground',
        );

        // tcpcopy with the unit's privileges, detached by -d as typed outside systemd.
        const copierArgs = [
          '-x',
          `80-${lab.host('target').ip}:80`,
          '-s',
          aux.ip,
          '-c',
          fakeRange(lab),
          '-d',
          '-P',
          file('tcpcopy.pid'),
          '-l',
          file('tcpcopy.log'),
        ];
        const parent = lab.spawn(
          'prod',
          'setpriv',
          [...setprivArgs(unitOf('tcpcopy')), join(PREFIX, 'sbin/tcpcopy'), ...copierArgs],
          { name: 'tcpcopy-d' },
        );
        assert.equal((await parent.exited).code, 0, parent.stderr);
        const pid = await poll(
          () =>
            existsSync(file('tcpcopy.pid'))
              ? Number(readFileSync(file('tcpcopy.pid'), 'utf8').trim()) || undefined
              : undefined,
          'the pid file',
        );
        t.after(() => {
          if (isAlive(pid)) process.kill(pid, 'SIGKILL');
        });
        assert.equal(statSync(`/proc/${pid}`).uid, DYNAMIC_USER_ID, 'runs unprivileged');
        await poll(() => logged(file('tcpcopy.log'), 'capturing'), 'tcpcopy to capture', 15_000);
        await new Promise((r) => setTimeout(r, 500));

        const ab = await lab.exec('client', 'ab', ['-q', '-n', String(REQUESTS), '-c', '4', prod.url('/index.html')]);
        assert.match(ab.stdout, new RegExp(`Complete requests:\\s+${REQUESTS}`));
        const arrived = await settle(() => target.readAccessLog().length, REQUESTS);
        assert.equal(arrived, REQUESTS, `target received ${arrived} of ${REQUESTS}`);

        // Found by name from an install too: the wrapper execs node on the installed program.
        assert.ok((await pidsNamed(lab, 'pidof', ['tcpcopy'])).includes(pid), 'pidof tcpcopy');
        assert.ok((await pidsNamed(lab, 'pgrep', ['-x', 'intercept'])).includes(intercept.pid!), 'pgrep -x intercept');

        process.kill(pid, 'SIGTERM');
        await poll(() => (isAlive(pid) ? undefined : true), 'tcpcopy to exit', 1500);
        const exit = await intercept.stop('SIGTERM', 2000);
        assert.equal(exit.code, 0, intercept.stderr);
        for (const d of DAEMONS) {
          assert.equal(existsSync(file(`${d}.pid`)), false, `${d}: pid file removed`);
          const lines = logLines(file(`${d}.log`)); // throws if a line is not JSON
          assert.ok(
            lines.some((l) => l['msg'] === 'final stats'),
            `${d}: final stats logged`,
          );
        }
        // Every request byte captured was acknowledged by the test server.
        const final = logged(file('tcpcopy.log'), 'final stats') as {
          client?: { payloadBytes?: number; payloadBytesAcked?: number };
        };
        assert.ok((final.client?.payloadBytes ?? 0) > 0, JSON.stringify(final));
        assert.equal(final.client?.payloadBytesAcked, final.client?.payloadBytes, JSON.stringify(final));
      });
    },
  );

  test('--uninstall removes what install added but the env files, and can run again', () => {
    const r = install('--uninstall');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(existsSync(PREFIX), false, 'PREFIX emptied and removed');
    for (const d of DAEMONS) {
      assert.equal(existsSync(join(UNIT_DIR, `${d}.service`)), false, `${d}.service removed`);
      assert.ok(existsSync(join(ENV_DIR, d)), `${ENV_DIR}/${d} kept`);
      assert.match(r.stderr, new RegExp(`${join(ENV_DIR, d)}: kept`));
    }
    assert.equal(install('--uninstall').status, 0, 'nothing left to remove is not an error');
  });
});
