/**
 * Test packet builders: IPv4+TCP packets with correct checksums (a thin wrapper over the
 * production writer, so tests exercise the same code the copier crafts packets with) and the
 * link-layer framings captures arrive in.
 */
import { writeU16, writeU32 } from '../packet/bytes.js';
import { parseIpv4 } from '../packet/ipv4.js';
import {
  AF_INET,
  ETHERNET_HEADER_LENGTH,
  EtherType,
  LinkType,
  NULL_HEADER_LENGTH,
  SLL2_HEADER_LENGTH,
  SLL_HEADER_LENGTH,
  SllPacketType,
  VLAN_TAG_LENGTH,
} from '../packet/link.js';
import { tcpPacketLength, writeTcpPacket, type TcpPacketFields } from '../packet/write.js';

/** TcpPacketFields with addresses also accepted as dotted quads. */
export interface TcpPacketSpec extends Omit<TcpPacketFields, 'src' | 'dst'> {
  src: string | number;
  dst: string | number;
}

export function toAddress(a: string | number): number {
  if (typeof a === 'number') return a >>> 0;
  const n = parseIpv4(a);
  if (n === undefined) throw new TypeError(`not a dotted-quad IPv4 address: ${a}`);
  return n;
}

/** A fresh Buffer holding the IPv4+TCP packet described by `spec`. */
export function buildTcpPacket(spec: TcpPacketSpec): Buffer {
  const fields: TcpPacketFields = { ...spec, src: toAddress(spec.src), dst: toAddress(spec.dst) };
  const buf = Buffer.alloc(tcpPacketLength(fields));
  writeTcpPacket(buf, 0, fields);
  return buf;
}

/** A VLAN tag: a bare number is a VLAN ID under the TPID wrapLink picks by position. */
export type VlanTagSpec = number | { tpid: number; tci: number };

export interface WrapLinkOptions {
  /** Ethernet only, outermost first. With two bare IDs the outer one gets 802.1ad's TPID. */
  vlanTags?: readonly VlanTagSpec[];
  /** SLL/SLL2 packet type; default SllPacketType.Host. */
  packetType?: number;
  /** Ethernet only: zero-pad the frame to the 60-byte minimum, as frames off the wire are. */
  padToMinimum?: boolean;
  /** Null only: write the address family big-endian (as a big-endian host would). */
  bigEndianNull?: boolean;
  /** Payload type for framings that carry one (default IPv4). */
  etherType?: number;
}

/** Lab-style locally administered MACs (the 0x02 bit of the first octet). */
export const TEST_SRC_MAC: readonly number[] = [0x02, 0, 0, 0, 0, 0x01];
export const TEST_DST_MAC: readonly number[] = [0x02, 0, 0, 0, 0, 0x02];
const ETHERNET_MIN_FRAME = 60;
const ARPHRD_ETHER = 1;
const TEST_IFINDEX = 2;

/** Frames `ipPacket` for `linkType` as a capture of that type would present it. */
export function wrapLink(linkType: number, ipPacket: Uint8Array, opts: WrapLinkOptions = {}): Buffer {
  const etherType = opts.etherType ?? EtherType.Ipv4;
  const packetType = opts.packetType ?? SllPacketType.Host;
  switch (linkType) {
    case LinkType.Ethernet:
      return wrapEthernet(ipPacket, etherType, opts);
    case LinkType.LinuxSll: {
      const head = Buffer.alloc(SLL_HEADER_LENGTH);
      writeU16(head, 0, packetType);
      writeU16(head, 2, ARPHRD_ETHER);
      writeU16(head, 4, TEST_SRC_MAC.length);
      head.set(TEST_SRC_MAC, 6);
      writeU16(head, 14, etherType);
      return Buffer.concat([head, ipPacket]);
    }
    case LinkType.LinuxSll2: {
      const head = Buffer.alloc(SLL2_HEADER_LENGTH);
      writeU16(head, 0, etherType);
      writeU32(head, 4, TEST_IFINDEX);
      writeU16(head, 8, ARPHRD_ETHER);
      head[10] = packetType;
      head[11] = TEST_SRC_MAC.length;
      head.set(TEST_SRC_MAC, 12);
      return Buffer.concat([head, ipPacket]);
    }
    case LinkType.Null:
    case LinkType.Loop: {
      const head = Buffer.alloc(NULL_HEADER_LENGTH);
      if (linkType === LinkType.Loop || opts.bigEndianNull === true) head.writeUInt32BE(AF_INET);
      else head.writeUInt32LE(AF_INET);
      return Buffer.concat([head, ipPacket]);
    }
    case LinkType.DltRaw:
    case LinkType.Raw:
    case LinkType.Ipv4:
      return Buffer.from(ipPacket);
    default:
      throw new RangeError(`wrapLink: unsupported link type ${linkType}`);
  }
}

function wrapEthernet(ipPacket: Uint8Array, etherType: number, opts: WrapLinkOptions): Buffer {
  const tags = opts.vlanTags ?? [];
  const headerLength = ETHERNET_HEADER_LENGTH + tags.length * VLAN_TAG_LENGTH;
  const frameLength = Math.max(headerLength + ipPacket.length, opts.padToMinimum === true ? ETHERNET_MIN_FRAME : 0);
  const frame = Buffer.alloc(frameLength);
  frame.set(TEST_DST_MAC, 0);
  frame.set(TEST_SRC_MAC, 6);
  let at = 12;
  tags.forEach((tag, i) => {
    const outerOfTwo = tags.length > 1 && i === 0;
    const { tpid, tci } =
      typeof tag === 'number' ? { tpid: outerOfTwo ? EtherType.QinQ : EtherType.Vlan, tci: tag } : tag;
    writeU16(frame, at, tpid);
    writeU16(frame, at + 2, tci);
    at += VLAN_TAG_LENGTH;
  });
  writeU16(frame, at, etherType);
  frame.set(ipPacket, headerLength);
  return frame;
}
