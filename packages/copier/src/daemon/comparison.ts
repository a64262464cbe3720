/**
 * --compare in the daemon: feeds the comparison hub (compare/comparison-hub.ts) from the three
 * places the two sides of every exchange pass through, and writes what differs.
 *
 * - Production's side: the client segments the engine took (pipeline), and production's answers,
 *   captured as they leave this host (a capture of both directions: main.ts).
 * - The copy's side: what the engine sends the test server (each injected packet, decoded here)
 *   and the test server's answers, which intercept forwards as payload records.
 * - When: each exchange is compared once both sides had it; a copy ends when its tuple is freed
 *   (its route withdrawn, the linger after its close over): every answer the test server sent
 *   for it has arrived by then, so one it never gave is a timeout.
 *
 * Under -m, comparisons are shed before copies: a new copy is compared only while the engine's
 * memory (the hub's included, through memoryHeld) is below COMPARE_SHED_SHARE of the budget.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import {
  DecodeStatus,
  TcpFlag,
  decodeIpv4,
  decodeTcp,
  ipv4ToString,
  newPacketViews,
  type Ipv4View,
  type Logger,
  type TcpView,
} from '@tcpcopy/common';
import {
  ComparisonHub,
  httpCompareRules,
  type ComparisonOutcome,
  type CopyRef,
  type DiffKind,
  type DiffRecord,
  type HubCounters,
} from '../compare/index.js';
import type { CompareConfig } from '../config.js';
import { endpointKey, type EngineHost, type EngineTarget, type Tuple } from '../engine/index.js';
import type { TrafficObserver } from './pipeline.js';
import { DiffLog, type DiffLogStats } from './diff-log.js';

const STREAM_FLAGS = TcpFlag.SYN | TcpFlag.FIN | TcpFlag.RST;
/** Comparisons stop starting past this share of the -m budget; copies go on up to all of it. */
export const COMPARE_SHED_SHARE = 0.75;
/** Production connections compared at once: each holds at most --compare-bytes per answer. */
const MAX_COMPARED_CONNECTIONS = 16_384;
/** How stale the comparisons' memory may be when -m reads it (it walks every connection). */
const MEMORY_REFRESH_MS = 100;
/** Request bytes kept per exchange for the diff log. */
const REQUEST_BYTES = 1024;
/**
 * Bytes held beyond a hole per direction before it is declared lost. Holes are mostly reordering,
 * not loss: when intercept's capture ring grows, the old ring's last packets reach the copier
 * after the new ring's first, several MB later at veth speed (a 1 MiB answer lost its comparison
 * to a 256 KiB hold in the lab). Held only while a hole is open, and counted against -m.
 */
const HOLD_BYTES = 4 * 1024 * 1024;

/** Why a copy is not compared: -m, the hub's connection cap, or tcpcopy saturated. */
export type ShedReason = 'memory' | 'connections' | 'busy';

/** Copies compared, and those not compared (still copied), by why; the exchanges' are the hub's. */
export interface ComparisonCounters {
  copiesCompared: number;
  copiesShed: Record<ShedReason, number>;
}

export interface TargetComparisonCounters {
  target: string;
  compared: number;
  identical: number;
  different: number;
  notComparable: number;
  byKind: Record<DiffKind, number>;
}

export interface ComparisonContext {
  readonly log: Logger;
  readonly now: () => number;
  /** What -m compares with the budget: the engine's memoryInUse, this comparison's included. */
  readonly memoryInUse: () => number;
  readonly memoryBudget: () => number;
}

const newByKind = (): Record<DiffKind, number> => ({
  status: 0,
  headers: 0,
  body: 0,
  length: 0,
  bytes: 0,
  hash: 0,
  timeout: 0,
  reset: 0,
});

export class Comparison implements TrafficObserver {
  readonly counters: ComparisonCounters = {
    copiesCompared: 0,
    copiesShed: { memory: 0, connections: 0, busy: 0 },
  };
  readonly perTarget = new Map<string, TargetComparisonCounters>();
  private readonly hub: ComparisonHub;
  private readonly diffLog: DiffLog | undefined;
  /** -x entries' production ports, and the address each matches (0: any of this host's). */
  private readonly answerPorts = new Map<number, number[]>();
  private readonly injected = newPacketViews();
  /** hub.memoryBytes walks every followed connection: -m reads it at most every MEMORY_REFRESH_MS. */
  private heldBytes = 0;
  private heldAt = -Infinity;
  /** Off for good once an intercept cannot forward answers (legacy): its copies would all time out. */
  private off = false;
  private stopping = false;
  private busy = false;
  /** Copies the daemon's stop aborted, by fake endpoint: withdrawn, not compared. */
  private readonly aborted = new Set<number>();

  constructor(
    config: CompareConfig,
    targets: readonly EngineTarget[],
    private readonly ctx: ComparisonContext,
  ) {
    for (const t of targets) {
      const ips = this.answerPorts.get(t.matchPort) ?? [];
      ips.push(t.matchIp);
      this.answerPorts.set(t.matchPort, ips);
    }
    this.hub = new ComparisonHub(
      {
        mode: config.mode,
        compareBytes: config.compareBytes,
        requestBytes: REQUEST_BYTES,
        holdBytes: HOLD_BYTES,
        maxConnections: MAX_COMPARED_CONNECTIONS,
        http: httpCompareRules({
          ignoreHeaders: config.ignoreHeaders,
          ignoreBody: config.ignoreBody.map((source) => new RegExp(source)),
        }),
      },
      (copy, outcome, record) => this.compared(copy, outcome, record),
    );
    this.diffLog = config.diffLog === undefined ? undefined : new DiffLog(config.diffLog, ctx.log);
  }

  /** Bytes the comparisons hold (kept answers, reassembly), for -m. */
  get memoryBytes(): number {
    return this.hub.memoryBytes;
  }

  /** memoryBytes as -m reads it at each session start: refreshed every MEMORY_REFRESH_MS. */
  private memoryHeld(): number {
    const now = this.ctx.now();
    if (now - this.heldAt >= MEMORY_REFRESH_MS) {
      this.heldBytes = this.hub.memoryBytes;
      this.heldAt = now;
    }
    return this.heldBytes;
  }

  /** Production connections compared now. */
  get connections(): number {
    return this.hub.size;
  }

  /** An intercept cannot forward the test server's answers: no comparison from now on. */
  disable(why: string): void {
    if (this.off) return;
    this.off = true;
    this.ctx.log.warn({ reason: why }, 'response comparison off: an intercept cannot forward answers (--compare)');
  }

  // --- the engine's observer (EngineHost's optional hooks) -------------------------------------

  engineHooks(): Required<
    Pick<EngineHost, 'flowStarted' | 'sessionStarted' | 'sessionClosed' | 'flowEnded' | 'memoryHeld'>
  > {
    return {
      flowStarted: (clientIp, clientPort) => this.flowStarted(clientIp, clientPort),
      sessionStarted: (tuple, clientIp, clientPort, replica) =>
        this.sessionStarted(tuple, clientIp, clientPort, replica),
      sessionClosed: (tuple) => {
        if (this.stopping) this.aborted.add(endpointKey(tuple.srcIp, tuple.srcPort));
      },
      flowEnded: (clientIp, clientPort) => this.flowEnded(clientIp, clientPort),
      memoryHeld: () => this.memoryHeld(),
    };
  }

  flowStarted(clientIp: number, clientPort: number): void {
    // An earlier connection from this endpoint is over: its copies compare with what it had.
    this.hub.productionGone(clientIp, clientPort, this.ctx.now());
  }

  sessionStarted(tuple: Tuple, clientIp: number, clientPort: number, replica: number): void {
    if (this.off) return;
    const shed = this.counters.copiesShed;
    if (this.busy) {
      shed.busy++;
      return;
    }
    if (this.ctx.memoryInUse() > COMPARE_SHED_SHARE * this.ctx.memoryBudget()) {
      shed.memory++;
      return;
    }
    const ref: CopyRef = { clientIp, clientPort, targetIp: tuple.dstIp, targetPort: tuple.dstPort, copy: replica };
    if (this.hub.copyStarted(ref, tuple.srcIp, tuple.srcPort)) this.counters.copiesCompared++;
    else shed.connections++;
  }

  /**
   * Whether tcpcopy is saturated (watchSaturation). Comparing costs it up to as much again as
   * copying, so while it is, nothing is compared: the copies in flight are dropped (the daemon
   * stops capturing production's answers too) and new sessions are copied, not compared.
   */
  setBusy(busy: boolean): void {
    if (busy === this.busy) return;
    this.busy = busy;
    if (busy) {
      const dropped = this.hub.dropAll();
      this.counters.copiesCompared -= dropped;
      this.counters.copiesShed.busy += dropped;
      this.ctx.log.warn('tcpcopy is saturated: sessions are copied but not compared (--compare)');
    } else {
      this.ctx.log.info({ shed: this.counters.copiesShed.busy }, 'comparing new sessions again (--compare)');
    }
  }

  flowEnded(clientIp: number, clientPort: number): void {
    this.hub.productionGone(clientIp, clientPort, this.ctx.now());
  }

  /** The copy's tuple is freed: everything the test server sent on it has come. */
  routeDel(tuple: Tuple): void {
    if (this.aborted.delete(endpointKey(tuple.srcIp, tuple.srcPort))) return;
    this.hub.copyEnded(tuple.srcIp, tuple.srcPort, this.ctx.now());
  }

  /** A packet the engine sends the test server: the copy's client side. */
  injectedPacket(packet: Buffer, length: number): void {
    // The last RSTs of a stop, or nothing followed (all shed while saturated): nothing to decode.
    if (this.stopping || this.hub.size === 0) return;
    const { ip, tcp } = this.injected;
    if (decodeIpv4(packet, 0, length, ip) !== DecodeStatus.Ok || decodeTcp(packet, ip, tcp) !== DecodeStatus.Ok) return;
    if (carriesStream(tcp)) {
      this.hub.copyClient(ip.src, tcp.srcPort, tcp.seq, tcp.flags, payloadOf(packet, tcp), this.ctx.now());
    }
  }

  // --- the pipeline's observer -----------------------------------------------------------------

  clientSegment(ip: Ipv4View, tcp: TcpView, buf: Buffer, now: number): void {
    if (!carriesStream(tcp)) return;
    this.hub.productionSegment(true, ip.src, tcp.srcPort, tcp.seq, tcp.flags, payloadOf(buf, tcp), now);
  }

  serverSegment(ip: Ipv4View, tcp: TcpView, buf: Buffer, now: number): boolean {
    const ips = this.answerPorts.get(tcp.srcPort);
    // From a -x port, of the -x address or (none given) of this host, which the filter ensures.
    if (ips === undefined || !matchesAny(ips, ip.src)) return false;
    if (carriesStream(tcp)) {
      this.hub.productionSegment(false, ip.dst, tcp.dstPort, tcp.seq, tcp.flags, payloadOf(buf, tcp), now);
    }
    return true;
  }

  targetSegment(
    ip: Ipv4View,
    tcp: TcpView,
    buf: Buffer,
    payloadOffset: number,
    payloadLength: number,
    now: number,
  ): void {
    if (!carriesStream(tcp)) return;
    const payload = buf.subarray(payloadOffset, payloadOffset + payloadLength);
    this.hub.copyServer(ip.dst, tcp.dstPort, tcp.seq, tcp.flags, payload, now);
  }

  // --- output ------------------------------------------------------------------------------

  /** For the stats line and the metrics. */
  snapshot(): Record<string, unknown> {
    return {
      ...this.counters,
      ...this.hub.counters,
      connections: this.hub.size,
      memoryBytes: this.hub.memoryBytes,
      diffLog: this.diffLogStats(),
      targets: [...this.perTarget.values()],
    };
  }

  /** Exchanges compared, by outcome and kind, over every test server. */
  get exchanges(): Readonly<HubCounters> {
    return this.hub.counters;
  }

  diffLogStats(): DiffLogStats | undefined {
    return this.diffLog?.stats();
  }

  /** logrotate: the diff log is reopened under its name. */
  reopen(): void {
    this.diffLog?.reopen();
  }

  /**
   * The daemon stops: the copies it aborts now are not compared (their end is ours, not the test
   * server's); those already closed are, as the engine frees their tuples.
   */
  shutdown(): void {
    this.stopping = true;
  }

  async close(): Promise<void> {
    await this.diffLog?.close();
  }

  /** One exchange compared (the hub counts it over all test servers): per test server, and logged. */
  private compared(copy: CopyRef, outcome: ComparisonOutcome, record: DiffRecord | undefined): void {
    const target = this.targetCounters(copy);
    target.compared++;
    if (outcome === 'identical') target.identical++;
    else if (outcome !== 'different') target.notComparable++;
    else {
      target.different++;
      if (record !== undefined) {
        target.byKind[record.kind]++;
        this.diffLog?.write(record);
      }
    }
  }

  private targetCounters(copy: CopyRef): TargetComparisonCounters {
    const name = `${ipv4ToString(copy.targetIp)}:${copy.targetPort}`;
    let counters = this.perTarget.get(name);
    if (counters === undefined) {
      counters = { target: name, compared: 0, identical: 0, different: 0, notComparable: 0, byKind: newByKind() };
      this.perTarget.set(name, counters);
    }
    return counters;
  }
}

/** Whether a segment moves a byte stream: payload, or SYN, FIN or RST. Pure ACKs do not (half the
 *  packets of short requests): the comparison never sees them. */
function carriesStream(tcp: TcpView): boolean {
  return tcp.payloadLength > 0 || (tcp.flags & STREAM_FLAGS) !== 0;
}

/** Whether `src` is one of the -x addresses (0: any), without a closure per packet. */
function matchesAny(matchIps: readonly number[], src: number): boolean {
  for (const matchIp of matchIps) if (matchIp === 0 || matchIp === src) return true;
  return false;
}

/** A decoded TCP segment's payload, as captured (a view: valid as long as `buf` is). */
function payloadOf(buf: Buffer, tcp: TcpView): Buffer {
  return buf.subarray(tcp.payloadOffset, tcp.payloadOffset + tcp.capturedPayloadLength);
}

/** Event-loop delay (p99 over a second) past which tcpcopy counts as saturated. */
const BUSY_LOOP_DELAY_MS = 100;
const LOAD_SAMPLE_MS = 1000;
/**
 * Seconds in a row behind before tcpcopy counts as saturated: a burst (a few 1 MiB answers at
 * once, captured whole while comparing) can put more than the limit in the capture for an
 * instant, and shedding drops the comparisons in flight.
 */
const SATURATED_SAMPLES = 2;
const NS_PER_MS = 1e6;

/**
 * Tells `onLoad` every second whether tcpcopy is saturated: for SATURATED_SAMPLES seconds in a row,
 * packets waited in the capture's spill area beyond `backlogLimit` bytes (the copier reads them
 * slower than they come), or its event loop's 99th percentile delay over the second passed
 * BUSY_LOOP_DELAY_MS. The backlog is the signal that counts under load: the capture hands
 * packets over in short turns, so the loop's delay stayed low in bench:e2e while 60 MB waited and
 * the kernel dropped packets. Returns the stop function.
 */
export function watchSaturation(
  backlogBytes: () => number,
  backlogLimit: number,
  onLoad: (busy: boolean) => void,
): () => void {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  let behind = 0;
  const timer = setInterval(() => {
    const now = backlogBytes() > backlogLimit || delay.percentile(99) > BUSY_LOOP_DELAY_MS * NS_PER_MS;
    delay.reset();
    behind = now ? behind + 1 : 0;
    onLoad(behind >= SATURATED_SAMPLES);
  }, LOAD_SAMPLE_MS);
  timer.unref();
  return () => {
    clearInterval(timer);
    delay.disable();
  };
}
