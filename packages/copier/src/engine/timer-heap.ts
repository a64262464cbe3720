/**
 * A min-heap of deadlines for many sessions, each owner in it at most once and knowing its own
 * position: re-arming moves it, disarming removes it, both in O(log n). One heap for the whole
 * engine replaces upstream's per-session timer whose type was overwritten by whichever timer
 * was armed last (docs/upstream.md §2).
 *
 * The owners are the entries: arming allocates nothing, and a disarmed owner is no longer
 * referenced. (A heap that cancelled lazily kept every closed session alive until its last
 * deadline surfaced, up to the keep-alive timeout later: at 10,000 requests/s, millions.)
 */

export interface TimerOwner {
  /** The armed deadline in ms, or Infinity when none. */
  timerDeadline: number;
  /** Position in the heap; -1 when not in it. Owned by the heap. */
  timerIndex: number;
}

export class TimerHeap<T extends TimerOwner> {
  private readonly entries: T[] = [];

  get size(): number {
    return this.entries.length;
  }

  /** Arms (or re-arms) owner's single deadline; Infinity disarms it. */
  arm(owner: T, deadline: number): void {
    if (deadline === Infinity) {
      this.disarm(owner);
      return;
    }
    const was = owner.timerDeadline;
    owner.timerDeadline = deadline;
    if (owner.timerIndex < 0) {
      owner.timerIndex = this.entries.length;
      this.entries.push(owner);
      this.siftUp(owner.timerIndex);
    } else if (deadline < was) this.siftUp(owner.timerIndex);
    else if (deadline > was) this.siftDown(owner.timerIndex);
  }

  disarm(owner: T): void {
    owner.timerDeadline = Infinity;
    const i = owner.timerIndex;
    if (i < 0) return;
    owner.timerIndex = -1;
    const last = this.entries.pop()!;
    if (last === owner) return;
    this.entries[i] = last;
    last.timerIndex = i;
    this.siftUp(i);
    this.siftDown(last.timerIndex);
  }

  /** Earliest deadline, or Infinity. */
  peekDeadline(): number {
    return this.entries[0]?.timerDeadline ?? Infinity;
  }

  /** Removes and returns every owner whose deadline is <= now, earliest first. */
  popExpired(now: number, into: T[]): T[] {
    for (;;) {
      const top = this.entries[0];
      if (top === undefined || top.timerDeadline > now) return into;
      this.disarm(top);
      into.push(top);
    }
  }

  private siftUp(i: number): void {
    const a = this.entries;
    const owner = a[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = a[parent]!;
      if (p.timerDeadline <= owner.timerDeadline) break;
      a[i] = p;
      p.timerIndex = i;
      i = parent;
    }
    a[i] = owner;
    owner.timerIndex = i;
  }

  private siftDown(i: number): void {
    const a = this.entries;
    const n = a.length;
    const owner = a[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const child = r < n && a[r]!.timerDeadline < a[l]!.timerDeadline ? r : l;
      const c = a[child]!;
      if (c.timerDeadline >= owner.timerDeadline) break;
      a[i] = c;
      c.timerIndex = i;
      i = child;
    }
    a[i] = owner;
    owner.timerIndex = i;
  }
}
