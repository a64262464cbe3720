import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  DecodeStatus,
  decodeIpv4,
  decodeTcp,
  newIpv4View,
  newTcpView,
  recomputeChecksums,
  rewriteAck,
  rewriteDstAddr,
  rewriteDstPort,
  rewriteSeq,
  rewriteSrcAddr,
  rewriteSrcPort,
  rewriteTsEcr,
  rewriteTsVal,
  rewriteWindow,
  tcpPacketLength,
  verifyIpv4Checksum,
  verifyTcpChecksum,
  writeTcpPacket,
  type Ipv4View,
  type TcpPacketFields,
  type TcpView,
} from '@tcpcopy/common';
import { buildTcpPacket } from '@tcpcopy/common/testing';
import { arbOptionItems, arbTcpPacketFields, arbU16, arbU32, encodeOptionItems } from './arbitraries.js';

function decode(pkt: Uint8Array, length = pkt.length): { ip: Ipv4View; tcp: TcpView } {
  const ip = newIpv4View();
  const tcp = newTcpView();
  assert.equal(decodeIpv4(pkt, 0, length, ip), DecodeStatus.Ok);
  assert.equal(decodeTcp(pkt, ip, tcp), DecodeStatus.Ok);
  return { ip, tcp };
}

/** One rewrite as the copier would apply it. */
type Rewrite =
  | { field: 'src' | 'dst' | 'ack' | 'seq' | 'tsVal' | 'tsEcr'; value: number }
  | { field: 'srcPort' | 'dstPort' | 'window'; value: number };

const arbRewrite: fc.Arbitrary<Rewrite> = fc.oneof(
  fc.record({
    field: fc.constantFrom(
      'src' as const,
      'dst' as const,
      'ack' as const,
      'seq' as const,
      'tsVal' as const,
      'tsEcr' as const,
    ),
    value: arbU32,
  }),
  fc.record({ field: fc.constantFrom('srcPort' as const, 'dstPort' as const, 'window' as const), value: arbU16 }),
);

function apply(buf: Uint8Array, ip: Ipv4View, tcp: TcpView, r: Rewrite): void {
  switch (r.field) {
    case 'src':
      return rewriteSrcAddr(buf, ip, tcp, r.value);
    case 'dst':
      return rewriteDstAddr(buf, ip, tcp, r.value);
    case 'ack':
      return rewriteAck(buf, tcp, r.value);
    case 'seq':
      return rewriteSeq(buf, tcp, r.value);
    case 'tsVal':
      return void rewriteTsVal(buf, tcp, r.value);
    case 'tsEcr':
      return void rewriteTsEcr(buf, tcp, r.value);
    case 'srcPort':
      return rewriteSrcPort(buf, tcp, r.value);
    case 'dstPort':
      return rewriteDstPort(buf, tcp, r.value);
    case 'window':
      return rewriteWindow(buf, tcp, r.value);
  }
}

/** The fields a packet should have after the rewrites (timestamps only where an option exists). */
function applyToFields(fields: TcpPacketFields, r: Rewrite): TcpPacketFields {
  if (r.field === 'tsVal' || r.field === 'tsEcr') {
    const ts = fields.options?.timestamps;
    if (ts === undefined) return fields;
    const timestamps = r.field === 'tsVal' ? { ...ts, val: r.value } : { ...ts, ecr: r.value };
    return { ...fields, options: { ...fields.options, timestamps } };
  }
  return { ...fields, [r.field]: r.value };
}

function write(fields: TcpPacketFields): Buffer {
  const buf = Buffer.alloc(tcpPacketLength(fields));
  writeTcpPacket(buf, 0, fields);
  return buf;
}

const base = {
  src: '192.0.2.10',
  dst: '198.51.100.20',
  srcPort: 40000,
  dstPort: 8000,
  seq: 1000,
  ack: 2000,
  flags: 0x18,
  window: 502,
  options: { timestamps: { val: 111, ecr: 222 } },
  payload: Buffer.from('GET /index.html HTTP/1.1\r\nHost: lab\r\n\r\n'),
};

describe('rewriters', () => {
  test('each field: buffer, view and both checksums updated', () => {
    const pkt = buildTcpPacket(base);
    const { ip, tcp } = decode(pkt);
    rewriteDstAddr(pkt, ip, tcp, 0x0a000002);
    rewriteSrcAddr(pkt, ip, tcp, 0xac100001);
    rewriteSrcPort(pkt, tcp, 1234);
    rewriteDstPort(pkt, tcp, 8080);
    rewriteAck(pkt, tcp, 0xdeadbeef);
    rewriteSeq(pkt, tcp, 0xfffffffe);
    rewriteWindow(pkt, tcp, 65535);
    assert.equal(rewriteTsVal(pkt, tcp, 0x80000000), true);
    assert.equal(rewriteTsEcr(pkt, tcp, 42), true);
    assert.ok(verifyIpv4Checksum(pkt, ip));
    assert.ok(verifyTcpChecksum(pkt, ip));
    const again = decode(pkt);
    assert.deepEqual(again.ip, ip);
    assert.deepEqual(again.tcp, tcp);
    assert.deepEqual(
      [ip.src, ip.dst, tcp.srcPort, tcp.dstPort, tcp.ack, tcp.seq, tcp.window, tcp.options.tsVal, tcp.options.tsEcr],
      [0xac100001, 0x0a000002, 1234, 8080, 0xdeadbeef, 0xfffffffe, 65535, 0x80000000, 42],
    );
    assert.equal(pkt.readUInt16BE(10), ip.checksum);
    assert.equal(pkt.readUInt16BE(36), tcp.checksum);
  });

  test('timestamp rewrites on a segment without timestamps: false, nothing written', () => {
    const pkt = buildTcpPacket({ ...base, options: { mss: 1460 } });
    const copy = Buffer.from(pkt);
    const { tcp } = decode(pkt);
    assert.equal(rewriteTsVal(pkt, tcp, 5), false);
    assert.equal(rewriteTsEcr(pkt, tcp, 5), false);
    assert.deepEqual(pkt, copy);
  });

  test('timestamps at an odd offset (after an unpadded window scale)', () => {
    const raw = Buffer.from([3, 3, 7, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
    const pkt = buildTcpPacket({ ...base, options: { raw } });
    const { ip, tcp } = decode(pkt);
    assert.equal(tcp.options.tsValOffset, 20 + 20 + 5);
    rewriteTsVal(pkt, tcp, 0x12345678);
    rewriteTsEcr(pkt, tcp, 0x9abcdef0);
    assert.ok(verifyTcpChecksum(pkt, ip));
    assert.equal(decode(pkt).tcp.options.tsEcr, 0x9abcdef0);
  });

  test('a header-only capture gets the same checksums as the whole packet', () => {
    const whole = buildTcpPacket({ ...base, payload: Buffer.alloc(1000, 0x5a) });
    const cut = Buffer.from(whole.subarray(0, 52));
    const w = decode(whole);
    const c = decode(cut);
    for (const [buf, v] of [
      [whole, w],
      [cut, c],
    ] as const) {
      rewriteDstAddr(buf, v.ip, v.tcp, 0x0a0a0a0a);
      rewriteAck(buf, v.tcp, 77);
      rewriteTsEcr(buf, v.tcp, 99);
    }
    assert.ok(verifyTcpChecksum(whole, w.ip));
    assert.deepEqual(cut, whole.subarray(0, 52));
  });

  test('recomputeChecksums repairs wrong checksums; refuses (false) a cut packet', () => {
    const pkt = buildTcpPacket(base);
    pkt.writeUInt16BE(0, 10);
    pkt.writeUInt16BE(0x1234, 36);
    const { ip, tcp } = decode(pkt);
    assert.ok(!verifyTcpChecksum(pkt, ip));
    assert.equal(recomputeChecksums(pkt, ip, tcp), true);
    assert.ok(verifyIpv4Checksum(pkt, ip));
    assert.ok(verifyTcpChecksum(pkt, ip));
    assert.deepEqual(pkt, buildTcpPacket(base));
    const cut = decode(pkt, 60);
    assert.equal(recomputeChecksums(pkt, cut.ip, cut.tcp), false);
  });
});

describe('rewrite properties', () => {
  test('any sequence of rewrites = writing a packet with the final fields (incremental = full)', () => {
    fc.assert(
      fc.property(arbTcpPacketFields, fc.array(arbRewrite, { maxLength: 12 }), (fields, rewrites) => {
        const pkt = write(fields);
        const { ip, tcp } = decode(pkt);
        let expected = fields;
        for (const r of rewrites) {
          apply(pkt, ip, tcp, r);
          expected = applyToFields(expected, r);
        }
        assert.deepEqual(pkt, write(expected));
        assert.ok(verifyIpv4Checksum(pkt, ip));
        assert.ok(verifyTcpChecksum(pkt, ip));
        assert.equal(ip.checksum, pkt.readUInt16BE(10));
        assert.equal(tcp.checksum, pkt.readUInt16BE(ip.headerLength + 16));
      }),
      { numRuns: 300 },
    );
  });

  test('timestamps anywhere in the option list (odd offsets too) rewrite with valid checksums', () => {
    const withTs = arbOptionItems.filter((items) => items.some((i) => i.kind === 'ts'));
    fc.assert(
      fc.property(withTs, arbU32, arbU32, arbU32, (items, val, ecr, ack) => {
        const pkt = buildTcpPacket({ ...base, options: { raw: encodeOptionItems(items) } });
        const { ip, tcp } = decode(pkt);
        rewriteTsVal(pkt, tcp, val);
        rewriteTsEcr(pkt, tcp, ecr);
        rewriteAck(pkt, tcp, ack);
        assert.ok(verifyTcpChecksum(pkt, ip));
        const again = decode(pkt).tcp;
        assert.deepEqual([again.options.tsVal, again.options.tsEcr, again.ack], [val, ecr, ack]);
      }),
    );
  });
});
