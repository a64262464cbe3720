/** The address lists of tcpcopy: -x transfers, -s intercepts, -c fake clients. */
import {
  addrPortToString,
  AddressUse,
  addressProblem,
  badValue,
  checkIpv4,
  ErrorCode,
  flagExpected,
  parseAddrPort,
  parsePort,
  type FlagSpec,
} from '@tcpcopy/common';
import { COPIER_FLAGS, TRANSFER_EXPECTED } from './flags.js';

/** One -x entry: capture traffic to [matchIp:]matchPort, replay it to targetIp:targetPort. */
export interface Transfer {
  /** Host-order IPv4; undefined = any local address (also for an explicit 0.0.0.0, as upstream). */
  readonly matchIp: number | undefined;
  readonly matchPort: number;
  readonly targetIp: number;
  readonly targetPort: number;
  /** `srcPort@MAC` (link-layer sending, -o): the frames' source address, `aa:bb:cc:dd:ee:ff`. */
  readonly sourceMac?: string;
  /** `dstPort@MAC` (link-layer sending, -o): the test server's or the next router's address. */
  readonly nextHopMac?: string;
}

export interface InterceptEndpoint {
  readonly ip: number;
  readonly port: number;
}

/** Last octet "x" expands to .1 .. .254 (not the network and broadcast addresses of the /24). */
const EXPANDABLE = /^(\d{1,3}\.\d{1,3}\.\d{1,3})\.x$/i;
const FIRST_HOST = 1;
const LAST_HOST = 254;

/** `-x [srcIP:]srcPort-dstIP:dstPort[,...]`. */
export function parseTransfers(value: string): Transfer[] {
  const flag = COPIER_FLAGS.transfer;
  const entries = value.split(',');
  const transfers = entries.map((entry) => parseTransfer(flag, entry));
  transfers.forEach((t, i) => {
    const entry = entries[i]!;
    if (t.matchIp === t.targetIp && t.matchPort === t.targetPort) {
      const expected = 'a target other than the captured address itself (that would loop)';
      throw badValue(flag, entry, expected, ErrorCode.FLAG_CONFLICT);
    }
    if (transfers.findIndex((u) => u.matchIp === t.matchIp && u.matchPort === t.matchPort) !== i) {
      throw badValue(flag, entry, 'each captured [srcIP:]srcPort once', ErrorCode.FLAG_CONFLICT);
    }
  });
  return transfers;
}

/** Six hex pairs with any one-character separators, as upstream's --pcap-send builds read them. */
const MAC = '[0-9a-f]{2}(?:[^0-9a-f][0-9a-f]{2}){5}';
/** `[ip:]port[@mac]-ip:port[@mac]`: neither side has a `-` of its own, a MAC may. */
const TRANSFER = new RegExp(`^([^@-]*)(?:@(${MAC}))?-([^@-]*)(?:@(${MAC}))?$`, 'i');

/** A MAC as written with -x, as `aa:bb:cc:dd:ee:ff`. */
function normalMac(mac: string): string {
  return [0, 3, 6, 9, 12, 15].map((at) => mac.slice(at, at + 2).toLowerCase()).join(':');
}

function parseTransfer(flag: FlagSpec, entry: string): Transfer {
  const bad = () => badValue(flag, entry, TRANSFER_EXPECTED, ErrorCode.BAD_ADDRESS);
  const parts = TRANSFER.exec(entry);
  if (parts === null) throw bad();
  const [, source, sourceMac, target, nextHopMac] = parts;
  if (source === undefined || target === undefined) throw bad();
  const match = source.includes(':') ? parseAddrPort(source) : { ip: 0, port: parsePort(source) };
  const dest = parseAddrPort(target);
  if (match?.port === undefined || dest === undefined) throw bad();
  const matchProblem = match.ip === 0 ? undefined : addressProblem(match.ip, AddressUse.Listen);
  const targetProblem = addressProblem(dest.ip, AddressUse.Peer);
  if (matchProblem !== undefined) throw badValue(flag, entry, `srcIP ${matchProblem}`, ErrorCode.BAD_ADDRESS);
  if (targetProblem !== undefined) throw badValue(flag, entry, `dstIP ${targetProblem}`, ErrorCode.BAD_ADDRESS);
  return {
    matchIp: match.ip === 0 ? undefined : match.ip,
    matchPort: match.port,
    targetIp: dest.ip,
    targetPort: dest.port,
    ...(sourceMac === undefined ? {} : { sourceMac: normalMac(sourceMac) }),
    ...(nextHopMac === undefined ? {} : { nextHopMac: normalMac(nextHopMac) }),
  };
}

/**
 * -o and the MACs of -x go together: with -o every entry names its next hop's MAC, and entries
 * of one test server agree on theirs; without -o no entry names one.
 */
export function checkLinkLayer(transfers: readonly Transfer[], outputDevice: string | undefined): void {
  const flag = COPIER_FLAGS.transfer;
  const describe = (t: Transfer): string => `${t.matchPort}-${addrPortToString(t.targetIp, t.targetPort)}`;
  for (const t of transfers) {
    if (outputDevice === undefined && (t.nextHopMac !== undefined || t.sourceMac !== undefined)) {
      const expected = 'no @MAC without -o (MAC addresses are for link-layer sending: -o <device>)';
      throw badValue(flag, describe(t), expected, ErrorCode.FLAG_CONFLICT);
    }
    if (outputDevice !== undefined && t.nextHopMac === undefined) {
      const expected = `the next hop's MAC with -o ${outputDevice}, e.g. ${describe(t)}@00:11:22:33:44:55`;
      throw badValue(flag, describe(t), expected, ErrorCode.FLAG_CONFLICT);
    }
    const other = transfers.find(
      (u) => u.targetIp === t.targetIp && (u.nextHopMac !== t.nextHopMac || u.sourceMac !== t.sourceMac),
    );
    if (other !== undefined) {
      const expected = `the same MAC addresses as ${describe(other)}, which sends to the same test server`;
      throw badValue(flag, describe(t), expected, ErrorCode.FLAG_CONFLICT);
    }
  }
}

/** `-s ip[:port][,...]`; a missing port is `defaultPort` (-p). */
export function parseIntercepts(value: string, defaultPort: number): InterceptEndpoint[] {
  const flag = COPIER_FLAGS.intercepts;
  const seen = new Set<string>();
  return value.split(',').map((entry) => {
    const endpoint = parseAddrPort(entry, defaultPort);
    if (endpoint === undefined) throw badValue(flag, entry, flagExpected(flag), ErrorCode.BAD_ADDRESS);
    const problem = addressProblem(endpoint.ip, AddressUse.Peer);
    if (problem !== undefined) throw badValue(flag, entry, problem, ErrorCode.BAD_ADDRESS);
    const key = addrPortToString(endpoint.ip, endpoint.port);
    if (seen.has(key)) throw badValue(flag, entry, `each intercept once (${key} repeats)`, ErrorCode.FLAG_CONFLICT);
    seen.add(key);
    return endpoint;
  });
}

/**
 * `-c ip[,ip...]` with `a.b.c.x` = a.b.c.1 .. a.b.c.254. Expanded addresses equal to a -x target
 * IP are skipped (upstream); an explicitly listed one is an error, since it cannot be what the
 * user meant. Repeats are dropped (first occurrence kept), so the order of first use is stable.
 */
export function parseClientIps(value: string, targetIps: ReadonlySet<number>): number[] {
  const flag = COPIER_FLAGS.clientIps;
  const ips = new Set<number>();
  for (const entry of value.split(',')) {
    if (entry.includes('*')) {
      throw badValue(flag, entry, `${flagExpected(flag)} ("*" is not accepted: use a.b.c.x)`, ErrorCode.BAD_ADDRESS);
    }
    const prefix = EXPANDABLE.exec(entry)?.[1];
    if (prefix !== undefined) {
      for (let host = FIRST_HOST; host <= LAST_HOST; host++) {
        const ip = checkIpv4(flag, `${prefix}.${host}`, AddressUse.Source, entry);
        if (!targetIps.has(ip)) ips.add(ip);
      }
      continue;
    }
    const ip = checkIpv4(flag, entry, AddressUse.Source);
    if (targetIps.has(ip)) {
      const expected = 'a fake client address that is not also a -x target address';
      throw badValue(flag, entry, expected, ErrorCode.FLAG_CONFLICT);
    }
    ips.add(ip);
  }
  return [...ips];
}
