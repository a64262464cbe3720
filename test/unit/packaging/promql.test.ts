/**
 * The PromQL parser the dashboard test relies on: what it accepts and lists, and that it rejects
 * what Prometheus would (a syntax error, an unknown function, a range vector out of place), cleanly
 * at every truncation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { groupings, metricName, parsePromql, selectors } from './promql.js';

const names = (expr: string): (string | undefined)[] => selectors(parsePromql(expr)).map(metricName);

const VALID: readonly [string, (string | undefined)[]][] = [
  ['up', ['up']],
  ['sum by (target) (rate(a_total{instance=~"$x", target!="y"}[$__rate_interval]))', ['a_total']],
  ['sum(rate(a[5m])) without (x)', ['a']],
  ['sum without (x) (a)', ['a']],
  ['a / (b - c) * on (job, instance) group_left (d) e ^ 2 ^ 3', ['a', 'b', 'c', 'e']],
  ['rate(a[1h30m:1m]) > bool 0.5e3', ['a']],
  ['max_over_time(a[5m] offset -1h @ end())', ['a']],
  ['(sum(increase(a[$__range])) or vector(0)) + -b', ['a', 'b']],
  ['topk(5, a) and on (job, instance) b unless c', ['a', 'b', 'c']],
  ['histogram_quantile(0.99, sum by (le) (rate(h_bucket[5m])))', ['h_bucket']],
  ['count_values("v", a) # a comment', ['a']],
  ['{__name__="a", x=`raw`}', ['a']],
  ['recording:rule:sum + Inf - NaN + 0x1f', ['recording:rule:sum']],
  ["label_replace(a, 'dst', '$1', 'src', '(.*)')", ['a']],
];

test('valid expressions parse, and their selectors are listed', () => {
  for (const [expr, want] of VALID) assert.deepEqual(names(expr), want, expr);
});

test('by and on label lists are listed with the expressions they group', () => {
  const g = groupings(parsePromql('sum by (target) (a) and on (job) b'));
  assert.deepEqual(
    g.map((x) => x.labels),
    [['job'], ['target']],
  );
});

const INVALID: readonly [string, RegExp][] = [
  ['sum(a', /expected "\)"/],
  ['sum(a))', /expected the end/],
  ['rate(a)', /takes a range vector/],
  ['a[5m]', /cannot be graphed/],
  ['sum(a[5m])', /range vector where an instant vector/],
  ['a[5m][10m:]', /range vector where an instant vector/],
  ['rat(a[5m])', /unknown function/],
  ['{x="a"}', /needs a metric name/],
  ['a{x~"b"}', /unexpected character|matcher operator/],
  ['a{x=b}', /expected a string/],
  ['sum by (x) (a) by (y)', /expected the end/],
  ['topk(a)', /takes 2 argument/],
  ['a + on', /expected "\("/],
  ['a[5x]', /unexpected character|expected a duration/],
  ['$var', /expected an expression/],
  ['by', /unexpected keyword/],
];

test('invalid expressions are rejected with the reason', () => {
  for (const [expr, reason] of INVALID) assert.throws(() => parsePromql(expr), reason, expr);
});

test('every truncation of a valid expression parses or throws an Error, nothing else', () => {
  for (const [expr] of VALID) {
    for (let n = 0; n < expr.length; n++) {
      try {
        parsePromql(expr.slice(0, n));
      } catch (err) {
        assert.ok(err instanceof Error, `${JSON.stringify(expr.slice(0, n))}: ${String(err)}`);
      }
    }
  }
});
