// Runs the real bin scripts as child processes. Only argument errors, -h and -v: none of these
// reach main, so nothing is captured or sent (a valid command line would start the daemon).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url)); // test/dist/unit/config -> root
const BINS = {
  tcpcopy: `${ROOT}packages/copier/bin/tcpcopy`,
  intercept: `${ROOT}packages/intercept/bin/intercept`,
} as const;

function run(bin: keyof typeof BINS, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(BINS[bin], args, { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.error, undefined);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function version(pkg: string): string {
  return (JSON.parse(readFileSync(`${ROOT}packages/${pkg}/package.json`, 'utf8')) as { version: string }).version;
}

/** -h as a Linux tool's: headings in docs/flags.md's order, every line within 80 columns. */
function assertReadsLikeALinuxTool(help: string, headings: readonly string[]): void {
  const found = help.split('\n').filter((l) => /^[A-Z][^:]*:$/.test(l) && l !== 'Examples:');
  assert.deepEqual(found, headings);
  const long = help.split('\n').filter((l) => l.length > 80);
  assert.deepEqual(long, [], 'lines over 80 columns');
}

/** `name version`, then the Node.js and libpcap versions, one line each. */
function versionPattern(name: string, pkg: 'copier' | 'intercept'): RegExp {
  const quote = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(
    `^${name} ${quote(version(pkg))}\nNode\\.js ${quote(process.version)}\nlibpcap version \\d+\\.\\d+.*\n$`,
  );
}

describe('bin scripts', () => {
  test('are executable', () => {
    for (const path of Object.values(BINS)) assert.ok((statSync(path).mode & 0o111) === 0o111, path);
  });

  test('tcpcopy: a bad -x value is one stderr line and exit 2', () => {
    const r = run('tcpcopy', ['-x', '8000-10.0.0.3', '-s', '10.0.0.2']);
    assert.deepEqual(r, {
      status: 2,
      stdout: '',
      stderr: 'tcpcopy: -x "8000-10.0.0.3": expected [srcIP:]srcPort-dstIP:dstPort[,...]\n',
    });
  });

  test('tcpcopy: unknown options, bad values, missing values and flags: one line, exit 2', () => {
    const ok = ['-x', '80-10.0.0.3:80', '-s', '10.0.0.2'];
    for (const args of [['-z'], [...ok, '-H', '127.0.0.1'], ['-n'], [], [...ok, '-n', '0']]) {
      const r = run('tcpcopy', args);
      assert.equal(r.status, 2, args.join(' '));
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /^tcpcopy: [^\n]+\n$/, args.join(' '));
    }
  });

  test('tcpcopy -h prints help on stdout and exits 0', () => {
    const r = run('tcpcopy', ['-h']);
    assert.equal(r.status, 0);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, /^Usage: tcpcopy /);
    const flags = '-x -s -c -n -f -r -i -F -t -k -M -D -R -m -O -W -L -g -l -d -P -u -a -I -T -p -C'.split(' ');
    for (const flag of [
      ...flags,
      '--offline',
      '--log-level',
      '--metrics',
      '--config',
      '--check',
      '--compare',
      '--diff-log',
    ]) {
      assert.ok(r.stdout.includes(`${flag}${flag.startsWith('--') ? ' ' : ','}`), `help lists ${flag}`);
    }
    assertReadsLikeALinuxTool(r.stdout, [
      'Copy:',
      'Control channel:',
      'Capture:',
      'Sessions:',
      'Offline replay:',
      'Response comparison:',
      'Accepted for upstream command lines:',
      'Daemon:',
      'Diagnostics:',
    ]);
  });

  test('tcpcopy -v prints "tcpcopy <version>", then Node.js and libpcap, and exits 0', () => {
    const v = run('tcpcopy', ['-v']);
    assert.equal(v.status, 0);
    assert.equal(v.stderr, '');
    assert.match(v.stdout, versionPattern('tcpcopy', 'copier'));
  });

  test('intercept without -F: one clear line, exit 2', () => {
    const r = run('intercept', ['-i', 'eth0', '-d']);
    assert.deepEqual(r, {
      status: 2,
      stdout: '',
      stderr:
        "intercept: -F is required: expected a pcap filter for the test server's replies, e.g. -F 'tcp and src port 8000'\n",
    });
  });

  test('intercept -h and -v', () => {
    const h = run('intercept', ['-h']);
    assert.equal(h.status, 0);
    assert.match(h.stdout, /^Usage: intercept /);
    assertReadsLikeALinuxTool(h.stdout, [
      'Capture:',
      'Control channel:',
      'Accepted for upstream command lines:',
      'Daemon:',
      'Diagnostics:',
    ]);
    const v = run('intercept', ['-v']);
    assert.equal(v.status, 0);
    assert.match(v.stdout, versionPattern('intercept', 'intercept'));
  });

  test('intercept: bad -b, exit 2', () => {
    const r = run('intercept', ['-F', 'tcp', '-b', '10.0.0']);
    assert.equal(r.status, 2);
    assert.equal(r.stderr, 'intercept: -b "10.0.0": expected an IPv4 address of this host, e.g. 10.0.0.2\n');
  });
});
