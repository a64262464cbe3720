/** The test-side Prometheus text parser: the e2e and collector tests trust it, so it is tested too. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePrometheusText } from './prom-text.js';

const GOOD = [
  '# HELP a_total Things, with a backslash \\\\ and a\\nnew line.',
  '# TYPE a_total counter',
  'a_total{target="10.0.0.1:80",reason="x"} 3',
  'a_total{target="10.0.0.2:80",reason="q\\"uote\\\\back\\nline"} 4 1700000000000',
  '# a plain comment',
  '',
  '# TYPE b gauge',
  'b -1.5e3',
  'b{x=""} +Inf',
  'b{x="nan"} Nan',
  'b{x="-inf"} -inf',
  '# TYPE h histogram',
  'h_bucket{le="0.1"} 1',
  'h_sum 0.05',
  'h_count 1',
  '',
].join('\n');

describe('Prometheus text parser (test support)', () => {
  test('reads families, types, help, labels with escapes, values and timestamps', () => {
    const e = parsePrometheusText(GOOD);
    const a = e.family('a_total');
    assert.equal(a.type, 'counter');
    assert.equal(a.help, 'Things, with a backslash \\ and a\nnew line.');
    assert.equal(e.value('a_total', { target: '10.0.0.1:80', reason: 'x' }), 3);
    assert.equal(e.sum('a_total', { target: '10.0.0.1:80' }), 3);
    assert.deepEqual(e.samples('a_total', { target: '10.0.0.2:80' })[0]!.labels, {
      target: '10.0.0.2:80',
      reason: 'q"uote\\back\nline',
    });
    assert.equal(e.sum('a_total'), 7);
    assert.equal(e.value('b'), -1500);
    assert.equal(e.samples('b').length, 4);
    assert.ok(Number.isNaN(e.value('b', { x: 'nan' })));
    assert.equal(e.value('b', { x: '-inf' }), -Infinity);
    assert.equal(e.value('b', { x: '' }), Infinity);
    assert.equal(e.family('h').samples.length, 3);
    assert.throws(() => e.value('a_total'), /no sample/, 'labels must match exactly');
    assert.throws(() => e.family('nope_total'), /no metric family/);
  });

  const BAD: [string, string, RegExp][] = [
    ['no final line feed', '# TYPE a gauge\na 1', /line feed/],
    ['sample before TYPE', 'a 1\n', /no TYPE/],
    ['counter without _total', '# TYPE a counter\na 1\n', /_total/],
    ['negative counter', '# TYPE a_total counter\na_total -1\n', /counter/],
    ['duplicate series', '# TYPE a gauge\na{x="1",y="2"} 1\na{y="2",x="1"} 2\n', /duplicate series/],
    ['second TYPE', '# TYPE a gauge\n# TYPE a gauge\n', /TYPE for a/],
    ['unknown type', '# TYPE a meter\n', /unknown type/],
    ['unquoted label value', '# TYPE a gauge\na{x=1} 1\n', /not quoted/],
    ['bad escape', '# TYPE a gauge\na{x="\\t"} 1\n', /bad escape/],
    ['unterminated label', '# TYPE a gauge\na{x="1} 1\n', /unterminated|expected/],
    ['label twice', '# TYPE a gauge\na{x="1",x="2"} 1\n', /twice/],
    ['reserved label', '# TYPE a gauge\na{__x="1"} 1\n', /bad label name/],
    ['bad value', '# TYPE a gauge\na 1,5\n', /bad value/],
    ['two spaces', '# TYPE a gauge\na  1\n', /value/],
    ['bad timestamp', '# TYPE a gauge\na 1 soon\n', /timestamp/],
    ['bad name', '# TYPE 9a gauge\n', /bad metric name/],
    ['HELP bad escape', '# HELP a oops \\q\n', /bad escape/],
  ];
  for (const [what, text, error] of BAD) {
    test(`rejects: ${what}`, () => {
      assert.throws(() => parsePrometheusText(text), error);
    });
  }
});
