/**
 * A closed session's tuple while it lingers: the TIME-WAIT analogue (RFC 9293 §3.10.7.4) that
 * keeps a new session off the tuple while the test server may still send on it, and answers
 * what it sends. A session's queues, timers, RTT and congestion state are dropped when it
 * closes; this keeps the dozen numbers its answers need. A busy copier holds every session of
 * the last few seconds so (10,000 requests/s make 60,000), at ~1/10 of a session's heap
 * (`pnpm bench`, docs/benchmarks.md).
 *
 * Pure: packets go out through the SessionContext.
 */
import { TcpFlag, type TcpOptionsSpec, type TcpView } from '@tcpcopy/common/packet';
import type { SessionEndReason } from './counters.js';
import { seqAdd, seqLe } from './seq.js';
import type { SessionContext } from './session.js';
import { writeMadePacket, type Tuple } from './wire.js';

/** What a closing session hands over (Session.lingering). */
export interface LingerState {
  readonly tuple: Tuple;
  readonly endReason: SessionEndReason;
  /** When the tuple is freed and its route withdrawn. */
  readonly until: number;
  /** Ended by the FIN exchange in both directions: retransmitted FINs are acknowledged. */
  readonly closedCleanly: boolean;
  /** Everything the test server sent up to here was acknowledged. */
  readonly rcvNxt: number;
  readonly sndNxt: number;
  readonly sndMax: number;
  /** Window field of our ACKs. */
  readonly window: number;
  readonly ipId: number;
  readonly tsOn: boolean;
  readonly tsVal: number;
  readonly tsEcr: number;
}

export class Lingering {
  readonly tuple: Tuple;
  readonly endReason: SessionEndReason;
  readonly until: number;
  private readonly ctx: SessionContext;
  private readonly closedCleanly: boolean;
  private readonly rcvNxt: number;
  private readonly sndNxt: number;
  private readonly sndMax: number;
  private readonly window: number;
  private ipId: number;
  private readonly tsOn: boolean;
  private readonly tsVal: number;
  private readonly tsEcr: number;

  constructor(ctx: SessionContext, s: LingerState) {
    this.ctx = ctx;
    this.tuple = s.tuple;
    this.endReason = s.endReason;
    this.until = s.until;
    this.closedCleanly = s.closedCleanly;
    this.rcvNxt = s.rcvNxt;
    this.sndNxt = s.sndNxt;
    this.sndMax = s.sndMax;
    this.window = s.window;
    this.ipId = s.ipId;
    this.tsOn = s.tsOn;
    this.tsVal = s.tsVal;
    this.tsEcr = s.tsEcr;
  }

  /** A header record of a packet the test server sent to this tuple after the session closed. */
  onTargetPacket(tcp: TcpView): void {
    if (this.closedCleanly && this.isOldDuplicate(tcp)) {
      // A retransmitted FIN (our last ACK was lost) or a late duplicate is acknowledged, as
      // Linux does in TIME-WAIT, rather than resetting a clean close.
      this.send(this.sndNxt, this.rcvNxt, TcpFlag.ACK);
      return;
    }
    if ((tcp.payloadLength > 0 || tcp.flags & (TcpFlag.SYN | TcpFlag.FIN)) && !(tcp.flags & TcpFlag.RST)) {
      this.ctx.counters.resetsToStrays++;
      this.send(tcp.flags & TcpFlag.ACK ? tcp.ack : this.sndMax, 0, TcpFlag.RST);
    }
  }

  /** Data or FIN the test server sent before, entirely at or below what we acknowledged. */
  private isOldDuplicate(tcp: TcpView): boolean {
    const flags = tcp.flags;
    if (flags & (TcpFlag.SYN | TcpFlag.RST) || (tcp.payloadLength === 0 && !(flags & TcpFlag.FIN))) return false;
    return seqLe(seqAdd(tcp.seq, tcp.payloadLength + (flags & TcpFlag.FIN ? 1 : 0)), this.rcvNxt);
  }

  private send(seq: number, ack: number, flags: number): void {
    this.ipId = (this.ipId + 1) & 0xffff;
    const rst = (flags & TcpFlag.RST) !== 0;
    const options: TcpOptionsSpec | undefined =
      !rst && this.tsOn ? { timestamps: { val: this.tsVal, ecr: this.tsEcr } } : undefined;
    const length = writeMadePacket(this.ctx.scratch.buf, this.tuple, {
      seq,
      ack,
      flags,
      window: rst ? 0 : this.window,
      ipId: this.ipId,
      options,
    });
    this.ctx.inject(length, this.tuple.dstIp);
  }
}

/** Past this many consumed records, LingerQueue cuts its head off. */
const COMPACT_AT = 1024;

/**
 * Lingering records in the order their sessions closed, which is the order their linger ends
 * (lingerMs is the same for all), each with its owner (the engine's flow).
 */
export class LingerQueue<O> {
  private readonly records: Lingering[] = [];
  private readonly owners: O[] = [];
  private head = 0;

  push(record: Lingering, owner: O): void {
    this.records.push(record);
    this.owners.push(owner);
  }

  /** Records lingering now. */
  get size(): number {
    return this.records.length - this.head;
  }

  /** When the oldest linger ends (Infinity when none). */
  get nextUntil(): number {
    return this.records[this.head]?.until ?? Infinity;
  }

  /** Hands every record whose linger ended by `now` (all with Infinity) to `each`, oldest first. */
  popDue(now: number, each: (record: Lingering, owner: O) => void): void {
    while (this.head < this.records.length && this.records[this.head]!.until <= now) {
      const i = this.head++;
      each(this.records[i]!, this.owners[i]!);
    }
    // Drop the consumed prefix once it outweighs the rest: amortised O(1) per record.
    if (this.head > COMPACT_AT && this.head * 2 > this.records.length) {
      this.records.splice(0, this.head);
      this.owners.splice(0, this.head);
      this.head = 0;
    }
  }
}
