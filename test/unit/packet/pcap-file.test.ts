import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LinkType } from '@tcpcopy/common';
import { readPcap, writePcap } from '@tcpcopy/common/testing';

const arbRecord = fc.record({
  seconds: fc.nat({ max: 0xffffffff }),
  fraction: fc.nat({ max: 999_999_999 }),
  data: fc.uint8Array({ maxLength: 80 }).map((a) => Buffer.from(a)),
  extra: fc.nat({ max: 100 }),
});

describe('pcap test reader', () => {
  test('reads back what the writer wrote, in both byte orders and resolutions', () => {
    fc.assert(
      fc.property(fc.array(arbRecord, { maxLength: 5 }), fc.boolean(), fc.boolean(), (recs, bigEndian, nanoseconds) => {
        const records = recs.map((r) => ({ seconds: r.seconds, fraction: r.fraction, data: r.data, originalLength: r.data.length + r.extra }));
        const file = readPcap(writePcap(LinkType.LinuxSll2, records, { bigEndian, nanoseconds, snapLength: 96 }));
        assert.equal(file.linkType, LinkType.LinuxSll2);
        assert.equal(file.snapLength, 96);
        assert.equal(file.bigEndian, bigEndian);
        assert.equal(file.nanoseconds, nanoseconds);
        assert.deepEqual(
          file.records.map((r) => ({ ...r, data: Buffer.from(r.data) })),
          records,
        );
      }),
    );
  });

  test('a big-endian header as a big-endian host writes it', () => {
    const file = Buffer.from('a1b2c3d4000200040000000000000000000000600000000100000001000000020000000300000004deadbeef', 'hex');
    const pcap = readPcap(file.subarray(0, 24 + 16 + 3));
    assert.equal(pcap.linkType, LinkType.Ethernet);
    assert.equal(pcap.records.length, 1);
    assert.deepEqual(pcap.records[0], { seconds: 1, fraction: 2, originalLength: 4, data: Buffer.from('deadbe', 'hex') });
  });

  test('rejects bad magic (pcapng) and truncated records', () => {
    assert.throws(() => readPcap(Buffer.from('0a0d0d0a' + '00'.repeat(24), 'hex')), /bad magic/);
    const ok = writePcap(LinkType.Raw, [{ seconds: 0, fraction: 0, originalLength: 4, data: Buffer.alloc(4) }]);
    assert.throws(() => readPcap(ok.subarray(0, ok.length - 1)), /truncated record data/);
    assert.throws(() => readPcap(ok.subarray(0, 30)), /truncated record header/);
    assert.throws(() => readPcap(ok.subarray(0, 10)), /shorter than the global header/);
  });
});
