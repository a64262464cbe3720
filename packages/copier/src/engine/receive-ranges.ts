/**
 * The test server's segments seen beyond a hole: a TCP receiver's out-of-order queue, without
 * the data (intercept's records carry headers only). When the hole is filled, the receive point
 * jumps past everything already seen, so one ACK covers it: acknowledging only the segment that
 * filled the hole would leave the test server to resend every later segment, one retransmission
 * timeout each (RFC 9293 §3.10.7.4 queues out-of-order segments for this reason).
 *
 * Ranges are [start, end) in the server's sequence space, sorted, disjoint and not touching.
 * At most MAX_RECEIVE_RANGES are kept; a range beyond that is forgotten (the server resends it).
 */
import { seqGt, seqLe, seqLt, seqMax } from './seq.js';

/** Holes a receiver tracks at once; Linux SACK reports at most 4 blocks, this is plenty. */
export const MAX_RECEIVE_RANGES = 16;

export class ReceiveRanges {
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];

  get size(): number {
    return this.starts.length;
  }

  /** Records [start, end) seen while the receive point is `rcvNxt` (start beyond it). */
  add(start: number, end: number, rcvNxt: number): void {
    if (!seqGt(start, rcvNxt) || !seqGt(end, start)) return;
    const starts = this.starts;
    const ends = this.ends;
    // The first range that ends at or after `start`: it may touch or overlap the new one.
    let i = 0;
    while (i < starts.length && seqLt(ends[i]!, start)) i++;
    if (i < starts.length && seqLe(starts[i]!, end)) {
      // Merge with every range the new one touches.
      let s = seqLt(starts[i]!, start) ? starts[i]! : start;
      let e = end;
      let j = i;
      while (j < starts.length && seqLe(starts[j]!, e)) {
        e = seqMax(e, ends[j]!);
        if (seqLt(starts[j]!, s)) s = starts[j]!;
        j++;
      }
      starts.splice(i, j - i, s);
      ends.splice(i, j - i, e);
      return;
    }
    if (starts.length >= MAX_RECEIVE_RANGES) return;
    starts.splice(i, 0, start);
    ends.splice(i, 0, end);
  }

  /**
   * The receive point moved to `rcvNxt`: absorbs the ranges it reached (drops those it passed)
   * and returns the new receive point.
   */
  advance(rcvNxt: number): number {
    let next = rcvNxt;
    while (this.starts.length > 0 && seqLe(this.starts[0]!, next)) {
      next = seqMax(next, this.ends[0]!);
      this.starts.shift();
      this.ends.shift();
    }
    return next;
  }

  /**
   * Fills `out` with up to `max` SACK blocks (RFC 2018 §4): first the range holding `latest` (the
   * segment that triggered this ACK), then the others from the highest down. Returns `out`.
   */
  sackBlocks(out: [number, number][], max: number, latest: number): [number, number][] {
    out.length = 0;
    const first = this.starts.findIndex((start, i) => seqLe(start, latest) && seqLt(latest, this.ends[i]!));
    if (first >= 0) out.push([this.starts[first]!, this.ends[first]!]);
    for (let i = this.starts.length - 1; i >= 0 && out.length < max; i--) {
      if (i !== first) out.push([this.starts[i]!, this.ends[i]!]);
    }
    return out;
  }

  /** Whether [start, end) lies inside one range. */
  covers(start: number, end: number): boolean {
    for (let i = 0; i < this.starts.length; i++) {
      if (seqLe(this.starts[i]!, start) && seqLe(end, this.ends[i]!)) return true;
    }
    return false;
  }

  clear(): void {
    this.starts.length = 0;
    this.ends.length = 0;
  }
}
