/**
 * The session engine's settings (a projection of the CLI config) and its fixed constants, with
 * the upstream values they mirror or replace (docs/upstream.md §2).
 */
import { IPV4_MIN_HEADER_LENGTH, TCP_MIN_HEADER_LENGTH } from '@tcpcopy/common/packet';

export interface EngineTarget {
  /** Production address to match (0 = any local address), as in `-x [srcIP:]srcPort-...`. */
  readonly matchIp: number;
  readonly matchPort: number;
  readonly targetIp: number;
  readonly targetPort: number;
}

/** Index of the -x entry a client->server packet is addressed to, or -1. */
export function matchTarget(targets: readonly EngineTarget[], dstIp: number, dstPort: number): number {
  for (let i = 0; i < targets.length; i++) {
    const t = targets[i]!;
    if (t.matchPort === dstPort && (t.matchIp === 0 || t.matchIp === dstIp)) return i;
  }
  return -1;
}

/** IPv4 and TCP headers without options: an MSS plus these is a packet length (RFC 6691). */
const IPV4_TCP_FIXED_HEADERS = IPV4_MIN_HEADER_LENGTH + TCP_MIN_HEADER_LENGTH;

/**
 * The largest packet for a test server: -M (`mtu`), or less when its SYN-ACKs announced an MSS
 * below -M minus 40 (RFC 6691: the MSS counts the data of a segment with 40 bytes of fixed
 * headers; options come out of it).
 */
export function packetLimit(mtu: number, targetMss: number | undefined): number {
  return targetMss === undefined ? mtu : Math.min(mtu, targetMss + IPV4_TCP_FIXED_HEADERS);
}

export interface EngineConfig {
  readonly targets: readonly EngineTarget[];
  /** Fake client addresses (-c); empty = keep the client's own address. */
  readonly fakeIps: readonly number[];
  /** -H: the address a loopback client (127.0.0.0/8) is copied from, before -c. */
  readonly loopbackSource?: number;
  /** Sessions per captured session (-n). */
  readonly copies: number;
  /** Source-port shift added to every session (-f), already multiplied out. */
  readonly portShift: number;
  /** Percentage of client sessions copied (-r); 100 = all. */
  readonly samplePercent: number;
  /**
   * -g: ramp up from 1 % to 100 % over the first ~100 s after the first captured packet (the
   * percentage is the seconds elapsed + 1), overriding -r, as upstream.
   */
  readonly rampUp: boolean;
  /** MSS option of faked SYNs (-D). */
  readonly fakeSynMss: number;
  /** Larger captured packets are split to this IP size (-M). */
  readonly mtu: number;
  /** Copy only sessions whose SYN was captured (-O). */
  readonly onlySyn: boolean;
  /** Don't hold requests until the previous response is in (-W). */
  readonly noWait: boolean;
  readonly sessionTimeoutMs: number;
  readonly keepaliveTimeoutMs: number;
  /** Fixed RTT for pacing (-R); 0 = measure. */
  readonly fixedRttMs: number;
  /**
   * Sessions are shed while the engine's memory estimate (Engine.memoryInUse) is above this:
   * -m minus what the process held before the first packet (the daemon measures it).
   */
  readonly memoryBudgetBytes: number;
  /** How long a closed session's tuple stays reserved (answering strays with RST). */
  readonly lingerMs: number;
}

/**
 * No SYN-ACK within this long means the replies do not come back (upstream SESS_EST_MS_TIMEOUT
 * is 3 s). Ours leaves room for three SYNs at the 1 s initial RTO (0, 1 and 3 s).
 */
export const ESTABLISH_TIMEOUT_MS = 5000;
/**
 * RFC 6298 §2.1's 1 s: the round trip seen by the copier runs through intercept and can be far
 * above a LAN's under load. Only a test server's first sessions wait this long: later ones start
 * from the RTT it has shown (rtt.ts).
 */
export const INITIAL_RTO_MS = 1000;
/** Upstream uses a fixed 100 ms RTO (DEFAULT_RTO). */
export const MIN_RTO_MS = 100;
export const MAX_RTO_MS = 3000;
export const MAX_RETRANSMISSIONS = 8;
/** RFC 5681 §3.2. */
export const DUP_ACK_THRESHOLD = 3;
/** A missing captured client segment is waited for this long (the client's own RTO resends it). */
export const GAP_TIMEOUT_MS = 3000;
/** After one side's FIN, how long the other side has to close once the test server is silent. */
export const FIN_WAIT_MS = 5000;
/** Upstream's per-session limit ("slide win: too many packs"). */
export const MAX_SESSION_SEGMENTS = 32768;
/** The largest unscaled window value; what faked packets advertise (as upstream). */
export const UNSCALED_MAX_WINDOW = 65535;
/** A request is released this long after the test server went quiet without any answer. */
export const NO_RESPONSE_RELEASE_MS = 500;
/**
 * The client's FIN, while the test server has sent less response than production did, waits for
 * it to be quiet this long: longer than its retransmission timeout (Linux: 200 ms at least), so a
 * response stalled on a lost segment is not cut off by a FIN (nginx then resets the connection).
 */
export const FIN_RELEASE_QUIET_MS = 1000;
/**
 * The daemon reads the capture's kernel drop count this often (Engine.noteCaptureLoss): a drop
 * it reports may have happened up to this long before, so it explains a hole seen that early.
 */
export const CAPTURE_LOSS_POLL_MS = 1000;
/** Sessions whose IP/port hash falls below the -r percentage are copied. */
export const PERCENT = 100;

/** How long a response must pause before it counts as complete: two RTTs, within bounds. */
export function responseQuietMs(rttMs: number): number {
  return Math.min(500, Math.max(20, 2 * rttMs));
}

/**
 * Flows started from a captured SYN whose client has not answered production's SYN-ACK yet.
 * Beyond this many, new SYNs are held as compact records (pending-syns.ts) until their client's
 * ACK: a SYN flood cannot turn into sessions. Ordinary traffic stays below it (10,000
 * connections/s with 100 ms client round trips make 1,000), and beyond it a held SYN costs its
 * session one client round trip of delay, nothing else.
 */
export const HALF_OPEN_FLOWS_LIMIT = 1024;
/** Held SYNs per -x entry: what a flood of 5,000 SYNs/s fills in a PENDING_SYN_TTL_MS. */
export const PENDING_SYN_CAPACITY = 32_768;
/**
 * How long a held SYN waits for its client's ACK. A client whose SYN-ACK was lost retransmits
 * its SYN after 1 s (RFC 6298's initial RTO), refreshing the record; one that answers later
 * still gets its session, joined mid-stream at its first data.
 */
export const PENDING_SYN_TTL_MS = 5000;
/**
 * A session whose client sent nothing after its SYN ends after this long (client_silent):
 * production's SYN-ACK retransmissions (1, 3 and 7 s after the SYN on Linux) have had their
 * chance to be answered by then.
 */
export const CLIENT_SILENCE_LIMIT_MS = 10_000;
/**
 * Memory estimate (Engine.memoryInUse) per live session, per closed session lingering on its
 * tuple and per held SYN, rounded up from the heap `pnpm bench` measures (~1,850, 668 and 392
 * bytes, docs/benchmarks.md); buffered packets are counted on top, byte for byte.
 */
export const SESSION_BYTES = 4096;
export const LINGERING_BYTES = 1024;
export const PENDING_SYN_BYTES = 512;
/**
 * While the resident set is near -m, sessions may hold 1/PRESSED_BUDGET_SHARE of their budget
 * (Engine.memoryPressure). Not none: once they hold little, the rest is the runtime's (V8 and
 * malloc keep freed pages a while), which shedding every session would not free.
 */
export const PRESSED_BUDGET_SHARE = 8;

/** What the engine holds, estimated: buffered client packets plus the fixed costs above. */
export function memoryEstimate(
  bufferedBytes: number,
  liveSessions: number,
  lingering: number,
  heldSyns: number,
): number {
  return bufferedBytes + liveSessions * SESSION_BYTES + lingering * LINGERING_BYTES + heldSyns * PENDING_SYN_BYTES;
}
