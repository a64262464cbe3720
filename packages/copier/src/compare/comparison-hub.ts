/**
 * Where production's connections meet their copies, in bytes mode. Each production connection
 * (its client's address and port, as captured) gets a connection tap fed with what its client
 * and production sent; each copy gets its own tap, fed with what the copier sent the test server
 * and what the test server answered (intercept's payload records). When a copy ends, its
 * exchanges are compared with production's, and every comparison is handed to `onComparison`.
 *
 * Memory is bounded: at most `maxConnections` production connections are followed at once
 * (more are counted and not compared), each keeping `compareBytes` per answer (the recorder's
 * limit). A production connection is forgotten once it ended and its copies were compared.
 *
 * Pure: segments, times and events in; comparisons out. The daemon feeds it (not wired yet:
 * docs/compare.md).
 */
import { ConnectionTap, type TapLimits } from './connection-tap.js';
import { compareSession, type ExchangeComparison } from './exchange-compare.js';
import type { Exchange } from './exchange-recorder.js';

export interface HubLimits extends TapLimits {
  /** Production connections followed at once. */
  readonly maxConnections: number;
}

/** One copy of a production connection: where it went and which copy it is under -n. */
export interface CopyRef {
  readonly clientIp: number;
  readonly clientPort: number;
  readonly targetIp: number;
  readonly targetPort: number;
  readonly copy: number;
}

export interface HubCounters {
  /** Production connections not followed: maxConnections were followed already. */
  connectionsShed: number;
  compared: number;
  identical: number;
  different: number;
  /** Exchanges the capture missed bytes of, or whose turns the test side merged. */
  notComparable: number;
}

interface Production {
  readonly tap: ConnectionTap;
  readonly exchanges: Exchange[];
  /** Copies still running. */
  copies: number;
}

interface Copy {
  readonly ref: CopyRef;
  readonly production: Production;
  readonly productionKey: number;
  readonly tap: ConnectionTap;
  readonly exchanges: Exchange[];
}

/** An address and a port as one number (2^48 fits a double exactly). */
const PORTS = 0x10000;
const keyOf = (ip: number, port: number): number => (ip >>> 0) * PORTS + port;

export class ComparisonHub {
  readonly counters: HubCounters = { connectionsShed: 0, compared: 0, identical: 0, different: 0, notComparable: 0 };
  private readonly productions = new Map<number, Production>();
  /** By the copy's own client endpoint (the fake address and port the test server sees). */
  private readonly copies = new Map<number, Copy>();

  constructor(
    private readonly limits: HubLimits,
    private readonly onComparison: (copy: CopyRef, comparison: ExchangeComparison) => void,
  ) {}

  /** Production connections followed now. */
  get size(): number {
    return this.productions.size;
  }

  /**
   * A segment of production's connection with the client at `clientIp:clientPort`: sent by the
   * client, or by production to it. The connection is followed from its client's first segment.
   */
  productionSegment(
    fromClient: boolean,
    clientIp: number,
    clientPort: number,
    seq: number,
    flags: number,
    payload: Buffer,
    at: number,
  ): void {
    const key = keyOf(clientIp, clientPort);
    const production = this.production(key, fromClient);
    if (production === undefined) return;
    if (fromClient) production.tap.clientSegment(seq, flags, payload, at);
    else production.tap.serverSegment(seq, flags, payload, at);
    this.forgetIfDone(key, production);
  }

  /**
   * Production's connection will be seen no more (its session ended or went idle): what it holds
   * is its last exchange, and it is forgotten once its copies were compared.
   */
  productionGone(clientIp: number, clientPort: number, at: number): void {
    const key = keyOf(clientIp, clientPort);
    const production = this.productions.get(key);
    if (production === undefined) return;
    production.tap.abandon(at);
    this.forgetIfDone(key, production);
  }

  /** A copy of the production connection `ref` names starts, from `fakeIp:fakePort`. */
  copyStarted(ref: CopyRef, fakeIp: number, fakePort: number): void {
    const productionKey = keyOf(ref.clientIp, ref.clientPort);
    const production = this.productions.get(productionKey);
    if (production === undefined) return;
    production.copies++;
    const exchanges: Exchange[] = [];
    const tap = new ConnectionTap(this.limits, (e) => exchanges.push(e));
    this.copies.set(keyOf(fakeIp, fakePort), { ref, production, productionKey, tap, exchanges });
  }

  /** A segment the copier sent the test server for the copy at `fakeIp:fakePort`. */
  copyClient(fakeIp: number, fakePort: number, seq: number, flags: number, payload: Buffer, at: number): void {
    this.copies.get(keyOf(fakeIp, fakePort))?.tap.clientSegment(seq, flags, payload, at);
  }

  /** A segment the test server answered the copy at `fakeIp:fakePort` (from a payload record). */
  copyServer(fakeIp: number, fakePort: number, seq: number, flags: number, payload: Buffer, at: number): void {
    this.copies.get(keyOf(fakeIp, fakePort))?.tap.serverSegment(seq, flags, payload, at);
  }

  /** The copy ended: its exchanges are compared with production's so far. */
  copyEnded(fakeIp: number, fakePort: number, at: number): void {
    const key = keyOf(fakeIp, fakePort);
    const copy = this.copies.get(key);
    if (copy === undefined) return;
    this.copies.delete(key);
    copy.tap.abandon(at);
    for (const comparison of compareSession(copy.production.exchanges, copy.exchanges, true)) {
      this.count(comparison);
      this.onComparison(copy.ref, comparison);
    }
    copy.production.copies--;
    this.forgetIfDone(copy.productionKey, copy.production);
  }

  private production(key: number, mayStart: boolean): Production | undefined {
    const known = this.productions.get(key);
    if (known !== undefined || !mayStart) return known;
    if (this.productions.size >= this.limits.maxConnections) {
      this.counters.connectionsShed++;
      return undefined;
    }
    const exchanges: Exchange[] = [];
    const production: Production = {
      tap: new ConnectionTap(this.limits, (e) => exchanges.push(e)),
      exchanges,
      copies: 0,
    };
    this.productions.set(key, production);
    return production;
  }

  private forgetIfDone(key: number, production: Production): void {
    if (production.copies === 0 && production.tap.end !== undefined) this.productions.delete(key);
  }

  private count(comparison: ExchangeComparison): void {
    this.counters.compared++;
    if (comparison.outcome === 'identical') this.counters.identical++;
    else if (comparison.outcome === 'different') this.counters.different++;
    else this.counters.notComparable++;
  }
}
