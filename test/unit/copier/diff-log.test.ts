/**
 * The --diff-log writer: one JSON line per record, appended; SIGHUP's reopen follows a rotated
 * file; a file that cannot be written is logged once and its records counted as dropped.
 */
import { mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '@tcpcopy/common';
import type { DiffRecord } from '@tcpcopy/copier/compare';
import { DiffLog } from '@tcpcopy/copier/daemon';

const record = (exchange: number): DiffRecord => ({
  session: { client: '198.51.100.7:51234', target: '10.0.0.3:80', copy: 0 },
  exchange,
  request: { firstBytes: 'GET / HTTP/1.1\\r\\n\\r\\n', length: 18 },
  production: { firstBytes: 'a', length: 1, sha256: 'x' },
  test: { firstBytes: 'b', length: 1, sha256: 'y' },
  kind: 'bytes',
  offset: 0,
  excerpt: null,
});

const lines = (file: string): number[] =>
  readFileSync(file, 'utf8')
    .trimEnd()
    .split('\n')
    .map((line) => (JSON.parse(line) as DiffRecord).exchange);

test('diff log: appended, reopened after logrotate moved it, failures counted not thrown', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'diff-log-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const errors: string[] = [];
  const log = createLogger({ name: 'test', level: 'error', stderr: { write: (l: string) => (errors.push(l), true) } });
  const file = join(dir, 'diff.log');
  const first = new DiffLog(file, log);
  first.write(record(0));
  await first.close();
  const diffLog = new DiffLog(file, log);
  diffLog.write(record(1));
  // logrotate moves the file once the line is in it (the stream opens and writes asynchronously).
  while (lines(file).length < 2) await new Promise((r) => setTimeout(r, 5));
  renameSync(file, `${file}.1`);
  diffLog.reopen();
  diffLog.write(record(2));
  await diffLog.close();
  assert.deepEqual(lines(`${file}.1`), [0, 1], 'appended to what was there');
  assert.deepEqual(lines(file), [2], 'the reopened file');
  assert.deepEqual(diffLog.stats(), { file, written: 2, dropped: 0, errors: 0 });

  const nowhere = new DiffLog(join(dir, 'missing', 'diff.log'), log);
  // Opening fails asynchronously: from then on records are dropped.
  while (nowhere.stats().errors === 0) await new Promise((r) => setTimeout(r, 5));
  nowhere.write(record(3));
  nowhere.write(record(4));
  await nowhere.close();
  assert.equal(nowhere.stats().dropped, 2);
  assert.equal(errors.filter((e) => e.includes('cannot write the diff log')).length, 1);
});
