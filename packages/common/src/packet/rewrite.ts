/**
 * In-place rewrites of the fields the copier changes, each patching the IP and/or TCP checksum
 * incrementally (RFC 1624), so a rewrite costs O(1) whatever the payload size. An incremental
 * update keeps a correct checksum correct and a wrong one wrong (e.g. a capture on the sending
 * host with checksum offload): use recomputeChecksums when the input cannot be trusted.
 * Views are kept in sync with the buffer.
 *
 * 32-bit values may be given as uint32 or int32 (the same bits). Per-packet callers should pass
 * int32 (`x | 0`): a uint32 >= 2^31 is a heap number in V8 and costs an allocation whenever the
 * call is not inlined (see bytes.ts).
 */
import { readI32, readU16, writeU16, writeU32 } from './bytes.js';
import {
  adjustChecksumAt16,
  adjustChecksumAt32,
  swapBytesInWords,
  writeIpv4Checksum,
  writeTcpChecksum,
} from './checksum.js';
import { IPV4_OFF_CHECKSUM, IPV4_OFF_DST, IPV4_OFF_SRC } from './ipv4.js';
import { TcpOptionKind } from './tcp-options.js';
import {
  TCP_OFF_ACK,
  TCP_OFF_CHECKSUM,
  TCP_OFF_DST_PORT,
  TCP_OFF_SEQ,
  TCP_OFF_SRC_PORT,
  TCP_OFF_WINDOW,
} from './tcp.js';
import type { Ipv4View, TcpView } from './types.js';

/** Addresses are covered by the IP header checksum and, via the pseudo-header, the TCP one. */
function setAddress(buf: Uint8Array, ip: Ipv4View, tcp: TcpView, at: number, addr: number): void {
  const old = readI32(buf, at);
  writeU32(buf, at, addr);
  ip.checksum = adjustChecksumAt32(buf, ip.offset + IPV4_OFF_CHECKSUM, old, addr);
  tcp.checksum = adjustChecksumAt32(buf, tcp.offset + TCP_OFF_CHECKSUM, old, addr);
}

/** A 16-bit field of the fixed TCP header (always word-aligned). */
function setTcp16(buf: Uint8Array, tcp: TcpView, at: number, v: number): void {
  const old = readU16(buf, at);
  writeU16(buf, at, v);
  tcp.checksum = adjustChecksumAt16(buf, tcp.offset + TCP_OFF_CHECKSUM, old, v & 0xffff);
}

/** A 32-bit TCP field; option fields may sit at an odd offset from the header start. */
function setTcp32(buf: Uint8Array, tcp: TcpView, at: number, v: number): void {
  const old = readI32(buf, at);
  writeU32(buf, at, v);
  const odd = ((at - tcp.offset) & 1) === 1;
  tcp.checksum = adjustChecksumAt32(
    buf,
    tcp.offset + TCP_OFF_CHECKSUM,
    odd ? swapBytesInWords(old) | 0 : old,
    odd ? swapBytesInWords(v) | 0 : v | 0,
  );
}

export function rewriteSrcAddr(buf: Uint8Array, ip: Ipv4View, tcp: TcpView, addr: number): void {
  setAddress(buf, ip, tcp, ip.offset + IPV4_OFF_SRC, addr | 0);
  ip.src = addr >>> 0;
}

export function rewriteDstAddr(buf: Uint8Array, ip: Ipv4View, tcp: TcpView, addr: number): void {
  setAddress(buf, ip, tcp, ip.offset + IPV4_OFF_DST, addr | 0);
  ip.dst = addr >>> 0;
}

export function rewriteSrcPort(buf: Uint8Array, tcp: TcpView, port: number): void {
  setTcp16(buf, tcp, tcp.offset + TCP_OFF_SRC_PORT, port);
  tcp.srcPort = port & 0xffff;
}

export function rewriteDstPort(buf: Uint8Array, tcp: TcpView, port: number): void {
  setTcp16(buf, tcp, tcp.offset + TCP_OFF_DST_PORT, port);
  tcp.dstPort = port & 0xffff;
}

/** Sequence number: the copier never translates it, but clamps a client RST's seq. */
export function rewriteSeq(buf: Uint8Array, tcp: TcpView, seq: number): void {
  setTcp32(buf, tcp, tcp.offset + TCP_OFF_SEQ, seq | 0);
  tcp.seq = seq >>> 0;
}

export function rewriteAck(buf: Uint8Array, tcp: TcpView, ack: number): void {
  setTcp32(buf, tcp, tcp.offset + TCP_OFF_ACK, ack | 0);
  tcp.ack = ack >>> 0;
}

/** The raw 16-bit window field (unscaled). */
export function rewriteWindow(buf: Uint8Array, tcp: TcpView, window: number): void {
  setTcp16(buf, tcp, tcp.offset + TCP_OFF_WINDOW, window);
  tcp.window = window & 0xffff;
}

/** TSval of the timestamps option; false (nothing written) when the segment has none. */
export function rewriteTsVal(buf: Uint8Array, tcp: TcpView, tsVal: number): boolean {
  const at = tcp.options.tsValOffset;
  if (at < 0) return false;
  setTcp32(buf, tcp, at, tsVal | 0);
  tcp.options.tsVal = tsVal >>> 0;
  return true;
}

/** TSecr (4 bytes after TSval); false (nothing written) when the segment has no timestamps. */
export function rewriteTsEcr(buf: Uint8Array, tcp: TcpView, tsEcr: number): boolean {
  const at = tcp.options.tsValOffset;
  if (at < 0) return false;
  setTcp32(buf, tcp, at + 4, tsEcr | 0);
  tcp.options.tsEcr = tsEcr >>> 0;
  return true;
}

/**
 * Replaces the SACK option with NOPs and recomputes the TCP checksum (a blanked option may sit at
 * any alignment; the path is rare: only segments that carry SACK blocks). Returns false when
 * there is none, or the packet is not whole. The copier uses it because a client's SACK blocks
 * speak of production's sequence space, which means nothing to the test server (RFC 2018 §4).
 */
export function blankSackOption(buf: Uint8Array, ip: Ipv4View, tcp: TcpView): boolean {
  const at = tcp.options.sackOffset;
  if (at < 0) return false;
  buf.fill(TcpOptionKind.Nop, at, at + buf[at + 1]!);
  tcp.options.sackOffset = -1;
  tcp.options.sackBlockCount = 0;
  return writeTcpChecksum(buf, ip, tcp);
}

/**
 * Recomputes both checksums from scratch. Returns false, leaving the TCP checksum alone, when
 * the packet is not whole in the buffer (its payload cannot be summed).
 */
export function recomputeChecksums(buf: Uint8Array, ip: Ipv4View, tcp: TcpView): boolean {
  writeIpv4Checksum(buf, ip);
  return writeTcpChecksum(buf, ip, tcp);
}
