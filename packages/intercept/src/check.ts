/**
 * `intercept --check`: can this host capture the test server's replies and serve tcpcopy?
 * Privileges, the capture devices and -F, their offloads, the control port, and
 * `net.ipv4.ip_forward`, which must be 0 here: the replies are addressed to the fake clients, and
 * a forwarding host would pass them on. gatherInterceptFacts does the probing; interceptChecks
 * judges (pure, unit-tested).
 */
import {
  addrPortToString,
  captureChecks,
  captureDevices,
  checkFail,
  checkNote,
  checkPass,
  checksExitCode,
  deviceChecks,
  formatChecks,
  gatherHostFacts,
  IP_FORWARD_SYSCTL,
  ipv4ToString,
  offloadChecks,
  privilegeCheck,
  probeableDevices,
  probeCaptures,
  probeListen,
  probeOffloads,
  rpFilterNote,
  type CaptureProbe,
  type CheckResult,
  daemonChecks,
  gatherDaemonFacts,
  type DaemonFacts,
  type ExitCode,
  type HostFacts,
  type OffloadProbe,
} from '@tcpcopy/common';
import type { InterceptConfig } from './config.js';

export interface InterceptFacts {
  readonly host: HostFacts;
  /** One probe per capture device that exists and is up. */
  readonly captures: readonly CaptureProbe[];
  /** The offload features of each device probed (not `any`). */
  readonly offloads: readonly OffloadProbe[];
  /** Why the control port could not be bound; undefined when it could. */
  readonly listenProblem: string | undefined;
  readonly daemon: DaemonFacts;
}

/** The verdicts, one per line of output (pure). */
export function interceptChecks(config: InterceptConfig, facts: InterceptFacts): CheckResult[] {
  const from = config.configFile === undefined ? 'command line' : `command line and ${config.configFile}`;
  const listen = addrPortToString(config.bindAddress, config.port);
  return [
    checkPass(`configuration is valid (${from})`),
    privilegeCheck(facts.host),
    ...deviceChecks(config.devices, facts.host),
    ...captureChecks(config.filter, facts.captures),
    ...offloadChecks(facts.offloads, OFFLOADS_HANDLED),
    facts.listenProblem === undefined
      ? checkPass(`control port ${listen} can be bound`)
      : checkFail(
          `control port ${listen} cannot be bound: ${facts.listenProblem} (another intercept running? is -b an address of this host?)`,
        ),
    ipForwardCheck(facts.host.sysctls[IP_FORWARD_SYSCTL]),
    ...daemonChecks(config, facts.daemon),
    rpFilterNote(captureDevices(config.devices, facts.host), facts.host),
  ];
}

/**
 * Why offloads do not matter here: a reply's record carries its IPv4 and TCP headers only, with
 * the total length kept (docs/protocol.md), so a reply merged by GRO or LRO reaches the copier as
 * one byte range it acknowledges as a whole, and the reply's checksum is never looked at.
 */
const OFFLOADS_HANDLED = 'reply records carry headers only (a merged reply is one byte range) and no checksum is used';

function ipForwardCheck(value: string | undefined): CheckResult {
  if (value === '0') return checkPass(`${IP_FORWARD_SYSCTL} is 0 (the test server's replies end here once captured)`);
  if (value === undefined) return checkNote(`${IP_FORWARD_SYSCTL} cannot be read: it must be 0 on the intercept host`);
  return checkFail(
    `${IP_FORWARD_SYSCTL} is ${value}: it must be 0 on the intercept host, or the test server's replies are forwarded to the fake clients (sysctl -w ${IP_FORWARD_SYSCTL}=0)`,
  );
}

/** Probes the host (needs no privileges to run; reports what fails without them). */
export async function gatherInterceptFacts(config: InterceptConfig): Promise<InterceptFacts> {
  const host = gatherHostFacts();
  const devices = probeableDevices(config.devices, host);
  return {
    host,
    captures: probeCaptures(devices, config.filter),
    offloads: probeOffloads(devices),
    listenProblem: await probeListen(ipv4ToString(config.bindAddress), config.port),
    daemon: await gatherDaemonFacts(config),
  };
}

/** --check: prints one line per check to `out`; the exit status is 0 when none failed. */
export async function runInterceptCheck(
  config: InterceptConfig,
  out: { write(s: string): unknown } = process.stdout,
): Promise<ExitCode> {
  const results = interceptChecks(config, await gatherInterceptFacts(config));
  out.write(formatChecks(results));
  return checksExitCode(results);
}
