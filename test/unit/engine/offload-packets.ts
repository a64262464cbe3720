/**
 * Packets as offloads leave them for a capture: an unfinished TCP checksum (checksum offload),
 * several segments merged into one (receive offload), and the capture loop's decode of them.
 */
import assert from 'node:assert/strict';
import {
  DecodeStatus,
  IPPROTO_TCP,
  IPV4_OFF_TOTAL_LENGTH,
  LinkType,
  TCP_OFF_CHECKSUM,
  TCP_OFF_FLAGS,
  TcpFlag,
  decodeFrame,
  decodeIpv4,
  decodeTcp,
  newIpv4View,
  newPacketViews,
  newTcpView,
  onesComplementSum,
  pseudoHeaderSum,
  verifyTcpChecksum,
  type PacketViews,
} from '@tcpcopy/common';
import { wrapLink } from '@tcpcopy/common/testing';

/** The largest IPv4 packet (total length is 16 bits). */
export const MAX_IP_PACKET = 65535;

/** Checksum offload: the sender left only the folded pseudo-header sum for "hardware" to finish. */
export function unfinishChecksum(packet: Buffer): Buffer {
  const ip = newIpv4View();
  assert.equal(decodeIpv4(packet, 0, packet.length, ip), DecodeStatus.Ok);
  const partial = onesComplementSum(
    packet,
    0,
    0,
    pseudoHeaderSum(ip.src, ip.dst, IPPROTO_TCP, ip.totalLength - ip.headerLength),
  );
  packet.writeUInt16BE(partial, ip.headerLength + TCP_OFF_CHECKSUM);
  return packet;
}

/**
 * Receive offload: consecutive segments of one flow merged into one packet with the first
 * segment's headers and both of its checksums (IP and TCP: stale for the merged length), PSH and
 * FIN of the last one, and the payloads concatenated.
 */
export function mergeSegments(packets: readonly Buffer[]): Buffer {
  const parts = packets.map((p) => {
    const ip = newIpv4View();
    const tcp = newTcpView();
    assert.equal(decodeIpv4(p, 0, p.length, ip), DecodeStatus.Ok);
    assert.equal(decodeTcp(p, ip, tcp), DecodeStatus.Ok);
    return { p, ip, tcp };
  });
  const first = parts[0]!;
  const last = parts.at(-1)!;
  parts.forEach((x, i) => {
    if (i > 0)
      assert.equal(
        x.tcp.seq,
        (parts[i - 1]!.tcp.seq + parts[i - 1]!.tcp.payloadLength) >>> 0,
        'merged segments are consecutive',
      );
  });
  const headers = first.tcp.payloadOffset;
  const merged = Buffer.concat([
    first.p.subarray(0, headers),
    ...parts.map((x) => x.p.subarray(x.tcp.payloadOffset, x.ip.totalLength)),
  ]);
  assert.ok(merged.length <= MAX_IP_PACKET, 'a merged packet is one IP packet');
  merged.writeUInt16BE(merged.length, IPV4_OFF_TOTAL_LENGTH);
  merged[first.ip.headerLength + TCP_OFF_FLAGS] = first.tcp.flags | (last.tcp.flags & (TcpFlag.PSH | TcpFlag.FIN));
  return merged;
}

/** `packet` behind an Ethernet header, decoded as the capture loop decodes it. */
export function captured(packet: Buffer): { frame: Buffer; views: PacketViews } {
  const frame = wrapLink(LinkType.Ethernet, packet);
  const views = newPacketViews();
  assert.equal(decodeFrame(LinkType.Ethernet, frame, 0, frame.length, views), DecodeStatus.Ok);
  return { frame, views };
}

export function tcpChecksumOk(packet: Buffer): boolean {
  const ip = newIpv4View();
  assert.equal(decodeIpv4(packet, 0, packet.length, ip), DecodeStatus.Ok);
  return verifyTcpChecksum(packet, ip);
}
