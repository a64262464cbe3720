/**
 * The copier's session engine: captured client packets and intercept's header records in,
 * packets for the test server and route updates out. Pure: no sockets, no timers, no clock;
 * the daemon calls tick() at nextDeadline() and flush() after each batch of input.
 */
import { TcpFlag, type Ipv4View, type TcpView } from '@tcpcopy/common/packet';
import {
  PayloadDropReason,
  SessionEndReason,
  newCounters,
  targetCountersOf,
  type EngineCounters,
  type TargetCounters,
} from './counters.js';
import { SampleShare, endpointIp, endpointKey, endpointPort, sampled, type FakeAddressPlan } from './addressing.js';
import { segmentFromCapture, splitSynData, splitToMtu, type Segment } from './segment.js';
import { Session, SessionState, type SessionContext } from './session.js';
import { PendingSyns } from './pending-syns.js';
import { LingerQueue, type Lingering } from './lingering.js';
import { FakedSyns } from './faked-syn.js';
import { Flow } from './flow.js';
import type { EngineHost } from './host.js';
import { RttEstimator } from './rtt.js';
import { TimerHeap } from './timer-heap.js';
import { PacketScratch } from './wire.js';
import {
  CAPTURE_LOSS_POLL_MS,
  HALF_OPEN_FLOWS_LIMIT,
  PENDING_SYN_CAPACITY,
  PENDING_SYN_TTL_MS,
  PRESSED_BUDGET_SHARE,
  matchTarget,
  memoryEstimate,
  packetLimit,
  type EngineConfig,
} from './config.js';

/** Largest IP packet the engine writes: captured packets are at most 65535 bytes. */
const SCRATCH_SIZE = 65536;

export class Engine {
  readonly counters: EngineCounters = newCounters();
  /** One per distinct test server, in -x order. */
  readonly targetCounters: readonly TargetCounters[];
  /** By -x index (entries copying to the same test server share one). */
  private readonly countersOf: TargetCounters[];
  private readonly config: EngineConfig;
  private readonly host: EngineHost;
  private readonly timers = new TimerHeap<Session>();
  private readonly flows: Map<number, Flow>[];
  /** SYNs held back while HALF_OPEN_FLOWS_LIMIT flows are half-open, per -x entry. */
  private readonly pendingSyns: PendingSyns[];
  /** Flows started from a captured SYN whose client has sent nothing since. */
  private halfOpenFlows = 0;
  /** Live sessions and lingering tuples by test-server endpoint, then by fake client ip:port. */
  private readonly byTarget = new Map<number, Map<number, Session | Lingering>>();
  /** Closed sessions' tuples while they linger, with their flows. */
  private readonly lingering = new LingerQueue<Flow>();
  private readonly flowOf = new Map<Session, Flow>();
  /** The MSS each test-server endpoint announced in its SYN-ACKs. */
  private readonly targetMss = new Map<number, number>();
  /** One RTT estimator per test-server endpoint, seeding new sessions (rtt.ts). */
  private readonly targetRtts = new Map<number, RttEstimator>();
  private readonly addresses: FakeAddressPlan;
  private readonly ctx: SessionContext;
  private readonly acksDue: Session[] = [];
  private readonly expired: Session[] = [];
  private readonly fakedSyns = new FakedSyns();
  /** -r, or the -g ramp. */
  private readonly share: SampleShare;
  /** Near -m (daemon/memory-guard.ts): sessions may then hold 1/PRESSED_BUDGET_SHARE of their budget. */
  memoryPressure = false;
  private bufferedBytes = 0;
  private liveSessions = 0;
  /** When the daemon last found the capture's kernel drop count grown. */
  private captureLossAt = -Infinity;

  constructor(config: EngineConfig, host: EngineHost, addresses: FakeAddressPlan) {
    this.config = config;
    this.host = host;
    this.addresses = addresses;
    this.flows = config.targets.map(() => new Map<number, Flow>());
    this.pendingSyns = config.targets.map(() => new PendingSyns(PENDING_SYN_CAPACITY, PENDING_SYN_TTL_MS));
    const counted = targetCountersOf(config.targets);
    this.countersOf = counted.ofEntry;
    this.targetCounters = counted.distinct;
    this.share = new SampleShare(config);
    const scratch = new PacketScratch(SCRATCH_SIZE);
    const counters = this.counters;
    this.ctx = {
      config,
      counters,
      scratch,
      inject: (length, dstIp) => {
        counters.packetsInjected++;
        counters.bytesInjected += length;
        host.inject(scratch.buf, length, dstIp);
      },
      arm: (session, deadline) => this.timers.arm(session, deadline),
      ackPending: (session) => this.acksDue.push(session),
      closed: (session, now) => this.onSessionClosed(session, now),
      buffered: (delta) => void (this.bufferedBytes += delta),
      captureLostSince: (since) => this.captureLossAt >= since - CAPTURE_LOSS_POLL_MS,
    };
  }

  get sessionCount(): number {
    return this.liveSessions;
  }

  get totalBufferedBytes(): number {
    return this.bufferedBytes;
  }

  /** SYNs held back as compact records (a SYN flood, or a burst of slow handshakes). */
  get pendingSynCount(): number {
    return this.pendingSyns.reduce((n, pending) => n + pending.size, 0);
  }

  /** What the engine holds, estimated (memoryEstimate): new sessions are shed above the -m budget. */
  get memoryInUse(): number {
    const lingering = this.lingering.size;
    const own = memoryEstimate(this.bufferedBytes, this.liveSessions - lingering, lingering, this.pendingSynCount);
    return own + (this.host.memoryHeld?.() ?? 0);
  }

  /** A captured client->server packet (already decoded). Returns false when it was not ours. */
  onClientPacket(buf: Buffer, ip: Ipv4View, tcp: TcpView, now: number): boolean {
    const targetIndex = matchTarget(this.config.targets, ip.dst, tcp.dstPort);
    if (targetIndex < 0) return false;
    const counters = this.counters;
    const payload = tcp.payloadLength;
    const target = this.countersOf[targetIndex]!;
    counters.clientPackets++;
    counters.clientPayloadBytes += payload;
    target.packets++;
    target.payloadCaptured += payload;
    const copies = this.config.copies;
    if (ip.capturedLength < ip.totalLength) {
      counters.truncatedPackets++;
      target.payloadDropped[PayloadDropReason.Truncated] += payload * copies;
      return true;
    }
    const flows = this.flows[targetIndex]!;
    const pending = this.pendingSyns[targetIndex]!;
    const key = endpointKey(ip.src, tcp.srcPort);
    let flow = flows.get(key);
    const flags = tcp.flags;
    if (flags & TcpFlag.SYN && !(flags & TcpFlag.ACK)) {
      if (
        (flow !== undefined && flow.isn === tcp.seq) ||
        (flow === undefined && pending.retransmitted(key, tcp.seq, now))
      ) {
        target.payloadDuplicate += payload * copies; // the client retransmitting its SYN
        return true;
      }
      if (flow !== undefined) {
        // The client reused its port: its old connection is over on its side and everything it
        // sent was captured before this SYN. The old sessions finish replaying on their own
        // tuples; the new flow gets tuples of its own.
        counters.clientPortReuses++;
        flows.delete(key);
      }
      const syn = segmentFromCapture(buf, ip, tcp, true, now);
      if (payload === 0 && this.halfOpenFlows >= HALF_OPEN_FLOWS_LIMIT) {
        counters.synsHeld++;
        counters.synsExpired += pending.hold(key, syn, now);
        return true;
      }
      pending.drop(key);
      if (payload === 0) {
        this.startFlow(targetIndex, key, ip.src, tcp.srcPort, syn, false, payload, now);
        return true;
      }
      const [bare, data] = splitSynData(syn);
      const started = this.startFlow(targetIndex, key, ip.src, tcp.srcPort, bare, false, payload, now);
      if (started !== undefined) this.feed(started, data, now);
      return true;
    }
    if (flow === undefined && pending.size > 0) {
      counters.synsExpired += pending.expire(now);
      if (flags & TcpFlag.RST) pending.drop(key);
      const held = pending.take(key, tcp.seq);
      if (held !== undefined) {
        flow = this.startFlow(targetIndex, key, ip.src, tcp.srcPort, held, false, payload, now);
        if (flow === undefined) return true;
      }
    }
    if (flow === undefined) {
      if (payload === 0 || flags & TcpFlag.RST || this.config.onlySyn) {
        counters.orphanPackets++;
        target.payloadDropped[PayloadDropReason.Orphan] += payload * copies;
        return true;
      }
      // Only its headers shape the faked SYN (the segment itself is fed below): no checksums.
      const first = segmentFromCapture(buf, ip, tcp, false, now);
      flow = this.startFlow(
        targetIndex,
        key,
        ip.src,
        tcp.srcPort,
        this.fakedSyns.synFor(first, this.config.fakeSynMss),
        true,
        payload,
        now,
      );
      if (flow === undefined) return true;
    }
    if (!(flags & TcpFlag.SYN) && flow.confirm()) this.halfOpenFlows--;
    // A segment over the limit is cut by feed(), and each piece gets checksums of its own.
    this.feed(flow, segmentFromCapture(buf, ip, tcp, ip.totalLength <= this.packetLimit(targetIndex), now), now);
    return true;
  }

  /** A header record from intercept: a packet the test server sent toward a fake client. */
  onTargetPacket(ip: Ipv4View, tcp: TcpView, now: number): void {
    this.counters.targetPackets++;
    const owner = this.byTarget.get(endpointKey(ip.src, tcp.srcPort))?.get(endpointKey(ip.dst, tcp.dstPort));
    if (owner === undefined) {
      this.counters.targetUnknownSession++;
      return;
    }
    // RFC 9293 §3.7.1: segments to it carry at most the MSS its SYN-ACK announced.
    if (tcp.flags & TcpFlag.SYN && tcp.options.mss > 0)
      this.targetMss.set(endpointKey(ip.src, tcp.srcPort), tcp.options.mss);
    owner.onTargetPacket(tcp, now);
  }

  /** Sends the ACKs deferred while a batch of header records was processed. */
  flush(): void {
    const due = this.acksDue;
    for (let i = 0; i < due.length; i++) due[i]!.flushAck();
    due.length = 0;
  }

  /**
   * Sets each test server's copyLagMs: the age of the oldest captured client segment its
   * sessions hold unacknowledged. Walks every live session: for the stats, not per packet.
   */
  refreshCopyLag(now: number): void {
    for (const t of this.targetCounters) t.copyLagMs = 0;
    for (let i = 0; i < this.flows.length; i++) {
      const counters = this.countersOf[i]!;
      for (const flow of this.flows[i]!.values()) {
        for (const session of flow.sessions)
          counters.copyLagMs = Math.max(counters.copyLagMs, now - session.pendingSince);
      }
    }
  }

  /** The capture's kernel drop count grew since the last call (read every CAPTURE_LOSS_POLL_MS):
   *  sessions whose stream has a hole will end as capture_dropped, not capture_gap. */
  noteCaptureLoss(now: number): void {
    this.captureLossAt = now;
  }

  /** Earliest time tick() has work to do (Infinity when idle). */
  nextDeadline(): number {
    return Math.min(this.timers.peekDeadline(), this.lingering.nextUntil);
  }

  tick(now: number): void {
    const expired = this.timers.popExpired(now, this.expired);
    for (let i = 0; i < expired.length; i++) expired[i]!.onTimer(now);
    expired.length = 0;
    this.endLingering(now);
    this.flush();
  }

  /** Ends every session with a last RST (daemon shutdown) and withdraws every route. */
  shutdown(now: number): void {
    for (const owners of this.byTarget.values()) {
      for (const owner of owners.values()) if (owner instanceof Session) owner.abort(now, SessionEndReason.Shutdown);
    }
    this.endLingering(Infinity);
  }

  // --- flows ---------------------------------------------------------------------------

  /**
   * `payload`: the captured packet's payload length (the SYN's, or the first segment's of a
   * session joined mid-stream), dropped for every replica when no session takes it.
   */
  private startFlow(
    targetIndex: number,
    key: number,
    clientIp: number,
    clientPort: number,
    syn: Segment,
    faked: boolean,
    payload: number,
    now: number,
  ): Flow | undefined {
    const counters = this.counters;
    const targetCounters = this.countersOf[targetIndex]!;
    const refuse = (reason: PayloadDropReason): undefined => {
      targetCounters.payloadDropped[reason] += payload * this.config.copies;
      return undefined;
    };
    if (!sampled(clientIp, clientPort, this.share.percentAt(now))) {
      counters.sessionsSampledOut++;
      return refuse(PayloadDropReason.SampledOut);
    }
    if (this.memoryInUse > this.config.memoryBudgetBytes / (this.memoryPressure ? PRESSED_BUDGET_SHARE : 1)) {
      counters.sessionsShed++;
      return refuse(PayloadDropReason.Shed);
    }
    const target = this.config.targets[targetIndex]!;
    const flow = new Flow(key, targetIndex, syn.seq, faked);
    const endpoint = endpointKey(target.targetIp, target.targetPort);
    let tuples = this.byTarget.get(endpoint);
    if (tuples === undefined) this.byTarget.set(endpoint, (tuples = new Map()));
    let targetRtt = this.targetRtts.get(endpoint);
    if (targetRtt === undefined) this.targetRtts.set(endpoint, (targetRtt = new RttEstimator()));
    this.host.flowStarted?.(clientIp, clientPort);
    for (let replica = 0; replica < this.config.copies; replica++) {
      const tuple = this.addresses.allocate(clientIp, clientPort, replica, target, tuples);
      if (tuple === undefined) {
        counters.tupleSpaceExhausted++;
        flow.gone.push(PayloadDropReason.TupleSpaceExhausted);
        continue;
      }
      counters.sessionsStarted++;
      targetCounters.sessionsStarted++;
      if (faked) counters.sessionsJoinedMidStream++;
      this.host.routeAdd(tuple);
      this.host.sessionStarted?.(tuple, clientIp, clientPort, replica);
      const session = new Session(this.ctx, { tuple, syn, faked, now, targetRtt, counters: targetCounters });
      tuples.set(endpointKey(tuple.srcIp, tuple.srcPort), session);
      this.flowOf.set(session, flow);
      flow.sessions.push(session);
      this.liveSessions++;
    }
    if (flow.sessions.length === 0) return refuse(PayloadDropReason.TupleSpaceExhausted);
    targetCounters.payloadDropped[PayloadDropReason.TupleSpaceExhausted] += syn.payloadLength * flow.gone.length;
    this.flows[targetIndex]!.set(key, flow);
    if (!faked) this.halfOpenFlows++;
    return flow;
  }

  /** The largest packet sent to this -x entry's test server, once its SYN-ACKs told its MSS:
   *  merged captures are cut to fit before the sessions see them. */
  private packetLimit(targetIndex: number): number {
    const t = this.config.targets[targetIndex]!;
    return packetLimit(this.config.mtu, this.targetMss.get(endpointKey(t.targetIp, t.targetPort)));
  }

  private feed(flow: Flow, seg: Segment, now: number): void {
    const limit = this.packetLimit(flow.targetIndex);
    const pieces = seg.packet.length > limit ? splitToMtu(seg, limit) : undefined;
    if (pieces !== undefined) this.counters.segmentsSplit += pieces.length;
    if (flow.gone.length > 0) {
      const dropped = this.countersOf[flow.targetIndex]!.payloadDropped;
      for (const reason of flow.gone) dropped[reason] += seg.payloadLength;
    }
    for (let i = 0; i < flow.sessions.length;) {
      const session = flow.sessions[i]!;
      if (pieces === undefined) session.onClientSegment(seg, now);
      else for (const piece of pieces) session.onClientSegment(piece, now);
      // A session that closed on this segment left the list (onSessionClosed): same index next.
      if (flow.sessions[i] === session) i++;
    }
  }

  /**
   * A session closed: its tuple lingers as a small record (lingering.ts), and the flow counts
   * the replica as gone (its share of later client segments is dropped for its end reason).
   */
  private onSessionClosed(session: Session, now: number): void {
    const t = session.tuple;
    const tuples = this.byTarget.get(endpointKey(t.dstIp, t.dstPort))!;
    const lingering = session.lingering(now + this.config.lingerMs);
    this.host.sessionClosed?.(t, session.endReason!);
    tuples.set(endpointKey(t.srcIp, t.srcPort), lingering);
    this.timers.disarm(session);
    const flow = this.flowOf.get(session)!;
    this.flowOf.delete(session);
    if (flow.replicaClosed(session)) this.halfOpenFlows--;
    this.lingering.push(lingering, flow);
  }

  /** Frees the tuples whose linger is over (all of them with Infinity) and withdraws their routes. */
  private endLingering(now: number): void {
    this.lingering.popDue(now, (lingering, flow) => {
      const t = lingering.tuple;
      const tuples = this.byTarget.get(endpointKey(t.dstIp, t.dstPort))!;
      if (tuples.get(endpointKey(t.srcIp, t.srcPort)) === lingering) tuples.delete(endpointKey(t.srcIp, t.srcPort));
      this.host.routeDel(t);
      this.liveSessions--;
      const flows = this.flows[flow.targetIndex]!;
      // A flow its client replaced by reusing the port is no longer there: the new one is.
      if (flow.lingerEnded() && flows.get(flow.key) === flow) {
        flows.delete(flow.key);
        this.host.flowEnded?.(endpointIp(flow.key), endpointPort(flow.key));
      }
    });
  }
}

export { SessionState };
