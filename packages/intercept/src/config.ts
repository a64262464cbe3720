/**
 * intercept's command line -> a validated, deeply frozen InterceptConfig (upstream's
 * "advanced mode": capture with a mandatory -F; docs/flags.md).
 */
import {
  acceptIgnoredInt,
  addrPortToString,
  AddressUse,
  badValue,
  checkIpv4,
  DAEMON_FLAGS,
  DAEMON_HELP_SECTIONS,
  runtimeVersions,
  deepFreeze,
  CONTROL_DEFAULT_PORT,
  DEVICES_FLAG,
  ErrorCode,
  flagConflict,
  ipv4ToString,
  missingFlag,
  parseRawArgs,
  readCaptureDevices,
  readDaemonConfig,
  readInt,
  readPackageVersion,
  readText,
  str,
  withConfigFile,
  type CliSpec,
  type DaemonConfig,
  type FlagTable,
  type RawArgs,
  type ReadText,
} from '@tcpcopy/common';
import { ipv4NetworkToString, parseIpv4Network, type Ipv4Network } from './allow-list.js';
import type { ReplyAddressMap } from './core/index.js';

export interface InterceptConfig extends DaemonConfig {
  /** -i: empty = every interface (one capture on "any"). */
  readonly devices: readonly string[];
  /** -F: BPF expression selecting the test server's replies. */
  readonly filter: string;
  /** -p: control-channel listen port. */
  readonly port: number;
  /** -b: control-channel listen address (host-order IPv4; 0 = all). */
  readonly bindAddress: number;
  /** -D A-B: replies addressed to A are the fake client B's; undefined: replies are taken as addressed. */
  readonly containerMap: ReplyAddressMap | undefined;
  /** --allow: the sources control connections may come from; undefined: any. */
  readonly allow: readonly Ipv4Network[] | undefined;
  /** One line each for upstream flags accepted that set nothing here (-n, -s). */
  readonly notices: readonly string[];
}

const ANY_ADDRESS = 0; // 0.0.0.0 (INADDR_ANY)
/** Upstream flags that set nothing here take any integer up to this (upstream's are smaller). */
const MAX_IGNORED_VALUE = 1 << 24;

export const INTERCEPT_FLAGS = {
  devices: DEVICES_FLAG,
  filter: {
    short: '-F',
    long: '--filter',
    value: '<bpf>',
    expected: "a pcap filter for the test server's replies, e.g. -F 'tcp and src port 8000'",
    help: "capture filter for the test server's replies, e.g. 'tcp and src port 8000' (required)",
  },
  port: {
    short: '-p',
    long: '--port',
    value: '<port>',
    range: [1, 0xffff],
    help: 'control-channel port tcpcopy connects to',
    defaultText: String(CONTROL_DEFAULT_PORT),
  },
  bind: {
    short: '-b',
    long: '--bind',
    value: '<ip>',
    expected: 'an IPv4 address of this host, e.g. 10.0.0.2',
    help: 'control-channel listen address',
    defaultText: '0.0.0.0 (all)',
  },
  containerMap: {
    short: '-D',
    long: '--container-map',
    value: '<A-B>',
    expected: 'two IPv4 addresses A-B, e.g. 172.17.0.1-10.1.0.5',
    help: "replies addressed to A are taken as addressed to B, tcpcopy's -c address (a test server in a container that sees its clients as A)",
  },
  allow: {
    long: '--allow',
    value: '<cidr,...>',
    list: true,
    expected: 'IPv4 addresses or networks, e.g. 10.0.0.5,10.1.0.0/16',
    help: "accept control connections from these sources only; with --auth-file, upstream's C tcpcopy (which cannot authenticate) only from them",
    defaultText: 'any source',
  },
  batchThreshold: {
    short: '-n',
    long: '--batch-threshold',
    value: '<n>',
    range: [0, MAX_IGNORED_VALUE],
    help: "upstream's initial batch threshold: accepted, does nothing here (batches follow the capture)",
  },
  delayTableSize: {
    short: '-s',
    long: '--delay-table-size',
    value: '<n>',
    range: [0, MAX_IGNORED_VALUE],
    help: "upstream's delay-table hash size: accepted, does nothing here (the table sizes itself)",
  },
  ...DAEMON_FLAGS,
} as const satisfies FlagTable<string>;
export type InterceptFlag = keyof typeof INTERCEPT_FLAGS;

/** -h's headings, as docs/flags.md groups the flags. */
const INTERCEPT_HELP_SECTIONS = [
  { heading: 'Capture:', flags: ['devices', 'filter', 'containerMap'] },
  { heading: 'Control channel:', flags: ['port', 'bind', 'allow'] },
  { heading: 'Accepted for upstream command lines:', flags: ['batchThreshold', 'delayTableSize'] },
  ...DAEMON_HELP_SECTIONS,
] as const;

const INTERCEPT_EPILOG = `Example, on the host the test server routes the fake clients' replies to
(with ip_forward=0):
  intercept -i eth0 -F 'tcp and src port 8000' -d

Exit status: 0 ok, 1 runtime failure (logged), 2 bad flags (one line on stderr).`;

/** Upstream intercept flags this implementation does not take, and why. */
const INTERCEPT_UNSUPPORTED: Readonly<Record<string, string>> = {
  '-x': 'traditional (iptables/nfqueue) mode is not supported; capture replies with -F',
  '-q': 'traditional (nfqueue) mode is not supported',
  '-c': 'single-tcpcopy (--single) builds are not reproduced; any number of tcpcopy instances may connect',
};

let spec: CliSpec<InterceptFlag> | undefined;
function interceptSpec(): CliSpec<InterceptFlag> {
  spec ??= {
    name: 'intercept',
    version: readPackageVersion(import.meta.url),
    summary: "Capture the test server's replies and stream their headers back to tcpcopy.",
    usage: "-F 'tcp and src port <port>' [options]",
    flags: INTERCEPT_FLAGS,
    epilog: INTERCEPT_EPILOG,
    unsupported: INTERCEPT_UNSUPPORTED,
    sections: INTERCEPT_HELP_SECTIONS,
    versionDetails: runtimeVersions,
  };
  return spec;
}

/**
 * argv (without node and script), over the --config file when one is named -> InterceptConfig.
 * Throws ConfigError, or CliExit for -h / -v.
 */
export function parseInterceptArgs(argv: string[], readFile?: ReadText): InterceptConfig {
  const cli = parseRawArgs(interceptSpec(), argv);
  return withConfigFile(INTERCEPT_FLAGS, cli, str(cli.configFile), validateInterceptArgs, readFile);
}

/** The one validation function: raw flag values -> frozen config. */
export function validateInterceptArgs(raw: RawArgs<InterceptFlag>): InterceptConfig {
  const flags = INTERCEPT_FLAGS;
  const filter = readText(flags.filter, str(raw.filter));
  if (filter === undefined) throw missingFlag(flags.filter);
  const bind = str(raw.bind);
  const notices: string[] = [];
  acceptIgnoredInt(flags.batchThreshold, str(raw.batchThreshold), 'batches follow the capture', notices);
  acceptIgnoredInt(flags.delayTableSize, str(raw.delayTableSize), 'the table of parked replies sizes itself', notices);
  return deepFreeze({
    ...readDaemonConfig(raw),
    devices: readCaptureDevices(raw.devices),
    filter,
    port: readInt(flags.port, str(raw.port), CONTROL_DEFAULT_PORT),
    bindAddress: bind === undefined ? ANY_ADDRESS : checkIpv4(flags.bind, bind, AddressUse.Listen),
    containerMap: readContainerMap(str(raw.containerMap)),
    allow: readAllow(str(raw.allow)),
    notices,
  });
}

/** --allow: each entry a network (or one address), each once. */
function readAllow(value: string | undefined): Ipv4Network[] | undefined {
  if (value === undefined) return undefined;
  const flag = INTERCEPT_FLAGS.allow;
  const networks = value.split(',').map((entry) => {
    const network = parseIpv4Network(entry);
    if (typeof network === 'string') throw badValue(flag, entry, network, ErrorCode.BAD_ADDRESS);
    return network;
  });
  const shown = networks.map(ipv4NetworkToString);
  const repeated = shown.find((text, i) => shown.indexOf(text) !== i);
  if (repeated !== undefined) throw badValue(flag, repeated, 'each source once', ErrorCode.FLAG_CONFLICT);
  return networks;
}

/** -D A-B: two addresses a packet can be sent to (as -c's), and different (A = B maps nothing). */
function readContainerMap(value: string | undefined): ReplyAddressMap | undefined {
  if (value === undefined) return undefined;
  const flag = INTERCEPT_FLAGS.containerMap;
  const [from, to, ...more] = value.split('-');
  if (from === undefined || to === undefined || more.length > 0) {
    throw badValue(flag, value, undefined, ErrorCode.BAD_ADDRESS);
  }
  const map = {
    from: checkIpv4(flag, from, AddressUse.Source, value),
    to: checkIpv4(flag, to, AddressUse.Source, value),
  };
  if (map.from === map.to) throw flagConflict(flag, value, 'A and B are the same address: there is nothing to map');
  return map;
}

/** The config for logs and reports: addresses as text. */
export function describeInterceptConfig(config: InterceptConfig): Record<string, unknown> {
  const map = config.containerMap;
  return {
    ...config,
    bindAddress: ipv4ToString(config.bindAddress),
    containerMap: map === undefined ? undefined : `${ipv4ToString(map.from)}-${ipv4ToString(map.to)}`,
    allow: config.allow?.map(ipv4NetworkToString),
    metrics: config.metrics === undefined ? undefined : addrPortToString(config.metrics.host, config.metrics.port),
  };
}
