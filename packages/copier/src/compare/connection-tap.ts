/**
 * One TCP connection watched from the side: its client's and its server's segments, as a capture
 * sees them (duplicated, reordered, some lost), become two byte streams fed in capture order to a
 * sink. Each direction is reassembled on its own (stream-reassembly.ts), so each byte reaches the
 * sink once, in order. The same code serves both sides of a comparison: production's connection
 * (captured on the production host) and a copy's (the bytes the copier sent, and the test server's
 * answers forwarded by intercept). `ConnectionTap` is the bytes-mode tap: the sink is an exchange
 * recorder (exchange-recorder.ts); HTTP mode's sink is in http-tap.ts.
 *
 * Pure: segments and times in, sink calls out.
 */
import { TcpFlag } from '@tcpcopy/common/packet';
import { seqAdd } from '../engine/seq.js';
import { ExchangeRecorder, type Exchange, type RecorderLimits } from './exchange-recorder.js';
import { StreamReassembly } from './stream-reassembly.js';

export interface TapLimits extends RecorderLimits {
  /** Bytes held beyond a hole in each direction before the hole is declared lost. */
  readonly holdBytes: number;
}

/** How the tap ended: it gives nothing after this. */
export type TapEnd = 'closed' | 'reset' | 'abandoned';

/** What a tap hands on, in capture order. `at` is the capture time of the segment being fed. */
export interface TapSink {
  clientBytes(bytes: Buffer, at: number): void;
  clientGap(length: number, at: number): void;
  serverBytes(bytes: Buffer, at: number): void;
  serverGap(length: number, at: number): void;
  /**
   * A direction's first segment was not its SYN: the capture joined the connection mid-stream,
   * and that direction's bytes before this segment were never seen. Called before its bytes.
   */
  midStream(fromClient: boolean): void;
  /** The connection ended (holes declared lost first); called once, nothing follows. */
  end(how: TapEnd, at: number): void;
}

export class TcpTap {
  private readonly client: StreamReassembly;
  private readonly server: StreamReassembly;
  /** The capture time of the segment being fed: the reassemblies' callbacks carry none. */
  private now = 0;
  private clientSeen = false;
  private serverSeen = false;
  private clientFin = false;
  private serverFin = false;
  private ended: TapEnd | undefined;

  constructor(
    private readonly sink: TapSink,
    holdBytes: number,
  ) {
    this.client = new StreamReassembly(
      {
        data: (bytes) => sink.clientBytes(bytes, this.now),
        gap: (length) => sink.clientGap(length, this.now),
        fin: () => {
          this.clientFin = true;
          this.closeWhenBothFinished();
        },
      },
      holdBytes,
    );
    this.server = new StreamReassembly(
      {
        data: (bytes) => sink.serverBytes(bytes, this.now),
        gap: (length) => sink.serverGap(length, this.now),
        fin: () => {
          this.serverFin = true;
          this.closeWhenBothFinished();
        },
      },
      holdBytes,
    );
  }

  /** Undefined while the connection may still give bytes. */
  get end(): TapEnd | undefined {
    return this.ended;
  }

  /** Bytes both directions hold beyond holes. */
  get heldBytes(): number {
    return this.client.heldBytes + this.server.heldBytes;
  }

  /** A segment the client sent: `payload` is only read during the call. */
  clientSegment(seq: number, flags: number, payload: Buffer, at: number): void {
    if (this.ended === undefined && !this.clientSeen) {
      this.clientSeen = true;
      if (!(flags & (TcpFlag.SYN | TcpFlag.RST))) this.sink.midStream(true);
    }
    this.segment(this.client, seq, flags, payload, at);
  }

  /** A segment the server sent. */
  serverSegment(seq: number, flags: number, payload: Buffer, at: number): void {
    if (this.ended === undefined && !this.serverSeen) {
      this.serverSeen = true;
      if (!(flags & (TcpFlag.SYN | TcpFlag.RST))) this.sink.midStream(false);
    }
    this.segment(this.server, seq, flags, payload, at);
  }

  /** Nothing more will be seen of the connection (its session ended, or it went idle). */
  abandon(at: number): void {
    this.finish('abandoned', at);
  }

  private segment(stream: StreamReassembly, seq: number, flags: number, payload: Buffer, at: number): void {
    if (this.ended !== undefined) return;
    this.now = at;
    if (flags & TcpFlag.RST) {
      this.finish('reset', at);
      return;
    }
    // The SYN takes one sequence number: the stream's first byte is the next one.
    if (flags & TcpFlag.SYN) {
      stream.start(seqAdd(seq, 1));
      if (payload.length === 0 && !(flags & TcpFlag.FIN)) return;
      stream.segment(seqAdd(seq, 1), payload, (flags & TcpFlag.FIN) !== 0);
      return;
    }
    stream.segment(seq, payload, (flags & TcpFlag.FIN) !== 0);
  }

  private closeWhenBothFinished(): void {
    if (this.clientFin && this.serverFin) this.finish('closed', this.now);
  }

  /** Holes left are lost for good; the sink hears of the end once. */
  private finish(how: TapEnd, at: number): void {
    if (this.ended !== undefined) return;
    this.now = at;
    // Marked first: flushing may report the FINs, which would finish again.
    this.ended = how;
    this.client.flush();
    this.server.flush();
    this.sink.end(how, at);
  }
}

/**
 * Bytes mode's sink: the two streams cut into exchanges (exchange-recorder.ts). `firstWhole` is the
 * index of the first exchange whose turn and answer were both seen from their start: 0, unless a
 * direction started mid-stream, when the exchange in progress then (and any before) is partial.
 */
export class RecorderSink implements TapSink {
  readonly recorder: ExchangeRecorder;
  firstWhole = 0;

  constructor(
    limits: RecorderLimits,
    private readonly onExchange: (exchange: Exchange) => void,
  ) {
    this.recorder = new ExchangeRecorder(limits);
  }

  clientBytes(bytes: Buffer, at: number): void {
    this.emit(this.recorder.clientBytes(bytes, at));
  }

  clientGap(length: number, at: number): void {
    this.emit(this.recorder.clientGap(length, at));
  }

  serverBytes(bytes: Buffer, at: number): void {
    this.recorder.serverBytes(bytes, at);
  }

  serverGap(length: number, at: number): void {
    this.recorder.serverGap(length, at);
  }

  midStream(): void {
    // The exchange in progress (or the next one, if none is) misses its beginning.
    this.firstWhole = Math.max(this.firstWhole, this.recorder.nextIndex + 1);
  }

  end(how: TapEnd): void {
    this.emit(this.recorder.end(how === 'reset'));
  }

  private emit(exchange: Exchange | undefined): void {
    if (exchange !== undefined) this.onExchange(exchange);
  }
}

/** A connection tap in bytes mode: segments in, exchanges out through `onExchange`. */
export class ConnectionTap extends TcpTap {
  private readonly recorderSink: RecorderSink;

  constructor(limits: TapLimits, onExchange: (exchange: Exchange) => void) {
    const sink = new RecorderSink(limits, onExchange);
    super(sink, limits.holdBytes);
    this.recorderSink = sink;
  }

  /** The first exchange seen whole (see RecorderSink). */
  get firstWhole(): number {
    return this.recorderSink.firstWhole;
  }
}
