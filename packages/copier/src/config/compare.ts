/**
 * --compare and its companions -> CompareConfig: what the response comparison needs
 * (docs/compare.md). Every companion flag without --compare is refused, naming it: a diff log
 * that silently stays empty is worse than an error.
 */
import { badValue, flagConflict, readChoice, readText, repeatedValues, str, type RawArgs } from '@tcpcopy/common';
import * as F from './flags.js';

export interface CompareConfig {
  readonly mode: F.CompareModeChoice;
  /** --compare-bytes: kept and compared byte for byte per answer. */
  readonly compareBytes: number;
  /** --diff-log; undefined: differences are only counted. */
  readonly diffLog: string | undefined;
  /** --compare-ignore-header, or the default (Date). */
  readonly ignoreHeaders: readonly string[];
  /** --compare-ignore: regular expressions' sources, each checked to compile. */
  readonly ignoreBody: readonly string[];
}

/** RFC 9110 §5.1: a field name is a token. */
const FIELD_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const SIZE = /^(\d+)([km]?)$/i;
const SIZE_UNITS: Readonly<Record<string, number>> = { '': 1, k: 1024, m: 1024 * 1024 };
const COMPANIONS = ['compareBytes', 'diffLog', 'compareIgnoreHeader', 'compareIgnore'] as const;

export function readCompareConfig(raw: RawArgs<F.CopierFlag>): CompareConfig | undefined {
  const flags = F.COPIER_FLAGS;
  if (raw.compare === undefined) {
    for (const key of COMPANIONS) {
      const value = raw[key];
      if (value !== undefined) {
        throw flagConflict(flags[key], repeatedValues(value)[0] ?? '', 'only valid with --compare');
      }
    }
    return undefined;
  }
  const ignoreHeaders = repeatedValues(raw.compareIgnoreHeader);
  for (const name of ignoreHeaders) if (!FIELD_NAME.test(name)) throw badValue(flags.compareIgnoreHeader, name);
  const ignoreBody = repeatedValues(raw.compareIgnore);
  for (const source of ignoreBody) checkRegExp(source);
  return {
    mode: readChoice(flags.compare, str(raw.compare), F.COMPARE_MODES, 'auto'),
    compareBytes: readSize(str(raw.compareBytes)),
    diffLog: readText(flags.diffLog, str(raw.diffLog)),
    ignoreHeaders: ignoreHeaders.length > 0 ? ignoreHeaders : ['Date'],
    ignoreBody,
  };
}

function readSize(text: string | undefined): number {
  if (text === undefined) return F.DEFAULT_COMPARE_BYTES;
  const match = SIZE.exec(text);
  const bytes = match === null ? NaN : Number(match[1]) * SIZE_UNITS[match[2]!.toLowerCase()]!;
  if (!(bytes >= F.MIN_COMPARE_BYTES && bytes <= F.MAX_COMPARE_BYTES))
    throw badValue(F.COPIER_FLAGS.compareBytes, text);
  return bytes;
}

function checkRegExp(source: string): void {
  try {
    new RegExp(source);
  } catch (err) {
    const reason = (err as Error).message.replace(/^Invalid regular expression: /, '');
    throw badValue(F.COPIER_FLAGS.compareIgnore, source, `a JavaScript regular expression (${reason})`);
  }
}
