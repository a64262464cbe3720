/**
 * SIGTERM and SIGINT, caught from the first line of each bin: loading the daemon's modules takes
 * a tenth of a second or more, and a signal's default action then would kill the process with
 * status 143 (no final stats, a pid file left behind). This module imports nothing, so the bin
 * can load it before anything else.
 */

/** The signals that stop a daemon cleanly. */
export const STOP_SIGNALS = ['SIGTERM', 'SIGINT'] as const;
export type StopSignal = (typeof STOP_SIGNALS)[number];

/** Stop requests of one process: the first signal counts, repeats change nothing. */
export interface StopRequests {
  /** The first stop signal received, if one was. */
  readonly signal: StopSignal | undefined;
  /** Resolves with the first stop signal: at once when it came before anyone asked. */
  readonly requested: Promise<StopSignal>;
}

/** What catchStopSignals listens on: the process, or a test's emitter. */
export interface SignalSource {
  on(signal: StopSignal, listener: () => void): unknown;
}

/** Takes SIGTERM and SIGINT over from their default action for the rest of the process's life. */
export function catchStopSignals(source: SignalSource): StopRequests {
  let signal: StopSignal | undefined;
  let resolve: (signal: StopSignal) => void = () => {};
  const requested = new Promise<StopSignal>((r) => (resolve = r));
  for (const s of STOP_SIGNALS) {
    source.on(s, () => {
      signal ??= s;
      resolve(signal);
    });
  }
  return {
    get signal() {
      return signal;
    },
    requested,
  };
}
