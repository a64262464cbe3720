/**
 * compareHttpResponses: production's answer against the test server's, both parsed from bytes.
 * Identical answers (Date aside) report nothing, also framed or compressed differently; status,
 * added, removed and changed fields, ignored fields, bodies with ignore patterns (offsets mapped
 * back to the body), lengths, and bodies beyond the kept prefix compared by length and hash.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { deflateSync, gzipSync } from 'node:zlib';
import { compareHttpResponses, httpCompareRules, httpResponseParser } from '@tcpcopy/copier/compare';
import type { BodyLimits, HttpResponse } from '../../../packages/copier/src/compare/index.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const defaults = httpCompareRules();

/** The one response in `bytes`, an answer to `method`. */
function response(bytes: Buffer | string, method = 'GET', limits?: Partial<BodyLimits>): HttpResponse {
  const out: HttpResponse[] = [];
  const parser = httpResponseParser((r) => out.push(r), limits);
  parser.expectResponseTo(method);
  parser.push(typeof bytes === 'string' ? b(bytes) : bytes);
  parser.end();
  assert.equal(out.length, 1, `one response, parser ${parser.status}`);
  return out[0]!;
}

/** A response with Content-Length framing and the given fields. */
function answer(body: string | Buffer, fields: string[] = [], status = '200 OK'): HttpResponse {
  const bytes = typeof body === 'string' ? b(body) : body;
  const head = [`HTTP/1.1 ${status}`, ...fields, `Content-Length: ${bytes.length}`, '', ''].join('\r\n');
  return response(Buffer.concat([b(head), bytes]));
}

const base = ['Server: nginx', 'Content-Type: text/html', 'Cache-Control: no-cache'];

describe('compareHttpResponses', () => {
  test('two identical answers, only Date differing, report nothing', () => {
    const p = answer('<p>hello</p>', ['Date: Mon, 07 Dec 2026 10:00:00 GMT', ...base]);
    const t = answer('<p>hello</p>', [...base, 'date: Mon, 07 Dec 2026 10:00:03 GMT']);
    assert.deepEqual(compareHttpResponses(p, t, defaults), []);
    // Comparing Date when asked to: the rules can replace the default list.
    const strict = httpCompareRules({ ignoreHeaders: [] });
    assert.deepEqual(
      compareHttpResponses(p, t, strict).map((d) => d.kind === 'headers' && [d.name, d.change]),
      [['Date', 'changed']],
    );
  });

  test('the same body gzipped, deflated, chunked or close-delimited reports nothing', () => {
    const body = 'the same representation, '.repeat(40);
    const plain = answer(body, base);
    const gz = gzipSync(b(body));
    const chunked = response(
      Buffer.concat([
        b(`HTTP/1.1 200 OK\r\n${base.join('\r\n')}\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n`),
        b(`${gz.length.toString(16)}\r\n`),
        gz,
        b('\r\n0\r\n\r\n'),
      ]),
    );
    const deflated = answer(deflateSync(b(body)), [...base, 'Content-Encoding: deflate']);
    const closed = response(`HTTP/1.1 200 OK\r\n${base.join('\r\n')}\r\nConnection: close\r\n\r\n${body}`);
    for (const other of [chunked, deflated]) {
      assert.deepEqual(compareHttpResponses(plain, other, defaults), []);
      assert.deepEqual(compareHttpResponses(other, plain, defaults), []);
    }
    // Connection is not a framing field: it is reported, and nothing else.
    assert.deepEqual(
      compareHttpResponses(plain, closed, defaults).map((d) => d.kind === 'headers' && d.name),
      ['Connection'],
    );
  });

  test('Content-Encoding is reported when the decoded bodies differ, Content-Length when there is no body', () => {
    const p = answer('one body', base);
    const t = answer(gzipSync(b('another body')), [...base, 'Content-Encoding: gzip']);
    assert.deepEqual(
      compareHttpResponses(p, t, defaults).map((d) => [d.kind, d.kind === 'headers' ? d.name : '']),
      [
        ['headers', 'Content-Encoding'],
        ['body', ''],
      ],
    );
    const head = (length: number): HttpResponse =>
      response(`HTTP/1.1 200 OK\r\nContent-Length: ${length}\r\n\r\n`, 'HEAD');
    assert.deepEqual(compareHttpResponses(head(10), head(10), defaults), []);
    assert.deepEqual(
      compareHttpResponses(head(10), head(12), defaults).map(
        (d) => d.kind === 'headers' && [d.name, d.production, d.test],
      ),
      [['Content-Length', ['10'], ['12']]],
    );
  });

  test('status: the code, not the reason phrase', () => {
    const p = answer('x', base);
    assert.deepEqual(compareHttpResponses(p, answer('x', base, '200 Fine'), defaults), []);
    assert.deepEqual(compareHttpResponses(p, answer('x', base, '500 Internal Server Error'), defaults), [
      { kind: 'status', production: 200, test: 500 },
    ]);
  });

  test('fields added, removed and changed, by case-insensitive name, order of names ignored', () => {
    const p = answer('x', ['Server: nginx', 'X-Removed: gone', 'Vary: Accept', 'Set-Cookie: a=1', 'Set-Cookie: b=2']);
    const t = answer('x', [
      'vary: Accept, Accept-Language',
      'set-cookie: a=1',
      'Set-Cookie: b=3',
      'SERVER: nginx',
      'X-Added: new',
    ]);
    assert.deepEqual(compareHttpResponses(p, t, defaults), [
      { kind: 'headers', name: 'X-Removed', change: 'removed', production: ['gone'], test: [] },
      { kind: 'headers', name: 'Vary', change: 'changed', production: ['Accept'], test: ['Accept, Accept-Language'] },
      { kind: 'headers', name: 'Set-Cookie', change: 'changed', production: ['a=1', 'b=2'], test: ['a=1', 'b=3'] },
      { kind: 'headers', name: 'X-Added', change: 'added', production: [], test: ['new'] },
    ]);
    // Lines of one name joined with commas are the same field (RFC 9110 §5.3); Set-Cookie's are not.
    const split = answer('x', ['Vary: Accept', 'Vary: Accept-Language']);
    const joined = answer('x', ['Vary: Accept, Accept-Language']);
    assert.deepEqual(compareHttpResponses(split, joined, defaults), []);
    const ignoring = httpCompareRules({ ignoreHeaders: ['x-removed', 'X-ADDED', 'vary', 'set-cookie', 'Date'] });
    assert.deepEqual(compareHttpResponses(p, t, ignoring), []);
  });

  test('a body difference: where it starts and both bodies around it', () => {
    const prefix = 'x'.repeat(100);
    const p = answer(`${prefix}production says A here, and more after it`, base);
    const t = answer(`${prefix}production says B here, and more after it`, base);
    const [d, ...rest] = compareHttpResponses(p, t, defaults);
    assert.equal(rest.length, 0);
    assert.ok(d?.kind === 'body');
    assert.equal(d.offset, 116);
    assert.deepEqual([d.productionLength, d.testLength], [141, 141]);
    assert.equal(d.excerpt?.production.start, 116 - 16);
    assert.equal(d.excerpt.test.start, 116 - 16);
    assert.equal(d.excerpt.production.bytes.toString(), 'production says A here, and more after it');
    assert.equal(d.excerpt.test.bytes.toString(), 'production says B here, and more after it');
  });

  test('a body that is the other one with more after it: length, where the shorter ends', () => {
    const [d, ...rest] = compareHttpResponses(answer('abcdef', base), answer('abcdefgh', base), defaults);
    assert.equal(rest.length, 0);
    assert.ok(d?.kind === 'length');
    assert.deepEqual([d.offset, d.productionLength, d.testLength], [6, 6, 8]);
    assert.deepEqual(
      [d.excerpt?.production.bytes.toString(), d.excerpt?.test.bytes.toString()],
      ['abcdef', 'abcdefgh'],
    );
  });

  test('ignore patterns remove spans from both bodies; offsets stay in the bodies', () => {
    const rules = httpCompareRules({ ignoreBody: [/"time":"[^"]*"/, /id=\d+/] });
    const p = answer('{"time":"10:00:00","user":"ann"} id=7 ok', base);
    const t = answer('{"time":"10:00:03.123","user":"ann"} id=123456 ok', base);
    assert.deepEqual(compareHttpResponses(p, t, rules), []);
    assert.equal(compareHttpResponses(p, t, defaults)[0]?.kind, 'body', 'without the patterns they differ');
    const t2 = answer('{"time":"11:00","user":"bob"} id=99 ok', base);
    const [d] = compareHttpResponses(p, t2, rules);
    assert.ok(d?.kind === 'body');
    const userAt = '{"time":"10:00:00","user":"'.length;
    assert.equal(d.offset, userAt, "production's offset of the first differing byte");
    assert.equal(d.excerpt?.production.bytes.subarray(userAt - d.excerpt.production.start).toString(), 'ann"} id=7 ok');
    const testUserAt = '{"time":"11:00","user":"'.length;
    assert.equal(d.excerpt.test.start, Math.max(0, testUserAt - 16));
    // A pattern without the global flag, or with a sticky one, still removes every match.
    const sticky = httpCompareRules({ ignoreBody: [/\d/y] });
    assert.deepEqual(compareHttpResponses(answer('a1b2c3', base), answer('a9b8c7', base), sticky), []);
    // A body that is all ignored against one that is not: a length difference at its end.
    const all = httpCompareRules({ ignoreBody: [/\d+/] });
    const [e] = compareHttpResponses(answer('123', base), answer('456x', base), all);
    assert.ok(e?.kind === 'length');
    assert.equal(e.offset, 3);
  });

  test('bodies beyond the kept prefix: lengths, then hashes', () => {
    const limits = { maxBodyBytes: 64 };
    const big = (tail: string): HttpResponse => {
      const body = `${'p'.repeat(1000)}${tail}`;
      return response(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`, 'GET', limits);
    };
    assert.deepEqual(compareHttpResponses(big('same'), big('same'), defaults), []);
    const [hash] = compareHttpResponses(big('same'), big('diff'), defaults);
    assert.deepEqual(hash && [hash.kind, hash.kind === 'body' && hash.offset], ['body', undefined]);
    const [length] = compareHttpResponses(big('same'), big('longer'), defaults);
    assert.ok(length?.kind === 'length');
    assert.deepEqual([length.offset, length.productionLength, length.testLength], [undefined, 1004, 1006]);
    // A short answer against a long one: the short one ends inside the long one's kept prefix.
    const short = response('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\npppppppppp', 'GET', limits);
    const [cut] = compareHttpResponses(big('same'), short, defaults);
    assert.ok(cut?.kind === 'length');
    assert.deepEqual([cut.offset, cut.productionLength, cut.testLength], [10, 1004, 10]);
  });

  test('several kinds at once come in order: status, headers, body', () => {
    const p = answer('ok', ['A: 1']);
    const t = answer('no', ['A: 2'], '404 Not Found');
    assert.deepEqual(
      compareHttpResponses(p, t, defaults).map((d) => d.kind),
      ['status', 'headers', 'body'],
    );
  });
});
