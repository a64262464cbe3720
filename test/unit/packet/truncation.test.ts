/**
 * Robustness: every prefix of every test frame, and arbitrary bytes, decode to a status without
 * throwing; prefixes that cut a header say Truncated.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DECODE_STATUS_NAMES, DecodeStatus, LinkType, decodeFrame, newPacketViews } from '@tcpcopy/common';
import { buildTcpPacket, wrapLink } from '@tcpcopy/common/testing';
import { loadFixtures } from './fixtures.js';

const payload = Buffer.from('POST /api HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello');
const packets = [
  buildTcpPacket({
    src: '10.0.0.1',
    dst: '10.0.0.2',
    srcPort: 1,
    dstPort: 2,
    seq: 3,
    ack: 0,
    flags: 0x02,
    window: 64240,
    options: { mss: 1460, sackPermitted: true, timestamps: { val: 1, ecr: 0 }, windowScale: 7 },
  }),
  buildTcpPacket({
    src: '10.0.0.2',
    dst: '10.0.0.1',
    srcPort: 2,
    dstPort: 1,
    seq: 9,
    ack: 4,
    flags: 0x12,
    window: 65160,
    options: { mss: 1460, sackPermitted: true, timestamps: { val: 2, ecr: 1 }, windowScale: 7 },
  }),
  buildTcpPacket({
    src: '10.0.0.1',
    dst: '10.0.0.2',
    srcPort: 1,
    dstPort: 2,
    seq: 4,
    ack: 10,
    flags: 0x18,
    window: 502,
    options: { timestamps: { val: 3, ecr: 2 } },
    payload,
  }),
  buildTcpPacket({
    src: '10.0.0.1',
    dst: '10.0.0.2',
    srcPort: 1,
    dstPort: 2,
    seq: 4,
    ack: 10,
    flags: 0x10,
    window: 502,
    options: {
      sack: [
        [1, 2],
        [3, 4],
        [5, 6],
      ],
      timestamps: { val: 3, ecr: 2 },
    },
  }),
  buildTcpPacket({
    src: '10.0.0.1',
    dst: '10.0.0.2',
    srcPort: 1,
    dstPort: 2,
    seq: 4,
    ack: 10,
    flags: 0x11,
    window: 502,
    ipOptions: Buffer.from([0x94, 4, 0, 0]),
    payload,
  }),
];

const framings: { linkType: number; frame: (p: Buffer) => Buffer }[] = [
  { linkType: LinkType.Ethernet, frame: (p) => wrapLink(LinkType.Ethernet, p) },
  { linkType: LinkType.Ethernet, frame: (p) => wrapLink(LinkType.Ethernet, p, { vlanTags: [1] }) },
  { linkType: LinkType.Ethernet, frame: (p) => wrapLink(LinkType.Ethernet, p, { vlanTags: [1, 2] }) },
  { linkType: LinkType.LinuxSll, frame: (p) => wrapLink(LinkType.LinuxSll, p) },
  { linkType: LinkType.LinuxSll2, frame: (p) => wrapLink(LinkType.LinuxSll2, p) },
  { linkType: LinkType.Raw, frame: (p) => wrapLink(LinkType.Raw, p) },
  { linkType: LinkType.Null, frame: (p) => wrapLink(LinkType.Null, p) },
];

/**
 * Decodes every prefix of `frame`. For a frame that decodes whole, prefixes ending inside the
 * headers must be Truncated and longer ones Ok; for any other frame, each prefix must still yield
 * a known status.
 */
function sweep(linkType: number, frame: Buffer, name: string): void {
  const v = newPacketViews();
  const whole = decodeFrame(linkType, frame, 0, frame.length, v);
  const headersEnd = whole === DecodeStatus.Ok ? v.tcp.payloadOffset : -1;
  for (let n = 0; n <= frame.length; n++) {
    // A copy of exactly n bytes: reading past the prefix would show as undefined bytes, not a pass.
    const prefix = Buffer.from(frame.subarray(0, n));
    const status = decodeFrame(linkType, prefix, 0, n, v);
    assert.ok(status >= 0 && status < DECODE_STATUS_NAMES.length, `${name}: unknown status ${status}`);
    if (headersEnd >= 0)
      assert.equal(status, n < headersEnd ? DecodeStatus.Truncated : DecodeStatus.Ok, `${name}: cut at ${n}`);
  }
}

describe('truncation sweep', () => {
  test('every prefix of every built packet in every framing', () => {
    packets.forEach((p, i) => {
      for (const f of framings) {
        const frame = f.frame(p);
        assert.equal(decodeFrame(f.linkType, frame, 0, frame.length, newPacketViews()), DecodeStatus.Ok);
        sweep(f.linkType, frame, `packet ${i}, link ${f.linkType}`);
      }
    });
  });

  test('every prefix of every fixture packet', () => {
    const fixtures = loadFixtures();
    assert.ok(fixtures.length > 0, 'no fixtures under test/fixtures');
    let swept = 0;
    for (const fx of fixtures) {
      fx.records.forEach((r, i) => {
        sweep(fx.linkType, r.data, `${fx.name} #${i + 1}`);
        swept++;
      });
    }
    assert.ok(swept > 0);
  });
});

describe('arbitrary input never throws', () => {
  const linkTypes = [...Object.values(LinkType), 9999];
  const v = newPacketViews();

  test('random bytes for every link type', () => {
    fc.assert(
      fc.property(fc.constantFrom(...linkTypes), fc.uint8Array({ maxLength: 128 }), (lt, bytes) => {
        const status = decodeFrame(lt, bytes, 0, bytes.length, v);
        assert.ok(Number.isInteger(status) && status >= 0 && status < DECODE_STATUS_NAMES.length);
      }),
      { numRuns: 2000 },
    );
  });

  test('valid frames with random bytes overwritten', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...packets),
        fc.constantFrom(...framings),
        fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { minLength: 1, maxLength: 6 }),
        (p, f, edits) => {
          const frame = f.frame(p);
          for (const [at, byte] of edits) frame[at % frame.length] = byte;
          const status = decodeFrame(f.linkType, frame, 0, frame.length, v);
          assert.ok(status >= 0 && status < DECODE_STATUS_NAMES.length);
          if (status === DecodeStatus.Ok) {
            // Whatever decoded must lie inside the frame.
            assert.ok(v.tcp.payloadOffset + v.tcp.capturedPayloadLength <= frame.length);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});
