/**
 * --auth-file (both daemons) and intercept's --allow: the flags, the settings keys, and the
 * checks on the key file (regular, private, 16 bytes to 4 KiB) made when the daemons start.
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, ControlAuthKey, ErrorCode, MAX_AUTH_FILE_BYTES, readAuthFile } from '@tcpcopy/common';
import { parseCopierArgs } from '@tcpcopy/copier';
import { readCopierAuthKey } from '@tcpcopy/copier/daemon';
import { describeInterceptConfig, parseInterceptArgs } from '@tcpcopy/intercept';

const COPIER = ['-x', '80-10.0.0.3:80', '-s', '10.0.0.2'];
const FILTER = ['-F', 'tcp and src port 80'];

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'tcpcopy-auth-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function keyFile(dir: string, contents: Buffer, mode = 0o600, name = 'auth.key'): string {
  const path = join(dir, name);
  writeFileSync(path, contents);
  chmodSync(path, mode);
  return path;
}

function refused(fn: () => unknown, code: string, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.equal(err.flag, '--auth-file');
    assert.match(err.message, pattern);
    assert.ok(!err.message.includes('\n'), 'one line');
    return true;
  });
}

describe('--auth-file', () => {
  test('both daemons take it, on the command line or as authFile in --config; the config holds the path only', (t) => {
    const dir = tempDir(t);
    const path = keyFile(dir, Buffer.alloc(32, 7));
    assert.equal(parseCopierArgs([...COPIER, '--auth-file', path]).authFile, path);
    assert.equal(parseInterceptArgs([...FILTER, '--auth-file', path]).authFile, path);
    const settings = join(dir, 'intercept.yaml');
    writeFileSync(settings, `filter: tcp and src port 80\nauthFile: ${path}\n`);
    assert.equal(parseInterceptArgs(['--config', settings]).authFile, path);
    assert.equal(parseCopierArgs(COPIER).authFile, undefined);
  });

  test('a private file of 16 bytes or more is the key, its bytes as they are', (t) => {
    const dir = tempDir(t);
    for (const [secret, mode] of [
      [Buffer.alloc(16, 1), 0o600],
      [Buffer.from('a passphrase of some length\n'), 0o400],
      [Buffer.alloc(MAX_AUTH_FILE_BYTES, 2), 0o600],
    ] as const) {
      const key = readAuthFile(keyFile(dir, secret, mode));
      assert.ok(key instanceof ControlAuthKey);
      const nonce = Buffer.alloc(32);
      assert.deepEqual(key.proof('copier', nonce, nonce), new ControlAuthKey(secret).proof('copier', nonce, nonce));
    }
    assert.equal(readAuthFile(undefined), undefined);
  });

  test('refused, one line naming the file: readable by group or others, short, long, missing, not a file', (t) => {
    const dir = tempDir(t);
    const key = Buffer.alloc(32, 9);
    for (const mode of [0o644, 0o640, 0o604, 0o620, 0o660, 0o602]) {
      refused(() => readAuthFile(keyFile(dir, key, mode)), ErrorCode.BAD_FLAG, /mode 06\d\d.*chmod 600/);
    }
    refused(() => readAuthFile(keyFile(dir, Buffer.alloc(15))), ErrorCode.BAD_FLAG, /15 bytes: .*at least 16/);
    refused(() => readAuthFile(keyFile(dir, Buffer.alloc(0))), ErrorCode.BAD_FLAG, /0 bytes/);
    refused(
      () => readAuthFile(keyFile(dir, Buffer.alloc(MAX_AUTH_FILE_BYTES + 1))),
      ErrorCode.BAD_FLAG,
      /not a key file/,
    );
    refused(() => readAuthFile(join(dir, 'nosuch')), ErrorCode.BAD_FLAG, /"[^"]*nosuch": cannot read it: ENOENT/);
    refused(() => readAuthFile(dir), ErrorCode.BAD_FLAG, /not a regular file/);
    refused(() => readAuthFile('/dev/null'), ErrorCode.BAD_FLAG, /not a regular file/);
  });

  test('tcpcopy: --protocol legacy cannot authenticate, so it conflicts with --auth-file', (t) => {
    const path = keyFile(tempDir(t), Buffer.alloc(32, 3));
    refused(() => readCopierAuthKey(path, 'legacy'), ErrorCode.FLAG_CONFLICT, /--protocol legacy/);
    assert.ok(readCopierAuthKey(path, 'auto') instanceof ControlAuthKey);
    assert.ok(readCopierAuthKey(path, 'native') instanceof ControlAuthKey);
    assert.equal(readCopierAuthKey(undefined, 'legacy'), undefined);
  });
});

describe('intercept --allow', () => {
  test('addresses and networks, shown as given; absent means any source', () => {
    const c = parseInterceptArgs([...FILTER, '--allow', '10.0.0.5,192.168.0.0/16,0.0.0.0/0']);
    assert.deepEqual(c.allow, [
      { address: 0x0a000005, prefixLength: 32 },
      { address: 0xc0a80000, prefixLength: 16 },
      { address: 0, prefixLength: 0 },
    ]);
    assert.ok(Object.isFrozen(c.allow));
    assert.deepEqual(describeInterceptConfig(c).allow, ['10.0.0.5', '192.168.0.0/16', '0.0.0.0/0']);
    assert.equal(parseInterceptArgs(FILTER).allow, undefined);
  });

  test('refused, one line naming the entry', () => {
    const cases: [string, string, RegExp][] = [
      ['10.0.0.5/8', ErrorCode.BAD_ADDRESS, /--allow "10.0.0.5\/8": expected a network address: .*10.0.0.0\/8/],
      ['10.0.0.0/33', ErrorCode.BAD_ADDRESS, /prefix length from 0 to 32/],
      ['10.0.0.0/', ErrorCode.BAD_ADDRESS, /prefix length/],
      ['10.0.0.0/08x', ErrorCode.BAD_ADDRESS, /prefix length/],
      ['10.0.0/8', ErrorCode.BAD_ADDRESS, /IPv4 address or network/],
      ['10.0.0.1,', ErrorCode.BAD_ADDRESS, /--allow "": /],
      ['10.0.0.1/32,10.0.0.1', ErrorCode.FLAG_CONFLICT, /--allow "10.0.0.1": expected each source once/],
    ];
    for (const [value, code, pattern] of cases) {
      assert.throws(
        () => parseInterceptArgs([...FILTER, '--allow', value]),
        (err: unknown) => err instanceof ConfigError && err.code === code && pattern.test(err.message),
        value,
      );
    }
  });
});
