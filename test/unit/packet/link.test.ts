import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  DecodeStatus,
  EtherType,
  LinkType,
  SllPacketType,
  decodeIpv4,
  decodeLink,
  newIpv4View,
  newLinkView,
  type LinkType as LinkTypeT,
} from '@tcpcopy/common';
import { buildTcpPacket, wrapLink } from '@tcpcopy/common/testing';

const ip = buildTcpPacket({
  src: '10.0.0.1',
  dst: '10.0.0.2',
  srcPort: 40000,
  dstPort: 80,
  seq: 1,
  ack: 0,
  flags: 2,
  window: 65535,
});

function decode(linkType: number, frame: Uint8Array, offset = 0, length = frame.length - offset) {
  const out = newLinkView();
  const status = decodeLink(linkType, frame, offset, length, out);
  return { status, out };
}

describe('decodeLink: Ethernet', () => {
  test('untagged frame: IPv4 at 14', () => {
    const { status, out } = decode(LinkType.Ethernet, wrapLink(LinkType.Ethernet, ip));
    assert.equal(status, DecodeStatus.Ok);
    assert.deepEqual(out, {
      networkOffset: 14,
      networkLength: ip.length,
      etherType: EtherType.Ipv4,
      vlanTags: 0,
      packetType: -1,
    });
  });

  test('one 802.1Q tag: IPv4 at 18', () => {
    const { status, out } = decode(LinkType.Ethernet, wrapLink(LinkType.Ethernet, ip, { vlanTags: [100] }));
    assert.equal(status, DecodeStatus.Ok);
    assert.equal(out.networkOffset, 18);
    assert.equal(out.vlanTags, 1);
    assert.equal(out.networkLength, ip.length);
  });

  test('802.1ad outer + 802.1Q inner (QinQ): IPv4 at 22', () => {
    const frame = wrapLink(LinkType.Ethernet, ip, { vlanTags: [200, 100] });
    assert.equal(frame.readUInt16BE(12), EtherType.QinQ);
    assert.equal(frame.readUInt16BE(16), EtherType.Vlan);
    const { status, out } = decode(LinkType.Ethernet, frame);
    assert.equal(status, DecodeStatus.Ok);
    assert.equal(out.networkOffset, 22);
    assert.equal(out.vlanTags, 2);
  });

  test('two 802.1Q tags (pre-802.1ad QinQ) and a lone 802.1ad tag', () => {
    const both = [
      { tpid: EtherType.Vlan, tci: 1 },
      { tpid: EtherType.Vlan, tci: 2 },
    ];
    assert.equal(decode(LinkType.Ethernet, wrapLink(LinkType.Ethernet, ip, { vlanTags: both })).out.networkOffset, 22);
    const lone = decode(
      LinkType.Ethernet,
      wrapLink(LinkType.Ethernet, ip, { vlanTags: [{ tpid: EtherType.QinQ, tci: 7 }] }),
    );
    assert.equal(lone.status, DecodeStatus.Ok);
    assert.equal(lone.out.networkOffset, 18);
  });

  test('a third tag is not decoded: NotIpv4', () => {
    const { status, out } = decode(LinkType.Ethernet, wrapLink(LinkType.Ethernet, ip, { vlanTags: [1, 2, 3] }));
    assert.equal(status, DecodeStatus.NotIpv4);
    assert.equal(out.etherType, EtherType.Vlan);
  });

  test('ARP and IPv6 frames: NotIpv4 with the EtherType reported', () => {
    for (const type of [EtherType.Arp, EtherType.Ipv6]) {
      const { status, out } = decode(LinkType.Ethernet, wrapLink(LinkType.Ethernet, ip, { etherType: type }));
      assert.equal(status, DecodeStatus.NotIpv4);
      assert.equal(out.etherType, type);
    }
  });

  test('minimum-size padding is part of networkLength but not of the IP packet', () => {
    const small = ip.subarray(0, 20); // header-only datagram, total length patched below
    const datagram = Buffer.from(small);
    datagram.writeUInt16BE(20, 2);
    const frame = wrapLink(LinkType.Ethernet, datagram, { padToMinimum: true });
    assert.equal(frame.length, 60);
    const { out } = decode(LinkType.Ethernet, frame);
    assert.equal(out.networkLength, 46);
    const ipv = newIpv4View();
    assert.equal(decodeIpv4(frame, out.networkOffset, out.networkLength, ipv), DecodeStatus.Ok);
    assert.equal(ipv.capturedLength, 20);
  });

  test('frame at a non-zero offset in a larger buffer', () => {
    const frame = wrapLink(LinkType.Ethernet, ip, { vlanTags: [5] });
    const big = Buffer.concat([Buffer.alloc(7, 0xee), frame, Buffer.alloc(3, 0xee)]);
    const { status, out } = decode(LinkType.Ethernet, big, 7, frame.length);
    assert.equal(status, DecodeStatus.Ok);
    assert.equal(out.networkOffset, 7 + 18);
    assert.equal(out.networkLength, ip.length);
  });
});

describe('decodeLink: Linux cooked captures', () => {
  test('SLL: 16-byte header, packet type and protocol', () => {
    const { status, out } = decode(
      LinkType.LinuxSll,
      wrapLink(LinkType.LinuxSll, ip, { packetType: SllPacketType.Outgoing }),
    );
    assert.equal(status, DecodeStatus.Ok);
    assert.deepEqual(out, {
      networkOffset: 16,
      networkLength: ip.length,
      etherType: EtherType.Ipv4,
      vlanTags: 0,
      packetType: 4,
    });
  });

  test('SLL2: 20-byte header, packet type at byte 10', () => {
    const frame = wrapLink(LinkType.LinuxSll2, ip, { packetType: SllPacketType.Host });
    const { status, out } = decode(LinkType.LinuxSll2, frame);
    assert.equal(status, DecodeStatus.Ok);
    assert.deepEqual(out, {
      networkOffset: 20,
      networkLength: ip.length,
      etherType: EtherType.Ipv4,
      vlanTags: 0,
      packetType: 0,
    });
    frame[10] = SllPacketType.OtherHost;
    assert.equal(decode(LinkType.LinuxSll2, frame).out.packetType, 3);
  });

  test('SLL/SLL2 carrying ARP: NotIpv4', () => {
    for (const lt of [LinkType.LinuxSll, LinkType.LinuxSll2]) {
      assert.equal(decode(lt, wrapLink(lt, ip, { etherType: EtherType.Arp })).status, DecodeStatus.NotIpv4);
    }
  });
});

describe('decodeLink: raw IP and loopback', () => {
  test('DLT_RAW (12), LINKTYPE_RAW (101), DLT_IPV4 (228): IPv4 at 0', () => {
    for (const lt of [LinkType.DltRaw, LinkType.Raw, LinkType.Ipv4]) {
      const { status, out } = decode(lt, wrapLink(lt, ip));
      assert.equal(status, DecodeStatus.Ok, `link type ${lt}`);
      assert.equal(out.networkOffset, 0);
      assert.equal(out.networkLength, ip.length);
    }
  });

  test('raw IPv6 is told apart by the version nibble', () => {
    const v6 = Buffer.from(ip);
    v6[0] = 0x60;
    assert.equal(decode(LinkType.Raw, v6).status, DecodeStatus.NotIpv4);
    assert.equal(decode(LinkType.Raw, v6).out.etherType, EtherType.Ipv6);
  });

  test('Null: AF_INET in either byte order; Loop: network order only', () => {
    const le = wrapLink(LinkType.Null, ip);
    assert.deepEqual([...le.subarray(0, 4)], [2, 0, 0, 0]);
    const be = wrapLink(LinkType.Null, ip, { bigEndianNull: true });
    for (const frame of [le, be]) {
      const { status, out } = decode(LinkType.Null, frame);
      assert.equal(status, DecodeStatus.Ok);
      assert.equal(out.networkOffset, 4);
    }
    assert.equal(decode(LinkType.Loop, wrapLink(LinkType.Loop, ip)).status, DecodeStatus.Ok);
    assert.equal(decode(LinkType.Loop, le).status, DecodeStatus.NotIpv4);
  });

  test('Null with AF_INET6 (BSD value 24, 28 or 30; Linux 10): NotIpv4', () => {
    for (const af of [10, 24, 28, 30]) {
      const frame = wrapLink(LinkType.Null, ip);
      frame.writeUInt32LE(af, 0);
      assert.equal(decode(LinkType.Null, frame).status, DecodeStatus.NotIpv4);
    }
  });
});

describe('decodeLink: limits', () => {
  test('unsupported link types', () => {
    for (const lt of [105, 127, 147, 9999])
      assert.equal(decode(lt, wrapLink(LinkType.Raw, ip)).status, DecodeStatus.UnsupportedLinkType);
  });

  test('frames shorter than the link header: Truncated', () => {
    const cases: [LinkTypeT, number][] = [
      [LinkType.Ethernet, 14],
      [LinkType.LinuxSll, 16],
      [LinkType.LinuxSll2, 20],
      [LinkType.Null, 4],
      [LinkType.Loop, 4],
      [LinkType.Raw, 1],
    ];
    for (const [lt, header] of cases) {
      const frame = wrapLink(lt, ip);
      for (let n = 0; n < header; n++)
        assert.equal(decode(lt, frame.subarray(0, n)).status, DecodeStatus.Truncated, `${lt} cut at ${n}`);
      assert.equal(decode(lt, frame.subarray(0, header)).status, DecodeStatus.Ok);
    }
    const tagged = wrapLink(LinkType.Ethernet, ip, { vlanTags: [1, 2] });
    for (let n = 14; n < 22; n++)
      assert.equal(decode(LinkType.Ethernet, tagged.subarray(0, n)).status, DecodeStatus.Truncated);
  });
});

describe('decodeLink properties', () => {
  const arbLink = fc.constantFrom(...Object.values(LinkType));
  test('wrapLink -> decodeLink locates the packet for every link type, tag count and packet type', () => {
    fc.assert(
      fc.property(
        arbLink,
        fc.uint8Array({ minLength: 20, maxLength: 200 }),
        fc.array(fc.nat({ max: 0xffff }), { maxLength: 2 }),
        fc.nat({ max: 255 }),
        fc.nat({ max: 16 }),
        (lt, body, tags, packetType, lead) => {
          const packet = Buffer.from(body);
          packet[0] = 0x45; // IPv4 version nibble, so raw framings classify it as IPv4
          const frame = wrapLink(lt, packet, { vlanTags: tags, packetType });
          const buf = Buffer.concat([Buffer.alloc(lead), frame]);
          const { status, out } = decode(lt, buf, lead, frame.length);
          assert.equal(status, DecodeStatus.Ok);
          assert.equal(out.etherType, EtherType.Ipv4);
          assert.equal(out.networkLength, packet.length);
          assert.deepEqual(buf.subarray(out.networkOffset, out.networkOffset + out.networkLength), packet);
          assert.equal(out.vlanTags, lt === LinkType.Ethernet ? tags.length : 0);
          const cooked = lt === LinkType.LinuxSll || lt === LinkType.LinuxSll2;
          assert.equal(out.packetType, cooked ? packetType : -1);
        },
      ),
    );
  });
});
