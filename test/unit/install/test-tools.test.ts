/**
 * Every program the tests run is installed by the set-up (scripts/lib/setup.sh) or comes with a
 * bare Debian machine: a test that runs a tool the set-up never installs passes on a developer's
 * machine and fails on a new one (it happened with `ping`). The test sources are scanned for the
 * commands they execute; a new one must be added here, with the Debian package that provides
 * it, and that package to the set-up.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './systemd.js';

/** Command -> the Debian package scripts/lib/setup.sh must install for it. */
const PACKAGE_OF: Readonly<Record<string, string>> = {
  ab: 'apache2-utils',
  curl: 'curl',
  ethtool: 'ethtool',
  ip: 'iproute2',
  ss: 'iproute2',
  tc: 'iproute2',
  nft: 'nftables',
  nginx: 'nginx-light',
  ping: 'iputils-ping',
  pgrep: 'procps',
  ps: 'procps',
  python3: 'python3',
  'redis-server': 'redis-server',
  'redis-cli': 'redis-tools',
  'redis-benchmark': 'redis-tools',
  setpriv: 'util-linux',
  'systemd-analyze': 'systemd',
  sysctl: 'procps',
  tcpdump: 'tcpdump',
  unshare: 'util-linux',
};
/** Essential on every Debian system, or the project's own programs. */
const ALWAYS_THERE = new Set([
  'bash',
  'sh',
  'sleep',
  'cat',
  'pidof',
  'uname',
  'ldd',
  'getconf',
  'apt-get',
  'dpkg-query',
  'dpkg',
  'dpkg-deb',
  'tar',
  'tcpcopy',
  'intercept',
]);

/** How tests start programs: lab.exec or lab.spawn (a host, then the command), spawnSync, execFileSync or run (the command first), and `ip netns exec` lines. */
const EXEC_PATTERNS = [
  /\b(?:exec|spawn)\(\s*(?:'[\w-]+'|[\w.]+),\s*'([\w.-]+)'/g,
  /\b(?:spawnSync|execFileSync|execFile|run)\(\s*'([\w.-]+)'/g,
  /'netns',\s*'exec',\s*[\w.]+,\s*'([\w.-]+)'/g,
];

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (name === 'dist' || name === 'node_modules') return [];
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

function commandsRunByTests(): Map<string, string> {
  const firstSeenIn = new Map<string, string>();
  for (const file of sources(join(ROOT, 'test'))) {
    const text = readFileSync(file, 'utf8');
    for (const pattern of EXEC_PATTERNS) {
      for (const m of text.matchAll(pattern)) if (!firstSeenIn.has(m[1]!)) firstSeenIn.set(m[1]!, file);
    }
  }
  return firstSeenIn;
}

/** The package names of the DEBIAN_PACKAGES and BUILD_DEBIAN_PACKAGES arrays of setup.sh. */
function packagesInstalledBySetup(): Set<string> {
  const script = readFileSync(join(ROOT, 'scripts/lib/setup.sh'), 'utf8');
  const installed = new Set<string>();
  for (const array of script.matchAll(/^(?:BUILD_)?DEBIAN_PACKAGES=\(([^)]*)\)/gm)) {
    for (const line of array[1]!.split('\n')) {
      for (const word of line.replace(/#.*/, '').split(/\s+/))
        if (/^[a-z0-9][a-z0-9.+-]+$/.test(word)) installed.add(word);
    }
  }
  return installed;
}

test('every command the tests run is known here, with the package that provides it', () => {
  const run = commandsRunByTests();
  assert.ok(run.size >= 15, `found only ${run.size} commands: the scan is broken`);
  const unknown = [...run].filter(([cmd]) => PACKAGE_OF[cmd] === undefined && !ALWAYS_THERE.has(cmd));
  assert.deepEqual(unknown, [], 'tests run these: add each to PACKAGE_OF (and its package to scripts/lib/setup.sh)');
});

test('scripts/lib/setup.sh installs the package of every command the tests run', () => {
  const installed = packagesInstalledBySetup();
  assert.ok(
    installed.has('libpcap-dev') && installed.has('nftables'),
    `setup.sh's package lists were not read: ${[...installed].join(' ')}`,
  );
  const missing = Object.entries(PACKAGE_OF).filter(([, pkg]) => !installed.has(pkg));
  assert.deepEqual(missing, [], 'setup.sh does not install these');
});
