/**
 * Where production's connections meet their copies. A production connection (its client's address
 * and port, as captured) is followed from the moment a copy of it starts: its side (hub-side.ts) is
 * fed what its client and production sent. Each copy gets its own side, fed what the copier sent the
 * test server and what the test server answered (intercept's payload records). Each copy is
 * compared on its own against production's exchanges as both sides give them, and every
 * comparison is handed to `onComparison` with its diff-log record when it differs.
 *
 * - Modes (hub-side.ts): bytes mode pairs turns by their offset in the client's stream
 *   (exchange-compare.ts); HTTP mode pairs production's k-th request and response with the copy's
 *   k-th (http-tap.ts, http-exchange-compare.ts). A copy takes production's mode; both must have
 *   started parsing HTTP at the same request, else its exchanges are `unpaired`.
 * - Joined mid-stream (production's first segment is not a SYN): the exchanges before the first
 *   whole turn are not compared (hub-side.ts, `firstWhole`); the copy's stream starts at the same
 *   sequence number (the copier fakes its SYN), so the turns after it pair up by offset.
 * - A copy that ends before production is held: its remaining exchanges wait for production's,
 *   compared as production gives them and at its end (both FINs, a reset, or productionGone).
 * - Memory is bounded: at most `maxConnections` production connections are followed at once (more
 *   are shed, counted, and their copies not compared); each side keeps `compareBytes` per answer
 *   and only the exchanges some copy has not compared yet. A production connection is forgotten
 *   once it ended and all its copies were compared.
 *
 * Pure: segments, times and events in; comparisons out.
 */
import { ipv4ToString } from '@tcpcopy/common/packet';
import type { TapLimits } from './connection-tap.js';
import { pairTurn, type ComparisonOutcome } from './exchange-compare.js';
import { toDiffRecord, type DiffKind, type DiffRecord, type DiffSession } from './diff-record.js';
import type { HttpCompareRules } from './http-compare.js';
import { compareHttpExchange } from './http-exchange-compare.js';
import { HubSide, type SideMode } from './hub-side.js';

export interface HubLimits extends TapLimits {
  /** Production connections followed at once. */
  readonly maxConnections: number;
}

/** `--compare`: bytes always, HTTP always (falling back to bytes for what is not HTTP), or by sniffing. */
export type CompareMode = 'bytes' | 'http' | 'auto';

export interface HubOptions extends HubLimits {
  readonly mode: CompareMode;
  /** HTTP mode's rules (httpCompareRules: ignored headers, body masks). */
  readonly http: HttpCompareRules;
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
  /** Production exchanges compared with a copy's, whatever the outcome. */
  compared: number;
  identical: number;
  different: number;
  /** Exchanges the capture missed bytes of, or whose turns the test side merged. */
  notComparable: number;
  /** Differing exchanges by the kind reported. */
  readonly byKind: Record<DiffKind, number>;
  /** Production connections compared in HTTP mode. */
  httpConnections: number;
  /** Production connections that `--compare http` compared as bytes: their client did not speak HTTP/1.x. */
  httpFallbacks: number;
}

/** The hub's callback: once per production exchange per copy. */
export type OnComparison = (copy: CopyRef, outcome: ComparisonOutcome, record: DiffRecord | undefined) => void;

interface Production {
  readonly key: number;
  readonly side: HubSide;
  /** Copies not fully compared yet, running or ended and held. */
  readonly copies: CopyState[];
}

interface CopyState {
  readonly ref: CopyRef;
  /** The copy's own client endpoint (keyOf the fake address and port). */
  readonly fakeKey: number;
  readonly session: DiffSession;
  readonly production: Production;
  readonly side: HubSide;
  /** The next production exchange to compare, and the first test exchange not used yet. */
  cursor: number;
  testFrom: number;
  ended: boolean;
}

/** An address and a port as one number (2^48 fits a double exactly). */
const PORTS = 0x10000;
const keyOf = (ip: number, port: number): number => (ip >>> 0) * PORTS + port;

export class ComparisonHub {
  readonly counters: HubCounters = {
    connectionsShed: 0,
    compared: 0,
    identical: 0,
    different: 0,
    notComparable: 0,
    byKind: { length: 0, bytes: 0, hash: 0, timeout: 0, reset: 0, status: 0, headers: 0, body: 0 },
    httpConnections: 0,
    httpFallbacks: 0,
  };
  /** Production connections by client endpoint: the live one of each. */
  private readonly productions = new Map<number, Production>();
  /** Every production connection followed, also one whose endpoint a newer connection reuses. */
  private readonly followed = new Set<Production>();
  /** By the copy's own client endpoint (the fake address and port the test server sees). */
  private readonly copies = new Map<number, CopyState>();

  constructor(
    private readonly options: HubOptions,
    private readonly onComparison: OnComparison,
  ) {}

  /** Production connections followed now. */
  get size(): number {
    return this.followed.size;
  }

  /** An estimate of the bytes held: kept answer prefixes, reassembly holds, parser buffers. */
  get memoryBytes(): number {
    let bytes = 0;
    for (const production of this.followed) {
      bytes += production.side.memoryBytes;
      for (const copy of production.copies) bytes += copy.side.memoryBytes;
    }
    return bytes;
  }

  /**
   * A copy of the production connection `ref` names starts, from `fakeIp:fakePort`; production's
   * connection is followed from now on. False when it cannot be (maxConnections are followed
   * already, counted as shed): that copy is not compared.
   */
  copyStarted(ref: CopyRef, fakeIp: number, fakePort: number): boolean {
    const key = keyOf(ref.clientIp, ref.clientPort);
    let production = this.productions.get(key);
    if (production !== undefined && production.side.ended !== undefined) {
      // The client reuses the endpoint of a connection that ended: that one lives on for its copies.
      this.productions.delete(key);
      production = undefined;
    }
    if (production === undefined) {
      if (this.followed.size >= this.options.maxConnections) {
        this.counters.connectionsShed++;
        return false;
      }
      production = this.follow(key);
    }
    const fakeKey = keyOf(fakeIp, fakePort);
    const stale = this.copies.get(fakeKey);
    if (stale !== undefined) this.endCopy(fakeKey, stale, 0);
    const copy: CopyState = {
      ref,
      fakeKey,
      session: {
        client: `${ipv4ToString(ref.clientIp)}:${ref.clientPort}`,
        target: `${ipv4ToString(ref.targetIp)}:${ref.targetPort}`,
        copy: ref.copy,
      },
      production,
      side: new HubSide(
        this.options,
        () => {
          this.advance(copy);
          this.trim(production);
        },
        { mode: () => production.side.mode, joined: () => production.side.joined },
      ),
      cursor: 0,
      testFrom: 0,
      ended: false,
    };
    production.copies.push(copy);
    this.copies.set(fakeKey, copy);
    return true;
  }

  /**
   * A segment of production's connection with the client at `clientIp:clientPort`: sent by the
   * client, or by production to it. Ignored unless a copy of that connection started.
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
    const production = this.productions.get(keyOf(clientIp, clientPort));
    if (production === undefined) return;
    if (fromClient) production.side.tap.clientSegment(seq, flags, payload, at);
    else production.side.tap.serverSegment(seq, flags, payload, at);
  }

  /**
   * Production's connection will be seen no more (its session ended or went idle): what it holds
   * is its last exchange; its copies are compared to the end.
   */
  productionGone(clientIp: number, clientPort: number, at: number): void {
    this.productions.get(keyOf(clientIp, clientPort))?.side.tap.abandon(at);
  }

  /** A segment the copier sent the test server for the copy at `fakeIp:fakePort` (retransmissions too). */
  copyClient(fakeIp: number, fakePort: number, seq: number, flags: number, payload: Buffer, at: number): void {
    this.copies.get(keyOf(fakeIp, fakePort))?.side.tap.clientSegment(seq, flags, payload, at);
  }

  /** A segment the test server answered the copy at `fakeIp:fakePort` (from a payload record). */
  copyServer(fakeIp: number, fakePort: number, seq: number, flags: number, payload: Buffer, at: number): void {
    this.copies.get(keyOf(fakeIp, fakePort))?.side.tap.serverSegment(seq, flags, payload, at);
  }

  /**
   * The copy's tuple is released: it gives nothing more. Its exchanges are compared with
   * production's; those production has not given yet wait for it (held).
   */
  copyEnded(fakeIp: number, fakePort: number, at: number): void {
    const key = keyOf(fakeIp, fakePort);
    const copy = this.copies.get(key);
    if (copy !== undefined) this.endCopy(key, copy, at);
  }

  /**
   * Forgets every connection followed and every copy, comparing nothing more of them (the daemon
   * stops capturing production's answers); returns how many copies were dropped.
   */
  dropAll(): number {
    const dropped = this.copies.size;
    this.productions.clear();
    this.followed.clear();
    this.copies.clear();
    return dropped;
  }

  private follow(key: number): Production {
    const copies: CopyState[] = [];
    const production: Production = {
      key,
      side: new HubSide(
        this.options,
        () => {
          for (const copy of [...copies]) this.advance(copy);
          this.trim(production);
        },
        undefined,
        (mode) => this.counted(mode),
      ),
      copies,
    };
    this.productions.set(key, production);
    this.followed.add(production);
    return production;
  }

  private endCopy(key: number, copy: CopyState, at: number): void {
    this.copies.delete(key);
    copy.ended = true;
    // The tap's end hands over the last exchange, which advances the copy.
    copy.side.tap.abandon(at);
    this.advance(copy);
    this.trim(copy.production);
  }

  /**
   * Compares what both sides of a copy allow now; forgets the copy once nothing is left. A copy
   * whose connection closed (both FINs, in order) or was reset gives nothing more: it is forgotten
   * then, not seconds later when its tuple is released, so the connections followed at once are
   * those in flight, not those of the last linger.
   */
  private advance(copy: CopyState): void {
    const production = copy.production.side;
    const test = copy.side;
    while (production.mode === 'http' ? this.nextHttp(copy) : this.nextBytes(copy));
    test.dropBefore(copy.testFrom);
    const over = copy.ended || test.ended === 'closed' || test.ended === 'reset';
    if (over && test.ended !== undefined && production.ended !== undefined && copy.cursor >= production.given) {
      const copies = copy.production.copies;
      const i = copies.indexOf(copy);
      if (i >= 0) copies.splice(i, 1);
      if (this.copies.get(copy.fakeKey) === copy) this.copies.delete(copy.fakeKey);
    }
  }

  /** Compares production's next exchange in bytes mode, if its fate is known; false when not. */
  private nextBytes(copy: CopyState): boolean {
    const production = copy.production.side;
    const test = copy.side;
    const exchange = production.exchanges[copy.cursor - production.base];
    if (exchange === undefined) return false;
    copy.cursor++;
    if (exchange.index < production.firstWhole) return true;
    if (test.mode === 'http') {
      this.report(copy, 'unpaired', undefined);
      return true;
    }
    const paired = pairTurn(exchange, test.exchanges, copy.testFrom - test.base, test.ended !== undefined);
    if (paired === undefined) {
      copy.cursor--;
      return false;
    }
    copy.testFrom = test.base + paired.next;
    const comparison = paired.comparison;
    this.report(copy, comparison.outcome, toDiffRecord(copy.session, comparison));
    return true;
  }

  /**
   * Compares production's next exchange in HTTP mode with the copy's of the same index, if the
   * copy gave it or ended; false when neither. Both must have started parsing at the same request.
   */
  private nextHttp(copy: CopyState): boolean {
    const production = copy.production.side;
    const test = copy.side;
    const exchange = production.http[copy.cursor - production.base];
    if (exchange === undefined) return false;
    const testEnded = test.ended !== undefined;
    const started = test.httpStart;
    if (test.mode === 'bytes' || (started !== undefined && started !== production.httpStart)) {
      copy.cursor++;
      this.report(copy, 'unpaired', undefined);
      return true;
    }
    const other = test.http[exchange.index - test.base];
    if (other === undefined && !testEnded) return false;
    copy.cursor++;
    copy.testFrom = exchange.index + 1;
    const { outcome, record } = compareHttpExchange(copy.session, exchange, other, test.httpTail, this.options.http);
    this.report(copy, outcome, record);
    return true;
  }

  /** Drops production's exchanges every copy compared; forgets production once all is done. */
  private trim(production: Production): void {
    const side = production.side;
    let needed = side.given;
    for (const copy of production.copies) needed = Math.min(needed, copy.cursor);
    side.dropBefore(needed);
    if (side.ended === undefined || production.copies.length > 0) return;
    this.followed.delete(production);
    if (this.productions.get(production.key) === production) this.productions.delete(production.key);
  }

  private counted(mode: SideMode): void {
    if (mode === 'http') this.counters.httpConnections++;
    else if (this.options.mode === 'http') this.counters.httpFallbacks++;
  }

  private report(copy: CopyState, outcome: ComparisonOutcome, record: DiffRecord | undefined): void {
    const counters = this.counters;
    counters.compared++;
    if (outcome === 'identical') counters.identical++;
    else if (outcome === 'different') counters.different++;
    else counters.notComparable++;
    if (record !== undefined) counters.byKind[record.kind]++;
    this.onComparison(copy.ref, outcome, record);
  }
}
