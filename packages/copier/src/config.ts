/**
 * tcpcopy's command line (over its --config file) -> a validated, deeply frozen CopierConfig. No
 * process state is read (the package version and the --config file aside); every problem is a
 * ConfigError naming the flag, or the file and its key.
 */
import { statSync } from 'node:fs';
import {
  addrPortToString,
  AddressUse,
  checkIpv4,
  badValue,
  deepFreeze,
  CONTROL_DEFAULT_PORT,
  ErrorCode,
  flagConflict,
  ipRanges,
  missingFlag,
  parseRawArgs,
  readCaptureDevices,
  readDevices,
  readDaemonConfig,
  acceptIgnoredInt,
  readChoice,
  runtimeVersions,
  readClampedInt,
  readInt,
  readPackageVersion,
  readText,
  str,
  withConfigFile,
  type CliSpec,
  type DaemonConfig,
  type RawArgs,
  type ReadText,
} from '@tcpcopy/common';
import {
  parseClientIps,
  parseIntercepts,
  parseTransfers,
  checkLinkLayer,
  type InterceptEndpoint,
  type Transfer,
} from './config/addresses.js';
import { readCompareConfig, type CompareConfig } from './config/compare.js';
import * as F from './config/flags.js';

export type { InterceptEndpoint, Transfer } from './config/addresses.js';
export type { CompareConfig } from './config/compare.js';
export { COPIER_FLAGS, type CopierFlag } from './config/flags.js';

/** Offline replay of a capture file (`--offline`, with upstream's -a, -I, -T). */
export interface OfflineConfig {
  readonly file: string;
  /** Replay this many times faster than captured (-a). */
  readonly speedup: number;
  /** Gaps between kept packets longer than this are skipped; 0 = never (-I). */
  readonly gapSkipMs: number;
  /** Passes over the file (-T). */
  readonly passes: number;
}

export interface CopierConfig extends DaemonConfig {
  /** -x, at least one. */
  readonly transfers: readonly Transfer[];
  /** -s, at least one, ports defaulted from -p. */
  readonly intercepts: readonly InterceptEndpoint[];
  /** -C */
  readonly connectionsPerIntercept: number;
  /** --protocol */
  readonly controlProtocol: F.ControlProtocolChoice;
  /** -c, expanded, without -x target addresses; empty = keep the real client addresses. */
  readonly fakeClientIps: readonly number[];
  /** -H: a loopback client's address in the copies (then -c applies to it). */
  readonly loopbackSource: number | undefined;
  /** -n: sessions per captured session, the original included. */
  readonly copies: number;
  /** -f */
  readonly portShift: number;
  /** -r: share of sessions copied, 1..100 (100 = all). */
  readonly samplePercent: number;
  /** -i: empty = every interface (one capture on "any"). */
  readonly devices: readonly string[];
  /** -o: copies leave as Ethernet frames on this device (the MACs are in `transfers`). */
  readonly outputDevice: string | undefined;
  /** -B, in bytes. */
  readonly captureBufferBytes: number;
  /** -F: BPF expression replacing the filter built from -x. */
  readonly filter: string | undefined;
  /** -S: bytes captured of each packet. */
  readonly snapLength: number;
  /** -t */
  readonly sessionTimeoutMs: number;
  /** -k */
  readonly keepaliveTimeoutMs: number;
  /** -M */
  readonly mtu: number;
  /** -D */
  readonly mss: number;
  /** -R: undefined = measure the RTT. */
  readonly fixedRttMs: number | undefined;
  /** -m */
  readonly memoryLimitBytes: number;
  /** -O */
  readonly onlySyn: boolean;
  /** -W */
  readonly noWait: boolean;
  /** -L */
  readonly keepRunningWithoutIntercepts: boolean;
  /** -g */
  readonly rampUp: boolean;
  /** One line each for upstream flag values taken differently than typed (clamped, or ignored). */
  readonly notices: readonly string[];
  /** --offline with -a/-I/-T; undefined = live capture. */
  readonly offline: OfflineConfig | undefined;
  /** --compare and its companions; undefined = no comparison (nothing extra captured or asked). */
  readonly compare: CompareConfig | undefined;
}

const MS_PER_SECOND = 1000;
const BYTES_PER_MB = 1 << 20;
/** What looks like a capture file rather than interface names: a path, or a capture file name. */
const CAPTURE_FILE_NAME = /\/|\.(?:pcap|pcapng|cap)(?:,|$)/i;
/** Flags that only mean something when replaying a file. */
const OFFLINE_ONLY = ['speedup', 'gapSkip', 'passes'] as const;
/** Flags that only mean something when capturing live. */
const LIVE_ONLY = ['devices', 'filter', 'captureBuffer', 'snapLength'] as const;

let spec: CliSpec<F.CopierFlag> | undefined;
function copierSpec(): CliSpec<F.CopierFlag> {
  spec ??= {
    name: 'tcpcopy',
    version: readPackageVersion(import.meta.url),
    summary: F.COPIER_SUMMARY,
    usage: F.COPIER_USAGE,
    flags: F.COPIER_FLAGS,
    epilog: F.COPIER_EPILOG,
    sections: F.COPIER_HELP_SECTIONS,
    versionDetails: runtimeVersions,
  };
  return spec;
}

/**
 * argv (without node and script), over the --config file when one is named -> CopierConfig.
 * Throws ConfigError, or CliExit for -h / -v.
 */
export function parseCopierArgs(argv: string[], readFile?: ReadText): CopierConfig {
  const cli = parseRawArgs(copierSpec(), argv);
  return withConfigFile(F.COPIER_FLAGS, cli, str(cli.configFile), validateCopierArgs, readFile);
}

/** The one validation function: raw flag values -> frozen config. */
export function validateCopierArgs(raw: RawArgs<F.CopierFlag>): CopierConfig {
  const flags = F.COPIER_FLAGS;
  const transferText = str(raw.transfer);
  if (transferText === undefined) throw missingFlag(flags.transfer);
  const transfers = parseTransfers(transferText);
  const outputDevices = readDevices(flags.outputDevice, str(raw.outputDevice));
  if (outputDevices.length > 1) throw badValue(flags.outputDevice, str(raw.outputDevice)!, 'one device name');
  const outputDevice = outputDevices[0];
  checkLinkLayer(transfers, outputDevice);
  const interceptText = str(raw.intercepts);
  if (interceptText === undefined) throw missingFlag(flags.intercepts);
  const interceptPort = readInt(flags.interceptPort, str(raw.interceptPort), CONTROL_DEFAULT_PORT);
  const targetIps = new Set(transfers.map((t) => t.targetIp));
  const clientIpText = str(raw.clientIps);
  const loopbackText = str(raw.loopbackSource);

  const notices: string[] = [];
  const inputFile = captureFileOf(raw);
  // 0 means the default, as upstream.
  const sessionTimeout = readInt(flags.sessionTimeout, str(raw.sessionTimeout), 0) || F.DEFAULT_SESSION_TIMEOUT_SECONDS;
  const keepaliveText = str(raw.keepaliveTimeout);
  const keepaliveTimeout =
    readInt(flags.keepaliveTimeout, keepaliveText, 0) || sessionTimeout + F.KEEPALIVE_EXTRA_SECONDS;
  if (keepaliveText !== undefined && keepaliveTimeout < sessionTimeout) {
    const expected = `at least the session timeout -t (${sessionTimeout} s)`;
    throw badValue(flags.keepaliveTimeout, keepaliveText, expected, ErrorCode.FLAG_CONFLICT);
  }

  const mtu = readInt(flags.mtu, str(raw.mtu), F.DEFAULT_MTU);
  const maxMss = mtu - F.IPV4_TCP_HEADERS_LENGTH;
  const mssText = str(raw.mss);
  const mss = readInt(flags.mss, mssText, Math.min(F.DEFAULT_MSS, maxMss));
  if (mssText !== undefined && mss > maxMss) {
    const expected = `at most ${maxMss} (-M ${mtu} minus 40 bytes of IPv4 and TCP headers)`;
    throw badValue(flags.mss, mssText, expected, ErrorCode.FLAG_CONFLICT);
  }

  const percent = readClampedInt(flags.percentage, str(raw.percentage), F.ALL_SESSIONS_PERCENT, notices);
  acceptIgnoredInt(flags.poolChunk, str(raw.poolChunk), 'memory follows the sessions (-m caps it)', notices);
  const rtt = readInt(flags.rtt, str(raw.rtt), 0);

  return deepFreeze({
    ...readDaemonConfig(raw),
    transfers,
    intercepts: parseIntercepts(interceptText, interceptPort),
    connectionsPerIntercept: readClampedInt(
      flags.connections,
      str(raw.connections),
      F.DEFAULT_CONNECTIONS_PER_INTERCEPT,
      notices,
    ),
    controlProtocol: readChoice(flags.protocol, str(raw.protocol), F.CONTROL_PROTOCOLS, 'auto'),
    fakeClientIps: clientIpText === undefined ? [] : parseClientIps(clientIpText, targetIps),
    loopbackSource:
      loopbackText === undefined ? undefined : checkIpv4(flags.loopbackSource, loopbackText, AddressUse.Source),
    copies: readInt(flags.copies, str(raw.copies), 1),
    portShift: readInt(flags.portShift, str(raw.portShift), 0),
    samplePercent: percent === 0 ? F.ALL_SESSIONS_PERCENT : percent,
    devices: inputFile === undefined ? readCaptureDevices(str(raw.devices)) : [],
    outputDevice,
    captureBufferBytes:
      readInt(flags.captureBuffer, str(raw.captureBuffer), F.DEFAULT_CAPTURE_BUFFER_MB) * BYTES_PER_MB,
    filter: readText(flags.filter, str(raw.filter)),
    snapLength: readInt(flags.snapLength, str(raw.snapLength), F.MAX_SNAP_LENGTH),
    sessionTimeoutMs: sessionTimeout * MS_PER_SECOND,
    keepaliveTimeoutMs: keepaliveTimeout * MS_PER_SECOND,
    mtu,
    mss,
    fixedRttMs: rtt === 0 ? undefined : rtt,
    memoryLimitBytes: readInt(flags.memory, str(raw.memory), F.DEFAULT_MEMORY_MB) * BYTES_PER_MB,
    onlySyn: raw.onlySyn === true,
    noWait: raw.noWait === true,
    keepRunningWithoutIntercepts: raw.lonely === true,
    rampUp: raw.rampUp === true,
    offline: readOffline(raw, inputFile),
    compare: readCompareConfig(raw),
    notices,
  });
}

/**
 * Upstream's offline builds take the capture file with -i: a path to an existing regular file is
 * replayed (as with --offline), anything else names interfaces. A name that looks like a capture
 * file but is none is refused, naming it.
 */
function captureFileOf(raw: RawArgs<F.CopierFlag>): string | undefined {
  const value = str(raw.devices);
  if (value === undefined) return undefined;
  if (statSync(value, { throwIfNoEntry: false })?.isFile()) return value;
  if (CAPTURE_FILE_NAME.test(value)) {
    throw badValue(F.COPIER_FLAGS.devices, value, 'interface names, or an existing capture file to replay');
  }
  return undefined;
}

/** The config for logs and reports: addresses as text, the -c list as ranges. */
export function describeCopierConfig(config: CopierConfig): Record<string, unknown> {
  return {
    ...config,
    transfers: config.transfers.map((t) => {
      const match = t.matchIp === undefined ? String(t.matchPort) : addrPortToString(t.matchIp, t.matchPort);
      return `${match}-${addrPortToString(t.targetIp, t.targetPort)}`;
    }),
    intercepts: config.intercepts.map((s) => addrPortToString(s.ip, s.port)),
    fakeClientIps: ipRanges(config.fakeClientIps),
    metrics: config.metrics === undefined ? undefined : addrPortToString(config.metrics.host, config.metrics.port),
  };
}

/** --offline, or -i naming a capture file (`inputFile`). */
function readOffline(raw: RawArgs<F.CopierFlag>, inputFile: string | undefined): OfflineConfig | undefined {
  const flags = F.COPIER_FLAGS;
  const offline = readText(flags.offline, str(raw.offline));
  if (offline !== undefined && inputFile !== undefined) {
    throw flagConflict(flags.devices, inputFile, 'names a capture file, and --offline names one too');
  }
  const file = offline ?? inputFile;
  const [stray, reason]: readonly [readonly F.CopierFlag[], string] =
    file === undefined
      ? [OFFLINE_ONLY, 'only valid with --offline <file.pcap>']
      : [LIVE_ONLY, 'applies to live capture, not to replaying a file'];
  for (const key of stray) {
    if (key === 'devices' && inputFile !== undefined) continue;
    const value = str(raw[key]);
    if (value !== undefined) throw flagConflict(flags[key], value, reason);
  }
  if (file === undefined) return undefined;
  return {
    file,
    speedup: readInt(flags.speedup, str(raw.speedup), 1),
    gapSkipMs: readInt(flags.gapSkip, str(raw.gapSkip), 0),
    passes: readInt(flags.passes, str(raw.passes), 1),
  };
}
