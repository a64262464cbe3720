/**
 * The diff-log report's pure core: reading lines (bad ones counted by number), grouping by kind,
 * path and test server, the order of the most frequent differences, the two-column excerpts, and
 * both renderings staying safe (text within 100 columns and free of control codes, HTML escaped
 * and self-contained).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { diffLogLine } from '@tcpcopy/copier/compare';
import {
  ReportBuilder,
  differenceDetail,
  escapeHtml,
  parseDiffLine,
  renderHtml,
  renderText,
  requestKey,
  sideBySide,
  REPORT_WIDTH,
  type DiffReport,
} from '@tcpcopy/copier/report';
import type { DiffRecord } from '../../../packages/copier/src/compare/index.js';
import { SESSION, answer, diffRecord, get, httpRecord } from './records.js';

const OTHER_TARGET = { ...SESSION, target: '10.0.0.3:80' };

function reportOf(records: readonly DiffRecord[], limits?: ConstructorParameters<typeof ReportBuilder>[0]): DiffReport {
  const builder = new ReportBuilder(limits);
  for (const record of records) builder.addLine(diffLogLine(record).trimEnd());
  return builder.report();
}

describe('aggregation', () => {
  const statusA = diffRecord(get('/a?id=1'), answer('200 OK', 'x'), answer('500 Oops', 'x'));
  const timeoutB = diffRecord(get('/b'), answer('200 OK', 'y'), undefined, OTHER_TARGET);
  const redis = diffRecord('*2\r\n$3\r\nGET\r\n$1\r\nk\r\n', '$1\r\na\r\n', '$1\r\nb\r\n', OTHER_TARGET);
  const lengthA = diffRecord(get('/a'), answer('200 OK', 'x'), answer('200 OK', 'x') + 'extra');

  test('counts by kind, by path (query left out) or first request bytes, and by test server', () => {
    const report = reportOf([statusA, timeoutB, statusA, redis, lengthA, statusA]);
    assert.equal(report.total, 6);
    assert.equal(report.badLineCount, 0);
    assert.deepEqual(report.byKind, [
      { key: 'bytes', count: 4 },
      { key: 'timeout', count: 1 },
      { key: 'length', count: 1 },
    ]);
    assert.deepEqual(report.byPath.rows, [
      { key: '/a', count: 4 },
      { key: '/b', count: 1 },
      { key: '*2\\r\\n$3\\r\\nGET\\r\\n$1\\r\\nk\\r\\n', count: 1 },
    ]);
    assert.deepEqual(report.byTarget.rows, [
      { key: '10.0.0.2:80', count: 4 },
      { key: '10.0.0.3:80', count: 2 },
    ]);
  });

  test('differences grouped by kind, path and status pair, most frequent first, ties as first seen', () => {
    const report = reportOf([timeoutB, statusA, redis, lengthA, statusA, lengthA]);
    assert.deepEqual(
      report.differences.map((g) => [g.count, g.kind, g.path, g.detail]),
      [
        [2, 'bytes', '/a', 'status 200 -> 500'],
        [2, 'length', '/a', undefined],
        [1, 'timeout', '/b', undefined],
        [1, 'bytes', '*2\\r\\n$3\\r\\nGET\\r\\n$1\\r\\nk\\r\\n', undefined],
      ],
    );
    assert.equal(report.differences[0]!.example.exchange, statusA.exchange);
    assert.deepEqual(report.differences[0]!.example, statusA);
  });

  test('limits: the rows and groups left out are counted, not lost', () => {
    const records = [statusA, statusA, statusA, lengthA, lengthA, timeoutB, redis];
    const report = reportOf(records, { rows: 1, differences: 2, badLines: 10 });
    assert.deepEqual(report.byPath, { rows: [{ key: '/a', count: 5 }], otherKeys: 2, otherCount: 2 });
    assert.equal(report.differences.length, 2);
    assert.deepEqual(report.otherDifferences, { otherKeys: 2, otherCount: 2 });
  });

  test('HTTP mode: status pairs from the http fields, headers grouped by the names that differ', () => {
    const base = diffRecord(get('/h'), answer('200 OK', 'x'), answer('200 OK', 'z'));
    const headers = httpRecord(
      base,
      'headers',
      {
        status: 200,
        headers: [
          ['Date', 'Mon'],
          ['X-Debug', '1'],
          ['Vary', 'a'],
        ],
      },
      {
        status: 200,
        headers: [
          ['date', 'Tue'],
          ['vary', 'a'],
        ],
      },
    );
    assert.equal(differenceDetail(headers), 'header x-debug');
    const status = httpRecord(base, 'status', { status: 404 }, { status: 302 });
    assert.equal(differenceDetail(status), 'status 404 -> 302');
    const requestLine = {
      ...base,
      request: { ...base.request, http: { requestLine: 'POST http://h/api/v1?x HTTP/1.1' } },
    };
    assert.equal(requestKey(requestLine), '/api/v1');
  });

  test('a non-HTTP request is named by its first bytes, cut between escapes', () => {
    const binary = diffRecord('\x00'.repeat(100), 'a', 'b');
    const key = requestKey(binary);
    assert.ok(key.length <= 40, key);
    assert.match(key, /^(\\x00)+\.\.\.$/);
    assert.equal(requestKey(diffRecord('', 'hello', 'hellO')), '(empty request)');
  });
});

describe('bad lines', () => {
  test('counted and named by line number, with the reason; blank lines skipped; good lines still read', () => {
    const good = diffLogLine(diffRecord(get('/a'), answer('200 OK', 'x'), answer('500 Oops', 'x'))).trimEnd();
    const builder = new ReportBuilder({ rows: 10, differences: 10, badLines: 3 });
    const lines = [
      good,
      good.slice(0, 40),
      '',
      good.replace('"kind":"bytes"', '"kind":"colour"'),
      good.replace(/"exchange":0/, '"exchange":-1'),
      '[1,2]',
      good,
    ];
    for (const line of lines) builder.addLine(line);
    const report = builder.report();
    assert.equal(report.total, 2);
    assert.equal(report.badLineCount, 4);
    assert.deepEqual(report.badLines, [
      { line: 2, problem: 'not JSON' },
      { line: 4, problem: 'kind: expected one of status, headers, body, length, bytes, hash, timeout, reset' },
      { line: 5, problem: 'exchange: expected an integer >= 0' },
    ]);
    assert.match(renderText(report, 'log'), /^2 differing exchanges \(4 bad lines skipped\)\n {2}line 2: not JSON\n/m);
    assert.match(renderText(report, 'log'), /^ {2}and 1 more$/m);
  });

  test('every field the report reads is checked', () => {
    const record = diffRecord(get('/a'), answer('200 OK', 'x'), answer('500 Oops', 'x'));
    const broken: [object, string][] = [
      [{ ...record, session: { ...record.session, target: 80 } }, 'session.target: expected a string'],
      [{ ...record, test: { ...record.test, length: '3' } }, 'test.length: expected an integer >= 0'],
      [{ ...record, excerpt: 'x' }, 'excerpt: expected an object'],
      [
        { ...record, production: { ...record.production, http: { headers: [['a']] } } },
        'production.http.headers[0]: expected [name, value]',
      ],
    ];
    for (const [json, problem] of broken) assert.deepEqual(parseDiffLine(JSON.stringify(json)), { problem });
    assert.deepEqual(parseDiffLine(JSON.stringify(record)), { record });
  });
});

describe('side by side', () => {
  test('line i of both answers starts on the same row, long lines wrapped without splitting an escape', () => {
    const rows = sideBySide('HTTP/1.1 200 OK\\r\\nA: 1\\r\\n', 'HTTP/1.1 200 OK but longer\\r\\nA: 1\\r\\nB\\x00', 12);
    assert.deepEqual(rows, [
      { production: 'HTTP/1.1 200', test: 'HTTP/1.1 200', differs: true },
      { production: ' OK\\r\\n', test: ' OK but long', differs: true },
      { production: '', test: 'er\\r\\n', differs: true },
      { production: 'A: 1\\r\\n', test: 'A: 1\\r\\n', differs: false },
      { production: '', test: 'B\\x00', differs: true },
    ]);
    assert.deepEqual(sideBySide('ab\\x01cd', 'ab\\x01cd', 3), [
      { production: 'ab', test: 'ab', differs: false },
      { production: '\\x01', test: '\\x01', differs: false },
      { production: 'cd', test: 'cd', differs: false },
    ]);
  });
});

describe('text', () => {
  const long = diffRecord(
    get(`/${'very-long-segment/'.repeat(12)}`),
    answer('200 OK', 'p'.repeat(300), `X-Trace: ${'1'.repeat(120)}\r\n`),
    answer('200 OK', 'q'.repeat(300), `X-Trace: ${'2'.repeat(120)}\r\n`),
    { client: '[2001:db8::7]:51234', target: `${'backend-'.repeat(20)}:80`, copy: 3 },
  );

  test('every line within 100 columns; the columns line up', () => {
    // A timeout shows production's first bytes whole: long lines to wrap.
    const unanswered = diffRecord(
      get('/t'),
      answer('200 OK', 'p'.repeat(200), `X-Trace: ${'1'.repeat(120)}\r\n`),
      undefined,
    );
    const text = renderText(reportOf([long, long, unanswered]), '/var/log/tcpcopy/diff.log');
    const wide = text.split('\n').filter((line) => line.length > REPORT_WIDTH);
    assert.deepEqual(wide, []);
    const excerptRows = text.split('\n').filter((line) => / [|!](?: |$)/.test(line) && line.startsWith('    '));
    assert.ok(excerptRows.length > 8, text);
    const separators = new Set(excerptRows.map((line) => line.search(/ [|!](?: |$)/)));
    assert.equal(separators.size, 1, text);
  });

  test('the example of a group, as a person reads it', () => {
    const record = diffRecord(get('/x'), answer('200 OK', 'A'), answer('500 Oops', ''));
    const text = renderText(reportOf([record]), 'diff.log');
    const expected = [
      '1. 1 exchange: bytes /x: status 200 -> 500',
      '    first seen: 198.51.100.7:51234 -> 10.0.0.2:80, copy 0, exchange 0, first difference at byte 9',
      '    request: GET /x HTTP/1.1\\r\\nHost: example.com\\r\\n\\r\\n',
      '    production 39 bytes, test 40 bytes',
      `    ${'production'.padEnd(46)} | test`,
      `    ${'HTTP/1.1 200 OK\\r\\n'.padEnd(46)} ! HTTP/1.1 500 Oops\\r\\n`,
      `    ${'Content-Length: 1\\r\\n'.padEnd(46)} ! Content-Length: 0\\r\\n`,
      `    ${'\\r\\n'.padEnd(46)} | \\r\\n`,
      `    ${'A'.padEnd(46)} !`,
    ].join('\n');
    assert.ok(text.includes(expected), text);
  });

  test('excerpts whose starts differ (spans --compare-ignore left out) say where each starts, read back from the log', () => {
    const record = diffRecord(get('/x'), answer('200 OK', 'ts=1 abc'), answer('200 OK', 'ts=12345 abd'));
    const shifted: DiffRecord = { ...record, excerpt: { start: 40, testStart: 44, production: 'abc', test: 'abd' } };
    const text = renderText(reportOf([shifted]), 'diff.log');
    assert.ok(text.includes("(from byte 40; the test server's from byte 44)"), text);
    const same: DiffRecord = { ...record, excerpt: { start: 40, production: 'abc', test: 'abd' } };
    assert.ok(renderText(reportOf([same]), 'diff.log').includes(' (from byte 40)\n'));
  });

  test('a timeout shows (no answer) beside production', () => {
    const text = renderText(reportOf([diffRecord(get('/t'), answer('200 OK', ''), undefined)]), 'log');
    assert.ok(text.includes(`    ${'HTTP/1.1 200 OK\\r\\n'.padEnd(46)} ! (no answer)\n`), text);
  });

  test('control characters from a hand-edited log are shown escaped, never sent to the terminal', () => {
    const record = diffRecord(get('/a'), answer('200 OK', 'x'), answer('500 Oops', 'x'));
    const edited = { ...record, session: { ...record.session, target: '\u001b[2Jevil' } };
    const text = renderText(reportOf([edited]), 'log');
    assert.ok(text.includes('\\x1b[2Jevil'));
    assert.doesNotMatch(text, /[^\n\x20-\x7e]/);
  });
});

describe('HTML', () => {
  const hostile = diffRecord(
    get('/<script>alert(1)</script>'),
    answer('200 OK', '<script>alert("p")</script>'),
    answer('200 OK', "<img src=x onerror='t'>&amp"),
    { ...SESSION, target: '"><script>x</script>' },
  );

  test('every value from the log is escaped: no markup of its own reaches the page', () => {
    const html = renderHtml(reportOf([hostile]), '<b>log</b>');
    assert.doesNotMatch(html, /<script|<img|<b>/i);
    assert.ok(html.includes('/&lt;script&gt;alert(1)&lt;/script&gt;'));
    assert.ok(html.includes('&lt;img src=x onerror=&#39;t&#39;&gt;&amp;amp<'));
    assert.ok(html.includes('&quot;&gt;&lt;script&gt;x&lt;/script&gt;'));
    assert.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });

  test('one self-contained page: inline style, no script, nothing fetched', () => {
    const html = renderHtml(reportOf([hostile, hostile]), 'diff.log');
    assert.match(html, /^<!DOCTYPE html>\n<html lang="en">/);
    assert.match(html, /<style>[^<]+<\/style>/);
    assert.doesNotMatch(html, /<(?:script|link|img|iframe|object|embed)\b|<[^>]*\b(?:src|href)=|url\(|@import/i);
    assert.match(html, /<h3>1\. 2 exchanges: <code>bytes \/&lt;script&gt;alert\(1\)&lt;\/script&gt;<\/code><\/h3>/);
    assert.match(html, /<tr class="differs"><td>&lt;script&gt;alert\(&quot;p&quot;\)&lt;\/script&gt;<\/td>/);
  });
});
