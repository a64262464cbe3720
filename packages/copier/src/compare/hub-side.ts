/**
 * One side of a comparison, as the hub follows it: production's connection, or one copy of it.
 * A connection tap (connection-tap.ts) feeds the side's sink, which cuts what it hears into the
 * items the hub pairs: bytes mode's exchanges. Items are kept in a window: the hub drops those
 * every copy has compared (`dropBefore`), so a long keep-alive connection costs its live items only.
 *
 * Pure: segments in through `tap`, `onItem` called whenever an item was added or the side ended.
 */
import { RecorderSink, TcpTap, type TapEnd, type TapLimits, type TapSink } from './connection-tap.js';
import type { Exchange } from './exchange-recorder.js';

/** What an Exchange object and its arrays cost beside the bytes it keeps (an estimate). */
export const EXCHANGE_OVERHEAD_BYTES = 256;

export class HubSide implements TapSink {
  readonly tap: TcpTap;
  /** Exchanges not dropped yet; `base` is the index of the first among all this side gave. */
  readonly exchanges: Exchange[] = [];
  base = 0;
  ended: TapEnd | undefined;
  private readonly bytes: RecorderSink;
  /** Bytes the kept exchanges hold. */
  private keptBytes = 0;

  constructor(
    limits: TapLimits,
    private readonly onItem: () => void,
  ) {
    this.bytes = new RecorderSink(limits, (exchange) => {
      this.exchanges.push(exchange);
      this.keptBytes += exchangeBytes(exchange);
      this.onItem();
    });
    this.tap = new TcpTap(this, limits.holdBytes);
  }

  /** The first item seen whole: the ones before it are not compared (a mid-stream join). */
  get firstWhole(): number {
    return this.bytes.firstWhole;
  }

  /** Items given so far, dropped ones included. */
  get given(): number {
    return this.base + this.exchanges.length;
  }

  /** An honest estimate of the bytes this side holds. */
  get memoryBytes(): number {
    return this.tap.heldBytes + this.bytes.recorder.memoryBytes + this.keptBytes;
  }

  /** Forgets the items before index `index` (every copy has compared them). */
  dropBefore(index: number): void {
    const n = Math.min(index - this.base, this.exchanges.length);
    if (n <= 0) return;
    for (let i = 0; i < n; i++) this.keptBytes -= exchangeBytes(this.exchanges[i]!);
    this.exchanges.splice(0, n);
    this.base += n;
  }

  clientBytes(bytes: Buffer, at: number): void {
    this.bytes.clientBytes(bytes, at);
  }

  clientGap(length: number, at: number): void {
    this.bytes.clientGap(length, at);
  }

  serverBytes(bytes: Buffer, at: number): void {
    this.bytes.serverBytes(bytes, at);
  }

  serverGap(length: number, at: number): void {
    this.bytes.serverGap(length, at);
  }

  midStream(): void {
    this.bytes.midStream();
  }

  end(how: TapEnd): void {
    // Marked first: the last exchange, handed over now, is compared knowing nothing follows.
    this.ended = how;
    this.bytes.end(how);
    this.onItem();
  }
}

function exchangeBytes(exchange: Exchange): number {
  return EXCHANGE_OVERHEAD_BYTES + exchange.request.firstBytes.length + exchange.answer.firstBytes.length;
}
