import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CliExit, ConfigError, ErrorCode, ipv4ToString, parseIpv4, type ErrorCode as Code } from '@tcpcopy/common';
import { describeCopierConfig, parseCopierArgs, type CopierConfig } from '@tcpcopy/copier';

const REQUIRED = ['-x', '8000-10.0.0.3:8000', '-s', '10.0.0.2'];

function parse(...args: string[]): CopierConfig {
  return parseCopierArgs([...REQUIRED, ...args]);
}

function ip(s: string): number {
  const n = parseIpv4(s);
  assert.ok(n !== undefined, s);
  return n;
}

/**
 * Asserts a ConfigError with this code, naming this flag, whose one-line message matches
 * `message` (a RegExp, or a string the message must start with).
 */
function rejects(argv: string[], code: Code, flag: string | undefined, message?: RegExp | string): void {
  assert.throws(
    () => parseCopierArgs(argv),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
      assert.equal(err.code, code, err.message);
      assert.equal(err.flag, flag, err.message);
      assert.ok(!err.message.includes('\n'), 'one line');
      if (message instanceof RegExp) assert.match(err.message, message);
      else if (message !== undefined) assert.ok(err.message.startsWith(message), err.message);
      return true;
    },
  );
}

/** `flag value` after the required flags is refused with `flag "value": expected ...`. */
function rejectsValue(flag: string, value: string, code: Code = ErrorCode.BAD_FLAG): void {
  rejects([...REQUIRED, flag, value], code, flag, `${flag} ${JSON.stringify(value)}: expected `);
}

describe("tcpcopy command line: the users' own lines", () => {
  test('-x 8000-10.0.0.3:8000 -s 10.0.0.2 -c 192.168.1.x -n 2 -d', () => {
    const c = parseCopierArgs('-x 8000-10.0.0.3:8000 -s 10.0.0.2 -c 192.168.1.x -n 2 -d'.split(' '));
    assert.deepEqual(c.transfers, [
      { matchIp: undefined, matchPort: 8000, targetIp: ip('10.0.0.3'), targetPort: 8000 },
    ]);
    assert.deepEqual(c.intercepts, [{ ip: ip('10.0.0.2'), port: 36524 }]);
    assert.equal(c.fakeClientIps.length, 254);
    assert.equal(ipv4ToString(c.fakeClientIps[0]!), '192.168.1.1');
    assert.equal(ipv4ToString(c.fakeClientIps[253]!), '192.168.1.254');
    assert.equal(c.copies, 2);
    assert.equal(c.daemonize, true);
  });

  test("defaults are upstream tcpcopy's", () => {
    const c = parseCopierArgs(REQUIRED);
    assert.equal(c.connectionsPerIntercept, 2);
    assert.deepEqual(c.fakeClientIps, []);
    assert.equal(c.copies, 1);
    assert.equal(c.portShift, 0);
    assert.equal(c.samplePercent, 100);
    assert.deepEqual(c.devices, []);
    assert.equal(c.filter, undefined);
    assert.equal(c.sessionTimeoutMs, 600_000);
    assert.equal(c.keepaliveTimeoutMs, 720_000);
    assert.equal(c.mtu, 1500);
    assert.equal(c.mss, 1460);
    assert.equal(c.fixedRttMs, undefined);
    assert.equal(c.memoryLimitBytes, 2048 * 1024 * 1024);
    assert.equal(c.captureBufferBytes, 64 * 1024 * 1024, '-B: 64 MB (upstream 16: see live-capture.ts)');
    assert.deepEqual(
      [c.onlySyn, c.noWait, c.keepRunningWithoutIntercepts, c.rampUp, c.daemonize, c.check],
      [false, false, false, false, false, false],
    );
    assert.equal(c.offline, undefined);
    assert.equal(c.logFile, undefined);
    assert.equal(c.logLevel, 'info');
    assert.equal(c.pidFile, undefined);
    assert.equal(c.user, undefined);
    assert.equal(c.metrics, undefined);
    assert.equal(c.configFile, undefined);
  });

  test('getopt habits: attached values, combined switches, last repeat wins, long aliases', () => {
    const c = parseCopierArgs(['-x8000-10.0.0.3:8000', '-s10.0.0.2', '-n3', '-dOW', '-n', '4', '--copies=5']);
    assert.equal(c.copies, 5);
    assert.deepEqual([c.daemonize, c.onlySyn, c.noWait], [true, true, true]);
    const d = parseCopierArgs(['--transfer', '80-10.0.0.3:80', '--intercept', '10.0.0.2', '--lonely', '--ramp-up']);
    assert.deepEqual([d.keepRunningWithoutIntercepts, d.rampUp], [true, true]);
  });

  test('the config is deeply frozen', () => {
    const c = parse('-c', '10.1.0.1', '--offline', 'a.pcap', '--metrics', '9100');
    for (const obj of [
      c,
      c.transfers,
      c.transfers[0],
      c.intercepts,
      c.intercepts[0],
      c.fakeClientIps,
      c.devices,
      c.offline,
      c.metrics,
    ]) {
      assert.ok(Object.isFrozen(obj));
    }
    assert.throws(() => {
      (c as { copies: number }).copies = 9;
    }, TypeError);
    assert.throws(() => (c.fakeClientIps as number[]).push(1), TypeError);
  });
});

describe('-x transfers', () => {
  test('port-only, with source IP, several entries', () => {
    const c = parseCopierArgs(['-x', '80-10.0.0.3:8080,10.0.0.1:443-10.0.0.4:443', '-s', '10.0.0.2']);
    assert.deepEqual(c.transfers, [
      { matchIp: undefined, matchPort: 80, targetIp: ip('10.0.0.3'), targetPort: 8080 },
      { matchIp: ip('10.0.0.1'), matchPort: 443, targetIp: ip('10.0.0.4'), targetPort: 443 },
    ]);
  });

  test('0.0.0.0 as source IP means any (as upstream)', () => {
    assert.equal(parseCopierArgs(['-x', '0.0.0.0:80-10.0.0.3:80', '-s', '10.0.0.2']).transfers[0]!.matchIp, undefined);
  });

  test('same port on source and target without a source IP is fine (capture matches this host addresses, never the target)', () => {
    assert.equal(parseCopierArgs(['-x', '8000-10.0.0.3:8000', '-s', '10.0.0.2']).transfers.length, 1);
  });

  test("the brief's example of a bad -x gives the documented line", () => {
    rejects(
      ['-x', '8000-10.0.0.3', '-s', '10.0.0.2'],
      ErrorCode.BAD_ADDRESS,
      '-x',
      /^-x "8000-10\.0\.0\.3": expected \[srcIP:\]srcPort-dstIP:dstPort\[,\.\.\.\]$/,
    );
  });

  for (const bad of [
    '',
    '8000',
    '8000-',
    '-10.0.0.3:80',
    '8000-10.0.0.3:0',
    '8000-10.0.0.3:65536',
    '0-10.0.0.3:80',
    '8000-10.0.0.3:80-1',
    'a-10.0.0.3:80',
    '8000-10.0.0.300:80',
    '8000-010.0.0.3:80',
    '8000-10.0.0:80',
    '8000-10.0.0.3:+80',
    '1.2.3.4:-10.0.0.3:80',
    '80-10.0.0.3:80,',
    ' 80-10.0.0.3:80',
  ]) {
    test(`rejects ${JSON.stringify(bad)}`, () => {
      rejects(['-x', bad, '-s', '10.0.0.2'], ErrorCode.BAD_ADDRESS, '-x', /^-x ".*": expected /);
    });
  }

  test('rejects unusable targets and sources', () => {
    for (const bad of ['80-0.0.0.0:80', '80-224.0.0.1:80', '80-255.255.255.255:80', '239.1.1.1:80-10.0.0.3:80']) {
      rejects(['-x', bad, '-s', '10.0.0.2'], ErrorCode.BAD_ADDRESS, '-x', /unicast/);
    }
  });

  test('link-layer sending: -o with each entry naming its next hop, @MAC as upstream writes it', () => {
    const c = parseCopierArgs(['-x', '80-10.0.0.3:80@00:11:22:33:44:5F', '-s', '10.0.0.2', '-o', 'eth0']);
    assert.equal(c.outputDevice, 'eth0');
    assert.deepEqual(c.transfers[0], {
      matchIp: undefined,
      matchPort: 80,
      targetIp: ip('10.0.0.3'),
      targetPort: 80,
      nextHopMac: '00:11:22:33:44:5f',
    });
    // Upstream's --pcap-send form: both MACs, any separator (a '-' too).
    const both = parseCopierArgs([
      '-x',
      '10.0.0.9:80@aa-bb-cc-dd-ee-ff-10.0.0.3:8080@66.77.88.99.aa.bb',
      '-s',
      '10.0.0.2',
      '-o',
      'eth1',
    ]);
    assert.deepEqual(
      { ...both.transfers[0] },
      {
        matchIp: ip('10.0.0.9'),
        matchPort: 80,
        targetIp: ip('10.0.0.3'),
        targetPort: 8080,
        sourceMac: 'aa:bb:cc:dd:ee:ff',
        nextHopMac: '66:77:88:99:aa:bb',
      },
    );
    assert.equal(parse().outputDevice, undefined);
  });

  test('link-layer sending: MACs and -o go together, one set of MACs per test server', () => {
    const x = (value: string, ...more: string[]) => ['-x', value, '-s', '10.0.0.2', ...more];
    rejects(x('80-10.0.0.3:80@00:11:22:33:44:55'), ErrorCode.FLAG_CONFLICT, '-x', /without -o/);
    rejects(x('80-10.0.0.3:80', '-o', 'eth0'), ErrorCode.FLAG_CONFLICT, '-x', /next hop's MAC with -o eth0/);
    rejects(
      x('80-10.0.0.3:80@00:11:22:33:44:55,81-10.0.0.3:81@00:11:22:33:44:66', '-o', 'eth0'),
      ErrorCode.FLAG_CONFLICT,
      '-x',
      /same MAC addresses/,
    );
    for (const bad of ['80-10.0.0.3:80@00:11:22:33:44', '80-10.0.0.3:80@00:11:22:33:44:5g', '80-10.0.0.3:80@']) {
      rejects(x(bad, '-o', 'eth0'), ErrorCode.BAD_ADDRESS, '-x');
    }
    rejects(x('80-10.0.0.3:80@00:11:22:33:44:55', '-o', 'eth0,eth1'), ErrorCode.BAD_FLAG, '-o');
  });

  test('a target equal to the captured address is a loop', () => {
    rejects(['-x', '10.0.0.3:80-10.0.0.3:80', '-s', '10.0.0.2'], ErrorCode.FLAG_CONFLICT, '-x', /loop/);
    assert.equal(parseCopierArgs(['-x', '10.0.0.3:80-10.0.0.3:81', '-s', '10.0.0.2']).transfers.length, 1);
  });

  test('the same captured address twice is ambiguous', () => {
    rejects(
      ['-x', '80-10.0.0.3:80,80-10.0.0.4:80', '-s', '10.0.0.2'],
      ErrorCode.FLAG_CONFLICT,
      '-x',
      /"80-10\.0\.0\.4:80"/,
    );
  });

  test('-x is required, and reported before -s', () => {
    rejects(['-s', '10.0.0.2'], ErrorCode.MISSING_FLAG, '-x', /^-x is required: expected \[srcIP:\]/);
    rejects(['-x', 'bogus'], ErrorCode.BAD_ADDRESS, '-x');
  });
});

describe('-s intercepts, -p, -C', () => {
  test('ports default to -p; explicit ports stay', () => {
    const c = parse('-s', '10.0.0.2,10.0.0.5:4000', '-p', '5000');
    assert.deepEqual(c.intercepts, [
      { ip: ip('10.0.0.2'), port: 5000 },
      { ip: ip('10.0.0.5'), port: 4000 },
    ]);
  });

  test('-s is required', () => {
    rejects(['-x', '80-10.0.0.3:80'], ErrorCode.MISSING_FLAG, '-s', /^-s is required: expected ip\[:port\]/);
  });

  for (const bad of [
    '10.0.0',
    '10.0.0.2:',
    '10.0.0.2:0',
    '10.0.0.2:x',
    'host.example',
    '0.0.0.0',
    '10.0.0.2,,10.0.0.3',
  ]) {
    test(`-s rejects ${JSON.stringify(bad)}`, () =>
      rejects(['-x', '80-10.0.0.3:80', '-s', bad], ErrorCode.BAD_ADDRESS, '-s'));
  }

  test('-s rejects the same intercept twice (also via the default port)', () => {
    rejects(['-x', '80-10.0.0.3:80', '-s', '10.0.0.2,10.0.0.2:36524'], ErrorCode.FLAG_CONFLICT, '-s', /repeats/);
  });

  test('-p and -C ranges', () => {
    assert.equal(parse('-p', '1').intercepts[0]!.port, 1);
    assert.equal(parse('-p', '65535').intercepts[0]!.port, 65535);
    for (const bad of ['0', '65536', '-1', 'x', '1e3', '0x10', '']) rejectsValue('-p', bad);
    assert.equal(parse('-C', '1').connectionsPerIntercept, 1);
    assert.equal(parse('-C', '11').connectionsPerIntercept, 11);
    assert.deepEqual(parse('-C', '11').notices, []);
    // Upstream clamps: so do we, and say which value is used.
    const clamped = parse('-C', '12');
    assert.equal(clamped.connectionsPerIntercept, 11);
    assert.deepEqual(clamped.notices, ['-C 12 is above 11, as upstream it means 11']);
    for (const bad of ['0', '2.5']) rejectsValue('-C', bad);
  });

  test('--protocol: auto by default, native or legacy when named', () => {
    assert.equal(parseCopierArgs(REQUIRED).controlProtocol, 'auto');
    assert.equal(parse('--protocol', 'legacy').controlProtocol, 'legacy');
    assert.equal(parse('--protocol', 'native').controlProtocol, 'native');
    for (const bad of ['', 'Legacy', 'v6', 'c']) rejectsValue('--protocol', bad);
  });
});

describe('-c fake client addresses', () => {
  test('a.b.c.x expands to .1-.254 in order', () => {
    const c = parse('-c', '192.168.7.x');
    assert.equal(c.fakeClientIps.length, 254);
    assert.deepEqual(
      c.fakeClientIps,
      Array.from({ length: 254 }, (_, i) => ip(`192.168.7.${i + 1}`)),
    );
  });

  test('expansion skips -x target addresses', () => {
    const c = parseCopierArgs(['-x', '80-10.0.0.3:80,81-10.0.0.9:81', '-s', '10.0.0.2', '-c', '10.0.0.x']);
    assert.equal(c.fakeClientIps.length, 252);
    assert.ok(!c.fakeClientIps.includes(ip('10.0.0.3')));
    assert.ok(!c.fakeClientIps.includes(ip('10.0.0.9')));
    assert.ok(c.fakeClientIps.includes(ip('10.0.0.2')), 'the intercept address is not a target');
  });

  test('lists mix single addresses and ranges; repeats are dropped, first order kept', () => {
    const c = parse('-c', '10.9.0.5,10.8.0.X,10.9.0.5,10.8.0.7');
    assert.equal(c.fakeClientIps.length, 255);
    assert.equal(c.fakeClientIps[0], ip('10.9.0.5'));
    assert.equal(c.fakeClientIps[1], ip('10.8.0.1'));
  });

  test('an explicit -x target address is refused', () => {
    rejects(
      [...REQUIRED, '-c', '10.1.1.1,10.0.0.3'],
      ErrorCode.FLAG_CONFLICT,
      '-c',
      /^-c "10\.0\.0\.3": expected .*not also a -x target/,
    );
  });

  test('"*" is refused with a hint', () => {
    rejects([...REQUIRED, '-c', '10.0.0.*'], ErrorCode.BAD_ADDRESS, '-c', /use a\.b\.c\.x/);
  });

  for (const bad of [
    '10.0.0',
    '10.0.0.256',
    '10.0.x.1',
    '10.0.x',
    'x',
    '127.0.0.5',
    '0.0.0.0',
    '224.1.1.1',
    '1.2.3.4,',
    '300.1.1.x',
  ]) {
    test(`-c rejects ${JSON.stringify(bad)}`, () => rejects([...REQUIRED, '-c', bad], ErrorCode.BAD_ADDRESS, '-c'));
  }
});

describe('-n -f -r', () => {
  test('ranges', () => {
    assert.equal(parse('-n', '1023').copies, 1023);
    for (const bad of ['0', '1024', '-2', 'two']) rejectsValue('-n', bad);
    assert.equal(parse('-f', '0').portShift, 0);
    assert.equal(parse('-f', '1023').portShift, 1023, 'no wrap at 255');
    for (const bad of ['1024', '-1', '3.5']) rejectsValue('-f', bad);
  });

  test('-r: 1..99 sample, 0 and 100 or more mean all', () => {
    assert.equal(parse('-r', '1').samplePercent, 1);
    assert.equal(parse('-r', '99').samplePercent, 99);
    assert.equal(parse('-r', '0').samplePercent, 100);
    assert.equal(parse('-r', '100').samplePercent, 100);
    const above = parse('-r', '150');
    assert.equal(above.samplePercent, 100);
    assert.deepEqual(above.notices, ['-r 150 is above 100, as upstream it means 100']);
    for (const bad of ['-5', '50%']) rejectsValue('-r', bad);
  });
});

describe('-i -F', () => {
  test('devices and filter', () => {
    const c = parse('-i', 'eth0,ens3.100', '-F', 'not port 22');
    assert.deepEqual(c.devices, ['eth0', 'ens3.100']);
    assert.equal(c.filter, 'not port 22');
    assert.deepEqual(parse('-i', 'any').devices, ['any']);
  });

  test('bad devices and empty filters', () => {
    for (const bad of ['', 'a b', 'averyveryverylongname0', 'eth0;rm']) rejectsValue('-i', bad);
    rejects([...REQUIRED, '-i', 'eth0,'], ErrorCode.BAD_FLAG, '-i', '-i "": expected '); // the bad element is quoted
    rejects([...REQUIRED, '-i', 'eth0,eth0'], ErrorCode.FLAG_CONFLICT, '-i');
    for (const bad of ['', '  ']) rejectsValue('-F', bad);
  });

  test("upstream offline builds' -i FILE replays the file; a file name that is no file is refused", () => {
    const dir = mkdtempSync(join(tmpdir(), 'tcpcopy-i-'));
    try {
      const file = join(dir, 'capture.pcap');
      writeFileSync(file, '');
      const c = parse('-i', file, '-a', '2');
      assert.deepEqual(c.offline, { file, speedup: 2, gapSkipMs: 0, passes: 1 });
      assert.deepEqual(c.devices, []);
      rejects([...REQUIRED, '-i', file, '--offline', file], ErrorCode.FLAG_CONFLICT, '-i', /--offline names one too/);
      rejects([...REQUIRED, '-i', file, '-B', '8'], ErrorCode.FLAG_CONFLICT, '-B', /not to replaying a file/);
      for (const bad of [join(dir, 'missing.pcap'), '/tmp/x', 'eth0,a.pcapng', 'capture.pcap']) {
        rejects([...REQUIRED, '-i', bad], ErrorCode.BAD_FLAG, '-i', /an existing capture file to replay$/);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    assert.deepEqual(parse('-i', 'eth0.100').devices, ['eth0.100'], 'VLAN interfaces have dots');
    assert.equal(parse('-i', 'eth0').offline, undefined);
  });
});

describe('timers and sizes', () => {
  test('-t and -k (default -t + 120, at least -t)', () => {
    const c = parse('-t', '60');
    assert.equal(c.sessionTimeoutMs, 60_000);
    assert.equal(c.keepaliveTimeoutMs, 180_000);
    assert.equal(parse('-t', '60', '-k', '60').keepaliveTimeoutMs, 60_000);
    rejects(
      [...REQUIRED, '-t', '60', '-k', '59'],
      ErrorCode.FLAG_CONFLICT,
      '-k',
      /at least the session timeout -t \(60 s\)/,
    );
    // 0 means the default, as upstream.
    assert.equal(parse('-t', '0').sessionTimeoutMs, 600_000);
    assert.equal(parse('-t', '60', '-k', '0').keepaliveTimeoutMs, 180_000);
    for (const bad of ['-5', '10m', '2147484']) rejectsValue('-t', bad);
    for (const bad of ['x', '-1']) rejectsValue('-k', bad);
  });

  test('-M and -D (MSS at most MTU - 40; default follows a small MTU)', () => {
    assert.deepEqual([parse('-M', '9000').mtu, parse('-M', '9000').mss], [9000, 1460]);
    assert.deepEqual([parse('-M', '576').mtu, parse('-M', '576').mss], [576, 536]);
    assert.equal(parse('-D', '1400').mss, 1400);
    rejects([...REQUIRED, '-M', '1000', '-D', '1000'], ErrorCode.FLAG_CONFLICT, '-D', /at most 960/);
    for (const bad of ['575', '65536']) rejectsValue('-M', bad);
    for (const bad of ['535', '0']) rejectsValue('-D', bad);
  });

  test('-R fixed RTT (0 = measure) and -m memory', () => {
    assert.equal(parse('-R', '0').fixedRttMs, undefined);
    assert.equal(parse('-R', '25').fixedRttMs, 25);
    rejectsValue('-R', '60001');
    assert.equal(parse('-m', '512').memoryLimitBytes, 512 * 1024 * 1024);
    for (const bad of ['15', '0', '1.5']) rejectsValue('-m', bad);
  });

  test('-B capture ring in MB (upstream: the pcap buffer), live capture only', () => {
    assert.equal(parse('-B', '4').captureBufferBytes, 4 * 1024 * 1024);
    assert.equal(parse('--buffer', '1024').captureBufferBytes, 1024 * 1024 * 1024);
    for (const bad of ['0', '1025', '1.5', 'x']) rejectsValue('-B', bad);
    rejects(
      [...REQUIRED, '--offline', 'capture.pcap', '-B', '4'],
      ErrorCode.FLAG_CONFLICT,
      '-B',
      /applies to live capture/,
    );
  });

  test('switches -O -W -L -g', () => {
    const c = parse('-O', '-W', '-L', '-g');
    assert.deepEqual([c.onlySyn, c.noWait, c.keepRunningWithoutIntercepts, c.rampUp], [true, true, true, true]);
  });
});

describe('offline replay', () => {
  test('--offline with -a -I -T', () => {
    assert.deepEqual(parse('--offline', 'cap.pcap').offline, { file: 'cap.pcap', speedup: 1, gapSkipMs: 0, passes: 1 });
    assert.deepEqual(parse('--offline', 'cap.pcap', '-a', '4', '-I', '500', '-T', '3').offline, {
      file: 'cap.pcap',
      speedup: 4,
      gapSkipMs: 500,
      passes: 3,
    });
    for (const bad of ['0', 'fast']) rejects([...REQUIRED, '--offline', 'f', '-a', bad], ErrorCode.BAD_FLAG, '-a');
    rejects([...REQUIRED, '--offline', 'f', '-T', '0'], ErrorCode.BAD_FLAG, '-T');
    rejects([...REQUIRED, '--offline', ''], ErrorCode.BAD_FLAG, '--offline');
  });

  test('offline-only flags need --offline; live-only flags refuse it', () => {
    for (const flag of ['-a', '-I', '-T']) {
      rejects([...REQUIRED, flag, '2'], ErrorCode.FLAG_CONFLICT, flag, /only valid with --offline/);
    }
    rejects([...REQUIRED, '--offline', 'f', '-i', 'eth0'], ErrorCode.FLAG_CONFLICT, '-i', /live capture/);
    rejects([...REQUIRED, '--offline', 'f', '-F', 'tcp'], ErrorCode.FLAG_CONFLICT, '-F', /live capture/);
  });
});

describe('daemon flags', () => {
  test('-l -P -u --log-level --metrics --config --check', () => {
    const argv = [
      ...REQUIRED,
      '-l',
      '/var/log/t.log',
      '-P',
      '/run/t.pid',
      '-u',
      'nobody',
      '--log-level',
      'debug',
      '--metrics',
      '0.0.0.0:9100',
      '--config',
      '/etc/t.yaml',
      '--check',
    ];
    const c = parseCopierArgs(argv, () => '# an empty settings file\n');
    assert.equal(c.logFile, '/var/log/t.log');
    assert.equal(c.pidFile, '/run/t.pid');
    assert.equal(c.user, 'nobody');
    assert.equal(c.logLevel, 'debug');
    assert.deepEqual(c.metrics, { host: 0, port: 9100 });
    assert.equal(c.configFile, '/etc/t.yaml');
    assert.equal(c.check, true);
    assert.deepEqual(parse('--metrics', '9100').metrics, { host: ip('127.0.0.1'), port: 9100 });
    assert.equal(parse('-u', '65534').user, '65534');
  });

  test('bad values', () => {
    rejectsValue('-l', ' ');
    rejectsValue('-P', '');
    for (const bad of ['no body', '-x', 'a:b']) rejectsValue('-u', bad);
    rejectsValue('--log-level', 'verbose');
    for (const bad of ['0', 'x', '1.2.3.4', '1.2.3.4:0', '224.0.0.1:99']) {
      rejects([...REQUIRED, '--metrics', bad], ErrorCode.BAD_ADDRESS, '--metrics');
    }
  });
});

describe('what the parser refuses as a whole', () => {
  test('unknown options, with a suggestion for long ones', () => {
    rejects([...REQUIRED, '-z'], ErrorCode.UNKNOWN_FLAG, '-z', /^unknown option -z; see -h$/);
    rejects([...REQUIRED, '--copy', '2'], ErrorCode.UNKNOWN_FLAG, '--copy', /did you mean --copies\?/);
  });

  test('-H: the address loopback clients are copied from', () => {
    assert.equal(parse('-H', '10.0.0.9').loopbackSource, ip('10.0.0.9'));
    assert.equal(parse().loopbackSource, undefined);
    for (const bad of ['127.0.0.1', '0.0.0.0', '224.0.0.1', 'x']) {
      rejects([...REQUIRED, '-H', bad], ErrorCode.BAD_ADDRESS, '-H');
    }
  });

  test('-U is accepted with a notice; -S sets the capture snapshot length', () => {
    const c = parse('-U', '4');
    assert.deepEqual(c.notices, ['-U 4 is accepted and does nothing here: memory follows the sessions (-m caps it)']);
    rejectsValue('-U', 'x');
    assert.equal(parse().snapLength, 65535);
    assert.equal(parse('-S', '1500').snapLength, 1500);
    for (const bad of ['0', '65536']) rejectsValue('-S', bad);
    rejects(
      ['-x', '80-10.0.0.3:80', '-s', '10.0.0.2', '--offline', 'a.pcap', '-S', '96'],
      ErrorCode.FLAG_CONFLICT,
      '-S',
    );
  });

  test('a missing value names the flag and what it expects', () => {
    rejects([...REQUIRED, '-n'], ErrorCode.BAD_FLAG, '-n', /^-n needs a value: expected an integer from 1 to 1023$/);
  });

  test('positional arguments', () => {
    rejects([...REQUIRED, 'extra'], ErrorCode.UNEXPECTED_ARGUMENT, undefined, /unexpected argument/);
  });

  test('-h and -v are not errors: CliExit with the text', () => {
    assert.throws(
      () => parseCopierArgs(['-h']),
      (e: unknown) => e instanceof CliExit && /^Usage: tcpcopy -x /.test(e.output) && e.output.includes('--offline'),
    );
    assert.throws(
      () => parseCopierArgs(['-v']),
      (e: unknown) =>
        e instanceof CliExit && /^tcpcopy \d+\.\d+\.\d+\nNode\.js v\d+.*\nlibpcap version /.test(e.output),
    );
    assert.throws(() => parseCopierArgs(['-x', 'bad', '-h']), CliExit, '-h wins over bad values');
  });
});

test('describeCopierConfig renders addresses as text', () => {
  const argv = ['-x', '10.0.0.1:80-10.0.0.3:8080,81-10.0.0.3:81', '-s', '10.0.0.2', '-c', '10.1.1.x,10.2.0.1'];
  const d = describeCopierConfig(parseCopierArgs(argv));
  assert.deepEqual(d['transfers'], ['10.0.0.1:80-10.0.0.3:8080', '81-10.0.0.3:81']);
  assert.deepEqual(d['intercepts'], ['10.0.0.2:36524']);
  assert.deepEqual(d['fakeClientIps'], ['10.1.1.1-10.1.1.254', '10.2.0.1']);
});
