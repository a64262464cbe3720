import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import {
  addressProblem,
  AddressUse,
  CliExit,
  ConfigError,
  createError,
  deepFreeze,
  ErrorCode,
  ExitCode,
  ipRanges,
  ipv4ToString,
  parseAddrPort,
  parsePort,
  parseRawArgs,
  runCli,
  type CliConfig,
  type CliSpec,
} from '@tcpcopy/common';
import { fakeIo } from './fake-io.js';

describe('value parsers', () => {
  test('parsePort is strict decimal 1..65535', () => {
    assert.equal(parsePort('1'), 1);
    assert.equal(parsePort('65535'), 65535);
    for (const bad of ['0', '65536', '', '+1', '-1', '1.0', '0x50', '1e2', ' 80', '080000']) {
      assert.equal(parsePort(bad), undefined, bad);
    }
    fc.assert(fc.property(fc.integer({ min: 1, max: 65535 }), (n) => parsePort(String(n)) === n));
  });

  test('parseAddrPort: ip:port, or ip with a default port', () => {
    assert.deepEqual(parseAddrPort('10.0.0.2:80'), { ip: 0x0a000002, port: 80 });
    assert.deepEqual(parseAddrPort('10.0.0.2', 36524), { ip: 0x0a000002, port: 36524 });
    assert.equal(parseAddrPort('10.0.0.2'), undefined);
    assert.equal(parseAddrPort('10.0.0.2:'), undefined);
    assert.equal(parseAddrPort(':80'), undefined);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 1, max: 65535 }), (ip, port) => {
        assert.deepEqual(parseAddrPort(`${ipv4ToString(ip)}:${port}`), { ip, port });
      }),
    );
  });

  test('addressProblem per use', () => {
    const a = (s: string) => parseAddrPort(s, 1)!.ip;
    assert.equal(addressProblem(a('0.0.0.0'), AddressUse.Listen), undefined);
    assert.notEqual(addressProblem(a('0.0.0.0'), AddressUse.Peer), undefined);
    assert.equal(addressProblem(a('127.0.0.1'), AddressUse.Peer), undefined);
    assert.notEqual(addressProblem(a('127.0.0.1'), AddressUse.Source), undefined);
    for (const s of ['224.0.0.1', '239.255.255.255', '240.0.0.1', '255.255.255.255']) {
      for (const use of Object.values(AddressUse)) assert.notEqual(addressProblem(a(s), use), undefined, `${s} ${use}`);
    }
    assert.equal(addressProblem(a('223.255.255.255'), AddressUse.Source), undefined);
  });

  test('ipRanges collapses runs', () => {
    const ips = [0x0a000001, 0x0a000002, 0x0a000003, 0x0a000009, 0x0b000000];
    assert.deepEqual(ipRanges(ips), ['10.0.0.1-10.0.0.3', '10.0.0.9', '11.0.0.0']);
    assert.deepEqual(ipRanges([]), []);
  });

  test('deepFreeze freezes nested arrays and objects', () => {
    const o = deepFreeze({ a: [{ b: 1 }], c: { d: [2] } });
    assert.ok(Object.isFrozen(o) && Object.isFrozen(o.a) && Object.isFrozen(o.a[0]) && Object.isFrozen(o.c.d));
  });
});

type Key = 'count' | 'name' | 'on';
const SPEC: CliSpec<Key> = {
  name: 'demo',
  version: '1.2.3',
  summary: 'a demo',
  usage: '[options]',
  flags: {
    count: { short: '-n', long: '--count', value: '<n>', range: [1, 9], help: 'how many' },
    name: { long: '--name', value: '<s>', expected: 'a name', help: 'what' },
    on: { short: '-o', long: '--on', help: 'switch' },
  },
  unsupported: { '-q': 'queues are gone' },
};

describe('parseRawArgs', () => {
  test('raw values by key; absent flags are absent', () => {
    assert.deepEqual(parseRawArgs(SPEC, ['-n', '3', '-o']), { count: '3', on: true });
    assert.deepEqual(parseRawArgs(SPEC, []), {});
    assert.deepEqual(parseRawArgs(SPEC, ['--name=x', '--count', '2']), { name: 'x', count: '2' });
  });

  test('help lists ranges; version is "name version"', () => {
    assert.throws(
      () => parseRawArgs(SPEC, ['--help']),
      (e: unknown) => e instanceof CliExit && /how many \(1\.\.9\)/.test(e.output),
    );
    assert.throws(
      () => parseRawArgs(SPEC, ['--version']),
      (e: unknown) => e instanceof CliExit && e.output === 'demo 1.2.3\n',
    );
  });

  test('errors are ConfigErrors with one line', () => {
    const cases: [string[], string, string][] = [
      [['-z'], ErrorCode.UNKNOWN_FLAG, 'unknown option -z; see -h'],
      [['-q', '5'], ErrorCode.UNSUPPORTED_FLAG, '-q is not supported: queues are gone'],
      [['--name'], ErrorCode.BAD_FLAG, '--name needs a value: expected a name'],
      [['-n'], ErrorCode.BAD_FLAG, '-n needs a value: expected an integer from 1 to 9'],
      [
        ['-o', 'word'],
        ErrorCode.UNEXPECTED_ARGUMENT,
        'unexpected argument "word" (demo takes flags only; quote values with spaces); see -h',
      ],
    ];
    for (const [argv, code, message] of cases) {
      assert.throws(
        () => parseRawArgs(SPEC, argv),
        (e: unknown) => e instanceof ConfigError && e.code === code && e.message === message,
        argv.join(' '),
      );
    }
  });
});

const CONFIG: CliConfig = { logFile: undefined, logLevel: 'info' };

describe('runCli', () => {
  test('parse then main; success does not exit', async () => {
    const io = fakeIo(['a']);
    let seen: CliConfig | undefined;
    await runCli(
      'demo',
      () => CONFIG,
      (c) => {
        seen = c;
      },
      io,
    );
    assert.equal(seen, CONFIG);
    assert.deepEqual([io.code, io.out, io.err], [undefined, '', '']);
  });

  test('each notice of the config is a warning line on stderr before main runs', async () => {
    const io = fakeIo(['a']);
    const notices = ['-C 12 is above 11, as upstream it means 11', '-U 4 is accepted and does nothing here: x'];
    let errWhenMainRan = '';
    await runCli(
      'demo',
      () => ({ ...CONFIG, notices }),
      () => {
        errWhenMainRan = io.err;
      },
      io,
    );
    assert.equal(errWhenMainRan, notices.map((n) => `demo: warning: ${n}\n`).join(''));
    assert.equal(io.code, undefined);
  });

  test('main resolving with an exit status (--check) exits with it', async () => {
    for (const status of [ExitCode.Ok, ExitCode.Failure]) {
      const io = fakeIo([]);
      await runCli(
        'demo',
        () => CONFIG,
        () => status,
        io,
      );
      assert.deepEqual([io.code, io.err], [status, '']);
    }
  });

  test('context.reload parses the same argv again (SIGHUP re-reads --config)', async () => {
    const io = fakeIo(['--level', 'debug']);
    let parses = 0;
    const parse = (argv: string[]): CliConfig => {
      parses++;
      assert.deepEqual(argv, ['--level', 'debug']);
      return { logFile: undefined, logLevel: parses === 1 ? 'info' : 'warn' };
    };
    let reloaded: CliConfig | undefined;
    await runCli(
      'demo',
      parse,
      (_config, context) => {
        reloaded = context.reload();
      },
      io,
    );
    assert.equal(parses, 2);
    assert.equal(reloaded?.logLevel, 'warn');
    assert.equal(io.code, undefined);
  });

  test('CliExit prints to stdout and exits 0', async () => {
    const io = fakeIo([]);
    await runCli(
      'demo',
      () => {
        throw new CliExit('demo 1.0\n');
      },
      () => assert.fail('main must not run'),
      io,
    );
    assert.deepEqual([io.code, io.out, io.err], [ExitCode.Ok, 'demo 1.0\n', '']);
  });

  test('a ConfigError is one stderr line and exit 2', async () => {
    const io = fakeIo(['-n', '0']);
    const parse = (argv: string[]): CliConfig => {
      throw new ConfigError(ErrorCode.BAD_FLAG, `${argv[0]} "${argv[1]}": expected\nmore`, '-n');
    };
    await runCli('demo', parse, () => {}, io);
    assert.deepEqual([io.code, io.out, io.err], [ExitCode.Usage, '', 'demo: -n "0": expected more\n']);
  });

  test('a failing main is one line on stderr, code and advice, no stack, and exits 1', async () => {
    const io = fakeIo([]);
    await runCli(
      'demo',
      () => CONFIG,
      async () => {
        throw createError(ErrorCode.NO_INTERCEPT, 'no intercept reachable at 10.0.0.2:36524 within 3 s');
      },
      io,
    );
    assert.equal(io.code, ExitCode.Failure);
    assert.equal(
      io.err,
      'demo: TCPCOPY_ERR_NO_INTERCEPT: no intercept reachable at 10.0.0.2:36524 within 3 s ' +
        '(start intercept first, check -s and -p, or use -L to keep trying)\n',
    );
  });

  test('--log-level debug adds the stack under the line, with the stack of its cause', async () => {
    const io = fakeIo([]);
    const cause = new Error('socket(AF_PACKET): bad luck');
    await runCli(
      'demo',
      () => ({ ...CONFIG, logLevel: 'debug' as const }),
      () => {
        throw createError(ErrorCode.CAPTURE_OPEN, 'cannot capture on eth0: socket(AF_PACKET): bad luck', { cause });
      },
      io,
    );
    const [line, ...stack] = io.err.trimEnd().split('\n');
    assert.equal(line, 'demo: TCPCOPY_ERR_CAPTURE_OPEN: cannot capture on eth0: socket(AF_PACKET): bad luck');
    assert.match(stack[0]!, /^ {4}PacketIoError: cannot capture on eth0/);
    assert.ok(
      stack.every((l) => l.startsWith('    ')),
      io.err,
    );
    assert.ok(
      stack.some((l) => l === '    Error: socket(AF_PACKET): bad luck'),
      io.err,
    );
  });

  test('with -l the line goes to stderr and the failure, with its stack, to the log file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'runcli-'));
    try {
      const file = join(dir, 'demo.log');
      const io = fakeIo([]);
      await runCli(
        'demo',
        () => ({ logFile: file, logLevel: 'info' as const }),
        () => {
          throw new Error('boom');
        },
        io,
      );
      const line = 'demo: TCPCOPY_ERR_UNEXPECTED: boom (run with --log-level debug for the stack, and report it)';
      assert.deepEqual([io.code, io.err], [ExitCode.Failure, `${line}\n`]);
      const logged = JSON.parse(readFileSync(file, 'utf8')) as { level: number; msg: string; err: { stack: string } };
      assert.equal(logged.level, 60);
      assert.equal(logged.msg, line.slice('demo: '.length));
      assert.match(logged.err.stack, /^Error: boom\n {4}at /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('an unopenable log file still reports the failure on stderr', async () => {
    const io = fakeIo([]);
    await runCli(
      'demo',
      () => ({ logFile: '/nonexistent-dir/x.log', logLevel: 'info' as const }),
      () => {
        throw createError(ErrorCode.NO_INTERCEPT, 'none');
      },
      io,
    );
    assert.equal(io.code, ExitCode.Failure);
    assert.match(io.err, /^demo: TCPCOPY_ERR_NO_INTERCEPT: none \([^\n]+\)\n$/);
  });
});
