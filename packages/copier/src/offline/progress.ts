/**
 * An offline replay's progress, for the operator who started it: on a terminal a bar redrawn in
 * place (share of the file done, packets, sessions, packets sent per second, time left);
 * otherwise, for logs
 * and journals, a line every PROGRESS_LOG_MS with the same figures.
 */
import type { Logger } from '@tcpcopy/common';

export const PROGRESS_REDRAW_MS = 250;
export const PROGRESS_LOG_MS = 10_000;
const BAR_WIDTH = 10;
const MS_PER_SECOND = 1000;
const SECONDS_PER_MINUTE = 60;

export interface ProgressFigures {
  /** Share of the replay done, 0 to 1. */
  readonly done: number;
  readonly packets: number;
  readonly sessions: number;
  /** Packets the copies sent so far. */
  readonly sent: number;
  readonly elapsedMs: number;
}

/** `m:ss`, or `h:mm:ss` from an hour on. */
function clock(ms: number): string {
  const total = Math.round(ms / MS_PER_SECOND);
  const seconds = String(total % SECONDS_PER_MINUTE).padStart(2, '0');
  const minutes = Math.floor(total / SECONDS_PER_MINUTE);
  if (minutes < SECONDS_PER_MINUTE) return `${minutes}:${seconds}`;
  const hours = Math.floor(minutes / SECONDS_PER_MINUTE);
  return `${hours}:${String(minutes % SECONDS_PER_MINUTE).padStart(2, '0')}:${seconds}`;
}

/** Time left at the pace so far; undefined before anything was done. */
export function timeLeftMs(f: ProgressFigures): number | undefined {
  return f.done > 0 ? (f.elapsedMs * (1 - f.done)) / f.done : undefined;
}

/** One line, at most 80 columns for any figure below a billion. */
export function formatProgressBar(f: ProgressFigures): string {
  const filled = Math.round(f.done * BAR_WIDTH);
  const bar = `[${'#'.repeat(filled)}${' '.repeat(BAR_WIDTH - filled)}]`;
  const percent = `${(f.done * 100).toFixed(0).padStart(3)}%`;
  const rate = f.elapsedMs > 0 ? Math.round((f.sent * MS_PER_SECOND) / f.elapsedMs) : 0;
  const left = timeLeftMs(f);
  const n = (x: number): string => x.toLocaleString('en-US');
  return `${bar} ${percent} ${n(f.packets)} pkts ${n(f.sessions)} sess ${n(rate)} out/s ${left === undefined ? '?' : clock(left)} left`;
}

export interface ProgressDisplay {
  /** Draws the last figures and ends the bar's line. */
  stop(): void;
}

/** A bar on `out` when it is a terminal, else a log line now and then. */
export function showProgress(
  figures: () => ProgressFigures,
  out: { isTTY?: boolean; write(s: string): unknown },
  log: Logger,
): ProgressDisplay {
  if (out.isTTY === true) {
    const draw = (): void => void out.write(`\r${formatProgressBar(figures())}\u001b[K`);
    const timer = setInterval(draw, PROGRESS_REDRAW_MS);
    timer.unref();
    return {
      stop: () => {
        clearInterval(timer);
        draw();
        out.write('\n');
      },
    };
  }
  const timer = setInterval(() => {
    const f = figures();
    const left = timeLeftMs(f);
    log.info(
      {
        donePercent: Math.round(f.done * 1000) / 10,
        packets: f.packets,
        sessions: f.sessions,
        sent: f.sent,
        leftSeconds: left === undefined ? null : Math.round(left / MS_PER_SECOND),
      },
      'replay progress',
    );
  }, PROGRESS_LOG_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
