// The verdicts of --check, from facts alone: no root, no network, no namespaces needed.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import {
  CAP_NET_RAW,
  captureChecks,
  checksExitCode,
  CheckStatus,
  deviceChecks,
  ErrorCode,
  ExitCode,
  formatChecks,
  offloadChecks,
  parseEffectiveCaps,
  privilegeCheck,
  probeableDevices,
  probeListen,
  probeOffloads,
  probeTcpConnect,
  rpFilterNote,
  type CheckResult,
} from '@tcpcopy/common';
import { hostFacts, line, offloadFeatures } from './facts.js';

describe('preflight: privileges', () => {
  test('root passes, with why it is needed', () => {
    assert.equal(line(privilegeCheck(hostFacts())), 'PASS running as root (raw sockets and capture need CAP_NET_RAW)');
  });

  test('CAP_NET_RAW without root passes; neither fails with what to do', () => {
    const withCap = privilegeCheck(hostFacts({ uid: 1000, effectiveCaps: 1n << BigInt(CAP_NET_RAW) }));
    assert.equal(
      line(withCap),
      'PASS CAP_NET_RAW is effective for uid 1000 (raw sockets and capture need CAP_NET_RAW)',
    );
    for (const caps of [0n, (1n << BigInt(CAP_NET_RAW)) - 1n, 1n << BigInt(CAP_NET_RAW + 1), undefined]) {
      const r = privilegeCheck(hostFacts({ uid: 1000, effectiveCaps: caps }));
      assert.equal(r.status, CheckStatus.Fail, String(caps));
      assert.match(r.text, /^not root and no CAP_NET_RAW \(uid 1000\): .*run as root/);
    }
  });

  test('CapEff from /proc/self/status', () => {
    assert.equal(
      parseEffectiveCaps('Name:\tnode\nCapInh:\t0000000000000000\nCapEff:\t000001fffeffffff\nCapBnd:\t0\n'),
      0x1fffeffffffn,
    );
    assert.equal(parseEffectiveCaps('CapEff:\t0000000000002000\n'), 1n << BigInt(CAP_NET_RAW));
    assert.equal(parseEffectiveCaps('Name:\tnode\n'), undefined);
  });
});

describe('preflight: capture devices', () => {
  test('each -i device exists and is up', () => {
    const lines = deviceChecks(['eth0', 'eth1', 'eth9', 'any'], hostFacts()).map(line);
    assert.deepEqual(lines, [
      'PASS capture interface eth0 exists and is up',
      'FAIL capture interface eth1 is down (ip link set eth1 up)',
      'FAIL capture interface eth9 does not exist in this network namespace (have: lo, eth0, eth1)',
      'PASS capture interface any (every interface of this host)',
    ]);
  });

  test('without -i: every interface that is up, and a failure when none is', () => {
    assert.deepEqual(deviceChecks([], hostFacts()).map(line), [
      'PASS capture interfaces (no -i: every interface that is up): lo, eth0',
    ]);
    const down = hostFacts({ interfaces: [{ name: 'eth0', up: false }] });
    assert.deepEqual(deviceChecks([], down).map(line), [
      'FAIL no interface is up (have: eth0); bring one up or name devices with -i',
    ]);
  });

  test('only devices that exist and are up are probed', () => {
    assert.deepEqual(probeableDevices(['eth0', 'eth1', 'eth9', 'any'], hostFacts()), ['eth0', 'any']);
    assert.deepEqual(probeableDevices([], hostFacts()), ['lo', 'eth0']);
  });

  test('the filter compiles and the capture opens, per device', () => {
    const filter = 'tcp and src port 8000';
    const lines = captureChecks(filter, [
      { device: 'eth0' },
      { device: 'lo', error: { code: ErrorCode.FILTER, message: 'syntax error' } },
      { device: 'any', error: { code: ErrorCode.CAPTURE_OPEN, message: 'socket: Operation not permitted' } },
    ]).map(line);
    assert.deepEqual(lines, [
      'PASS capture opens on eth0 with filter "tcp and src port 8000"',
      'FAIL capture filter "tcp and src port 8000" does not compile on lo: syntax error',
      'FAIL capture does not open on any: socket: Operation not permitted',
    ]);
  });

  test("rp_filter is a note with this host's values, never a failure", () => {
    const r = rpFilterNote(['eth0', 'any', 'eth7'], hostFacts());
    assert.equal(r.status, CheckStatus.Note);
    assert.match(
      r.text,
      /^rp_filter here: all=0 eth0=1 eth7=\?\. On the test server, rp_filter=1 drops the copies .* use 0 or 2 there$/,
    );
  });
});

describe('preflight: offloads', () => {
  const HANDLED = 'handled because';

  test('one PASS per device naming the offloads that are on, then those off, and that nothing is to be set', () => {
    const lines = offloadChecks(
      [
        { device: 'eth0', features: offloadFeatures() },
        { device: 'eth1', features: offloadFeatures({ lro: true, tso: true }) },
      ],
      HANDLED,
    ).map(line);
    assert.deepEqual(lines, [
      'PASS offloads on eth0: rx-checksum on, gro on; tx-checksum, tso, gso, lro off. Nothing to set: handled because',
      'PASS offloads on eth1: rx-checksum on, tso on, gro on, lro on; tx-checksum, gso off. Nothing to set: handled because',
    ]);
  });

  test('all on and all off are said so, and both pass: no setting is better than another', () => {
    const allOn = offloadFeatures({ txChecksum: true, tso: true, gso: true, lro: true });
    const allOff = offloadFeatures({ rxChecksum: false, gro: false });
    const results = offloadChecks(
      [
        { device: 'lo', features: allOn },
        { device: 'eth0', features: allOff },
      ],
      HANDLED,
    );
    assert.deepEqual(results.map(line), [
      'PASS offloads on lo: rx-checksum on, tx-checksum on, tso on, gso on, gro on, lro on. Nothing to set: handled because',
      'PASS offloads on eth0: all off. Nothing to set: handled because',
    ]);
    assert.equal(checksExitCode(results), ExitCode.Ok);
  });

  test('features that cannot be read are a note, never a failure, and still say nothing needs setting', () => {
    const results = offloadChecks([{ device: 'eth0', error: 'SIOCETHTOOL on eth0: No such device' }], HANDLED);
    assert.deepEqual(results.map(line), [
      'NOTE offloads on eth0 cannot be read (SIOCETHTOOL on eth0: No such device); they need no setting either way: handled because',
    ]);
    assert.equal(checksExitCode(results), ExitCode.Ok);
  });

  test('no devices, no lines', () => {
    assert.deepEqual(offloadChecks([], HANDLED), []);
  });
});

describe('preflight: output and exit status', () => {
  test('one line per check; 0 when nothing failed, notes included; 1 otherwise', () => {
    const ok: CheckResult[] = [
      { status: CheckStatus.Pass, text: 'a' },
      { status: CheckStatus.Note, text: 'b' },
    ];
    assert.equal(formatChecks(ok), 'PASS a\nNOTE b\n');
    assert.equal(checksExitCode(ok), ExitCode.Ok);
    assert.equal(checksExitCode([...ok, { status: CheckStatus.Fail, text: 'c' }]), ExitCode.Failure);
  });
});

describe('preflight probes on loopback', () => {
  test('probeTcpConnect: a listener accepts; a closed port is refused', async () => {
    const server = createServer((s) => s.destroy()).listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    try {
      assert.equal(await probeTcpConnect('127.0.0.1', port, 2000), undefined);
    } finally {
      server.close();
      await once(server, 'close');
    }
    assert.equal(await probeTcpConnect('127.0.0.1', port, 2000), 'connection refused (ECONNREFUSED)');
  });

  test('probeOffloads: six booleans for lo, `any` skipped, a missing device reported as data', () => {
    // Reading features is an unprivileged ioctl: it opens no capture and sends nothing.
    const probes = probeOffloads(['lo', 'any', 'nosuchdev0']);
    assert.deepEqual(
      probes.map((p) => p.device),
      ['lo', 'nosuchdev0'],
    );
    const [lo, missing] = probes;
    assert.ok(lo !== undefined && 'features' in lo, JSON.stringify(lo));
    assert.deepEqual(Object.keys(lo.features).sort(), ['gro', 'gso', 'lro', 'rxChecksum', 'tso', 'txChecksum']);
    for (const on of Object.values(lo.features)) assert.equal(typeof on, 'boolean');
    assert.deepEqual(missing, { device: 'nosuchdev0', error: 'SIOCETHTOOL on nosuchdev0: No such device' });
  });

  test('probeListen: a free port binds (and is released); a taken one says why', async () => {
    const server = createServer().listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    try {
      assert.equal(await probeListen('127.0.0.1', port), 'address already in use (EADDRINUSE)');
    } finally {
      server.close();
      await once(server, 'close');
    }
    assert.equal(await probeListen('127.0.0.1', port), undefined);
    assert.equal(await probeListen('127.0.0.1', port), undefined, 'the probe closed its listener');
  });
});
