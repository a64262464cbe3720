import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  componentLogger,
  createLogger,
  ErrorCode,
  formatLogLine,
  isLogLevel,
  isTcpcopyError,
  LOG_LEVELS,
} from '@tcpcopy/common';

const TEST_DIR = fileURLToPath(new URL('../../', import.meta.url)); // test/ (resolves @tcpcopy/*)

function withDir(fn: (dir: string) => Promise<void> | void): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'log-test-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

function lines(file: string): Record<string, unknown>[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

function captureStderr(isTTY: boolean): { write(s: string): boolean; isTTY: boolean; text: string } {
  const sink = { isTTY, text: '', write: (s: string) => ((sink.text += s), true) };
  return sink;
}

describe('createLogger', () => {
  test('levels are the six pino levels', () => {
    assert.deepEqual([...LOG_LEVELS], ['trace', 'debug', 'info', 'warn', 'error', 'fatal']);
    assert.ok(isLogLevel('warn') && !isLogLevel('verbose'));
  });

  test('non-terminal stderr gets JSON lines, filtered by level, with component children', () => {
    const stderr = captureStderr(false);
    const log = createLogger({ name: 'tcpcopy', level: 'info', stderr });
    log.debug('hidden');
    componentLogger(log, 'capture', { device: 'eth0' }).warn({ dropped: 3 }, 'ring full');
    const [line, ...rest] = stderr.text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(rest.length, 0);
    assert.deepEqual(
      [line!['name'], line!['component'], line!['device'], line!['dropped'], line!['msg'], line!['level']],
      ['tcpcopy', 'capture', 'eth0', 3, 'ring full', 40],
    );
    assert.match(String(line!['time']), /^\d{4}-\d\d-\d\dT/);
  });

  test('a terminal gets human-readable lines', () => {
    const stderr = captureStderr(true);
    const log = createLogger({ name: 'intercept', level: 'debug', stderr });
    componentLogger(log, 'control').debug({ peer: '10.0.0.1:5000' }, 'hello');
    assert.match(stderr.text, /^\d\d:\d\d:\d\d\.\d{3} DEBUG intercept\/control: hello peer="10\.0\.0\.1:5000"\n$/);
  });

  test('formatLogLine: errors with code and stack; non-JSON passes through', () => {
    const err = { type: 'Error', message: 'boom', code: 'TCPCOPY_ERR_DEVICE', stack: 'Error: boom\n    at x' };
    const out = formatLogLine(
      JSON.stringify({ level: 50, time: '2024-01-02T03:04:05.678Z', name: 't', msg: 'failed', err }),
    );
    assert.equal(out, '03:04:05.678 ERROR t: failed err="TCPCOPY_ERR_DEVICE"\n    Error: boom\n        at x\n');
    assert.equal(formatLogLine('plain text'), 'plain text\n');
  });

  test(
    '-l: JSON lines appended to the file, there as soon as the call returns',
    withDir((dir) => {
      const file = join(dir, 'a.log');
      const log = createLogger({ name: 'tcpcopy', level: 'info', file });
      log.info({ n: 1 }, 'first');
      assert.deepEqual(
        lines(file).map((l) => [l['msg'], l['n'], l['name']]),
        [['first', 1, 'tcpcopy']],
      );
      const again = createLogger({ name: 'tcpcopy', level: 'info', file });
      again.info('second');
      assert.deepEqual(
        lines(file).map((l) => l['msg']),
        ['first', 'second'],
        'appends, never truncates',
      );
    }),
  );

  test(
    'reopen() after logrotate moved the file writes to a new file at the path',
    withDir((dir) => {
      const file = join(dir, 'a.log');
      const log = createLogger({ name: 'tcpcopy', level: 'info', file });
      log.info('before');
      log.flush();
      renameSync(file, `${file}.1`);
      log.info('moved with the file');
      log.reopen();
      log.info('after');
      log.flush();
      assert.deepEqual(
        lines(`${file}.1`).map((l) => l['msg']),
        ['before', 'moved with the file'],
      );
      assert.deepEqual(
        lines(file).map((l) => l['msg']),
        ['after'],
      );
    }),
  );

  test('an unopenable file is TCPCOPY_ERR_LOG_FILE at creation', () => {
    assert.throws(
      () => createLogger({ name: 't', level: 'info', file: '/nonexistent-dir/t.log' }),
      (err: unknown) => isTcpcopyError(err, ErrorCode.LOG_FILE) && /\/nonexistent-dir\/t\.log/.test(err.message),
    );
  });

  test(
    'lines logged just before process.exit reach the file',
    withDir((dir) => {
      const file = join(dir, 'exit.log');
      const script = `import { createLogger } from '@tcpcopy/common';
      const log = createLogger({ name: 'x', level: 'info', file: ${JSON.stringify(file)} });
      for (let i = 0; i < 1000; i++) log.info({ i }, 'line');
      process.exit(0);`;
      execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: TEST_DIR, stdio: 'pipe' });
      const got = lines(file);
      assert.equal(got.length, 1000);
      assert.equal(got[999]!['i'], 999);
    }),
  );
});
