/**
 * What a report groups records by: the request's HTTP path (or its first bytes when it is not
 * HTTP), and a detail saying what differs (the status pair, the header names). Also how any text
 * from a log is made safe to show: the log is escaped ASCII when tcpcopy wrote it, but a report
 * must not let a hand-edited line send control sequences to a terminal.
 */
import type { DiffAnswer, DiffRecord } from '../compare/diff-record.js';
import { DEFAULT_IGNORED_HEADERS } from '../compare/http-compare.js';

const PRINTABLE_FIRST = 0x20;
const PRINTABLE_LAST = 0x7e;
const LAST_BYTE = 0xff;

/** Printable ASCII as itself, any other character escaped: one column per character, no control codes. */
export function displayText(text: string): string {
  let shown = '';
  for (const char of text) {
    const code = char.codePointAt(0)!;
    if (code >= PRINTABLE_FIRST && code <= PRINTABLE_LAST) shown += char;
    else if (code <= LAST_BYTE) shown += `\\x${code.toString(16).padStart(2, '0')}`;
    else shown += `\\u{${code.toString(16)}}`;
  }
  return shown;
}

/** diff-record.ts's escapes (`\\`, `\t`, `\r`, `\n`, `\xHH`) or one character: never cut inside one. */
const TOKEN = /\\x[0-9a-fA-F]{2}|\\[\s\S]|[\s\S]/gu;

/** Display text cut into units that must stay whole when the text is shortened or wrapped. */
export function displayTokens(text: string): string[] {
  return Array.from(displayText(text).matchAll(TOKEN), (m) => m[0]);
}

const ELLIPSIS = '...';

/** At most `width` columns of `text`, ending in `...` when it was cut. */
export function shorten(text: string, width: number): string {
  const shown = displayText(text);
  if (shown.length <= width) return shown;
  let kept = '';
  for (const token of displayTokens(text)) {
    if (kept.length + token.length > width - ELLIPSIS.length) break;
    kept += token;
  }
  return `${kept}${ELLIPSIS}`;
}

/** Columns of a non-HTTP request's first bytes that name it in a report. */
export const REQUEST_KEY_WIDTH = 40;

/**
 * RFC 9112 §3: method SP request-target SP HTTP-version, the method a token (RFC 9110 §5.6.2).
 * In the log the line ends in the escaped CRLF; requestLine fields may carry the line alone.
 */
const REQUEST_LINE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+ (\S+) HTTP\/\d\.\d(?:\\r\\n|\\n|\r?\n|$)/;
/** RFC 9112 §3.2.2 absolute-form: scheme and authority before the path. */
const ABSOLUTE_FORM = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/;

/** The HTTP path of the record's request (query left out), or undefined when it is not HTTP. */
export function httpPath(record: DiffRecord): string | undefined {
  const line = record.request.http?.requestLine ?? record.request.firstBytes;
  const target = REQUEST_LINE.exec(line)?.[1];
  if (target === undefined) return undefined;
  const path = target.replace(ABSOLUTE_FORM, '').replace(/[?#].*$/, '');
  return path === '' ? '/' : path;
}

/** What a record is counted under in "by path": its HTTP path, else its first request bytes. */
export function requestKey(record: DiffRecord): string {
  const path = httpPath(record);
  if (path !== undefined) return path;
  if (record.request.firstBytes === '') return '(empty request)';
  return shorten(record.request.firstBytes, REQUEST_KEY_WIDTH);
}

/** RFC 9112 §4: status-line = HTTP-version SP status-code SP [ reason-phrase ]. */
const STATUS_LINE = /^HTTP\/\d\.\d (\d{3})(?: |\\r|$)/;

export function answerStatus(answer: DiffAnswer | null): number | undefined {
  if (answer === null) return undefined;
  if (answer.http?.status !== undefined) return answer.http.status;
  const code = STATUS_LINE.exec(answer.firstBytes)?.[1];
  return code === undefined ? undefined : Number(code);
}

/**
 * What differs, as far as the record says it, to group records that differ the same way: the
 * header names whose values differ for `headers`, else the status pair when the statuses differ
 * (in bytes mode too, where an HTTP answer's status line is in its first bytes).
 */
export function differenceDetail(record: DiffRecord): string | undefined {
  if (record.kind === 'headers') {
    const names = differingHeaders(record);
    if (names.length > 0) return `${names.length === 1 ? 'header' : 'headers'} ${names.join(', ')}`;
  }
  const production = answerStatus(record.production);
  const test = answerStatus(record.test);
  if (production === undefined || test === undefined || production === test) return undefined;
  return `status ${production} -> ${test}`;
}

/**
 * Fields the HTTP comparison never reports by default: they differ between any two answers (Date)
 * or are hop-by-hop framing (Transfer-Encoding, RFC 9112 §6.1). The record does not carry the
 * rules it was compared with, so a log written with other --compare-ignore-header names may
 * name those too.
 */
const NEVER_REPORTED = new Set([...DEFAULT_IGNORED_HEADERS.map((name) => name.toLowerCase()), 'transfer-encoding']);

/** RFC 9110 §5.1: field names are case-insensitive; lines of one name compared together, in order. */
function differingHeaders(record: DiffRecord): string[] {
  const production = headerValues(record.production.http?.headers);
  const test = headerValues(record.test?.http?.headers);
  if (production === undefined || test === undefined) return [];
  const names = new Set([...production.keys(), ...test.keys()]);
  return [...names].filter((name) => !NEVER_REPORTED.has(name) && production.get(name) !== test.get(name)).sort();
}

function headerValues(headers: readonly (readonly [string, string])[] | undefined): Map<string, string> | undefined {
  if (headers === undefined) return undefined;
  const values = new Map<string, string>();
  for (const [name, value] of headers) {
    const lower = name.toLowerCase();
    const before = values.get(lower);
    values.set(lower, before === undefined ? value : `${before}\n${value}`);
  }
  return values;
}
