/**
 * The report as plain text for a terminal: every line within REPORT_WIDTH columns, every value
 * from the log shown as printable ASCII (classify.ts's displayText), so it reads the same in a
 * pager, a mail or a ticket.
 */
import type { DiffRecord } from '../compare/diff-record.js';
import type { Count, DiffReport, DifferenceGroup, Tally } from './aggregate.js';
import { shorten } from './classify.js';
import { whereFrom, recordSideBySide } from './side-by-side.js';

export const REPORT_WIDTH = 100;

const INDENT = '    ';
/** Between the columns: `|` where both sides read the same, `!` where they differ. */
const SAME = ' | ';
const DIFFERS = ' ! ';
/** Shown in the test column when the test server never had the turn. */
export const NO_ANSWER = '(no answer)';
export const COLUMN_WIDTH = Math.floor((REPORT_WIDTH - INDENT.length - SAME.length) / 2);
/** Columns of a table row: its key (cut to fit), its count and its share of the total. */
const KEY_WIDTH = 72;
const COUNT_WIDTH = 8;
const SHARE_WIDTH = 6;

export function renderText(report: DiffReport, source: string): string {
  const lines = [
    shorten(`tcpcopy report of ${source}`, REPORT_WIDTH),
    `${plural(report.total, 'differing exchange')}${badLinesNote(report.badLineCount)}`,
    ...report.badLines.map((bad) => shorten(`  line ${bad.line}: ${bad.problem}`, REPORT_WIDTH)),
    ...moreBadLines(report),
  ];
  if (report.total > 0) {
    lines.push(...table('By kind', { rows: report.byKind, otherKeys: 0, otherCount: 0 }, 'kinds', report.total));
    lines.push(...table('By path or request', report.byPath, 'paths', report.total));
    lines.push(...table('By test server', report.byTarget, 'test servers', report.total));
    lines.push('', 'Most frequent differences');
    report.differences.forEach((group, i) => lines.push('', ...differenceLines(group, i + 1)));
    const { otherKeys, otherCount } = report.otherDifferences;
    if (otherKeys > 0) lines.push('', `(${plural(otherKeys, 'other difference')}: ${plural(otherCount, 'exchange')})`);
  }
  return `${lines.join('\n')}\n`;
}

/** How a group is named, in the text and the page. */
export function groupTitle(group: DifferenceGroup): string {
  return `${group.kind} ${group.path}${group.detail === undefined ? '' : `: ${group.detail}`}`;
}

/** Where the group's first record came from, so it can be found in the log and the capture. */
export function exampleOrigin(record: DiffRecord): string {
  const { client, target, copy } = record.session;
  const offset = record.offset === null ? '' : `, first difference at byte ${record.offset}`;
  return `first seen: ${client} -> ${target}, copy ${copy}, exchange ${record.exchange}${offset}`;
}

export function answerLengths(record: DiffRecord): string {
  const test = record.test === null ? 'test never answered' : `test ${plural(record.test.length, 'byte')}`;
  return `production ${plural(record.production.length, 'byte')}, ${test}`;
}

export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

export function badLinesNote(count: number): string {
  return count === 0 ? '' : ` (${plural(count, 'bad line')} skipped)`;
}

export function moreBadLines(report: DiffReport): string[] {
  const more = report.badLineCount - report.badLines.length;
  return more > 0 ? [`  and ${more} more`] : [];
}

function table(heading: string, tally: Tally, noun: string, total: number): string[] {
  const row = (count: Count): string =>
    `  ${shorten(count.key, KEY_WIDTH).padEnd(KEY_WIDTH)}${String(count.count).padStart(COUNT_WIDTH)}${share(count.count, total)}`;
  const lines = ['', heading, ...tally.rows.map(row)];
  if (tally.otherKeys > 0)
    lines.push(row({ key: `(${plural(tally.otherKeys, `other ${noun}`)})`, count: tally.otherCount }));
  return lines;
}

/** `  42%`: a count's part of all differing exchanges. */
function share(count: number, total: number): string {
  return `${Math.round((count / total) * 100)}%`.padStart(SHARE_WIDTH);
}

function differenceLines(group: DifferenceGroup, rank: number): string[] {
  const record = group.example;
  const view = recordSideBySide(record, COLUMN_WIDTH);
  const header = `${INDENT}${'production'.padEnd(COLUMN_WIDTH)}${SAME}test`;
  const from = whereFrom(view);
  const lines = [
    shorten(`${rank}. ${plural(group.count, 'exchange')}: ${groupTitle(group)}`, REPORT_WIDTH),
    shorten(`${INDENT}${exampleOrigin(record)}`, REPORT_WIDTH),
    shorten(`${INDENT}request: ${record.request.firstBytes}`, REPORT_WIDTH),
    `${INDENT}${answerLengths(record)}${from}`,
    header,
    ...view.rows.map(
      (row, i) =>
        `${INDENT}${row.production.padEnd(COLUMN_WIDTH)}${row.differs ? DIFFERS : SAME}${i === 0 && !view.testAnswered ? NO_ANSWER : row.test}`,
    ),
  ];
  return lines.map((line) => line.trimEnd());
}
