/**
 * The host's IPv4 addresses while tcpcopy runs. Traffic to an -x port counts as production's when
 * it is addressed to one of them (capture-filter.ts), so a virtual address moving in (keepalived
 * failing over, a cloud's secondary address) is production traffic from then on, and one moving
 * out no longer is. The address list is read every ADDRESS_POLL_MS (a cheap read of the
 * kernel's table); a change rebuilds the capture filter, which the kernel swaps atomically.
 */
import { ipv4ToString, type Logger } from '@tcpcopy/common';

/** A VIP is copied within two polls of its arrival (the brief's promise: within 2 s). */
export const ADDRESS_POLL_MS = 1000;

export interface AddressChange {
  readonly added: readonly number[];
  readonly removed: readonly number[];
  readonly current: readonly number[];
}

/** The difference between successive reads of the address list (pure apart from `read`). */
export class AddressWatch {
  private known: Set<number>;

  constructor(
    private readonly read: () => readonly number[],
    initial: readonly number[],
  ) {
    this.known = new Set(initial);
  }

  /** What changed since the last call (or since `initial`), or undefined when nothing did. */
  poll(): AddressChange | undefined {
    const now = new Set(this.read());
    const added = [...now].filter((ip) => !this.known.has(ip));
    const removed = [...this.known].filter((ip) => !now.has(ip));
    if (added.length === 0 && removed.length === 0) return undefined;
    this.known = now;
    return { added, removed, current: [...now] };
  }
}

export interface FollowOptions {
  readonly watch: AddressWatch;
  /** The capture filter for these addresses. */
  readonly filterFor: (addresses: readonly number[]) => string;
  readonly setFilter: (filter: string) => void;
  /** Called once per change the capture follows. */
  readonly counted: () => void;
  readonly log: Logger;
}

/** Polls until the returned function is called; each change is logged and counted. */
export function followHostAddresses(opts: FollowOptions): () => void {
  const timer = setInterval(() => {
    const change = opts.watch.poll();
    if (change === undefined) return;
    const filter = opts.filterFor(change.current);
    try {
      opts.setFilter(filter);
    } catch (err) {
      opts.log.error({ err, filter }, 'host addresses changed, but the capture filter could not follow');
      return;
    }
    opts.counted();
    opts.log.info(
      { added: change.added.map(ipv4ToString), removed: change.removed.map(ipv4ToString), filter },
      'host addresses changed: the capture follows',
    );
  }, ADDRESS_POLL_MS);
  timer.unref();
  return () => clearInterval(timer);
}
