/**
 * The two directions of one connection, as delivered by stream reassembly, cut into exchanges:
 * a client turn is what the client sent until the server started answering; the answer is what
 * the server sent until the client's next turn or the end of the connection. Only the order in
 * which the capture saw the bytes decides where a turn ends, so the caller feeds both directions'
 * events in capture time order.
 *
 * Pipelined requests (several sent before any answer) make one turn, and their answers one
 * answer: bytes mode compares turn by turn. HTTP mode pairs pipelined requests by message with
 * its own parser. A server that speaks first (a greeting) gives an exchange with an empty request.
 *
 * Memory: at most `compareBytes` of each answer and `requestBytes` of each request are kept; the
 * rest of the answer only goes through a running SHA-256, so an answer of any size costs the same.
 */
import { createHash, type Hash } from 'node:crypto';

export interface RecorderLimits {
  /** Bytes of each answer kept for the byte-for-byte comparison (`--compare-bytes`). */
  readonly compareBytes: number;
  /** Bytes of each request kept for the diff log. */
  readonly requestBytes: number;
}

export interface RecordedRequest {
  /** Where the turn starts in the client's byte stream: turns of two copies pair up by it. */
  readonly offset: number;
  readonly firstBytes: Buffer;
  /** Every byte of the turn, lost ones included. */
  readonly length: number;
  /** Bytes of the turn the capture never saw (delivered as gaps). */
  readonly lostBytes: number;
  readonly at: number;
}

export interface RecordedAnswer {
  readonly firstBytes: Buffer;
  readonly length: number;
  readonly lostBytes: number;
  /** Hex SHA-256 of the answer's bytes (lost ones cannot be hashed: see lostBytes). */
  readonly sha256: string;
  /** When the first and the last answer byte were seen; undefined when nothing was answered. */
  readonly firstAt: number | undefined;
  readonly lastAt: number | undefined;
}

/** Why an exchange closed: the client's next turn, the connection's end, or a reset. */
export type ExchangeEnding = 'next-turn' | 'end' | 'reset';

export interface Exchange {
  readonly index: number;
  readonly request: RecordedRequest;
  readonly answer: RecordedAnswer;
  readonly ending: ExchangeEnding;
}

const EMPTY = Buffer.alloc(0);
const EMPTY_SHA256 = createHash('sha256').digest('hex');
/** First allocation of a kept prefix: most answers are small, so it grows by doubling to its limit. */
const INITIAL_PREFIX = 512;

/** The first `limit` bytes of a stream of chunks, grown as they come. */
class BoundedPrefix {
  private buffer = EMPTY;
  private kept = 0;

  constructor(private readonly limit: number) {}

  append(bytes: Buffer): void {
    const n = Math.min(this.limit - this.kept, bytes.length);
    if (n <= 0) return;
    if (this.kept + n > this.buffer.length) {
      const grown = Buffer.allocUnsafe(
        Math.min(this.limit, Math.max(this.kept + n, this.buffer.length * 2, INITIAL_PREFIX)),
      );
      this.buffer.copy(grown, 0, 0, this.kept);
      this.buffer = grown;
    }
    bytes.copy(this.buffer, this.kept, 0, n);
    this.kept += n;
  }

  /** Bytes allocated for the prefix so far. */
  get allocated(): number {
    return this.buffer.length;
  }

  /** The bytes kept so far; the prefix starts over empty. */
  take(): Buffer {
    const out = this.buffer.subarray(0, this.kept);
    this.buffer = EMPTY;
    this.kept = 0;
    return out;
  }
}

type Phase = 'idle' | 'request' | 'answer' | 'ended';

export class ExchangeRecorder {
  private phase: Phase = 'idle';
  private index = 0;
  private clientOffset = 0;
  private readonly requestPrefix: BoundedPrefix;
  private readonly answerPrefix: BoundedPrefix;
  private requestOffset = 0;
  private requestLength = 0;
  private requestLost = 0;
  private requestAt = 0;
  private answerLength = 0;
  private answerLost = 0;
  private answerHash: Hash | undefined;
  private answerFirstAt: number | undefined;
  private answerLastAt: number | undefined;

  constructor(limits: RecorderLimits) {
    this.requestPrefix = new BoundedPrefix(limits.requestBytes);
    this.answerPrefix = new BoundedPrefix(limits.compareBytes);
  }

  /** The index of the exchange in progress, or of the next one when none is. */
  get nextIndex(): number {
    return this.index;
  }

  /** Bytes held for the exchange in progress (its kept prefixes). */
  get memoryBytes(): number {
    return this.requestPrefix.allocated + this.answerPrefix.allocated;
  }

  /** Client bytes seen at `at`; returns the exchange they close, if they start a new turn. */
  clientBytes(bytes: Buffer, at: number): Exchange | undefined {
    if (this.phase === 'ended' || bytes.length === 0) return undefined;
    const closed = this.startTurnIfAnswered(at);
    this.requestPrefix.append(bytes);
    this.requestLength += bytes.length;
    this.clientOffset += bytes.length;
    return closed;
  }

  /** Client bytes lost at `at`: they still belong to a turn, and still move the offsets. */
  clientGap(length: number, at: number): Exchange | undefined {
    if (this.phase === 'ended' || length <= 0) return undefined;
    const closed = this.startTurnIfAnswered(at);
    this.requestLength += length;
    this.requestLost += length;
    this.clientOffset += length;
    return closed;
  }

  serverBytes(bytes: Buffer, at: number): void {
    if (this.phase === 'ended' || bytes.length === 0) return;
    this.answering(at);
    this.answerPrefix.append(bytes);
    this.answerHash ??= createHash('sha256');
    this.answerHash.update(bytes);
    this.answerLength += bytes.length;
  }

  serverGap(length: number, at: number): void {
    if (this.phase === 'ended' || length <= 0) return;
    this.answering(at);
    this.answerLength += length;
    this.answerLost += length;
  }

  /**
   * The connection ended, by a reset or otherwise (both FINs, the session given up): returns
   * the exchange in progress, answered or not. Later events are ignored.
   */
  end(reset: boolean): Exchange | undefined {
    const inProgress = this.phase === 'request' || this.phase === 'answer';
    this.phase = 'ended';
    if (!inProgress) return undefined;
    return this.close(reset ? 'reset' : 'end');
  }

  private startTurnIfAnswered(at: number): Exchange | undefined {
    const closed = this.phase === 'answer' ? this.close('next-turn') : undefined;
    if (this.phase !== 'request') this.beginTurn(at);
    return closed;
  }

  private answering(at: number): void {
    if (this.phase === 'idle') this.beginTurn(at);
    this.phase = 'answer';
    this.answerFirstAt ??= at;
    this.answerLastAt = at;
  }

  private beginTurn(at: number): void {
    this.phase = 'request';
    this.requestOffset = this.clientOffset;
    this.requestAt = at;
  }

  private close(ending: ExchangeEnding): Exchange {
    const exchange: Exchange = {
      index: this.index++,
      request: {
        offset: this.requestOffset,
        firstBytes: this.requestPrefix.take(),
        length: this.requestLength,
        lostBytes: this.requestLost,
        at: this.requestAt,
      },
      answer: {
        firstBytes: this.answerPrefix.take(),
        length: this.answerLength,
        lostBytes: this.answerLost,
        sha256: this.answerHash?.digest('hex') ?? EMPTY_SHA256,
        firstAt: this.answerFirstAt,
        lastAt: this.answerLastAt,
      },
      ending,
    };
    this.requestLength = 0;
    this.requestLost = 0;
    this.answerLength = 0;
    this.answerLost = 0;
    this.answerHash = undefined;
    this.answerFirstAt = undefined;
    this.answerLastAt = undefined;
    return exchange;
  }
}
