/**
 * Captures from hosts with offloads on (the "real hosts" issue): a captured TCP checksum is no
 * base for the incremental rewrites made per replica. With checksum offload (veths, containers,
 * local clients) it holds only the pseudo-header sum; with receive offload several segments are
 * merged into one packet carrying the first segment's checksum; with TSO/GSO on the sender's side
 * a super-segment of up to 64 KiB is captured. segmentFromCapture computes both checksums afresh
 * and splitToMtu cuts what exceeds the MTU into pieces with fresh checksums (segment.ts).
 *
 * Checked on constructed packets, on a real capture made in the lab with the kernel's veth
 * offloads (test/fixtures/offload-tso-ethernet.pcap), through the engine, and for the test
 * server's side: a merged or TSO reply is one header record from intercept covering many MSS.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DecodeStatus,
  IPV4_OFF_CHECKSUM,
  IPV4_OFF_ID,
  IPV4_OFF_SRC,
  LinkType,
  TCP_OFF_CHECKSUM,
  TcpFlag,
  decodeFrame,
  ipv4HeaderChecksum,
  newPacketViews,
  verifyTcpChecksum,
} from '@tcpcopy/common';
import { buildTcpPacket, toAddress } from '@tcpcopy/common/testing';
import {
  PacketScratch,
  segmentFromCapture,
  splitToMtu,
  writeSegment,
  type Segment,
  type SendState,
  type Tuple,
} from '@tcpcopy/copier';
import { OFFLOAD_TSO_FIXTURE, loadFixture, loadFixtureJson } from '../packet/fixtures.js';
import { TARGET_IP, TARGET_PORT, Sim, assertChecksums, bytes, connect, type Impairment } from './harness.js';
import type { TargetConn } from './fake-target.js';
import { MAX_IP_PACKET, captured, mergeSegments, tcpChecksumOk, unfinishChecksum } from './offload-packets.js';
import { decodePacket, describe as describePacket, sackBlocksOf, type Packet } from './packets.js';

const MTU = 1500;
const IP_HEADER = 20;
/** TCP header with NOP, NOP, timestamps. */
const TCP_HEADER_TS = 32;
/** Payload of a full-sized segment behind those headers at MTU 1500. */
const FULL_PAYLOAD = MTU - IP_HEADER - TCP_HEADER_TS;

// --- a replica's rewrite --------------------------------------------------------------------

const REPLICA: Tuple = { srcIp: toAddress('10.232.0.7'), srcPort: 51234, dstIp: TARGET_IP, dstPort: TARGET_PORT };
const REPLICA_ACK = 0xfffff123;
const REPLICA_WINDOW = 4000;
const REPLICA_TS_ECR = 0x7fff0042;

/** A send state that rewrites every field a replica changes (TSval too: the floor is ahead). */
function replicaState(tsValFloor: number): SendState {
  return { ack: REPLICA_ACK, window: REPLICA_WINDOW, tsOn: true, tsEcr: REPLICA_TS_ECR, tsValFloor };
}

/** writeSegment for REPLICA, decoded; asserts every rewritten field and both checksums. */
function replicate(seg: Segment, state: SendState, scratch = new PacketScratch(MAX_IP_PACKET + 1)): Packet {
  const length = writeSegment(scratch, seg, REPLICA, state);
  assert.equal(length, seg.packet.length);
  const p = decodePacket(scratch.buf.subarray(0, length));
  const at = describePacket(p);
  assert.deepEqual(
    [p.src, p.srcPort, p.dst, p.dstPort],
    [REPLICA.srcIp, REPLICA.srcPort, REPLICA.dstIp, REPLICA.dstPort],
    at,
  );
  if (p.flags & TcpFlag.ACK) assert.equal(p.ack, REPLICA_ACK, at);
  assert.equal(p.window, REPLICA_WINDOW, at);
  // writeSegment moved the floor to the TSval it wrote.
  if (p.ts !== undefined) assert.equal(p.ts.val, state.tsValFloor, at);
  if (p.ts !== undefined && state.tsOn && p.flags & TcpFlag.ACK) assert.equal(p.ts.ecr, REPLICA_TS_ECR, at);
  assert.ok(p.ipChecksumOk, `IP checksum after the rewrite: ${at}`);
  assert.ok(p.tcpChecksumOk, `TCP checksum after the rewrite: ${at}`);
  return p;
}

/** The payload of a segment as captured. */
function payloadOf(seg: Segment): Buffer {
  return seg.packet.subarray(seg.ipHeaderLength + seg.tcpHeaderLength);
}

/**
 * Splits `seg` at `mtu` as the engine does and checks the pieces: each fits, verifies after a
 * replica's rewrite, continues the previous one's sequence numbers and IP ID, carries PSH and
 * FIN only when last, and together they hold exactly the original payload.
 */
function assertSplitsCleanly(seg: Segment, mtu: number, state: SendState): Packet[] {
  const pieces = seg.packet.length > mtu ? splitToMtu(seg, mtu) : [seg];
  const out = pieces.map((piece) => replicate(piece, state));
  const baseId = seg.packet.readUInt16BE(IPV4_OFF_ID);
  let seq = seg.seq;
  out.forEach((p, i) => {
    const at = `piece ${i + 1}/${out.length} of seq ${seg.seq}: ${describePacket(p)}`;
    const last = i === out.length - 1;
    assert.ok(p.raw.length <= mtu, at);
    assert.equal(p.seq, seq, at);
    assert.equal(p.ipId, (baseId + i) & 0xffff, at);
    assert.equal(p.flags, last ? seg.flags : seg.flags & ~(TcpFlag.PSH | TcpFlag.FIN), at);
    assert.equal(pieces[i]!.seq, seq, at);
    assert.equal(pieces[i]!.payloadLength, p.payload.length, at);
    seq = (seq + p.payload.length) >>> 0;
  });
  assert.deepEqual(
    Buffer.concat(out.map((p) => p.payload)),
    payloadOf(seg),
    'the pieces hold exactly the captured payload',
  );
  return out;
}

// --- (a) constructed packets ----------------------------------------------------------------

const CLIENT = toAddress('192.0.2.10');
const PROD = toAddress('198.51.100.1');
const CLIENT_TS_VAL = 1000;

function clientPacket(seq: number, payload: Buffer, flags: number, ipId: number): Buffer {
  return buildTcpPacket({
    src: CLIENT,
    dst: PROD,
    srcPort: 40000,
    dstPort: 80,
    seq,
    ack: 0x50000001,
    flags,
    window: 502,
    options: { timestamps: { val: CLIENT_TS_VAL, ecr: 0x1234 } },
    payload,
    ipId,
  });
}

describe('offloads: constructed captures', () => {
  test('a segment whose TCP checksum holds only the pseudo-header sum (checksum offload)', () => {
    const packet = unfinishChecksum(clientPacket(0x10000001, bytes(1000, 1), TcpFlag.ACK | TcpFlag.PSH, 7));
    assert.ok(!tcpChecksumOk(packet), 'the captured checksum is unfinished');
    const { frame, views } = captured(packet);
    const seg = segmentFromCapture(frame, views.ip, views.tcp);
    frame.fill(0xa5); // the capture buffer is reused: the segment must own its bytes
    assert.ok(tcpChecksumOk(seg.packet), 'segmentFromCapture computed the TCP checksum');
    assert.equal(seg.packet.readUInt16BE(IPV4_OFF_CHECKSUM), ipv4HeaderChecksum(seg.packet, 0, seg.ipHeaderLength));
    const p = replicate(seg, replicaState(CLIENT_TS_VAL + 5000));
    assert.deepEqual(p.payload, bytes(1000, 1));
    // Twice more with other states: the shared segment is never written to.
    replicate(seg, { ...replicaState(CLIENT_TS_VAL), tsOn: false });
    replicate(seg, replicaState(CLIENT_TS_VAL + 1));
    assert.ok(
      tcpChecksumOk(seg.packet) && seg.packet.readUInt32BE(IPV4_OFF_SRC) === CLIENT,
      'the segment itself is untouched',
    );
  });

  test('an unfinished bare ACK and FIN verify after the rewrite too', () => {
    for (const flags of [TcpFlag.ACK, TcpFlag.ACK | TcpFlag.FIN]) {
      const { frame, views } = captured(unfinishChecksum(clientPacket(0x10000001, Buffer.alloc(0), flags, 9)));
      replicate(segmentFromCapture(frame, views.ip, views.tcp), replicaState(CLIENT_TS_VAL + 1));
    }
  });

  test("a merged packet (two segments, the first segment's checksums kept): verified, rewritten, split", () => {
    const a = clientPacket(0x10000001, bytes(FULL_PAYLOAD, 2), TcpFlag.ACK, 20);
    const b = clientPacket(0x10000001 + FULL_PAYLOAD, bytes(FULL_PAYLOAD, 3), TcpFlag.ACK | TcpFlag.PSH, 21);
    const merged = mergeSegments([a, b]);
    assert.equal(merged.length, IP_HEADER + TCP_HEADER_TS + 2 * FULL_PAYLOAD);
    assert.equal(merged.readUInt16BE(IP_HEADER + TCP_OFF_CHECKSUM), a.readUInt16BE(IP_HEADER + TCP_OFF_CHECKSUM));
    assert.ok(!tcpChecksumOk(merged), "the first segment's checksum does not cover the merged packet");
    assert.notEqual(
      merged.readUInt16BE(IPV4_OFF_CHECKSUM),
      ipv4HeaderChecksum(merged, 0, IP_HEADER),
      'nor does its IP header checksum',
    );
    const { frame, views } = captured(merged);
    const seg = segmentFromCapture(frame, views.ip, views.tcp);
    assert.ok(tcpChecksumOk(seg.packet));
    assert.equal(seg.packet.readUInt16BE(IPV4_OFF_CHECKSUM), ipv4HeaderChecksum(seg.packet, 0, IP_HEADER));
    // Whole (a path with a larger MTU), then split at 1500 into the two original segments.
    replicate(seg, replicaState(CLIENT_TS_VAL + 1));
    const pieces = assertSplitsCleanly(seg, MTU, replicaState(CLIENT_TS_VAL + 1));
    assert.deepEqual(
      pieces.map((p) => p.payload.length),
      [FULL_PAYLOAD, FULL_PAYLOAD],
    );
    assert.deepEqual(
      pieces.map((p) => p.flags),
      [TcpFlag.ACK, TcpFlag.ACK | TcpFlag.PSH],
    );
  });

  test('a 64 KiB super-segment with an unfinished checksum and a FIN, split at several MTUs', () => {
    const payload = MAX_IP_PACKET - IP_HEADER - TCP_HEADER_TS;
    const packet = unfinishChecksum(
      clientPacket(0xffff8000, bytes(payload, 4), TcpFlag.ACK | TcpFlag.PSH | TcpFlag.FIN, 0xfff0),
    );
    assert.equal(packet.length, MAX_IP_PACKET);
    const { frame, views } = captured(packet);
    const seg = segmentFromCapture(frame, views.ip, views.tcp);
    assert.ok(tcpChecksumOk(seg.packet));
    for (const mtu of [576, 1280, MTU, 9000]) {
      const pieces = assertSplitsCleanly(seg, mtu, replicaState(CLIENT_TS_VAL + 1));
      assert.equal(pieces.length, Math.ceil(payload / (mtu - IP_HEADER - TCP_HEADER_TS)), `mtu ${mtu}`);
    }
  });
});

// --- (b) the recorded capture ---------------------------------------------------------------

/** tcpdump's "cksum 0x181a (incorrect -> 0x9d14)": the checksum it computed itself. */
const TCPDUMP_INCORRECT = /cksum 0x[0-9a-f]+ \(incorrect -> (0x[0-9a-f]+)\)/;

function loadOffloadCapture() {
  const fx = loadFixture(OFFLOAD_TSO_FIXTURE);
  const json = loadFixtureJson(OFFLOAD_TSO_FIXTURE);
  assert.ok(json !== undefined, `${OFFLOAD_TSO_FIXTURE} has no JSON beside it`);
  assert.equal(fx.linkType, LinkType.Ethernet);
  assert.equal(fx.records.length, json.packetCount);
  const frames = fx.records.map((r, i) => {
    assert.equal(r.data.length, r.originalLength, `record ${i + 1} captured whole`);
    const views = newPacketViews();
    assert.equal(decodeFrame(fx.linkType, r.data, 0, r.data.length, views), DecodeStatus.Ok, `record ${i + 1}`);
    return { data: r.data, views, expected: json.packets[i]! };
  });
  const syn = frames[0]!;
  assert.equal(syn.views.tcp.flags, TcpFlag.SYN, "the capture starts with the client's SYN");
  const fromClient = frames.filter(
    (f) => f.views.ip.src === syn.views.ip.src && f.views.tcp.srcPort === syn.views.tcp.srcPort,
  );
  assert.ok(json.uploadBytes !== undefined, 'the JSON gives the body size');
  return { frames, fromClient, serverPort: syn.views.tcp.dstPort, uploadBytes: json.uploadBytes };
}

describe(`offloads: ${OFFLOAD_TSO_FIXTURE} (recorded in the lab, veth offloads on)`, () => {
  const { frames, fromClient, serverPort, uploadBytes } = loadOffloadCapture();

  test('it holds super-segments larger than the MTU, every client checksum unfinished', () => {
    const superSegments = fromClient.filter((f) => f.views.ip.totalLength > MTU);
    assert.ok(superSegments.length >= 2, `only ${superSegments.length} super-segments`);
    for (const f of fromClient) {
      assert.ok(!verifyTcpChecksum(f.data, f.views.ip), `client packet ${f.expected.index}: ${f.expected.tcpdump}`);
      assert.equal(f.expected.tcp.checksumCorrect, false, 'tcpdump agrees');
    }
  });

  test('segmentFromCapture computes the very checksums tcpdump says are correct', () => {
    for (const f of frames) {
      const m = TCPDUMP_INCORRECT.exec(f.expected.tcpdump);
      assert.ok(m, `tcpdump found packet ${f.expected.index} correct: ${f.expected.tcpdump}`);
      const seg = segmentFromCapture(f.data, f.views.ip, f.views.tcp);
      assert.equal(seg.packet.readUInt16BE(seg.ipHeaderLength + TCP_OFF_CHECKSUM), Number(m[1]), f.expected.tcpdump);
      assert.equal(seg.payloadLength, f.expected.tcp.payloadLength);
    }
  });

  test('every client packet, split at MTU 1500 and rewritten for a replica: checksums verify, pieces cover the payload exactly', () => {
    const scratchState = replicaState(0);
    let next: number | undefined;
    const stream: Buffer[] = [];
    let pieces = 0;
    for (const f of fromClient) {
      const seg = segmentFromCapture(f.data, f.views.ip, f.views.tcp);
      // TSval never goes backwards for a replica: the floor follows the client's clock.
      scratchState.tsValFloor = (seg.tsVal + 1) >>> 0;
      const out = assertSplitsCleanly(seg, MTU, scratchState);
      pieces += out.length;
      for (const p of out) assert.ok(p.raw.length <= MTU, describePacket(p));
      if (seg.payloadLength > 0) {
        if (next !== undefined) assert.equal(seg.seq, next, 'the capture holds the client stream without holes');
        next = (seg.seq + seg.payloadLength) >>> 0;
        stream.push(...out.map((p) => p.payload));
      }
    }
    assert.ok(pieces > fromClient.length, 'super-segments were split');
    const request = Buffer.concat(stream).toString('latin1');
    const headEnd = request.indexOf('\r\n\r\n') + 4;
    assert.match(request, /^POST \/upload HTTP\/1\.1\r\n/);
    assert.match(request.slice(0, headEnd), new RegExp(`\r\ncontent-length: ${uploadBytes}\r\n`, 'i'));
    assert.equal(request.length - headEnd, uploadBytes, 'the whole body, once');
  });

  test("replayed through the engine: the test server receives the client's stream in MTU-sized packets, and the session ends cleanly", () => {
    const requestLength = fromClient.reduce((n, f) => n + f.views.tcp.payloadLength, 0);
    const responseLength = frames
      .filter((f) => f.views.tcp.srcPort === serverPort)
      .reduce((n, f) => n + f.views.tcp.payloadLength, 0);
    const sim: Sim = new Sim({
      config: {
        mtu: MTU,
        targets: [{ matchIp: 0, matchPort: serverPort, targetIp: TARGET_IP, targetPort: TARGET_PORT }],
      },
      target: {
        windowScale: 7,
        onData: (conn, _bytes, now) => {
          if (conn.receivedLength === requestLength) sim.target.respond(conn, bytes(responseLength, 5), now);
        },
        onFin: (conn, now) => sim.target.close(conn, now),
      },
    });
    const startUs = timestampUs(fromClient[0]!.expected.timestamp);
    for (const f of fromClient) {
      const at = (timestampUs(f.expected.timestamp) - startUs) / 1000;
      if (at > sim.now) sim.run(at - sim.now);
      const ip = f.views.ip;
      assert.ok(sim.client(f.data.subarray(ip.offset, ip.offset + ip.totalLength)));
    }
    sim.run(10_000);
    const conn = sim.target.only();
    const expected = Buffer.concat(
      fromClient.map((f) => f.data.subarray(f.views.tcp.payloadOffset, f.views.ip.offset + f.views.ip.totalLength)),
    );
    assert.equal(conn.receivedLength, requestLength);
    assert.deepEqual(conn.received, expected);
    assert.ok(conn.finReceived, "the client's FIN reached the test server");
    for (const p of sim.injected()) assert.ok(p.raw.length <= MTU, describePacket(p));
    assertChecksums(sim);
    assert.deepEqual(sim.target.badPackets, []);
    const [t] = sim.engine.targetCounters;
    assert.ok(t !== undefined);
    assert.deepEqual(
      [t.payloadCaptured, t.payloadAcked, t.payloadPending, t.payloadDuplicate],
      [requestLength, requestLength, 0, 0],
    );
    assert.equal(sim.engine.counters.sessionsEnded.finished, 1, sim.describeAll());
  });
});

/** tcpdump's "seconds.microseconds" as an integer number of microseconds. */
function timestampUs(ts: string): number {
  const [s, us] = ts.split('.') as [string, string];
  return Number(s) * 1_000_000 + Number(us.padEnd(6, '0'));
}

// --- (c) a super-segment through the engine -------------------------------------------------

describe('offloads: engine', () => {
  test('a 64 KiB super-segment with an unfinished checksum reaches every replica in MTU-sized packets, all acknowledged', () => {
    const sim = new Sim({ config: { mtu: MTU, copies: 2 }, target: { windowScale: 7, window: 256 * 1024 } });
    const c = connect(sim, { timestamps: true, windowScale: 7, window: 65535 });
    const payload = MAX_IP_PACKET - IP_HEADER - TCP_HEADER_TS;
    const superSegment = unfinishChecksum(c.data(bytes(payload, 6)));
    assert.equal(superSegment.length, MAX_IP_PACKET);
    const before = sim.injected().length;
    c.feed(superSegment);
    // Then a small segment and a FIN, unfinished too (they go out whole, unsplit).
    c.feed(unfinishChecksum(c.data(bytes(100, 7))));
    c.feed(unfinishChecksum(c.fin()));
    const total = payload + 100;
    const done = sim.runUntil(
      () => sim.target.accepted.every((conn) => conn.receivedLength === total && conn.finReceived),
      10_000,
    );
    sim.settle();
    assert.ok(done, sim.describeAll());
    const data = sim.injected(before).filter((p) => p.payload.length > 0);
    assert.equal(
      data.length,
      2 * (Math.ceil(payload / FULL_PAYLOAD) + 1),
      'each replica: the pieces and the small segment, nothing resent',
    );
    for (const p of sim.injected()) assert.ok(p.raw.length <= MTU, `larger than the MTU: ${describePacket(p)}`);
    assertChecksums(sim);
    assert.deepEqual(sim.target.badPackets, []);
    assert.equal(sim.target.accepted.length, 2);
    for (const conn of sim.target.accepted) assert.deepEqual(conn.received, c.stream);
    assert.equal(sim.engine.counters.segmentsSplit, Math.ceil(payload / FULL_PAYLOAD));
    // Accounting closes: every captured byte acknowledged by the test server, for each copy.
    const [t] = sim.engine.targetCounters;
    assert.ok(t !== undefined);
    assert.deepEqual(
      [t.payloadCaptured, t.payloadAcked, t.payloadPending, t.payloadDuplicate],
      [total, 2 * total, 0, 0],
    );
    assert.deepEqual(
      Object.entries(t.payloadDropped).filter(([, n]) => n > 0),
      [],
    );
  });

  test('a test server that announced a smaller MSS gets merged captures cut to it (RFC 9293 §3.7.1)', () => {
    const TARGET_MSS = 1000;
    const sim = new Sim({ config: { mtu: MTU }, target: { mss: TARGET_MSS, window: 256 * 1024, windowScale: 7 } });
    const c = connect(sim, { timestamps: true, windowScale: 7, window: 65535 });
    sim.settle();
    const payload = 20_000;
    c.feed(unfinishChecksum(c.data(bytes(payload, 5))));
    sim.runUntil(() => sim.target.only().receivedLength === payload, 10_000);
    sim.settle();
    assert.deepEqual(sim.target.only().received, c.stream);
    const data = sim.injected().filter((p) => p.payload.length > 0);
    // With timestamps, 12 of the MSS's bytes go to options (RFC 6691).
    for (const p of data)
      assert.ok(
        p.payload.length <= TARGET_MSS - 12,
        `${p.payload.length} bytes of data beyond the MSS: ${describePacket(p)}`,
      );
    assert.equal(data.length, Math.ceil(payload / (TARGET_MSS - 12)));
    assertChecksums(sim);
  });

  test("a merged client packet carrying the first segment's checksums is split and delivered whole", () => {
    const sim = new Sim({ config: { mtu: MTU } });
    const c = connect(sim, { timestamps: true, window: 65535 });
    const merged = mergeSegments([
      c.data(bytes(FULL_PAYLOAD, 7), 0, TcpFlag.ACK),
      c.data(bytes(FULL_PAYLOAD, 8)),
      c.data(bytes(100, 9)),
    ]);
    c.feed(merged);
    sim.settle();
    for (const p of sim.injected()) assert.ok(p.raw.length <= MTU, describePacket(p));
    assertChecksums(sim);
    const conn = sim.target.only();
    assert.deepEqual(conn.received, c.stream);
    assert.equal(sim.engine.targetCounters[0]!.payloadAcked, c.stream.length);
  });
});

// --- (d) merged reply records ---------------------------------------------------------------

const REPLY_MSS = 1000;
const REPLY_SEGMENTS = 30;
/** Intercept on a host with receive offload: the test server's segments reach it merged, so
 *  none is reported one by one; the test feeds the merged records itself. */
const dropReplyData: Impairment = (p) => (p.payload.length > 0 ? [] : [0]);

function isPureAck(p: Packet): boolean {
  return (p.flags & ~TcpFlag.ACK) === 0 && p.payload.length === 0;
}

/** A session whose client sent a request; the test server's response is on the wire. */
function responding(opts: { mss: number; segments: number; dropData: boolean }) {
  const sim = new Sim({ target: { mss: opts.mss, windowScale: 7, window: 1 << 20 } });
  const c = connect(sim, { mss: 65495, window: 65535, windowScale: 7, timestamps: true });
  const conn = sim.target.only();
  c.feed(c.data('POST /upload'));
  sim.settle();
  if (opts.dropData) sim.toEngine = dropReplyData;
  const before = sim.injected().length;
  const sentBefore = sim.targetSent.length;
  const start = conn.sndNxt;
  sim.target.respond(conn, bytes(opts.mss * opts.segments, 11), sim.now);
  const data = sim.targetSent.slice(sentBefore).filter((p) => p.payload.length > 0);
  assert.equal(data.length, opts.segments, 'the whole response was sent at once');
  sim.run(sim.latencyMs);
  /** A record merged from response segments [from, to). */
  const merged = (from: number, to: number): Packet =>
    decodePacket(mergeSegments(data.slice(from, to).map((p) => p.raw)), sim.now);
  const acksSince = (): Packet[] => sim.injected(before).filter(isPureAck);
  const at = (n: number): number => (start + n * opts.mss) >>> 0;
  return { sim, conn, data, merged, acksSince, at };
}

function assertResponseAcknowledged(sim: Sim, conn: TargetConn, segments: number): void {
  assert.ok(
    sim.runUntil(() => conn.sndUna === conn.sndNxt, 1000),
    `response not acknowledged:\n${sim.describeAll()}`,
  );
  const dataSent = sim.targetSent.filter((p) => p.payload.length > 0);
  assert.equal(dataSent.length, segments, `the test server resent nothing:\n${sim.describeAll()}`);
}

describe('offloads: merged and TSO reply records', () => {
  test('a TSO reply: each 30 KiB record is acknowledged whole', () => {
    const mss = 30 * 1024;
    const { sim, conn, data, acksSince, at } = responding({ mss, segments: 3, dropData: false });
    for (const p of data) assert.equal(p.raw.length, IP_HEADER + TCP_HEADER_TS + mss, 'one record covers 30 KiB');
    assertResponseAcknowledged(sim, conn, 3);
    const acks = acksSince().map((p) => p.ack);
    assert.equal(acks.at(-1), at(3), 'the last ACK covers the whole response');
    for (const ack of acks) assert.ok([at(1), at(2), at(3)].includes(ack), `ACK ${ack} inside a record`);
    assert.equal(sim.engine.counters.targetPayloadBytes, 3 * mss);
  });

  test('a merged record of 30 segments in order: one ACK covers all of it', () => {
    const { sim, conn, merged, acksSince, at } = responding({
      mss: REPLY_MSS,
      segments: REPLY_SEGMENTS,
      dropData: true,
    });
    const record = merged(0, REPLY_SEGMENTS);
    assert.equal(record.raw.length, IP_HEADER + TCP_HEADER_TS + REPLY_SEGMENTS * REPLY_MSS);
    sim.targetRecord(record);
    assert.deepEqual(
      acksSince().map((p) => p.ack),
      [at(REPLY_SEGMENTS)],
    );
    assertResponseAcknowledged(sim, conn, REPLY_SEGMENTS);
  });

  test('a merged record beyond a hole is reported by SACK, and a merged record filling the hole is acknowledged with it', () => {
    const { sim, conn, merged, acksSince, at } = responding({
      mss: REPLY_MSS,
      segments: REPLY_SEGMENTS,
      dropData: true,
    });
    sim.targetRecord(merged(10, REPLY_SEGMENTS));
    const dup = acksSince();
    assert.equal(dup.length, 1, 'a duplicate ACK at once');
    assert.equal(dup[0]!.ack, at(0));
    assert.deepEqual(
      sackBlocksOf(dup[0]!),
      [[at(10), at(REPLY_SEGMENTS)]],
      'the SACK block spans the whole merged record',
    );
    sim.targetRecord(merged(0, 10));
    assert.equal(acksSince().at(-1)!.ack, at(REPLY_SEGMENTS), 'the ACK jumps past everything seen beyond the hole');
    assertResponseAcknowledged(sim, conn, REPLY_SEGMENTS);
  });

  test('a merged record filling several holes and overlapping what was seen beyond them', () => {
    const { sim, conn, data, merged, acksSince, at } = responding({
      mss: REPLY_MSS,
      segments: REPLY_SEGMENTS,
      dropData: true,
    });
    const single = (i: number): Packet => data[i]!;
    // Seen beyond the hole at 0: segment 2, segments 5-6, segment 12, then 9-29 merged.
    for (const p of [single(2), single(5), single(6), single(12), merged(9, REPLY_SEGMENTS)]) sim.targetRecord(p);
    assert.ok(
      acksSince().every((p) => p.ack === at(0)),
      'duplicate ACKs only while the hole is open',
    );
    // Segments 0-8 merged: fills the holes at 0-1, 3-4 and 7-8, overlaps 2 and 5-6.
    sim.targetRecord(merged(0, 9));
    assert.equal(acksSince().at(-1)!.ack, at(REPLY_SEGMENTS));
    assertResponseAcknowledged(sim, conn, REPLY_SEGMENTS);
  });
});
