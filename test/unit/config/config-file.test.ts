import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { ConfigError, ErrorCode, LOG_LEVELS, parseConfigText, type ErrorCode as Code } from '@tcpcopy/common';
import { COPIER_FLAGS, parseCopierArgs, type CopierConfig } from '@tcpcopy/copier';
import { INTERCEPT_FLAGS, parseInterceptArgs } from '@tcpcopy/intercept';

const FILE = '/etc/tcpcopy.yaml';

/** tcpcopy with `--config FILE` whose text is `text`, and `flags` on the command line. */
function withFile(text: string, ...flags: string[]): CopierConfig {
  return parseCopierArgs(['--config', FILE, ...flags], (path) => {
    assert.equal(path, FILE);
    return text;
  });
}

/** A ConfigError with this code and exactly this one-line message (after "tcpcopy: "). */
function refuses(text: string, code: Code, message: string | RegExp, ...flags: string[]): void {
  assert.throws(
    () => withFile(text, ...flags),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
      assert.equal(err.code, code, err.message);
      assert.ok(!err.message.includes('\n'), `one line: ${err.message}`);
      if (typeof message === 'string') assert.equal(err.message, message);
      else assert.match(err.message, message);
      return true;
    },
  );
}

const USERS_LINE = '-x 8000-10.0.0.3:8000 -s 10.0.0.2 -c 192.168.1.x -n 2 -d'.split(' ');

describe('--config: the same settings as flags', () => {
  test('YAML, with the flag-table keys, gives what the command line gives', () => {
    const yaml = `# the production copy
transfer: 8000-10.0.0.3:8000
intercepts: 10.0.0.2
clientIps: 192.168.1.x
copies: 2
daemonize: true
`;
    assert.deepEqual(withFile(yaml), { ...parseCopierArgs(USERS_LINE), configFile: FILE });
  });

  test('JSON is read too (YAML 1.2 is a superset of JSON)', () => {
    const json = JSON.stringify({
      transfer: '8000-10.0.0.3:8000',
      intercepts: '10.0.0.2',
      clientIps: '192.168.1.x',
      copies: 2,
      daemonize: true,
    });
    assert.deepEqual(withFile(json), { ...parseCopierArgs(USERS_LINE), configFile: FILE });
  });

  test('list flags take a comma string or a list of strings', () => {
    const c = withFile(
      'transfer: [80-10.0.0.3:80, "443-10.0.0.3:443"]\nintercepts:\n  - 10.0.0.2\n  - 10.0.0.4:4000\nclientIps: [10.1.0.1, 10.1.0.2]\n',
    );
    assert.deepEqual(
      c,
      parseCopierArgs(
        [
          '-x',
          '80-10.0.0.3:80,443-10.0.0.3:443',
          '-s',
          '10.0.0.2,10.0.0.4:4000',
          '-c',
          '10.1.0.1,10.1.0.2',
          '--config',
          FILE,
        ],
        () => '',
      ),
    );
  });

  test('command-line flags override the file; the rest of the file still applies', () => {
    const c = withFile(
      'transfer: 80-10.0.0.3:80\nintercepts: 10.0.0.2\ncopies: 3\npercentage: 20\nlogLevel: warn\n',
      '-n',
      '5',
      '-s',
      '10.0.0.9',
    );
    assert.equal(c.copies, 5);
    assert.deepEqual(c.intercepts, [{ ip: 0x0a000009, port: 36524 }]);
    assert.equal(c.samplePercent, 20);
    assert.equal(c.logLevel, 'warn');
  });

  test('a switch set to false is as if absent; true sets it', () => {
    const base = 'transfer: 80-10.0.0.3:80\nintercepts: 10.0.0.2\n';
    assert.equal(withFile(`${base}onlySyn: false\n`).onlySyn, false);
    assert.equal(withFile(`${base}onlySyn: true\n`).onlySyn, true);
  });

  test('an empty file (or comments only) sets nothing', () => {
    assert.deepEqual(withFile('# nothing yet\n', ...USERS_LINE), { ...parseCopierArgs(USERS_LINE), configFile: FILE });
  });

  test('the result is deeply frozen', () => {
    const c = withFile('transfer: [80-10.0.0.3:80]\nintercepts: 10.0.0.2\n');
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.transfers) && Object.isFrozen(c.transfers[0]));
  });

  test('intercept reads its own keys', () => {
    const c = parseInterceptArgs(
      ['--config', 'i.yaml', '-p', '4000'],
      () =>
        'filter: tcp and src port 8000\ndevices: [eth0, eth1]\nport: 5000\nbind: 10.0.0.2\ncontainerMap: 172.17.0.1-10.1.0.5\n',
    );
    assert.equal(c.filter, 'tcp and src port 8000');
    assert.deepEqual(c.devices, ['eth0', 'eth1']);
    assert.equal(c.port, 4000);
    assert.equal(c.bindAddress, 0x0a000002);
    assert.deepEqual(c.containerMap, { from: 0xac110001, to: 0x0a010005 });
  });

  test('property: any mix of settings, given as flags or in a file, gives the same config', () => {
    const settings = fc.record(
      {
        copies: fc.integer({ min: 1, max: 1023 }),
        percentage: fc.integer({ min: 0, max: 100 }),
        sessionTimeout: fc.integer({ min: 1, max: 600 }),
        portShift: fc.integer({ min: 0, max: 1023 }),
        logLevel: fc.constantFrom(...LOG_LEVELS),
        onlySyn: fc.boolean(),
        noWait: fc.boolean(),
        clientIps: fc
          .uniqueArray(fc.integer({ min: 1, max: 254 }), { minLength: 1, maxLength: 4 })
          .map((hosts) => hosts.map((h) => `10.9.0.${h}`)),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(settings, (s) => {
        const flags = ['-x', '80-10.0.0.3:80', '-s', '10.0.0.2'];
        for (const [key, value] of Object.entries(s)) {
          const long = COPIER_FLAGS[key as keyof typeof COPIER_FLAGS].long;
          if (value === true) flags.push(long);
          else if (value !== false) flags.push(long, Array.isArray(value) ? value.join(',') : String(value));
        }
        const file = JSON.stringify({ transfer: '80-10.0.0.3:80', intercepts: ['10.0.0.2'], ...s });
        assert.deepEqual(
          withFile(file),
          parseCopierArgs([...flags, '--config', FILE], () => ''),
        );
      }),
    );
  });
});

describe('--config: refused at the edge (TCPCOPY_ERR_CONFIG_FILE, exit 2)', () => {
  test('an unknown key, with the key the user probably meant', () => {
    const cases: [string, string][] = [
      ['intercept', 'intercepts'], // the long flag's spelling
      ['log-file', 'logFile'],
      ['x', 'transfer'], // the short flag's letter
      ['-n', 'copies'],
      ['LogLevel', 'logLevel'],
      ['coppies', 'copies'], // a typo
    ];
    for (const [key, meant] of cases) {
      refuses(
        `${key}: 1\n`,
        ErrorCode.CONFIG_FILE,
        `--config ${FILE}: unknown key "${key}" (did you mean "${meant}"?)`,
      );
    }
  });

  test('an unknown key nothing resembles lists the keys', () => {
    refuses(
      'colour: blue\n',
      ErrorCode.CONFIG_FILE,
      /^--config \/etc\/tcpcopy\.yaml: unknown key "colour" \(keys: transfer, intercepts, .*, logLevel, metrics\)$/,
    );
  });

  test('configFile and check are for the command line only', () => {
    refuses(
      'configFile: other.yaml\n',
      ErrorCode.CONFIG_FILE,
      `--config ${FILE}: configFile: --config is for the command line only`,
    );
    refuses('check: true\n', ErrorCode.CONFIG_FILE, `--config ${FILE}: check: --check is for the command line only`);
  });

  test('wrong types name the key, what it takes and what it got', () => {
    const cases: [string, string][] = [
      ['copies: "2"', 'copies: expected a number: an integer from 1 to 1023, got the string "2"'],
      ['copies:', 'copies: expected a number: an integer from 1 to 1023, got nothing'],
      ['copies: [2]', 'copies: expected a number: an integer from 1 to 1023, got a list'],
      ['onlySyn: yes', 'onlySyn: expected true or false (-O is a switch), got the string "yes"'],
      ['onlySyn: 1', 'onlySyn: expected true or false (-O is a switch), got number 1'],
      ['logFile: 5', 'logFile: expected a string: a file path, got number 5'],
      ['logLevel: {a: 1}', 'logLevel: expected a string: one of trace, debug, info, warn, error, fatal, got a mapping'],
      [
        'intercepts: [10.0.0.2, 5]',
        'intercepts: expected a string or a list of strings: ip[:port][,...], e.g. 10.0.0.2 or 10.0.0.2:36524, got a list',
      ],
      [
        'intercepts: []',
        'intercepts: expected a string or a list of strings: ip[:port][,...], e.g. 10.0.0.2 or 10.0.0.2:36524, got an empty list',
      ],
      ['filter: true', 'filter: expected a string: a pcap filter expression, got boolean true'],
    ];
    for (const [text, message] of cases) refuses(`${text}\n`, ErrorCode.CONFIG_FILE, `--config ${FILE}: ${message}`);
  });

  test('a file that is not a mapping', () => {
    refuses(
      '- 80-10.0.0.3:80\n',
      ErrorCode.CONFIG_FILE,
      `--config ${FILE}: expected a mapping of settings (key: value), got a list`,
    );
    refuses(
      'copies\n',
      ErrorCode.CONFIG_FILE,
      `--config ${FILE}: expected a mapping of settings (key: value), got the string "copies"`,
    );
  });

  test('syntax errors and duplicate keys, with the line', () => {
    refuses(
      'copies: 2\ncopies: 3\n',
      ErrorCode.CONFIG_FILE,
      /^--config \/etc\/tcpcopy\.yaml: not valid YAML or JSON at line 2, column 1: .*unique/,
    );
    refuses(
      '{"copies": 2,\n',
      ErrorCode.CONFIG_FILE,
      /^--config \/etc\/tcpcopy\.yaml: not valid YAML or JSON at line \d+, column \d+: /,
    );
    refuses(
      'transfer: [80\n  copies: 2\n',
      ErrorCode.CONFIG_FILE,
      /^--config \/etc\/tcpcopy\.yaml: not valid YAML or JSON at line \d+/,
    );
  });

  test('an unreadable file: the reason without repeating the path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'config-file-'));
    try {
      const missing = join(dir, 'missing.yaml');
      assert.throws(
        () => parseCopierArgs(['--config', missing]),
        (err: unknown) =>
          err instanceof ConfigError &&
          err.code === ErrorCode.CONFIG_FILE &&
          err.message === `--config ${missing}: cannot read it: ENOENT: no such file or directory`,
      );
      assert.throws(
        () => parseCopierArgs(['--config', dir]),
        (err: unknown) =>
          err instanceof ConfigError &&
          err.message === `--config ${dir}: cannot read it: EISDIR: illegal operation on a directory`,
      );
      const real = join(dir, 't.yaml');
      writeFileSync(real, 'transfer: 80-10.0.0.3:80\nintercepts: 10.0.0.2\n');
      assert.equal(parseCopierArgs(['--config', real]).transfers.length, 1, 'the default reader reads the file');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('parseConfigText is the pure part: raw values as the command line gives them', () => {
    assert.deepEqual(
      parseConfigText(COPIER_FLAGS, 'copies: 2\nonlySyn: true\nnoWait: false\nclientIps: [a, b]\n', 'f'),
      {
        copies: '2',
        onlySyn: true,
        clientIps: 'a,b',
      },
    );
  });
});

describe('--config: values the flag refuses keep its code and say where they came from', () => {
  test('a bad value from the file', () => {
    refuses(
      'transfer: 80-10.0.0.3:80\nintercepts: 10.0.0.2\ncopies: 0\n',
      ErrorCode.BAD_FLAG,
      `-n "0": expected an integer from 1 to 1023 (copies in ${FILE})`,
    );
    refuses(
      'transfer: 80-10.0.0.3\nintercepts: 10.0.0.2\n',
      ErrorCode.BAD_ADDRESS,
      `-x "80-10.0.0.3": expected [srcIP:]srcPort-dstIP:dstPort[,...] (transfer in ${FILE})`,
    );
    refuses(
      'transfer: 80-10.0.0.3:80\nintercepts: 10.0.0.2\ncopies: 1.5\n',
      ErrorCode.BAD_FLAG,
      `-n "1.5": expected an integer from 1 to 1023 (copies in ${FILE})`,
    );
    refuses(
      'transfer: 80-10.0.0.3:80\nintercepts: 10.0.0.2\nlogLevel: verbose\n',
      ErrorCode.BAD_FLAG,
      `--log-level "verbose": expected one of trace, debug, info, warn, error, fatal (logLevel in ${FILE})`,
    );
  });

  test('a conflict between the file and a flag names the side at fault', () => {
    refuses(
      'transfer: 80-10.0.0.3:80\nintercepts: 10.0.0.2\nkeepaliveTimeout: 100\n',
      ErrorCode.FLAG_CONFLICT,
      `-k "100": expected at least the session timeout -t (600 s) (keepaliveTimeout in ${FILE})`,
    );
    refuses(
      'transfer: 80-10.0.0.3:80\nintercepts: 10.0.0.2\nsessionTimeout: 900\n',
      ErrorCode.FLAG_CONFLICT,
      '-k "700": expected at least the session timeout -t (900 s)',
      '-k',
      '700',
    );
  });

  test("a missing required setting is the flag's usual line", () => {
    refuses('intercepts: 10.0.0.2\n', ErrorCode.MISSING_FLAG, /^-x is required: expected /);
  });

  test('a bad value on the command line is not blamed on the file', () => {
    refuses(
      'transfer: 80-10.0.0.3:80\nintercepts: 10.0.0.2\ncopies: 3\n',
      ErrorCode.BAD_FLAG,
      '-n "0": expected an integer from 1 to 1023',
      '-n',
      '0',
    );
  });
});

test('docs/flags.md lists every settings key of both programs', () => {
  const docs = readFileSync(new URL('../../../../docs/flags.md', import.meta.url), 'utf8'); // test/dist/unit/config
  const section = /^## Settings file[^\n]*\n([\s\S]*?)^## /m.exec(docs)?.[1] ?? '';
  const keys = [...Object.keys(COPIER_FLAGS), ...Object.keys(INTERCEPT_FLAGS)].filter(
    (k) => k !== 'configFile' && k !== 'check',
  );
  const missing = keys.filter((k) => !section.includes(`\`${k}\``));
  assert.deepEqual(missing, [], 'keys missing from the "Settings file" section');
});
