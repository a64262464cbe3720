/**
 * HTTP mode's sink for a connection tap: the client's byte stream feeds a request parser, the
 * server's a response parser (http-parser.ts), and the k-th complete request pairs with the k-th
 * complete response (RFC 9112 §9.3.2: pipelined requests are answered in order) into an
 * HttpExchange. Each response parser is told the method of the request it answers, for HEAD's
 * bodiless answers. Interim 1xx responses are skipped by the parser.
 *
 * Joined mid-stream, the parsers start at the first whole turn: the first client bytes that follow
 * server bytes; `startOffset` says where that is in the client's stream, so production's and a
 * copy's parsing can be checked to start at the same request.
 *
 * Pure: bytes in, exchanges out through `onExchange`.
 */
import type { TapEnd, TapSink } from './connection-tap.js';
import type { HttpParseError } from './http-head.js';
import {
  httpRequestParser,
  httpResponseParser,
  type HttpParser,
  type HttpRequest,
  type HttpResponse,
} from './http-parser.js';

/** Why an exchange has no response: the connection ended or was reset first, bytes were lost, or the answer did not parse. */
export type HttpMissing = 'end' | 'reset' | 'lost' | HttpParseError;

export interface HttpExchange {
  /** From 0 at `startOffset`. */
  readonly index: number;
  readonly request: HttpRequest;
  readonly response: HttpResponse | undefined;
  /** Why `response` is undefined. */
  readonly missing: HttpMissing | undefined;
}

export interface HttpTapLimits {
  readonly compareBytes: number;
  readonly requestBytes: number;
}

/** Where a client's first bytes stand: an HTTP/1.x request line, something else, or too few bytes to say. */
export type Sniffed = 'http' | 'other' | 'more';

/** A request line longer than this is not sniffed as HTTP (nginx's default buffer for one is 8 KiB). */
export const SNIFF_BYTES = 8 * 1024;

const SP = 0x20;
const DEL = 0x7f;
// RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
const TCHAR = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]$/;
const VERSION_PREFIX = Buffer.from('HTTP/1.', 'latin1');
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;

/**
 * Whether `bytes` start with an HTTP/1.x request line (RFC 9112 §3: method SP request-target SP
 * HTTP-version); said as soon as the version's digit is seen.
 */
export function sniffHttpRequest(bytes: Buffer): Sniffed {
  let i = 0;
  while (i < bytes.length && TCHAR.test(String.fromCharCode(bytes[i]!))) i++;
  if (i === bytes.length) return more(bytes);
  if (i === 0 || bytes[i] !== SP) return 'other';
  const targetStart = ++i;
  while (i < bytes.length && bytes[i]! > SP && bytes[i]! !== DEL) i++;
  if (i === bytes.length) return more(bytes);
  if (i === targetStart || bytes[i] !== SP) return 'other';
  i++;
  for (let v = 0; v < VERSION_PREFIX.length; v++, i++) {
    if (i === bytes.length) return more(bytes);
    if (bytes[i] !== VERSION_PREFIX[v]) return 'other';
  }
  if (i === bytes.length) return more(bytes);
  return bytes[i]! >= DIGIT_0 && bytes[i]! <= DIGIT_9 ? 'http' : 'other';
}

const more = (bytes: Buffer): Sniffed => (bytes.length >= SNIFF_BYTES ? 'other' : 'more');

/**
 * Bytes of an encoded body buffered for decoding, and of decoded output: 16 times the compared
 * prefix, at least 1 MiB. The whole encoded body must be held to decode it (http-body.ts), so this
 * is what one answer in flight may cost; 16x the prefix covers the compression ratios of text, so
 * the answers whose prefix is compared decode, and a body beyond it is compared as received
 * (equal when both builds compress alike) instead of holding http-body's 16 MiB default per answer.
 */
export const decodeBytesFor = (compareBytes: number): number => Math.max(16 * compareBytes, 1 << 20);

/** Request bodies are not compared: they are kept as received (never decoded), their first bytes only. */
const NO_DECODING = 0;

export class HttpSink implements TapSink {
  /** Where parsing started in the client's stream; undefined while waiting for a whole turn. */
  startOffset: number | undefined;
  /** Why the exchanges after the last one given have no response, once the connection ended. */
  tail: HttpMissing | undefined;
  private requests: HttpParser<'request'>;
  private responses: HttpParser<'response'>;
  private readonly unanswered: HttpRequest[] = [];
  /** Responses complete before their request was (an early error answer). */
  private readonly early: HttpResponse[] = [];
  private index = 0;
  private clientOffset = 0;
  private waiting = false;
  /** Whether `mustWait` was asked: at the first bytes. */
  private asked = false;
  private serverSpoke = false;
  /** Bytes were lost where framing needs them (a head, a chunk size): the parsers cannot go on. */
  private broken = false;

  constructor(
    private readonly limits: HttpTapLimits,
    private readonly onExchange: (exchange: HttpExchange) => void,
    /** Whether to start at the first whole turn though this connection's start was seen (a copy of a join). */
    private readonly mustWait: () => boolean,
  ) {
    this.requests = this.requestParser();
    this.responses = this.responseParser();
  }

  /** Bytes the parsers and the exchanges not yet paired hold (an estimate). */
  get memoryBytes(): number {
    let bytes = this.requests.memoryBytes + this.responses.memoryBytes;
    for (const request of this.unanswered) bytes += httpMessageBytes(request);
    for (const response of this.early) bytes += httpMessageBytes(response);
    return bytes;
  }

  clientBytes(bytes: Buffer): void {
    this.ask();
    if (this.broken) return;
    if (this.waiting) {
      if (!this.serverSpoke) {
        this.clientOffset += bytes.length;
        return;
      }
      this.waiting = false;
    }
    this.startOffset ??= this.clientOffset;
    this.clientOffset += bytes.length;
    this.requests.push(bytes);
  }

  clientGap(length: number): void {
    this.ask();
    this.clientOffset += length;
    if (!this.waiting && !this.requests.gap(length)) this.broken = true;
  }

  serverBytes(bytes: Buffer): void {
    this.ask();
    if (this.waiting) this.serverSpoke = true;
    else if (!this.broken) {
      this.startOffset ??= this.clientOffset;
      this.responses.push(bytes);
    }
  }

  serverGap(length: number): void {
    this.ask();
    if (this.waiting) this.serverSpoke = true;
    else if (!this.responses.gap(length)) this.broken = true;
  }

  /** A direction's start was missed: parsing starts over at the next whole turn. */
  midStream(): void {
    this.asked = true;
    if (this.waiting) return;
    this.waiting = true;
    this.startOffset = undefined;
    this.requests = this.requestParser();
    this.responses = this.responseParser();
    this.unanswered.length = 0;
    this.early.length = 0;
  }

  end(how: TapEnd): void {
    if (!this.broken && !this.waiting) {
      this.requests.end();
      this.responses.end();
    }
    const status = this.responses.status;
    const failed = status !== 'ok' && status !== 'ended' && status !== 'upgraded' ? status : undefined;
    let why: HttpMissing = this.broken ? 'lost' : how === 'reset' ? 'reset' : (failed ?? 'end');
    // After an answer that did not parse, nothing more can be read of the connection. Set before
    // the last exchanges are handed over: the hub compares the ones the copy never had with it.
    this.tail = why === failed && this.unanswered.length > 0 ? 'lost' : why;
    for (const request of this.unanswered.splice(0)) {
      this.onExchange({ index: this.index++, request, response: undefined, missing: why });
      if (why === failed) why = 'lost';
    }
    this.early.length = 0;
  }

  private ask(): void {
    if (this.asked) return;
    this.asked = true;
    if (this.mustWait()) this.midStream();
  }

  private requestParser(): HttpParser<'request'> {
    return httpRequestParser((request) => this.onRequest(request), {
      maxBodyBytes: this.limits.requestBytes,
      maxDecodeBytes: NO_DECODING,
    });
  }

  private responseParser(): HttpParser<'response'> {
    return httpResponseParser((response) => this.onResponse(response), {
      maxBodyBytes: this.limits.compareBytes,
      maxDecodeBytes: decodeBytesFor(this.limits.compareBytes),
    });
  }

  private onRequest(request: HttpRequest): void {
    const answer = this.early.shift();
    if (answer !== undefined) {
      this.give(request, answer);
      return;
    }
    this.unanswered.push(request);
    this.responses.expectResponseTo(request.method);
  }

  private onResponse(response: HttpResponse): void {
    const request = this.unanswered.shift();
    if (request === undefined) this.early.push(response);
    else this.give(request, response);
  }

  private give(request: HttpRequest, response: HttpResponse): void {
    this.onExchange({ index: this.index++, request, response, missing: undefined });
  }
}

/** What a parsed message and its strings cost, with its kept body (an estimate). */
export const HTTP_MESSAGE_OVERHEAD_BYTES = 256;

export function httpMessageBytes(message: HttpRequest | HttpResponse): number {
  let bytes = HTTP_MESSAGE_OVERHEAD_BYTES + message.startLine.length + message.body.length;
  for (const [name, value] of message.headers) bytes += name.length + value.length;
  return bytes;
}
