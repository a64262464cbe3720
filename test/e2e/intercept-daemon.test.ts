/**
 * The real `intercept` bin, run inside the lab's aux host only (it captures): a copier-like peer in
 * prod registers a flow, a spoofed SYN from prod makes target answer the fake client through aux,
 * and the peer receives that SYN-ACK's headers. Plus SIGTERM, -d, -P and start-up failures.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CONTROL_DEFAULT_PORT,
  DecodeStatus,
  TcpFlag,
  decodeIpv4,
  decodeTcp,
  newIpv4View,
  newTcpView,
  parseIpv4,
} from '@tcpcopy/common';
import { buildTcpPacket } from '@tcpcopy/common/testing';
import { withLab, type Lab } from '../lab/index.js';
import type { PeerArgs } from './intercept-peer.js';
import { isAlive, logged, poll } from './daemon-helpers.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url)); // test/dist/e2e -> root
const INTERCEPT = join(ROOT, 'packages/intercept/bin/intercept');
const PEER = fileURLToPath(new URL('./intercept-peer.js', import.meta.url));
const PORT = CONTROL_DEFAULT_PORT;
/** SIGTERM must end the daemon within a second (plus process start-up noise of `ip netns exec`). */
const EXIT_BUDGET_MS = 1000;

function synFrom(lab: Lab, fakeHost: number, srcPort: number, isn: number, dstPort: number): Buffer {
  return buildTcpPacket({
    src: lab.fakeIp(fakeHost),
    dst: lab.hosts.target.ip,
    srcPort,
    dstPort,
    seq: isn,
    ack: 0,
    flags: TcpFlag.SYN,
    window: 64240,
    options: { mss: 1460, sackPermitted: true, windowScale: 7 },
  });
}

test("intercept in aux streams a registered flow's SYN-ACK to a copier in prod; SIGTERM exits 0 within a second", async (t) => {
  await withLab(t, async (lab) => {
    const { aux, target } = lab.hosts;
    const server = await lab.startEchoServer('target');
    const pidFile = join(lab.logDir, 'intercept.pid');
    const logFile = join(lab.logDir, 'intercept.log');
    // No -i: every interface of aux, through one capture on "any".
    const intercept = lab.spawn(
      'aux',
      INTERCEPT,
      ['-F', `tcp and src port ${server.port}`, '-p', String(PORT), '-P', pidFile, '-l', logFile],
      { name: 'intercept' },
    );
    const running = await poll(
      () => logged(logFile, 'intercept running') ?? (intercept.running ? undefined : { exited: true }),
      'intercept to start',
    );
    assert.ok(!('exited' in running), `intercept exited: ${intercept.stderr}`);
    assert.deepEqual(running['devices'], ['any']);
    assert.equal(readFileSync(pidFile, 'utf8').trim(), String(intercept.pid));

    const fakeHost = 7;
    const clientPort = randomInt(20_000, 30_000);
    const isn = randomInt(2 ** 32);
    const peerArgs: PeerArgs = {
      host: aux.ip,
      port: PORT,
      routes: [[lab.fakeIp(fakeHost), clientPort, target.ip, server.port]],
      records: 1,
    };
    const peer = lab.spawnNode('prod', PEER, [JSON.stringify(peerArgs)], { name: 'peer' });
    await peer.waitFor(/"event":"ready"/);
    const inject = lab.spawnAgent('prod', 'inject', {
      packets: [{ hex: synFrom(lab, fakeHost, clientPort, isn, server.port).toString('hex'), dst: target.ip }],
    });
    await inject.succeeded();
    await peer.succeeded();

    const events = peer.jsonLines<{ event: string; hex?: string; role?: string }>();
    assert.equal(events.find((e) => e.event === 'hello')?.role, 'intercept');
    const record = Buffer.from(events.find((e) => e.event === 'record')!.hex!, 'hex');
    const ip = newIpv4View();
    const tcp = newTcpView();
    assert.equal(decodeIpv4(record, 0, record.length, ip), DecodeStatus.Ok);
    assert.equal(decodeTcp(record, ip, tcp), DecodeStatus.Ok);
    assert.equal(tcp.flags, TcpFlag.SYN | TcpFlag.ACK);
    assert.equal(tcp.ack, (isn + 1) >>> 0);
    assert.equal(ip.src, parseIpv4(target.ip));
    assert.equal(ip.dst, parseIpv4(lab.fakeIp(fakeHost)));
    assert.equal(tcp.dstPort, clientPort);
    assert.ok(tcp.options.mss > 0, 'TCP options travel with the record');

    const stopAt = Date.now();
    const exit = await intercept.stop('SIGTERM', 3000);
    const tookMs = Date.now() - stopAt;
    assert.deepEqual(exit, { code: 0, signal: null }, intercept.stderr);
    assert.ok(tookMs < EXIT_BUDGET_MS, `SIGTERM took ${tookMs} ms`);
    assert.equal(existsSync(pidFile), false, 'pid file removed');
    const final = logged(logFile, 'final stats') as { replies: { routed: number; released: number } } | undefined;
    assert.ok(final, 'final stats logged');
    assert.ok(final.replies.routed + final.replies.released >= 1, JSON.stringify(final.replies));
  });
});

test('intercept start-up failures: missing device, bad filter, unbindable address: exit 1 with the error code', async (t) => {
  await withLab(t, async (lab) => {
    const { aux, target } = lab.hosts;
    const cases: [args: string[], code: string][] = [
      [['-i', 'nosuch0', '-F', 'tcp'], 'TCPCOPY_ERR_DEVICE'],
      [['-i', aux.iface, '-F', 'tcp and and'], 'TCPCOPY_ERR_FILTER'],
      [['-i', aux.iface, '-F', 'tcp', '-b', target.ip], 'TCPCOPY_ERR_LISTEN'],
    ];
    for (const [args, code] of cases) {
      const proc = lab.spawn('aux', INTERCEPT, [...args, '-p', String(PORT)], { name: 'intercept-fail' });
      const exit = await proc.exited;
      assert.equal(exit.code, 1, `${args.join(' ')}: ${proc.stderr}`);
      assert.ok(proc.stderr.includes(code), `${args.join(' ')}: expected ${code} in ${proc.stderr}`);
    }
  });
});

test('intercept -d: the parent exits 0, the daemon writes -P, runs detached and stops on SIGTERM', async (t) => {
  await withLab(t, async (lab) => {
    const { aux } = lab.hosts;
    const pidFile = join(lab.logDir, 'intercept-d.pid');
    const logFile = join(lab.logDir, 'intercept-d.log');
    let daemonPid: number | undefined;
    // The detached daemon is not in the lab's process list: it is killed here, by its pid.
    t.after(() => {
      if (daemonPid !== undefined && isAlive(daemonPid)) process.kill(daemonPid, 'SIGKILL');
    });
    const parent = lab.spawn(
      'aux',
      INTERCEPT,
      ['-d', '-i', aux.iface, '-F', 'tcp and src port 8000', '-p', String(PORT), '-P', pidFile, '-l', logFile],
      { name: 'intercept-d' },
    );
    assert.deepEqual(await parent.exited, { code: 0, signal: null }, parent.stderr);
    daemonPid = await poll(
      () => (existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) || undefined : undefined),
      'the pid file',
    );
    assert.notEqual(daemonPid, parent.pid);
    await poll(() => logged(logFile, 'intercept running'), 'the daemon to run');
    await lab.waitForPort('aux', PORT);
    assert.ok(isAlive(daemonPid));

    process.kill(daemonPid, 'SIGTERM');
    const pid = daemonPid;
    await poll(() => (isAlive(pid) ? undefined : true), 'the daemon to exit', EXIT_BUDGET_MS);
    assert.equal(existsSync(pidFile), false, 'pid file removed');
    assert.ok(logged(logFile, 'final stats'));
  });
});

test('intercept -u nobody: drops root once capture and the control port are open, and still stops cleanly', async (t) => {
  await withLab(t, async (lab) => {
    const { aux } = lab.hosts;
    const logFile = join(lab.logDir, 'intercept-u.log');
    const intercept = lab.spawn(
      'aux',
      INTERCEPT,
      ['-u', 'nobody', '-i', aux.iface, '-F', 'tcp and src port 8000', '-p', String(PORT), '-l', logFile],
      { name: 'intercept-u' },
    );
    const running = await poll(
      () => logged(logFile, 'intercept running') ?? (intercept.running ? undefined : { exited: true }),
      'intercept to start',
    );
    assert.ok(!('exited' in running), `intercept exited: ${intercept.stderr}`);
    const status = readFileSync(`/proc/${intercept.pid}/status`, 'utf8');
    const ids = (key: string): string[] =>
      (new RegExp(`^${key}:\\s+(.*)$`, 'm').exec(status)?.[1] ?? '').trim().split(/\s+/);
    const nobody = '65534';
    assert.deepEqual(ids('Uid'), [nobody, nobody, nobody, nobody]);
    assert.deepEqual(ids('Gid'), [nobody, nobody, nobody, nobody]);
    assert.deepEqual(ids('Groups'), [nobody]);
    assert.deepEqual(await intercept.stop('SIGTERM', 3000), { code: 0, signal: null }, intercept.stderr);
  });
});
