/**
 * One line of a diff log back into a DiffRecord, or the reason it is not one. A log may be cut
 * mid-line (read while tcpcopy writes it), edited by hand or written by another version: every
 * field the report reads is checked here, so rendering never meets a value of the wrong type.
 * The shape is docs/compare-diff-log.schema.json's.
 */
import type { DiffAnswer, DiffExcerpt, DiffHttpFields, DiffKind, DiffRecord } from '../compare/diff-record.js';

export const DIFF_KINDS: readonly DiffKind[] = Object.freeze([
  'status',
  'headers',
  'body',
  'length',
  'bytes',
  'hash',
  'timeout',
  'reset',
]);

export type ParsedLine = { readonly record: DiffRecord } | { readonly problem: string };

/** Thrown inside this module only: the path of the first wrong field and what was expected. */
class FieldProblem extends Error {}

type Fields = Readonly<Record<string, unknown>>;

export function parseDiffLine(line: string): ParsedLine {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    return { problem: 'not JSON' };
  }
  try {
    return { record: diffRecord(json) };
  } catch (err) {
    if (err instanceof FieldProblem) return { problem: err.message };
    throw err;
  }
}

function diffRecord(json: unknown): DiffRecord {
  const top = object(json, 'the line');
  const session = object(top.session, 'session');
  return {
    session: {
      client: string(session.client, 'session.client'),
      target: string(session.target, 'session.target'),
      copy: count(session.copy, 'session.copy'),
    },
    exchange: count(top.exchange, 'exchange'),
    request: request(object(top.request, 'request')),
    production: answer(top.production, 'production'),
    test: top.test === null ? null : answer(top.test, 'test'),
    kind: kind(top.kind),
    offset: top.offset === null ? null : count(top.offset, 'offset'),
    excerpt: top.excerpt === null ? null : excerpt(object(top.excerpt, 'excerpt')),
  };
}

function request(fields: Fields): DiffRecord['request'] {
  const http = optionalHttp(fields.http, 'request.http');
  const base = {
    firstBytes: string(fields.firstBytes, 'request.firstBytes'),
    length: count(fields.length, 'request.length'),
  };
  return http === undefined ? base : { ...base, http };
}

function answer(json: unknown, name: string): DiffAnswer {
  const fields = object(json, name);
  const http = optionalHttp(fields.http, `${name}.http`);
  const base = {
    firstBytes: string(fields.firstBytes, `${name}.firstBytes`),
    length: count(fields.length, `${name}.length`),
    sha256: string(fields.sha256, `${name}.sha256`),
  };
  return http === undefined ? base : { ...base, http };
}

function excerpt(fields: Fields): DiffExcerpt {
  const start = count(fields.start, 'excerpt.start');
  return {
    start,
    ...(fields.testStart === undefined ? {} : { testStart: count(fields.testStart, 'excerpt.testStart') }),
    production: string(fields.production, 'excerpt.production'),
    test: string(fields.test, 'excerpt.test'),
  };
}

function optionalHttp(json: unknown, name: string): DiffHttpFields | undefined {
  if (json === undefined) return undefined;
  const fields = object(json, name);
  const http: { status?: number; requestLine?: string; headers?: (readonly [string, string])[] } = {};
  if (fields.status !== undefined) http.status = count(fields.status, `${name}.status`);
  if (fields.requestLine !== undefined) http.requestLine = string(fields.requestLine, `${name}.requestLine`);
  if (fields.headers !== undefined) {
    if (!Array.isArray(fields.headers)) throw new FieldProblem(`${name}.headers: expected an array`);
    http.headers = fields.headers.map((pair: unknown, i) => header(pair, `${name}.headers[${i}]`));
  }
  return http;
}

function header(json: unknown, name: string): readonly [string, string] {
  if (!Array.isArray(json) || json.length !== 2) throw new FieldProblem(`${name}: expected [name, value]`);
  const [field, value]: unknown[] = json;
  return [string(field, name), string(value, name)];
}

function kind(json: unknown): DiffKind {
  const found = DIFF_KINDS.find((k) => k === json);
  if (found === undefined) throw new FieldProblem(`kind: expected one of ${DIFF_KINDS.join(', ')}`);
  return found;
}

function object(json: unknown, name: string): Fields {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new FieldProblem(`${name}: expected an object`);
  }
  return json as Fields;
}

function string(json: unknown, name: string): string {
  if (typeof json !== 'string') throw new FieldProblem(`${name}: expected a string`);
  return json;
}

function count(json: unknown, name: string): number {
  if (typeof json !== 'number' || !Number.isSafeInteger(json) || json < 0) {
    throw new FieldProblem(`${name}: expected an integer >= 0`);
  }
  return json;
}
