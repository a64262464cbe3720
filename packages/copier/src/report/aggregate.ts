/**
 * The summary of a diff log, built record by record so a large log is read once and never held:
 * counts by kind, by path (or first request bytes), by test server, and the differences grouped by
 * kind, path and detail with the first record of each group as its example. Orders are by count,
 * ties in the order first seen, so the same log always gives the same report.
 */
import type { DiffKind, DiffRecord } from '../compare/diff-record.js';
import { differenceDetail, requestKey } from './classify.js';
import { parseDiffLine } from './diff-line.js';

export interface Count {
  readonly key: string;
  readonly count: number;
}

/** The largest counts of a table, and what the rows left out add up to. */
export interface Tally {
  readonly rows: readonly Count[];
  readonly otherKeys: number;
  readonly otherCount: number;
}

export interface BadLine {
  /** From 1, as editors and `sed -n` count. */
  readonly line: number;
  readonly problem: string;
}

export interface DifferenceGroup {
  readonly kind: DiffKind;
  readonly path: string;
  readonly detail: string | undefined;
  readonly count: number;
  /** The group's first record in the log. */
  readonly example: DiffRecord;
}

export interface DiffReport {
  /** Differing exchanges: the records read. */
  readonly total: number;
  readonly badLineCount: number;
  /** The first bad lines, at most `ReportLimits.badLines`. */
  readonly badLines: readonly BadLine[];
  readonly byKind: readonly Count[];
  readonly byPath: Tally;
  readonly byTarget: Tally;
  /** The most frequent differences, at most `ReportLimits.differences`. */
  readonly differences: readonly DifferenceGroup[];
  readonly otherDifferences: Omit<Tally, 'rows'>;
}

/** How much of each table a report shows: enough to act on, little enough to read. */
export interface ReportLimits {
  readonly rows: number;
  readonly differences: number;
  readonly badLines: number;
}

export const DEFAULT_REPORT_LIMITS: ReportLimits = Object.freeze({ rows: 15, differences: 10, badLines: 10 });

interface Group {
  readonly kind: DiffKind;
  readonly path: string;
  readonly detail: string | undefined;
  count: number;
  readonly example: DiffRecord;
}

export class ReportBuilder {
  private total = 0;
  private lineNumber = 0;
  private badLineCount = 0;
  private readonly badLines: BadLine[] = [];
  private readonly kinds = new Map<string, number>();
  private readonly paths = new Map<string, number>();
  private readonly targets = new Map<string, number>();
  private readonly groups = new Map<string, Group>();

  constructor(private readonly limits: ReportLimits = DEFAULT_REPORT_LIMITS) {}

  /** The log's next line; blank lines (an editor's) are skipped, numbered all the same. */
  addLine(text: string): void {
    this.lineNumber++;
    if (text.trim() === '') return;
    const parsed = parseDiffLine(text);
    if ('record' in parsed) this.add(parsed.record);
    else this.addBadLine(this.lineNumber, parsed.problem);
  }

  add(record: DiffRecord): void {
    this.total++;
    const path = requestKey(record);
    increment(this.kinds, record.kind);
    increment(this.paths, path);
    increment(this.targets, record.session.target);
    const detail = differenceDetail(record);
    const key = JSON.stringify([record.kind, path, detail ?? null]);
    const group = this.groups.get(key);
    if (group === undefined) this.groups.set(key, { kind: record.kind, path, detail, count: 1, example: record });
    else group.count++;
  }

  addBadLine(line: number, problem: string): void {
    this.badLineCount++;
    if (this.badLines.length < this.limits.badLines) this.badLines.push({ line, problem });
  }

  report(): DiffReport {
    const groups = byCount([...this.groups.values()]);
    const shown = groups.slice(0, this.limits.differences);
    const hidden = groups.slice(this.limits.differences);
    return {
      total: this.total,
      badLineCount: this.badLineCount,
      badLines: [...this.badLines],
      byKind: counts(this.kinds),
      byPath: tally(this.paths, this.limits.rows),
      byTarget: tally(this.targets, this.limits.rows),
      differences: shown.map((g) => ({ ...g })),
      otherDifferences: { otherKeys: hidden.length, otherCount: sum(hidden) },
    };
  }
}

function increment(counts: Map<string, number>, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

/** Largest first; Array.prototype.sort is stable, so ties keep the order first seen. */
function byCount<T extends { readonly count: number }>(items: T[]): T[] {
  return items.sort((a, b) => b.count - a.count);
}

function counts(map: ReadonlyMap<string, number>): Count[] {
  return byCount([...map].map(([key, count]) => ({ key, count })));
}

function tally(map: ReadonlyMap<string, number>, rows: number): Tally {
  const all = counts(map);
  const hidden = all.slice(rows);
  return { rows: all.slice(0, rows), otherKeys: hidden.length, otherCount: sum(hidden) };
}

function sum(items: readonly { readonly count: number }[]): number {
  return items.reduce((total, item) => total + item.count, 0);
}
