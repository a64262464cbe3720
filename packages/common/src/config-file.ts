/**
 * `--config <file>`: a settings file in YAML (or JSON, which YAML 1.2 reads too) whose keys are
 * the keys of the daemon's flag table (`transfer`, `intercepts`, `clientIps`, `logLevel`, ...).
 * The file is checked at the edge, key by key and type by type, and turned into the same raw
 * values the command line gives; flags given on the command line win; the merged values go
 * through the daemon's one validation function, so a file can say nothing a flag cannot.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import {
  flagExpected,
  flagLabel,
  REPEATED_VALUES_SEPARATOR,
  type FlagSpec,
  type FlagTable,
  type RawArgs,
} from './cli.js';
import { ConfigError, ErrorCode } from './errors.js';

type Yaml = typeof import('yaml');
let yaml: Yaml | undefined;
/** Loaded only to read a settings file: it is 2.7 MiB of an idle daemon's memory otherwise. */
function loadYaml(): Yaml {
  yaml ??= createRequire(import.meta.url)('yaml') as Yaml;
  return yaml;
}

/** Reads a file as UTF-8 text; tests hand in their own. */
export type ReadText = (path: string) => string;

/** Keys a file may not set: a file naming another file, or a file switching --check on. */
const COMMAND_LINE_ONLY: ReadonlySet<string> = new Set(['configFile', 'check']);
/** Misspellings this close (edits) to a key get a "did you mean". */
const SUGGEST_DISTANCE = 2;

const readUtf8: ReadText = (path) => readFileSync(path, 'utf8');

/**
 * The command line's raw values over those of the `--config` file at `path` (when given), then
 * `validate`: the daemon's one validation function. A value from the file that validation
 * refuses is reported with its key and the file, e.g.
 * `-n "0": expected an integer from 1 to 1023 (copies in /etc/tcpcopy.yaml)`.
 */
export function withConfigFile<K extends string, C>(
  flags: FlagTable<K>,
  cli: RawArgs<K>,
  path: string | undefined,
  validate: (raw: RawArgs<K>) => C,
  read: ReadText = readUtf8,
): C {
  // An empty --config value is left to validate, which names the flag and what it expects.
  if (path === undefined || path.trim() === '') return validate(cli);
  const file = readConfigFile(flags, path, read);
  try {
    return validate({ ...file, ...cli });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const key = (Object.keys(file) as K[]).find((k) => cli[k] === undefined && flagLabel(flags[k]) === err.flag);
    if (key === undefined) throw err;
    throw new ConfigError(err.code, `${err.message} (${key} in ${path})`, err.flag);
  }
}

/** The settings of the file at `path` as raw flag values; a ConfigError (CONFIG_FILE) for a
 *  file that cannot be read, does not parse, or has an unknown key or a value of the wrong type. */
export function readConfigFile<K extends string>(
  flags: FlagTable<K>,
  path: string,
  read: ReadText = readUtf8,
): RawArgs<K> {
  let text: string;
  try {
    text = read(path);
  } catch (err) {
    // "ENOENT: no such file or directory, open '/x'": the path is already in our message.
    const reason = (err as Error).message.replace(/, \w+(?: '.*')?$/, '');
    throw fileError(path, `cannot read it: ${reason}`);
  }
  return parseConfigText(flags, text, path);
}

/** The text of a settings file -> raw flag values (pure). `path` is for messages only. */
export function parseConfigText<K extends string>(flags: FlagTable<K>, text: string, path: string): RawArgs<K> {
  const { LineCounter, parseDocument } = loadYaml();
  const lines = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false, lineCounter: lines });
  const syntax = doc.errors[0];
  if (syntax !== undefined) {
    const { line, col } = lines.linePos(syntax.pos[0]);
    throw fileError(path, `not valid YAML or JSON at line ${line}, column ${col}: ${syntax.message.split('\n')[0]}`);
  }
  const settings: unknown = doc.toJS();
  // An empty file (or one of comments only) sets nothing.
  if (settings === null || settings === undefined) return {};
  if (typeof settings !== 'object' || Array.isArray(settings)) {
    throw fileError(path, `expected a mapping of settings (key: value), got ${describeValue(settings)}`);
  }
  const raw: { [P in K]?: string | true } = {};
  for (const [key, value] of Object.entries(settings)) {
    if (!isKey(flags, key)) throw unknownKey(flags, key, path);
    const rawValue = toRawValue(flags[key], key, value, path);
    if (rawValue !== undefined) raw[key] = rawValue;
  }
  return raw;
}

function isKey<K extends string>(flags: FlagTable<K>, key: string): key is K {
  return Object.hasOwn(flags, key) && !COMMAND_LINE_ONLY.has(key);
}

/** A file value as the command line would have given it; undefined for a switch set to false. */
function toRawValue(flag: FlagSpec, key: string, value: unknown, path: string): string | true | undefined {
  const wrongType = (what: string): ConfigError =>
    fileError(path, `${key}: expected ${what}, got ${describeValue(value)}`, key);
  if (flag.value === undefined) {
    if (typeof value !== 'boolean') throw wrongType(`true or false (${flagLabel(flag)} is a switch)`);
    return value ? true : undefined;
  }
  // A flag whose value may be left out (`--compare [mode]`): true gives it without one.
  if (flag.value.startsWith('[') && typeof value === 'boolean') return value ? true : undefined;
  if (flag.range !== undefined) {
    // The number's range and integrality are checked by validation, as for the flag.
    if (typeof value !== 'number') throw wrongType(`a number: ${flagExpected(flag)}`);
    return String(value);
  }
  if (flag.repeatable === true) {
    const given = typeof value === 'string' ? [value] : Array.isArray(value) ? value : [];
    if (given.length > 0 && given.every((v) => typeof v === 'string' && !v.includes(REPEATED_VALUES_SEPARATOR))) {
      return given.join(REPEATED_VALUES_SEPARATOR);
    }
    throw wrongType(`a string or a list of strings: ${flagExpected(flag)}`);
  }
  if (typeof value === 'string') return value;
  if (flag.list === true && Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'string')) {
    return value.join(',');
  }
  throw wrongType(
    flag.list === true ? `a string or a list of strings: ${flagExpected(flag)}` : `a string: ${flagExpected(flag)}`,
  );
}

function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return value.length === 0 ? 'an empty list' : 'a list';
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${String(value)}`;
}

function unknownKey<K extends string>(flags: FlagTable<K>, key: string, path: string): ConfigError {
  const keys = (Object.keys(flags) as K[]).filter((k) => !COMMAND_LINE_ONLY.has(k));
  if (COMMAND_LINE_ONLY.has(key)) {
    const flag = flags[key as K];
    return fileError(path, `${key}: ${flag === undefined ? key : flag.long} is for the command line only`, key);
  }
  const suggestion = suggestKey(flags, keys, key);
  const hint = suggestion === undefined ? `keys: ${keys.join(', ')}` : `did you mean ${JSON.stringify(suggestion)}?`;
  return fileError(path, `unknown key ${JSON.stringify(key)} (${hint})`, key);
}

/** The key a user probably meant: one whose flag is spelt `key` (`intercept`, `log-file`, `-x`,
 *  `x`), the same key in another case, or the nearest within a couple of edits. */
function suggestKey<K extends string>(flags: FlagTable<K>, keys: readonly K[], key: string): K | undefined {
  const bare = key.replace(/^-+/, '').toLowerCase();
  const byFlag = keys.find((k) => {
    const f = flags[k];
    return f.long.slice(2).toLowerCase() === bare || f.short?.slice(1) === key.replace(/^-+/, '');
  });
  if (byFlag !== undefined) return byFlag;
  let best: K | undefined;
  let bestDistance = SUGGEST_DISTANCE + 1;
  for (const k of keys) {
    const d = editDistance(k.toLowerCase(), bare);
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best;
}

/** Levenshtein distance (keys are short: the quadratic table is nothing). */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row.push(Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)));
    }
    prev = row;
  }
  return prev[b.length]!;
}

function fileError(path: string, message: string, key?: string): ConfigError {
  return new ConfigError(ErrorCode.CONFIG_FILE, `--config ${path}: ${message}`, key);
}
