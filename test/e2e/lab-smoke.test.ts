/**
 * The physics the copier depends on, proved inside the lab only: a spoofed SYN injected with
 * RawSocketSink from prod reaches target, target answers the fake client through aux, the
 * answer is captured on aux with LiveCapture; bad checksums are really verified; guards,
 * faults and parallel labs work; and the root namespace never changes.
 */
import { cpus } from 'node:os';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { TcpFlag, decodeFrame, newPacketViews, parseIpv4, DecodeStatus } from '@tcpcopy/common';
import { buildTcpPacket } from '@tcpcopy/common/testing';
import { OFFLOAD_PROFILES, createLab, withLab, type Lab, type OffloadProfile } from '../lab/index.js';

/** Offset of the TCP checksum in a packet without IP options (20-byte IP header + 16). */
const TCP_CHECKSUM_AT = 36;
const SYN_WINDOW = 64240;

function rootSnapshot(): string {
  const run = (args: string[]): string => execFileSync('ip', args, { encoding: 'utf8' });
  return ['-o addr', '-o route', '-o link'].map((a) => `# ip ${a}\n${run(a.split(' '))}`).join('\n');
}

interface CapturedFrame {
  event: string;
  linkType: number;
  hex: string;
}

/** Decodes the agent's frames down to TCP, failing on any frame that does not decode. */
function decodeFrames(
  frames: readonly CapturedFrame[],
): { flags: number; ack: number; src: number; dst: number; dstPort: number }[] {
  const views = newPacketViews();
  return frames.map((f) => {
    const buf = Buffer.from(f.hex, 'hex');
    assert.equal(decodeFrame(f.linkType, buf, 0, buf.length, views), DecodeStatus.Ok, `undecodable frame ${f.hex}`);
    return {
      flags: views.tcp.flags,
      ack: views.tcp.ack,
      src: views.ip.src,
      dst: views.ip.dst,
      dstPort: views.tcp.dstPort,
    };
  });
}

function syn(
  lab: Lab,
  fakeHost: number,
  srcPort: number,
  seq: number,
  dstPort: number,
  dst = lab.hosts.target.ip,
): Buffer {
  return buildTcpPacket({
    src: lab.fakeIp(fakeHost),
    dst,
    srcPort,
    dstPort,
    seq,
    ack: 0,
    flags: TcpFlag.SYN,
    window: SYN_WINDOW,
    options: { mss: 1460, sackPermitted: true, windowScale: 7 },
  });
}

test('a spoofed SYN injected on prod reaches target; the SYN-ACK goes to aux; bad checksums are dropped; root namespace untouched', async (t) => {
  const before = rootSnapshot();
  await withLab(t, async (lab) => {
    const { target, aux } = lab.hosts;
    const server = await lab.startEchoServer('target');
    const capture = lab.spawnAgent('aux', 'capture', {
      devices: [aux.iface],
      filter: `tcp and src host ${target.ip} and src port ${server.port}`,
      timeoutMs: 1500,
    });
    await capture.waitFor(/"event":"ready"/);

    const goodPort = randomInt(20_000, 30_000);
    const badPort = goodPort + 1;
    const isn = randomInt(2 ** 32);
    const good = syn(lab, 7, goodPort, isn, server.port);
    const bad = syn(lab, 7, badPort, isn, server.port);
    bad[TCP_CHECKSUM_AT]! ^= 0xff;
    const inject = lab.spawnAgent('prod', 'inject', {
      packets: [good, bad].map((p) => ({ hex: p.toString('hex'), dst: target.ip })),
    });
    await inject.succeeded();
    const [injected] = inject.jsonLines<{ stats: { sent: number; errors: object } }>();
    assert.deepEqual(injected?.stats.errors, {});
    assert.equal(injected?.stats.sent, 2);

    await capture.succeeded();
    const events = capture.jsonLines<CapturedFrame>();
    assert.deepEqual(events[0], { event: 'ready' });
    const replies = decodeFrames(events.filter((e) => e.event === 'packet'));
    // Target retransmits its SYN-ACK after 1 s, so one or two; all for the good SYN only.
    assert.ok(replies.length >= 1, 'no SYN-ACK reached aux');
    for (const r of replies) {
      assert.equal(r.flags, TcpFlag.SYN | TcpFlag.ACK);
      assert.equal(r.ack, (isn + 1) >>> 0);
      assert.equal(r.src, parseIpv4(target.ip));
      assert.equal(r.dst, parseIpv4(lab.fakeIp(7)));
      assert.equal(r.dstPort, goodPort, 'target answered the SYN with a corrupted checksum');
    }
    assert.deepEqual(await lab.guardCounters(), {
      clientFromOthers: 0,
      prodFromTarget: 0,
      prodFromFakeSubnet: 0,
      prodToSelf: 0,
    });
    assert.equal(rootSnapshot(), before, 'the root namespace changed while the lab was up');
  });
  assert.equal(rootSnapshot(), before, 'the root namespace changed after teardown');
});

test('the lab is built as designed: addresses, fake route via aux, no forwarding on aux, no IPv6', async (t) => {
  await withLab(t, async (lab) => {
    for (const h of Object.values(lab.hosts)) {
      if (!h) continue;
      const addr = (await lab.exec(h.name, 'ip', ['-o', '-4', 'addr', 'show', 'dev', h.iface])).stdout;
      assert.match(addr, new RegExp(`inet ${h.ip.replaceAll('.', '\\.')}/24`));
      const link = (await lab.exec(h.name, 'ip', ['-o', 'link', 'show', 'dev', h.iface])).stdout;
      assert.match(link, new RegExp(`link/ether ${h.mac}`));
      assert.equal((await lab.exec(h.name, 'sysctl', ['-n', 'net.ipv6.conf.all.disable_ipv6'])).stdout.trim(), '1');
    }
    assert.equal((await lab.exec('aux', 'sysctl', ['-n', 'net.ipv4.ip_forward'])).stdout.trim(), '0');
    const route = (await lab.exec('target', 'ip', ['route', 'get', lab.fakeIp(99)])).stdout;
    assert.match(route, new RegExp(`via ${lab.hosts.aux.ip.replaceAll('.', '\\.')} `));
    // The fake subnet exists only as target's route: nobody else can reach it.
    const fromClient = await lab.exec('client', 'ip', ['route', 'get', lab.fakeIp(99)], { check: false });
    assert.notEqual(fromClient.code, 0);
    await lab.exec('client', 'ping', ['-c', '1', '-W', '2', lab.hosts.target.ip]);
  });
});

/** What `ethtool -k` shows on every veth leg, per offload profile (test/lab/topology.ts). */
const PROFILE_FEATURES: Readonly<Record<OffloadProfile, Readonly<Record<string, 'on' | 'off'>>>> = {
  off: {
    'rx-checksumming': 'off',
    'tx-checksumming': 'off',
    'tcp-segmentation-offload': 'off',
    'generic-segmentation-offload': 'off',
    'generic-receive-offload': 'off',
  },
  nic: {
    'tx-checksumming': 'off',
    'tcp-segmentation-offload': 'off',
    'generic-segmentation-offload': 'off',
    'generic-receive-offload': 'on',
  },
  host: { 'tx-checksumming': 'on', 'tcp-segmentation-offload': 'on', 'generic-segmentation-offload': 'on' },
};

for (const profile of OFFLOAD_PROFILES) {
  test(`offload profile ${profile}: every veth leg, host and switch side, offloads as the profile says`, async (t) => {
    await withLab(
      t,
      async (lab) => {
        assert.equal(lab.offloads, profile);
        for (const h of Object.values(lab.hosts)) {
          if (!h) continue;
          const legs = [
            { where: h.name, text: (await lab.exec(h.name, 'ethtool', ['-k', h.iface])).stdout },
            {
              where: `switch port of ${h.name}`,
              text: (await lab.run.run('ip', ['netns', 'exec', lab.topology.switchNs, 'ethtool', '-k', h.switchPort]))
                .stdout,
            },
          ];
          for (const { where, text } of legs) {
            for (const [feature, state] of Object.entries(PROFILE_FEATURES[profile])) {
              assert.match(text, new RegExp(`^${feature}: ${state}`, 'm'), `${where}: ${feature} is not ${state}`);
            }
          }
          // What a host sends is received on the other CPUs too, as past a wire (topology.ts).
          const steering = await lab.run.run('ip', [
            'netns',
            'exec',
            lab.topology.switchNs,
            'cat',
            `/sys/class/net/${h.switchPort}/queues/rx-0/rps_cpus`,
          ]);
          assert.equal(parseInt(steering.stdout.replace(/,/g, ''), 16), 2 ** cpus().length - 1, `${h.name}: rps_cpus`);
        }
      },
      { offloads: profile },
    );
  });
}

test('guard counters see every forbidden path', async (t) => {
  await withLab(t, async (lab) => {
    const { client, prod } = lab.hosts;
    const zero = { clientFromOthers: 0, prodFromTarget: 0, prodFromFakeSubnet: 0, prodToSelf: 0 };
    await lab.exec('client', 'ping', ['-c', '1', '-W', '2', prod.ip]);
    assert.deepEqual(await lab.guardCounters(), zero, 'client <-> prod is allowed');

    await lab.exec('target', 'ping', ['-c', '1', '-W', '2', client.ip]);
    await lab.exec('target', 'ping', ['-c', '1', '-W', '2', prod.ip]);
    const fakeToProd = syn(lab, 9, 40_000, 1, 80, prod.ip);
    const inject = lab.spawnAgent('aux', 'inject', { packets: [{ hex: fakeToProd.toString('hex'), dst: prod.ip }] });
    await inject.succeeded();
    // prod putting a frame addressed to itself on the wire: only a packet socket can do that.
    const frame = Buffer.concat([
      Buffer.from(prod.mac.replaceAll(':', '') + prod.mac.replaceAll(':', '') + '0800', 'hex'),
      fakeToProd,
    ]);
    await lab.exec('prod', 'python3', ['-c', SEND_FRAME_PY, prod.iface, frame.toString('hex')]);

    const counters = await lab.guardCounters();
    assert.ok(counters.clientFromOthers >= 1, `clientFromOthers ${counters.clientFromOthers}`);
    assert.ok(counters.prodFromTarget >= 1, `prodFromTarget ${counters.prodFromTarget}`);
    assert.ok(counters.prodFromFakeSubnet >= 1, `prodFromFakeSubnet ${counters.prodFromFakeSubnet}`);
    assert.ok(counters.prodToSelf >= 1, `prodToSelf ${counters.prodToSelf}`);
  });
});

/** Sends one raw Ethernet frame (hex) on an interface through an AF_PACKET socket. */
const SEND_FRAME_PY =
  'import socket,sys; s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW); s.bind((sys.argv[1],0)); s.send(bytes.fromhex(sys.argv[2]))';

test('faults: dropped, duplicated and rate-limited frames', async (t) => {
  await withLab(t, async (lab) => {
    const nginx = await lab.startNginx('prod');
    const curl = (path: string, timeoutS = 2) =>
      lab.exec(
        'client',
        'curl',
        ['-sS', '-m', String(timeoutS), '-o', '/dev/null', '-w', '%{http_code} %{time_total}', nginx.url(path)],
        { check: false },
      );

    await lab.dropFrames('client', 1000);
    assert.notEqual((await curl('/', 0.5)).code, 0, 'every client frame dropped, yet curl got through');
    await lab.dropFrames('client', 0);
    assert.match((await curl('/')).stdout, /^200 /);

    await lab.duplicateFrames('client', 1000);
    const dump = await lab.captureOn('prod', `tcp and src host ${lab.hosts.client.ip}`);
    assert.match((await curl('/')).stdout, /^200 /);
    await new Promise((r) => setTimeout(r, 100));
    await dump.stop();
    await lab.duplicateFrames('client', 0);
    const lines = (await lab.exec('prod', 'tcpdump', ['-r', dump.path, '-nn', '-S'])).stdout.trim().split('\n');
    const synLines = lines.filter((l) => l.includes('Flags [S]'));
    assert.equal(synLines.length, 2, `the SYN should arrive twice:\n${lines.join('\n')}`);
    assert.equal(lines.length % 2, 0, 'every client frame should arrive twice');

    const fast = Number((await curl('/1m.bin')).stdout.split(' ')[1]);
    await lab.rateLimit('prod', '16mbit');
    const slow = Number((await curl('/1m.bin', 5)).stdout.split(' ')[1]);
    await lab.rateLimit('prod', null);
    // 8 Mbit at 16 Mbit/s takes 0.5 s; unshaped it takes milliseconds.
    assert.ok(slow > 0.4, `1 MiB at 16 mbit took ${slow} s`);
    assert.ok(fast < slow / 4, `unshaped ${fast} s vs shaped ${slow} s`);
  });
});

test('two labs at once: distinct prefixes and subnets, each fully working', async (t) => {
  const labs = await Promise.all([createLab(), createLab()]);
  t.after(() => Promise.all(labs.map((l) => l.destroy({ keepLogs: false }))));
  const [a, b] = labs as [Lab, Lab];
  assert.notEqual(a.prefix, b.prefix);
  assert.notEqual(a.subnet, b.subnet);
  assert.notEqual(a.fakeSubnet, b.fakeSubnet);
  await Promise.all(labs.map((l) => l.exec('client', 'ping', ['-c', '1', '-W', '2', l.hosts.target.ip])));
  // Namespaces are separate worlds: b's addresses do not exist in a.
  const cross = await a.exec('client', 'ping', ['-c', '1', '-W', '1', b.hosts.target.ip], { check: false });
  assert.notEqual(cross.code, 0);
});
