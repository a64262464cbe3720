/**
 * When each packet of a capture file is due in an offline replay (docs/upstream.md §4):
 * capture time since the first packet, divided by the speed-up (-a), minus the gaps skipped
 * (-I: a gap between consecutive packets longer than this is fast-forwarded). Pure: times in ms.
 */
export class ReplaySchedule {
  private origin: number | undefined;
  private startedAt = 0;
  private last = 0;
  private skipped = 0;

  constructor(
    private readonly speedup: number,
    private readonly gapSkipMs: number,
  ) {}

  /** Milliseconds from `now` until the packet captured at `capturedMs` is due (<= 0: now). */
  delay(capturedMs: number, now: number): number {
    if (this.origin === undefined) {
      this.origin = capturedMs;
      this.startedAt = now;
      this.last = capturedMs;
      return 0;
    }
    const gap = capturedMs - this.last;
    if (this.gapSkipMs > 0 && gap > this.gapSkipMs) this.skipped += gap;
    this.last = Math.max(this.last, capturedMs);
    return this.startedAt + (capturedMs - this.origin - this.skipped) / this.speedup - now;
  }

  /** A new pass over the file: its first packet is due at once (upstream restarts the timeline). */
  restart(): void {
    this.origin = undefined;
    this.skipped = 0;
  }
}
