import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  DecodeStatus,
  TcpFlag,
  TcpOptionKind,
  decodeIpv4,
  decodeTcp,
  decodeTcpOptions,
  decodeTcpSegment,
  encodeTcpOptions,
  newIpv4View,
  newTcpOptionsView,
  newTcpView,
  tcpOptionsLength,
} from '@tcpcopy/common';
import { buildTcpPacket } from '@tcpcopy/common/testing';
import { arbOptionItems, arbOptionsSpec, encodeOptionItems, expectedOptions } from './arbitraries.js';
import { assertOptionsMatchSpec } from './expect.js';

const base = {
  src: '10.0.0.1',
  dst: '10.0.0.2',
  srcPort: 45678,
  dstPort: 80,
  seq: 0xfffffff0,
  ack: 0x80000001,
  flags: TcpFlag.ACK,
  window: 0xfffe,
};

function decodePacket(pkt: Uint8Array, length = pkt.length) {
  const ip = newIpv4View();
  assert.equal(decodeIpv4(pkt, 0, length, ip), DecodeStatus.Ok);
  const tcp = newTcpView();
  return { status: decodeTcp(pkt, ip, tcp), ip, tcp };
}

function decodeOptions(bytes: number[] | Uint8Array) {
  const buf = Uint8Array.from(bytes);
  const out = newTcpOptionsView();
  return { status: decodeTcpOptions(buf, 0, buf.length, out), out };
}

describe('TCP flag and option constants', () => {
  test('flag bits as in RFC 9293 §3.1 / RFC 3168', () => {
    assert.deepEqual(TcpFlag, { FIN: 1, SYN: 2, RST: 4, PSH: 8, ACK: 16, URG: 32, ECE: 64, CWR: 128 });
  });
  test('option kinds as IANA assigns them', () => {
    assert.deepEqual(TcpOptionKind, {
      Eol: 0,
      Nop: 1,
      Mss: 2,
      WindowScale: 3,
      SackPermitted: 4,
      Sack: 5,
      Timestamps: 8,
    });
  });
});

describe('decodeTcp: fixed header', () => {
  test('every field, payload offset and length', () => {
    const payload = Buffer.from('hello world');
    const pkt = buildTcpPacket({ ...base, flags: TcpFlag.PSH | TcpFlag.ACK | TcpFlag.URG, urgent: 3, payload });
    const { status, tcp } = decodePacket(pkt);
    assert.equal(status, DecodeStatus.Ok);
    assert.equal(tcp.offset, 20);
    assert.equal(tcp.srcPort, 45678);
    assert.equal(tcp.dstPort, 80);
    assert.equal(tcp.seq, 0xfffffff0);
    assert.equal(tcp.ack, 0x80000001);
    assert.equal(tcp.headerLength, 20);
    assert.equal(tcp.flags, 0x38);
    assert.equal(tcp.window, 0xfffe);
    assert.equal(tcp.checksum, pkt.readUInt16BE(36));
    assert.equal(tcp.urgent, 3);
    assert.equal(tcp.payloadOffset, 40);
    assert.equal(tcp.payloadLength, payload.length);
    assert.equal(tcp.capturedPayloadLength, payload.length);
    assert.equal(tcp.options.mss, -1);
    assert.equal(tcp.options.tsValOffset, -1);
  });

  test('snaplen-cut capture: payloadLength from the IP header, capturedPayloadLength from the capture', () => {
    const pkt = buildTcpPacket({ ...base, options: { timestamps: { val: 1, ecr: 2 } }, payload: Buffer.alloc(1448) });
    const { status, tcp } = decodePacket(pkt, 96);
    assert.equal(status, DecodeStatus.Ok);
    assert.equal(tcp.headerLength, 32);
    assert.equal(tcp.payloadLength, 1448);
    assert.equal(tcp.capturedPayloadLength, 96 - 52);
    assert.equal(tcp.options.tsEcr, 2);
  });

  test('header-only capture (64-byte legacy response record style)', () => {
    const pkt = buildTcpPacket({ ...base, options: { timestamps: { val: 5, ecr: 6 } }, payload: Buffer.alloc(300) });
    const { status, tcp } = decodePacket(pkt, 52);
    assert.equal(status, DecodeStatus.Ok);
    assert.equal(tcp.payloadLength, 300);
    assert.equal(tcp.capturedPayloadLength, 0);
  });

  test('TCP header cut inside its options: Truncated', () => {
    const pkt = buildTcpPacket({ ...base, options: { mss: 1460, timestamps: { val: 5, ecr: 6 } } });
    for (let n = 20; n < 56; n++) {
      const ip = newIpv4View();
      assert.equal(decodeIpv4(pkt, 0, n, ip), DecodeStatus.Ok);
      assert.equal(decodeTcp(pkt, ip, newTcpView()), DecodeStatus.Truncated, `cut at ${n}`);
    }
  });

  test('not TCP', () => {
    const pkt = buildTcpPacket(base);
    pkt[9] = 17;
    assert.equal(decodePacket(pkt).status, DecodeStatus.NotTcp);
  });

  test('bad data offsets: below 5, or beyond the IP payload', () => {
    for (const doff of [0, 1, 4]) {
      const pkt = buildTcpPacket(base);
      pkt[32] = doff << 4;
      assert.equal(decodePacket(pkt).status, DecodeStatus.BadDataOffset, `doff ${doff}`);
    }
    const pkt = buildTcpPacket({ ...base, payload: Buffer.alloc(10) });
    pkt[32] = 8 << 4; // 32-byte header in a 30-byte segment
    assert.equal(decodePacket(pkt).status, DecodeStatus.BadDataOffset);
  });

  test('IP total length too small to hold a TCP header: BadTotalLength', () => {
    const pkt = buildTcpPacket(base);
    pkt.writeUInt16BE(39, 2);
    assert.equal(decodePacket(pkt).status, DecodeStatus.BadTotalLength);
  });

  test('decodeTcpSegment clamps the captured length to the segment length', () => {
    const pkt = buildTcpPacket({ ...base, payload: Buffer.alloc(4) });
    const tcp = newTcpView();
    assert.equal(decodeTcpSegment(pkt, 20, 24, 100, tcp), DecodeStatus.Ok);
    assert.equal(tcp.capturedPayloadLength, 4);
  });
});

describe('decodeTcpOptions: each kind', () => {
  test('MSS', () => {
    const { status, out } = decodeOptions([2, 4, 0x05, 0xb4]);
    assert.equal(status, DecodeStatus.Ok);
    assert.equal(out.mss, 1460);
  });

  test('window scale keeps the wire value (clamping to 14 is the consumer’s job)', () => {
    assert.equal(decodeOptions([3, 3, 7]).out.windowScale, 7);
    assert.equal(decodeOptions([3, 3, 15]).out.windowScale, 15);
  });

  test('SACK permitted', () => {
    assert.equal(decodeOptions([4, 2]).out.sackPermitted, true);
    assert.equal(decodeOptions([1, 1]).out.sackPermitted, false);
  });

  test('SACK with 1 to 4 blocks', () => {
    for (let n = 1; n <= 4; n++) {
      const bytes = [5, 2 + 8 * n];
      const edges: number[] = [];
      for (let e = 0; e < 2 * n; e++) {
        const v = (0xfedcba98 + e * 0x01010101) >>> 0;
        edges.push(v);
        bytes.push(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
      }
      const { status, out } = decodeOptions(bytes);
      assert.equal(status, DecodeStatus.Ok);
      assert.equal(out.sackBlockCount, n);
      assert.deepEqual(out.sackBlocks.slice(0, 2 * n), edges);
    }
  });

  test('timestamps, with the TSval offset for in-place rewrites', () => {
    const { status, out } = decodeOptions([1, 1, 8, 10, 0x80, 0, 0, 1, 0, 0, 0, 2]);
    assert.equal(status, DecodeStatus.Ok);
    assert.equal(out.hasTimestamps, true);
    assert.equal(out.tsVal, 0x80000001);
    assert.equal(out.tsEcr, 2);
    assert.equal(out.tsValOffset, 4);
  });

  test('unknown kinds are counted and skipped by their length', () => {
    // TCP Fast Open cookie (34), MPTCP (30), experimental (254), then MSS.
    const { status, out } = decodeOptions([34, 6, 1, 2, 3, 4, 30, 4, 0, 0, 254, 2, 2, 4, 1, 0]);
    assert.equal(status, DecodeStatus.Ok);
    assert.equal(out.unknownCount, 3);
    assert.equal(out.mss, 256);
  });

  test('EOL ends the list: bytes after it are padding, not options', () => {
    const { status, out } = decodeOptions([2, 4, 1, 0, 0, 2, 99, 1]);
    assert.equal(status, DecodeStatus.Ok);
    assert.equal(out.mss, 256);
    assert.equal(out.unknownCount, 0);
  });

  test('a Linux SYN: mss, sackOK, TS, nop, wscale', () => {
    const bytes = [2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 9, 0, 0, 0, 0, 1, 3, 3, 7];
    const { status, out } = decodeOptions(bytes);
    assert.equal(status, DecodeStatus.Ok);
    assert.deepEqual(
      [out.mss, out.sackPermitted, out.tsVal, out.tsEcr, out.windowScale, out.tsValOffset],
      [1460, true, 9, 0, 7, 8],
    );
  });

  test('a reused view is reset between decodes', () => {
    const out = newTcpOptionsView();
    const full = Uint8Array.from([
      2, 4, 1, 0, 3, 3, 1, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2, 9, 2,
    ]);
    assert.equal(decodeTcpOptions(full, 0, full.length, out), DecodeStatus.Ok);
    assert.equal(out.unknownCount, 1);
    assert.equal(decodeTcpOptions(Uint8Array.of(1, 1, 1, 1), 0, 4, out), DecodeStatus.Ok);
    assert.deepEqual(
      [
        out.mss,
        out.windowScale,
        out.sackPermitted,
        out.hasTimestamps,
        out.tsValOffset,
        out.sackBlockCount,
        out.unknownCount,
      ],
      [-1, -1, false, false, -1, 0, 0],
    );
  });
});

describe('decodeTcpOptions: bad lengths', () => {
  const bad: [string, number[]][] = [
    ['MSS length 3', [2, 3, 5, 1]],
    ['MSS length 5', [2, 5, 5, 180, 0, 0, 0, 0]],
    ['window scale length 2', [3, 2, 1, 1]],
    ['window scale length 4', [3, 4, 7, 0]],
    ['SACK permitted length 3', [4, 3, 0, 0]],
    ['SACK length 2 (no block)', [5, 2, 0, 0]],
    ['SACK length 9', [5, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
    ['SACK length 42 (5 blocks)', [5, 42, ...new Array<number>(40).fill(0)]],
    ['timestamps length 8', [8, 8, 0, 0, 0, 0, 0, 0]],
    ['timestamps length 11', [8, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
    ['length 0 (would loop forever)', [30, 0, 0, 0]],
    ['length 1', [30, 1, 0, 0]],
    ['length beyond the header', [30, 8, 0, 0]],
    ['kind without a length byte', [1, 1, 1, 2]],
    ['timestamps cut by the end of the header', [1, 1, 8, 10, 0, 0, 0, 0]],
  ];
  for (const [name, bytes] of bad) {
    test(name, () => assert.equal(decodeOptions(bytes).status, DecodeStatus.BadOptionLength));
  }

  test('a packet with a bad option is refused by decodeTcp', () => {
    const pkt = buildTcpPacket({ ...base, options: { raw: Buffer.from([2, 3, 0]) } });
    assert.equal(decodePacket(pkt).status, DecodeStatus.BadOptionLength);
  });
});

describe('encodeTcpOptions', () => {
  test('Linux-style layout with NOP alignment, zero padding to 4', () => {
    const buf = Buffer.alloc(40, 0xaa);
    const n = encodeTcpOptions(
      { mss: 1460, sackPermitted: true, timestamps: { val: 9, ecr: 0 }, windowScale: 7 },
      buf,
      0,
    );
    assert.equal(n, 20);
    assert.deepEqual([...buf.subarray(0, n)], [2, 4, 5, 180, 4, 2, 8, 10, 0, 0, 0, 9, 0, 0, 0, 0, 1, 3, 3, 7]);
    const ack = Buffer.alloc(12);
    assert.equal(encodeTcpOptions({ timestamps: { val: 1, ecr: 2 } }, ack, 0), 12);
    assert.deepEqual([...ack], [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
    const odd = Buffer.alloc(4, 0xaa);
    assert.equal(encodeTcpOptions({ raw: Buffer.from([30, 3, 1]) }, odd, 0), 4);
    assert.deepEqual([...odd], [30, 3, 1, 0]);
    assert.equal(encodeTcpOptions({}, odd, 0), 0);
  });

  test('every spec that fits decodes back to itself', () => {
    fc.assert(
      fc.property(arbOptionsSpec, (spec) => {
        const buf = Buffer.alloc(40);
        const n = encodeTcpOptions(spec, buf, 0);
        assert.equal(n, tcpOptionsLength(spec));
        assert.equal(n % 4, 0);
        const out = newTcpOptionsView();
        assert.equal(decodeTcpOptions(buf, 0, n, out), DecodeStatus.Ok);
        assertOptionsMatchSpec(out, spec);
      }),
    );
  });

  test('refuses what cannot be encoded', () => {
    const five = Array.from({ length: 5 }, () => [1, 2] as const);
    assert.throws(() => encodeTcpOptions({ sack: five }, Buffer.alloc(64), 0), RangeError);
    assert.throws(
      () => encodeTcpOptions({ timestamps: { val: 0, ecr: 0 }, sack: five.slice(0, 4) }, Buffer.alloc(64), 0),
      RangeError,
    );
    assert.throws(() => encodeTcpOptions({ raw: Buffer.alloc(41, 1) }, Buffer.alloc(64), 0), RangeError);
    assert.throws(() => encodeTcpOptions({ mss: 1 }, Buffer.alloc(3), 0), RangeError);
  });
});

describe('decodeTcpOptions properties', () => {
  test('any order and alignment of options (independent encoder) decodes to the expected values', () => {
    fc.assert(
      fc.property(arbOptionItems, (items) => {
        const bytes = encodeOptionItems(items);
        const out = newTcpOptionsView();
        assert.equal(decodeTcpOptions(bytes, 0, bytes.length, out), DecodeStatus.Ok);
        const e = expectedOptions(items);
        assert.equal(out.mss, e.mss);
        assert.equal(out.windowScale, e.windowScale);
        assert.equal(out.sackPermitted, e.sackPermitted);
        assert.equal(out.hasTimestamps, e.timestamps !== undefined);
        assert.equal(out.tsValOffset, e.timestamps?.offset ?? -1);
        if (e.timestamps !== undefined) assert.deepEqual([out.tsVal, out.tsEcr], [e.timestamps.val, e.timestamps.ecr]);
        assert.equal(out.sackBlockCount, e.sackEdges.length / 2);
        assert.deepEqual(out.sackBlocks.slice(0, e.sackEdges.length), e.sackEdges);
        assert.equal(out.unknownCount, e.unknownCount);
      }),
    );
  });
});
