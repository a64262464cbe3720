/**
 * Parking lot (upstream's "delay table", docs/upstream.md §5): a SYN-ACK or RST may be
 * captured before the routeAdd that tells us whose it is (the copier sends the route first, but
 * over another connection, or an intercept restarted). Such replies wait here, as copies of their
 * header records, and are handed over in arrival order when the route arrives.
 */
import { endpointKey } from './keys.js';

/** How long a parked reply waits for its route, as upstream. */
export const PARKING_TTL_MS = 30_000;
/** Bound on parked replies in total; the oldest is dropped (and counted) beyond it. */
export const PARKING_MAX_RECORDS = 65_536;

interface Parked {
  readonly clientKey: number;
  readonly targetKey: number;
  readonly parkedAtMs: number;
  readonly record: Buffer;
  /** Neighbours in arrival order across all flows (arrival order is also expiry order). */
  older: Parked | null;
  newer: Parked | null;
}

const NONE: readonly Buffer[] = [];

export class ParkingLot {
  /** Parked replies per fake client endpoint, oldest first (usually one flow, few replies). */
  private readonly byClient = new Map<number, Parked[]>();
  private oldest: Parked | null = null;
  private newest: Parked | null = null;
  private count = 0;

  constructor(
    readonly maxRecords = PARKING_MAX_RECORDS,
    readonly ttlMs = PARKING_TTL_MS,
  ) {}

  get size(): number {
    return this.count;
  }

  /**
   * Parks a copy of `buf[offset, offset + length)` for the flow. Returns how many older replies
   * were dropped to stay within maxRecords (0 or 1).
   */
  park(
    clientIp: number,
    clientPort: number,
    targetIp: number,
    targetPort: number,
    buf: Buffer,
    offset: number,
    length: number,
    nowMs: number,
  ): number {
    let dropped = 0;
    while (this.count >= this.maxRecords && this.oldest !== null) {
      this.removeOldest(this.oldest);
      dropped++;
    }
    const entry: Parked = {
      clientKey: endpointKey(clientIp, clientPort),
      targetKey: endpointKey(targetIp, targetPort),
      parkedAtMs: nowMs,
      record: Buffer.from(buf.subarray(offset, offset + length)),
      older: this.newest,
      newer: null,
    };
    if (this.newest !== null) this.newest.newer = entry;
    else this.oldest = entry;
    this.newest = entry;
    const list = this.byClient.get(entry.clientKey);
    if (list === undefined) this.byClient.set(entry.clientKey, [entry]);
    else list.push(entry);
    this.count++;
    return dropped;
  }

  /** Removes and returns the flow's parked records, oldest first (a shared empty array if none). */
  take(clientIp: number, clientPort: number, targetIp: number, targetPort: number): readonly Buffer[] {
    const clientKey = endpointKey(clientIp, clientPort);
    const list = this.byClient.get(clientKey);
    if (list === undefined) return NONE;
    const targetKey = endpointKey(targetIp, targetPort);
    const taken: Buffer[] = [];
    const kept: Parked[] = [];
    for (const entry of list) {
      if (entry.targetKey !== targetKey) {
        kept.push(entry);
        continue;
      }
      taken.push(entry.record);
      this.unlink(entry);
    }
    if (kept.length === 0) this.byClient.delete(clientKey);
    else this.byClient.set(clientKey, kept);
    return taken;
  }

  /** Drops replies parked for ttlMs or more; returns how many. */
  expire(nowMs: number): number {
    let n = 0;
    while (this.oldest !== null && nowMs - this.oldest.parkedAtMs >= this.ttlMs) {
      this.removeOldest(this.oldest);
      n++;
    }
    return n;
  }

  /** The globally oldest entry is also the first of its client's list (both are arrival-ordered). */
  private removeOldest(entry: Parked): void {
    const list = this.byClient.get(entry.clientKey);
    list?.shift();
    if (list?.length === 0) this.byClient.delete(entry.clientKey);
    this.unlink(entry);
  }

  private unlink(entry: Parked): void {
    if (entry.older !== null) entry.older.newer = entry.newer;
    else this.oldest = entry.newer;
    if (entry.newer !== null) entry.newer.older = entry.older;
    else this.newest = entry.older;
    this.count--;
  }
}
