/** The whole per-packet decode chain, link layer to TCP, into one reusable set of views. */
import { decodeIpv4 } from './ipv4.js';
import { decodeLink } from './link.js';
import { decodeTcp } from './tcp.js';
import {
  DecodeStatus,
  newIpv4View,
  newLinkView,
  newTcpView,
  type Ipv4View,
  type LinkView,
  type TcpView,
} from './types.js';

export interface PacketViews {
  link: LinkView;
  ip: Ipv4View;
  tcp: TcpView;
}

/** Allocate once per capture loop and reuse for every packet. */
export function newPacketViews(): PacketViews {
  return { link: newLinkView(), ip: newIpv4View(), tcp: newTcpView() };
}

/**
 * Decodes a captured frame of `length` bytes at `offset` down to its TCP header. Ok means all
 * three views are filled; otherwise the status says which layer refused it and why.
 */
export function decodeFrame(
  linkType: number,
  buf: Uint8Array,
  offset: number,
  length: number,
  views: PacketViews,
): DecodeStatus {
  const link = views.link;
  let status = decodeLink(linkType, buf, offset, length, link);
  if (status !== DecodeStatus.Ok) return status;
  status = decodeIpv4(buf, link.networkOffset, link.networkLength, views.ip);
  if (status !== DecodeStatus.Ok) return status;
  return decodeTcp(buf, views.ip, views.tcp);
}
