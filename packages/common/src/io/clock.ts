/** Time as the daemons see it: injected, so engines and tests run on a fake clock. */

export interface Clock {
  /** Milliseconds from an arbitrary origin; never goes backwards (not wall-clock time). */
  now(): number;
}

/** performance.now(): monotonic, sub-millisecond, unaffected by wall-clock steps. */
export const systemClock: Clock = {
  now: () => performance.now(),
};
