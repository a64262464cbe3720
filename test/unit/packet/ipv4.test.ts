import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  DecodeStatus,
  IPV4_FLAG_DF,
  IPV4_FLAG_MF,
  decodeIpv4,
  decodeTcp,
  ipv4ToString,
  newIpv4View,
  newTcpView,
  parseIpv4,
  writeIpv4Checksum,
} from '@tcpcopy/common';
import { buildTcpPacket } from '@tcpcopy/common/testing';
import { arbU32 } from './arbitraries.js';

const payload = Buffer.from('GET / HTTP/1.1\r\n\r\n');
const base = {
  src: '192.168.1.10',
  dst: '10.1.2.3',
  srcPort: 51000,
  dstPort: 8000,
  seq: 7,
  ack: 9,
  flags: 0x18,
  window: 501,
  payload,
};

function decode(buf: Uint8Array, offset = 0, length = buf.length - offset) {
  const out = newIpv4View();
  return { status: decodeIpv4(buf, offset, length, out), out };
}

describe('decodeIpv4', () => {
  test('plain header: every field', () => {
    const pkt = buildTcpPacket({ ...base, ipId: 0x1234, ttl: 63, tos: 0x10 });
    const { status, out } = decode(pkt);
    assert.equal(status, DecodeStatus.Ok);
    assert.equal(out.offset, 0);
    assert.equal(out.headerLength, 20);
    assert.equal(out.totalLength, 40 + payload.length);
    assert.equal(out.capturedLength, 40 + payload.length);
    assert.equal(out.tos, 0x10);
    assert.equal(out.id, 0x1234);
    assert.equal(out.flagsFragment, IPV4_FLAG_DF);
    assert.equal(out.isFragment, false);
    assert.equal(out.fragmentOffset, 0);
    assert.equal(out.ttl, 63);
    assert.equal(out.protocol, 6);
    assert.equal(out.checksum, pkt.readUInt16BE(10));
    assert.equal(out.src, 0xc0a8010a);
    assert.equal(out.dst, 0x0a010203);
  });

  test('addresses with the top bit set stay positive', () => {
    const { out } = decode(buildTcpPacket({ ...base, src: '255.255.255.254', dst: '128.0.0.1' }));
    assert.equal(out.src, 0xfffffffe);
    assert.equal(out.dst, 0x80000001);
  });

  test('IP options: IHL > 5 moves the TCP header', () => {
    // Record Route (RFC 791 §3.1 option type 7) with room for one address, plus padding.
    const ipOptions = Buffer.from([7, 7, 4, 0, 0, 0, 0]);
    const pkt = buildTcpPacket({ ...base, ipOptions });
    const { status, out } = decode(pkt);
    assert.equal(status, DecodeStatus.Ok);
    assert.equal(out.headerLength, 28);
    assert.equal(pkt[27], 0, 'padded with End of Option List');
    const tcp = newTcpView();
    assert.equal(decodeTcp(pkt, out, tcp), DecodeStatus.Ok);
    assert.equal(tcp.offset, 28);
    assert.equal(tcp.dstPort, 8000);
    assert.equal(tcp.payloadLength, payload.length);
  });

  test('maximum header (IHL 15, 40 bytes of options)', () => {
    const { status, out } = decode(buildTcpPacket({ ...base, ipOptions: Buffer.alloc(40, 1) }));
    assert.equal(status, DecodeStatus.Ok);
    assert.equal(out.headerLength, 60);
  });

  test('first fragment (MF, offset 0): flagged, TCP header still decodes', () => {
    const pkt = buildTcpPacket({ ...base, df: false });
    pkt.writeUInt16BE(IPV4_FLAG_MF, 6);
    const { status, out } = decode(pkt);
    assert.equal(status, DecodeStatus.Ok);
    assert.equal(out.isFragment, true);
    assert.equal(out.fragmentOffset, 0);
    assert.equal(decodeTcp(pkt, out, newTcpView()), DecodeStatus.Ok);
  });

  test('later fragments (offset > 0, with or without MF): flagged, no TCP header', () => {
    for (const word of [IPV4_FLAG_MF | 185, 185, 1]) {
      const pkt = buildTcpPacket({ ...base, df: false });
      pkt.writeUInt16BE(word, 6);
      const { status, out } = decode(pkt);
      assert.equal(status, DecodeStatus.Ok);
      assert.equal(out.isFragment, true);
      assert.equal(out.fragmentOffset, (word & 0x1fff) * 8);
      assert.equal(decodeTcp(pkt, out, newTcpView()), DecodeStatus.Fragment);
    }
  });

  test('snaplen-cut capture: capturedLength < totalLength is accepted', () => {
    const pkt = buildTcpPacket({ ...base, payload: Buffer.alloc(1400, 0x61) });
    const { status, out } = decode(pkt, 0, 96);
    assert.equal(status, DecodeStatus.Ok);
    assert.equal(out.totalLength, 1440);
    assert.equal(out.capturedLength, 96);
  });

  test('a header-only record (the intercept strips payloads, keeps total length)', () => {
    const pkt = buildTcpPacket({ ...base, payload: Buffer.alloc(500) });
    const { status, out } = decode(pkt.subarray(0, 40));
    assert.equal(status, DecodeStatus.Ok);
    assert.equal(out.capturedLength, 40);
    assert.equal(out.totalLength, 540);
  });

  test('trailing link padding is excluded from capturedLength', () => {
    const pkt = Buffer.concat([buildTcpPacket(base), Buffer.alloc(6)]);
    const { out } = decode(pkt);
    assert.equal(out.capturedLength, pkt.length - 6);
  });

  test('at an offset inside a larger buffer', () => {
    const pkt = buildTcpPacket(base);
    const { status, out } = decode(Buffer.concat([Buffer.alloc(3), pkt]), 3);
    assert.equal(status, DecodeStatus.Ok);
    assert.equal(out.offset, 3);
    assert.equal(out.src, 0xc0a8010a);
  });

  test('rejections', () => {
    const pkt = buildTcpPacket(base);
    const mutate = (f: (b: Buffer) => void): Buffer => {
      const b = Buffer.from(pkt);
      f(b);
      return b;
    };
    assert.equal(decode(mutate((b) => (b[0] = 0x65))).status, DecodeStatus.BadIpVersion);
    for (const ihl of [0, 1, 4]) assert.equal(decode(mutate((b) => (b[0] = 0x40 | ihl))).status, DecodeStatus.BadIhl);
    assert.equal(decode(mutate((b) => b.writeUInt16BE(19, 2))).status, DecodeStatus.BadTotalLength);
    assert.equal(decode(mutate((b) => b.writeUInt16BE(0, 2))).status, DecodeStatus.BadTotalLength);
    // IHL 6 but total length 20: total < header.
    assert.equal(decode(mutate((b) => ((b[0] = 0x46), b.writeUInt16BE(20, 2)))).status, DecodeStatus.BadTotalLength);
    // IHL 15 claims a 60-byte header that the total length allows but only 50 bytes were captured.
    const long = Buffer.from(buildTcpPacket({ ...base, payload: Buffer.alloc(100) }));
    long[0] = 0x4f;
    assert.equal(decode(long, 0, 50).status, DecodeStatus.Truncated);
    assert.equal(decode(long, 0, 60).status, DecodeStatus.Ok);
    for (let n = 0; n < 20; n++) assert.equal(decode(pkt.subarray(0, n)).status, DecodeStatus.Truncated);
  });

  test('a header checksum recomputed via the view verifies the known RFC 1071 example', () => {
    // The classic example header (checksum 0xb861).
    const hdr = Buffer.from('450000730000400040110000c0a80001c0a800c7', 'hex');
    const { status, out } = decode(hdr, 0, 20);
    assert.equal(status, DecodeStatus.Ok);
    writeIpv4Checksum(hdr, out);
    assert.equal(hdr.readUInt16BE(10), 0xb861);
    assert.equal(out.checksum, 0xb861);
  });
});

describe('ipv4ToString / parseIpv4', () => {
  test('known values', () => {
    assert.equal(ipv4ToString(0), '0.0.0.0');
    assert.equal(ipv4ToString(0xffffffff), '255.255.255.255');
    assert.equal(ipv4ToString(0xc0a80001), '192.168.0.1');
    assert.equal(parseIpv4('10.0.0.1'), 0x0a000001);
    assert.equal(parseIpv4('255.255.255.255'), 0xffffffff);
    assert.equal(parseIpv4('0.0.0.0'), 0);
  });

  test('strict: rejects everything but four plain decimal octets', () => {
    for (const s of [
      '',
      '1.2.3',
      '1.2.3.4.5',
      '256.1.1.1',
      '1.2.3.-1',
      '01.2.3.4',
      '1.2.3.04',
      '0x1.2.3.4',
      '1.2.3.4 ',
      ' 1.2.3.4',
      '1..3.4',
      '1.2.3.4/24',
      '16909060',
      '1.2.3.1000',
      '١.2.3.4',
    ]) {
      assert.equal(parseIpv4(s), undefined, JSON.stringify(s));
    }
  });

  test('round trip for every uint32', () => {
    fc.assert(fc.property(arbU32, (n) => parseIpv4(ipv4ToString(n)) === n));
  });
});
