/**
 * A session's buffered client segments in sequence order: a deque over an array whose consumed
 * head is compacted away lazily, so releasing acknowledged segments is O(1) amortised.
 */
import type { Segment } from './segment.js';

const COMPACT_AT = 64;

export class SegmentQueue {
  private items: Segment[] = [];
  private head = 0;
  /** Bytes of packet data held, for the per-session and global memory bounds. */
  bytes = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  at(i: number): Segment | undefined {
    return this.items[this.head + i];
  }

  first(): Segment | undefined {
    return this.items[this.head];
  }

  last(): Segment | undefined {
    return this.items[this.items.length - 1];
  }

  push(seg: Segment): void {
    this.items.push(seg);
    this.bytes += seg.packet.length;
  }

  shift(): Segment | undefined {
    const seg = this.items[this.head];
    if (seg === undefined) return undefined;
    this.head++;
    this.bytes -= seg.packet.length;
    if (this.head >= COMPACT_AT && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return seg;
  }

  /** Inserts keeping `key` ascending (stable for equal keys); used for out-of-order segments. */
  insertSorted(seg: Segment, before: (a: Segment, b: Segment) => boolean): void {
    let i = this.items.length;
    while (i > this.head && before(seg, this.items[i - 1]!)) i--;
    this.items.splice(i, 0, seg);
    this.bytes += seg.packet.length;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
    this.bytes = 0;
  }
}
