/**
 * SYNs held back while too many flows are half-open (engine.ts): a SYN flood's spoofed sources
 * never complete a handshake, so each of their SYNs costs one small record here instead of a
 * session, routes on every intercept and a SYN to the test server. The client's handshake ACK
 * shows a SYN was real: its record is taken and the session starts then, one client round trip
 * later than it would have.
 *
 * Records live in a Map in arrival order (a retransmitted SYN moves to the end), so the oldest
 * are expired first, and never more than `capacity` are held.
 */
import type { Segment } from './segment.js';

interface PendingSyn {
  readonly syn: Segment;
  at: number;
}

export class PendingSyns {
  private readonly records = new Map<number, PendingSyn>();
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
    this.records.delete(key);
    this.records.set(key, { syn, at: now });
    let dropped = this.expire(now);
    for (const oldest of this.records.keys()) {
      if (this.records.size <= this.capacity) break;
      this.records.delete(oldest);
      dropped++;
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
    this.records.delete(key);
    this.records.set(key, held);
    held.at = now;
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
    for (const [key, held] of this.records) {
      if (now - held.at < this.ttlMs) break;
      this.records.delete(key);
      dropped++;
    }
    return dropped;
  }
}
