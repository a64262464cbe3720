/**
 * Sending toward the test server: the client's segments paced as production's client sent them
 * (each request after the previous answer), within the test server's window and our congestion
 * window; the packets we make ourselves (ACKs, RSTs, probes); retransmission; and the end of a
 * session, its linger and its timer.
 */
import { TCP_MAX_SACK_BLOCKS, TcpFlag, type TcpOptionsSpec } from '@tcpcopy/common/packet';
import { SessionEndReason } from './counters.js';
import { segmentEnd, type Segment } from './segment.js';
import { seqAdd, seqDiff, seqGt, seqLe, seqLt } from './seq.js';
import { Lingering } from './lingering.js';
import { writeMadePacket, writeSegment } from './wire.js';
import {
  CLIENT_SILENCE_LIMIT_MS,
  ESTABLISH_TIMEOUT_MS,
  FIN_RELEASE_QUIET_MS,
  FIN_WAIT_MS,
  GAP_TIMEOUT_MS,
  MAX_RETRANSMISSIONS,
  NO_RESPONSE_RELEASE_MS,
  UNSCALED_MAX_WINDOW,
  responseQuietMs,
} from './config.js';
import { SessionState, SessionStream } from './session-stream.js';

const SACK_BLOCKS_WITH_TIMESTAMPS = 3;
/** Reused for every ACK's SACK blocks (sessions run one at a time). */
const sackScratch: [number, number][] = [];

export abstract class SessionSender extends SessionStream {
  // --- sending ------------------------------------------------------------------------

  protected trySend(now: number): void {
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
      if (
        seg.payloadLength > 0 &&
        inFlight + seg.payloadLength > this.sendWindow &&
        (inFlight > 0 || this.sendWindow === 0)
      ) {
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
  protected released(seg: Segment, now: number): boolean {
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
  protected finReleased(seg: Segment, now: number): boolean {
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

  protected sendQueued(index: number, now: number): void {
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

  protected sendPureAck(): void {
    this.sendMade(this.sndNxt, this.rcvNxt, TcpFlag.ACK);
  }

  protected sendMade(seq: number, ack: number, flags: number): void {
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
  protected madeOptions(): TcpOptionsSpec | undefined {
    const send = this.send;
    const sacking = this.sackOn && this.received.size > 0;
    if (!send.tsOn && !sacking) return undefined;
    const options: TcpOptionsSpec = {};
    if (send.tsOn) options.timestamps = { val: send.tsValFloor, ecr: send.tsEcr };
    if (sacking)
      options.sack = this.received.sackBlocks(
        sackScratch,
        send.tsOn ? SACK_BLOCKS_WITH_TIMESTAMPS : TCP_MAX_SACK_BLOCKS,
        this.latestOutOfOrder,
      );
    return options;
  }

  protected retransmitOnTimeout(now: number): boolean {
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

  /**
   * After one side's FIN, the other has FIN_WAIT_MS of the test server's silence to close: a bound
   * on silence, not on total time, so an answer still flowing after the client's FIN is never cut.
   */
  protected finWaitDeadline(): number {
    return Math.max(this.finWaitSince, this.lastTargetSegmentAt) + FIN_WAIT_MS;
  }

  // --- end ----------------------------------------------------------------------------

  protected end(reason: SessionEndReason, now: number, resetTarget: boolean): void {
    if (this.state === SessionState.Closed) return;
    if (resetTarget)
      this.sendMade(
        this.sndMax,
        this.rcvNxt,
        this.state === SessionState.SynSent ? TcpFlag.RST : TcpFlag.RST | TcpFlag.ACK,
      );
    this.state = SessionState.Closed;
    this.endReason = reason;
    this.ctx.counters.sessionsEnded[reason]++;
    this.target.sessionsEnded[reason]++;
    this.target.payloadDropped[reason] += this.pendingPayload;
    this.holdPayload(-this.pendingPayload);
    this.ctx.buffered(-this.bufferedBytes);
    this.queue.clear();
    this.outOfOrder.clear();
    this.ctx.closed(this.self, now);
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

  protected rearm(now: number): void {
    if (this.state === SessionState.Closed) return;
    let deadline = Math.min(
      this.rtoDeadline,
      this.paceDeadline,
      this.gapSince + GAP_TIMEOUT_MS,
      this.finWaitDeadline(),
    );
    if (this.state === SessionState.SynSent) deadline = Math.min(deadline, this.createdAt + ESTABLISH_TIMEOUT_MS);
    if (!this.clientSpoke) deadline = Math.min(deadline, this.createdAt + CLIENT_SILENCE_LIMIT_MS);
    const idle = this.hasPendingData() ? this.ctx.config.sessionTimeoutMs : this.ctx.config.keepaliveTimeoutMs;
    deadline = Math.max(Math.min(deadline, this.lastActivityAt + idle), now);
    // Never move an armed deadline later: the idle deadline follows lastActivityAt, so that
    // would move the session down the heap at every packet. The earlier timer fires instead;
    // onTimer re-checks every condition and re-arms.
    if (deadline >= this.timerDeadline) return;
    this.ctx.arm(this.self, deadline);
  }
}
