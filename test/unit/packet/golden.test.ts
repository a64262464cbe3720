/**
 * Golden decodes: real kernel packets (test/fixtures, captured in the lab with offloads off)
 * decoded by our codecs and compared with tcpdump's own decode of the same files (the JSON
 * beside each pcap), plus the kernel's checksums verified by our checksum code.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import {
  DecodeStatus,
  LinkType,
  SllPacketType,
  TcpFlag,
  decodeFrame,
  ipv4ToString,
  newPacketViews,
  rewriteAck,
  rewriteDstAddr,
  rewriteSrcAddr,
  rewriteTsEcr,
  rewriteTsVal,
  rewriteWindow,
  verifyIpv4Checksum,
  verifyTcpChecksum,
  type PacketViews,
} from '@tcpcopy/common';
import type { FixturePacket } from '../../fixtures/tcpdump-text.js';
import { FIXTURES_DIR, loadFixtures, type Fixture } from './fixtures.js';

interface FixtureJson {
  linkType: number;
  packetCount: number;
  packets: FixturePacket[];
}

const fixtures = loadFixtures().map((f) => {
  const jsonPath = path.join(FIXTURES_DIR, f.name.replace(/\.pcap$/, '.json'));
  const expected = existsSync(jsonPath) ? (JSON.parse(readFileSync(jsonPath, 'utf8')) as FixtureJson) : undefined;
  return { ...f, expected };
});

/** tcpdump's flag letters (print-tcp.c tcp_flag_values). */
const TCPDUMP_FLAGS: Readonly<Record<string, number>> = {
  F: TcpFlag.FIN,
  S: TcpFlag.SYN,
  R: TcpFlag.RST,
  P: TcpFlag.PSH,
  '.': TcpFlag.ACK,
  U: TcpFlag.URG,
  E: TcpFlag.ECE,
  W: TcpFlag.CWR,
};

function flagsFromTcpdump(s: string): number {
  let f = 0;
  for (const c of s) {
    const bit = TCPDUMP_FLAGS[c];
    assert.ok(bit !== undefined, `unknown tcpdump flag ${c}`);
    f |= bit;
  }
  return f;
}

/** tcpdump's option list ("mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7") as decoded values. */
function optionsFromTcpdump(s: string | undefined) {
  const o = {
    mss: -1,
    windowScale: -1,
    sackPermitted: false,
    ts: undefined as [number, number] | undefined,
    sack: [] as number[],
  };
  for (const item of s === undefined ? [] : s.split(',')) {
    let m: RegExpExecArray | null;
    if ((m = /^mss (\d+)$/.exec(item))) o.mss = Number(m[1]);
    else if ((m = /^wscale (\d+)$/.exec(item))) o.windowScale = Number(m[1]);
    else if (item === 'sackOK') o.sackPermitted = true;
    else if ((m = /^TS val (\d+) ecr (\d+)$/.exec(item))) o.ts = [Number(m[1]), Number(m[2])];
    else if (item.startsWith('sack '))
      o.sack = [...item.matchAll(/\{(\d+):(\d+)\}/g)].flatMap((b) => [Number(b[1]), Number(b[2])]);
    else assert.ok(item === 'nop' || item === 'eol', `option not understood by this test: ${item}`);
  }
  return o;
}

function decodeFrameOf(linkType: number, data: Buffer, what = 'frame'): PacketViews {
  const v = newPacketViews();
  assert.equal(decodeFrame(linkType, data, 0, data.length, v), DecodeStatus.Ok, what);
  return v;
}

function decodeRecord(fx: Fixture, i: number): PacketViews {
  return decodeFrameOf(fx.linkType, fx.records[i]!.data, `${fx.name} record ${i + 1}`);
}

describe('golden fixtures', () => {
  test('fixtures are present (Ethernet and SLL2)', () => {
    const types = fixtures.map((f) => f.linkType).sort((a, b) => a - b);
    assert.deepEqual(types, [LinkType.Ethernet, LinkType.LinuxSll2]);
  });

  for (const fx of fixtures) {
    describe(fx.name, () => {
      test('every packet decodes to what tcpdump decoded', () => {
        const exp = fx.expected;
        assert.ok(exp !== undefined, `${fx.name} has no JSON expectations`);
        assert.equal(fx.linkType, exp.linkType);
        assert.equal(fx.records.length, exp.packetCount);
        fx.records.forEach((rec, i) => {
          const e = exp.packets[i]!;
          const at = `${fx.name} #${i + 1}: ${e.tcpdump}`;
          const { link, ip, tcp } = decodeRecord(fx, i);
          assert.equal(rec.originalLength, e.frameLength, at);
          if (e.link.direction !== undefined) {
            assert.equal(link.packetType, e.link.direction === 'Out' ? SllPacketType.Outgoing : SllPacketType.Host, at);
          }
          assert.equal(ipv4ToString(ip.src), e.ip.src, at);
          assert.equal(ipv4ToString(ip.dst), e.ip.dst, at);
          assert.deepEqual(
            [ip.tos, ip.ttl, ip.id, ip.totalLength, ip.isFragment],
            [e.ip.tos, e.ip.ttl, e.ip.id, e.ip.totalLength, false],
            at,
          );
          assert.equal((ip.flagsFragment & 0x4000) !== 0, e.ip.dontFragment, at);
          assert.deepEqual(
            [tcp.srcPort, tcp.dstPort, tcp.flags, tcp.window, tcp.checksum],
            [e.tcp.sport, e.tcp.dport, flagsFromTcpdump(e.tcp.flags), e.tcp.window, e.tcp.checksum],
            at,
          );
          if (e.tcp.seq !== undefined) assert.equal(tcp.seq, e.tcp.seq, at);
          if (e.tcp.ack !== undefined) assert.equal(tcp.ack, e.tcp.ack, at);
          assert.equal(tcp.payloadLength, e.tcp.payloadLength, at);
          assert.equal(tcp.capturedPayloadLength, e.tcp.payloadLength, at);
          const o = optionsFromTcpdump(e.tcp.options);
          assert.deepEqual(
            [tcp.options.mss, tcp.options.windowScale, tcp.options.sackPermitted, tcp.options.unknownCount],
            [o.mss, o.windowScale, o.sackPermitted, 0],
            at,
          );
          assert.deepEqual(tcp.options.hasTimestamps ? [tcp.options.tsVal, tcp.options.tsEcr] : undefined, o.ts, at);
          assert.deepEqual(tcp.options.sackBlocks.slice(0, tcp.options.sackBlockCount * 2), o.sack, at);
        });
      });

      test("the kernel's IP and TCP checksums verify with our checksum code", () => {
        fx.records.forEach((rec, i) => {
          const { ip } = decodeRecord(fx, i);
          assert.ok(verifyIpv4Checksum(rec.data, ip), `record ${i + 1}: IP checksum`);
          assert.ok(verifyTcpChecksum(rec.data, ip), `record ${i + 1}: TCP checksum`);
        });
      });

      test('the handshake and first request, field by field', () => {
        const [syn, synAck, ack, request] = [0, 1, 2, 3].map((i) => decodeRecord(fx, i)) as [
          PacketViews,
          PacketViews,
          PacketViews,
          PacketViews,
        ];
        // SYN from curl: Linux's option set, 60-byte datagram.
        assert.equal(syn.tcp.flags, TcpFlag.SYN);
        assert.equal(syn.tcp.dstPort, 80);
        assert.equal(syn.ip.totalLength, 60);
        assert.equal(syn.tcp.headerLength, 40);
        assert.equal(syn.tcp.options.mss, 1460);
        assert.equal(syn.tcp.options.sackPermitted, true);
        assert.equal(syn.tcp.options.hasTimestamps, true);
        assert.equal(syn.tcp.options.tsEcr, 0);
        assert.equal(syn.tcp.options.windowScale, 10);
        assert.equal(syn.tcp.options.tsValOffset, syn.tcp.offset + 28, 'mss 4 + sackOK 2 + TS kind/len 2');
        // SYN-ACK from nginx acknowledges the SYN and echoes its timestamp.
        assert.equal(synAck.tcp.flags, TcpFlag.SYN | TcpFlag.ACK);
        assert.equal(synAck.tcp.ack, (syn.tcp.seq + 1) >>> 0);
        assert.deepEqual(
          [synAck.ip.src, synAck.ip.dst, synAck.tcp.srcPort, synAck.tcp.dstPort],
          [syn.ip.dst, syn.ip.src, syn.tcp.dstPort, syn.tcp.srcPort],
        );
        assert.equal(synAck.tcp.options.mss, 1460);
        assert.equal(synAck.tcp.options.tsEcr, syn.tcp.options.tsVal);
        // Third ACK: NOP,NOP,TS only (a 32-byte TCP header), no payload.
        assert.equal(ack.tcp.flags, TcpFlag.ACK);
        assert.equal(ack.tcp.headerLength, 32);
        assert.equal(ack.tcp.ack, (synAck.tcp.seq + 1) >>> 0);
        assert.equal(ack.tcp.options.tsEcr, synAck.tcp.options.tsVal);
        assert.equal(ack.tcp.options.mss, -1);
        assert.equal(ack.tcp.payloadLength, 0);
        // First request: data with timestamps.
        assert.equal(request.tcp.flags, TcpFlag.PSH | TcpFlag.ACK);
        assert.equal(request.tcp.seq, (syn.tcp.seq + 1) >>> 0);
        assert.equal(request.tcp.options.tsEcr, synAck.tcp.options.tsVal);
        const data = fx.records[3]!.data;
        const text = data
          .subarray(request.tcp.payloadOffset, request.tcp.payloadOffset + request.tcp.payloadLength)
          .toString('latin1');
        assert.match(text, /^GET \/ HTTP\/1\.1\r\n/);
        assert.ok(text.endsWith('\r\n\r\n'));
      });

      test('full-sized segments: 1500-byte datagrams with 1448 bytes of payload', () => {
        const full = fx.records.map((_, i) => decodeRecord(fx, i)).filter((v) => v.ip.totalLength === 1500);
        assert.ok(full.length >= 10);
        for (const v of full) {
          assert.equal(v.tcp.payloadLength, 1448);
          assert.equal(v.tcp.options.hasTimestamps, true);
        }
      });

      test('incremental rewrites of real packets keep the kernel checksums valid', () => {
        fx.records.forEach((rec, i) => {
          const data = Buffer.from(rec.data);
          const { ip, tcp } = decodeFrameOf(fx.linkType, data);
          rewriteDstAddr(data, ip, tcp, 0x0a0b0c0d);
          rewriteSrcAddr(data, ip, tcp, 0xc0000201 + i);
          rewriteAck(data, tcp, (tcp.ack + 0x12345678) >>> 0);
          rewriteTsEcr(data, tcp, 0xfedcba98);
          rewriteTsVal(data, tcp, tcp.options.tsVal + 1);
          rewriteWindow(data, tcp, 65535);
          assert.ok(verifyIpv4Checksum(data, ip), `record ${i + 1}`);
          assert.ok(verifyTcpChecksum(data, ip), `record ${i + 1}`);
        });
      });
    });
  }

  test('the Ethernet and SLL2 captures hold the same IP packets', () => {
    const eth = fixtures.find((f) => f.linkType === LinkType.Ethernet);
    const sll2 = fixtures.find((f) => f.linkType === LinkType.LinuxSll2);
    assert.ok(eth && sll2);
    assert.equal(eth.records.length, sll2.records.length);
    eth.records.forEach((rec, i) => {
      const a = decodeRecord(eth, i);
      const b = decodeRecord(sll2, i);
      assert.equal(a.link.networkOffset, 14);
      assert.equal(b.link.networkOffset, 20);
      const ipA = rec.data.subarray(14, 14 + a.ip.totalLength);
      const ipB = sll2.records[i]!.data.subarray(20, 20 + b.ip.totalLength);
      assert.deepEqual(ipA, ipB, `record ${i + 1}`);
    });
  });
});
