/**
 * A strict parser of the Prometheus text exposition format (version 0.0.4), for tests: what a
 * scraper would accept, and nothing sloppier. It throws on the first line a Prometheus server
 * would reject or that breaks the format's rules (sample before its TYPE, a family declared twice,
 * a duplicate series, a bad escape, a counter name without `_total`... the last one is our own
 * naming rule, checked here because every counter we export follows it).
 */

export type FamilyType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Family {
  readonly name: string;
  readonly type: FamilyType;
  help: string;
  readonly samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES: readonly string[] = ['counter', 'gauge', 'histogram', 'summary', 'untyped'];
/** Sample names a histogram or summary family owns besides its own name. */
const SUFFIXES = ['_bucket', '_sum', '_count'];

export class Exposition {
  readonly families = new Map<string, Family>();

  /** The family `name` or throws (so a renamed metric cannot pass as absent = 0). */
  family(name: string): Family {
    const f = this.families.get(name);
    if (f === undefined) throw new Error(`no metric family ${name}; have ${[...this.families.keys()].join(', ')}`);
    return f;
  }

  /** The sample of `name` with exactly these labels; throws when there is none. */
  value(name: string, labels: Readonly<Record<string, string>> = {}): number {
    const wanted = Object.keys(labels).length;
    const match = this.samples(name, labels).find((s) => Object.keys(s.labels).length === wanted);
    if (match === undefined) throw new Error(`no sample ${name}${JSON.stringify(labels)}`);
    return match.value;
  }

  /** The sum over the samples of `name` whose labels include `labels` (0 when none). */
  sum(name: string, labels: Readonly<Record<string, string>> = {}): number {
    return this.samples(name, labels).reduce((n, s) => n + s.value, 0);
  }

  samples(name: string, labels: Readonly<Record<string, string>> = {}): Sample[] {
    return this.family(name).samples.filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  }
}

export function parsePrometheusText(text: string): Exposition {
  const out = new Exposition();
  if (text.length > 0 && !text.endsWith('\n')) throw new Error('the exposition must end with a line feed');
  const seenSeries = new Set<string>();
  const typed = new Set<string>();
  const lines = text.split('\n');
  lines.pop();
  lines.forEach((line, i) => {
    const where = `line ${i + 1} ${JSON.stringify(line)}`;
    try {
      parseLine(line, out, seenSeries, typed);
    } catch (err) {
      throw new Error(`${where}: ${(err as Error).message}`);
    }
  });
  return out;
}

function parseLine(line: string, out: Exposition, seenSeries: Set<string>, typed: Set<string>): void {
  if (line.trim() === '') return;
  if (line.startsWith('#')) {
    const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (m === null) return; // a plain comment
    const [, keyword, name, rest] = m as unknown as [string, string, string, string];
    if (!METRIC_NAME.test(name)) throw new Error(`bad metric name ${name}`);
    if (keyword === 'TYPE') {
      if (!TYPES.includes(rest)) throw new Error(`unknown type ${rest}`);
      const existing = out.families.get(name);
      if (existing !== undefined && (typed.has(name) || existing.samples.length > 0))
        throw new Error(`TYPE for ${name} after its TYPE or samples`);
      typed.add(name);
      if (rest === 'counter' && !name.endsWith('_total')) throw new Error(`counter ${name} does not end in _total`);
      out.families.set(name, { name, type: rest as FamilyType, help: existing?.help ?? '', samples: [] });
    } else {
      const help = unescapeHelp(rest);
      const existing = out.families.get(name);
      if (existing === undefined) out.families.set(name, { name, type: 'untyped', help, samples: [] });
      else if (existing.help !== '') throw new Error(`second HELP for ${name}`);
      else existing.help = help;
    }
    return;
  }
  const sample = parseSample(line);
  const family = familyOf(out, sample.name);
  const key = `${sample.name}{${Object.entries(sample.labels)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(',')}}`;
  if (seenSeries.has(key)) throw new Error(`duplicate series ${key}`);
  seenSeries.add(key);
  if (family.type === 'counter' && !(sample.value >= 0)) throw new Error(`counter ${key} is ${sample.value}`);
  family.samples.push(sample);
}

function familyOf(out: Exposition, sampleName: string): Family {
  const own = out.families.get(sampleName);
  if (own !== undefined && own.type !== 'untyped') return own;
  for (const suffix of SUFFIXES) {
    if (!sampleName.endsWith(suffix)) continue;
    const base = out.families.get(sampleName.slice(0, -suffix.length));
    if (base !== undefined && (base.type === 'histogram' || base.type === 'summary')) return base;
  }
  if (own !== undefined) return own;
  throw new Error(`sample ${sampleName} has no TYPE line before it`);
}

function parseSample(line: string): Sample {
  const nameEnd = line.search(/[{ ]/);
  if (nameEnd <= 0) throw new Error('no metric name');
  const name = line.slice(0, nameEnd);
  if (!METRIC_NAME.test(name)) throw new Error(`bad metric name ${name}`);
  const labels: Record<string, string> = {};
  let at = nameEnd;
  if (line[at] === '{') {
    at++;
    while (line[at] !== '}') {
      const eq = line.indexOf('=', at);
      if (eq < 0) throw new Error('label without =');
      const label = line.slice(at, eq);
      if (!LABEL_NAME.test(label) || label.startsWith('__')) throw new Error(`bad label name ${label}`);
      if (label in labels) throw new Error(`label ${label} twice`);
      if (line[eq + 1] !== '"') throw new Error(`label ${label}: value not quoted`);
      const { value, next } = readQuoted(line, eq + 2);
      labels[label] = value;
      at = next;
      if (line[at] === ',') at++;
      else if (line[at] !== '}') throw new Error(`expected , or } after label ${label}`);
    }
    at++;
  }
  if (line[at] !== ' ') throw new Error('expected a space before the value');
  const fields = line.slice(at + 1).split(' ');
  if (fields.length < 1 || fields.length > 2 || fields.some((f) => f === ''))
    throw new Error('expected a value and an optional timestamp');
  if (fields[1] !== undefined && !/^-?\d+$/.test(fields[1])) throw new Error(`bad timestamp ${fields[1]}`);
  return { name, labels, value: parseValue(fields[0]!) };
}

/** As Prometheus reads it (Go's strconv.ParseFloat): NaN and Inf in any case, e.g. prom-client's "Nan". */
function parseValue(text: string): number {
  const special = /^([-+]?)(inf|infinity|nan)$/i.exec(text);
  if (special !== null) return special[2]!.toLowerCase() === 'nan' ? NaN : special[1] === '-' ? -Infinity : Infinity;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`bad value ${text}`);
  return Number(text);
}

/** A label value from just after its opening quote; escapes \\ \" \n only. */
function readQuoted(line: string, from: number): { value: string; next: number } {
  let value = '';
  for (let i = from; i < line.length; i++) {
    const ch = line[i]!;
    if (ch === '"') return { value, next: i + 1 };
    if (ch === '\\') {
      const e = line[++i];
      if (e === '\\') value += '\\';
      else if (e === '"') value += '"';
      else if (e === 'n') value += '\n';
      else throw new Error(`bad escape \\${e ?? ''}`);
    } else value += ch;
  }
  throw new Error('unterminated label value');
}

/** HELP text: escapes \\ and \n only. */
function unescapeHelp(text: string): string {
  return text.replace(/\\(.?)/g, (all, e: string) => {
    if (e === '\\') return '\\';
    if (e === 'n') return '\n';
    throw new Error(`bad escape ${all}`);
  });
}
