/**
 * Congestion control of one session toward the test server: RFC 5681 slow start and congestion
 * avoidance after a loss, with NewReno's partial-acknowledgment rule (RFC 6582). Pure.
 *
 * The window starts unbounded. The copier replays traffic that a real TCP already paced on its
 * way to production, and the test server usually sits on the same LAN: as long as nothing is
 * lost, the receive window alone bounds what is in flight (as upstream tcpcopy does). The first
 * loss shows that the path to the test server is slower than production's client was; from then
 * on the session behaves like a TCP sender. Without this, a go-back-N retransmission after a
 * timeout resent a whole receive window into the bottleneck that had just dropped it, and the
 * copy fell ever further behind production (more bytes retransmitted than delivered).
 */
import { seqLt } from './seq.js';

/** RFC 9293 §3.7.1: the send MSS when the test server's SYN-ACK carried no MSS option. */
export const DEFAULT_SEND_MSS = 536;

export class CongestionWindow {
  /** Bytes that may be in flight (besides the receive window); Infinity until the first loss. */
  cwnd = Infinity;
  private ssthresh = Infinity;
  /** RFC 6582 `recover`: the highest sequence sent when fast recovery began; none outside it. */
  private recover: number | undefined;
  private smss = DEFAULT_SEND_MSS;

  /** The test server's MSS option (from its SYN-ACK), or -1 when it sent none. */
  setSendMss(mss: number): void {
    this.smss = mss > 0 ? mss : DEFAULT_SEND_MSS;
  }

  /**
   * New data acknowledged (`acked` bytes, up to `ack`). Returns true for a partial ACK in fast
   * recovery: the next unacknowledged segment was lost too and must be resent now.
   */
  onAck(acked: number, ack: number): boolean {
    if (this.recover !== undefined) {
      if (seqLt(ack, this.recover)) return true; // RFC 6582 §3.2 step 5
      this.recover = undefined;
      this.cwnd = this.ssthresh; // step 6: full acknowledgment ends fast recovery
      return false;
    }
    if (this.cwnd === Infinity) return false;
    // RFC 5681 §3.1: slow start below ssthresh (eq. 2), then about one SMSS per RTT (eq. 3).
    this.cwnd +=
      this.cwnd < this.ssthresh
        ? Math.min(acked, this.smss)
        : Math.max(1, Math.floor((this.smss * this.smss) / this.cwnd));
    return false;
  }

  /**
   * The third duplicate ACK with `flight` bytes outstanding, `sndMax` the highest sequence sent.
   * Returns whether to fast-retransmit: not again while a recovery is under way (RFC 6582 §3.2).
   */
  onDuplicateAcks(flight: number, sndMax: number): boolean {
    if (this.recover !== undefined) return false;
    this.ssthresh = this.halved(flight); // RFC 5681 eq. 4
    this.cwnd = this.ssthresh;
    this.recover = sndMax;
    return true;
  }

  /**
   * The retransmission timer expired with `flight` bytes outstanding. RFC 5681 §3.1: ssthresh
   * halves only on the first timeout of a segment; the window restarts at one segment.
   */
  onTimeout(flight: number, firstTimeout: boolean): void {
    if (firstTimeout || this.ssthresh === Infinity) this.ssthresh = this.halved(flight);
    this.cwnd = this.smss;
    this.recover = undefined;
  }

  private halved(flight: number): number {
    return Math.max(Math.floor(flight / 2), 2 * this.smss);
  }
}
