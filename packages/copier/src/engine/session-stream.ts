/**
 * A replica session's state, and the client's byte stream as the capture rebuilds it: segments
 * queued until the test server acknowledges them, out-of-order ones held until the hole fills,
 * and the payload accounting of both. The sending layer (session-sender.ts) and the test
 * server's side (session.ts) build on it; every field lives here, so the constructor's first
 * send sees them all initialised.
 *
 * Pure: time comes in as arguments; packets go out through the SessionContext.
 */
import { TcpFlag } from '@tcpcopy/common/packet';
import { SessionEndReason, type EngineCounters, type TargetCounters } from './counters.js';
import { CongestionWindow } from './congestion.js';
import { segmentEnd, type Segment } from './segment.js';
import { SegmentQueue } from './segment-queue.js';
import { ReceiveRanges } from './receive-ranges.js';
import { seqAdd, seqDiff, seqGt } from './seq.js';
import { RttEstimator } from './rtt.js';
import type { Session } from './session.js';
import type { TimerOwner } from './timer-heap.js';
import type { PacketScratch, SendState, Tuple } from './wire.js';
import { MAX_SESSION_SEGMENTS, UNSCALED_MAX_WINDOW, type EngineConfig } from './config.js';

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

export abstract class SessionStream implements TimerOwner {
  timerDeadline = Infinity;
  timerIndex = -1;

  readonly tuple: Tuple;
  readonly faked: boolean;
  readonly isn: number;
  state: SessionState = SessionState.SynSent;
  endReason: SessionEndReason | undefined;
  /** Ended by the FIN exchange in both directions (lingering answers like TIME_WAIT). */
  protected closedCleanly = false;
  /** The client sent something after its SYN: a real client, not a spoofed SYN. */
  protected clientSpoke: boolean;

  protected readonly ctx: SessionContext;
  protected readonly target: TargetCounters;
  /** Client payload bytes held (queued, in flight, out of order): dropped if the session ends. */
  protected pendingPayload = 0;
  /** Client payload up to here is counted as acknowledged. */
  protected payloadAckedTo: number;
  /** Sequence number of the client's FIN once captured (it carries no payload). */
  protected finSeq: number | undefined;
  /** The FIN went out on the test server's silence, short of production's answer. */
  protected finReleasedOnQuiet = false;
  protected readonly queue = new SegmentQueue();
  protected readonly outOfOrder = new SegmentQueue();
  /** Index in `queue` of the next segment to send. */
  protected sendIndex = 0;
  /** End of the contiguous client stream captured so far. */
  protected clientNext: number;
  protected sndUna: number;
  protected sndNxt: number;
  protected sndMax: number;

  protected targetIsn = 0;
  /** The test server sent something other than a SYN-ACK: its side of the handshake is done. */
  protected targetConfirmed = false;
  /** A stale connection on our tuple was reset once already (see resetStaleConnection). */
  protected staleResetSent = false;
  protected rcvNxt = 0;
  protected targetWindowShift = 0;
  protected sendWindow = 0;
  protected targetFin = false;
  /** Where the test server's FIN sits in its sequence space, once a record showed it. */
  protected targetFinSeq: number | undefined;
  /** The test server's segments seen beyond a hole in its stream. */
  protected readonly received = new ReceiveRanges();
  /** Our segments the test server holds beyond a hole, from its SACK blocks (RFC 2018): a
   *  retransmission after a timeout skips them instead of resending everything (RFC 6675). */
  protected readonly sackedByTarget = new ReceiveRanges();
  protected clientFinSent = false;
  protected readonly synHadWindowScale: boolean;
  protected readonly synHadTimestamps: boolean;
  protected readonly synHadSack: boolean;
  /** SACK negotiated: our ACKs report the server's segments seen beyond a hole (RFC 2018). */
  protected sackOn = false;
  /** The latest server segment seen beyond a hole: its block leads the SACK option. */
  protected latestOutOfOrder = 0;
  protected readonly send: SendState;
  /**
   * The window field of the ACKs we make: the largest the real client advertised after its SYN
   * (its SYN's until then). Not its latest: a window that closed for a moment while production's
   * answer filled the client's buffer is no reason to throttle the test server, whose answer
   * arrives at another time. (Mirrored, a client's last ACK at 128 bytes held a copy to 128
   * bytes per round trip behind the FIN that waited for its answer, indefinitely.)
   */
  protected clientWindow: number;
  protected clientWindowScaled = false;
  protected ipId: number;

  // Request/response pacing: the client ack number says how much production response the real
  // client had received before sending a segment; a segment whose ack advanced starts a request.
  protected ackBase: number | undefined;
  protected epochAck = 0;
  protected epochTargetBytes = 0;
  protected targetResponseBytes = 0;
  protected lastDataSentAt = 0;
  protected lastTargetDataAt = 0;
  /** Any data or FIN from the test server, retransmissions included: it is still sending. */
  protected lastTargetSegmentAt = 0;
  protected responseSinceSend = false;
  /** The test server sent something that our next packet must acknowledge. */
  protected ackDue = false;
  /** Data waits for a zero window to open: probe it on the retransmission timer. */
  protected windowBlocked = false;

  protected readonly rtt: RttEstimator;
  /** The engine-wide estimator of this session's test server, fed with our samples too. */
  protected readonly targetRtt: RttEstimator;
  protected rtoDeadline = Infinity;
  protected retransmitCount = 0;
  protected rttSeq: number | undefined;
  protected rttSentAt = 0;
  protected dupAcks = 0;
  protected readonly congestion = new CongestionWindow();
  protected lastAckSeen = 0;
  protected lastWindowSeen = -1;

  protected readonly createdAt: number;
  protected lastActivityAt: number;
  protected gapSince = Infinity;
  protected finWaitSince = Infinity;
  protected paceDeadline = Infinity;

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

  /** When the oldest client segment the test server has not acknowledged was captured; Infinity
   *  when none waits. */
  get pendingSince(): number {
    return this.queue.first()?.capturedAt ?? Infinity;
  }

  get bufferedBytes(): number {
    return this.queue.bytes + this.outOfOrder.bytes;
  }

  // --- client stream ------------------------------------------------------------------

  protected enqueue(seg: Segment): void {
    this.queue.push(seg);
    this.ctx.buffered(seg.packet.length);
    // Payload accounting: only the bytes beyond what was captured before are new.
    const payloadEnd = seqAdd(seg.seq, seg.payloadLength + (seg.flags & TcpFlag.SYN ? 1 : 0));
    const fresh = seqGt(payloadEnd, this.clientNext)
      ? Math.min(seqDiff(payloadEnd, this.clientNext), seg.payloadLength)
      : 0;
    this.target.payloadDuplicate += seg.payloadLength - fresh;
    this.holdPayload(fresh);
    if (seg.flags & TcpFlag.FIN) this.finSeq = payloadEnd;
    const end = segmentEnd(seg);
    if (seqGt(end, this.clientNext)) this.clientNext = end;
  }

  protected holdPayload(bytes: number): void {
    this.pendingPayload += bytes;
    this.target.payloadPending += bytes;
  }

  protected drainOutOfOrder(): void {
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

  protected checkBufferLimit(now: number): boolean {
    if (this.queue.length + this.outOfOrder.length <= MAX_SESSION_SEGMENTS) return false;
    this.end(SessionEndReason.BufferLimit, now, true);
    return true;
  }

  protected hasPendingData(): boolean {
    return this.sendIndex < this.queue.length || this.sndUna !== this.sndMax || this.outOfOrder.length > 0;
  }

  /** This session as the engine knows it (its context's callbacks take the whole Session). */
  protected abstract get self(): Session;
  protected abstract trySend(now: number): void;
  protected abstract end(reason: SessionEndReason, now: number, resetTarget: boolean): void;
  protected abstract rearm(now: number): void;
}
