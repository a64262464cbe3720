/**
 * Wakes the core only while response batches wait. A batch leaves when its oldest record is
 * maxDelayMs old (upstream: within ~2 ms, docs/upstream.md §5); instead of a 2 ms interval
 * that would wake an idle intercept 500 times a second, one timer is armed when a record is
 * batched and re-armed only while records younger than maxDelayMs remain.
 */
import type { Clock } from '@tcpcopy/common';

export class FlushTimer {
  private handle: NodeJS.Timeout | undefined;
  /** When the newest record was batched; batches started later than that cannot exist. */
  private lastBatchedMs = -Infinity;
  private stopped = false;

  /** `flush(now)` must send every batch whose oldest record is at least maxDelayMs old. */
  constructor(
    private readonly clock: Clock,
    private readonly maxDelayMs: number,
    private readonly flush: (nowMs: number) => void,
  ) {}

  /** A record was batched at `nowMs`. */
  poke(nowMs: number): void {
    this.lastBatchedMs = nowMs;
    if (this.handle === undefined && !this.stopped) this.arm(this.maxDelayMs);
  }

  /** True while a wake-up is scheduled. */
  get armed(): boolean {
    return this.handle !== undefined;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.handle);
    this.handle = undefined;
  }

  private arm(delayMs: number): void {
    // Node timers have a 1 ms grain and may fire up to ~1 ms early against performance.now():
    // a batch not yet due is simply caught by the next wake-up.
    this.handle = setTimeout(() => this.fire(), Math.max(1, Math.ceil(delayMs)));
  }

  private fire(): void {
    this.handle = undefined;
    if (this.stopped) return;
    const now = this.clock.now();
    this.flush(now);
    // Every batch whose first record is at or before now - maxDelayMs has left; a batch started
    // later holds records no older than lastBatchedMs, so this is exactly "something still waits".
    const youngest = now - this.lastBatchedMs;
    if (youngest < this.maxDelayMs) this.arm(this.maxDelayMs - youngest);
  }
}
