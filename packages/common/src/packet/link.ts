/**
 * Link-layer headers in front of captured IPv4 packets. Numbers are the pcap LINKTYPE/DLT values
 * (https://www.tcpdump.org/linktypes.html); header layouts are cited per decoder.
 */
import { readI32, readU16 } from './bytes.js';
import { DecodeStatus, type LinkView } from './types.js';

/** pcap link types this module decodes. */
export const LinkType = {
  /** BSD loopback: 4-byte address family in the capturing host's byte order. */
  Null: 0,
  /** Ethernet II, optionally with 802.1Q / 802.1ad tags. */
  Ethernet: 1,
  /** Raw IP as libpcap reports it live on Linux (DLT_RAW). */
  DltRaw: 12,
  /** Raw IP as written to pcap files (LINKTYPE_RAW). */
  Raw: 101,
  /** OpenBSD loopback: like Null but the address family is in network byte order. */
  Loop: 108,
  /** Linux cooked capture v1 (`tcpdump -i any` before libpcap 1.10). */
  LinuxSll: 113,
  /** Raw IPv4 only. */
  Ipv4: 228,
  /** Linux cooked capture v2 (`tcpdump -i any` with libpcap >= 1.10). */
  LinuxSll2: 276,
} as const;
export type LinkType = (typeof LinkType)[keyof typeof LinkType];

const SUPPORTED_LINK_TYPES: ReadonlySet<number> = new Set<number>(Object.values(LinkType));

export function isSupportedLinkType(n: number): n is LinkType {
  return SUPPORTED_LINK_TYPES.has(n);
}

/** EtherTypes (IEEE 802 numbers). */
export const EtherType = {
  Ipv4: 0x0800,
  Arp: 0x0806,
  /** 802.1Q customer VLAN tag. */
  Vlan: 0x8100,
  Ipv6: 0x86dd,
  /** 802.1ad service VLAN tag (outer tag of QinQ). */
  QinQ: 0x88a8,
} as const;

/** Linux SLL/SLL2 packet types (linux/if_packet.h PACKET_*). */
export const SllPacketType = {
  Host: 0,
  Broadcast: 1,
  Multicast: 2,
  OtherHost: 3,
  Outgoing: 4,
} as const;

/** BSD address family for IPv4 in Null/Loop headers (AF_INET is 2 on every BSD and Linux). */
export const AF_INET = 2;

export const ETHERNET_HEADER_LENGTH = 14;
const ETHERNET_TYPE_OFFSET = 12;
export const VLAN_TAG_LENGTH = 4;
/** Tags skipped before giving up: one 802.1Q, or QinQ (802.1ad outer + 802.1Q inner). */
export const MAX_VLAN_TAGS = 2;

/** SLL v1: packet type 2, ARPHRD 2, address length 2, address 8, protocol 2. */
export const SLL_HEADER_LENGTH = 16;
const SLL_PACKET_TYPE_OFFSET = 0;
const SLL_PROTOCOL_OFFSET = 14;

/** SLL2: protocol 2, reserved 2, ifindex 4, ARPHRD 2, packet type 1, address length 1, address 8. */
export const SLL2_HEADER_LENGTH = 20;
const SLL2_PROTOCOL_OFFSET = 0;
const SLL2_PACKET_TYPE_OFFSET = 10;

export const NULL_HEADER_LENGTH = 4;

const IP_VERSION_4 = 4;

/**
 * Locates the IPv4 packet in a captured frame of `length` bytes starting at `offset`.
 * Ok only when the payload is IPv4; NotIpv4 (with out.etherType set) for anything else.
 */
export function decodeLink(
  linkType: number,
  buf: Uint8Array,
  offset: number,
  length: number,
  out: LinkView,
): DecodeStatus {
  out.vlanTags = 0;
  out.packetType = -1;
  switch (linkType) {
    case LinkType.Ethernet:
      return decodeEthernet(buf, offset, length, out);
    case LinkType.LinuxSll:
      if (length < SLL_HEADER_LENGTH) return DecodeStatus.Truncated;
      out.packetType = readU16(buf, offset + SLL_PACKET_TYPE_OFFSET);
      return finish(readU16(buf, offset + SLL_PROTOCOL_OFFSET), SLL_HEADER_LENGTH, offset, length, out);
    case LinkType.LinuxSll2:
      if (length < SLL2_HEADER_LENGTH) return DecodeStatus.Truncated;
      out.packetType = buf[offset + SLL2_PACKET_TYPE_OFFSET]!;
      return finish(readU16(buf, offset + SLL2_PROTOCOL_OFFSET), SLL2_HEADER_LENGTH, offset, length, out);
    case LinkType.DltRaw:
    case LinkType.Raw:
      // May carry IPv6 too: the version nibble tells (RFC 791 §3.1, RFC 8200 §3).
      if (length < 1) return DecodeStatus.Truncated;
      return finish(buf[offset]! >> 4 === IP_VERSION_4 ? EtherType.Ipv4 : EtherType.Ipv6, 0, offset, length, out);
    case LinkType.Ipv4:
      return finish(EtherType.Ipv4, 0, offset, length, out);
    case LinkType.Null:
      return decodeNull(buf, offset, length, out, false);
    case LinkType.Loop:
      return decodeNull(buf, offset, length, out, true);
    default:
      return DecodeStatus.UnsupportedLinkType;
  }
}

function decodeEthernet(buf: Uint8Array, offset: number, length: number, out: LinkView): DecodeStatus {
  if (length < ETHERNET_HEADER_LENGTH) return DecodeStatus.Truncated;
  let headerLength = ETHERNET_HEADER_LENGTH;
  let type = readU16(buf, offset + ETHERNET_TYPE_OFFSET);
  while ((type === EtherType.Vlan || type === EtherType.QinQ) && out.vlanTags < MAX_VLAN_TAGS) {
    // A tag is TPID 2 + TCI 2; the encapsulated type follows it (IEEE 802.1Q §9.5).
    headerLength += VLAN_TAG_LENGTH;
    if (length < headerLength) return DecodeStatus.Truncated;
    type = readU16(buf, offset + headerLength - 2);
    out.vlanTags++;
  }
  return finish(type, headerLength, offset, length, out);
}

function decodeNull(
  buf: Uint8Array,
  offset: number,
  length: number,
  out: LinkView,
  networkOrder: boolean,
): DecodeStatus {
  if (length < NULL_HEADER_LENGTH) return DecodeStatus.Truncated;
  const be = readI32(buf, offset);
  // DLT_NULL is in the writer's host order, unknown to a reader; families are small numbers, so
  // a value that reads as AF_INET in either order is AF_INET.
  const le = buf[offset]! | (buf[offset + 1]! << 8) | (buf[offset + 2]! << 16) | (buf[offset + 3]! << 24);
  const isInet = networkOrder ? be === AF_INET : be === AF_INET || le === AF_INET;
  return finish(isInet ? EtherType.Ipv4 : 0, NULL_HEADER_LENGTH, offset, length, out);
}

function finish(etherType: number, headerLength: number, offset: number, length: number, out: LinkView): DecodeStatus {
  out.etherType = etherType;
  out.networkOffset = offset + headerLength;
  out.networkLength = length - headerLength;
  return etherType === EtherType.Ipv4 ? DecodeStatus.Ok : DecodeStatus.NotIpv4;
}
