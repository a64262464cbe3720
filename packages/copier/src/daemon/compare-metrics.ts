/**
 * --compare's metrics (docs/metrics.md, Response comparison): exchanges by outcome and
 * differences by kind per test server, the copies compared and shed, what the comparisons hold.
 * Registered only when tcpcopy compares, so a copier that does not shows none of them.
 */
import type { MetricsRegistry } from '@tcpcopy/common/metrics';
import type { Comparison } from './comparison.js';

const P = 'tcpcopy_compare_';

export function registerComparisonMetrics(metrics: MetricsRegistry, comparison: Comparison): void {
  const c = comparison.counters;
  metrics.add({
    name: `${P}exchanges_total`,
    help: 'Exchanges compared, by outcome: identical, different, or not_comparable (the capture lost bytes of an answer, or the test side merged two turns).',
    kind: 'counter',
    labels: ['target', 'outcome'],
    read: (emit) => {
      for (const t of comparison.perTarget.values()) {
        emit(t.identical, { target: t.target, outcome: 'identical' });
        emit(t.different, { target: t.target, outcome: 'different' });
        emit(t.notComparable, { target: t.target, outcome: 'not_comparable' });
      }
    },
  });
  metrics.add({
    name: `${P}differences_total`,
    help: 'Differing exchanges by kind (status, headers, body, length, bytes, hash, timeout, reset: docs/compare.md).',
    kind: 'counter',
    labels: ['target', 'kind'],
    read: (emit) => {
      for (const t of comparison.perTarget.values())
        for (const [kind, n] of Object.entries(t.byKind)) emit(n, { target: t.target, kind });
    },
  });
  const counter = (name: string, help: string, read: () => number): void => {
    metrics.add({ name: `${P}${name}_total`, help, kind: 'counter', read: (emit) => emit(read()) });
  };
  const gauge = (name: string, help: string, read: () => number): void => {
    metrics.add({ name: `${P}${name}`, help, kind: 'gauge', read: (emit) => emit(read()) });
  };
  counter('copies', 'Copies whose answers are compared.', () => c.copiesCompared);
  metrics.addTable(
    `${P}copies_shed_total`,
    'Copies not compared (still copied), by reason: memory (past three quarters of -m), connections (too many compared at once), busy (tcpcopy saturated).',
    'reason',
    () => c.copiesShed,
  );
  counter(
    'diff_log_dropped',
    'Differing exchanges not written to --diff-log: the disk fell behind, or the file cannot be written.',
    () => comparison.diffLogStats()?.dropped ?? 0,
  );
  gauge('connections', 'Production connections being compared now.', () => comparison.connections);
  gauge(
    'memory_bytes',
    'Bytes the comparisons hold (kept answers, reassembly); counted against -m.',
    () => comparison.memoryBytes,
  );
}
