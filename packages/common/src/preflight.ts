/**
 * `--check`: preflight checks shared by both daemons, as pure functions of facts gathered
 * beforehand (io/host-facts.ts), so every verdict and every line is tested without root or a
 * network. Each daemon adds its own checks (copier/src/check.ts, intercept/src/check.ts).
 */
import { ExitCode } from './cli.js';
import { ErrorCode } from './errors.js';
import { ANY_DEVICE } from './io/live-capture.js';

export const CheckStatus = {
  Pass: 'PASS',
  Fail: 'FAIL',
  /** Worth knowing, not a failure: does not change the exit status. */
  Note: 'NOTE',
} as const;
export type CheckStatus = (typeof CheckStatus)[keyof typeof CheckStatus];

export interface CheckResult {
  readonly status: CheckStatus;
  /** What was checked and, on failure, why and what to do: one line. */
  readonly text: string;
}

export const checkPass = (text: string): CheckResult => ({ status: CheckStatus.Pass, text });
export const checkFail = (text: string): CheckResult => ({ status: CheckStatus.Fail, text });
export const checkNote = (text: string): CheckResult => ({ status: CheckStatus.Note, text });

/** `PASS running as root (...)`, one line per check. */
export function formatChecks(results: readonly CheckResult[]): string {
  return results.map((r) => `${r.status} ${r.text}\n`).join('');
}

/** 0 when nothing failed, 1 otherwise. */
export function checksExitCode(results: readonly CheckResult[]): ExitCode {
  return results.some((r) => r.status === CheckStatus.Fail) ? ExitCode.Failure : ExitCode.Ok;
}

/** <linux/capability.h>: CAP_NET_RAW, bit 13 of the capability sets. */
export const CAP_NET_RAW = 13;

export interface NetInterface {
  readonly name: string;
  /** IFF_UP: administratively up. */
  readonly up: boolean;
}

/** What the host looks like to a daemon about to start: gathered by gatherHostFacts. */
export interface HostFacts {
  readonly uid: number;
  /** CapEff of /proc/self/status; undefined when it cannot be read. */
  readonly effectiveCaps: bigint | undefined;
  /** The interfaces of this network namespace. */
  readonly interfaces: readonly NetInterface[];
  /** sysctl values by dotted name (`net.ipv4.ip_forward`), trimmed; undefined when absent. */
  readonly sysctls: Readonly<Record<string, string | undefined>>;
}

/** Opening the capture on one device with the daemon's filter, then closing it at once. */
export interface CaptureProbe {
  readonly device: string;
  /** Why it failed (the PacketIoError's code and message); undefined when it opened. */
  readonly error?: { readonly code: string; readonly message: string } | undefined;
}

export function privilegeCheck(facts: HostFacts): CheckResult {
  const why = 'raw sockets and capture need CAP_NET_RAW';
  if (facts.uid === 0) return checkPass(`running as root (${why})`);
  if (facts.effectiveCaps !== undefined && (facts.effectiveCaps >> BigInt(CAP_NET_RAW)) & 1n) {
    return checkPass(`CAP_NET_RAW is effective for uid ${facts.uid} (${why})`);
  }
  return checkFail(
    `not root and no CAP_NET_RAW (uid ${facts.uid}): ${why}; run as root (-u drops privileges once started)`,
  );
}

/** The devices a daemon will capture on: those of -i, or every interface that is up. */
export function captureDevices(requested: readonly string[], facts: HostFacts): string[] {
  if (requested.length > 0) return [...requested];
  return facts.interfaces.filter((i) => i.up).map((i) => i.name);
}

/** The devices worth probing: the ones that exist and are up. */
export function probeableDevices(requested: readonly string[], facts: HostFacts): string[] {
  return captureDevices(requested, facts).filter(
    (d) => d === ANY_DEVICE || facts.interfaces.some((i) => i.name === d && i.up),
  );
}

/** Each -i device exists and is up; without -i, at least one interface is up. */
export function deviceChecks(requested: readonly string[], facts: HostFacts): CheckResult[] {
  const have = facts.interfaces.map((i) => i.name).join(', ') || 'none';
  if (requested.length === 0) {
    const up = captureDevices(requested, facts);
    return [
      up.length > 0
        ? checkPass(`capture interfaces (no -i: every interface that is up): ${up.join(', ')}`)
        : checkFail(`no interface is up (have: ${have}); bring one up or name devices with -i`),
    ];
  }
  return requested.map((device) => {
    if (device === ANY_DEVICE) return checkPass(`capture interface any (every interface of this host)`);
    const found = facts.interfaces.find((i) => i.name === device);
    if (found === undefined)
      return checkFail(`capture interface ${device} does not exist in this network namespace (have: ${have})`);
    return found.up
      ? checkPass(`capture interface ${device} exists and is up`)
      : checkFail(`capture interface ${device} is down (ip link set ${device} up)`);
  });
}

/** The filter compiles and the capture opens, per probed device. */
export function captureChecks(filter: string, probes: readonly CaptureProbe[]): CheckResult[] {
  return probes.map(({ device, error }) => {
    if (error === undefined) return checkPass(`capture opens on ${device} with filter "${filter}"`);
    if (error.code === ErrorCode.FILTER)
      return checkFail(`capture filter "${filter}" does not compile on ${device}: ${error.message}`);
    return checkFail(`capture does not open on ${device}: ${error.message}`);
  });
}

/** A capture device's offload features (what `ethtool -k` shows), each on or off. */
export interface OffloadFeatures {
  /** The device verifies received checksums. */
  readonly rxChecksum: boolean;
  /** This host's packets leave with checksums for the device to finish. */
  readonly txChecksum: boolean;
  /** The device cuts this host's super-segments to the MTU. */
  readonly tso: boolean;
  /** The stack cuts them just before the driver. */
  readonly gso: boolean;
  /** Received segments of a flow are merged, up to 64 KiB, before any capture sees them. */
  readonly gro: boolean;
  /** The same merging, done by the device. */
  readonly lro: boolean;
}

/** Reading one capture device's offload features: what they are, or why they could not be read. */
export type OffloadProbe =
  { readonly device: string; readonly features: OffloadFeatures } | { readonly device: string; readonly error: string };

/** The names --check prints, in `ethtool -k`'s order. */
const OFFLOAD_NAMES: Readonly<Record<keyof OffloadFeatures, string>> = {
  rxChecksum: 'rx-checksum',
  txChecksum: 'tx-checksum',
  tso: 'tso',
  gso: 'gso',
  gro: 'gro',
  lro: 'lro',
};

/** `gro on, rx-checksum on; tx-checksum, tso, gso, lro off`, or `all off` / `all on`. */
function describeOffloads(features: OffloadFeatures): string {
  const names = Object.keys(OFFLOAD_NAMES) as (keyof OffloadFeatures)[];
  const on = names.filter((n) => features[n]).map((n) => `${OFFLOAD_NAMES[n]} on`);
  const off = names.filter((n) => !features[n]).map((n) => OFFLOAD_NAMES[n]);
  if (on.length === 0) return 'all off';
  return off.length === 0 ? on.join(', ') : `${on.join(', ')}; ${off.join(', ')} off`;
}

/**
 * Offloads decide what a capture sees: GRO and LRO merge received segments into packets of up
 * to 64 KiB, a local sender's TSO/GSO does the same, and checksum offload leaves checksums
 * unfinished. Each daemon copes with all of them (`handledBecause` says how), so whatever their
 * setting this is a PASS that names them, and one that cannot be read is only a NOTE: the line is
 * there so nobody turns offloads off on production on a hunch. Not for `any` (no device of its own).
 */
export function offloadChecks(probes: readonly OffloadProbe[], handledBecause: string): CheckResult[] {
  return probes.map((probe) =>
    'features' in probe
      ? checkPass(`offloads on ${probe.device}: ${describeOffloads(probe.features)}. Nothing to set: ${handledBecause}`)
      : checkNote(
          `offloads on ${probe.device} cannot be read (${probe.error}); they need no setting either way: ${handledBecause}`,
        ),
  );
}

/** sysctl of the reverse-path filter, for `all` or one interface. */
export function rpFilterSysctl(iface: string): string {
  return `net.ipv4.conf.${iface}.rp_filter`;
}

/**
 * rp_filter never stops the daemons themselves (a packet socket sees packets before it, and raw sends
 * are outbound), but a strict one on the test server drops the copies when its route to the fake
 * clients leaves by another interface than the one the copies arrive on: the most common reason
 * copies never reach the test server (docs/upstream.md §6). Informational, with this host's
 * values (the kernel applies the larger of `all` and the interface's).
 */
export function rpFilterNote(devices: readonly string[], facts: HostFacts): CheckResult {
  const values = ['all', ...devices.filter((d) => d !== ANY_DEVICE)]
    .map((iface) => `${iface}=${facts.sysctls[rpFilterSysctl(iface)] ?? '?'}`)
    .join(' ');
  return checkNote(
    `rp_filter here: ${values}. On the test server, rp_filter=1 drops the copies if its route to the fake clients uses another interface than the one they arrive on: use 0 or 2 there`,
  );
}
