import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  DecodeStatus,
  checksumAdjust16,
  checksumAdjust32,
  decodeIpv4,
  ipv4HeaderChecksum,
  newIpv4View,
  onesComplementSum,
  swapBytesInWords,
  tcpChecksum,
  verifyIpv4Checksum,
  verifyTcpChecksum,
  writeTcpPacket,
  tcpPacketLength,
} from '@tcpcopy/common';
import { buildTcpPacket } from '@tcpcopy/common/testing';
import { arbTcpPacketFields, arbU16, arbU32 } from './arbitraries.js';

/** RFC 1071 done the slow, obvious way: add each word and carry immediately. */
function referenceSum(bytes: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 2) {
    sum += (bytes[i]! << 8) | (bytes[i + 1] ?? 0);
    if (sum > 0xffff) sum -= 0xffff;
  }
  return sum;
}

/** The TCP checksum from a materialised pseudo-header + segment with the checksum zeroed. */
function referenceTcpChecksum(pkt: Uint8Array): number {
  const ihl = (pkt[0]! & 0x0f) * 4;
  const total = (pkt[2]! << 8) | pkt[3]!;
  const seg = Buffer.from(pkt.subarray(ihl, total));
  seg.writeUInt16BE(0, 16);
  const pseudo = Buffer.alloc(12);
  pseudo.set(pkt.subarray(12, 20), 0);
  pseudo[9] = 6;
  pseudo.writeUInt16BE(seg.length, 10);
  return ~referenceSum(Buffer.concat([pseudo, seg])) & 0xffff;
}

function decodeIp(pkt: Uint8Array, length = pkt.length) {
  const ip = newIpv4View();
  assert.equal(decodeIpv4(pkt, 0, length, ip), DecodeStatus.Ok);
  return ip;
}

describe('onesComplementSum', () => {
  test('RFC 1071 §3 numerical example: 0001 f203 f4f5 f6f7 sums to ddf2', () => {
    assert.equal(onesComplementSum(Uint8Array.of(0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7), 0, 8), 0xddf2);
  });

  test('an odd trailing byte counts as the high byte of a word', () => {
    assert.equal(onesComplementSum(Uint8Array.of(0x12, 0x34, 0x56), 0, 3), 0x1234 + 0x5600);
  });

  test('an initial value is folded in; empty range returns it', () => {
    assert.equal(onesComplementSum(Uint8Array.of(), 0, 0, 0x1234), 0x1234);
    assert.equal(onesComplementSum(Uint8Array.of(0xff, 0xff), 0, 2, 1), 1);
  });

  test('agrees with the reference on any range of any buffer (64 KiB included)', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ minLength: 65535, maxLength: 65535 })),
        fc.nat(),
        fc.nat(),
        (bytes, a, b) => {
          const start = bytes.length === 0 ? 0 : a % bytes.length;
          const end = start + (bytes.length === 0 ? 0 : b % (bytes.length - start + 1));
          const expected = referenceSum(bytes.subarray(start, end));
          // The reference reaches 0 only for all-zero input; the fast one keeps 0 there too.
          assert.equal(onesComplementSum(bytes, start, end), expected);
        },
      ),
      { numRuns: 200 },
    );
  });

  test('agrees with the reference whatever the alignment of the buffer in its memory (word loop)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 2000 }),
        fc.nat(7),
        fc.nat(),
        fc.nat(),
        (bytes, shift, a, b) => {
          // The same bytes at every byte offset of a larger ArrayBuffer, as in a capture ring.
          const memory = new Uint8Array(bytes.length + 8);
          memory.set(bytes, shift);
          const view = memory.subarray(shift, shift + bytes.length);
          const start = a % bytes.length;
          const end = start + (b % (bytes.length - start + 1));
          let expected = referenceSum(bytes.subarray(start, end)) + 0x1234;
          if (expected > 0xffff) expected -= 0xffff;
          assert.equal(onesComplementSum(view, start, end, 0x1234), expected);
        },
      ),
      { numRuns: 500 },
    );
  });

  test('all-ones 64 KiB does not overflow', () => {
    assert.equal(onesComplementSum(new Uint8Array(65536).fill(0xff), 0, 65536), 0xffff);
  });
});

describe('full checksums', () => {
  test('IPv4 header: the classic example header checksums to b861', () => {
    const hdr = Buffer.from('45000073000040004011b861c0a80001c0a800c7', 'hex');
    assert.equal(ipv4HeaderChecksum(hdr, 0, 20), 0xb861);
    assert.ok(verifyIpv4Checksum(hdr, decodeIp(hdr, 20)));
    hdr[8] = 0x3f;
    assert.ok(!verifyIpv4Checksum(hdr, decodeIp(hdr, 20)));
  });

  test('written packets carry the reference IP and TCP checksums, at any buffer offset', () => {
    fc.assert(
      fc.property(arbTcpPacketFields, fc.nat({ max: 9 }), (fields, lead) => {
        const buf = Buffer.alloc(lead + tcpPacketLength(fields));
        writeTcpPacket(buf, lead, fields);
        const pkt = buf.subarray(lead);
        const ihl = (pkt[0]! & 0x0f) * 4;
        assert.equal(
          pkt.readUInt16BE(10),
          ~referenceSum(Buffer.concat([pkt.subarray(0, 10), pkt.subarray(12, ihl)])) & 0xffff,
        );
        assert.equal(pkt.readUInt16BE(ihl + 16), referenceTcpChecksum(pkt));
        const ip = newIpv4View();
        assert.equal(decodeIpv4(buf, lead, pkt.length, ip), DecodeStatus.Ok);
        assert.ok(verifyIpv4Checksum(buf, ip));
        assert.ok(verifyTcpChecksum(buf, ip));
        assert.equal(tcpChecksum(buf, ip.src, ip.dst, lead + ihl, ip.totalLength - ihl), pkt.readUInt16BE(ihl + 16));
      }),
      { numRuns: 200 },
    );
  });

  test('any single-bit error in header, payload or pseudo-header fails verification', () => {
    fc.assert(
      fc.property(arbTcpPacketFields, fc.nat(), fc.nat({ max: 7 }), (fields, at, bit) => {
        const pkt = Buffer.alloc(tcpPacketLength(fields));
        writeTcpPacket(pkt, 0, fields);
        const ip = decodeIp(pkt);
        // Addresses (pseudo-header) or anything in the TCP segment.
        const covered = [
          ...Array.from({ length: 8 }, (_, i) => 12 + i),
          ...Array.from({ length: pkt.length - ip.headerLength }, (_, i) => ip.headerLength + i),
        ];
        const i = covered[at % covered.length]!;
        pkt[i]! ^= 1 << bit;
        assert.ok(!verifyTcpChecksum(pkt, decodeIp(pkt)), `flipped bit ${bit} of byte ${i}`);
      }),
    );
  });

  test('verifyTcpChecksum is false for a packet not captured whole', () => {
    const pkt = buildTcpPacket({
      src: 1,
      dst: 2,
      srcPort: 3,
      dstPort: 4,
      seq: 5,
      ack: 6,
      flags: 0x10,
      window: 7,
      payload: Buffer.alloc(100, 1),
    });
    assert.ok(verifyTcpChecksum(pkt, decodeIp(pkt)));
    assert.ok(!verifyTcpChecksum(pkt, decodeIp(pkt, 60)));
  });
});

describe('incremental update (RFC 1624)', () => {
  /** Checksum of data (even length) the way a full computation does it. */
  const full = (data: Uint8Array): number => ~onesComplementSum(data, 0, data.length) & 0xffff;
  const arbData = fc.uint8Array({ minLength: 8, maxLength: 64 }).map((d) => d.subarray(0, d.length & ~1));
  const arbWord = fc.oneof(arbU16, fc.constantFrom(0, 0xffff));
  const arbLong = fc.oneof(arbU32, fc.constantFrom(0, 0xffffffff, 0xffff0000, 0x0000ffff));

  test('checksumAdjust16 equals recomputation for any 16-bit change', () => {
    fc.assert(
      fc.property(arbData, fc.nat(), arbWord, (data, at, word) => {
        const i = (at % (data.length / 2)) * 2;
        const before = full(data);
        const old = (data[i]! << 8) | data[i + 1]!;
        data[i] = word >>> 8;
        data[i + 1] = word & 0xff;
        assert.equal(checksumAdjust16(before, old, word), full(data));
      }),
      { numRuns: 500 },
    );
  });

  test('checksumAdjust32 equals recomputation for any 32-bit change at an even offset', () => {
    fc.assert(
      fc.property(arbData, fc.nat(), arbLong, (data, at, v) => {
        const i = (at % (data.length / 2 - 1)) * 2;
        const before = full(data);
        const view = Buffer.from(data.buffer, data.byteOffset, data.length);
        const old = view.readUInt32BE(i);
        view.writeUInt32BE(v, i);
        assert.equal(checksumAdjust32(before, old, v), full(data));
      }),
      { numRuns: 500 },
    );
  });

  test('a 32-bit change at an odd offset needs swapBytesInWords', () => {
    fc.assert(
      fc.property(arbData, fc.nat(), arbLong, (data, at, v) => {
        const i = (at % (data.length / 2 - 2)) * 2 + 1;
        const before = full(data);
        const view = Buffer.from(data.buffer, data.byteOffset, data.length);
        const old = view.readUInt32BE(i);
        view.writeUInt32BE(v, i);
        assert.equal(checksumAdjust32(before, swapBytesInWords(old), swapBytesInWords(v)), full(data));
      }),
      { numRuns: 500 },
    );
  });

  test('edge: a change that makes the data sum to all ones yields 0x0000, never 0xffff', () => {
    // Data 0x0000 0x0001 sums to 1 (checksum 0xfffe); changing 0x0000 to 0xfffe makes the sum 0xffff.
    assert.equal(checksumAdjust16(0xfffe, 0x0000, 0xfffe), 0x0000);
    assert.equal(full(Uint8Array.of(0xff, 0xfe, 0x00, 0x01)), 0x0000);
  });

  test('swapBytesInWords', () => {
    assert.equal(swapBytesInWords(0x11223344), 0x22114433);
    assert.equal(swapBytesInWords(0xff000000), 0x00ff0000);
  });
});
