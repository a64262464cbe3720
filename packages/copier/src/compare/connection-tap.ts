/**
 * One TCP connection watched from the side: its client's and its server's segments, as a capture
 * sees them (duplicated, reordered, some lost), become the connection's exchanges. Each direction
 * is reassembled on its own (stream-reassembly.ts) and the two byte streams are cut into turns in
 * the order the capture saw them (exchange-recorder.ts). The same code serves both sides of a
 * comparison: production's connection (captured on the production host) and a copy's (the bytes
 * the copier sent, and the test server's answers forwarded by intercept).
 *
 * Pure: segments and times in, exchanges out through `onExchange`.
 */
import { TcpFlag } from '@tcpcopy/common/packet';
import { seqAdd } from '../engine/seq.js';
import { ExchangeRecorder, type Exchange, type RecorderLimits } from './exchange-recorder.js';
import { StreamReassembly } from './stream-reassembly.js';

export interface TapLimits extends RecorderLimits {
  /** Bytes held beyond a hole in each direction before the hole is declared lost. */
  readonly holdBytes: number;
}

/** How the tap ended: it gives no exchange after this. */
export type TapEnd = 'closed' | 'reset' | 'abandoned';

export class ConnectionTap {
  private readonly recorder: ExchangeRecorder;
  private readonly client: StreamReassembly;
  private readonly server: StreamReassembly;
  /** The capture time of the segment being fed: the reassemblies' callbacks carry none. */
  private now = 0;
  private clientFin = false;
  private serverFin = false;
  private ended: TapEnd | undefined;

  constructor(
    limits: TapLimits,
    private readonly onExchange: (exchange: Exchange) => void,
  ) {
    this.recorder = new ExchangeRecorder(limits);
    const emit = (exchange: Exchange | undefined): void => {
      if (exchange !== undefined) this.onExchange(exchange);
    };
    this.client = new StreamReassembly(
      {
        data: (bytes) => emit(this.recorder.clientBytes(bytes, this.now)),
        gap: (length) => emit(this.recorder.clientGap(length, this.now)),
        fin: () => {
          this.clientFin = true;
          this.closeWhenBothFinished();
        },
      },
      limits.holdBytes,
    );
    this.server = new StreamReassembly(
      {
        data: (bytes) => this.recorder.serverBytes(bytes, this.now),
        gap: (length) => this.recorder.serverGap(length, this.now),
        fin: () => {
          this.serverFin = true;
          this.closeWhenBothFinished();
        },
      },
      limits.holdBytes,
    );
  }

  /** Undefined while the connection may still give exchanges. */
  get end(): TapEnd | undefined {
    return this.ended;
  }

  /** A segment the client sent: `payload` is only read during the call. */
  clientSegment(seq: number, flags: number, payload: Buffer, at: number): void {
    this.segment(this.client, seq, flags, payload, at);
  }

  /** A segment the server sent. */
  serverSegment(seq: number, flags: number, payload: Buffer, at: number): void {
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

  /** Holes left are lost for good; the last exchange is handed over. */
  private finish(how: TapEnd, at: number): void {
    if (this.ended !== undefined) return;
    this.now = at;
    // Marked first: flushing may report the FINs, which would finish again.
    this.ended = how;
    this.client.flush();
    this.server.flush();
    const last = this.recorder.end(how === 'reset');
    if (last !== undefined) this.onExchange(last);
  }
}
