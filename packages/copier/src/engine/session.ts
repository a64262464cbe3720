/**
 * One replica session: the copier acting as the real client toward the test server. It replays
 * the client's byte stream (its own sequence numbers, never translated) and translates acks and
 * TSecr into the test server's sequence space, as learned from intercept's header records.
 *
 * In three layers, each a job: session-stream.ts (the state and the client's byte stream),
 * session-sender.ts (sending, pacing, retransmission, the end), and here the session's entry
 * points and the test server's side (its handshake, ACKs, data and resets).
 *
 * Pure: time comes in as arguments; packets go out through the SessionContext.
 */
import { TCP_MAX_WINDOW_SCALE, TcpFlag, type TcpView } from '@tcpcopy/common/packet';
import { SessionEndReason } from './counters.js';
import { segmentEnd, type Segment } from './segment.js';
import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt, seqMax } from './seq.js';
import {
  CLIENT_SILENCE_LIMIT_MS,
  DUP_ACK_THRESHOLD,
  ESTABLISH_TIMEOUT_MS,
  GAP_TIMEOUT_MS,
  UNSCALED_MAX_WINDOW,
} from './config.js';
import { SessionSender } from './session-sender.js';
import { SessionState } from './session-stream.js';

export { SessionState, type SessionContext, type SessionStart } from './session-stream.js';

export class Session extends SessionSender {
  protected get self(): Session {
    return this;
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

  // --- the test server's side ---------------------------------------------------------

  protected onSynAck(tcp: TcpView, now: number): void {
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
  protected resetStaleConnection(tcp: TcpView, now: number): void {
    this.ctx.counters.staleConnectionsReset++;
    this.sendMade(tcp.ack, 0, TcpFlag.RST);
    if (this.staleResetSent) return;
    this.staleResetSent = true;
    this.sndNxt = this.isn;
    this.trySend(now);
  }

  protected learnSynAck(tcp: TcpView): void {
    this.targetIsn = tcp.seq;
    this.rcvNxt = seqAdd(tcp.seq, 1);
    this.received.clear();
    const opts = tcp.options;
    // RFC 7323 §2.2: scaling is on only when both SYNs carried the option (at most 14, §2.3).
    this.targetWindowShift =
      this.synHadWindowScale && opts.windowScale >= 0 ? Math.min(opts.windowScale, TCP_MAX_WINDOW_SCALE) : 0;
    this.sendWindow = tcp.window; // a SYN-ACK's window is never scaled (RFC 7323 §2.2)
    this.congestion.setSendMss(opts.mss);
    this.send.tsOn = this.synHadTimestamps && opts.hasTimestamps;
    this.sackOn = this.synHadSack && opts.sackPermitted;
    if (this.send.tsOn) this.send.tsEcr = opts.tsVal;
  }

  protected processAck(tcp: TcpView, now: number): void {
    this.targetConfirmed = true;
    this.sendWindow = tcp.window << this.targetWindowShift;
    if (this.send.tsOn && tcp.options.hasTimestamps && seqGe(tcp.options.tsVal, this.send.tsEcr)) {
      this.send.tsEcr = tcp.options.tsVal;
    }
    const ack = tcp.ack;
    const options = tcp.options;
    for (let i = 0; i < options.sackBlockCount; i++) {
      const right = options.sackBlocks[2 * i + 1]!;
      if (seqLe(right, this.sndMax))
        this.sackedByTarget.add(options.sackBlocks[2 * i]!, right, seqMax(ack, this.sndUna));
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
      if (
        ++this.dupAcks === DUP_ACK_THRESHOLD &&
        this.congestion.onDuplicateAcks(seqDiff(this.sndMax, this.sndUna), this.sndMax)
      ) {
        this.ctx.counters.fastRetransmissions++;
        this.sendQueued(0, now);
      }
    }
    this.lastAckSeen = ack;
    this.lastWindowSeen = tcp.window;
  }

  protected acknowledge(ack: number, now: number): void {
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
  protected acknowledgePayload(ack: number): void {
    if (!seqGt(ack, this.payloadAckedTo)) return;
    let bytes = seqDiff(ack, this.payloadAckedTo);
    if (this.finSeq !== undefined && seqGe(this.finSeq, this.payloadAckedTo) && seqLt(this.finSeq, ack)) bytes--;
    this.payloadAckedTo = ack;
    this.holdPayload(-bytes);
    this.target.payloadAcked += bytes;
    this.ctx.counters.payloadBytesAcked += bytes;
  }

  protected sampleRtt(rtt: number): void {
    this.rtt.sample(rtt);
    this.targetRtt.sample(rtt);
  }

  protected processTargetData(tcp: TcpView, now: number): void {
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
  protected receive(end: number, now: number): void {
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

  /** Both directions closed and our FIN acknowledged: a clean end. */
  protected maybeFinish(now: number): void {
    if (this.targetFin && this.clientFinSent && this.sndUna === this.sndMax) {
      // The test server's FIN needs our ACK unless the last packet sent already carried it.
      if (this.ackDue) this.sendPureAck();
      this.closedCleanly = true;
      this.end(SessionEndReason.Finished, now, false);
    }
  }

  protected acceptableReset(tcp: TcpView): boolean {
    if (this.state === SessionState.SynSent) return (tcp.flags & TcpFlag.ACK) !== 0 && tcp.ack === seqAdd(this.isn, 1);
    // RFC 5961 §3.2 in spirit: only a reset inside the receive window ends the session.
    const distance = seqDiff(tcp.seq, this.rcvNxt);
    return distance >= -UNSCALED_MAX_WINDOW && distance <= UNSCALED_MAX_WINDOW << 4;
  }
}
