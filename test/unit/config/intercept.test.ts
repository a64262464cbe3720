import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CliExit, ConfigError, ErrorCode, parseIpv4, type ErrorCode as Code } from '@tcpcopy/common';
import { describeInterceptConfig, parseInterceptArgs } from '@tcpcopy/intercept';

const FILTER = ['-F', 'tcp and src port 8000'];

function rejects(argv: string[], code: Code, flag: string | undefined, prefix: string): void {
  assert.throws(
    () => parseInterceptArgs(argv),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
      assert.equal(err.code, code, err.message);
      assert.equal(err.flag, flag);
      assert.ok(err.message.startsWith(prefix) && !err.message.includes('\n'), err.message);
      return true;
    },
  );
}

describe('intercept command line', () => {
  test("the users' own line: -i eth0 -F 'tcp and src port 8000' -d", () => {
    const c = parseInterceptArgs(['-i', 'eth0', '-F', 'tcp and src port 8000', '-d']);
    assert.deepEqual(c.devices, ['eth0']);
    assert.equal(c.filter, 'tcp and src port 8000');
    assert.equal(c.daemonize, true);
    assert.equal(c.port, 36524);
    assert.equal(c.bindAddress, 0);
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.devices));
  });

  test('defaults', () => {
    const c = parseInterceptArgs(FILTER);
    assert.deepEqual(c.devices, []);
    assert.deepEqual(
      [c.logFile, c.pidFile, c.user, c.metrics, c.configFile, c.logLevel, c.daemonize, c.check],
      [undefined, undefined, undefined, undefined, undefined, 'info', false, false],
    );
  });

  test('-F is required, with a clear line', () => {
    const line =
      "-F is required: expected a pcap filter for the test server's replies, e.g. -F 'tcp and src port 8000'";
    rejects(['-i', 'eth0', '-d'], ErrorCode.MISSING_FLAG, '-F', line);
    rejects(['-F', ' '], ErrorCode.BAD_FLAG, '-F', '-F " ": expected ');
  });

  test('-p and -b', () => {
    const c = parseInterceptArgs([...FILTER, '-p', '4000', '-b', '10.0.0.2']);
    assert.equal(c.port, 4000);
    assert.equal(c.bindAddress, parseIpv4('10.0.0.2'));
    assert.equal(parseInterceptArgs([...FILTER, '-b', '0.0.0.0']).bindAddress, 0);
    for (const bad of ['0', '65536', 'x']) {
      rejects([...FILTER, '-p', bad], ErrorCode.BAD_FLAG, '-p', `-p "${bad}": expected an integer from 1 to 65535`);
    }
    for (const bad of ['10.0.0', 'localhost', '10.0.0.2:80']) {
      rejects([...FILTER, '-b', bad], ErrorCode.BAD_ADDRESS, '-b', `-b "${bad}": expected `);
    }
    rejects([...FILTER, '-b', '224.0.0.1'], ErrorCode.BAD_ADDRESS, '-b', '-b "224.0.0.1": expected a unicast address');
  });

  test('shared daemon flags', () => {
    const c = parseInterceptArgs(
      [
        ...FILTER,
        ...['-l', 'i.log', '-P', 'i.pid', '-u', 'nobody', '--log-level', 'warn'],
        ...['--metrics', '10.0.0.2:9101', '--config', 'c', '--check'],
      ],
      () => '{}',
    );
    assert.deepEqual(
      [c.logFile, c.pidFile, c.user, c.logLevel, c.configFile, c.check],
      ['i.log', 'i.pid', 'nobody', 'warn', 'c', true],
    );
    assert.deepEqual(c.metrics, { host: parseIpv4('10.0.0.2'), port: 9101 });
    assert.deepEqual(describeInterceptConfig(c)['metrics'], '10.0.0.2:9101');
  });

  test('upstream flags we do not take; tcpcopy-only flags are unknown here', () => {
    for (const flag of ['-x', '-q', '-D', '-c']) {
      rejects([...FILTER, flag, '1'], ErrorCode.UNSUPPORTED_FLAG, flag, `${flag} is not supported: `);
    }
    rejects([...FILTER, '-O'], ErrorCode.UNKNOWN_FLAG, '-O', 'unknown option -O');
  });

  test('-n and -s are accepted, each with a notice that it sets nothing here', () => {
    const c = parseInterceptArgs([...FILTER, '-n', '8', '-s', '65536']);
    assert.deepEqual(c.notices, [
      '-n 8 is accepted and does nothing here: batches follow the capture',
      '-s 65536 is accepted and does nothing here: the table of parked replies sizes itself',
    ]);
    assert.deepEqual(parseInterceptArgs(FILTER).notices, []);
    rejects([...FILTER, '-n', 'many'], ErrorCode.BAD_FLAG, '-n', '-n "many"');
  });

  test('an unquoted filter leaves stray words', () => {
    rejects(
      ['-F', 'tcp', 'and', 'src', 'port', '8000'],
      ErrorCode.UNEXPECTED_ARGUMENT,
      undefined,
      'unexpected argument "and"',
    );
  });

  test('-h and -v', () => {
    assert.throws(
      () => parseInterceptArgs(['-h']),
      (e: unknown) => e instanceof CliExit && e.output.startsWith('Usage: intercept -F'),
    );
    assert.throws(
      () => parseInterceptArgs(['-v']),
      (e: unknown) => e instanceof CliExit && /^intercept \d+\.\d+\.\d+\n$/.test(e.output),
    );
  });
});
