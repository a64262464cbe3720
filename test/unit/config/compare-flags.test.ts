import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, ErrorCode, type ErrorCode as Code } from '@tcpcopy/common';
import { parseCopierArgs, type CopierConfig } from '@tcpcopy/copier';

const REQUIRED = ['-x', '80-10.0.0.3:80', '-s', '10.0.0.2'];
const FILE = '/etc/tcpcopy.yaml';

function parse(...args: string[]): CopierConfig {
  return parseCopierArgs([...REQUIRED, ...args]);
}

function withFile(text: string, ...args: string[]): CopierConfig {
  return parseCopierArgs([...REQUIRED, '--config', FILE, ...args], () => text);
}

function refuses(args: string[], code: Code, message: string, file?: string): void {
  assert.throws(
    () => (file === undefined ? parse(...args) : withFile(file, ...args)),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
      assert.equal(err.code, code, err.message);
      assert.equal(err.message, message);
      return true;
    },
  );
}

describe('--compare and its companions', () => {
  test('off unless asked: nothing else changes', () => {
    assert.equal(parse().compare, undefined);
  });

  test('--compare alone is auto, with 64 KiB compared per answer and Date ignored', () => {
    assert.deepEqual(parse('--compare').compare, {
      mode: 'auto',
      compareBytes: 65536,
      diffLog: undefined,
      ignoreHeaders: ['Date'],
      ignoreBody: [],
    });
    // A flag after it is not taken for its mode.
    assert.equal(parse('--compare', '-n', '2').compare?.mode, 'auto');
    assert.equal(parse('--compare', 'http').compare?.mode, 'http');
    assert.equal(parse('--compare=bytes').compare?.mode, 'bytes');
  });

  test('sizes in bytes, k or m; repeatable ignore rules keep every value, commas included', () => {
    const c = parse(
      '--compare',
      '--compare-bytes',
      '1m',
      '--diff-log',
      '/var/log/tcpcopy/diff.log',
      '--compare-ignore-header',
      'X-Request-Id',
      '--compare-ignore-header',
      'Server',
      '--compare-ignore',
      '"ts":\\d{1,3},\\d+',
      '--compare-ignore',
      'id=[0-9a-f]+',
    ).compare;
    assert.deepEqual(c, {
      mode: 'auto',
      compareBytes: 1 << 20,
      diffLog: '/var/log/tcpcopy/diff.log',
      ignoreHeaders: ['X-Request-Id', 'Server'],
      ignoreBody: ['"ts":\\d{1,3},\\d+', 'id=[0-9a-f]+'],
    });
    assert.equal(parse('--compare', '--compare-bytes', '4096').compare?.compareBytes, 4096);
    assert.equal(parse('--compare', '--compare-bytes', '64K').compare?.compareBytes, 65536);
  });

  test('each bad value is one line naming its flag', () => {
    refuses(['--compare', 'json'], ErrorCode.BAD_FLAG, '--compare "json": expected one of bytes, http, auto');
    const size = 'expected a size from 256 to 16m, in bytes or with k or m (KiB, MiB)';
    for (const bad of ['12', '17m', '1g', '-1', '1.5k', ''])
      refuses(
        ['--compare', '--compare-bytes', bad],
        ErrorCode.BAD_FLAG,
        `--compare-bytes ${JSON.stringify(bad)}: ${size}`,
      );
    refuses(
      ['--compare', '--compare-ignore-header', 'Date:'],
      ErrorCode.BAD_FLAG,
      '--compare-ignore-header "Date:": expected an HTTP field name, e.g. Date or X-Request-Id',
    );
    refuses(
      ['--compare', '--compare-ignore', '(unclosed'],
      ErrorCode.BAD_FLAG,
      '--compare-ignore "(unclosed": expected a JavaScript regular expression (/(unclosed/: Unterminated group)',
    );
  });

  test('a companion without --compare is refused rather than silently doing nothing', () => {
    refuses(
      ['--diff-log', '/tmp/d.log'],
      ErrorCode.FLAG_CONFLICT,
      '--diff-log "/tmp/d.log": only valid with --compare',
    );
    refuses(['--compare-bytes', '1m'], ErrorCode.FLAG_CONFLICT, '--compare-bytes "1m": only valid with --compare');
    refuses(
      ['--compare-ignore-header', 'Server'],
      ErrorCode.FLAG_CONFLICT,
      '--compare-ignore-header "Server": only valid with --compare',
    );
  });

  test('a settings file: compare as a mode or true, the repeatable keys as a string or a list', () => {
    const c = withFile(
      'compare: http\ndiffLog: /tmp/d.log\ncompareIgnoreHeader: [Server, X-Id]\ncompareIgnore: "a,b"\n',
    ).compare;
    assert.deepEqual(c, {
      mode: 'http',
      compareBytes: 65536,
      diffLog: '/tmp/d.log',
      ignoreHeaders: ['Server', 'X-Id'],
      ignoreBody: ['a,b'],
    });
    assert.equal(withFile('compare: true\n').compare?.mode, 'auto');
    assert.equal(withFile('compare: false\n').compare, undefined);
    // The command line wins over the file, as for every flag.
    assert.deepEqual(
      withFile('compare: auto\ncompareIgnoreHeader: [Server]\n', '--compare-ignore-header', 'Via').compare
        ?.ignoreHeaders,
      ['Via'],
    );
    refuses(
      [],
      ErrorCode.CONFIG_FILE,
      `--config ${FILE}: compareIgnore: expected a string or a list of strings: a JavaScript regular expression, got a list`,
      'compare: auto\ncompareIgnore: [1]\n',
    );
  });
});
