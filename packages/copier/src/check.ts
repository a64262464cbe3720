/**
 * `tcpcopy --check`: can this host run the copy as configured? Privileges, the capture devices
 * and the filter built from -x (or the --offline file), their offloads, the raw socket the copies
 * leave through, and each -s intercept answering on its control port. gatherCopierFacts does the
 * probing; copierChecks judges the facts (pure, unit-tested).
 */
import {
  addrPortToString,
  captureChecks,
  checkFail,
  checkPass,
  checksExitCode,
  deviceChecks,
  formatChecks,
  gatherHostFacts,
  ipv4ToString,
  localIpv4Addresses,
  offloadChecks,
  PcapFileReader,
  privilegeCheck,
  probeableDevices,
  probeCaptures,
  probeOffloads,
  probeTcpConnect,
  rpFilterNote,
  captureDevices,
  daemonChecks,
  writableProblem,
  gatherDaemonFacts,
  type CaptureProbe,
  type DaemonFacts,
  type CheckResult,
  type ExitCode,
  type HostFacts,
  type OffloadProbe,
} from '@tcpcopy/common';
import type { CopierConfig } from './config.js';
import { copySinkName, openCopySink } from './daemon/copy-sink.js';
import { buildCaptureFilter } from './daemon/capture-filter.js';
import type { EngineTarget } from './engine/index.js';

/** An intercept that does not accept a connection within this long counts as unreachable. */
export const INTERCEPT_CONNECT_TIMEOUT_MS = 2000;

export interface CopierFacts {
  readonly host: HostFacts;
  /** The capture filter: -x's ports at this host's (or -x's) addresses, or -F instead. */
  readonly filter: string;
  /** Live capture: one probe per device that exists and is up. */
  readonly captures: readonly CaptureProbe[];
  /** Live capture: the offload features of each device probed (not `any`). */
  readonly offloads: readonly OffloadProbe[];
  /** --offline: why the file cannot be replayed; undefined when it can. */
  readonly offlineProblem: string | undefined;
  /** Why the socket the copies leave through does not open; undefined when it does. */
  readonly rawSocketProblem: string | undefined;
  /** Per -s intercept, in order: why no connection was made; undefined when one was. */
  readonly interceptProblems: readonly (string | undefined)[];
  /** --diff-log: why it cannot be appended to; undefined when it can (or is not set). */
  readonly diffLogProblem: string | undefined;
  readonly daemon: DaemonFacts;
}

/** The verdicts, one per line of output (pure). */
export function copierChecks(config: CopierConfig, facts: CopierFacts): CheckResult[] {
  const results = [configLine(config), privilegeCheck(facts.host)];
  if (config.offline === undefined) {
    results.push(
      ...deviceChecks(config.devices, facts.host),
      ...captureChecks(facts.filter, facts.captures),
      ...offloadChecks(facts.offloads, offloadsHandled(config)),
    );
  } else {
    const file = config.offline.file;
    results.push(
      facts.offlineProblem === undefined
        ? checkPass(`capture file ${file} can be replayed`)
        : checkFail(facts.offlineProblem),
    );
  }
  const sinkName = copySinkName(config);
  results.push(
    facts.rawSocketProblem === undefined
      ? checkPass(`${sinkName} opens (the copies are sent through it)`)
      : checkFail(`${sinkName} does not open: ${facts.rawSocketProblem}`),
  );
  config.intercepts.forEach((endpoint, i) => {
    const where = addrPortToString(endpoint.ip, endpoint.port);
    const problem = facts.interceptProblems[i];
    results.push(
      problem === undefined
        ? checkPass(`intercept ${where} accepts connections`)
        : checkFail(
            `intercept ${where} is not reachable: ${problem} (is intercept running there? check -s, -p, intercept's -b and firewalls)`,
          ),
    );
  });
  const diffLog = config.compare?.diffLog;
  if (diffLog !== undefined) {
    results.push(
      facts.diffLogProblem === undefined
        ? checkPass(`diff log ${diffLog} can be written (--diff-log)`)
        : checkFail(`--diff-log ${diffLog}: ${facts.diffLogProblem}`),
    );
  }
  results.push(...daemonChecks(config, facts.daemon));
  results.push(
    rpFilterNote(config.offline === undefined ? captureDevices(config.devices, facts.host) : [], facts.host),
  );
  return results;
}

/**
 * How the engine copes with what offloads do to captured packets (engine/segment.ts): a merged
 * packet (GRO, LRO, or a local sender's TSO/GSO) is cut back into segments of at most -M bytes,
 * and every captured segment gets both checksums computed anew, since an unfinished or merged
 * one is no base for the incremental updates made per copy.
 */
function offloadsHandled(config: CopierConfig): string {
  return `merged packets are split to the MTU (-M ${config.mtu}), checksums are computed afresh for every captured segment`;
}

function configLine(config: CopierConfig): CheckResult {
  const from = config.configFile === undefined ? 'command line' : `command line and ${config.configFile}`;
  const copies = config.copies === 1 ? '' : ` x${config.copies}`;
  return checkPass(
    `configuration is valid (${from}): ${config.transfers.length} -x entr${config.transfers.length === 1 ? 'y' : 'ies'}${copies}, ${config.intercepts.length} intercept(s)`,
  );
}

/** Probes the host (needs no privileges to run; reports what fails without them). */
export async function gatherCopierFacts(config: CopierConfig, targets: readonly EngineTarget[]): Promise<CopierFacts> {
  const host = gatherHostFacts();
  const filter = buildCaptureFilter(targets, localIpv4Addresses(), config.filter, config.compare !== undefined);
  const devices = config.offline === undefined ? probeableDevices(config.devices, host) : [];
  const interceptProblems = Promise.all(
    config.intercepts.map((s) => probeTcpConnect(ipv4ToString(s.ip), s.port, INTERCEPT_CONNECT_TIMEOUT_MS)),
  );
  return {
    host,
    filter,
    captures: config.offline === undefined ? probeCaptures(devices, filter) : [],
    offloads: probeOffloads(devices),
    offlineProblem: config.offline === undefined ? undefined : probeOfflineFile(config.offline.file),
    rawSocketProblem: await probeSink(config),
    interceptProblems: await interceptProblems,
    diffLogProblem: config.compare?.diffLog === undefined ? undefined : writableProblem(config.compare.diffLog),
    daemon: await gatherDaemonFacts(config),
  };
}

function probeOfflineFile(path: string): string | undefined {
  try {
    new PcapFileReader(path).close();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

async function probeSink(config: CopierConfig): Promise<string | undefined> {
  try {
    await openCopySink(config, { queueCapacity: 1 }).close();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** --check: prints one line per check to `out`; the exit status is 0 when none failed. */
export async function runCopierCheck(
  config: CopierConfig,
  targets: readonly EngineTarget[],
  out: { write(s: string): unknown } = process.stdout,
): Promise<ExitCode> {
  const results = copierChecks(config, await gatherCopierFacts(config, targets));
  out.write(formatChecks(results));
  return checksExitCode(results);
}
