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
    for (const flag of ['-x', '-q', '-c']) {
      rejects([...FILTER, flag, '1'], ErrorCode.UNSUPPORTED_FLAG, flag, `${flag} is not supported: `);
    }
    rejects([...FILTER, '-O'], ErrorCode.UNKNOWN_FLAG, '-O', 'unknown option -O');
  });

  test("-D A-B: replies to A are the fake client B's", () => {
    const c = parseInterceptArgs([...FILTER, '-D', '172.17.0.1-10.1.0.5']);
    assert.deepEqual(c.containerMap, { from: parseIpv4('172.17.0.1'), to: parseIpv4('10.1.0.5') });
    assert.ok(Object.isFrozen(c.containerMap));
    assert.equal(describeInterceptConfig(c)['containerMap'], '172.17.0.1-10.1.0.5');
    assert.deepEqual(parseInterceptArgs([...FILTER, '--container-map=10.0.0.9-10.0.0.8']).containerMap, {
      from: parseIpv4('10.0.0.9'),
      to: parseIpv4('10.0.0.8'),
    });
    assert.equal(parseInterceptArgs(FILTER).containerMap, undefined);
    assert.equal(describeInterceptConfig(parseInterceptArgs(FILTER))['containerMap'], undefined);
  });

  test('-D refuses anything but two different unicast addresses, in one line', () => {
    for (const bad of [
      '172.17.0.1',
      '172.17.0.1-',
      '-10.1.0.5',
      '172.17.0.1-10.1.0.5-10.1.0.6',
      '172.17.0.1:80-10.1.0.5',
    ]) {
      rejects(
        [...FILTER, '-D', bad],
        ErrorCode.BAD_ADDRESS,
        '-D',
        `-D "${bad}": expected two IPv4 addresses A-B, e.g. 172.17.0.1-10.1.0.5`,
      );
    }
    rejects(
      [...FILTER, '-D', '0.0.0.0-10.1.0.5'],
      ErrorCode.BAD_ADDRESS,
      '-D',
      '-D "0.0.0.0-10.1.0.5": expected a unicast address',
    );
    rejects(
      [...FILTER, '-D', '10.1.0.5-127.0.0.1'],
      ErrorCode.BAD_ADDRESS,
      '-D',
      '-D "10.1.0.5-127.0.0.1": expected a routable address',
    );
    rejects(
      [...FILTER, '-D', '10.1.0.5-10.1.0.5'],
      ErrorCode.FLAG_CONFLICT,
      '-D',
      '-D "10.1.0.5-10.1.0.5": A and B are the same address',
    );
  });

  test('-D from a settings file: the key containerMap, checked as the flag', () => {
    const file = (map: string) => () => `filter: tcp and src port 8000\ncontainerMap: ${map}\n`;
    const c = parseInterceptArgs(['--config', 'i.yaml'], file('172.17.0.1-10.1.0.5'));
    assert.deepEqual(c.containerMap, { from: parseIpv4('172.17.0.1'), to: parseIpv4('10.1.0.5') });
    assert.throws(
      () => parseInterceptArgs(['--config', 'i.yaml'], file('10.1.0.5-10.1.0.5')),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.code === ErrorCode.FLAG_CONFLICT &&
        err.message.startsWith('-D "10.1.0.5-10.1.0.5": A and B are the same address') &&
        err.message.endsWith('(containerMap in i.yaml)'),
    );
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
      (e: unknown) =>
        e instanceof CliExit && /^intercept \d+\.\d+\.\d+\nNode\.js v\d+.*\nlibpcap version /.test(e.output),
    );
  });
});
