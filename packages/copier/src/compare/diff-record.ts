/**
 * The diff log (`--diff-log FILE`): one JSON object per line per differing exchange, for people
 * and for `tcpcopy report`. docs/compare-diff-log.schema.json is its contract; a unit test checks
 * every record built here against it. Bytes become text with every non-printable byte escaped, so
 * a line stays one line and a binary protocol's answer stays readable.
 */
import type { Exchange, RecordedAnswer } from './exchange-recorder.js';
import type { ExchangeComparison } from './exchange-compare.js';

/** Every kind the log knows: bytes mode's, and HTTP mode's `status`, `headers` and `body`. */
export type DiffKind = 'length' | 'bytes' | 'hash' | 'timeout' | 'reset' | 'status' | 'headers' | 'body';

export interface DiffSession {
  /** The client's address and port as captured, `198.51.100.7:51234` or `[2001:db8::7]:51234`. */
  readonly client: string;
  /** The test server the copy went to, `address:port`. */
  readonly target: string;
  /** Which copy under `-n` (0 without it). */
  readonly copy: number;
}

/** HTTP mode's view of a message, filled by the HTTP comparison; bytes mode leaves it out. */
export interface DiffHttpFields {
  readonly status?: number;
  readonly requestLine?: string;
  readonly headers?: readonly (readonly [string, string])[];
}

export interface DiffRequest {
  readonly firstBytes: string;
  readonly length: number;
  readonly http?: DiffHttpFields;
}

export interface DiffAnswer {
  readonly firstBytes: string;
  readonly length: number;
  readonly sha256: string;
  readonly http?: DiffHttpFields;
}

export interface DiffExcerpt {
  /** Where both excerpts start in their answers (HTTP mode: in the decoded bodies). */
  readonly start: number;
  /** HTTP mode, when ignored spans shift the test body's excerpt: where it starts instead. */
  readonly testStart?: number;
  readonly production: string;
  readonly test: string;
}

export interface DiffRecord {
  readonly session: DiffSession;
  readonly exchange: number;
  readonly request: DiffRequest;
  readonly production: DiffAnswer;
  /** Null when the test server never had the turn (a timeout after its session ended). */
  readonly test: DiffAnswer | null;
  readonly kind: DiffKind;
  /** The first differing byte, when it lies within the compared prefix. */
  readonly offset: number | null;
  readonly excerpt: DiffExcerpt | null;
}

/** Bytes of a request or answer written as text: enough to recognise it, little enough for one line. */
export const DIFF_TEXT_BYTES = 256;

const PRINTABLE_FIRST = 0x20;
const PRINTABLE_LAST = 0x7e;
const BACKSLASH = 0x5c;
const ESCAPES: Readonly<Record<number, string>> = { 0x09: '\\t', 0x0a: '\\n', 0x0d: '\\r', [BACKSLASH]: '\\\\' };

/** Printable ASCII as itself, tab, CR, LF and backslash as C escapes, any other byte as \xHH. */
export function escapeBytes(bytes: Buffer): string {
  let text = '';
  for (const byte of bytes) {
    const escape = ESCAPES[byte];
    if (escape !== undefined) text += escape;
    else if (byte >= PRINTABLE_FIRST && byte <= PRINTABLE_LAST) text += String.fromCharCode(byte);
    else text += `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  return text;
}

/** The record of a differing exchange; undefined when the comparison found no difference. */
export function toDiffRecord(
  session: DiffSession,
  comparison: ExchangeComparison,
  textBytes = DIFF_TEXT_BYTES,
): DiffRecord | undefined {
  const difference = comparison.difference;
  if (comparison.outcome !== 'different' || difference === undefined) return undefined;
  const request = comparison.production.request;
  const excerpt = difference.excerpt;
  return {
    session: { client: session.client, target: session.target, copy: session.copy },
    exchange: comparison.index,
    request: { firstBytes: escapeBytes(request.firstBytes.subarray(0, textBytes)), length: request.length },
    production: answerRecord(comparison.production.answer, textBytes),
    test: answerOrNull(comparison.test, textBytes),
    kind: difference.kind,
    offset: difference.offset ?? null,
    excerpt:
      excerpt === undefined
        ? null
        : { start: excerpt.start, production: escapeBytes(excerpt.production), test: escapeBytes(excerpt.test) },
  };
}

/** One line of the diff log, newline included. */
export function diffLogLine(record: DiffRecord): string {
  return `${JSON.stringify(record)}\n`;
}

function answerOrNull(exchange: Exchange | undefined, textBytes: number): DiffAnswer | null {
  return exchange === undefined ? null : answerRecord(exchange.answer, textBytes);
}

function answerRecord(answer: RecordedAnswer, textBytes: number): DiffAnswer {
  return {
    firstBytes: escapeBytes(answer.firstBytes.subarray(0, textBytes)),
    length: answer.length,
    sha256: answer.sha256,
  };
}
