/**
 * One replica session: the copier acting as the real client toward the test server. It replays
 * the client's byte stream (its own sequence numbers, never translated) and translates acks and
 * TSecr into the test server's sequence space, as learned from intercept's header records.
 *
 * Pure: time comes in as arguments; packets go out through the SessionContext.
 */
import { TCP_MAX_SACK_BLOCKS, TCP_MAX_WINDOW_SCALE, TcpFlag, type TcpOptionsSpec, type TcpView } from '@tcpcopy/common/packet';
import { SessionEndReason, type EngineCounters, type TargetCounters } from './counters.js';
import { CongestionWindow } from './congestion.js';
import { segmentEnd, type Segment } from './segment.js';
import { SegmentQueue } from './segment-queue.js';
import { ReceiveRanges } from './receive-ranges.js';
import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt, seqMax } from './seq.js';
import { RttEstimator } from './rtt.js';
import { Lingering } from './lingering.js';
import type { TimerOwner } from './timer-heap.js';
import { writeMadePacket, writeSegment, type PacketScratch, type SendState, type Tuple } from './wire.js';
import {
  CLIENT_SILENCE_LIMIT_MS,
  DUP_ACK_THRESHOLD,
  ESTABLISH_TIMEOUT_MS,
  FIN_RELEASE_QUIET_MS,
  FIN_WAIT_MS,
  GAP_TIMEOUT_MS,
  MAX_RETRANSMISSIONS,
  MAX_SESSION_SEGMENTS,
  NO_RESPONSE_RELEASE_MS,
  UNSCALED_MAX_WINDOW,
  responseQuietMs,
  type EngineConfig,
} from './config.js';

/** RFC 2018 §3: beside timestamps, three SACK blocks fit in the 40 option bytes. */
const SACK_BLOCKS_WITH_TIMESTAMPS = 3;
/** Reused for every ACK's SACK blocks (sessions run one at a time). */
const sackScratch: [number, number][] = [];

export const SessionState = { SynSent: 0, Established: 1, Closed: 2 } as const;
export type SessionState = (typeof SessionState)[keyof typeof SessionState];

/** What a session needs from its engine. */
export interface SessionContext {
  readonly config: EngineConfig;
  readonly counters: EngineCounters;
  /** Shared scratch buffer packets are written into before injection. */
  readonly scratch: PacketScratch;
  inject(length: number, dstIp: number): void;
  arm(session: Session, deadline: number): void;
  ackPending(session: Session): void;
  /** The session just closed: the engine keeps its tuple lingering (session.lingering()). */
  closed(session: Session, now: number): void;
  /** Global accounting of buffered bytes (memory cap, -m). */
  buffered(delta: number): void;
  /** Whether the capture reported kernel drops late enough to explain a hole seen at `since`. */
  captureLostSince(since: number): boolean;
}

export interface SessionStart {
  tuple: Tuple;
  /** The SYN to send: the captured one, or a faked one for a session joined mid-stream. */
  syn: Segment;
  faked: boolean;
  now: number;
  targetRtt: RttEstimator;
  /** This session's test server's counters: sessions and payload accounting. */
  counters: TargetCounters;
}

export class Session implements TimerOwner {
  timerDeadline = Infinity;
  timerIndex = -1;

  readonly tuple: Tuple;
  readonly faked: boolean;
  readonly isn: number;
  state: SessionState = SessionState.SynSent;
  endReason: SessionEndReason | undefined;
  /** Ended by the FIN exchange in both directions (lingering answers like TIME_WAIT). */
  private closedCleanly = false;
  /** The client sent something after its SYN: a real client, not a spoofed SYN. */
  private clientSpoke: boolean;

  private readonly ctx: SessionContext;
  private readonly target: TargetCounters;
  /** Client payload bytes held (queued, in flight, out of order): dropped if the session ends. */
  private pendingPayload = 0;
  /** Client payload up to here is counted as acknowledged. */
  private payloadAckedTo: number;
  /** Sequence number of the client's FIN once captured (it carries no payload). */
  private finSeq: number | undefined;
  /** The FIN went out on the test server's silence, short of production's answer. */
  private finReleasedOnQuiet = false;
  private readonly queue = new SegmentQueue();
  private readonly outOfOrder = new SegmentQueue();
  /** Index in `queue` of the next segment to send. */
  private sendIndex = 0;
  /** End of the contiguous client stream captured so far. */
  private clientNext: number;
  private sndUna: number;
  private sndNxt: number;
  private sndMax: number;

  private targetIsn = 0;
  /** The test server sent something other than a SYN-ACK: its side of the handshake is done. */
  private targetConfirmed = false;
  /** A stale connection on our tuple was reset once already (see resetStaleConnection). */
  private staleResetSent = false;
  private rcvNxt = 0;
  private targetWindowShift = 0;
  private sendWindow = 0;
  private targetFin = false;
  /** Where the test server's FIN sits in its sequence space, once a record showed it. */
  private targetFinSeq: number | undefined;
  /** The test server's segments seen beyond a hole in its stream. */
  private readonly received = new ReceiveRanges();
  /** Our segments the test server holds beyond a hole, from its SACK blocks (RFC 2018): a
   *  retransmission after a timeout skips them instead of resending everything (RFC 6675). */
  private readonly sackedByTarget = new ReceiveRanges();
  private clientFinSent = false;
  private readonly synHadWindowScale: boolean;
  private readonly synHadTimestamps: boolean;
  private readonly synHadSack: boolean;
  /** SACK negotiated: our ACKs report the server's segments seen beyond a hole (RFC 2018). */
  private sackOn = false;
  /** The latest server segment seen beyond a hole: its block leads the SACK option. */
  private latestOutOfOrder = 0;
  private readonly send: SendState;
  /**
   * The window field of the ACKs we make: the largest the real client advertised after its SYN
   * (its SYN's until then). Not its latest: a window that closed for a moment while production's
   * answer filled the client's buffer is no reason to throttle the test server, whose answer
   * arrives at another time. (Mirrored, a client's last ACK at 128 bytes held a copy to 128
   * bytes per round trip behind the FIN that waited for its answer, indefinitely.)
   */
  private clientWindow: number;
  private clientWindowScaled = false;
  private ipId: number;

  // Request/response pacing: the client ack number says how much production response the real
  // client had received before sending a segment; a segment whose ack advanced starts a request.
  private ackBase: number | undefined;
  private epochAck = 0;
  private epochTargetBytes = 0;
  private targetResponseBytes = 0;
  private lastDataSentAt = 0;
  private lastTargetDataAt = 0;
  /** Any data or FIN from the test server, retransmissions included: it is still sending. */
  private lastTargetSegmentAt = 0;
  private responseSinceSend = false;
  /** The test server sent something that our next packet must acknowledge. */
  private ackDue = false;
  /** Data waits for a zero window to open: probe it on the retransmission timer. */
  private windowBlocked = false;

  private readonly rtt: RttEstimator;
  /** The engine-wide estimator of this session's test server, fed with our samples too. */
  private readonly targetRtt: RttEstimator;
  private rtoDeadline = Infinity;
  private retransmitCount = 0;
  private rttSeq: number | undefined;
  private rttSentAt = 0;
  private dupAcks = 0;
  private readonly congestion = new CongestionWindow();
  private lastAckSeen = 0;
  private lastWindowSeen = -1;

  private readonly createdAt: number;
  private lastActivityAt: number;
  private gapSince = Infinity;
  private finWaitSince = Infinity;
  private paceDeadline = Infinity;

  constructor(ctx: SessionContext, start: SessionStart) {
    this.ctx = ctx;
    this.target = start.counters;
    this.tuple = start.tuple;
    this.faked = start.faked;
    this.clientSpoke = start.faked;
    const syn = start.syn;
    this.isn = syn.seq;
    this.clientNext = seqAdd(syn.seq, 1);
    this.payloadAckedTo = this.clientNext;
    this.sndUna = syn.seq;
    this.sndNxt = syn.seq;
    this.sndMax = syn.seq;
    this.synHadWindowScale = syn.windowScale >= 0;
    this.synHadTimestamps = syn.hasTimestamps;
    this.synHadSack = syn.sackPermitted;
    this.clientWindow = syn.window;
    this.ipId = syn.packet.readUInt16BE(4);
    this.send = {
      ack: 0,
      window: start.faked ? UNSCALED_MAX_WINDOW : -1,
      tsOn: false,
      tsEcr: 0,
      tsValFloor: syn.tsVal,
    };
    this.targetRtt = start.targetRtt;
    this.rtt = RttEstimator.seededFrom(start.targetRtt);
    this.createdAt = start.now;
    this.lastActivityAt = start.now;
    this.enqueue(syn);
    this.trySend(start.now);
  }

  /** A captured client segment of this session's flow (after the engine's own filtering). */
  onClientSegment(seg: Segment, now: number): void {
    if (this.state === SessionState.Closed) {
      this.target.payloadDropped[this.endReason!] += seg.payloadLength;
      return;
    }
    this.lastActivityAt = now;
    if (seg.flags & TcpFlag.SYN) {
      this.target.payloadDuplicate += seg.payloadLength; // the client retransmitting its SYN: we retransmit ours
      return;
    }
    this.clientSpoke = true;
    if (seg.flags & TcpFlag.ACK && (seg.window > this.clientWindow || !this.clientWindowScaled)) {
      this.clientWindow = seg.window;
      this.clientWindowScaled = true;
    }
    if (this.ackBase === undefined && seg.flags & TcpFlag.ACK) {
      this.ackBase = seg.clientAck;
      this.epochAck = seg.clientAck;
    }
    if (seg.flags & TcpFlag.RST) {
      // A client reset ends the stream wherever it is: queue it behind what was captured.
      this.enqueue(seg);
      this.trySend(now);
      return;
    }
    if (seg.seqLength === 0) {
      // Pure ACKs: the copier acknowledges the test server's data itself.
      this.ctx.counters.clientPureAcksDropped++;
      return;
    }
    if (seqLe(segmentEnd(seg), this.clientNext)) {
      this.ctx.counters.clientRetransmissionsDropped++;
      this.target.payloadDuplicate += seg.payloadLength;
      return;
    }
    if (seqGt(seg.seq, this.clientNext)) {
      this.outOfOrder.insertSorted(seg, (a, b) => seqLt(a.seq, b.seq));
      this.ctx.buffered(seg.packet.length);
      this.holdPayload(seg.payloadLength);
      if (this.gapSince === Infinity) this.gapSince = now;
      if (!this.checkBufferLimit(now)) this.rearm(now);
      return;
    }
    // In order, or overlapping what we hold (the test server's TCP trims the overlap).
    this.enqueue(seg);
    this.drainOutOfOrder();
    if (this.checkBufferLimit(now)) return;
    this.trySend(now);
  }

  /** A header record of a packet the test server sent to this session's tuple. */
  onTargetPacket(tcp: TcpView, now: number): void {
    // Once closed, the engine hands the tuple's packets to its Lingering record instead.
    if (this.state === SessionState.Closed) return;
    this.lastActivityAt = now;
    const flags = tcp.flags;
    if (flags & TcpFlag.RST) {
      if (this.acceptableReset(tcp)) this.end(SessionEndReason.TargetReset, now, false);
      return;
    }
    if (this.state === SessionState.SynSent && flags & TcpFlag.ACK && tcp.ack !== seqAdd(this.isn, 1)) {
      this.resetStaleConnection(tcp, now);
      return;
    }
    if (flags & TcpFlag.SYN) {
      if (flags & TcpFlag.ACK) this.onSynAck(tcp, now);
      return;
    }
    if (this.state !== SessionState.Established || !(flags & TcpFlag.ACK)) return;
    this.processAck(tcp, now);
    this.processTargetData(tcp, now);
    if (this.state === SessionState.Established) {
      this.maybeFinish(now);
      this.trySend(now);
    }
  }

  /** Sends the ACK the engine deferred to the end of a batch of records (one per batch). */
  flushAck(): void {
    if (this.state === SessionState.Established && this.ackDue) this.sendPureAck();
  }

  onTimer(now: number): void {
    if (this.state === SessionState.Closed) return;
    if (this.state === SessionState.SynSent && now - this.createdAt >= ESTABLISH_TIMEOUT_MS) {
      this.end(SessionEndReason.EstablishTimeout, now, true);
      return;
    }
    if (!this.clientSpoke && now - this.createdAt >= CLIENT_SILENCE_LIMIT_MS) {
      this.end(SessionEndReason.ClientSilent, now, true);
      return;
    }
    if (now - this.gapSince >= GAP_TIMEOUT_MS) {
      const dropped = this.ctx.captureLostSince(this.gapSince);
      this.end(dropped ? SessionEndReason.CaptureDropped : SessionEndReason.CaptureGap, now, true);
      return;
    }
    const pending = this.hasPendingData();
    const idleLimit = pending ? this.ctx.config.sessionTimeoutMs : this.ctx.config.keepaliveTimeoutMs;
    if (now - this.lastActivityAt >= idleLimit) {
      this.end(SessionEndReason.IdleTimeout, now, true);
      return;
    }
    if (now >= this.finWaitDeadline()) {
      // One side closed and the other never followed, and the test server has been silent that
      // long: everything was delivered.
      this.end(SessionEndReason.Finished, now, true);
      return;
    }
    if (now >= this.rtoDeadline) {
      if (!this.retransmitOnTimeout(now)) return;
    }
    if (now >= this.paceDeadline) this.paceDeadline = Infinity;
    this.trySend(now);
  }

  /** Ends the session at shutdown: a last RST so the test server frees the connection. */
  abort(now: number, reason: SessionEndReason): void {
    this.end(reason, now, true);
  }

  /** When the oldest client segment the test server has not acknowledged was captured; Infinity
   *  when none waits. */
  get pendingSince(): number {
    return this.queue.first()?.capturedAt ?? Infinity;
  }

  get bufferedBytes(): number {
    return this.queue.bytes + this.outOfOrder.bytes;
  }

  // --- client stream ------------------------------------------------------------------

  private enqueue(seg: Segment): void {
    this.queue.push(seg);
    this.ctx.buffered(seg.packet.length);
    // Payload accounting: only the bytes beyond what was captured before are new.
    const payloadEnd = seqAdd(seg.seq, seg.payloadLength + (seg.flags & TcpFlag.SYN ? 1 : 0));
    const fresh = seqGt(payloadEnd, this.clientNext) ? Math.min(seqDiff(payloadEnd, this.clientNext), seg.payloadLength) : 0;
    this.target.payloadDuplicate += seg.payloadLength - fresh;
    this.holdPayload(fresh);
    if (seg.flags & TcpFlag.FIN) this.finSeq = payloadEnd;
    const end = segmentEnd(seg);
    if (seqGt(end, this.clientNext)) this.clientNext = end;
  }

  private holdPayload(bytes: number): void {
    this.pendingPayload += bytes;
    this.target.payloadPending += bytes;
  }

  private drainOutOfOrder(): void {
    for (;;) {
      const next = this.outOfOrder.first();
      if (next === undefined || seqGt(next.seq, this.clientNext)) break;
      this.outOfOrder.shift();
      this.ctx.buffered(-next.packet.length);
      this.holdPayload(-next.payloadLength); // enqueue() counts it again, as new or duplicate
      if (seqGt(segmentEnd(next), this.clientNext)) this.enqueue(next);
      else {
        this.ctx.counters.clientRetransmissionsDropped++;
        this.target.payloadDuplicate += next.payloadLength;
      }
    }
    this.gapSince = this.outOfOrder.length > 0 ? this.gapSince : Infinity;
  }

  private checkBufferLimit(now: number): boolean {
    if (this.queue.length + this.outOfOrder.length <= MAX_SESSION_SEGMENTS) return false;
    this.end(SessionEndReason.BufferLimit, now, true);
    return true;
  }

  private hasPendingData(): boolean {
    return this.sendIndex < this.queue.length || this.sndUna !== this.sndMax || this.outOfOrder.length > 0;
  }

  // --- sending ------------------------------------------------------------------------

  private trySend(now: number): void {
    if (this.state === SessionState.Closed) return;
    if (this.state === SessionState.SynSent) {
      if (this.sndNxt === this.isn) this.sendQueued(0, now); // the SYN itself
      this.rearm(now);
      return;
    }
    this.windowBlocked = false;
    while (this.sendIndex < this.queue.length) {
      const seg = this.queue.at(this.sendIndex)!;
      const end = segmentEnd(seg);
      if (seqLt(seg.seq, this.sndMax) && this.sackedByTarget.covers(seg.seq, end)) {
        if (seqGt(end, this.sndNxt)) this.sndNxt = end;
        this.sendIndex++;
        continue;
      }
      if (!this.released(seg, now)) break;
      const inFlight = seqDiff(this.sndNxt, this.sndUna);
      if (seg.payloadLength > 0 && inFlight + seg.payloadLength > this.sendWindow && (inFlight > 0 || this.sendWindow === 0)) {
        this.windowBlocked = inFlight === 0;
        if (this.windowBlocked && this.rtoDeadline === Infinity) this.rtoDeadline = now + this.rtt.rto;
        break;
      }
      // The ACK clock resumes sending: a retransmission timer is armed while data is in flight.
      if (seg.payloadLength > 0 && inFlight > 0 && inFlight + seg.payloadLength > this.congestion.cwnd) break;
      if (seg.flags & TcpFlag.FIN && this.sndUna !== this.sndNxt) break; // FIN after all data is acked
      if (seg.flags & TcpFlag.RST) {
        if (this.sndUna !== this.sndNxt) break;
        this.sendMade(this.sndNxt, this.rcvNxt, TcpFlag.RST | TcpFlag.ACK);
        this.end(SessionEndReason.ClientReset, now, false);
        return;
      }
      this.sendQueued(this.sendIndex, now);
      this.sendIndex++;
    }
    this.rearm(now);
  }

  /** Pacing (DESIGN §3): hold a new request until the test server has answered the previous one. */
  private released(seg: Segment, now: number): boolean {
    if (this.ctx.config.noWait || this.ackBase === undefined) return true;
    if (seg.flags & TcpFlag.FIN && seg.payloadLength === 0) return this.finReleased(seg, now);
    if (!(seg.flags & TcpFlag.ACK) || seqLe(seg.clientAck, this.epochAck)) return true;
    const productionBytes = seqDiff(seg.clientAck, this.epochAck);
    const targetBytes = this.targetResponseBytes - this.epochTargetBytes;
    let go = targetBytes >= productionBytes;
    if (!go && this.sndUna === this.sndNxt) {
      const quietSince = Math.max(this.lastDataSentAt, this.lastTargetDataAt);
      const wait = this.responseSinceSend
        ? responseQuietMs(this.ctx.config.fixedRttMs || this.rtt.srtt)
        : NO_RESPONSE_RELEASE_MS;
      // Compared as the deadline is computed: in floating point, (q + w) - q can fall short of
      // w, and a timer armed for q + w would then find nothing to do at q + w, forever.
      const releaseAt = quietSince + wait;
      if (now >= releaseAt) go = true;
      else this.paceDeadline = releaseAt;
    }
    if (!go) return false;
    this.epochAck = seg.clientAck;
    this.epochTargetBytes = this.targetResponseBytes;
    this.paceDeadline = Infinity;
    return true;
  }

  /**
   * The client's FIN closes the test server's input: sent while the server still writes (a
   * response that stalled on a loss, with requests the quiet rule released pipelined behind it),
   * nginx aborts with a reset and every unfinished response and request is lost. Epochs cannot
   * tell (an early release lets an older response count for a newer request), so the FIN compares
   * whole-connection totals: everything production sent, or a quiet test server (no hole left,
   * nothing sent, not even a retransmission) after its own retransmission timeout, or its FIN.
   */
  private finReleased(seg: Segment, now: number): boolean {
    if (this.targetFin || !(seg.flags & TcpFlag.ACK)) return true;
    if (this.targetResponseBytes >= seqDiff(seg.clientAck, this.ackBase!)) return true;
    // A known hole means the server is still resending: not quiet, however long it takes.
    if (this.received.size > 0) return false;
    const releaseAt = Math.max(this.lastDataSentAt, this.lastTargetSegmentAt) + FIN_RELEASE_QUIET_MS;
    if (now >= releaseAt) {
      // Counted once, not at every re-evaluation after a retransmission timeout.
      if (!this.finReleasedOnQuiet) this.ctx.counters.finsReleasedOnQuiet++;
      this.finReleasedOnQuiet = true;
      return true;
    }
    this.paceDeadline = releaseAt;
    return false;
  }

  private sendQueued(index: number, now: number): void {
    const seg = this.queue.at(index)!;
    const send = this.send;
    send.ack = this.rcvNxt;
    if (seg.flags & TcpFlag.ACK) this.ackDue = false;
    const length = writeSegment(this.ctx.scratch, seg, this.tuple, send);
    this.ctx.inject(length, this.tuple.dstIp);
    const end = segmentEnd(seg);
    const resend = seqLt(seg.seq, this.sndMax);
    if (seqGt(end, this.sndNxt)) this.sndNxt = end;
    if (seqGt(end, this.sndMax)) this.sndMax = end;
    if (resend) this.ctx.counters.retransmissions++;
    if (seg.payloadLength > 0 && !resend) {
      this.lastDataSentAt = now;
      this.responseSinceSend = false;
    }
    if (seg.flags & TcpFlag.FIN) {
      this.clientFinSent = true;
      if (this.finWaitSince === Infinity) this.finWaitSince = now;
    }
    if (this.rttSeq === undefined && !resend && seg.seqLength > 0) {
      this.rttSeq = end;
      this.rttSentAt = now;
    }
    if (this.rtoDeadline === Infinity) this.rtoDeadline = now + this.rtt.rto;
  }

  private sendPureAck(): void {
    this.sendMade(this.sndNxt, this.rcvNxt, TcpFlag.ACK);
  }

  private sendMade(seq: number, ack: number, flags: number): void {
    const send = this.send;
    if (flags & TcpFlag.ACK) {
      send.ack = ack;
      this.ackDue = false;
    }
    this.ipId = (this.ipId + 1) & 0xffff;
    const length = writeMadePacket(this.ctx.scratch.buf, this.tuple, {
      seq,
      ack,
      flags,
      window: flags & TcpFlag.RST ? 0 : this.faked ? UNSCALED_MAX_WINDOW : this.clientWindow,
      ipId: this.ipId,
      options: flags & TcpFlag.RST ? undefined : this.madeOptions(),
    });
    this.ctx.inject(length, this.tuple.dstIp);
  }

  /**
   * Options of a packet we make: timestamps when negotiated, and SACK blocks while holes are
   * known. With SACK negotiated, Linux counts no plain duplicate ACKs (tcp_dupack_heuristics is
   * sacked_out + 1): without blocks it never fast-retransmits and every loss waits for its RTO.
   */
  private madeOptions(): TcpOptionsSpec | undefined {
    const send = this.send;
    const sacking = this.sackOn && this.received.size > 0;
    if (!send.tsOn && !sacking) return undefined;
    const options: TcpOptionsSpec = {};
    if (send.tsOn) options.timestamps = { val: send.tsValFloor, ecr: send.tsEcr };
    if (sacking) options.sack = this.received.sackBlocks(sackScratch, send.tsOn ? SACK_BLOCKS_WITH_TIMESTAMPS : TCP_MAX_SACK_BLOCKS, this.latestOutOfOrder);
    return options;
  }

  private retransmitOnTimeout(now: number): boolean {
    this.rtoDeadline = Infinity;
    if (this.windowBlocked) {
      // RFC 9293 §3.8.6.1: probe a zero window. An old sequence number draws an ACK carrying
      // the current window, in case the test server's window update was lost.
      this.sendMade(seqAdd(this.sndNxt, -1), this.rcvNxt, TcpFlag.ACK);
      this.rtt.backOff();
      return true;
    }
    if (this.sndUna === this.sndMax) return true;
    if (++this.retransmitCount > MAX_RETRANSMISSIONS) {
      this.end(SessionEndReason.RetransmitLimit, now, true);
      return false;
    }
    // A second timeout on the same data: the test server may have dropped what it SACKed
    // (reneging, RFC 2018 §8), so everything goes again, as Linux does when it detects it.
    if (this.retransmitCount > 1) this.sackedByTarget.clear();
    this.rtt.backOff();
    this.congestion.onTimeout(seqDiff(this.sndMax, this.sndUna), this.retransmitCount === 1);
    this.rttSeq = undefined; // Karn: no RTT sample from retransmitted data
    // Go back N: resend from the oldest unacknowledged segment as the window allows.
    this.sndNxt = this.sndUna;
    this.sendIndex = 0;
    this.sendQueued(0, now);
    this.sendIndex = 1;
    return true;
  }

  // --- the test server's side ---------------------------------------------------------

  private onSynAck(tcp: TcpView, now: number): void {
    if (tcp.ack !== seqAdd(this.isn, 1)) return; // an older incarnation's SYN-ACK
    if (this.state === SessionState.Established) {
      if (tcp.seq === this.targetIsn) {
        this.sendPureAck(); // our handshake ACK was lost
      } else if (!this.targetConfirmed) {
        // The test server answered a retransmitted SYN with a new ISN: its first SYN-ACK was a
        // SYN cookie (SYN queue full) or its request was dropped. Until it has sent anything
        // but SYN-ACKs, the newest handshake is the one it will accept: adopt it and resend.
        this.ctx.counters.handshakesRestarted++;
        this.learnSynAck(tcp);
        this.sendPureAck();
        this.sndNxt = this.sndUna;
        this.sendIndex = 0;
        this.trySend(now);
      }
      return;
    }
    this.learnSynAck(tcp);
    this.state = SessionState.Established;
    this.ctx.counters.sessionsEstablished++;
    this.target.sessionsEstablished++;
    this.lastAckSeen = tcp.ack;
    this.lastWindowSeen = tcp.window;
    this.acknowledge(tcp.ack, now);
    this.sendPureAck();
    this.trySend(now);
  }

  /**
   * RFC 9293 §3.10.7.3: in SYN-SENT, an ACK that does not acknowledge our SYN draws a reset
   * <SEQ=SEG.ACK><CTL=RST>. It is the test server's challenge ACK (RFC 5961 §4) from a connection
   * it still holds on this tuple: a copier that was killed never reset its sessions, and joins
   * the same client connections again on the same fake tuples. Without the reset every SYN meets
   * the stale connection until the establishment timeout. The first time, the SYN follows at
   * once; after that, on the retransmission timer (so a peer that keeps answering ACKs to SYNs
   * cannot draw a packet storm).
   */
  private resetStaleConnection(tcp: TcpView, now: number): void {
    this.ctx.counters.staleConnectionsReset++;
    this.sendMade(tcp.ack, 0, TcpFlag.RST);
    if (this.staleResetSent) return;
    this.staleResetSent = true;
    this.sndNxt = this.isn;
    this.trySend(now);
  }

  private learnSynAck(tcp: TcpView): void {
    this.targetIsn = tcp.seq;
    this.rcvNxt = seqAdd(tcp.seq, 1);
    this.received.clear();
    const opts = tcp.options;
    // RFC 7323 §2.2: scaling is on only when both SYNs carried the option (at most 14, §2.3).
    this.targetWindowShift = this.synHadWindowScale && opts.windowScale >= 0 ? Math.min(opts.windowScale, TCP_MAX_WINDOW_SCALE) : 0;
    this.sendWindow = tcp.window; // a SYN-ACK's window is never scaled (RFC 7323 §2.2)
    this.congestion.setSendMss(opts.mss);
    this.send.tsOn = this.synHadTimestamps && opts.hasTimestamps;
    this.sackOn = this.synHadSack && opts.sackPermitted;
    if (this.send.tsOn) this.send.tsEcr = opts.tsVal;
  }

  private processAck(tcp: TcpView, now: number): void {
    this.targetConfirmed = true;
    this.sendWindow = tcp.window << this.targetWindowShift;
    if (this.send.tsOn && tcp.options.hasTimestamps && seqGe(tcp.options.tsVal, this.send.tsEcr)) {
      this.send.tsEcr = tcp.options.tsVal;
    }
    const ack = tcp.ack;
    const options = tcp.options;
    for (let i = 0; i < options.sackBlockCount; i++) {
      const right = options.sackBlocks[2 * i + 1]!;
      if (seqLe(right, this.sndMax)) this.sackedByTarget.add(options.sackBlocks[2 * i]!, right, seqMax(ack, this.sndUna));
    }
    if (seqGt(ack, this.sndUna) && seqLe(ack, this.sndMax)) {
      this.acknowledge(ack, now);
    } else if (
      ack === this.sndUna &&
      this.sndUna !== this.sndMax &&
      tcp.payloadLength === 0 &&
      !(tcp.flags & TcpFlag.FIN) &&
      ack === this.lastAckSeen &&
      tcp.window === this.lastWindowSeen
    ) {
      // RFC 5681 §3.2: the third duplicate ACK triggers one fast retransmission.
      if (++this.dupAcks === DUP_ACK_THRESHOLD && this.congestion.onDuplicateAcks(seqDiff(this.sndMax, this.sndUna), this.sndMax)) {
        this.ctx.counters.fastRetransmissions++;
        this.sendQueued(0, now);
      }
    }
    this.lastAckSeen = ack;
    this.lastWindowSeen = tcp.window;
  }

  private acknowledge(ack: number, now: number): void {
    const partial = this.congestion.onAck(seqDiff(ack, this.sndUna), ack);
    this.sndUna = ack;
    this.sackedByTarget.advance(ack);
    if (seqLt(this.sndNxt, ack)) this.sndNxt = ack;
    this.dupAcks = 0;
    for (;;) {
      const first = this.queue.first();
      // A queued client RST occupies no sequence space: an ACK up to its seq does not consume it.
      if (first === undefined || first.flags & TcpFlag.RST || seqGt(segmentEnd(first), ack)) break;
      this.queue.shift();
      this.ctx.buffered(-first.packet.length);
      this.sendIndex = Math.max(0, this.sendIndex - 1);
    }
    this.acknowledgePayload(ack);
    if (this.rttSeq !== undefined && seqGe(ack, this.rttSeq)) {
      this.sampleRtt(now - this.rttSentAt);
      this.rttSeq = undefined;
    }
    this.retransmitCount = 0;
    this.rtoDeadline = this.sndUna === this.sndMax ? Infinity : now + this.rtt.rto;
    if (partial) this.sendQueued(0, now); // RFC 6582: the next hole, without waiting for 3 dupacks
  }

  /**
   * Counts the client payload in [payloadAckedTo, ack) as acknowledged: sequence space, less the
   * FIN's number. (Counting whole queued segments would count overlapping retransmissions twice.)
   */
  private acknowledgePayload(ack: number): void {
    if (!seqGt(ack, this.payloadAckedTo)) return;
    let bytes = seqDiff(ack, this.payloadAckedTo);
    if (this.finSeq !== undefined && seqGe(this.finSeq, this.payloadAckedTo) && seqLt(this.finSeq, ack)) bytes--;
    this.payloadAckedTo = ack;
    this.holdPayload(-bytes);
    this.target.payloadAcked += bytes;
    this.ctx.counters.payloadBytesAcked += bytes;
  }

  private sampleRtt(rtt: number): void {
    this.rtt.sample(rtt);
    this.targetRtt.sample(rtt);
  }

  private processTargetData(tcp: TcpView, now: number): void {
    const length = tcp.payloadLength;
    const fin = (tcp.flags & TcpFlag.FIN) !== 0;
    if (length === 0 && !fin) return;
    this.ctx.counters.targetPayloadBytes += length;
    this.lastTargetSegmentAt = now;
    const end = seqAdd(tcp.seq, length);
    if (fin) this.targetFinSeq = end;
    if (seqGt(tcp.seq, this.rcvNxt)) {
      // Beyond a hole (intercept missed a segment): kept until the hole is filled, and answered
      // at once with a duplicate ACK (RFC 5681 §4.2), one per segment: a single ACK per batch of
      // records never makes the third duplicate the server needs to fast-retransmit, leaving
      // every loss to its retransmission timeout.
      this.received.add(tcp.seq, end, this.rcvNxt);
      this.latestOutOfOrder = tcp.seq;
      this.sendPureAck();
      return;
    }
    if (seqGt(end, this.rcvNxt) || (fin && end === this.rcvNxt)) {
      // In order, or overlapping what was received (a resend cut into other segments).
      this.receive(end, now);
    }
    // In order or a duplicate: one ACK at the end of the batch answers both (a duplicate ACK
    // makes the test server retransmit what intercept did not report).
    if (!this.ackDue) {
      this.ackDue = true;
      this.ctx.ackPending(this);
    }
  }

  /** The test server's stream is complete up to `end`, and past it as far as seen before. */
  private receive(end: number, now: number): void {
    const to = this.received.advance(end);
    const bytes = seqDiff(to, this.rcvNxt);
    if (bytes > 0) {
      this.rcvNxt = to;
      this.targetResponseBytes += bytes;
      this.lastTargetDataAt = now;
      this.responseSinceSend = true;
    }
    if (this.targetFinSeq === this.rcvNxt && !this.targetFin) {
      this.rcvNxt = seqAdd(this.rcvNxt, 1);
      // The real client's ack counts production's FIN too: pacing compares sequence space.
      this.targetResponseBytes++;
      this.targetFin = true;
      if (this.finWaitSince === Infinity) this.finWaitSince = now;
    }
  }

  /**
   * After one side's FIN, the other has FIN_WAIT_MS of the test server's silence to close: a bound
   * on silence, not on total time, so an answer still flowing after the client's FIN is never cut.
   */
  private finWaitDeadline(): number {
    return Math.max(this.finWaitSince, this.lastTargetSegmentAt) + FIN_WAIT_MS;
  }

  /** Both directions closed and our FIN acknowledged: a clean end. */
  private maybeFinish(now: number): void {
    if (this.targetFin && this.clientFinSent && this.sndUna === this.sndMax) {
      // The test server's FIN needs our ACK unless the last packet sent already carried it.
      if (this.ackDue) this.sendPureAck();
      this.closedCleanly = true;
      this.end(SessionEndReason.Finished, now, false);
    }
  }

  private acceptableReset(tcp: TcpView): boolean {
    if (this.state === SessionState.SynSent) return (tcp.flags & TcpFlag.ACK) !== 0 && tcp.ack === seqAdd(this.isn, 1);
    // RFC 5961 §3.2 in spirit: only a reset inside the receive window ends the session.
    const distance = seqDiff(tcp.seq, this.rcvNxt);
    return distance >= -UNSCALED_MAX_WINDOW && distance <= UNSCALED_MAX_WINDOW << 4;
  }

  // --- end ----------------------------------------------------------------------------

  private end(reason: SessionEndReason, now: number, resetTarget: boolean): void {
    if (this.state === SessionState.Closed) return;
    if (resetTarget) this.sendMade(this.sndMax, this.rcvNxt, this.state === SessionState.SynSent ? TcpFlag.RST : TcpFlag.RST | TcpFlag.ACK);
    this.state = SessionState.Closed;
    this.endReason = reason;
    this.ctx.counters.sessionsEnded[reason]++;
    this.target.sessionsEnded[reason]++;
    this.target.payloadDropped[reason] += this.pendingPayload;
    this.holdPayload(-this.pendingPayload);
    this.ctx.buffered(-this.bufferedBytes);
    this.queue.clear();
    this.outOfOrder.clear();
    this.ctx.closed(this, now);
  }

  /** What the closed session's tuple must still answer while it lingers, until `until`. */
  lingering(until: number): Lingering {
    return new Lingering(this.ctx, {
      tuple: this.tuple,
      endReason: this.endReason!,
      until,
      closedCleanly: this.closedCleanly,
      rcvNxt: this.rcvNxt,
      sndNxt: this.sndNxt,
      sndMax: this.sndMax,
      window: this.faked ? UNSCALED_MAX_WINDOW : this.clientWindow,
      ipId: this.ipId,
      tsOn: this.send.tsOn,
      tsVal: this.send.tsValFloor,
      tsEcr: this.send.tsEcr,
    });
  }

  private rearm(now: number): void {
    if (this.state === SessionState.Closed) return;
    let deadline = Math.min(this.rtoDeadline, this.paceDeadline, this.gapSince + GAP_TIMEOUT_MS, this.finWaitDeadline());
    if (this.state === SessionState.SynSent) deadline = Math.min(deadline, this.createdAt + ESTABLISH_TIMEOUT_MS);
    if (!this.clientSpoke) deadline = Math.min(deadline, this.createdAt + CLIENT_SILENCE_LIMIT_MS);
    const idle = this.hasPendingData() ? this.ctx.config.sessionTimeoutMs : this.ctx.config.keepaliveTimeoutMs;
    deadline = Math.max(Math.min(deadline, this.lastActivityAt + idle), now);
    // Never move an armed deadline later: the idle deadline follows lastActivityAt, so that
    // would move the session down the heap at every packet. The earlier timer fires instead;
    // onTimer re-checks every condition and re-arms.
    if (deadline >= this.timerDeadline) return;
    this.ctx.arm(this, deadline);
  }
}
