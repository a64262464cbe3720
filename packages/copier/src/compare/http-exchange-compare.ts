/**
 * HTTP mode: production's k-th request and response against a copy's k-th, into an outcome and,
 * when they differ, the diff-log record. The responses are compared by compareHttpResponses
 * (http-compare.ts) under the configured rules; one record per differing exchange, whose kind is
 * the most important difference found.
 */
import { createHash } from 'node:crypto';
import type { ComparisonOutcome } from './exchange-compare.js';
import {
  DIFF_TEXT_BYTES,
  escapeBytes,
  type DiffAnswer,
  type DiffExcerpt,
  type DiffKind,
  type DiffRecord,
  type DiffRequest,
  type DiffSession,
} from './diff-record.js';
import { compareHttpResponses, type HttpCompareRules, type HttpDifference } from './http-compare.js';
import type { HttpParseError } from './http-head.js';
import type { HttpRequest, HttpResponse } from './http-parser.js';
import type { HttpExchange, HttpMissing } from './http-tap.js';

export interface HttpComparison {
  readonly outcome: ComparisonOutcome;
  readonly record: DiffRecord | undefined;
}

/**
 * Which difference names a differing exchange. The status first: a 500 instead of a 200 explains
 * why its headers and body differ too. Then the headers: they describe the body (Content-Type,
 * Content-Encoding, caching) and a body difference often follows from one. Then the body, which
 * compareHttpResponses reports as `body` (bytes differ) or `length` (one is the other's beginning).
 */
const KIND_ORDER: readonly HttpDifference['kind'][] = ['status', 'headers', 'body', 'length'];

/** A test answer that did not parse is reported as the part of it that failed. */
const PARSE_ERROR_KIND: Readonly<Record<HttpParseError, DiffKind>> = {
  'bad-start-line': 'status',
  'bad-header': 'headers',
  'header-too-large': 'headers',
  'bad-content-length': 'headers',
  'bad-transfer-encoding': 'headers',
  'bad-chunk-size': 'body',
  'bad-chunk-end': 'body',
  incomplete: 'length',
};

const UNPAIRED: HttpComparison = { outcome: 'unpaired', record: undefined };
const LOST: HttpComparison = { outcome: 'lost', record: undefined };
const IDENTICAL: HttpComparison = { outcome: 'identical', record: undefined };

/**
 * Compares production's exchange with the copy's exchange of the same index; `test` undefined
 * means the copy ended without one, for the reason `testTail` says.
 */
export function compareHttpExchange(
  session: DiffSession,
  production: HttpExchange,
  test: HttpExchange | undefined,
  testTail: HttpMissing | undefined,
  rules: HttpCompareRules,
): HttpComparison {
  // The copier sent production's bytes: the same index carrying another request means misalignment.
  if (test !== undefined && test.request.startLine !== production.request.startLine) return UNPAIRED;
  const expected = production.response;
  // Production never answered (its client went away first, or its bytes were lost): nothing to compare with.
  if (expected === undefined) return LOST;
  const actual = test?.response;
  if (actual === undefined) {
    const why = test === undefined ? testTail : test.missing;
    if (why === 'lost') return LOST;
    const kind = why === 'reset' ? 'reset' : why === 'end' || why === undefined ? 'timeout' : PARSE_ERROR_KIND[why];
    return different(session, production, expected, undefined, kind, undefined);
  }
  // The capture lost body bytes of one of them: what they were cannot be told.
  if (expected.lostBytes > 0 || actual.lostBytes > 0) return LOST;
  const differences = compareHttpResponses(expected, actual, rules);
  if (differences.length === 0) return IDENTICAL;
  const first = KIND_ORDER.map((kind) => differences.find((d) => d.kind === kind)).find((d) => d !== undefined)!;
  return different(session, production, expected, actual, first.kind, first);
}

function different(
  session: DiffSession,
  exchange: HttpExchange,
  production: HttpResponse,
  test: HttpResponse | undefined,
  kind: DiffKind,
  difference: HttpDifference | undefined,
): HttpComparison {
  const body = difference?.kind === 'body' || difference?.kind === 'length' ? difference : undefined;
  const record: DiffRecord = {
    session: { client: session.client, target: session.target, copy: session.copy },
    exchange: exchange.index,
    request: requestRecord(exchange.request),
    production: answerRecord(production),
    test: test === undefined ? null : answerRecord(test),
    kind,
    offset: body?.offset ?? null,
    excerpt: body?.excerpt === undefined ? null : excerptRecord(body.excerpt),
  };
  return { outcome: 'different', record };
}

/** The head as parsed (start line and fields, CRLF-separated) followed by the body's first bytes. */
function messageText(message: HttpRequest | HttpResponse): string {
  let head = `${message.startLine}\r\n`;
  for (const [name, value] of message.headers) head += `${name}: ${value}\r\n`;
  const text = Buffer.from(`${head}\r\n`, 'latin1');
  const room = Math.max(0, DIFF_TEXT_BYTES - text.length);
  return escapeBytes(Buffer.concat([text.subarray(0, DIFF_TEXT_BYTES), message.body.subarray(0, room)]));
}

function requestRecord(request: HttpRequest): DiffRequest {
  return {
    firstBytes: messageText(request),
    length: request.bodyLength,
    http: { requestLine: request.startLine, headers: request.headers },
  };
}

function answerRecord(response: HttpResponse): DiffAnswer {
  return {
    firstBytes: messageText(response),
    length: response.bodyLength,
    sha256: response.bodyHash ?? createHash('sha256').update(response.body).digest('hex'),
    http: { status: response.status, headers: response.headers },
  };
}

type BodyExcerpts = NonNullable<Extract<HttpDifference, { kind: 'body' | 'length' }>['excerpt']>;

function excerptRecord(excerpt: BodyExcerpts): DiffExcerpt {
  const record = {
    start: excerpt.production.start,
    production: escapeBytes(excerpt.production.bytes),
    test: escapeBytes(excerpt.test.bytes),
  };
  // Ignored spans of different lengths shift the test body's excerpt.
  return excerpt.test.start === excerpt.production.start ? record : { ...record, testStart: excerpt.test.start };
}
