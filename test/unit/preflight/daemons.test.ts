// tcpcopy --check and intercept --check verdicts from facts: every line, and the exit status.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { checksExitCode, ErrorCode, ExitCode, type DaemonFacts } from '@tcpcopy/common';
import { copierChecks, parseCopierArgs, type CopierFacts } from '@tcpcopy/copier';
import { interceptChecks, parseInterceptArgs, type InterceptFacts } from '@tcpcopy/intercept';
import { hostFacts, line, offloadFeatures } from './facts.js';

const FILTER = 'tcp and ((dst port 8000 and dst host (10.0.0.1)))';
const NOTHING_WRONG: DaemonFacts = {
  user: undefined,
  logFile: undefined,
  pidFile: undefined,
  metrics: undefined,
  authFile: undefined,
};

function copierFacts(overrides: Partial<CopierFacts> = {}): CopierFacts {
  return {
    host: hostFacts(),
    filter: FILTER,
    captures: [{ device: 'lo' }, { device: 'eth0' }],
    offloads: [
      { device: 'lo', features: offloadFeatures({ txChecksum: true, tso: true, gso: true }) },
      { device: 'eth0', features: offloadFeatures() },
    ],
    offlineProblem: undefined,
    rawSocketProblem: undefined,
    interceptProblems: [undefined, undefined],
    diffLogProblem: undefined,
    daemon: NOTHING_WRONG,
    ...overrides,
  };
}

const COPIER_ARGS = ['-x', '8000-10.0.0.3:8000', '-s', '10.0.0.2,10.0.0.4:4000', '-n', '2', '--check'];
const COPIER = parseCopierArgs(COPIER_ARGS);

describe('tcpcopy --check', () => {
  test('everything in place: every line passes (the rp_filter note aside), exit 0', () => {
    const results = copierChecks(COPIER, copierFacts());
    assert.deepEqual(results.map(line).slice(0, -1), [
      'PASS configuration is valid (command line): 1 -x entry x2, 2 intercept(s)',
      'PASS running as root (raw sockets and capture need CAP_NET_RAW)',
      'PASS capture interfaces (no -i: every interface that is up): lo, eth0',
      `PASS capture opens on lo with filter "${FILTER}"`,
      `PASS capture opens on eth0 with filter "${FILTER}"`,
      'PASS offloads on lo: rx-checksum on, tx-checksum on, tso on, gso on, gro on; lro off. Nothing to set: merged packets are split to the MTU (-M 1500), checksums are computed afresh for every captured segment',
      'PASS offloads on eth0: rx-checksum on, gro on; tx-checksum, tso, gso, lro off. Nothing to set: merged packets are split to the MTU (-M 1500), checksums are computed afresh for every captured segment',
      'PASS raw IP socket opens (the copies are sent through it)',
      'PASS intercept 10.0.0.2:36524 accepts connections',
      'PASS intercept 10.0.0.4:4000 accepts connections',
    ]);
    assert.match(line(results.at(-1)!), /^NOTE rp_filter here: all=0 lo=0 eth0=1\. /);
    assert.equal(checksExitCode(results), ExitCode.Ok);
  });

  test('--diff-log: a line of its own, failing with the reason when it cannot be written', () => {
    const config = parseCopierArgs([...COPIER_ARGS, '--compare', '--diff-log', '/var/log/tcpcopy/diff.log']);
    const ok = copierChecks(config, copierFacts()).map(line);
    assert.ok(ok.includes('PASS diff log /var/log/tcpcopy/diff.log can be written (--diff-log)'), ok.join('\n'));
    const results = copierChecks(config, copierFacts({ diffLogProblem: 'directory /var/log/tcpcopy does not exist' }));
    assert.deepEqual(results.filter((r) => r.status === 'FAIL').map(line), [
      'FAIL --diff-log /var/log/tcpcopy/diff.log: directory /var/log/tcpcopy does not exist',
    ]);
    assert.equal(checksExitCode(results), ExitCode.Failure);
    assert.ok(
      !copierChecks(COPIER, copierFacts())
        .map(line)
        .some((l) => l.includes('diff log')),
      'none without it',
    );
  });

  test('an unreachable intercept fails its own line, with what to check', () => {
    const results = copierChecks(
      COPIER,
      copierFacts({ interceptProblems: [undefined, 'connection refused (ECONNREFUSED)'] }),
    );
    const failed = results.filter((r) => r.status === 'FAIL').map(line);
    assert.deepEqual(failed, [
      "FAIL intercept 10.0.0.4:4000 is not reachable: connection refused (ECONNREFUSED) (is intercept running there? check -s, -p, intercept's -b and firewalls)",
    ]);
    assert.equal(checksExitCode(results), ExitCode.Failure);
  });

  test('no raw socket, a bad -F, a missing -i device, no privileges: each its own FAIL line', () => {
    const config = parseCopierArgs([
      '-x',
      '8000-10.0.0.3:8000',
      '-s',
      '10.0.0.2',
      '-i',
      'eth0,eth9',
      '-F',
      'port and',
      '--check',
    ]);
    const results = copierChecks(
      config,
      copierFacts({
        host: hostFacts({ uid: 1000, effectiveCaps: 0n }),
        captures: [{ device: 'eth0', error: { code: ErrorCode.FILTER, message: 'syntax error' } }],
        rawSocketProblem: 'Operation not permitted',
        interceptProblems: [undefined],
      }),
    );
    const failed = results.filter((r) => r.status === 'FAIL').map((r) => r.text.split(':')[0]);
    assert.deepEqual(failed, [
      'not root and no CAP_NET_RAW (uid 1000)',
      'capture interface eth9 does not exist in this network namespace (have',
      `capture filter "${FILTER}" does not compile on eth0`,
      'raw IP socket does not open',
    ]);
  });

  test('--offline checks the file instead of devices', () => {
    const config = parseCopierArgs(['--offline', 'x.pcap', '-x', '8000-10.0.0.3:8000', '-s', '10.0.0.2', '--check']);
    const good = copierChecks(config, copierFacts({ captures: [], interceptProblems: [undefined] })).map(line);
    assert.ok(good.includes('PASS capture file x.pcap can be replayed'));
    assert.ok(!good.some((l) => l.includes('capture interface')));
    assert.ok(!good.some((l) => l.includes('offloads')), 'a file has no offloads to report');
    const bad = copierChecks(
      config,
      copierFacts({ captures: [], offlineProblem: 'x.pcap: not a classic pcap file', interceptProblems: [undefined] }),
    );
    assert.ok(bad.map(line).includes('FAIL x.pcap: not a classic pcap file'));
  });

  test('the offload line names the MTU merged packets are split to (-M)', () => {
    const config = parseCopierArgs(['-x', '8000-10.0.0.3:8000', '-s', '10.0.0.2', '-M', '9000', '--check']);
    const offloads = copierChecks(config, copierFacts({ interceptProblems: [undefined] })).filter((r) =>
      r.text.startsWith('offloads on '),
    );
    assert.equal(offloads.length, 2);
    for (const r of offloads)
      assert.match(
        line(r),
        /^PASS offloads on (lo|eth0): .*\. Nothing to set: merged packets are split to the MTU \(-M 9000\), /,
      );
  });

  test('the first line says where the configuration came from', () => {
    const config = parseCopierArgs(
      ['--config', 'c.yaml', '--check'],
      () => 'transfer: [80-10.0.0.3:80, 81-10.0.0.3:81]\nintercepts: 10.0.0.2\n',
    );
    assert.equal(
      line(copierChecks(config, copierFacts({ interceptProblems: [undefined] }))[0]!),
      'PASS configuration is valid (command line and c.yaml): 2 -x entries, 1 intercept(s)',
    );
  });
});

function interceptFacts(overrides: Partial<InterceptFacts> = {}): InterceptFacts {
  return {
    host: hostFacts(),
    captures: [{ device: 'eth0' }],
    offloads: [{ device: 'eth0', features: offloadFeatures() }],
    listenProblem: undefined,
    daemon: NOTHING_WRONG,
    ...overrides,
  };
}

const INTERCEPT = parseInterceptArgs(['-i', 'eth0', '-F', 'tcp and src port 8000', '--check']);

describe('intercept --check', () => {
  test('everything in place: exit 0', () => {
    const results = interceptChecks(INTERCEPT, interceptFacts());
    assert.deepEqual(results.map(line).slice(0, -1), [
      'PASS configuration is valid (command line)',
      'PASS running as root (raw sockets and capture need CAP_NET_RAW)',
      'PASS capture interface eth0 exists and is up',
      'PASS capture opens on eth0 with filter "tcp and src port 8000"',
      'PASS offloads on eth0: rx-checksum on, gro on; tx-checksum, tso, gso, lro off. Nothing to set: reply records carry headers only (a merged reply is one byte range) and no checksum is used',
      'PASS control port 0.0.0.0:36524 can be bound',
      "PASS net.ipv4.ip_forward is 0 (the test server's replies end here once captured)",
    ]);
    assert.match(line(results.at(-1)!), /^NOTE rp_filter here: all=0 eth0=1\. /);
    assert.equal(checksExitCode(results), ExitCode.Ok);
  });

  test('ip_forward=1 fails with the reason and the fix', () => {
    const host = hostFacts({ sysctls: { ...hostFacts().sysctls, 'net.ipv4.ip_forward': '1' } });
    const results = interceptChecks(INTERCEPT, interceptFacts({ host }));
    assert.deepEqual(results.filter((r) => r.status === 'FAIL').map(line), [
      "FAIL net.ipv4.ip_forward is 1: it must be 0 on the intercept host, or the test server's replies are forwarded to the fake clients (sysctl -w net.ipv4.ip_forward=0)",
    ]);
    assert.equal(checksExitCode(results), ExitCode.Failure);
  });

  test('an unreadable ip_forward is a note, not a pass', () => {
    const host = hostFacts({ sysctls: {} });
    const r = interceptChecks(INTERCEPT, interceptFacts({ host })).find((c) =>
      c.text.startsWith('net.ipv4.ip_forward'),
    );
    assert.equal(r && line(r), 'NOTE net.ipv4.ip_forward cannot be read: it must be 0 on the intercept host');
  });

  test('a control port in use fails with the likely causes', () => {
    const config = parseInterceptArgs(['-F', 'tcp', '-b', '10.0.0.2', '-p', '4000', '--check']);
    const results = interceptChecks(
      config,
      interceptFacts({
        captures: [{ device: 'lo' }, { device: 'eth0' }],
        listenProblem: 'address already in use (EADDRINUSE)',
      }),
    );
    assert.deepEqual(results.filter((r) => r.status === 'FAIL').map(line), [
      'FAIL control port 10.0.0.2:4000 cannot be bound: address already in use (EADDRINUSE) (another intercept running? is -b an address of this host?)',
    ]);
  });
});
