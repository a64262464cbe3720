/**
 * The report as one self-contained HTML page: inline CSS, no script, nothing fetched, so it can be
 * mailed or attached to a ticket and opened anywhere. Every value from the log goes through
 * escapeHtml: a log holds what clients and servers sent, and a page must not run it.
 */
import type { Count, DiffReport, DifferenceGroup, Tally } from './aggregate.js';
import { displayText } from './classify.js';
import { whereFrom, recordSideBySide } from './side-by-side.js';
import {
  answerLengths,
  badLinesNote,
  COLUMN_WIDTH,
  exampleOrigin,
  groupTitle,
  moreBadLines,
  NO_ANSWER,
  plural,
} from './text.js';

const HTML_ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Text as HTML character data or a quoted attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => HTML_ESCAPES[char]!);
}

/** Values from the log: escaped to printable ASCII as in the text report, then for HTML. */
function shown(text: string): string {
  return escapeHtml(displayText(text));
}

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.5em 0; }
td, th { padding: 0.15em 0.6em; text-align: left; vertical-align: top; }
td.count { text-align: right; font-variant-numeric: tabular-nums; }
.counts tr:nth-child(even) { background: #f4f4f4; }
.meta { color: #555; margin: 0.2em 0; }
code, .answers td { font-family: ui-monospace, monospace; font-size: 13px; white-space: pre-wrap; word-break: break-all; }
.answers { width: 100%; table-layout: fixed; border: 1px solid #ccc; }
.answers th { background: #eee; }
.answers td { border-top: 1px solid #eee; }
.answers tr.differs td { background: #fff1f0; }
.answers tr.differs td + td { background: #f0fff1; }
section.difference { border-left: 3px solid #c33; padding-left: 1em; margin: 1.2em 0; }
`;

export function renderHtml(report: DiffReport, source: string): string {
  const title = `tcpcopy report of ${source}`;
  const body = [
    `<h1>${shown(title)}</h1>`,
    `<p>${plural(report.total, 'differing exchange')}${escapeHtml(badLinesNote(report.badLineCount))}</p>`,
    badLinesList(report),
  ];
  if (report.total > 0) {
    body.push(
      table('By kind', { rows: report.byKind, otherKeys: 0, otherCount: 0 }, 'kinds'),
      table('By path or request', report.byPath, 'paths'),
      table('By test server', report.byTarget, 'test servers'),
      '<h2>Most frequent differences</h2>',
      ...report.differences.map((group, i) => difference(group, i + 1)),
    );
    const { otherKeys, otherCount } = report.otherDifferences;
    if (otherKeys > 0) body.push(`<p>${plural(otherKeys, 'other difference')}: ${plural(otherCount, 'exchange')}</p>`);
  }
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<title>${shown(title)}</title>`,
    `<style>${STYLE}</style>`,
    '</head>',
    '<body>',
    ...body.filter((part) => part !== ''),
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

function badLinesList(report: DiffReport): string {
  if (report.badLineCount === 0) return '';
  const items = report.badLines.map((bad) => `<li>line ${bad.line}: ${shown(bad.problem)}</li>`);
  const more = moreBadLines(report).map((line) => `<li>${escapeHtml(line.trim())}</li>`);
  return `<ul>\n${[...items, ...more].join('\n')}\n</ul>`;
}

function table(heading: string, tally: Tally, noun: string): string {
  const row = (count: Count, key: string): string =>
    `<tr><td><code>${key}</code></td><td class="count">${count.count}</td></tr>`;
  const rows = tally.rows.map((count) => row(count, shown(count.key)));
  if (tally.otherKeys > 0) {
    rows.push(row({ key: '', count: tally.otherCount }, `(${plural(tally.otherKeys, `other ${noun}`)})`));
  }
  return `<h2>${heading}</h2>\n<table class="counts">\n${rows.join('\n')}\n</table>`;
}

function difference(group: DifferenceGroup, rank: number): string {
  const record = group.example;
  // Rows as in the text, wrapped at the same width; the page may wrap them further.
  const view = recordSideBySide(record, COLUMN_WIDTH);
  const from = whereFrom(view);
  const rows = view.rows.map(
    (row, i) =>
      `<tr${row.differs ? ' class="differs"' : ''}><td>${shown(row.production)}</td><td>${i === 0 && !view.testAnswered ? NO_ANSWER : shown(row.test)}</td></tr>`,
  );
  return [
    '<section class="difference">',
    `<h3>${rank}. ${plural(group.count, 'exchange')}: <code>${shown(groupTitle(group))}</code></h3>`,
    `<p class="meta">${shown(exampleOrigin(record))}</p>`,
    `<p class="meta">request: <code>${shown(record.request.firstBytes)}</code></p>`,
    `<p class="meta">${escapeHtml(answerLengths(record))}${from}</p>`,
    '<table class="answers">',
    '<tr><th>production</th><th>test</th></tr>',
    ...rows,
    '</table>',
    '</section>',
  ].join('\n');
}
