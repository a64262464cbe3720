/**
 * Bad input, end to end: garbage, truncated and oversized frames on intercept's control port, and
 * malformed or random Ethernet/IP/TCP frames on the interfaces both daemons capture (prod's and
 * aux's). Both must keep running, count what they refused (intercept: rejected connections by
 * error code and capture decode failures; tcpcopy: capture.framesDropped by decode reason) and
 * keep copying: a batch of requests sent after the garbage arrives at the test server in full.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import {
  CONTROL_MAX_FRAME_BYTES,
  CONTROL_MAX_HELLO_FRAME_BYTES,
  CONTROL_PROTOCOL_VERSION,
  ControlMessageType,
  DECODE_STATUS_NAMES,
  DecodeStatus,
  ErrorCode,
  LinkType,
  TcpFlag,
  decodeFrame,
  encodeFrame,
  newPacketViews,
  type ControlMessage,
} from '@tcpcopy/common';
import { buildTcpPacket, seededRandom } from '@tcpcopy/common/testing';
import { withLab, type Lab } from '../lab/index.js';
import { msgpack } from '../unit/control/msgpack.js';
import {
  CONTROL_PORT,
  numberAt,
  runAb,
  settle,
  startIntercept,
  startTcpcopy,
  statAt,
  stopForStats,
} from './copy-harness.js';
import type { FrameSenderArgs } from './frame-sender.js';
import { argsFile } from './program-args.js';
import type { ScriptArgs, ScriptCase, ScriptResult } from './tcp-script.js';

const TCP_SCRIPT = fileURLToPath(new URL('./tcp-script.js', import.meta.url));
const FRAME_SENDER = fileURLToPath(new URL('./frame-sender.js', import.meta.url));
const AFTER_PATH = '/after-garbage.html';
const AFTER_REQUESTS = 400;
const SEED = 0x7c0ffee;
const RANDOM_FRAMES = 400;
/** Copies of each deterministic malformed frame. */
const MALFORMED_REPEAT = 5;
const ETHERTYPE_IPV4 = 0x0800;
const ETHERNET_HEADER_BYTES = 14;
const IPPROTO_UDP = 17;

function randomBytes(random: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(random() * 256);
  return b;
}

// --- the control port -------------------------------------------------------------------

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};
const rawFrame = (payload: Buffer): Buffer => Buffer.concat([u32(payload.length), payload]);
const hello = (role: 'copier' | 'intercept' = 'copier'): Buffer =>
  encodeFrame({
    type: ControlMessageType.Hello,
    version: CONTROL_PROTOCOL_VERSION,
    role,
    instanceId: 'garbage:1',
    software: 'bad input test',
  });

interface ControlCase extends ScriptCase {
  /** The code intercept must count the connection under, or null when it must not reject it. */
  expect: string | null;
}

function controlCases(random: () => number): ControlCase[] {
  const hex = (...bufs: Buffer[]): string[] => bufs.map((b) => b.toString('hex'));
  const responses: ControlMessage = { type: ControlMessageType.Responses, records: Buffer.alloc(0) };
  return [
    // Random bytes whose first word declares more than a frame may hold.
    {
      name: 'random bytes',
      chunks: hex(Buffer.concat([u32(0xf0000000 | Math.floor(random() * 0xfffffff)), randomBytes(random, 4092)])),
      then: 'end',
      expect: ErrorCode.CONTROL_FRAME_TOO_LARGE,
    },
    {
      name: 'oversized frame',
      chunks: hex(u32(CONTROL_MAX_FRAME_BYTES + 1), randomBytes(random, 64)),
      then: 'wait',
      expect: ErrorCode.CONTROL_FRAME_TOO_LARGE,
    },
    // Four zero bytes open a legacy (upstream C) copier's version record, whose first 8 must all be zero.
    {
      name: 'legacy record without the version record',
      chunks: hex(u32(0), Buffer.from('9c40000100000000000000000000', 'hex').subarray(0, 10)),
      then: 'wait',
      expect: ErrorCode.CONTROL_VERSION,
    },
    {
      name: 'empty frame after the hello',
      chunks: hex(hello(), u32(0)),
      then: 'wait',
      expect: ErrorCode.CONTROL_MALFORMED,
    },
    {
      name: 'truncated frame',
      chunks: hex(u32(100), randomBytes(random, 10)),
      then: 'end',
      expect: ErrorCode.CONTROL_MALFORMED,
    },
    { name: 'truncated header', chunks: hex(Buffer.from([0, 0])), then: 'end', expect: ErrorCode.CONTROL_MALFORMED },
    {
      name: 'not msgpack',
      chunks: hex(rawFrame(Buffer.from([0xc1, 0xc1, 0xc1]))),
      then: 'wait',
      expect: ErrorCode.CONTROL_MALFORMED,
    },
    { name: 'not a map', chunks: hex(rawFrame(msgpack([1, 2, 3]))), then: 'wait', expect: ErrorCode.CONTROL_MALFORMED },
    {
      name: 'unknown type',
      chunks: hex(rawFrame(msgpack({ type: 99 }))),
      then: 'wait',
      expect: ErrorCode.CONTROL_MALFORMED,
    },
    {
      name: 'trailing bytes',
      chunks: hex(rawFrame(Buffer.concat([msgpack({ type: 2, timeMs: 1 }), Buffer.from([0])]))),
      then: 'wait',
      expect: ErrorCode.CONTROL_MALFORMED,
    },
    {
      name: 'hello too long',
      chunks: hex(
        rawFrame(msgpack({ type: 1, version: 1, role: 'copier', instanceId: 'x'.repeat(1000), software: 's' })),
      ),
      then: 'wait',
      expect: ErrorCode.CONTROL_MALFORMED,
    },
    {
      name: 'route before hello',
      chunks: hex(encodeFrame({ type: ControlMessageType.RouteAdd, routes: Buffer.alloc(12) })),
      then: 'wait',
      expect: ErrorCode.CONTROL_UNEXPECTED,
    },
    { name: 'hello as intercept', chunks: hex(hello('intercept')), then: 'wait', expect: ErrorCode.CONTROL_UNEXPECTED },
    // Upstream's C tcpcopy opens so: served, not refused (docs/protocol.md §6).
    {
      name: 'legacy version record',
      chunks: hex(Buffer.from('0000000000000006000000000000', 'hex')),
      then: 'wait',
      expect: null,
    },
    {
      name: 'routes not whole records',
      chunks: hex(hello(), rawFrame(msgpack({ type: 3, routes: Buffer.alloc(13) }))),
      then: 'wait',
      expect: ErrorCode.CONTROL_MALFORMED,
    },
    {
      name: 'responses from a copier',
      chunks: hex(hello(), encodeFrame(responses)),
      then: 'wait',
      expect: ErrorCode.CONTROL_UNEXPECTED,
    },
    {
      name: 'garbage after hello',
      chunks: hex(hello(), u32(CONTROL_MAX_FRAME_BYTES + 7)),
      then: 'wait',
      expect: ErrorCode.CONTROL_FRAME_TOO_LARGE,
    },
    {
      name: 'frame split byte by byte',
      chunks: hex(...[...rawFrame(msgpack({ type: 7 }))].map((b) => Buffer.from([b]))),
      then: 'wait',
      expect: ErrorCode.CONTROL_MALFORMED,
    },
    // Before its hello a peer may declare no more than a hello's worth.
    {
      name: 'large frame before hello',
      chunks: hex(u32(CONTROL_MAX_HELLO_FRAME_BYTES + 1), randomBytes(random, 64)),
      then: 'wait',
      expect: ErrorCode.CONTROL_FRAME_TOO_LARGE,
    },
    // After a hello, part of a maximal frame, then a reset: nothing to reject, the connection just goes.
    {
      name: 'reset inside a frame',
      chunks: hex(hello(), u32(CONTROL_MAX_FRAME_BYTES), randomBytes(random, 64 * 1024)),
      then: 'reset',
      expect: null,
    },
    // Many peers each holding the start of a maximal frame after their hello, then closing inside it.
    {
      name: 'partial frames in parallel',
      chunks: hex(hello(), u32(CONTROL_MAX_FRAME_BYTES), randomBytes(random, 100)),
      then: 'end',
      connections: 50,
      expect: ErrorCode.CONTROL_MALFORMED,
    },
  ];
}

async function attackControlPort(lab: Lab, cases: readonly ControlCase[]): Promise<void> {
  const args: ScriptArgs = {
    host: lab.host('aux').ip,
    port: CONTROL_PORT,
    cases: cases.map(({ expect: _, ...c }) => c),
  };
  // From prod, where the copier's own connections come from (intercept's answers to the client
  // host would trip the guard that only prod may talk to the client).
  const script = lab.spawnNode('prod', TCP_SCRIPT, [argsFile(lab.logDir, 'tcp-script', args)]);
  await script.succeeded();
  const results = script.jsonLines<ScriptResult>();
  assert.equal(
    results.length,
    cases.reduce((n, c) => n + (c.connections ?? 1), 0),
  );
  for (const c of cases) {
    for (const r of results.filter((x) => x.name === c.name)) {
      // Every rejected peer is closed promptly by intercept; a reset one we closed ourselves.
      assert.equal(r.closedByServer, c.expect !== null, `control case "${c.name}": ${JSON.stringify(r)}`);
    }
  }
}

// --- the captured interface ---------------------------------------------------------------

function macBytes(mac: string): Buffer {
  return Buffer.from(mac.replace(/:/g, ''), 'hex');
}

function ethernet(dst: string, src: string, ip: Buffer): Buffer {
  const header = Buffer.alloc(ETHERNET_HEADER_BYTES);
  macBytes(dst).copy(header, 0);
  macBytes(src).copy(header, 6);
  header.writeUInt16BE(ETHERTYPE_IPV4, 12);
  return Buffer.concat([header, ip]);
}

/** IPv4 field offsets used below (RFC 791 §3.1). */
const IP_VERSION_IHL = 0;
const IP_TOTAL_LENGTH = 2;
const IP_PROTOCOL = 9;
const IP_SRC = 12;
const IP_DST = 16;
const IP_HEADER = 20;
const TCP_DATA_OFFSET = IP_HEADER + 12;

interface CraftedFrames {
  /** Frames the daemon's capture filter admits: each reaches its decoder. */
  admitted: Buffer[];
  /** Frames the filter refuses (not TCP). */
  filtered: Buffer[];
}

/** Who sends the frames to whom, and which side of the segments is the server's port 80. */
interface FramePath {
  from: string;
  to: string;
  srcIp: string;
  dstIp: string;
  /** 'dst' for client->prod (the copier's filter), 'src' for target->fake client (intercept's). */
  serverPort: 'dst' | 'src';
}

const SERVER_PORT = 80;

/**
 * Malformed frames of every kind the decoders refuse, each laid out so that it still passes the
 * daemon's BPF filter (proto 6, the right address, port 80 where the IHL says TCP starts), random
 * TCP-shaped frames (valid IPv4 header, random TCP header and payload), and random bytes.
 */
function craftFrames(lab: Lab, random: () => number, path: FramePath): CraftedFrames {
  const wrap = (ip: Buffer): Buffer => ethernet(lab.host(path.to).mac, lab.host(path.from).mac, ip);
  const otherPort = (): number => 40_000 + Math.floor(random() * 20_000);
  const ports = (): { srcPort: number; dstPort: number } =>
    path.serverPort === 'dst'
      ? { srcPort: otherPort(), dstPort: SERVER_PORT }
      : { srcPort: SERVER_PORT, dstPort: otherPort() };
  const tcp = (extra: { payload?: Buffer; options?: Parameters<typeof buildTcpPacket>[0]['options'] } = {}): Buffer =>
    buildTcpPacket({
      src: path.srcIp,
      dst: path.dstIp,
      ...ports(),
      seq: 1000,
      ack: 2000,
      flags: TcpFlag.ACK,
      window: 1000,
      ...extra,
    });
  const edit = (b: Buffer, f: (b: Buffer) => void): Buffer => {
    f(b);
    return b;
  };
  const malformed = [
    edit(tcp(), (b) => b.writeUInt16BE(10, IP_TOTAL_LENGTH)), // shorter than the IP header
    edit(tcp(), (b) => b.writeUInt16BE(30, IP_TOTAL_LENGTH)), // no room for a TCP header
    edit(tcp().subarray(0, IP_HEADER + 8), (b) => b.writeUInt16BE(40, IP_TOTAL_LENGTH)), // TCP header cut short
    edit(tcp(), (b) => (b[TCP_DATA_OFFSET] = 0x30)), // data offset 3 words
    edit(tcp(), (b) => (b[TCP_DATA_OFFSET] = 0xf0)), // data offset past the segment
    edit(tcp({ options: { mss: 1460 } }), (b) => (b[IP_HEADER + 20 + 1] = 0)), // MSS option of length 0
    edit(tcp({ options: { mss: 1460 } }), (b) => (b[IP_HEADER + 20 + 1] = 9)), // option running past the header
  ];
  if (path.serverPort === 'dst') {
    // IHL 0: the filter reads the TCP ports at IP offset 0, so the destination port is the total
    // length field. (A source port there would be the version nibble: no IHL 0 frame passes a
    // source-port filter.)
    malformed.push(
      edit(Buffer.concat([tcp(), Buffer.alloc(40)]), (b) => {
        b[IP_VERSION_IHL] = 0x40;
        b.writeUInt16BE(SERVER_PORT, IP_TOTAL_LENGTH);
      }),
    );
  }
  const admitted: Buffer[] = [];
  for (let i = 0; i < MALFORMED_REPEAT; i++) admitted.push(...malformed.map(wrap));
  // A valid header announcing more payload than the frame carries (a snaplen-style cut).
  admitted.push(wrap(edit(tcp({ payload: Buffer.alloc(100, 0x41) }), (b) => b.writeUInt16BE(1000, IP_TOTAL_LENGTH))));
  for (let i = 0; i < RANDOM_FRAMES; i++) {
    const ip = Buffer.concat([tcp(), randomBytes(random, Math.floor(random() * 200))]);
    randomBytes(random, 20).copy(ip, IP_HEADER + 4); // seq, ack, data offset, flags, window, checksum, urgent
    ip.writeUInt16BE(ip.length, IP_TOTAL_LENGTH);
    admitted.push(wrap(ip));
  }
  // IPv6's version in an IPv4 frame: the capture filter runs on raw IP and tests the version
  // nibble, so the kernel drops it before either daemon sees it.
  const filtered: Buffer[] = [wrap(edit(tcp(), (b) => (b[IP_VERSION_IHL] = 0x65)))];
  for (let i = 0; i < RANDOM_FRAMES; i++) {
    const ip = randomBytes(random, 20 + Math.floor(random() * 300));
    ip[IP_PROTOCOL] = IPPROTO_UDP;
    // Lab addresses only: whatever the receiving kernel makes of it, any answer stays in the lab.
    Buffer.from(path.srcIp.split('.').map(Number)).copy(ip, IP_SRC);
    Buffer.from(path.dstIp.split('.').map(Number)).copy(ip, IP_DST);
    filtered.push(wrap(ip));
  }
  return { admitted, filtered };
}

async function sendFrames(lab: Lab, path: FramePath, frames: CraftedFrames): Promise<void> {
  const args: FrameSenderArgs = {
    device: lab.host(path.from).iface,
    frames: [...frames.admitted, ...frames.filtered].map((f) => f.toString('hex')),
  };
  const sender = lab.spawnNode(path.from, FRAME_SENDER, [argsFile(lab.logDir, 'frame-sender', args)]);
  await sender.succeeded();
}

/** What a daemon's decoder must have counted for the admitted frames, by reason. */
function expectedDrops(frames: readonly Buffer[]): Record<string, number> {
  const views = newPacketViews();
  const drops: Record<string, number> = {};
  for (const name of DECODE_STATUS_NAMES.slice(1)) drops[name] = 0;
  for (const f of frames) {
    const status = decodeFrame(LinkType.Ethernet, f, 0, f.length, views);
    if (status !== DecodeStatus.Ok) drops[DECODE_STATUS_NAMES[status]!]!++;
  }
  return drops;
}

function expectedRejections(cases: readonly ControlCase[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const c of cases) if (c.expect !== null) counts[c.expect] = (counts[c.expect] ?? 0) + (c.connections ?? 1);
  return counts;
}

test(
  'garbage on the control port and malformed frames on the captured interfaces: both daemons count, survive and keep copying',
  { timeout: 110_000 },
  async (t) => {
    await withLab(t, async (lab) => {
      const files = { [AFTER_PATH.slice(1)]: 'after the garbage\n' };
      const prod = await lab.startNginx('prod', { files });
      const target = await lab.startNginx('target', { files });
      const intercept = await startIntercept(lab, 80);
      const tcpcopy = await startTcpcopy(lab, { port: 80 });
      const random = seededRandom(SEED);
      const seedNote = `seed ${SEED.toString(16)}`;

      const cases = controlCases(random);
      await attackControlPort(lab, cases);

      // A real switch forwards frames whatever their IP header says. The lab's bridge would not:
      // with br_netfilter loaded it validates IPv4 headers (version, IHL, lengths, checksum) and
      // drops the malformed ones before they reach prod. Switch that off in this lab's switch.
      await lab.run.run('ip', [
        'netns',
        'exec',
        lab.topology.switchNs,
        'sysctl',
        '-qw',
        'net.bridge.bridge-nf-call-iptables=0',
      ]);
      // On prod's wire, as if from the client; on aux's, as if target answered a fake client.
      const { hosts } = lab;
      const prodPath: FramePath = {
        from: 'client',
        to: 'prod',
        srcIp: hosts.client.ip,
        dstIp: hosts.prod.ip,
        serverPort: 'dst',
      };
      const auxPath: FramePath = {
        from: 'target',
        to: 'aux',
        srcIp: hosts.target.ip,
        dstIp: lab.fakeIp(250),
        serverPort: 'src',
      };
      const toProd = craftFrames(lab, random, prodPath);
      const toAux = craftFrames(lab, random, auxPath);
      await sendFrames(lab, prodPath, toProd);
      await sendFrames(lab, auxPath, toAux);

      // Still copying, every request of it.
      const ab = await runAb(lab, prod.url(AFTER_PATH), { requests: AFTER_REQUESTS, concurrency: 8 });
      assert.deepEqual(ab, { complete: AFTER_REQUESTS, failed: 0 });
      const afterCount = (): number =>
        target.readAccessLog().filter((e) => e.path === AFTER_PATH && e.status === 200).length;
      const arrived = await settle(afterCount, AFTER_REQUESTS);
      assert.ok(
        intercept.running && tcpcopy.running,
        `a daemon died: intercept ${intercept.running}, tcpcopy ${tcpcopy.running}`,
      );

      const copierStats = await stopForStats(tcpcopy);
      const interceptStats = await stopForStats(intercept);
      assert.equal(
        arrived,
        AFTER_REQUESTS,
        `target received ${arrived} of the ${AFTER_REQUESTS} requests sent after the garbage; ${seedNote}`,
      );

      // intercept: each garbage connection rejected under its code; the copier's links untouched.
      assert.deepEqual(statAt(interceptStats, 'control.rejected'), expectedRejections(cases), seedNote);
      const garbageConnections = cases.reduce((n, c) => n + (c.connections ?? 1), 0);
      assert.equal(numberAt(interceptStats, 'control.accepted'), 2 + garbageConnections);
      assert.equal(numberAt(copierStats, 'control.disconnects'), 0, 'the copier lost an intercept connection');
      assert.equal(numberAt(copierStats, 'control.protocolErrors'), 0);

      // tcpcopy: every admitted frame reached the decoder, and each refusal is counted by reason.
      const prodDrops = expectedDrops(toProd.admitted);
      assert.deepEqual(statAt(copierStats, 'capture.framesDropped'), prodDrops, seedNote);
      // intercept counts only the reasons it met.
      const auxDrops = Object.fromEntries(Object.entries(expectedDrops(toAux.admitted)).filter(([, n]) => n > 0));
      assert.deepEqual(statAt(interceptStats, 'capture.decodeFailures'), auxDrops, seedNote);
      t.diagnostic(`copier refused ${JSON.stringify(prodDrops)}; intercept refused ${JSON.stringify(auxDrops)}`);
      assert.equal(numberAt(copierStats, 'client.truncated'), 1, 'the frame cut inside its payload');
      assert.deepEqual(await lab.guardCounters(), {
        clientFromOthers: 0,
        prodFromTarget: 0,
        prodFromFakeSubnet: 0,
        prodToSelf: 0,
      });
    });
  },
);
