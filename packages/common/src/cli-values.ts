/**
 * Value checkers for flags: strict, pure, and each failure a ConfigError naming the flag and what
 * was expected. Addresses come out as host-order uint32 (packet/ipv4's parseIpv4).
 */
import { badValue, flagExpected, flagLabel, type FlagSpec } from './cli.js';
import { ErrorCode } from './errors.js';
import { LOG_LEVELS, type LogLevel } from './log.js';
import { ipv4ToString, parseIpv4 } from './packet/ipv4.js';

export const MIN_PORT = 1;
export const MAX_PORT = 0xffff;
/** Linux interface names are at most IFNAMSIZ (16) bytes including the terminating NUL. */
const MAX_IFNAME_LENGTH = 15;
const IFNAME = /^[A-Za-z0-9_.:@-]+$/;
/** A user name (POSIX portable characters, optional trailing $ as useradd allows) or a uid. */
const USER = /^(?:[A-Za-z_][A-Za-z0-9_.-]*\$?|\d+)$/;
const DECIMAL = /^\d+$/;

/** Strict decimal port 1..65535, or undefined. */
export function parsePort(s: string): number | undefined {
  if (!DECIMAL.test(s) || s.length > 5) return undefined;
  const n = Number(s);
  return n >= MIN_PORT && n <= MAX_PORT ? n : undefined;
}

/** `ip:port`, or `ip` alone when a default port is given; undefined when malformed. */
export function parseAddrPort(s: string, defaultPort?: number): { ip: number; port: number } | undefined {
  const colon = s.indexOf(':');
  const ip = parseIpv4(colon < 0 ? s : s.slice(0, colon));
  const port = colon < 0 ? defaultPort : parsePort(s.slice(colon + 1));
  return ip === undefined || port === undefined ? undefined : { ip, port };
}

/** What an address may be used for; each excludes what cannot work there. */
export const AddressUse = {
  /** A local address to listen on: 0.0.0.0 (all) allowed, no multicast/broadcast. */
  Listen: 'listen',
  /** A host we talk to (target, intercept): no 0.0.0.0, multicast, broadcast or 240/4. */
  Peer: 'peer',
  /** A source address on the wire (fake clients): a Peer that is not loopback either. */
  Source: 'source',
} as const;
export type AddressUse = (typeof AddressUse)[keyof typeof AddressUse];

const LOOPBACK_NET = 0x7f000000; // 127.0.0.0/8 (RFC 1122 §3.2.1.3)
const MULTICAST_AND_RESERVED = 0xe0000000; // 224.0.0.0/4 multicast, 240.0.0.0/4 reserved (RFC 1112, 1122)

/** Why `ip` cannot serve as `use`, or undefined when it can. */
export function addressProblem(ip: number, use: AddressUse): string | undefined {
  if (ip >>> 0 >= MULTICAST_AND_RESERVED) return 'a unicast address (not multicast, broadcast or 240/4)';
  if (use !== AddressUse.Listen && ip === 0) return 'a unicast address (not 0.0.0.0)';
  if (use === AddressUse.Source && ip >>> 24 === LOOPBACK_NET >>> 24) return 'a routable address (not 127/8)';
  return undefined;
}

/** An IPv4 address for `use`; `shown` is the text quoted in the error (an element of a list). */
export function checkIpv4(flag: FlagSpec, text: string, use: AddressUse, shown: string = text): number {
  const ip = parseIpv4(text);
  if (ip === undefined) throw badValue(flag, shown, flagExpected(flag), ErrorCode.BAD_ADDRESS);
  const problem = addressProblem(ip, use);
  if (problem !== undefined) throw badValue(flag, shown, problem, ErrorCode.BAD_ADDRESS);
  return ip;
}

/** Integer within flag.range (strict decimal: no sign, exponent or hex). */
export function readInt(flag: FlagSpec, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = atLeastMin(flag, value);
  if (n > rangeOf(flag)[1]) throw badValue(flag, value);
  return n;
}

function rangeOf(flag: FlagSpec): readonly [min: number, max: number] {
  return flag.range ?? [0, Number.MAX_SAFE_INTEGER];
}

/** A strict decimal integer of at least flag.range's minimum. */
function atLeastMin(flag: FlagSpec, value: string): number {
  const n = DECIMAL.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < rangeOf(flag)[0]) throw badValue(flag, value);
  return n;
}

/**
 * An integer of at least flag.range's minimum; above its maximum it is clamped, as upstream does,
 * and `notices` gets a line naming the value used (`-C 12` -> 11).
 */
export function readClampedInt(flag: FlagSpec, value: string | undefined, fallback: number, notices: string[]): number {
  if (value === undefined) return fallback;
  const n = atLeastMin(flag, value);
  const max = rangeOf(flag)[1];
  if (n <= max) return n;
  notices.push(`${flagLabel(flag)} ${value} is above ${max}, as upstream it means ${max}`);
  return max;
}

/**
 * An upstream flag that has nothing to set here: its value is checked as upstream would take it,
 * and `notices` gets a line saying it does nothing, and why.
 */
export function acceptIgnoredInt(flag: FlagSpec, value: string | undefined, why: string, notices: string[]): void {
  if (value === undefined) return;
  readInt(flag, value, 0);
  notices.push(`${flagLabel(flag)} ${value} is accepted and does nothing here: ${why}`);
}

/** A non-empty string (paths, filters); whitespace-only counts as empty. */
export function readText(flag: FlagSpec, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value.trim() === '') throw badValue(flag, value);
  return value;
}

/** Comma list of interface names; empty result means "every device but `any`". */
export function readDevices(flag: FlagSpec, value: string | undefined): readonly string[] {
  if (value === undefined) return [];
  const names = value.split(',');
  for (const name of names) {
    if (name.length > MAX_IFNAME_LENGTH || !IFNAME.test(name)) throw badValue(flag, name);
  }
  const duplicate = names.find((name, i) => names.indexOf(name) !== i);
  if (duplicate !== undefined) throw badValue(flag, duplicate, 'each device once', ErrorCode.FLAG_CONFLICT);
  return names;
}

export function readUser(flag: FlagSpec, value: string | undefined): string | undefined {
  if (value !== undefined && !USER.test(value)) throw badValue(flag, value);
  return value;
}

export function readLogLevel(flag: FlagSpec, value: string | undefined, fallback: LogLevel): LogLevel {
  return readChoice(flag, value, LOG_LEVELS, fallback);
}

/** One of `choices`, as typed; `fallback` when not given. */
export function readChoice<T extends string>(
  flag: FlagSpec,
  value: string | undefined,
  choices: readonly T[],
  fallback: T,
): T {
  if (value === undefined) return fallback;
  const chosen = choices.find((c) => c === value);
  if (chosen === undefined) throw badValue(flag, value, `one of ${choices.join(', ')}`);
  return chosen;
}

export interface ListenAddress {
  readonly host: number;
  readonly port: number;
}

/** `[ip:]port` to listen on; the address defaults to `defaultHost`. */
export function readListen(flag: FlagSpec, value: string | undefined, defaultHost: number): ListenAddress | undefined {
  if (value === undefined) return undefined;
  const addr = parseAddrPort(value.includes(':') ? value : `${ipv4ToString(defaultHost)}:${value}`);
  if (addr === undefined) throw badValue(flag, value, flagExpected(flag), ErrorCode.BAD_ADDRESS);
  const problem = addressProblem(addr.ip, AddressUse.Listen);
  if (problem !== undefined) throw badValue(flag, value, problem, ErrorCode.BAD_ADDRESS);
  return { host: addr.ip, port: addr.port };
}

/** Addresses for display, consecutive runs collapsed: ['192.168.1.1-192.168.1.254', '10.0.0.9']. */
export function ipRanges(ips: readonly number[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < ips.length;) {
    let j = i;
    while (j + 1 < ips.length && ips[j + 1] === ips[j]! + 1) j++;
    out.push(i === j ? ipv4ToString(ips[i]!) : `${ipv4ToString(ips[i]!)}-${ipv4ToString(ips[j]!)}`);
    i = j + 1;
  }
  return out;
}

type DeepReadonly<T> = T extends (infer E)[]
  ? readonly DeepReadonly<E>[]
  : T extends object
    ? { readonly [P in keyof T]: DeepReadonly<T[P]> }
    : T;

/** Freezes `value` and everything reachable from it (configs are plain data: no cycles). */
export function deepFreeze<T>(value: T): DeepReadonly<T> {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value as DeepReadonly<T>;
}
