/**
 * HTTP mode: production's response to one request against the test server's response to the same
 * copied request, as status, header fields and decoded body, so that two builds answering the same
 * thing report nothing even when they frame or compress it differently.
 *
 * Rules, each chosen so that two identical builds report nothing:
 * - Status: the code only; RFC 9112 §4 tells clients to ignore the reason phrase.
 * - Header fields: by case-insensitive name (RFC 9110 §5.1), lines of one name joined with ", " as
 *   RFC 9110 §5.3 allows (Set-Cookie excepted, its lines compared one by one); the order of
 *   different names is not significant (§5.3). Ignored: the configured names (default Date, which
 *   differs between any two answers), and the framing fields, whose differences the body comparison
 *   already judges on what the client gets:
 *   - Transfer-Encoding is hop-by-hop (RFC 9112 §6.1): chunked or not is the server's choice.
 *   - Content-Length only frames a body that is compared itself; it is compared when neither
 *     answer has a body (HEAD, 304), where it is the only sign of the representation's size.
 *   - Content-Encoding, when both bodies decoded and their decoded bodies are equal: the client gets
 *     the same representation, gzipped or not. Otherwise it is reported, as it explains a body
 *     difference, or is the only sign of one we could not decode.
 * - Body: the decoded bodies, first the kept prefixes byte by byte, then lengths, then (beyond the
 *   prefixes) hashes. Ignore patterns are matched against each kept prefix read as latin1, one
 *   character per byte, so offsets stay byte offsets; matched spans are removed from both before
 *   comparing. Past the kept prefix only the hash is known, and no pattern can apply to it.
 */
import type { HttpResponse } from './http-parser.js';
import { EXCERPT_AFTER, EXCERPT_BEFORE } from './exchange-compare.js';

export interface HttpCompareOptions {
  /** Header names never compared (case-insensitive); replaces DEFAULT_IGNORED_HEADERS. */
  ignoreHeaders?: readonly string[];
  /** Body spans to ignore (timestamps, ids); the global flag is added. */
  ignoreBody?: readonly RegExp[];
}

/** Compiled options: build once with httpCompareRules, use for every exchange. */
export interface HttpCompareRules {
  readonly ignoredHeaders: ReadonlySet<string>;
  readonly bodyMasks: readonly RegExp[];
}

export const DEFAULT_IGNORED_HEADERS: readonly string[] = Object.freeze(['Date']);

export function httpCompareRules(options: HttpCompareOptions = {}): HttpCompareRules {
  const ignored = options.ignoreHeaders ?? DEFAULT_IGNORED_HEADERS;
  return Object.freeze({
    ignoredHeaders: new Set(ignored.map((name) => name.toLowerCase())),
    // matchAll needs the global flag; a sticky one would stop at the first gap.
    bodyMasks: Object.freeze(
      (options.ignoreBody ?? []).map((re) => new RegExp(re.source, `${re.flags.replace(/[gy]/g, '')}g`)),
    ),
  });
}

/** A body's bytes around a difference, from `start` in that body. */
export interface BodyExcerpt {
  readonly start: number;
  readonly bytes: Buffer;
}

export type HttpDifference =
  | { readonly kind: 'status'; readonly production: number; readonly test: number }
  | {
      readonly kind: 'headers';
      /** As production sent it, or as the test server did when production did not. */
      readonly name: string;
      readonly change: 'added' | 'removed' | 'changed';
      /** Every value of the field, in order; empty when absent. */
      readonly production: readonly string[];
      readonly test: readonly string[];
    }
  | {
      /** `body`: the bytes differ; `length`: one body is the other's beginning. */
      readonly kind: 'body' | 'length';
      /** Production's offset of the first differing byte, when within the kept prefixes. */
      readonly offset: number | undefined;
      readonly productionLength: number;
      readonly testLength: number;
      /** Both bodies around the difference (their starts differ only when ignored spans shifted them). */
      readonly excerpt: { readonly production: BodyExcerpt; readonly test: BodyExcerpt } | undefined;
    };

export type HttpDifferenceKind = HttpDifference['kind'];
type BodyDifference = Extract<HttpDifference, { kind: 'body' | 'length' }>;

/** Every difference between two answers to the same request; empty when they agree. */
export function compareHttpResponses(
  production: HttpResponse,
  test: HttpResponse,
  rules: HttpCompareRules,
): HttpDifference[] {
  const differences: HttpDifference[] = [];
  if (production.status !== test.status) {
    differences.push({ kind: 'status', production: production.status, test: test.status });
  }
  const body = compareBodies(production, test, rules.bodyMasks);
  differences.push(...compareHeaders(production, test, rules, body === undefined));
  if (body !== undefined) differences.push(body);
  return differences;
}

const TRANSFER_ENCODING = 'transfer-encoding';
const CONTENT_LENGTH = 'content-length';
const CONTENT_ENCODING = 'content-encoding';
/** RFC 9110 §5.3: the one field whose lines cannot be joined with commas (RFC 6265 §3). */
const SET_COOKIE = 'set-cookie';

interface Field {
  name: string;
  values: string[];
}

function fieldsByName(headers: readonly (readonly [string, string])[]): Map<string, Field> {
  const fields = new Map<string, Field>();
  for (const [name, value] of headers) {
    const lower = name.toLowerCase();
    const field = fields.get(lower);
    if (field === undefined) fields.set(lower, { name, values: [value] });
    else field.values.push(value);
  }
  return fields;
}

function sameValues(lower: string, a: readonly string[], b: readonly string[]): boolean {
  if (lower === SET_COOKIE) return a.length === b.length && a.every((v, i) => v === b[i]);
  return a.join(', ') === b.join(', ');
}

/** Whether a body's decoded form is known, so two of them can stand for their representation. */
function decodedOrPlain(response: HttpResponse): boolean {
  return response.decoding === 'identity' || response.decoding === 'decoded';
}

/**
 * The same names in the same order, each value equal or ignored: what two builds of one server
 * usually send, told without building the maps (a third of HTTP mode's comparing time in the
 * profile). Whatever passes here, the comparison by name would find equal too.
 */
function sameInOrder(
  a: readonly (readonly [string, string])[],
  b: readonly (readonly [string, string])[],
  ignored: (lower: string) => boolean,
): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const [name, value] = a[i]!;
    const [otherName, otherValue] = b[i]!;
    if (name !== otherName || (value !== otherValue && !ignored(name.toLowerCase()))) return false;
  }
  return true;
}

function compareHeaders(
  production: HttpResponse,
  test: HttpResponse,
  rules: HttpCompareRules,
  bodiesEqual: boolean,
): HttpDifference[] {
  const ignored = (lower: string): boolean =>
    rules.ignoredHeaders.has(lower) ||
    lower === TRANSFER_ENCODING ||
    (lower === CONTENT_LENGTH && (production.framing !== 'none' || test.framing !== 'none')) ||
    (lower === CONTENT_ENCODING && bodiesEqual && decodedOrPlain(production) && decodedOrPlain(test));
  if (sameInOrder(production.headers, test.headers, ignored)) return [];
  const expected = fieldsByName(production.headers);
  const actual = fieldsByName(test.headers);
  const differences: HttpDifference[] = [];
  for (const [lower, field] of expected) {
    if (ignored(lower)) continue;
    const other = actual.get(lower);
    if (other === undefined) {
      differences.push({ kind: 'headers', name: field.name, change: 'removed', production: field.values, test: [] });
    } else if (!sameValues(lower, field.values, other.values)) {
      differences.push({
        kind: 'headers',
        name: field.name,
        change: 'changed',
        production: field.values,
        test: other.values,
      });
    }
  }
  for (const [lower, field] of actual) {
    if (ignored(lower) || expected.has(lower)) continue;
    differences.push({ kind: 'headers', name: field.name, change: 'added', production: [], test: field.values });
  }
  return differences;
}

/**
 * A kept body with the ignored spans taken out: `bytes`, and where each stretch of it came from
 * (`stretchAt[k]` in `bytes` started at `stretchFrom[k]` in the body). The last stretch is empty and
 * maps the end of `bytes` to the end of the body.
 */
interface MaskedBody {
  bytes: Buffer;
  stretchAt: number[];
  stretchFrom: number[];
}

function maskBody(body: Buffer, masks: readonly RegExp[]): MaskedBody {
  if (masks.length === 0) return { bytes: body, stretchAt: [0, body.length], stretchFrom: [0, body.length] };
  const text = body.toString('latin1');
  const spans: [number, number][] = [];
  for (const mask of masks) {
    for (const m of text.matchAll(mask)) if (m[0].length > 0) spans.push([m.index, m.index + m[0].length]);
  }
  spans.sort((a, b) => a[0] - b[0]);
  const kept: Buffer[] = [];
  const stretchAt: number[] = [];
  const stretchFrom: number[] = [];
  let at = 0;
  let keptLength = 0;
  for (const [start, end] of [...spans, [body.length, body.length] as const]) {
    if (start > at) {
      stretchAt.push(keptLength);
      stretchFrom.push(at);
      kept.push(body.subarray(at, start));
      keptLength += start - at;
    }
    at = Math.max(at, end);
  }
  stretchAt.push(keptLength);
  stretchFrom.push(body.length);
  return { bytes: Buffer.concat(kept, keptLength), stretchAt, stretchFrom };
}

/** Where masked offset `at` lies in the body. */
function bodyOffset(masked: MaskedBody, at: number): number {
  let k = masked.stretchAt.length - 1;
  while (k > 0 && masked.stretchAt[k]! > at) k--;
  return masked.stretchFrom[k]! + at - masked.stretchAt[k]!;
}

function firstDifference(a: Buffer, b: Buffer): number | undefined {
  const common = Math.min(a.length, b.length);
  if (a.compare(b, 0, common, 0, common) === 0) return undefined;
  let i = 0;
  while (a[i] === b[i]) i++;
  return i;
}

function excerptAt(body: Buffer, offset: number): BodyExcerpt {
  const start = Math.max(0, offset - EXCERPT_BEFORE);
  return { start, bytes: body.subarray(start, offset + EXCERPT_AFTER) };
}

function compareBodies(
  production: HttpResponse,
  test: HttpResponse,
  masks: readonly RegExp[],
): BodyDifference | undefined {
  const expected = maskBody(production.body, masks);
  const actual = maskBody(test.body, masks);
  const differ = (kind: 'body' | 'length', at: number | undefined): BodyDifference => {
    const offset = at === undefined ? undefined : bodyOffset(expected, at);
    return {
      kind,
      offset,
      productionLength: production.bodyLength,
      testLength: test.bodyLength,
      excerpt:
        at === undefined
          ? undefined
          : { production: excerptAt(production.body, offset!), test: excerptAt(test.body, bodyOffset(actual, at)) },
    };
  };
  const at = firstDifference(expected.bytes, actual.bytes);
  if (at !== undefined) return differ('body', at);
  // Past a kept prefix, a body's length is its whole decoded length and cannot be masked.
  const expectedLength = production.truncated ? production.bodyLength : expected.bytes.length;
  const actualLength = test.truncated ? test.bodyLength : actual.bytes.length;
  if (expectedLength !== actualLength) {
    // Equal prefixes: they differ where the shorter one ends, if it is known to end there.
    const productionShorter = expected.bytes.length < actual.bytes.length;
    const shorterEnds =
      expected.bytes.length !== actual.bytes.length && !(productionShorter ? production : test).truncated;
    return differ('length', shorterEnds ? Math.min(expected.bytes.length, actual.bytes.length) : undefined);
  }
  if ((production.truncated || test.truncated) && production.bodyHash !== test.bodyHash)
    return differ('body', undefined);
  return undefined;
}
