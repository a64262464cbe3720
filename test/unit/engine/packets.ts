/**
 * Decoded copies of packets for engine tests: what the engine injected (it reuses its buffer, so
 * everything is copied out at once), with checksum verdicts, in plain fields a test can compare.
 */
import assert from 'node:assert/strict';
import {
  DecodeStatus,
  IPV4_FLAG_DF,
  TcpFlag,
  decodeIpv4,
  decodeTcp,
  ipv4ToString,
  newIpv4View,
  newTcpView,
  verifyIpv4Checksum,
  verifyTcpChecksum,
} from '@tcpcopy/common';

export interface Packet {
  /** Simulation time the packet was sent. */
  at: number;
  raw: Buffer;
  src: number;
  dst: number;
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  ipId: number;
  ttl: number;
  df: boolean;
  payload: Buffer;
  /** -1 when absent. */
  mss: number;
  /** -1 when absent. */
  windowScale: number;
  sackPermitted: boolean;
  ts: { val: number; ecr: number } | undefined;
  tcpHeaderLength: number;
  ipChecksumOk: boolean;
  tcpChecksumOk: boolean;
}

/** Decodes a whole IPv4+TCP packet into a Packet (copying it). Throws on a malformed packet. */
export function decodePacket(buf: Uint8Array, at = 0): Packet {
  const raw = Buffer.from(buf);
  const ip = newIpv4View();
  const tcp = newTcpView();
  assert.equal(decodeIpv4(raw, 0, raw.length, ip), DecodeStatus.Ok, 'IPv4 header decodes');
  assert.equal(ip.totalLength, raw.length, 'IP total length = packet length');
  assert.equal(decodeTcp(raw, ip, tcp), DecodeStatus.Ok, 'TCP header decodes');
  const o = tcp.options;
  return {
    at,
    raw,
    src: ip.src,
    dst: ip.dst,
    srcPort: tcp.srcPort,
    dstPort: tcp.dstPort,
    seq: tcp.seq,
    ack: tcp.ack,
    flags: tcp.flags,
    window: tcp.window,
    ipId: ip.id,
    ttl: ip.ttl,
    df: (ip.flagsFragment & IPV4_FLAG_DF) !== 0,
    payload: raw.subarray(tcp.payloadOffset, tcp.payloadOffset + tcp.payloadLength),
    mss: o.mss,
    windowScale: o.windowScale,
    sackPermitted: o.sackPermitted,
    ts: o.hasTimestamps ? { val: o.tsVal, ecr: o.tsEcr } : undefined,
    tcpHeaderLength: tcp.headerLength,
    ipChecksumOk: verifyIpv4Checksum(raw, ip),
    tcpChecksumOk: verifyTcpChecksum(raw, ip),
  };
}

const FLAG_NAMES: readonly [number, string][] = [
  [TcpFlag.SYN, 'S'],
  [TcpFlag.FIN, 'F'],
  [TcpFlag.RST, 'R'],
  [TcpFlag.PSH, 'P'],
  [TcpFlag.ACK, '.'],
];

export function flagString(flags: number): string {
  return (
    FLAG_NAMES.filter(([bit]) => flags & bit)
      .map(([, s]) => s)
      .join('') || '-'
  );
}

/** One line per packet, tcpdump-like, for assertion messages. */
export function describe(p: Packet): string {
  const ts = p.ts === undefined ? '' : ` ts ${p.ts.val}/${p.ts.ecr}`;
  return `${p.at}ms ${ipv4ToString(p.src)}:${p.srcPort} > ${ipv4ToString(p.dst)}:${p.dstPort} [${flagString(p.flags)}] seq ${p.seq} ack ${p.ack} win ${p.window} len ${p.payload.length}${ts}`;
}

export function hasFlags(p: Packet, flags: number): boolean {
  return (p.flags & flags) === flags;
}

export function isSyn(p: Packet): boolean {
  return (p.flags & (TcpFlag.SYN | TcpFlag.ACK)) === TcpFlag.SYN;
}

export function isRst(p: Packet): boolean {
  return (p.flags & TcpFlag.RST) !== 0;
}

export function isPureAck(p: Packet): boolean {
  return p.flags === TcpFlag.ACK && p.payload.length === 0;
}

/** The SACK blocks of an injected packet, as [left, right] edges. */
export function sackBlocksOf(p: Packet): [number, number][] {
  const ip = newIpv4View();
  const tcp = newTcpView();
  assert.equal(decodeIpv4(p.raw, 0, p.raw.length, ip), DecodeStatus.Ok);
  assert.equal(decodeTcp(p.raw, ip, tcp), DecodeStatus.Ok);
  const blocks: [number, number][] = [];
  for (let i = 0; i < tcp.options.sackBlockCount; i++)
    blocks.push([tcp.options.sackBlocks[2 * i]!, tcp.options.sackBlocks[2 * i + 1]!]);
  return blocks;
}
