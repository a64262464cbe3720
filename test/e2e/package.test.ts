/**
 * ./scripts/package, built once into a temporary directory: the .deb as dpkg sees it (`dpkg-deb
 * --info` and `--contents`: runtime Depends only, every file under the prefix, the unit and env
 * directories, root-owned, launchers executable, no sources, tests or devDependencies), the
 * tarball holding the same files, and the programs of an extracted copy: `-v` here, the Node.js
 * check of the launchers, `--check` of both inside the lab. dpkg also installs, upgrades, removes
 * and purges it in a temporary root (maintainer scripts, conffiles).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withLab } from '../lab/index.js';
import { CONTROL_PORT } from './copy-harness.js';
import { DAEMONS, ROOT } from '../unit/install/systemd.js';

const PACKAGE_SCRIPT = join(ROOT, 'scripts/package');
/** Everything set up (./scripts/test's set-up ran); about 10 s on two cores, most of it xz. */
const BUILD_TIMEOUT_MS = 300_000;
const dir = mkdtempSync(join(tmpdir(), 'package-test-'));
const OUT = join(dir, 'out');
const EXTRACTED = join(dir, 'extracted');
const LIB = join(EXTRACTED, 'usr/lib/tcpcopy');
const { version: VERSION } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
const NODE_MAJOR = process.versions.node.split('.')[0]!;
/** What a production host must never be asked to install. */
const BUILD_ONLY = /^(?:gcc|g\+\+|cpp|make|python3?|build-essential|binutils|node-gyp|nodejs|npm|libc6-dev)\b|-dev\b/;
const DEV_DEPENDENCIES = ['typescript', 'eslint', 'prettier', 'fast-check', '@types+node', 'typescript-eslint', 'cap@'];
/** The paths of the package: the programs' prefix, the launchers, units, env files, docs, dashboard. */
const OWN = [
  /^\.\/usr\/lib\/tcpcopy\//,
  /^\.\/usr\/sbin\/(?:tcpcopy|intercept)$/,
  /^\.\/usr\/lib\/systemd\/system\/(?:tcpcopy|intercept)\.service$/,
  /^\.\/etc\/default\/(?:tcpcopy|intercept)$/,
  /^\.\/usr\/share\/doc\/tcpcopy\//,
  /^\.\/usr\/share\/tcpcopy\//,
];
/** Directories the package shares with the system. */
const SHARED_DIRS = new Set(
  ['./', 'etc/', 'etc/default/', 'usr/', 'usr/lib/', 'usr/lib/systemd/', 'usr/lib/systemd/system/', 'usr/sbin/']
    .concat(['usr/share/', 'usr/share/doc/'])
    .map((d) => (d === './' ? d : `./${d}`)),
);

let deb = '';
let tarball = '';

function run(
  cmd: string,
  args: readonly string[],
  env?: NodeJS.ProcessEnv,
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', cwd: '/', env, maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface Entry {
  readonly mode: string;
  readonly owner: string;
  readonly path: string;
}

/** `dpkg-deb --contents` / `tar -tv` lines: mode, owner, size, date, time, path (-> target). */
function entries(listing: string): Entry[] {
  return listing
    .split('\n')
    .filter((l) => l !== '')
    .map((line) => {
      const m = /^(\S+) (\S+)\s+\d+ \S+ \S+ (.+?)(?: -> .*| link to .*)?$/.exec(line);
      if (m === null) throw new Error(`not a listing line: ${line}`);
      return { mode: m[1]!, owner: m[2]!, path: m[3]! };
    });
}

function walk(root: string): string[] {
  return readdirSync(root, { withFileTypes: true }).flatMap((e) => {
    const path = join(root, e.name);
    return e.isDirectory() ? [path, ...walk(path)] : [path];
  });
}

describe('scripts/package', () => {
  before(
    () => {
      const started = Date.now();
      const r = spawnSync(PACKAGE_SCRIPT, ['--out', OUT], { encoding: 'utf8', timeout: BUILD_TIMEOUT_MS });
      assert.equal(r.status, 0, r.stderr);
      const arch = run('dpkg', ['--print-architecture']).stdout.trim();
      deb = join(OUT, `tcpcopy_${VERSION}_${arch}.deb`);
      tarball = join(OUT, `tcpcopy_${VERSION}_${arch}.tar.gz`);
      assert.deepEqual(readdirSync(OUT).sort(), [tarball, deb].map((f) => f.slice(OUT.length + 1)).sort());
      const x = run('dpkg-deb', ['-x', deb, EXTRACTED]);
      assert.equal(x.status, 0, x.stderr);
      console.log(`built in ${((Date.now() - started) / 1000).toFixed(1)} s:\n${r.stderr.trim()}`);
    },
    { timeout: BUILD_TIMEOUT_MS },
  );
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('dpkg-deb --info: name, version, runtime Depends only, maintainer scripts, conffiles', () => {
    const info = run('dpkg-deb', ['--info', deb]);
    assert.equal(info.status, 0, info.stderr);
    const field = (name: string): string => new RegExp(`^ ${name}: (.*)$`, 'm').exec(info.stdout)?.[1] ?? '';
    assert.equal(field('Package'), 'tcpcopy');
    assert.equal(field('Version'), VERSION);
    const depends = field('Depends').split(/,\s*/);
    assert.ok(
      depends.some((d) => d.startsWith('libpcap0.8 ')),
      `libpcap's runtime library: ${field('Depends')}`,
    );
    assert.deepEqual(
      depends.filter((d) => BUILD_ONLY.test(d)),
      [],
      'no compiler, build tool or -dev package',
    );
    assert.match(info.stdout, new RegExp(`Needs Node\\.js ${NODE_MAJOR}\\b`), 'the description says which Node.js');
    for (const script of ['postinst', 'prerm', 'postrm'])
      assert.match(info.stdout, new RegExp(`\\*  ${script} +#!/bin/sh`), `${script}, executable`);
    const conffiles = run('dpkg-deb', ['--info', deb, 'conffiles']).stdout.split('\n').filter(Boolean).sort();
    assert.deepEqual(conffiles, ['/etc/default/intercept', '/etc/default/tcpcopy']);
  });

  test('dpkg-deb --contents: under the prefix and the unit directory, root-owned, launchers executable, nothing for building', () => {
    const listing = run('dpkg-deb', ['--contents', deb]);
    assert.equal(listing.status, 0, listing.stderr);
    const all = entries(listing.stdout);
    const paths = all.map((e) => e.path);
    assert.deepEqual(
      paths.filter((p) => !SHARED_DIRS.has(p) && !OWN.some((re) => re.test(p))),
      [],
      'outside the package layout',
    );
    for (const d of DAEMONS) {
      const launcher = all.find((e) => e.path === `./usr/sbin/${d}`);
      assert.equal(launcher?.mode, '-rwxr-xr-x', `${d} launcher`);
      assert.ok(paths.includes(`./usr/lib/systemd/system/${d}.service`), `${d}.service`);
      assert.ok(paths.includes(`./usr/lib/tcpcopy/${d}/bin/${d}`), `${d} program`);
    }
    assert.deepEqual(
      all.filter((e) => e.owner !== 'root/root').map((e) => e.path),
      [],
      'owned by root',
    );
    assert.deepEqual(
      all.filter((e) => e.mode[0] !== 'l' && /w/.test(e.mode.slice(4))).map((e) => e.path),
      [],
      'writable by group or others',
    );
    assert.deepEqual(
      paths.filter((p) => /\.(?:[cm]?ts|map|tsbuildinfo)$|\/tsconfig\.json$|\/node_modules\/\.bin\//.test(p)),
      [],
      'TypeScript, source maps or command shims',
    );
    assert.deepEqual(
      paths.filter((p) => /\/@tcpcopy\/\w+\/(?:src|dist\/testing)\/|\/tcpcopy\/(?:tcpcopy|intercept)\/src\//.test(p)),
      [],
      'our sources or test helpers',
    );
    assert.deepEqual(
      paths.filter((p) => DEV_DEPENDENCIES.some((d) => p.includes(`/.pnpm/${d}`))),
      [],
      'devDependencies (or the tests’ own)',
    );
    for (const addon of ['packet_ring.node', 'raw.node'])
      assert.equal(paths.filter((p) => p.endsWith(`/build/Release/${addon}`)).length, 1, addon);
  });

  test('the tarball holds the same files, root-owned, and no directory it does not own', () => {
    const listing = run('tar', ['-tzvf', tarball]);
    assert.equal(listing.status, 0, listing.stderr);
    const all = entries(listing.stdout);
    const files = (es: Entry[], strip: string): string[] =>
      es
        .filter((e) => e.mode[0] !== 'd')
        .map((e) => e.path.slice(strip.length))
        .sort();
    const debFiles = files(entries(run('dpkg-deb', ['--contents', deb]).stdout), './');
    assert.deepEqual(files(all, ''), debFiles);
    assert.deepEqual(
      all.filter((e) => e.owner !== '0/0').map((e) => e.path),
      [],
      'owned by 0/0',
    );
    assert.deepEqual(
      all.filter(
        (e) => e.mode[0] === 'd' && !/^usr\/(?:lib\/tcpcopy|share\/doc\/tcpcopy|share\/tcpcopy)\//.test(e.path),
      ),
      [],
      'extracting into / must not touch /usr, /etc...',
    );
  });

  test('the extracted tree is self-contained: links stay in it, no build paths, packaged texts', () => {
    const lib = realpathSync(LIB);
    const paths = walk(EXTRACTED);
    assert.deepEqual(
      paths.filter((p) => lstatSync(p).isSymbolicLink() && !realpathSync(p).startsWith(`${lib}/`)),
      [],
      'links out of /usr/lib/tcpcopy',
    );
    const texts = paths.filter((p) => lstatSync(p).isFile() && !p.endsWith('.node'));
    assert.deepEqual(
      texts.filter((p) => readFileSync(p, 'latin1').includes(ROOT) && !p.includes('/usr/share/doc/')),
      [],
      `files naming the build tree ${ROOT}`,
    );
    for (const d of DAEMONS) {
      for (const file of [`etc/default/${d}`, `usr/lib/systemd/system/${d}.service`]) {
        const text = readFileSync(join(EXTRACTED, file), 'utf8');
        assert.doesNotMatch(text, /scripts\/install/, `${file} speaks of the package, not scripts/install`);
        assert.doesNotMatch(text, /@[A-Z_]+@/, `${file}: template left unrendered`);
      }
      assert.match(
        readFileSync(join(EXTRACTED, `usr/lib/systemd/system/${d}.service`), 'utf8'),
        new RegExp(`^ExecStart=/usr/sbin/${d} `, 'm'),
      );
    }
  });

  test('the extracted programs run from / with a bare environment: -v, native modules loaded from the package', () => {
    for (const d of DAEMONS) {
      const r = run(join(EXTRACTED, 'usr/sbin', d), ['-v'], { PATH: `${join(process.execPath, '..')}:/usr/bin:/bin` });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.split('\n')[0], `${d} ${VERSION}`);
    }
    const probe = `
      const common = require('node:fs').realpathSync(${JSON.stringify(`${LIB}/node_modules/@tcpcopy/common/package.json`)});
      const r = require('node:module').createRequire(common);
      r('@tcpcopy/capture'); r('raw-socket');
      console.log(JSON.stringify({ native: r('msgpackr').isNativeAccelerationEnabled, loaded: Object.keys(require.cache) }));`;
    const r = run(process.execPath, ['-e', probe]);
    assert.equal(r.status, 0, r.stderr);
    const { native, loaded } = JSON.parse(r.stdout) as { native: boolean; loaded: string[] };
    assert.equal(native, true, "msgpackr's native part loads");
    const lib = realpathSync(LIB);
    assert.deepEqual(
      loaded.filter((f) => !f.startsWith(`${lib}/`)),
      [],
      'modules loaded from outside the package',
    );
    for (const addon of ['packet_ring.node', 'raw.node'])
      assert.ok(
        loaded.some((f) => f.endsWith(`/${addon}`)),
        addon,
      );
  });

  test('the launchers refuse another Node.js major, or none, in one line with exit 2', () => {
    const fake = join(dir, 'node18');
    writeFileSync(fake, '#!/bin/sh\necho 18.19.0\n');
    chmodSync(fake, 0o755);
    for (const d of DAEMONS) {
      const old = run(join(EXTRACTED, 'usr/sbin', d), ['-v'], { PATH: '/usr/bin:/bin', TCPCOPY_NODE: fake });
      assert.equal(old.status, 2);
      assert.equal(old.stdout, '');
      assert.match(
        old.stderr,
        new RegExp(
          `^${d}: needs Node\\.js ${NODE_MAJOR} \\(its native modules are built for it\\), "${fake}" is 18\\.19\\.0: install Node\\.js ${NODE_MAJOR} .*\\n$`,
        ),
      );
      const none = run(join(EXTRACTED, 'usr/sbin', d), ['-v'], { PATH: '/nonexistent' });
      assert.equal(none.status, 2);
      assert.match(none.stderr, new RegExp(`^${d}: needs Node\\.js ${NODE_MAJOR} and cannot run "node": .*\\n$`));
    }
  });

  test("the launchers run node with the node options of the program's first line", () => {
    const echo = join(dir, 'node-echo');
    writeFileSync(echo, `#!/bin/sh\n[ "$1" = -p ] && { echo ${NODE_MAJOR}.0.0; exit 0; }\necho "$@"\n`);
    chmodSync(echo, 0o755);
    for (const d of DAEMONS) {
      const r = run(join(EXTRACTED, 'usr/sbin', d), ['-v'], { PATH: '/usr/bin:/bin', TCPCOPY_NODE: echo });
      assert.equal(r.status, 0, r.stderr);
      // tcpcopy caps V8's young generation (docs/architecture.md); intercept takes node's defaults.
      const options = d === 'tcpcopy' ? '--max-semi-space-size=4 ' : '';
      assert.equal(r.stdout, `${options}${join(EXTRACTED, 'usr/sbin')}/../lib/tcpcopy/${d}/bin/${d} -v\n`);
    }
  });

  test('dpkg installs it into a temporary root, upgrades keep edited conffiles, remove keeps them, purge deletes them', () => {
    const root = join(dir, 'dpkg-root');
    for (const d of ['var/lib/dpkg/info', 'var/lib/dpkg/updates', 'var/lib/dpkg/triggers'])
      mkdirSync(join(root, d), { recursive: true });
    for (const f of ['status', 'available']) writeFileSync(join(root, 'var/lib/dpkg', f), '');
    // Chrootless: the maintainer scripts run here with DPKG_ROOT set, and must then leave systemd alone.
    const dpkg = (...args: string[]): void => {
      const r = run('dpkg', [`--root=${root}`, '--force-script-chrootless', '--force-depends', ...args]);
      assert.equal(r.status, 0, `dpkg ${args.join(' ')}:\n${r.stdout}${r.stderr}`);
    };
    dpkg('-i', deb);
    const env = join(root, 'etc/default/tcpcopy');
    const edited = `${readFileSync(env, 'utf8')}TCPCOPY_OPTS="-x 80-10.0.0.3:80 -s 10.0.0.4"\n`;
    writeFileSync(env, edited);
    dpkg('-i', deb);
    assert.equal(readFileSync(env, 'utf8'), edited, 'an upgrade keeps the edited flags');
    dpkg('-r', 'tcpcopy');
    assert.equal(readFileSync(env, 'utf8'), edited, 'remove keeps the conffiles');
    assert.equal(existsSync(join(root, 'usr')), false, 'remove deletes the rest');
    dpkg('-P', 'tcpcopy');
    assert.deepEqual(readdirSync(root).sort(), ['var'], 'purge deletes the conffiles');
  });

  test(
    'lab: the extracted intercept and tcpcopy pass --check, tcpcopy paired with the extracted intercept',
    { timeout: 60_000 },
    async (t) => {
      await withLab(t, async (lab) => {
        const { aux, target } = lab.hosts;
        const intercept = join(EXTRACTED, 'usr/sbin/intercept');
        const tcpcopy = join(EXTRACTED, 'usr/sbin/tcpcopy');
        const interceptArgs = ['-i', aux.iface, '-F', 'tcp and src port 80'];
        const checked = async (host: string, bin: string, args: string[]): Promise<string[]> => {
          const r = await lab.exec(host, bin, [...args, '--check'], { check: false, timeoutMs: 20_000 });
          assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
          const lines = r.stdout.split('\n').filter(Boolean);
          assert.deepEqual(
            lines.filter((l) => l.startsWith('FAIL ')),
            [],
          );
          return lines;
        };
        const iLines = await checked('aux', intercept, interceptArgs);
        assert.ok(
          iLines.includes(`PASS capture opens on ${aux.iface} with filter "tcp and src port 80"`),
          iLines.join('\n'),
        );

        const daemon = lab.spawn('aux', intercept, interceptArgs, { name: 'intercept-packaged' });
        await lab.waitForPort('aux', CONTROL_PORT, 10_000, daemon);
        const cLines = await checked('prod', tcpcopy, ['-x', `80-${target.ip}:80`, '-s', aux.ip]);
        assert.ok(cLines.includes(`PASS intercept ${aux.ip}:${CONTROL_PORT} accepts connections`), cLines.join('\n'));
        assert.ok(cLines.includes('PASS raw IP socket opens (the copies are sent through it)'), cLines.join('\n'));
        assert.equal((await daemon.stop('SIGTERM', 2000)).code, 0, daemon.stderr);
      });
    },
  );
});
