/**
 * One direction of a captured TCP connection as the byte stream its receiver read. Comparison
 * works on the application's bytes, not on packets: an answer retransmitted after a loss must not
 * be counted twice, and segments reordered on the wire must not reorder the answer. So each byte
 * is delivered once, in sequence order, whatever duplicates, overlaps and reordering the capture
 * saw (RFC 9293 §3.10.7.4 trims and queues segments the same way).
 *
 * Data beyond a hole is held, copied because the capture reuses its buffers, up to `holdLimit`
 * bytes. Past that limit the hole is declared lost and delivered as a gap of its length: turn
 * pairing then goes on with the right offsets instead of waiting for bytes that may never come
 * (the capture dropped them, or the retransmission went by before capture started).
 *
 * Held ranges are sorted, disjoint, and all beyond the delivery point; sequence numbers are
 * compared modulo 2^32 (seq.ts).
 */
import { seqAdd, seqDiff, seqLe } from '../engine/seq.js';

export interface StreamSink {
  /** In-order bytes, each delivered once. The buffer may be the caller's: valid during the call only. */
  data(bytes: Buffer): void;
  /** `length` bytes that will never be delivered: lost to the capture, or beyond the hold limit. */
  gap(length: number): void;
  /** The stream reached its FIN: every byte before it was delivered or declared a gap. Called once. */
  fin(): void;
}

const EMPTY = Buffer.alloc(0);

export class StreamReassembly {
  private next = 0;
  private started = false;
  private finSeq: number | undefined;
  private finReported = false;
  private readonly heldStarts: number[] = [];
  private readonly heldData: Buffer[] = [];
  private held = 0;
  private duplicates = 0;
  private gaps = 0;

  constructor(
    private readonly sink: StreamSink,
    private readonly holdLimit: number,
  ) {}

  /** Bytes waiting beyond a hole. */
  get heldBytes(): number {
    return this.held;
  }

  /** Bytes seen again after they were delivered or held: retransmissions and overlaps. */
  get duplicateBytes(): number {
    return this.duplicates;
  }

  /** Bytes declared lost. */
  get gapBytes(): number {
    return this.gaps;
  }

  /** The sequence number the next delivered byte will have. */
  get nextSeq(): number {
    return this.next;
  }

  /** Where the FIN is, once a segment carrying it was seen. */
  get fin(): number | undefined {
    return this.finSeq;
  }

  /**
   * The first byte's sequence number (the SYN's plus one). Without it, the first segment seen
   * starts the stream: a capture that joined a connection mid-stream has nothing earlier to wait for.
   */
  start(seq: number): void {
    this.next = seq >>> 0;
    this.started = true;
  }

  /** A segment as captured: its sequence number, its payload and whether it carries FIN. */
  segment(seq: number, payload: Buffer, fin: boolean): void {
    if (!this.started) this.start(seq);
    if (fin && this.finSeq === undefined) this.finSeq = seqAdd(seq, payload.length);
    const bytes = this.beforeFin(seq, payload);
    const offset = seqDiff(seq, this.next);
    if (offset <= 0) {
      const fresh = bytes.length + offset;
      if (fresh <= 0) {
        this.duplicates += bytes.length;
      } else {
        this.duplicates -= offset;
        this.deliver(offset === 0 ? bytes : bytes.subarray(-offset));
        this.drainHeld();
      }
    } else if (bytes.length > 0) {
      this.hold(seq, bytes);
      while (this.held > this.holdLimit) this.declareFirstHoleLost();
    }
    this.reportFin();
  }

  /**
   * The connection is over (a reset, or the session was given up): nothing will fill the holes,
   * so they are declared lost and everything held is delivered, up to the FIN if one was seen.
   */
  flush(): void {
    while (this.heldStarts.length > 0) this.declareFirstHoleLost();
    if (this.finSeq !== undefined && !this.finReported) {
      const missing = seqDiff(this.finSeq, this.next);
      if (missing > 0) this.declareLost(missing);
    }
    this.reportFin();
  }

  /** A receiver reads nothing past the FIN (RFC 9293 §3.10.7.4: the FIN is the last octet). */
  private beforeFin(seq: number, payload: Buffer): Buffer {
    if (this.finSeq === undefined) return payload;
    const room = seqDiff(this.finSeq, seq);
    if (room >= payload.length) return payload;
    return room <= 0 ? EMPTY : payload.subarray(0, room);
  }

  private deliver(bytes: Buffer): void {
    this.next = seqAdd(this.next, bytes.length);
    this.sink.data(bytes);
  }

  private declareLost(length: number): void {
    this.next = seqAdd(this.next, length);
    this.gaps += length;
    this.sink.gap(length);
  }

  private declareFirstHoleLost(): void {
    this.declareLost(seqDiff(this.heldStarts[0]!, this.next));
    this.drainHeld();
  }

  /** Delivers the held ranges the delivery point reached, trimming what was already delivered. */
  private drainHeld(): void {
    const starts = this.heldStarts;
    const data = this.heldData;
    while (starts.length > 0) {
      const offset = seqDiff(starts[0]!, this.next);
      if (offset > 0) return;
      const bytes = data[0]!;
      starts.shift();
      data.shift();
      this.held -= bytes.length;
      if (bytes.length + offset <= 0) {
        this.duplicates += bytes.length;
      } else {
        this.duplicates -= offset;
        this.deliver(offset === 0 ? bytes : bytes.subarray(-offset));
      }
    }
  }

  /** Keeps the parts of [seq, seq + bytes.length) that no held range covers yet. */
  private hold(seq: number, bytes: Buffer): void {
    const starts = this.heldStarts;
    const data = this.heldData;
    let placed = 0;
    let i = 0;
    while (placed < bytes.length) {
      const at = seqAdd(seq, placed);
      while (i < starts.length && seqLe(seqAdd(starts[i]!, data[i]!.length), at)) i++;
      const uncovered = i < starts.length ? Math.min(seqDiff(starts[i]!, at), bytes.length - placed) : Infinity;
      if (uncovered > 0) {
        const piece = Buffer.from(bytes.subarray(placed, uncovered === Infinity ? bytes.length : placed + uncovered));
        starts.splice(i, 0, at);
        data.splice(i, 0, piece);
        this.held += piece.length;
        placed += piece.length;
        i++;
        continue;
      }
      // `at` lies inside range i: those bytes are held already.
      const covered = Math.min(seqDiff(seqAdd(starts[i]!, data[i]!.length), at), bytes.length - placed);
      this.duplicates += covered;
      placed += covered;
      i++;
    }
  }

  private reportFin(): void {
    if (this.finSeq === undefined || this.finReported || !seqLe(this.finSeq, this.next)) return;
    this.finReported = true;
    this.sink.fin();
  }
}
