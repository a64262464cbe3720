/**
 * A captured client connection and its replicas (one session per -n copy): which of them are
 * live, why the others are gone, whether its client has shown it is real (a SYN flood's never
 * do), and how many replicas still linger on their tuples.
 */
import type { PayloadDropReason } from './counters.js';
import type { Session } from './session.js';

export class Flow {
  readonly sessions: Session[] = [];
  /** Per replica this flow should have but has not (any more): why. Its share of each new
   *  segment is dropped for that reason (loss accounting, counters.ts). */
  readonly gone: PayloadDropReason[] = [];
  /** Replicas closed but still lingering on their tuples: the flow absorbs its client's late
   *  packets until they are gone, instead of starting a session joined mid-stream. */
  lingering = 0;

  constructor(
    readonly key: number,
    readonly targetIndex: number,
    readonly isn: number,
    /** The client sent something after its SYN: the flow is no longer half-open. */
    public confirmed: boolean,
  ) {}

  /** The client sent something after its SYN; true when that ends the flow's half-open state. */
  confirm(): boolean {
    if (this.confirmed) return false;
    this.confirmed = true;
    return true;
  }

  /**
   * A replica closed (possibly from inside a loop over `sessions`, which allows for it): it
   * lingers, and its share of later segments is dropped for its end reason. True when the flow
   * thereby stops being half-open: no replica is left to wait for its client.
   */
  replicaClosed(session: Session): boolean {
    this.sessions.splice(this.sessions.indexOf(session), 1);
    this.gone.push(session.endReason!);
    this.lingering++;
    return this.sessions.length === 0 && this.confirm();
  }

  /** A replica's linger ended; true when the flow has nothing left and can be forgotten. */
  lingerEnded(): boolean {
    return --this.lingering === 0 && this.sessions.length === 0;
  }
}
