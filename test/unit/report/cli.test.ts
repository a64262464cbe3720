// `tcpcopy report` through the real bin, on diff logs in a temporary directory. Only this
// subcommand of tcpcopy runs outside the lab: it reads a file and captures and sends nothing.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { diffLogLine } from '@tcpcopy/copier/compare';
import { answer, diffRecord, get } from './records.js';

const TCPCOPY = fileURLToPath(new URL('../../../../packages/copier/bin/tcpcopy', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'tcpcopy-report-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function report(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(TCPCOPY, ['report', ...args], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.error, undefined);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const LOG = join(dir, 'diff.log');
writeFileSync(
  LOG,
  [
    diffLogLine(diffRecord(get('/a'), answer('200 OK', 'x'), answer('500 Oops', 'x'))),
    '{"cut": \n',
    diffLogLine(diffRecord(get('/a?page=2'), answer('200 OK', 'x'), answer('500 Oops', 'x'))),
    diffLogLine(diffRecord(get('/<script>'), answer('200 OK', 'x'), undefined)),
  ].join(''),
);

describe('tcpcopy report', () => {
  test('FILE: the text report on stdout, bad lines named, exit 0', () => {
    const r = report([LOG]);
    assert.equal(r.stderr, '');
    assert.equal(r.status, 0);
    assert.match(
      r.stdout,
      /^tcpcopy report of .*diff\.log\n3 differing exchanges \(1 bad line skipped\)\n {2}line 2: not JSON\n/,
    );
    assert.match(r.stdout, /^By kind\n {2}bytes +2 +67%\n {2}timeout +1 +33%$/m);
    assert.match(r.stdout, /^1\. 2 exchanges: bytes \/a: status 200 -> 500$/m);
    assert.match(r.stdout, /^2\. 1 exchange: timeout \/<script>$/m);
  });

  test('--html OUT: the same report as one page; the text still on stdout', () => {
    const out = join(dir, 'report.html');
    const r = report([LOG, '--html', out]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^3 differing exchanges/m);
    const html = readFileSync(out, 'utf8');
    assert.match(html, /^<!DOCTYPE html>/);
    assert.match(html, /2 exchanges: <code>bytes \/a: status 200 -&gt; 500<\/code>/);
    assert.ok(html.includes('timeout /&lt;script&gt;'));
    assert.doesNotMatch(html, /<script/);
  });

  test('a log that cannot be read: one line, exit 1', () => {
    const missing = join(dir, 'missing.log');
    assert.deepEqual(report([missing]), {
      status: 1,
      stdout: '',
      stderr: `tcpcopy: cannot read diff log ${missing}: ENOENT: no such file or directory\n`,
    });
    const r = report([dir]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^tcpcopy: cannot read diff log [^\n]+: EISDIR: [^\n]+\n$/);
  });

  test('bad arguments: one line, exit 2', () => {
    for (const args of [[], [LOG, LOG], [LOG, '--html'], [LOG, '--color'], ['--html', join(dir, 'x.html')]]) {
      const r = report(args);
      assert.equal(r.status, 2, args.join(' '));
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /^tcpcopy: [^\n]+\n$/, args.join(' '));
    }
  });

  test('-h: usage on stdout, exit 0', () => {
    const r = report(['-h']);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /^Usage: tcpcopy report FILE \[--html OUT\]\n/);
  });
});
