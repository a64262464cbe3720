/**
 * Names and addresses of one lab run. Every namespace a lab creates is called
 * `tcl<pid base36>-<4 random base36>-<role>`: the pid lets a later run tell whether the owner is
 * gone (sweepStaleLabs), the random part keeps two labs of one process apart, and the fixed
 * `tcl` head means cleanup code never touches a namespace that is not ours.
 */
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';

const PREFIX_HEAD = 'tcl';
const RANDOM_CHARS = 4;
const BASE36 = 36;

/** A prefix is `tcl<pid>-<rand>`; a namespace name is `<prefix>-<role>`. */
const PREFIX_SOURCE = `${PREFIX_HEAD}([0-9a-z]{1,8})-[0-9a-z]{${RANDOM_CHARS}}`;
const PREFIX_PATTERN = new RegExp(`^${PREFIX_SOURCE}$`);
export const LAB_NAMESPACE_PATTERN = new RegExp(`^(${PREFIX_SOURCE})-([a-z][a-z0-9]{0,9})$`);

/** Host names double as namespace suffixes and as `sw-<host>` switch port names (IFNAMSIZ 16). */
export const HOST_NAME_PATTERN = /^[a-z][a-z0-9]{0,9}$/;

export const SWITCH_ROLE = 'switch';
/** The bridge inside the switch namespace. */
export const BRIDGE_NAME = 'br0';
/** Interface name of every host's leg; no real interface is called this, so a command that
 *  escaped to the root namespace fails loudly instead of touching a real link. */
export const HOST_INTERFACE = 'lab0';

export function newPrefix(pid: number = process.pid): string {
  let rand = '';
  for (let i = 0; i < RANDOM_CHARS; i++) rand += randomInt(BASE36).toString(BASE36);
  return `${PREFIX_HEAD}${pid.toString(BASE36)}-${rand}`;
}

export function namespaceName(prefix: string, role: string): string {
  return `${prefix}-${role}`;
}

export function switchPortName(host: string): string {
  return `sw-${host}`;
}

export interface ParsedNamespace {
  prefix: string;
  pid: number;
  role: string;
}

/** Undefined for any name that is not a lab namespace: callers must leave those alone. */
export function parseNamespaceName(name: string): ParsedNamespace | undefined {
  const m = LAB_NAMESPACE_PATTERN.exec(name);
  if (!m) return undefined;
  return { prefix: m[1]!, pid: parseInt(m[2]!, BASE36), role: m[3]! };
}

/** The pid of the process that made the lab `prefix`; undefined if it is not a lab prefix. */
export function prefixOwner(prefix: string): number | undefined {
  const m = PREFIX_PATTERN.exec(prefix);
  return m ? parseInt(m[1]!, BASE36) : undefined;
}

/** Fields 3.. of /proc/pid/stat (state first), or undefined when there is no such process. */
export function procStat(pid: number): string[] | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may contain spaces: split after the last ')'.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** Clock ticks since boot at which `pid` started (field 22 of /proc/pid/stat), or undefined
 *  when there is no such process. Together with the pid it names one process uniquely. */
export function processStartTime(pid: number): string | undefined {
  return procStat(pid)?.[19];
}

/** Octet x of the lab's networks: hosts live on 10.231.x.0/24, fake clients on 10.232.x.0/24. */
export const LAB_NET_BASE = '10.231';
export const FAKE_NET_BASE = '10.232';
export const NET_SLOTS = 256;

export function labSubnet(slot: number): string {
  return `${LAB_NET_BASE}.${slot}.0/24`;
}

export function fakeSubnet(slot: number): string {
  return `${FAKE_NET_BASE}.${slot}.0/24`;
}

/** Host addresses are .10, .20, ... in the order hosts are declared (at most 25 hosts). */
export function hostIp(slot: number, index: number): string {
  return `${LAB_NET_BASE}.${slot}.${(index + 1) * 10}`;
}

/** Locally administered (02:..) and readable in captures: 02:4c:<slot>:00:00:<host index + 1>. */
export function hostMac(slot: number, index: number): string {
  const hex = (n: number): string => n.toString(16).padStart(2, '0');
  return `02:4c:${hex(slot)}:00:00:${hex(index + 1)}`;
}
