/**
 * The diff-log record: built from comparisons, one JSON line each, and every record the code can
 * write valid against docs/compare-diff-log.schema.json (checked with a validator for the subset
 * of JSON Schema it uses, which must also reject broken records).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import {
  ExchangeRecorder,
  compareExchange,
  escapeBytes,
  toDiffRecord,
  diffLogLine,
  DIFF_TEXT_BYTES,
} from '@tcpcopy/copier/compare';
import { validate, type Json, type Schema } from './json-schema-subset.js';
import type { DiffRecord, Exchange } from '../../../packages/copier/src/compare/index.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
const SCHEMA = JSON.parse(readFileSync(resolve(ROOT, 'docs/compare-diff-log.schema.json'), 'utf8')) as Schema;
const SESSION = { client: '198.51.100.7:51234', target: '10.0.0.2:80', copy: 1 };

function exchange(request: Buffer, answer: Buffer, reset = false): Exchange {
  const r = new ExchangeRecorder({ compareBytes: 64, requestBytes: 512 });
  r.clientBytes(request, 0);
  r.serverBytes(answer, 1);
  return r.end(reset)!;
}

/** The record as a reader of the log sees it. */
function parsedLine(record: DiffRecord): Json {
  const line = diffLogLine(record);
  assert.equal(line.indexOf('\n'), line.length - 1, 'one line');
  return JSON.parse(line) as Json;
}

describe('escapeBytes', () => {
  test('printable ASCII as is, C escapes for tab, CR, LF and backslash, \\xHH for the rest', () => {
    assert.equal(escapeBytes(Buffer.from('GET /a\\b\tc\r\n')), 'GET /a\\\\b\\tc\\r\\n');
    assert.equal(escapeBytes(Buffer.from([0x00, 0x7f, 0xff, 0x20, 0x7e])), '\\x00\\x7f\\xff ~');
  });
});

describe('toDiffRecord', () => {
  test('a bytes difference, field by field', () => {
    const request = Buffer.from('GET /x HTTP/1.1\r\n\r\n');
    const production = exchange(request, Buffer.from('HTTP/1.1 200 OK\r\n\r\nA'));
    const test = exchange(request, Buffer.from('HTTP/1.1 500 Oops\r\n\r\n'));
    const record = toDiffRecord(SESSION, compareExchange(production, test))!;
    assert.deepEqual(parsedLine(record), {
      session: SESSION,
      exchange: 0,
      request: { firstBytes: 'GET /x HTTP/1.1\\r\\n\\r\\n', length: request.length },
      production: { firstBytes: 'HTTP/1.1 200 OK\\r\\n\\r\\nA', length: 20, sha256: production.answer.sha256 },
      test: { firstBytes: 'HTTP/1.1 500 Oops\\r\\n\\r\\n', length: 21, sha256: test.answer.sha256 },
      kind: 'bytes',
      offset: 9,
      excerpt: { start: 0, production: 'HTTP/1.1 200 OK\\r\\n\\r\\nA', test: 'HTTP/1.1 500 Oops\\r\\n\\r\\n' },
    });
  });

  test('no record for identical, lost or unpaired exchanges', () => {
    const e = exchange(Buffer.from('q'), Buffer.from('a'));
    assert.equal(toDiffRecord(SESSION, compareExchange(e, e)), undefined);
  });

  test('a timeout without a test turn writes test and offset as null', () => {
    const e = exchange(Buffer.from('q'), Buffer.from('a'));
    const record = toDiffRecord(SESSION, compareExchange(e, undefined))!;
    assert.equal(record.test, null);
    assert.equal(record.offset, null);
    assert.equal(record.excerpt, null);
    assert.deepEqual(validate(SCHEMA, parsedLine(record)), []);
  });

  test('texts are cut to DIFF_TEXT_BYTES bytes before escaping', () => {
    const big = Buffer.alloc(DIFF_TEXT_BYTES * 2, 'r');
    const record = toDiffRecord(SESSION, compareExchange(exchange(big, big), undefined))!;
    assert.equal(record.request.firstBytes.length, DIFF_TEXT_BYTES);
    assert.equal(record.request.length, DIFF_TEXT_BYTES * 2);
  });

  test('every record the code writes is valid against the schema', () => {
    const bytes = fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a));
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 300 }).map((a) => Buffer.from(a)),
        bytes,
        bytes,
        fc.boolean(),
        fc.boolean(),
        (request, a, b, reset, missing) => {
          const production = exchange(request, a);
          const comparison = compareExchange(production, missing ? undefined : exchange(request, b, reset));
          const record = toDiffRecord(SESSION, comparison);
          if (record === undefined) return;
          assert.deepEqual(validate(SCHEMA, parsedLine(record)), []);
        },
      ),
    );
  });

  test('a record carrying the HTTP fields is valid too', () => {
    const e = exchange(Buffer.from('GET / HTTP/1.1\r\n\r\n'), Buffer.from('HTTP/1.1 200 OK\r\n\r\n'));
    const record = toDiffRecord(SESSION, compareExchange(e, undefined))!;
    const withHttp = {
      ...record,
      kind: 'status' as const,
      request: { ...record.request, http: { requestLine: 'GET / HTTP/1.1', headers: [['Host', 'a']] as const } },
      production: { ...record.production, http: { status: 200, headers: [['Server', 'nginx']] as const } },
    };
    assert.deepEqual(validate(SCHEMA, parsedLine(withHttp)), []);
  });

  test('the validator rejects broken records (so the checks above can fail)', () => {
    const e = exchange(Buffer.from('q'), Buffer.from('a'));
    const good = parsedLine(toDiffRecord(SESSION, compareExchange(e, undefined))!) as { [key: string]: Json };
    const broken: [string, Json][] = [
      ['missing kind', { ...good, kind: undefined as unknown as Json }],
      ['unknown kind', { ...good, kind: 'weird' }],
      ['fractional exchange', { ...good, exchange: 1.5 }],
      ['negative offset', { ...good, offset: -1 }],
      ['extra field', { ...good, extra: 1 }],
      ['bad hash', { ...good, production: { firstBytes: '', length: 0, sha256: 'abc' } }],
      ['session without copy', { ...good, session: { client: 'a', target: 'b' } }],
      ['http status out of range', { ...good, production: { ...(good['production'] as object), http: { status: 7 } } }],
    ];
    for (const [what, record] of broken) {
      const cleaned = JSON.parse(JSON.stringify(record)) as Json;
      assert.notDeepEqual(validate(SCHEMA, cleaned), [], what);
    }
    assert.deepEqual(validate(SCHEMA, good), []);
  });
});
