/**
 * The parts of an HTTP/1.x message before its body (RFC 9112 §2-6): lines, the start line, header
 * fields, and the body length they imply. Pure functions over strings and Buffers.
 */

/** Bytes of a header section (start line and fields, or a chunked trailer section) we accept. */
export const MAX_HEAD_BYTES = 64 * 1024;

const LF = 0x0a;
const CR = 0x0d;

export type HttpParseError =
  /** Not `METHOD SP target SP HTTP/1.x`, nor `HTTP/1.x SP 3DIGIT [SP reason]`. */
  | 'bad-start-line'
  /** A field line without a colon, or with whitespace before it (RFC 9112 §5.1). */
  | 'bad-header'
  /** A header or trailer section over MAX_HEAD_BYTES. */
  | 'header-too-large'
  /** Content-Length not a number, or several differing ones (RFC 9112 §6.3 item 5). */
  | 'bad-content-length'
  /** A request whose Transfer-Encoding does not end with chunked (RFC 9112 §6.3 item 4). */
  | 'bad-transfer-encoding'
  /** A chunk-size line that is not hex digits, optionally followed by extensions (RFC 9112 §7.1). */
  | 'bad-chunk-size'
  /** Chunk data not followed by CRLF. */
  | 'bad-chunk-end'
  /** The connection ended inside a message whose end its framing tells. */
  | 'incomplete';

/**
 * Assembles one line at a time from chunks: `read` consumes up to and including a LF and leaves
 * the line (without CR LF) in `line`. A line within one chunk is a view of it, not a copy.
 */
export class LineReader {
  line: Buffer | null = null;
  private readonly parts: Buffer[] = [];
  private partsLength = 0;

  /**
   * Reads from `chunk[at..]`; returns the offset after what it consumed, or -1 when the line
   * grows past `maxBytes`. `line` is null when the chunk ended first (the start is kept).
   */
  read(chunk: Buffer, at: number, maxBytes: number): number {
    const lf = chunk.indexOf(LF, at);
    const end = lf < 0 ? chunk.length : lf;
    if (this.partsLength + end - at > maxBytes) return -1;
    if (lf < 0) {
      if (end > at) {
        this.parts.push(Buffer.from(chunk.subarray(at, end)));
        this.partsLength += end - at;
      }
      this.line = null;
      return chunk.length;
    }
    let line = chunk.subarray(at, lf);
    if (this.parts.length > 0) {
      this.parts.push(line);
      line = Buffer.concat(this.parts, this.partsLength + line.length);
      this.parts.length = 0;
      this.partsLength = 0;
    }
    // RFC 9112 §2.2: a recipient MAY recognize a single LF as a line terminator.
    this.line = line.length > 0 && line[line.length - 1] === CR ? line.subarray(0, line.length - 1) : line;
    return lf + 1;
  }

  /** Whether a partial line is held (the connection ending now cuts a message). */
  get pending(): boolean {
    return this.partsLength > 0;
  }

  /** Bytes of the partial line held. */
  get pendingBytes(): number {
    return this.partsLength;
  }
}

export interface RequestLine {
  method: string;
  target: string;
  version: string;
}

export interface StatusLine {
  version: string;
  status: number;
  reason: string;
}

// RFC 9110 §5.6.2: token = 1*tchar. RFC 9112 §3: request-line = method SP request-target SP HTTP-version.
const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\S+) (HTTP\/1\.\d)$/;
// RFC 9112 §4: status-line = HTTP-version SP status-code SP [ reason-phrase ]; the SP before an
// empty reason is often left out, and recipients accept that.
const STATUS_LINE = /^(HTTP\/1\.\d) (\d{3})(?: ([^\r\n]*))?$/;
const FIELD_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export function parseRequestLine(line: string): RequestLine | null {
  const m = REQUEST_LINE.exec(line);
  return m === null ? null : { method: m[1]!, target: m[2]!, version: m[3]! };
}

export function parseStatusLine(line: string): StatusLine | null {
  const m = STATUS_LINE.exec(line);
  return m === null ? null : { version: m[1]!, status: Number(m[2]), reason: m[3] ?? '' };
}

/**
 * Adds one field line to `headers`, or returns false when it is malformed. An obsolete folded
 * line (RFC 9112 §5.2) continues the previous field's value, joined by a space as the RFC allows.
 */
export function addFieldLine(headers: [string, string][], line: string): boolean {
  if (line[0] === ' ' || line[0] === '\t') {
    const last = headers[headers.length - 1];
    if (last === undefined) return false;
    last[1] = `${last[1]} ${line.trim()}`.trim();
    return true;
  }
  const colon = line.indexOf(':');
  if (colon <= 0 || !FIELD_NAME.test(line.slice(0, colon))) return false;
  // RFC 9110 §5.5: leading and trailing whitespace is not part of the field value.
  headers.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
  return true;
}

/** Every value of the fields named `name` (case-insensitively), in order. */
export function fieldValues(headers: readonly (readonly [string, string])[], name: string): string[] {
  const lower = name.toLowerCase();
  return headers.filter(([n]) => n.toLowerCase() === lower).map(([, v]) => v);
}

/** How a message's body is delimited (RFC 9112 §6.3). */
export type BodyFraming =
  { kind: 'none' } | { kind: 'content-length'; length: number } | { kind: 'chunked' } | { kind: 'close' };

const NO_BODY: BodyFraming = { kind: 'none' };
const CHUNKED: BodyFraming = { kind: 'chunked' };
const CLOSE: BodyFraming = { kind: 'close' };
const DECIMAL = /^\d{1,15}$/;

/**
 * The body framing of a message whose start line and fields are known. `bodiless` is true for a
 * response that has no body whatever its fields say (RFC 9112 §6.3 item 1: to HEAD, 1xx, 204, 304).
 */
export function bodyFraming(
  role: 'request' | 'response',
  headers: readonly (readonly [string, string])[],
  bodiless: boolean,
): BodyFraming | HttpParseError {
  if (bodiless) return NO_BODY;
  const transferCodings = fieldValues(headers, 'transfer-encoding')
    .flatMap((v) => v.split(','))
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '');
  // RFC 9112 §6.3 item 3: Transfer-Encoding overrides Content-Length.
  if (transferCodings.length > 0) {
    if (transferCodings[transferCodings.length - 1] === 'chunked') return CHUNKED;
    // Item 4: a response's body then runs until the connection closes; a request's is unknowable.
    return role === 'response' ? CLOSE : 'bad-transfer-encoding';
  }
  const lengths = fieldValues(headers, 'content-length').flatMap((v) => v.split(','));
  if (lengths.length > 0) {
    const first = lengths[0]!.trim();
    // Item 5: a list of identical values is one value; anything else is unrecoverable.
    if (!DECIMAL.test(first) || lengths.some((l) => l.trim() !== first)) return 'bad-content-length';
    return { kind: 'content-length', length: Number(first) };
  }
  // Items 6 and 7: a request without either has no body; a response runs to the close.
  return role === 'request' ? NO_BODY : CLOSE;
}

/** Chunk sizes beyond this many hex digits would lose precision as numbers: no real chunk is that big. */
const MAX_CHUNK_SIZE_DIGITS = 12;
const CHUNK_SIZE_LINE = /^([0-9A-Fa-f]+)[ \t]*(?:;.*)?$/;

/** The size on a chunk-size line (RFC 9112 §7.1: chunk-size [ chunk-ext ]), or -1 when malformed. */
export function parseChunkSize(line: string): number {
  const m = CHUNK_SIZE_LINE.exec(line);
  if (m === null) return -1;
  const digits = m[1]!.replace(/^0+(?=.)/, '');
  return digits.length > MAX_CHUNK_SIZE_DIGITS ? -1 : parseInt(digits, 16);
}
