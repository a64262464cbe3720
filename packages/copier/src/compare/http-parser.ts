/**
 * An incremental HTTP/1.x parser for one direction of one connection: requests from the client,
 * or responses from a server. Bytes arrive in any split (`push`), the connection's end is `end()`,
 * and each complete message goes to the callback with its body decoded (http-body.ts). Malformed
 * input sets `status` to a named error and the parser ignores everything after it: it never
 * throws and never waits for bytes that framing says cannot come.
 *
 * Responses are framed by the request they answer (RFC 9112 §6.3 item 1: an answer to HEAD has no
 * body), so the response parser is told each request's method, in order, with `expectResponseTo`;
 * pipelined requests are answered in the order they were sent (RFC 9112 §9.3.2).
 */
import { BodyCollector, contentDecoder, DEFAULT_BODY_LIMITS, type BodyLimits, type HttpBody } from './http-body.js';
import {
  addFieldLine,
  bodyFraming,
  fieldValues,
  LineReader,
  MAX_HEAD_BYTES,
  parseChunkSize,
  parseRequestLine,
  parseStatusLine,
  type BodyFraming,
  type HttpParseError,
  type RequestLine,
  type StatusLine,
} from './http-head.js';

export type HttpRole = 'request' | 'response';

interface HttpMessageParts extends HttpBody {
  /** The start line as sent, without its CRLF. */
  startLine: string;
  version: string;
  /** Field lines in order, names as sent. */
  headers: [string, string][];
  /** A chunked body's trailer fields (RFC 9112 §7.1.2), else empty. */
  trailers: [string, string][];
  framing: BodyFraming['kind'];
  /** Body bytes the capture lost (gap): the body cannot be compared, the next message still can. */
  lostBytes: number;
}

export interface HttpRequest extends HttpMessageParts, RequestLine {
  role: 'request';
}

export interface HttpResponse extends HttpMessageParts, StatusLine {
  role: 'response';
  /** The method of the request this answers, as given to expectResponseTo. */
  requestMethod: string;
}

export type HttpMessage = HttpRequest | HttpResponse;
type MessageOf<R extends HttpRole> = R extends 'request' ? HttpRequest : HttpResponse;

/**
 * `ok` while parsing; `ended` after end() at a message boundary (or in a close-delimited body);
 * `upgraded` after a 101 or a 2xx to CONNECT, when the connection stops carrying HTTP (RFC 9110
 * §15.2.2, §9.3.6): later bytes are ignored. Any other value is why parsing stopped.
 */
export type HttpParserStatus = 'ok' | 'ended' | 'upgraded' | HttpParseError;

type State = 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-end' | 'trailers' | 'close';

const STATUS_SWITCHING_PROTOCOLS = 101;
const STATUS_SUCCESS_MIN = 200;
const STATUS_SUCCESS_MAX = 299;
const STATUS_NO_CONTENT = 204;
const STATUS_NOT_MODIFIED = 304;
/** A response with no request method to pair with is framed as an answer to GET (it has a body). */
const UNKNOWN_REQUEST_METHOD = 'GET';

export class HttpParser<R extends HttpRole> {
  status: HttpParserStatus = 'ok';
  private readonly limits: BodyLimits;
  private state: State = 'head';
  private readonly lines = new LineReader();
  /** Bytes of the current header or trailer section so far. */
  private sectionBytes = 0;
  private startLine: string | null = null;
  private requestLine: RequestLine | null = null;
  private statusLine: StatusLine | null = null;
  private headers: [string, string][] = [];
  private trailers: [string, string][] = [];
  private framing: BodyFraming['kind'] = 'none';
  private body: BodyCollector | null = null;
  /** Body bytes left in the current Content-Length body or chunk. */
  private remaining = 0;
  /** Body bytes of the message in progress that the capture lost. */
  private lostBytes = 0;
  /** Methods of requests not yet answered (responses only). */
  private readonly methods: string[] = [];

  constructor(
    readonly role: R,
    private readonly onMessage: (message: MessageOf<R>) => void,
    limits: Partial<BodyLimits> = {},
  ) {
    this.limits = { ...DEFAULT_BODY_LIMITS, ...limits };
  }

  /** Bytes held for the message in progress: its head so far, a partial line, its body kept or waiting to be decoded. */
  get memoryBytes(): number {
    return this.sectionBytes + this.lines.pendingBytes + (this.body?.memoryBytes ?? 0);
  }

  /** The next response answers a request with this method (call once per request, in order). */
  expectResponseTo(method: string): void {
    this.methods.push(method);
  }

  push(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length && this.status === 'ok') {
      switch (this.state) {
        case 'head':
          at = this.readSectionLine(chunk, at, (line) => this.onHeadLine(line));
          break;
        case 'trailers':
          at = this.readSectionLine(chunk, at, (line) => this.onTrailerLine(line));
          break;
        case 'length':
        case 'chunk-data':
          at = this.readCounted(chunk, at);
          break;
        case 'chunk-size':
        case 'chunk-end':
          at = this.readChunkLine(chunk, at);
          break;
        case 'close':
          this.body!.add(chunk.subarray(at));
          at = chunk.length;
          break;
      }
    }
  }

  /**
   * `length` bytes the capture lost. Inside a counted body (Content-Length, or one chunk's data)
   * they are skipped, the message marked lost, and parsing goes on; anywhere else framing is lost
   * with them: false, and the caller stops reading this stream.
   */
  gap(length: number): boolean {
    if (this.status !== 'ok' || (this.state !== 'length' && this.state !== 'chunk-data') || length > this.remaining) {
      return false;
    }
    this.lostBytes += length;
    this.remaining -= length;
    if (this.remaining === 0) {
      if (this.state === 'length') this.complete();
      else this.state = 'chunk-end';
    }
    return true;
  }

  /** The connection ended: a close-delimited body is complete; a message cut short is not. */
  end(): void {
    if (this.status !== 'ok') return;
    if (this.state === 'close') {
      this.complete();
    } else if (this.state !== 'head' || this.startLine !== null || this.lines.pending) {
      this.status = 'incomplete';
      return;
    }
    this.status = 'ended';
  }

  private fail(error: HttpParseError): number {
    this.status = error;
    return Number.MAX_SAFE_INTEGER;
  }

  /** Reads a line of a header or trailer section, which must fit MAX_HEAD_BYTES in all. */
  private readSectionLine(chunk: Buffer, at: number, onLine: (line: string) => void): number {
    const next = this.lines.read(chunk, at, MAX_HEAD_BYTES - this.sectionBytes);
    if (next < 0) return this.fail('header-too-large');
    this.sectionBytes += next - at;
    if (this.sectionBytes > MAX_HEAD_BYTES) return this.fail('header-too-large');
    if (this.lines.line !== null) onLine(this.lines.line.toString('latin1'));
    return next;
  }

  private onHeadLine(line: string): void {
    if (this.startLine === null) {
      // RFC 9112 §2.2: empty lines before a start line are ignored.
      if (line === '') return;
      this.startLine = line;
      if (this.role === 'request') this.requestLine = parseRequestLine(line);
      else this.statusLine = parseStatusLine(line);
      if (this.requestLine === null && this.statusLine === null) this.fail('bad-start-line');
    } else if (line !== '') {
      if (!addFieldLine(this.headers, line)) this.fail('bad-header');
    } else {
      this.onHeadEnd();
    }
  }

  private onHeadEnd(): void {
    const status = this.statusLine?.status;
    if (status !== undefined && status < STATUS_SUCCESS_MIN && status !== STATUS_SWITCHING_PROTOCOLS) {
      // An interim response (100 Continue, 103 Early Hints): the final one is still to come.
      this.resetMessage();
      return;
    }
    const method = this.methods[0] ?? UNKNOWN_REQUEST_METHOD;
    const bodiless =
      status !== undefined &&
      (method === 'HEAD' ||
        status < STATUS_SUCCESS_MIN ||
        status === STATUS_NO_CONTENT ||
        status === STATUS_NOT_MODIFIED ||
        (method === 'CONNECT' && status <= STATUS_SUCCESS_MAX));
    const framing = bodyFraming(this.role, this.headers, bodiless);
    if (typeof framing === 'string') {
      this.fail(framing);
      return;
    }
    this.framing = framing.kind;
    this.body = new BodyCollector(this.limits, contentDecoder(fieldValues(this.headers, 'content-encoding')));
    this.sectionBytes = 0;
    switch (framing.kind) {
      case 'none':
        this.complete();
        break;
      case 'content-length':
        this.remaining = framing.length;
        if (this.remaining === 0) this.complete();
        else this.state = 'length';
        break;
      case 'chunked':
        this.state = 'chunk-size';
        break;
      case 'close':
        this.state = 'close';
        break;
    }
  }

  private onTrailerLine(line: string): void {
    if (line === '') this.complete();
    else if (!addFieldLine(this.trailers, line)) this.fail('bad-header');
  }

  /** Body bytes of a Content-Length body or of one chunk. */
  private readCounted(chunk: Buffer, at: number): number {
    const n = Math.min(this.remaining, chunk.length - at);
    this.body!.add(chunk.subarray(at, at + n));
    this.remaining -= n;
    if (this.remaining === 0) {
      if (this.state === 'length') this.complete();
      else this.state = 'chunk-end';
    }
    return at + n;
  }

  private readChunkLine(chunk: Buffer, at: number): number {
    const error = this.state === 'chunk-size' ? 'bad-chunk-size' : 'bad-chunk-end';
    const next = this.lines.read(chunk, at, MAX_HEAD_BYTES);
    if (next < 0) return this.fail(error);
    const line = this.lines.line;
    if (line === null) return next;
    if (this.state === 'chunk-end') {
      if (line.length !== 0) return this.fail(error);
      this.state = 'chunk-size';
      return next;
    }
    const size = parseChunkSize(line.toString('latin1'));
    if (size < 0) return this.fail(error);
    this.remaining = size;
    // RFC 9112 §7.1: the last chunk has size 0 and is followed by the trailer section.
    this.state = size === 0 ? 'trailers' : 'chunk-data';
    return next;
  }

  private complete(): void {
    const parts = {
      startLine: this.startLine!,
      headers: this.headers,
      trailers: this.trailers,
      framing: this.framing,
      lostBytes: this.lostBytes,
      ...this.body!.finish(),
    };
    let message: HttpMessage;
    let upgraded = false;
    if (this.requestLine !== null) {
      message = { role: 'request', ...this.requestLine, ...parts };
    } else {
      const requestMethod = this.methods.shift() ?? UNKNOWN_REQUEST_METHOD;
      const status = this.statusLine!.status;
      upgraded =
        status === STATUS_SWITCHING_PROTOCOLS ||
        (requestMethod === 'CONNECT' && status >= STATUS_SUCCESS_MIN && status <= STATUS_SUCCESS_MAX);
      message = { role: 'response', ...this.statusLine!, requestMethod, ...parts };
    }
    this.resetMessage();
    if (upgraded) this.status = 'upgraded';
    // The role fixed which line was parsed, so the message is the callback's type.
    this.onMessage(message as MessageOf<R>);
  }

  private resetMessage(): void {
    this.state = 'head';
    this.sectionBytes = 0;
    this.startLine = null;
    this.requestLine = null;
    this.statusLine = null;
    this.headers = [];
    this.trailers = [];
    this.framing = 'none';
    this.body = null;
    this.remaining = 0;
    this.lostBytes = 0;
  }
}

/** A parser of the client's side of a connection. */
export function httpRequestParser(
  onRequest: (request: HttpRequest) => void,
  limits?: Partial<BodyLimits>,
): HttpParser<'request'> {
  return new HttpParser('request', onRequest, limits);
}

/** A parser of a server's side of a connection: tell it each request's method (expectResponseTo). */
export function httpResponseParser(
  onResponse: (response: HttpResponse) => void,
  limits?: Partial<BodyLimits>,
): HttpParser<'response'> {
  return new HttpParser('response', onResponse, limits);
}
