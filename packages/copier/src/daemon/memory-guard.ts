/**
 * -m as a hard cap on the process's resident memory. The engine checks its own estimate before
 * every new session (Engine.memoryInUse), but that counts what sessions hold, not what the
 * process does: V8 lets its heap grow to two or three times the live data between full
 * collections, and at overload the resident set passed -m by half with the estimate well under
 * it (docs/benchmarks.md). So the resident set is also measured (every MEMORY_GUARD_POLL_MS once
 * past half of -m, else every MEMORY_GUARD_IDLE_POLL_MS: a look costs ~50 µs), with the spill
 * area counted as full (it may fill before the next look). Above 11/16 of -m V8 is asked
 * for a full collection (at most once per MEMORY_COLLECT_INTERVAL_MS), which gives the heap's
 * garbage back to the system; above 13/16 new sessions are shed until it is back under (what is
 * admitted between two looks, and V8 returning pages late, took up to 1/10 of -m beyond).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Logger, PacketSource } from '@tcpcopy/common';

export const MEMORY_GUARD_POLL_MS = 50;
export const MEMORY_GUARD_IDLE_POLL_MS = 1000;
export const MEMORY_COLLECT_INTERVAL_MS = 1000;
export const MEMORY_COLLECT_AT = 11 / 16;
export const MEMORY_SHED_AT = 13 / 16;
/** While the pressure goes on, the warning is repeated this rarely. */
export const MEMORY_PRESSURE_REPEAT_MS = 60_000;

export interface MemoryReadings {
  /** The process's resident set now. */
  rss(): number;
  /** What the capture's spill area holds now, and may hold at most. */
  spillHeld(): number;
  readonly spillCapacity: number;
}

export interface MemoryGuardCounters {
  /** Times the resident set came near -m. */
  pressureEpisodes: number;
  /** Full collections asked of V8. */
  collections: number;
}

export class MemoryGuard {
  readonly counters: MemoryGuardCounters = { pressureEpisodes: 0, collections: 0 };
  /** True while new sessions are shed for the resident set. */
  pressure = false;
  private collectedAt = -Infinity;
  private warnedAt = -Infinity;
  private poll: NodeJS.Timeout | undefined;

  constructor(
    private readonly limitBytes: number,
    private readonly readings: MemoryReadings,
    /** A full garbage collection, when the runtime lets us ask for one. */
    private readonly collect: (() => void) | undefined,
    private readonly onPressure: (pressure: boolean) => void,
    private readonly log: Logger,
  ) {}

  /** Looks from now on until stop(), the more often the nearer the cap. */
  start(now: () => number): void {
    const look = (): void => {
      this.poll = setTimeout(
        look,
        this.check(now()) > this.limitBytes / 2 ? MEMORY_GUARD_POLL_MS : MEMORY_GUARD_IDLE_POLL_MS,
      );
      this.poll.unref();
    };
    look();
  }

  stop(): void {
    clearTimeout(this.poll);
  }

  /** The resident set as it could be before the next look: the spill area full. */
  projectedBytes(): number {
    const r = this.readings;
    return r.rss() - r.spillHeld() + r.spillCapacity;
  }

  /** Returns the projected resident set. */
  check(now: number): number {
    const projected = this.projectedBytes();
    // Garbage is collected before new sessions are refused for it.
    if (projected > this.limitBytes * MEMORY_COLLECT_AT && this.collect !== undefined) {
      if (now - this.collectedAt >= MEMORY_COLLECT_INTERVAL_MS) {
        this.collectedAt = now;
        this.counters.collections++;
        this.collect();
      }
    }
    // No hysteresis: a resume threshold lower than this one can lie below what the process holds
    // with few sessions (the runtime, the ring, the pages V8 and malloc keep).
    const pressure = projected > this.limitBytes * MEMORY_SHED_AT;
    if (pressure !== this.pressure) {
      if (pressure) this.counters.pressureEpisodes++;
      this.pressure = pressure;
      this.onPressure(pressure);
    }
    if (!pressure || now - this.warnedAt < MEMORY_PRESSURE_REPEAT_MS) return projected;
    this.warnedAt = now;
    this.log.warn(
      { residentMB: mib(this.readings.rss()), projectedMB: mib(projected), maxMemoryMB: mib(this.limitBytes) },
      'resident memory is near -m: new sessions are shed until it falls (raise -m, or lower -B)',
    );
    return projected;
  }
}

function mib(bytes: number): number {
  return Math.round(bytes / (1 << 20));
}

/**
 * V8's full collection, as `node --expose-gc` gives it. The flag is set at run time so that a
 * daemon started as `tcpcopy ...` has it too; only contexts made after it see `gc`.
 */
export function v8FullCollection(): (() => void) | undefined {
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('typeof gc === "function" ? gc : undefined');
    return typeof gc === 'function' ? () => void gc() : undefined;
  } catch {
    return undefined;
  }
}

/** What -m leaves sessions (the engine's budget), and what to warn an operator of at start. */
export interface SessionRoom {
  readonly budgetBytes: number;
  readonly warning?: string;
  readonly fields: { maxMemoryMB: number; fixedMB: number };
}

/**
 * The room -m leaves sessions once `fixedBytes` are held (the runtime at start, the capture ring
 * and the spill area at its fullest). None: every new session is shed. Little: the guard's
 * threshold (MEMORY_SHED_AT) is passed before the first packet, so sessions are held to an eighth
 * of their budget for good.
 */
export function sessionRoom(limitBytes: number, fixedBytes: number): SessionRoom {
  const budgetBytes = Math.max(0, limitBytes - fixedBytes);
  const fields = { maxMemoryMB: mib(limitBytes), fixedMB: Math.ceil(fixedBytes / (1 << 20)) };
  const warning =
    budgetBytes === 0
      ? 'the -m cap leaves no room for sessions: every new session is shed (raise -m or lower -B)'
      : fixedBytes > limitBytes * MEMORY_SHED_AT
        ? 'the -m cap leaves little room for sessions: most new sessions will be shed (raise -m or lower -B)'
        : undefined;
  return warning === undefined ? { budgetBytes, fields } : { budgetBytes, fields, warning };
}

/** This process's resident set, and the spill area of `source` when it has one (-B). */
export function processMemoryReadings(source: PacketSource, spillCapacity: number): MemoryReadings {
  return {
    rss: () => process.memoryUsage.rss(),
    spillHeld: () => source.stats().spillHeldBytes ?? 0,
    spillCapacity,
  };
}
