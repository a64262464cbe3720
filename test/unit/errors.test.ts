import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ConfigError,
  ControlError,
  createError,
  ErrorCode,
  isTcpcopyError,
  PacketIoError,
  RuntimeError,
  TcpcopyError,
} from '@tcpcopy/common';

// test/dist/unit/errors.test.js -> repository root.
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const ALL_CODES = Object.values(ErrorCode);
const DOCS = readFileSync(join(ROOT, 'docs/errors.md'), 'utf8');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Every 'TCPCOPY_ERR_*' string literal in packages/<pkg>/src/**.ts, with where it was seen. */
function codesInSources(): Map<string, string> {
  const found = new Map<string, string>();
  const packagesDir = join(ROOT, 'packages');
  for (const pkg of readdirSync(packagesDir)) {
    let files: string[];
    try {
      files = sourceFiles(join(packagesDir, pkg, 'src'));
    } catch {
      continue; // a package without src/
    }
    for (const file of files) {
      for (const m of readFileSync(file, 'utf8').matchAll(/['"`](TCPCOPY_ERR_[A-Z0-9_]+)['"`]/g)) {
        found.set(m[1]!, file.slice(ROOT.length));
      }
    }
  }
  return found;
}

describe('error registry', () => {
  test('codes are unique, well-formed, and keyed by their suffix', () => {
    assert.equal(new Set(ALL_CODES).size, ALL_CODES.length);
    for (const [key, code] of Object.entries(ErrorCode)) {
      assert.match(code, /^TCPCOPY_ERR_[A-Z0-9_]+$/);
      assert.equal(code, `TCPCOPY_ERR_${key}`);
    }
  });

  test('every code is raised somewhere', () => {
    const raised = new Set<string>();
    for (const pkg of readdirSync(join(ROOT, 'packages'))) {
      let files: string[];
      try {
        files = sourceFiles(join(ROOT, 'packages', pkg, 'src'));
      } catch {
        continue;
      }
      for (const file of files) {
        if (file.endsWith('/common/src/errors.ts')) continue;
        for (const m of readFileSync(file, 'utf8').matchAll(/\bErrorCode\.([A-Z0-9_]+)/g))
          raised.add(ErrorCode[m[1] as keyof typeof ErrorCode]);
      }
    }
    const unused = ALL_CODES.filter((code) => !raised.has(code));
    assert.deepEqual(unused, [], 'registered but never raised: raise them or remove them');
  });

  test('every code is documented in docs/errors.md under its own heading', () => {
    const missing = ALL_CODES.filter((code) => !new RegExp(`^#+ \`?${code}\`?\\s*$`, 'm').test(DOCS));
    assert.deepEqual(missing, [], `codes without a heading in docs/errors.md: ${missing.join(', ')}`);
  });

  test('docs/errors.md documents no code that is not in the registry', () => {
    const documented = new Set(DOCS.match(/TCPCOPY_ERR_[A-Z0-9_]+/g) ?? []);
    const stale = [...documented].filter((code) => !(ALL_CODES as string[]).includes(code));
    assert.deepEqual(stale, [], `codes in docs/errors.md but not in ErrorCode: ${stale.join(', ')}`);
  });

  test('every code used in packages/*/src is registered (and so documented)', () => {
    const used = codesInSources();
    assert.ok(used.size >= ALL_CODES.length, 'the scan finds the registry itself');
    const unregistered = [...used].filter(([code]) => !(ALL_CODES as string[]).includes(code));
    assert.deepEqual(
      unregistered.map(([code, file]) => `${code} (${file})`),
      [],
      'codes used in source but missing from ErrorCode in packages/common/src/errors.ts',
    );
  });

  test('createError builds the family class of each code', () => {
    const families = [ConfigError, ControlError, PacketIoError, RuntimeError];
    const seen = new Set<unknown>();
    for (const code of ALL_CODES) {
      const cause = new Error('root cause');
      const err = createError(code, `message for ${code}`, { cause });
      assert.ok(err instanceof TcpcopyError && err instanceof Error);
      const family = families.filter((F) => err instanceof F);
      assert.equal(family.length, 1, `${code} belongs to exactly one family`);
      seen.add(family[0]);
      assert.equal(err.code, code);
      assert.equal(err.name, family[0]!.name);
      assert.equal(err.message, `message for ${code}`);
      assert.equal(err.cause, cause);
      assert.ok(isTcpcopyError(err, code));
    }
    assert.equal(seen.size, families.length, 'every family has codes');
  });

  test('families map the codes callers rely on', () => {
    assert.ok(createError(ErrorCode.BAD_FLAG, 'x') instanceof ConfigError);
    assert.ok(createError(ErrorCode.CONTROL_FRAME_TOO_LARGE, 'x') instanceof ControlError);
    assert.ok(createError(ErrorCode.CONTROL_MALFORMED, 'x') instanceof ControlError);
    assert.ok(createError(ErrorCode.CONTROL_VERSION, 'x') instanceof ControlError);
    assert.ok(createError(ErrorCode.CAPTURE_OPEN, 'x') instanceof PacketIoError);
    assert.ok(createError(ErrorCode.RAW_SOCKET, 'x') instanceof PacketIoError);
    assert.ok(createError(ErrorCode.NO_INTERCEPT, 'x') instanceof RuntimeError);
    assert.ok(createError(ErrorCode.PIDFILE, 'x') instanceof RuntimeError);
  });

  test('ConfigError carries the flag; isTcpcopyError tells ours from others', () => {
    const err = new ConfigError(ErrorCode.BAD_FLAG, '-n "0": expected 1..1023', '-n');
    assert.equal(err.flag, '-n');
    assert.ok(isTcpcopyError(err));
    assert.ok(!isTcpcopyError(err, ErrorCode.MISSING_FLAG));
    assert.ok(!isTcpcopyError(new Error('plain')));
    assert.ok(!isTcpcopyError({ code: ErrorCode.BAD_FLAG }));
  });

  test('an unregistered code is refused', () => {
    assert.throws(() => createError('TCPCOPY_ERR_NOPE' as ErrorCode, 'x'), TypeError);
  });
});
