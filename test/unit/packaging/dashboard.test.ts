/**
 * packaging/grafana/tcpcopy.json, the Grafana dashboard of both daemons: every PromQL expression
 * in it (panel queries and variable queries) parses, and every series it queries is one the
 * daemons register, with the labels it matches and groups by (their registries, as --metrics
 * builds them, process metrics included). A panel naming a metric that does not exist fails here.
 * The layout is checked too: unique ids, no overlapping panels, every variable defined.
 */
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { daemonRegistries } from '../metrics/registries.js';
import { groupings, metricName, parsePromql, selectors, type Node } from './promql.js';

// test/dist/unit/packaging/dashboard.test.js -> repository root.
const DASHBOARD_PATH = fileURLToPath(new URL('../../../../packaging/grafana/tcpcopy.json', import.meta.url));
/** Labels Prometheus adds to every scraped series. */
const TARGET_LABELS = ['job', 'instance'];
/** Variables Grafana defines itself. */
const BUILTIN_VARIABLES = new Set(['__rate_interval', '__interval', '__range', '__range_s', '__interval_ms']);

/** Series name -> its labels, for every series the two daemons' --metrics endpoints can serve. */
type Catalogue = ReadonlyMap<string, ReadonlySet<string>>;

interface Dashboard {
  panels: Panel[];
  templating: { list: { name: string; type: string; query?: string | { query: string }; datasource?: unknown }[] };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: unknown;
  targets?: { expr: string; datasource?: unknown }[];
  panels?: Panel[];
}

interface Query {
  /** Where it is: the panel's title or the variable's name. */
  readonly where: string;
  readonly expr: string;
  /** The label a `label_values(selector, label)` variable lists. */
  readonly lists?: string;
}

const readDashboard = (): Dashboard => JSON.parse(readFileSync(DASHBOARD_PATH, 'utf8')) as Dashboard;

function allPanels(panels: readonly Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

/** Every PromQL expression: each panel target's, and each query variable's selector. */
function queries(dashboard: Dashboard): Query[] {
  const fromPanels = allPanels(dashboard.panels).flatMap((p) =>
    (p.targets ?? []).map((t) => ({ where: `panel "${p.title}"`, expr: t.expr })),
  );
  const fromVariables = dashboard.templating.list
    .filter((v) => v.type === 'query')
    .map((v) => {
      const text = typeof v.query === 'string' ? v.query : (v.query?.query ?? '');
      const m = /^label_values\((.+),\s*([a-zA-Z_]\w*)\)$/s.exec(text.trim());
      if (m === null) throw new Error(`variable ${v.name}: expected label_values(selector, label), got ${text}`);
      return { where: `variable "${v.name}"`, expr: m[1]!, lists: m[2]! };
    });
  return [...fromPanels, ...fromVariables];
}

/** What is wrong with the dashboard's queries against the catalogue: nothing, on a good one. */
function problems(dashboard: Dashboard, catalogue: Catalogue): string[] {
  const found: string[] = [];
  for (const q of queries(dashboard)) {
    let tree: Node;
    try {
      tree = parsePromql(q.expr);
    } catch (err) {
      found.push(`${q.where}: does not parse (${(err as Error).message}): ${q.expr}`);
      continue;
    }
    const labelsOf = (node: Node): Set<string> =>
      new Set([...TARGET_LABELS, ...selectors(node).flatMap((s) => [...(catalogue.get(metricName(s) ?? '') ?? [])])]);
    for (const s of selectors(tree)) {
      const name = metricName(s);
      const labels = catalogue.get(name ?? '');
      if (labels === undefined) {
        found.push(`${q.where}: no daemon exports ${name ?? 'a selector without a name'}`);
        continue;
      }
      for (const m of s.matchers)
        if (m.label !== '__name__' && !labels.has(m.label) && !TARGET_LABELS.includes(m.label))
          found.push(`${q.where}: ${name} has no label ${m.label}`);
    }
    for (const g of groupings(tree)) {
      // A metric that does not exist is reported once, above.
      if (g.over.some((n) => selectors(n).some((s) => !catalogue.has(metricName(s) ?? '')))) continue;
      const known = new Set(g.over.flatMap((n) => [...labelsOf(n)]));
      for (const label of g.labels)
        if (!known.has(label)) found.push(`${q.where}: groups by ${label}, which no series there has`);
    }
    if (q.lists !== undefined && !labelsOf(tree).has(q.lists))
      found.push(`${q.where}: lists ${q.lists}, a label its series lack`);
  }
  return found;
}

async function catalogue(t: Pick<TestContext, 'after'>): Promise<Catalogue> {
  // As serveCopierMetrics and serveInterceptMetrics build them: with Node's process metrics.
  const { copier, intercept } = await daemonRegistries(t, true);
  const series = new Map<string, Set<string>>();
  for (const registry of [copier, intercept]) {
    for (const metric of registry.registry.getMetricsAsArray()) {
      const { name, type, labelNames } = metric as unknown as { name: string; type: string; labelNames?: string[] };
      const labels = labelNames ?? [];
      const add = (n: string, extra: readonly string[] = []): void => {
        series.set(n, new Set([...(series.get(n) ?? []), ...labels, ...extra]));
      };
      // A histogram or summary is queried through its sample names.
      if (type === 'histogram') {
        add(`${name}_bucket`, ['le']);
        add(`${name}_sum`);
        add(`${name}_count`);
      } else if (type === 'summary') {
        add(name, ['quantile']);
        add(`${name}_sum`);
        add(`${name}_count`);
      } else add(name);
    }
  }
  return series;
}

describe('the Grafana dashboard (packaging/grafana/tcpcopy.json)', () => {
  let known: Catalogue;
  const cleanups: (() => unknown)[] = [];
  before(async () => {
    known = await catalogue({ after: (fn: () => unknown) => void cleanups.push(fn) });
  });
  after(async () => {
    for (const cleanup of cleanups) await cleanup();
  });

  test('the catalogue holds both daemons and their process metrics', () => {
    for (const name of ['tcpcopy_sessions_started_total', 'intercept_routes', 'process_cpu_seconds_total'])
      assert.ok(known.has(name), name);
    assert.ok(known.get('tcpcopy_sessions_ended_total')?.has('reason'));
  });

  test('every expression parses and queries only series the daemons export, with their labels', () => {
    const dashboard = readDashboard();
    assert.ok(queries(dashboard).length >= 40, `only ${queries(dashboard).length} queries found: the walk is broken`);
    assert.deepEqual(problems(dashboard, known), []);
  });

  test('a panel naming a metric, a label or a function that does not exist is caught', () => {
    const broken = (edit: (expr: string) => string): string[] => {
      const dashboard = readDashboard();
      const target = allPanels(dashboard.panels).find((p) => p.title === 'Copy lag' && p.type === 'timeseries')!
        .targets![0]!;
      target.expr = edit(target.expr);
      return problems(dashboard, known);
    };
    assert.deepEqual(
      broken((e) => e.replace('tcpcopy_copy_lag_seconds', 'tcpcopy_copy_lag_secs')),
      ['panel "Copy lag": no daemon exports tcpcopy_copy_lag_secs'],
    );
    assert.deepEqual(
      broken((e) => e.replace('max by (target)', 'max by (tagret)')),
      ['panel "Copy lag": groups by tagret, which no series there has'],
    );
    assert.deepEqual(
      broken((e) => e.replace('target=~', 'targte=~')),
      ['panel "Copy lag": tcpcopy_copy_lag_seconds has no label targte'],
    );
    assert.match(broken((e) => e.replace('max by', 'maxx by')).join(), /does not parse/);
    assert.match(broken((e) => `rate(${e})`).join(), /does not parse \(rate\(\) takes a range vector/);
  });

  test('it shows what the issue asks for: fidelity, lag, capture, control, replies, processes of both', () => {
    const queried = new Set(
      queries(readDashboard()).flatMap((q) => selectors(parsePromql(q.expr)).map((s) => metricName(s))),
    );
    for (const name of [
      'tcpcopy_payload_acked_bytes_total',
      'tcpcopy_payload_expected_bytes_total',
      'tcpcopy_payload_dropped_bytes_total',
      'tcpcopy_sessions_ended_total',
      'tcpcopy_copy_lag_seconds',
      'tcpcopy_capture_kernel_dropped_total',
      'tcpcopy_capture_spill_full_total',
      'intercept_capture_kernel_dropped_total',
      'tcpcopy_intercept_connections_ready',
      'tcpcopy_control_reconnects_total',
      'intercept_control_rejected_total',
      'intercept_replies_routed_total',
      'intercept_replies_parked_total',
      'intercept_replies_unroutable_total',
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
    ])
      assert.ok(queried.has(name), `no panel queries ${name}`);
  });

  test('layout: unique ids, panels inside 24 columns and not overlapping, one data source, defined variables', () => {
    const dashboard = readDashboard();
    const panels = allPanels(dashboard.panels);
    assert.equal(new Set(panels.map((p) => p.id)).size, panels.length, 'panel ids are unique');
    const cells = new Map<string, string>();
    for (const p of panels) {
      const { x, y, w, h } = p.gridPos;
      assert.ok(x >= 0 && w > 0 && x + w <= 24, `${p.title}: columns ${x}..${x + w}`);
      for (let row = y; row < y + h; row++)
        for (let col = x; col < x + w; col++) {
          const other = cells.get(`${row},${col}`);
          assert.equal(other, undefined, `${p.title} overlaps ${other}`);
          cells.set(`${row},${col}`, p.title);
        }
      if (p.type !== 'row') {
        assert.ok((p.targets ?? []).length > 0, `${p.title}: no query`);
        for (const source of [p.datasource, ...(p.targets ?? []).map((t) => t.datasource)])
          assert.deepEqual(source, { type: 'prometheus', uid: '${datasource}' }, p.title);
      }
    }
    const defined = new Set([...dashboard.templating.list.map((v) => v.name), ...BUILTIN_VARIABLES]);
    for (const q of queries(dashboard))
      for (const [, name] of q.expr.matchAll(/\$\{?(\w+)\}?/g)) assert.ok(defined.has(name!), `${q.where}: $${name}`);
  });
});
