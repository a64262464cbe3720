import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  DecodeStatus,
  IPV4_FLAG_DF,
  LinkType,
  decodeFrame,
  newPacketViews,
  tcpPacketLength,
  verifyIpv4Checksum,
  verifyTcpChecksum,
  writeTcpPacket,
  type TcpPacketFields,
} from '@tcpcopy/common';
import { buildTcpPacket, wrapLink } from '@tcpcopy/common/testing';
import { arbTcpPacketFields } from './arbitraries.js';
import { assertOptionsMatchSpec } from './expect.js';

const arbLink = fc.constantFrom(...Object.values(LinkType));

function assertDecodesTo(linkType: number, frame: Uint8Array, fields: TcpPacketFields): void {
  const v = newPacketViews();
  assert.equal(decodeFrame(linkType, frame, 0, frame.length, v), DecodeStatus.Ok);
  const { ip, tcp } = v;
  const ipOptionsLength = ((fields.ipOptions?.length ?? 0) + 3) & ~3;
  const payload = fields.payload ?? new Uint8Array();
  assert.equal(ip.headerLength, 20 + ipOptionsLength);
  assert.equal(ip.totalLength, tcpPacketLength(fields));
  assert.equal(ip.capturedLength, ip.totalLength);
  assert.equal(ip.src, fields.src);
  assert.equal(ip.dst, fields.dst);
  assert.equal(ip.id, fields.ipId ?? 0);
  assert.equal(ip.ttl, fields.ttl ?? 64);
  assert.equal(ip.tos, fields.tos ?? 0);
  assert.equal(ip.flagsFragment, fields.df === false ? 0 : IPV4_FLAG_DF);
  assert.equal(ip.isFragment, false);
  assert.equal(ip.protocol, 6);
  assert.equal(tcp.offset, ip.offset + ip.headerLength);
  assert.equal(tcp.srcPort, fields.srcPort);
  assert.equal(tcp.dstPort, fields.dstPort);
  assert.equal(tcp.seq, fields.seq);
  assert.equal(tcp.ack, fields.ack);
  assert.equal(tcp.flags, fields.flags);
  assert.equal(tcp.window, fields.window);
  assert.equal(tcp.urgent, fields.urgent ?? 0);
  assert.equal(tcp.payloadLength, payload.length);
  assert.equal(tcp.capturedPayloadLength, payload.length);
  assert.deepEqual(frame.subarray(tcp.payloadOffset, tcp.payloadOffset + tcp.payloadLength), Buffer.from(payload));
  assertOptionsMatchSpec(tcp.options, fields.options ?? {});
  assert.ok(verifyIpv4Checksum(frame, ip));
  assert.ok(verifyTcpChecksum(frame, ip));
}

describe('build -> frame -> decode round trips', () => {
  test('every header field and option, through every link type', () => {
    fc.assert(
      fc.property(
        arbTcpPacketFields,
        arbLink,
        fc.array(fc.nat({ max: 0xffff }), { maxLength: 2 }),
        (fields, lt, tags) => {
          const pkt = Buffer.alloc(tcpPacketLength(fields));
          writeTcpPacket(pkt, 0, fields);
          assertDecodesTo(lt, wrapLink(lt, pkt, { vlanTags: lt === LinkType.Ethernet ? tags : [] }), fields);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('a typical Linux SYN through Ethernet with two VLAN tags', () => {
    const fields = {
      src: 0x0a000001,
      dst: 0x0a000002,
      srcPort: 55555,
      dstPort: 80,
      seq: 0x01020304,
      ack: 0,
      flags: 0x02,
      window: 64240,
      options: { mss: 1460, sackPermitted: true, timestamps: { val: 123456, ecr: 0 }, windowScale: 7 },
    };
    assertDecodesTo(
      LinkType.Ethernet,
      wrapLink(LinkType.Ethernet, buildTcpPacket(fields), { vlanTags: [10, 20] }),
      fields,
    );
  });

  test('writeTcpPacket validates what it cannot write', () => {
    const f = { src: 1, dst: 2, srcPort: 3, dstPort: 4, seq: 5, ack: 6, flags: 0, window: 0 };
    assert.throws(() => writeTcpPacket(Buffer.alloc(39), 0, f), RangeError);
    assert.throws(() => writeTcpPacket(Buffer.alloc(100), 0, { ...f, ipOptions: Buffer.alloc(41) }), RangeError);
    assert.throws(() => writeTcpPacket(Buffer.alloc(70000), 0, { ...f, payload: Buffer.alloc(65500) }), RangeError);
    assert.equal(writeTcpPacket(Buffer.alloc(45), 5, f), 40);
  });
});
