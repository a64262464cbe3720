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

function parseTransfer(flag: FlagSpec, entry: string): Transfer {
  if (entry.includes('@')) {
    const expected = `${TRANSFER_EXPECTED} (the port@mac form of --pcap-send builds is not supported)`;
    throw badValue(flag, entry, expected, ErrorCode.BAD_ADDRESS);
  }
  const parts = entry.split('-');
  const [source, target] = parts;
  const bad = () => badValue(flag, entry, TRANSFER_EXPECTED, ErrorCode.BAD_ADDRESS);
  if (parts.length !== 2 || source === undefined || target === undefined) throw bad();
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
  };
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
