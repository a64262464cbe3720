/**
 * intercept -D A-B in the core: a test server behind address translation answers A; its replies
 * are routed by B's route and reach the copier addressed to B, with both checksums still right.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DecodeStatus,
  TcpFlag,
  decodeIpv4,
  decodeTcp,
  newIpv4View,
  newTcpView,
  verifyIpv4Checksum,
  verifyTcpChecksum,
} from '@tcpcopy/common';
import { InterceptCore, ReplyOutcome, type ReplyAddressMap } from '@tcpcopy/intercept';
import { routesBuffer } from '../control/fixtures.js';
import { RecordingTransport, captured, type Captured } from './helpers.js';

// replyPacket's defaults: target 10.0.0.2:8000 answering the fake client 10.9.0.1:40000.
const CLIENT_IP = 0x0a090001; // B: tcpcopy's -c address, which holds the route
const TARGET_IP = 0x0a000002;
const DOCKER_GATEWAY = '172.17.0.1'; // A: whom the test server in its container answers
const DOCKER_GATEWAY_IP = 0xac110001;
const MAP: ReplyAddressMap = { from: DOCKER_GATEWAY_IP, to: CLIENT_IP };
// An address above 2^31 on both sides: no sign trouble in the comparison or the rewrite.
const HIGH_MAP: ReplyAddressMap = { from: 0xc0a80a01, to: 0xc6336401 };

const route = (clientIp = CLIENT_IP, clientPort = 40000): Buffer =>
  routesBuffer([[clientIp, clientPort, TARGET_IP, 8000]]);
const toGateway = (spec: Parameters<typeof captured>[0] = {}): Captured =>
  captured({ dst: DOCKER_GATEWAY, flags: TcpFlag.ACK, payloadLength: 100, ...spec });

function setup(replyAddressMap?: ReplyAddressMap): { core: InterceptCore; net: RecordingTransport } {
  const net = new RecordingTransport();
  return { core: new InterceptCore(net, { replyAddressMap }), net };
}

/** The record as the copier decodes it: its destination, and whether its IPv4 header checksum holds. */
function decodeRecord(record: Buffer): { dst: number; headerChecksumOk: boolean } {
  const ip = newIpv4View();
  const tcp = newTcpView();
  assert.equal(decodeIpv4(record, 0, record.length, ip), DecodeStatus.Ok);
  assert.equal(decodeTcp(record, ip, tcp), DecodeStatus.Ok);
  return { dst: ip.dst, headerChecksumOk: verifyIpv4Checksum(record, ip) };
}

describe("intercept -D: replies to A are the fake client B's", () => {
  test('a reply to A is routed by the route of B, and its record carries B with a valid header checksum', () => {
    const { core, net } = setup(MAP);
    core.onRouteAdd(3, route(), 0);
    core.onRouteAdd(4, route(DOCKER_GATEWAY_IP), 0); // a route of A itself is never used for A's replies
    const r = toGateway();
    assert.equal(core.onReply(r.buf, r.ip, r.tcp, 1), ReplyOutcome.Routed);
    core.flushWaiting();
    const records = net.recordsTo(3);
    assert.equal(records.length, 1);
    assert.deepEqual(decodeRecord(records[0]!), { dst: CLIENT_IP, headerChecksumOk: true });
    assert.equal(net.recordsTo(4).length, 0);
    assert.equal(core.counters.repliesRewritten, 1);
    assert.equal(core.counters.routed, 1);
    assert.equal(core.connectionCounters(3)?.routed, 1);
  });

  test('the whole packet is readdressed with both checksums patched, as if sent to B', () => {
    const { core } = setup(MAP);
    const r = toGateway();
    const asIfToB = captured({ flags: TcpFlag.ACK, payloadLength: 100 });
    core.onReply(r.buf, r.ip, r.tcp, 0);
    assert.equal(r.ip.dst, CLIENT_IP, 'the view follows the buffer');
    assert.ok(verifyIpv4Checksum(r.buf, r.ip) && verifyTcpChecksum(r.buf, r.ip));
    assert.deepEqual(r.buf, asIfToB.buf);
  });

  test('replies to other addresses are untouched and not counted', () => {
    const { core, net } = setup(MAP);
    core.onRouteAdd(3, route(), 0);
    const toB = captured({ flags: TcpFlag.ACK, payloadLength: 100 });
    const before = Buffer.from(toB.buf);
    assert.equal(core.onReply(toB.buf, toB.ip, toB.tcp, 0), ReplyOutcome.Routed);
    const elsewhere = captured({ dst: '10.9.0.7', flags: TcpFlag.ACK, payloadLength: 100 });
    const elsewhereBefore = Buffer.from(elsewhere.buf);
    assert.equal(core.onReply(elsewhere.buf, elsewhere.ip, elsewhere.tcp, 0), ReplyOutcome.Unroutable);
    core.flushWaiting();
    assert.deepEqual(toB.buf, before);
    assert.deepEqual(elsewhere.buf, elsewhereBefore);
    assert.equal(decodeRecord(net.recordsTo(3)[0]!).dst, CLIENT_IP);
    assert.equal(core.counters.repliesRewritten, 0);
    assert.equal(core.counters.unroutable, 1);
  });

  test('without -D a reply to A finds no route of B: parked if a SYN-ACK, unroutable otherwise', () => {
    const { core, net } = setup();
    core.onRouteAdd(3, route(), 0);
    const synAck = toGateway({ flags: TcpFlag.SYN | TcpFlag.ACK, payloadLength: 0 });
    assert.equal(core.onReply(synAck.buf, synAck.ip, synAck.tcp, 0), ReplyOutcome.Parked);
    const data = toGateway();
    assert.equal(core.onReply(data.buf, data.ip, data.tcp, 0), ReplyOutcome.Unroutable);
    core.flushWaiting();
    assert.equal(net.sent.length, 0);
    assert.equal(core.counters.repliesRewritten, 0);
  });

  test("a SYN-ACK to A that beats B's route is parked under B and released to it", () => {
    const { core, net } = setup(MAP);
    const synAck = toGateway({ flags: TcpFlag.SYN | TcpFlag.ACK, payloadLength: 0, tcpOptionWords: 5 });
    assert.equal(core.onReply(synAck.buf, synAck.ip, synAck.tcp, 0), ReplyOutcome.Parked);
    core.onRouteAdd(5, route(), 1);
    core.flushWaiting();
    const records = net.recordsTo(5);
    assert.equal(records.length, 1);
    assert.deepEqual(decodeRecord(records[0]!), { dst: CLIENT_IP, headerChecksumOk: true });
    assert.equal(core.counters.released, 1);
    assert.equal(core.counters.repliesRewritten, 1);
  });

  test('addresses above 2^31 (int32 negative) map the same way', () => {
    const { core, net } = setup(HIGH_MAP);
    core.onRouteAdd(3, route(HIGH_MAP.to), 0);
    const r = captured({ dst: '192.168.10.1', flags: TcpFlag.ACK, payloadLength: 10 });
    assert.equal(core.onReply(r.buf, r.ip, r.tcp, 0), ReplyOutcome.Routed);
    core.flushWaiting();
    assert.deepEqual(decodeRecord(net.recordsTo(3)[0]!), { dst: HIGH_MAP.to, headerChecksumOk: true });
  });
});
