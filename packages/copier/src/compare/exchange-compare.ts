/**
 * Bytes mode: production's exchanges of one copied session against the test server's, answer by
 * answer. Up to `compareBytes` of each answer is compared byte for byte (the recorder kept that
 * much); beyond it only the lengths and the hashes of the whole answers can differ.
 *
 * Turns pair up by where they start in the client's byte stream, not only by position: the copier
 * sends production's client bytes, so a test turn starts where a production turn starts, unless
 * the test server was slow enough that the copier sent two production turns before it answered.
 * Those turns merged into one on the test side cannot be compared turn by turn; they are
 * `unpaired` (counted, not reported as differences), and the turns after them pair up again.
 */
import type { Exchange, RecordedAnswer } from './exchange-recorder.js';

export type BytesDifferenceKind = 'length' | 'bytes' | 'hash' | 'timeout' | 'reset';

/** Both answers' bytes around the first differing offset, from `start` in each answer. */
export interface Excerpt {
  readonly start: number;
  readonly production: Buffer;
  readonly test: Buffer;
}

export interface BytesDifference {
  readonly kind: BytesDifferenceKind;
  /** The first differing byte, when it lies within the compared prefix. */
  readonly offset: number | undefined;
  readonly excerpt: Excerpt | undefined;
}

/**
 * `lost`: the capture missed bytes of one of the answers, so nothing can be said about them.
 * `unpaired`: the test side has no turn matching this one (see the header comment).
 */
export type ComparisonOutcome = 'identical' | 'different' | 'lost' | 'unpaired';

export interface ExchangeComparison {
  readonly index: number;
  readonly production: Exchange;
  readonly test: Exchange | undefined;
  readonly outcome: ComparisonOutcome;
  readonly difference: BytesDifference | undefined;
}

/** Excerpt bounds around a differing offset: some context before it, more of what differs after. */
export const EXCERPT_BEFORE = 16;
export const EXCERPT_AFTER = 32;

/**
 * Compares one production exchange with the test exchange of the same turn; `test` undefined
 * means the test session ended without ever having that turn answered.
 */
export function compareExchange(production: Exchange, test: Exchange | undefined): ExchangeComparison {
  const index = production.index;
  if (test === undefined) return different(production, test, 'timeout', undefined);
  const expected = production.answer;
  const actual = test.answer;
  if (expected.lostBytes > 0 || actual.lostBytes > 0) {
    return { index, production, test, outcome: 'lost', difference: undefined };
  }
  // A reset that production did not have explains whatever else differs: it is what is reported.
  const cutByReset = test.ending === 'reset' && production.ending !== 'reset';
  if (actual.length === 0 && expected.length > 0) {
    return different(production, test, cutByReset ? 'reset' : 'timeout', undefined);
  }
  const offset = firstDifference(expected, actual);
  if (offset !== undefined) return different(production, test, cutByReset ? 'reset' : 'bytes', offset);
  if (expected.length !== actual.length) {
    // Equal prefixes: they differ where the shorter one ends, if that is inside the compared part.
    const shorter = Math.min(expected.length, actual.length);
    const seen = shorter < expected.firstBytes.length || shorter < actual.firstBytes.length;
    return different(production, test, cutByReset ? 'reset' : 'length', seen ? shorter : undefined);
  }
  if (expected.sha256 !== actual.sha256) return different(production, test, 'hash', undefined);
  if (cutByReset) return different(production, test, 'reset', undefined);
  return { index, production, test, outcome: 'identical', difference: undefined };
}

/** A production turn's fate against the test turns from `test[from]`, and the first test turn left. */
export interface TurnPairing {
  readonly comparison: ExchangeComparison;
  readonly next: number;
}

/**
 * Pairs one production exchange with the test turns from `test[from]` on (those ending before it
 * are passed over): its test turn when one starts where it starts with its length, `unpaired` when
 * the test side merged it with another, a timeout when `testEnded` and no test turn is left, or
 * undefined when its test turn may still come.
 */
export function pairTurn(
  exchange: Exchange,
  test: readonly Exchange[],
  from: number,
  testEnded: boolean,
): TurnPairing | undefined {
  const start = exchange.request.offset;
  let t = from;
  while (t < test.length && test[t]!.request.offset + test[t]!.request.length <= start) t++;
  const candidate = test[t];
  if (candidate === undefined) {
    return testEnded ? { comparison: compareExchange(exchange, undefined), next: t } : undefined;
  }
  if (candidate.request.offset === start && candidate.request.length === exchange.request.length) {
    return { comparison: compareExchange(exchange, candidate), next: t + 1 };
  }
  return {
    comparison: {
      index: exchange.index,
      production: exchange,
      test: candidate,
      outcome: 'unpaired',
      difference: undefined,
    },
    next: t,
  };
}

/**
 * Compares every production exchange whose fate is known: its test turn was recorded, the test
 * side went past it (unpaired), or `testEnded` says no more test turns will come (timeout).
 * Exchanges still waiting for their test turn are left out, in order, so a caller comparing as the
 * session goes passes the rest again later. Both lists are in turn order.
 */
export function compareSession(
  production: readonly Exchange[],
  test: readonly Exchange[],
  testEnded: boolean,
): ExchangeComparison[] {
  const comparisons: ExchangeComparison[] = [];
  let t = 0;
  for (const exchange of production) {
    const paired = pairTurn(exchange, test, t, testEnded);
    if (paired === undefined) break;
    comparisons.push(paired.comparison);
    t = paired.next;
  }
  return comparisons;
}

/** The first offset where the kept prefixes differ, within the part both kept. */
function firstDifference(expected: RecordedAnswer, actual: RecordedAnswer): number | undefined {
  const a = expected.firstBytes;
  const b = actual.firstBytes;
  const compared = Math.min(a.length, b.length);
  if (a.compare(b, 0, compared, 0, compared) === 0) return undefined;
  for (let i = 0; i < compared; i++) if (a[i] !== b[i]) return i;
  return undefined;
}

function different(
  production: Exchange,
  test: Exchange | undefined,
  kind: BytesDifferenceKind,
  offset: number | undefined,
): ExchangeComparison {
  return {
    index: production.index,
    production,
    test,
    outcome: 'different',
    difference: {
      kind,
      offset,
      excerpt: offset === undefined || test === undefined ? undefined : excerpt(production, test, offset),
    },
  };
}

function excerpt(production: Exchange, test: Exchange, offset: number): Excerpt {
  const start = Math.max(0, offset - EXCERPT_BEFORE);
  const end = offset + EXCERPT_AFTER;
  return {
    start,
    production: production.answer.firstBytes.subarray(start, end),
    test: test.answer.firstBytes.subarray(start, end),
  };
}
