import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  DecodeStatus,
  blankSackOption,
  decodeIpv4,
  decodeTcp,
  newIpv4View,
  newTcpView,
  verifyIpv4Checksum,
  verifyTcpChecksum,
} from '@tcpcopy/common';
import { buildTcpPacket } from '@tcpcopy/common/testing';

function decoded(buf: Buffer) {
  const ip = newIpv4View();
  const tcp = newTcpView();
  assert.equal(decodeIpv4(buf, 0, buf.length, ip), DecodeStatus.Ok);
  assert.equal(decodeTcp(buf, ip, tcp), DecodeStatus.Ok);
  return { ip, tcp };
}

describe('blankSackOption', () => {
  test('removes the SACK blocks, keeps every other option and a valid checksum', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 }),
        fc.boolean(),
        fc.uint8Array({ maxLength: 64 }),
        (blocks, withTs, payload) => {
          const sack = Array.from({ length: blocks }, (_, i) => [1000 * i + 1, 1000 * i + 500] as [number, number]);
          const buf = buildTcpPacket({
            src: '10.0.0.1',
            dst: '10.0.0.2',
            srcPort: 40000,
            dstPort: 80,
            seq: 1,
            ack: 2,
            flags: 0x10,
            window: 500,
            options: withTs ? { timestamps: { val: 7, ecr: 9 }, sack } : { sack },
            payload: Buffer.from(payload),
          });
          const { ip, tcp } = decoded(buf);
          assert.equal(tcp.options.sackBlockCount, blocks);
          assert.equal(blankSackOption(buf, ip, tcp), true);
          const after = decoded(buf);
          assert.equal(after.tcp.options.sackBlockCount, 0);
          assert.equal(after.tcp.options.sackOffset, -1);
          assert.equal(after.tcp.options.hasTimestamps, withTs);
          if (withTs) assert.deepEqual([after.tcp.options.tsVal, after.tcp.options.tsEcr], [7, 9]);
          assert.equal(after.tcp.payloadLength, payload.length);
          assert.ok(verifyIpv4Checksum(buf, after.ip) && verifyTcpChecksum(buf, after.ip));
        },
      ),
    );
  });

  test('false, and nothing written, without a SACK option', () => {
    const buf = buildTcpPacket({
      src: '10.0.0.1',
      dst: '10.0.0.2',
      srcPort: 1,
      dstPort: 2,
      seq: 1,
      ack: 2,
      flags: 0x10,
      window: 1,
      options: { timestamps: { val: 1, ecr: 2 } },
    });
    const copy = Buffer.from(buf);
    const { ip, tcp } = decoded(buf);
    assert.equal(blankSackOption(buf, ip, tcp), false);
    assert.deepEqual(buf, copy);
  });
});
