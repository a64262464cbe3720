/** tcpcopy's flag table: upstream's letters and meanings (docs/flags.md), our long aliases. */
import {
  DAEMON_FLAGS,
  DAEMON_HELP_SECTIONS,
  CONTROL_DEFAULT_PORT,
  DEVICES_FLAG,
  type FlagTable,
} from '@tcpcopy/common';

/** Timers are setTimeout-based: at most 2^31-1 ms. */
export const MAX_TIMEOUT_SECONDS = Math.floor(0x7fffffff / 1000);
export const DEFAULT_SESSION_TIMEOUT_SECONDS = 600;
/** Upstream: keepalive timeout defaults to the session timeout plus this. */
export const KEEPALIVE_EXTRA_SECONDS = 120;
export const DEFAULT_CONNECTIONS_PER_INTERCEPT = 2;
export const MAX_CONNECTIONS_PER_INTERCEPT = 11;
/** -U does nothing here: any size upstream takes (at most 63) and more is accepted. */
export const MAX_POOL_CHUNK_KB = 1024;
/** The largest IPv4 packet: -S's maximum and default (whole packets). */
export const MAX_SNAP_LENGTH = 65535;
export const MAX_COPIES = 1023;
export const MAX_PORT_SHIFT = 1023;
/** -r: 0 and 100 both mean "every session" (upstream). */
export const ALL_SESSIONS_PERCENT = 100;
/** Ethernet MTU (RFC 894). */
export const DEFAULT_MTU = 1500;
/** Every IPv4 host must accept 576-byte datagrams (RFC 791 §3.1 "Total Length", RFC 1122 §3.3.3). */
export const MIN_MTU = 576;
export const MAX_MTU = 0xffff;
/** IPv4 header without options + TCP header without options (RFC 791, RFC 9293): MSS = MTU - 40. */
export const IPV4_TCP_HEADERS_LENGTH = 40;
export const DEFAULT_MSS = DEFAULT_MTU - IPV4_TCP_HEADERS_LENGTH;
/** The MSS every host must accept (RFC 1122 §4.2.2.6; RFC 9293 §3.7.1 default 536). */
export const MIN_MSS = MIN_MTU - IPV4_TCP_HEADERS_LENGTH;
export const MAX_FIXED_RTT_MS = 60_000;
export const DEFAULT_MEMORY_MB = 2048;
/** -B: the capture ring (upstream: the pcap buffer, 16 MB there); see live-capture.ts for why 64. */
export const DEFAULT_CAPTURE_BUFFER_MB = 64;
export const MIN_CAPTURE_BUFFER_MB = 1;
export const MAX_CAPTURE_BUFFER_MB = 1024;
export const MIN_MEMORY_MB = 16;
export const MAX_MEMORY_MB = 1 << 20;
export const MAX_SPEEDUP = 1_000_000;
export const MAX_PASSES = 1_000_000;
export const MAX_GAP_SKIP_MS = 86_400_000;

/** --protocol: which control protocol the intercepts speak (docs/protocol.md). */
export const CONTROL_PROTOCOLS = ['auto', 'native', 'legacy'] as const;
export type ControlProtocolChoice = (typeof CONTROL_PROTOCOLS)[number];

/** --compare: how answers are compared (docs/compare.md). */
export const COMPARE_MODES = ['bytes', 'http', 'auto'] as const;
export type CompareModeChoice = (typeof COMPARE_MODES)[number];
/** --compare-bytes: 64 KiB, as the issue asks: a typical page whole, a big answer by its hash. */
export const DEFAULT_COMPARE_BYTES = 64 * 1024;
export const MIN_COMPARE_BYTES = 256;
export const MAX_COMPARE_BYTES = 16 * 1024 * 1024;

/** -h's headings, as docs/flags.md groups the flags. */
export const COPIER_HELP_SECTIONS = [
  {
    heading: 'Copy:',
    flags: ['transfer', 'clientIps', 'copies', 'portShift', 'percentage', 'rampUp', 'loopbackSource', 'outputDevice'],
  },
  { heading: 'Control channel:', flags: ['intercepts', 'interceptPort', 'connections', 'protocol'] },
  { heading: 'Capture:', flags: ['devices', 'filter', 'captureBuffer', 'snapLength'] },
  {
    heading: 'Sessions:',
    flags: ['sessionTimeout', 'keepaliveTimeout', 'mtu', 'mss', 'rtt', 'memory', 'onlySyn', 'noWait', 'lonely'],
  },
  { heading: 'Offline replay:', flags: ['offline', 'speedup', 'gapSkip', 'passes'] },
  {
    heading: 'Response comparison:',
    flags: ['compare', 'compareBytes', 'diffLog', 'compareIgnoreHeader', 'compareIgnore'],
  },
  { heading: 'Accepted for upstream command lines:', flags: ['poolChunk'] },
  ...DAEMON_HELP_SECTIONS,
] as const;

export const TRANSFER_EXPECTED = '[srcIP:]srcPort-dstIP:dstPort[,...]';

export const COPIER_FLAGS = {
  transfer: {
    short: '-x',
    long: '--transfer',
    value: '<list>',
    list: true,
    expected: TRANSFER_EXPECTED,
    help: `${TRANSFER_EXPECTED}: copy traffic arriving at [srcIP:]srcPort to dstIP:dstPort (required)`,
  },
  intercepts: {
    short: '-s',
    long: '--intercept',
    value: '<list>',
    list: true,
    expected: 'ip[:port][,...], e.g. 10.0.0.2 or 10.0.0.2:36524',
    help: 'ip[:port][,...]: intercepts to connect to (required)',
  },
  interceptPort: {
    short: '-p',
    long: '--intercept-port',
    value: '<port>',
    range: [1, 0xffff],
    help: 'port of the -s intercepts that name none',
    defaultText: String(CONTROL_DEFAULT_PORT),
  },
  connections: {
    short: '-C',
    long: '--connections',
    value: '<n>',
    range: [1, MAX_CONNECTIONS_PER_INTERCEPT],
    help: 'control connections per intercept (more is taken as the maximum)',
    defaultText: String(DEFAULT_CONNECTIONS_PER_INTERCEPT),
  },
  outputDevice: {
    short: '-o',
    long: '--output-device',
    value: '<device>',
    help: "send the copies as Ethernet frames on this device, past the host's IP stack (needs @MAC in -x)",
  },
  protocol: {
    long: '--protocol',
    value: '<name>',
    expected: `one of ${CONTROL_PROTOCOLS.join(', ')}`,
    help: "control protocol: native (ours), legacy (upstream's C intercept), auto (tells them apart)",
    defaultText: 'auto',
  },
  loopbackSource: {
    short: '-H',
    long: '--loopback-source',
    value: '<ip>',
    expected: 'an IPv4 unicast address the test server can route back to the intercept host',
    help: 'copy clients on this host (127.0.0.0/8) as coming from this address (before -c)',
  },
  clientIps: {
    short: '-c',
    long: '--client-ips',
    value: '<list>',
    list: true,
    expected: 'comma-separated IPv4 addresses, a.b.c.x for a.b.c.1 to a.b.c.254',
    help: 'ip[,ip...]: fake client addresses (a.b.c.x = .1 to .254; -x targets are skipped)',
  },
  copies: {
    short: '-n',
    long: '--copies',
    value: '<n>',
    range: [1, MAX_COPIES],
    help: 'copies of each session',
    defaultText: '1',
  },
  portShift: {
    short: '-f',
    long: '--port-shift',
    value: '<n>',
    range: [0, MAX_PORT_SHIFT],
    help: 'source-port shift factor, distinct per tcpcopy instance feeding one target',
    defaultText: '0',
  },
  percentage: {
    short: '-r',
    long: '--percentage',
    value: '<percent>',
    range: [0, ALL_SESSIONS_PERCENT],
    help: 'copy this percentage of sessions (0, or 100 and above = all)',
    defaultText: 'all',
  },
  devices: DEVICES_FLAG,
  filter: {
    short: '-F',
    long: '--filter',
    value: '<bpf>',
    expected: 'a pcap filter expression',
    help: 'capture filter replacing the one built from -x (as upstream)',
  },
  sessionTimeout: {
    short: '-t',
    long: '--session-timeout',
    value: '<seconds>',
    range: [0, MAX_TIMEOUT_SECONDS],
    help: 'drop a session after this long without traffic from the target (0 = the default)',
    defaultText: String(DEFAULT_SESSION_TIMEOUT_SECONDS),
  },
  keepaliveTimeout: {
    short: '-k',
    long: '--keepalive-timeout',
    value: '<seconds>',
    range: [0, MAX_TIMEOUT_SECONDS],
    help: 'drop an idle session after this long; at least -t (0 = the default)',
    defaultText: `-t + ${KEEPALIVE_EXTRA_SECONDS}`,
  },
  mtu: {
    short: '-M',
    long: '--mtu',
    value: '<bytes>',
    range: [MIN_MTU, MAX_MTU],
    help: 'MTU towards the target: larger captured segments are split',
    defaultText: String(DEFAULT_MTU),
  },
  captureBuffer: {
    short: '-B',
    long: '--buffer',
    value: '<MB>',
    range: [MIN_CAPTURE_BUFFER_MB, MAX_CAPTURE_BUFFER_MB],
    help: 'capture buffer in MB: what tcpcopy holds of the traffic while it is busy (resident only as far as it is used)',
    defaultText: String(DEFAULT_CAPTURE_BUFFER_MB),
  },
  snapLength: {
    short: '-S',
    long: '--snaplen',
    value: '<bytes>',
    range: [1, MAX_SNAP_LENGTH],
    help: 'bytes captured of each packet (a shorter capture cuts payload: those sessions end truncated)',
    defaultText: String(MAX_SNAP_LENGTH),
  },
  poolChunk: {
    short: '-U',
    long: '--pool-chunk',
    value: '<KB>',
    range: [0, MAX_POOL_CHUNK_KB],
    help: "upstream's memory-pool chunk size: accepted, does nothing here (memory follows the sessions; -m caps it)",
  },
  mss: {
    short: '-D',
    long: '--mss',
    value: '<bytes>',
    range: [MIN_MSS, MAX_MTU - IPV4_TCP_HEADERS_LENGTH],
    help: 'MSS option of faked SYNs; at most -M minus 40',
    defaultText: `${DEFAULT_MSS} (or -M minus 40 if smaller)`,
  },
  rtt: {
    short: '-R',
    long: '--rtt',
    value: '<ms>',
    range: [0, MAX_FIXED_RTT_MS],
    help: 'fixed round-trip time for pacing (0 = measure it)',
    defaultText: '0',
  },
  memory: {
    short: '-m',
    long: '--max-memory',
    value: '<MB>',
    range: [MIN_MEMORY_MB, MAX_MEMORY_MB],
    help: 'memory cap: beyond it new sessions are shed, not the process killed',
    defaultText: String(DEFAULT_MEMORY_MB),
  },
  onlySyn: { short: '-O', long: '--only-syn', help: 'copy only sessions whose SYN was captured' },
  noWait: { short: '-W', long: '--dont-wait', help: 'do not wait for a response before sending the next request' },
  lonely: { short: '-L', long: '--lonely', help: 'keep running while no intercept is connected' },
  rampUp: { short: '-g', long: '--ramp-up', help: 'ramp the copied share from 1% to 100% over ~100 s (overrides -r)' },
  offline: {
    long: '--offline',
    value: '<file>',
    expected: 'a pcap file path',
    help: 'replay this capture file (pcap or pcapng) instead of capturing live',
  },
  speedup: {
    short: '-a',
    long: '--speedup',
    value: '<n>',
    range: [1, MAX_SPEEDUP],
    help: 'offline: replay n times faster than captured',
    defaultText: '1',
  },
  gapSkip: {
    short: '-I',
    long: '--gap-skip',
    value: '<ms>',
    range: [0, MAX_GAP_SKIP_MS],
    help: 'offline: skip gaps between packets longer than this (0 = never)',
    defaultText: '0',
  },
  passes: {
    short: '-T',
    long: '--passes',
    value: '<n>',
    range: [1, MAX_PASSES],
    help: 'offline: replay the file this many times',
    defaultText: '1',
  },
  compare: {
    long: '--compare',
    value: '[mode]',
    expected: `one of ${COMPARE_MODES.join(', ')}`,
    help: "compare the test server's answers with production's: bytes, http, or auto (http for HTTP/1.x)",
    defaultText: 'off; auto when given without a mode',
  },
  compareBytes: {
    long: '--compare-bytes',
    value: '<bytes>',
    expected: `a size from ${MIN_COMPARE_BYTES} to ${MAX_COMPARE_BYTES / (1 << 20)}m, in bytes or with k or m (KiB, MiB)`,
    help: 'bytes of each answer compared byte for byte; beyond them, length and SHA-256',
    defaultText: '64k',
  },
  diffLog: {
    long: '--diff-log',
    value: '<file>',
    expected: 'a file path',
    help: 'append each differing exchange to this file, one JSON object per line',
  },
  compareIgnoreHeader: {
    long: '--compare-ignore-header',
    value: '<name>',
    repeatable: true,
    expected: 'an HTTP field name, e.g. Date or X-Request-Id',
    help: 'http: never compare this header field (repeatable; replaces the default)',
    defaultText: 'Date',
  },
  compareIgnore: {
    long: '--compare-ignore',
    value: '<regex>',
    repeatable: true,
    expected: 'a JavaScript regular expression',
    help: 'http: leave out of body comparison what this matches (repeatable)',
  },
  ...DAEMON_FLAGS,
} as const satisfies FlagTable<string>;
export type CopierFlag = keyof typeof COPIER_FLAGS;

export const COPIER_SUMMARY =
  'Copy live TCP traffic to a test server (needs an intercept on the host the test server routes replies to).';
export const COPIER_USAGE = '-x [srcIP:]srcPort-dstIP:dstPort -s intercept[:port] [options]';

export const COPIER_EPILOG = `Examples:
  tcpcopy -x 8000-10.0.0.3:8000 -s 10.0.0.2 -c 192.168.1.x -n 2 -d
      copy what arrives on port 8000 to 10.0.0.3:8000 twice, as clients
      192.168.1.1-254; the intercept runs on 10.0.0.2:
      intercept -F 'tcp and src port 8000' -d
  tcpcopy -x 10.0.0.1:80-10.0.0.3:8080 -s 10.0.0.2 -r 20 -l /var/log/tcpcopy.log
  tcpcopy --offline capture.pcap -a 2 -x 80-10.0.0.3:80 -s 10.0.0.2

Exit status: 0 ok, 1 runtime failure (logged), 2 bad flags (one line on stderr).`;
