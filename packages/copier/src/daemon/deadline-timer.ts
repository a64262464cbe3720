/**
 * One Node timer for the whole engine: armed at the engine's earliest deadline and re-armed
 * only when that moves earlier, so per-packet work costs a comparison, not a timer.
 */
import type { Clock } from '@tcpcopy/common';

/** Deadlines closer than this are handled in one wake-up (Node timers have ~1 ms grain). */
const SLACK_MS = 1;

export class DeadlineTimer {
  private handle: NodeJS.Timeout | undefined;
  private armedFor = Infinity;
  private stopped = false;

  constructor(
    private readonly clock: Clock,
    private readonly nextDeadline: () => number,
    private readonly onExpire: (now: number) => void,
  ) {}

  /** Call after anything that may have created an earlier deadline. */
  poke(): void {
    if (this.stopped) return;
    const deadline = this.nextDeadline();
    if (deadline >= this.armedFor - SLACK_MS) return;
    this.arm(deadline);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.handle);
    this.handle = undefined;
  }

  private arm(deadline: number): void {
    clearTimeout(this.handle);
    this.armedFor = deadline;
    if (deadline === Infinity) {
      this.handle = undefined;
      return;
    }
    const delay = Math.max(0, deadline - this.clock.now());
    this.handle = setTimeout(() => setImmediate(this.fireNow), Math.ceil(delay));
  }

  /**
   * Timers run before the event loop polls for I/O: under load the test server's acks may already
   * be waiting in the control socket when a retransmission timer expires. Running the engine's
   * tick from setImmediate lets that poll phase deliver them first.
   */
  private readonly fireNow = (): void => this.fire();

  private fire(): void {
    this.handle = undefined;
    this.armedFor = Infinity;
    if (this.stopped) return;
    this.onExpire(this.clock.now());
    this.arm(this.nextDeadline());
  }
}
