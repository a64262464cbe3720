/**
 * Production's and the test server's answers in two columns, line against line: each escaped
 * text is cut after every `\n` (an HTTP head then reads one field per row), each line wrapped to
 * the column's width without splitting an escape, and the rows of line i on both sides start
 * together, so a difference shows beside what it differs from.
 */
import type { DiffRecord } from '../compare/diff-record.js';
import { displayTokens } from './classify.js';

export interface SideBySideRow {
  readonly production: string;
  readonly test: string;
  readonly differs: boolean;
}

export interface SideBySide {
  /** Where both texts start in their answers. */
  readonly start: number;
  /** Where the test server's text starts instead, when ignored spans (--compare-ignore) shifted it. */
  readonly testStart: number;
  /** False when the test server never had the turn. */
  readonly testAnswered: boolean;
  readonly rows: readonly SideBySideRow[];
}

/** The record's excerpt around the first difference, else both answers' first bytes. */
export function recordSideBySide(record: DiffRecord, width: number): SideBySide {
  if (record.excerpt !== null) {
    const { start, testStart = start, production, test } = record.excerpt;
    return { start, testStart, testAnswered: true, rows: sideBySide(production, test, width) };
  }
  return {
    start: 0,
    testStart: 0,
    testAnswered: record.test !== null,
    rows: sideBySide(record.production.firstBytes, record.test?.firstBytes ?? '', width),
  };
}

/** ` (from byte N)` after the answers' lengths when the texts do not start at their beginning. */
export function whereFrom(view: SideBySide): string {
  if (view.testStart !== view.start) return ` (from byte ${view.start}; the test server's from byte ${view.testStart})`;
  return view.start === 0 ? '' : ` (from byte ${view.start})`;
}

export function sideBySide(production: string, test: string, width: number): SideBySideRow[] {
  const left = escapedLines(production);
  const right = escapedLines(test);
  const rows: SideBySideRow[] = [];
  for (let i = 0; i < Math.max(left.length, right.length, 1); i++) {
    const leftLine = left[i] ?? [];
    const rightLine = right[i] ?? [];
    const differs = leftLine.join('') !== rightLine.join('');
    const leftRows = wrap(leftLine, width);
    const rightRows = wrap(rightLine, width);
    for (let r = 0; r < Math.max(leftRows.length, rightRows.length); r++) {
      rows.push({ production: leftRows[r] ?? '', test: rightRows[r] ?? '', differs });
    }
  }
  return rows;
}

const LINE_END = '\\n';

/** Tokens of the text, one list per line; an empty text has none (sideBySide still gives it a row). */
function escapedLines(text: string): string[][] {
  const lines: string[][] = [];
  let line: string[] = [];
  for (const token of displayTokens(text)) {
    line.push(token);
    if (token === LINE_END) {
      lines.push(line);
      line = [];
    }
  }
  if (line.length > 0) lines.push(line);
  return lines;
}

/** Rows of at most `width` columns; a line that is empty (an absent side) still takes one row. */
function wrap(tokens: readonly string[], width: number): string[] {
  const rows: string[] = [];
  let row = '';
  for (const token of tokens) {
    if (row.length + token.length > width && row !== '') {
      rows.push(row);
      row = '';
    }
    row += token;
  }
  rows.push(row);
  return rows;
}
