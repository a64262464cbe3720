/**
 * A min-heap of deadlines for many sessions, with lazy cancellation: re-arming a session pushes
 * a new entry with a bumped generation and stale entries are skipped when they surface. One heap
 * for the whole engine replaces upstream's per-session timer whose type was overwritten by
 * whichever timer was armed last (docs/upstream.md §2).
 */

export interface TimerOwner {
  /** Generation of the currently valid deadline; entries with another value are stale. */
  timerGeneration: number;
  /** The armed deadline in ms, or Infinity when none. */
  timerDeadline: number;
}

interface Entry<T extends TimerOwner> {
  deadline: number;
  generation: number;
  owner: T;
}

export class TimerHeap<T extends TimerOwner> {
  private readonly entries: Entry<T>[] = [];

  get size(): number {
    return this.entries.length;
  }

  /** Arms (or re-arms) owner's single deadline. Earlier armed deadlines become stale. */
  arm(owner: T, deadline: number): void {
    if (owner.timerDeadline === deadline) return;
    owner.timerGeneration++;
    owner.timerDeadline = deadline;
    if (deadline === Infinity) return;
    this.push({ deadline, generation: owner.timerGeneration, owner });
  }

  disarm(owner: T): void {
    this.arm(owner, Infinity);
  }

  /** Earliest live deadline, or Infinity. Drops stale entries it meets on the way. */
  peekDeadline(): number {
    for (;;) {
      const top = this.entries[0];
      if (top === undefined) return Infinity;
      if (top.generation === top.owner.timerGeneration) return top.deadline;
      this.pop();
    }
  }

  /** Removes and returns every owner whose live deadline is <= now, earliest first. */
  popExpired(now: number, into: T[]): T[] {
    for (;;) {
      const top = this.entries[0];
      if (top === undefined || top.deadline > now) return into;
      this.pop();
      if (top.generation !== top.owner.timerGeneration) continue;
      top.owner.timerDeadline = Infinity;
      into.push(top.owner);
    }
  }

  private push(entry: Entry<T>): void {
    const a = this.entries;
    a.push(entry);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = a[parent]!;
      if (p.deadline <= entry.deadline) break;
      a[i] = p;
      i = parent;
    }
    a[i] = entry;
  }

  private pop(): void {
    const a = this.entries;
    const last = a.pop();
    if (last === undefined || a.length === 0) return;
    let i = 0;
    const n = a.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const child = r < n && a[r]!.deadline < a[l]!.deadline ? r : l;
      if (a[child]!.deadline >= last.deadline) break;
      a[i] = a[child]!;
      i = child;
    }
    a[i] = last;
  }
}
