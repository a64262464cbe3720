/**
 * SYNs held back while too many flows are half-open (engine.ts): a SYN flood's spoofed sources
 * never complete a handshake, so each of their SYNs costs one small record here instead of a
 * session, routes on every intercept and a SYN to the test server. The client's handshake ACK
 * shows a SYN was real: its record is taken and the session starts then, one client round trip
 * later than it would have.
 *
 * Records are found by client in a Map and age in a FIFO of their own, oldest first (a
 * retransmitted SYN's record is queued again and its old place skipped). Expiring from the
 * front of the Map itself would be quadratic: V8 leaves deleted entries in place until it
 * rehashes, and every walk from the front steps over all of them (at 10,000 SYNs/s, the
 * copier stopped answering).
 */
import type { Segment } from './segment.js';

interface PendingSyn {
  readonly key: number;
  readonly syn: Segment;
  at: number;
}

/** The FIFO's consumed head is cut off past this many entries. */
const COMPACT_AT = 1024;

export class PendingSyns {
  private readonly records = new Map<number, PendingSyn>();
  /** Every record in the order it was (re)queued; entries whose record moved on are stale. */
  private readonly fifo: PendingSyn[] = [];
  /** The `at` each FIFO entry was queued with: stale when its record's `at` changed since. */
  private readonly queuedAt: number[] = [];
  private head = 0;
  private readonly capacity: number;
  private readonly ttlMs: number;

  constructor(capacity: number, ttlMs: number) {
    this.capacity = capacity;
    this.ttlMs = ttlMs;
  }

  get size(): number {
    return this.records.size;
  }

  /**
   * Holds the SYN of client `key`, replacing any other held for it. Returns how many records
   * were dropped to make room or for their age.
   */
  hold(key: number, syn: Segment, now: number): number {
    const record: PendingSyn = { key, syn, at: now };
    this.records.set(key, record);
    this.queue(record);
    let dropped = this.expire(now);
    while (this.records.size > this.capacity && this.head < this.fifo.length) {
      const oldest = this.takeHead();
      if (oldest !== undefined) {
        this.records.delete(oldest.key);
        dropped++;
      }
    }
    return dropped;
  }

  /**
   * Whether `key`'s SYN with this ISN is held: the client retransmitted it, so its handshake is
   * still under way and its record starts a new TTL.
   */
  retransmitted(key: number, isn: number, now: number): boolean {
    const held = this.records.get(key);
    if (held?.syn.seq !== isn) return false;
    held.at = now;
    this.queue(held);
    return true;
  }

  /**
   * The held SYN that a client segment starting at `seq` follows (seq = ISN + 1: the handshake
   * ACK, or the first data), removed. Any other segment leaves the record alone.
   */
  take(key: number, seq: number): Segment | undefined {
    const held = this.records.get(key);
    if (held === undefined || ((held.syn.seq + 1) | 0) !== (seq | 0)) return undefined;
    this.records.delete(key);
    return held.syn;
  }

  /** Forgets `key`'s record (the client reset the connection). */
  drop(key: number): void {
    this.records.delete(key);
  }

  /** Drops the records older than the TTL; returns how many. */
  expire(now: number): number {
    let dropped = 0;
    while (this.head < this.fifo.length && now - this.queuedAt[this.head]! >= this.ttlMs) {
      const record = this.takeHead();
      if (record === undefined) continue;
      this.records.delete(record.key);
      dropped++;
    }
    return dropped;
  }

  private queue(record: PendingSyn): void {
    this.fifo.push(record);
    this.queuedAt.push(record.at);
  }

  /** The FIFO's head entry, if it is still its record's latest place and the record is held. */
  private takeHead(): PendingSyn | undefined {
    const record = this.fifo[this.head]!;
    const at = this.queuedAt[this.head]!;
    this.head++;
    if (this.head > COMPACT_AT && this.head * 2 > this.fifo.length) {
      this.fifo.splice(0, this.head);
      this.queuedAt.splice(0, this.head);
      this.head = 0;
    }
    return record.at === at && this.records.get(record.key) === record ? record : undefined;
  }
}
