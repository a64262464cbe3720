/**
 * One side of a comparison, as the hub follows it: production's connection, or one copy of it.
 * A connection tap (connection-tap.ts) feeds the side, which cuts what it hears into the items the
 * hub pairs: bytes mode's exchanges (exchange-recorder.ts) or HTTP mode's (http-tap.ts).
 *
 * The mode is fixed per side: `bytes` from the start; `http` or `auto` once the client's first
 * bytes say whether they are an HTTP/1.x request line (held, copied, until they do). Under `http`
 * what is not HTTP falls back to bytes. A copy takes production's mode when production has one.
 *
 * Items are kept in a window: the hub drops those every copy has compared (`dropBefore`), so a long
 * keep-alive connection costs its live items only.
 *
 * Pure: segments in through `tap`, `onItem` called whenever an item was added or the side ended.
 */
import { RecorderSink, TcpTap, type TapEnd, type TapLimits, type TapSink } from './connection-tap.js';
import type { CompareMode } from './comparison-hub.js';
import type { Exchange } from './exchange-recorder.js';
import { HttpSink, httpMessageBytes, sniffHttpRequest, type HttpExchange } from './http-tap.js';

export type SideMode = 'bytes' | 'http';

/** What an Exchange object and its arrays cost beside the bytes it keeps (an estimate). */
export const EXCHANGE_OVERHEAD_BYTES = 256;

export interface SideOptions extends TapLimits {
  readonly mode: CompareMode;
}

/** How a side learns what it cannot see itself: production's choices, for a copy. */
export interface SideHints {
  /** The mode production chose, if it did. */
  mode(): SideMode | undefined;
  /** Whether production started mid-stream (HTTP then starts at the first whole turn). */
  joined(): boolean;
}

const NO_HINTS: SideHints = { mode: () => undefined, joined: () => false };

export class HubSide implements TapSink {
  readonly tap: TcpTap;
  mode: SideMode | undefined;
  /** A direction's first segment was not its SYN. */
  joined = false;
  /** Exchanges not dropped yet (the list of the side's mode); `base` is the first one's index. */
  readonly exchanges: Exchange[] = [];
  readonly http: HttpExchange[] = [];
  base = 0;
  ended: TapEnd | undefined;
  private bytesSink: RecorderSink | undefined;
  private httpSink: HttpSink | undefined;
  /** Client bytes held until the mode is known. */
  private sniffed: Buffer[] = [];
  private sniffedLength = 0;
  private midClient = false;
  private midServer = false;
  /** Bytes the kept items hold. */
  private keptBytes = 0;

  constructor(
    private readonly options: SideOptions,
    private readonly onItem: () => void,
    private readonly hints: SideHints = NO_HINTS,
    private readonly onMode: (mode: SideMode) => void = () => {},
  ) {
    this.tap = new TcpTap(this, options.holdBytes);
    if (options.mode === 'bytes') this.decide('bytes');
  }

  /** The first item seen whole: the ones before it are not compared (a mid-stream join). */
  get firstWhole(): number {
    return this.bytesSink?.firstWhole ?? 0;
  }

  /** Where HTTP parsing started in the client's stream (HTTP mode). */
  get httpStart(): number | undefined {
    return this.httpSink?.startOffset;
  }

  /** Why HTTP exchanges after the last one given have no response, once ended. */
  get httpTail(): HttpExchange['missing'] {
    return this.httpSink?.tail;
  }

  /** Items given so far, dropped ones included. */
  get given(): number {
    return this.base + (this.mode === 'http' ? this.http.length : this.exchanges.length);
  }

  /** An honest estimate of the bytes this side holds. */
  get memoryBytes(): number {
    const sink = this.bytesSink?.recorder.memoryBytes ?? this.httpSink?.memoryBytes ?? 0;
    return this.tap.heldBytes + this.sniffedLength + sink + this.keptBytes;
  }

  /** Forgets the items before index `index` (every copy has compared them). */
  dropBefore(index: number): void {
    const list: (Exchange | HttpExchange)[] = this.mode === 'http' ? this.http : this.exchanges;
    const n = Math.min(index - this.base, list.length);
    if (n <= 0) return;
    for (let i = 0; i < n; i++) this.keptBytes -= itemBytes(list[i]!);
    list.splice(0, n);
    this.base += n;
  }

  clientBytes(bytes: Buffer, at: number): void {
    if (this.mode === undefined) {
      this.sniffed.push(Buffer.from(bytes));
      this.sniffedLength += bytes.length;
      const hinted = this.hints.mode();
      const sniffed = hinted === undefined ? sniffHttpRequest(Buffer.concat(this.sniffed)) : undefined;
      if (sniffed === 'more') return;
      this.decide(hinted ?? (sniffed === 'http' ? 'http' : 'bytes'), at);
      return;
    }
    this.sink().clientBytes(bytes, at);
  }

  clientGap(length: number, at: number): void {
    this.decideNow(at);
    this.sink().clientGap(length, at);
  }

  serverBytes(bytes: Buffer, at: number): void {
    this.decideNow(at);
    this.sink().serverBytes(bytes, at);
  }

  serverGap(length: number, at: number): void {
    this.decideNow(at);
    this.sink().serverGap(length, at);
  }

  midStream(fromClient: boolean): void {
    this.joined = true;
    if (this.mode === undefined) {
      if (fromClient) this.midClient = true;
      else this.midServer = true;
    } else {
      this.sink().midStream(fromClient);
    }
  }

  end(how: TapEnd, at: number): void {
    this.decideNow(at);
    // Marked first: the last items, handed over now, are compared knowing nothing follows.
    this.ended = how;
    this.sink().end(how, at);
    this.onItem();
  }

  private sink(): TapSink {
    return (this.bytesSink ?? this.httpSink)!;
  }

  /** Something other than the client's first bytes came: the mode is what they say so far. */
  private decideNow(at: number): void {
    if (this.mode !== undefined) return;
    const sniffed = this.sniffedLength > 0 && sniffHttpRequest(Buffer.concat(this.sniffed)) === 'http';
    this.decide(this.hints.mode() ?? (sniffed ? 'http' : 'bytes'), at);
  }

  private decide(mode: SideMode, at = 0): void {
    this.mode = mode;
    if (mode === 'bytes') {
      this.bytesSink = new RecorderSink(this.options, (exchange) => this.keep(this.exchanges, exchange));
    } else {
      this.httpSink = new HttpSink(this.options, (exchange) => this.keep(this.http, exchange), this.hints.joined);
    }
    this.onMode(mode);
    const sink = this.sink();
    if (this.midClient) sink.midStream(true);
    if (this.midServer) sink.midStream(false);
    const held = this.sniffed;
    this.sniffed = [];
    this.sniffedLength = 0;
    for (const bytes of held) sink.clientBytes(bytes, at);
  }

  private keep<T extends Exchange | HttpExchange>(list: T[], item: T): void {
    list.push(item);
    this.keptBytes += itemBytes(item);
    this.onItem();
  }
}

function itemBytes(item: Exchange | HttpExchange): number {
  if ('answer' in item) {
    return EXCHANGE_OVERHEAD_BYTES + item.request.firstBytes.length + item.answer.firstBytes.length;
  }
  return httpMessageBytes(item.request) + (item.response === undefined ? 0 : httpMessageBytes(item.response));
}
