/**
 * Shared command-line machinery of both daemons: a declarative flag table turned into a commander
 * program, argv -> raw flag values (syntax only), and the exit statuses. Value checking lives in
 * cli-values.ts; each daemon's config.ts turns raw values into its frozen Config; run-cli.ts runs
 * the bin. Nothing here reads process.argv.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { ConfigError, ErrorCode } from './errors.js';

/** Exit statuses of both daemons (upstream exits 255 for every argument problem; we distinguish). */
export const ExitCode = {
  Ok: 0,
  /** Start-up or runtime failure, logged. */
  Failure: 1,
  /** Bad flags or configuration: one line on stderr. */
  Usage: 2,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** One command-line flag. */
export interface FlagSpec {
  /** Upstream's one-letter form, e.g. '-x'; absent for our long-only additions. */
  readonly short?: string;
  /** Long form, e.g. '--transfer' (upstream has none; ours are aliases for readable scripts). */
  readonly long: string;
  /** Placeholder of the value, e.g. '<list>'; absent for on/off flags. */
  readonly value?: string;
  /** A comma-separated list: a --config file may give it as a list of strings. */
  readonly list?: true;
  /**
   * Given as often as needed, every value kept (`values()` reads them); a --config file gives a
   * list. For values that may hold commas (a regular expression), where `list` cannot serve.
   */
  readonly repeatable?: true;
  /** Allowed integer range, inclusive: checked by readInt and shown in errors and help. */
  readonly range?: readonly [min: number, max: number];
  /** What a valid value looks like, quoted in error lines ("expected ..."). */
  readonly expected?: string;
  readonly help: string;
  /** Default shown in help. */
  readonly defaultText?: string;
}

export type FlagTable<K extends string> = { readonly [P in K]: FlagSpec };
/** Raw values as typed: a string for value flags, true for on/off flags; absent when not given. */
export type RawArgs<K extends string> = { readonly [P in K]?: string | true };

export interface CliSpec<K extends string> {
  /** Program name, e.g. 'tcpcopy'. */
  readonly name: string;
  readonly version: string;
  readonly summary: string;
  readonly usage: string;
  readonly flags: FlagTable<K>;
  /** Text after the flag list in -h (examples, notes). */
  readonly epilog?: string;
  /** -h lists the flags under these headings, in this order (docs/flags.md's sections). */
  readonly sections?: readonly HelpSection<K>[];
  /** Lines -v prints after `name version` (the runtime and libraries it runs on). */
  readonly versionDetails?: () => readonly string[];
  /** Upstream flags we do not implement, with the reason (a clearer line than "unknown option"). */
  readonly unsupported?: Readonly<Record<string, string>>;
}

export interface HelpSection<K extends string> {
  /** e.g. 'Copy:' */
  readonly heading: string;
  readonly flags: readonly K[];
}

/** Where -h and -v go, with --check: what is asked of the program itself. */
const DIAGNOSTICS_HEADING = 'Diagnostics:';

/** -h or -v was given: print `output` to stdout and exit 0. Not an error: a parse outcome. */
export class CliExit {
  constructor(readonly output: string) {}
}

/** The value of a value flag (commander only yields `true` for on/off flags). */
export function str(value: string | true | undefined): string | undefined {
  return value === true ? undefined : value;
}

/**
 * A repeatable flag's values travel as one raw string joined by NUL, the one character no
 * command-line argument can hold, so RawArgs stays one string per flag.
 */
export const REPEATED_VALUES_SEPARATOR = '\0';

/** Every value of a repeatable flag, in the order given; empty when it was not given. */
export function repeatedValues(value: string | true | undefined): string[] {
  return value === undefined || value === true ? [] : value.split(REPEATED_VALUES_SEPARATOR);
}

/** How users name a flag in messages: its upstream short form when it has one. */
export function flagLabel(flag: FlagSpec): string {
  return flag.short ?? flag.long;
}

/** What a valid value of `flag` looks like. */
export function flagExpected(flag: FlagSpec): string {
  if (flag.expected !== undefined) return flag.expected;
  if (flag.range !== undefined) return `an integer from ${flag.range[0]} to ${flag.range[1]}`;
  return 'a value';
}

/** `-x "8000-10.0.0.3": expected [srcIP:]srcPort-dstIP:dstPort[,...]`, as a ConfigError. */
export function badValue(
  flag: FlagSpec,
  value: string,
  expected: string = flagExpected(flag),
  code: typeof ErrorCode.BAD_FLAG | typeof ErrorCode.BAD_ADDRESS | typeof ErrorCode.FLAG_CONFLICT = ErrorCode.BAD_FLAG,
): ConfigError {
  return new ConfigError(code, `${flagLabel(flag)} ${JSON.stringify(value)}: expected ${expected}`, flagLabel(flag));
}

/** `-a "2": only valid with --offline <file.pcap>`: a value that is fine alone but not with others. */
export function flagConflict(flag: FlagSpec, value: string, reason: string): ConfigError {
  return new ConfigError(
    ErrorCode.FLAG_CONFLICT,
    `${flagLabel(flag)} ${JSON.stringify(value)}: ${reason}`,
    flagLabel(flag),
  );
}

export function missingFlag(flag: FlagSpec): ConfigError {
  return new ConfigError(
    ErrorCode.MISSING_FLAG,
    `${flagLabel(flag)} is required: expected ${flagExpected(flag)}`,
    flagLabel(flag),
  );
}

/**
 * argv (without node and script) -> raw values. Throws CliExit for -h / -v and ConfigError for
 * unknown flags, missing values and positional arguments. Repeated flags: the last one wins, as
 * with getopt, except for `repeatable` ones, which keep every value. Combined short flags (`-dO`)
 * and attached values (`-n2`) work as with getopt.
 */
export function parseRawArgs<K extends string>(spec: CliSpec<K>, argv: readonly string[]): RawArgs<K> {
  let output = '';
  const program = new Command(spec.name)
    .description(spec.summary)
    .usage(spec.usage)
    .exitOverride()
    .configureOutput({ writeOut: (s) => (output += s), writeErr: (s) => (output += s), outputError: () => {} })
    .configureHelp({ sortOptions: false, helpWidth: HELP_WIDTH });
  const keyOf = new Map<string, K>();
  const labelOf = new Map<string, FlagSpec>();
  const headingOf = new Map<K, string>();
  for (const section of spec.sections ?? []) for (const key of section.flags) headingOf.set(key, section.heading);
  // Options are listed in the order they are added, each group where its first option falls.
  const keys = Object.keys(spec.flags) as K[];
  const order = [
    ...(spec.sections ?? []).flatMap((section) => section.flags),
    ...keys.filter((k) => !headingOf.has(k)),
  ];
  for (const key of order) {
    const flag = spec.flags[key];
    const names = flag.short === undefined ? flag.long : `${flag.short}, ${flag.long}`;
    const option = new Option(flag.value === undefined ? names : `${names} ${flag.value}`, helpLine(flag));
    if (flag.repeatable === true) {
      option.argParser((value: string, previous: string | undefined) =>
        previous === undefined ? value : `${previous}${REPEATED_VALUES_SEPARATOR}${value}`,
      );
    }
    const heading = headingOf.get(key);
    if (heading !== undefined) option.helpGroup(heading);
    program.addOption(option);
    keyOf.set(option.attributeName(), key);
    labelOf.set(option.flags, flag);
  }
  // Asked for only with -v: the details may load a native module.
  const wantsVersion = argv.some((a) => a === '-v' || a === '--version');
  const version = [`${spec.name} ${spec.version}`, ...(wantsVersion ? (spec.versionDetails?.() ?? []) : [])];
  program
    .optionsGroup(DIAGNOSTICS_HEADING)
    .helpOption('-h, --help', 'print this help and exit')
    .version(version.join('\n'), '-v, --version', 'print the version (and Node.js and libpcap) and exit');
  if (spec.epilog !== undefined) program.addHelpText('after', `\n${spec.epilog}`);
  try {
    program.parse([...argv], { from: 'user' });
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') throw new CliExit(output);
    throw fromCommander(err, spec, labelOf, program.args);
  }
  const raw: { [P in K]?: string | true } = {};
  for (const [attribute, value] of Object.entries(program.opts())) {
    const key = keyOf.get(attribute);
    if (key !== undefined && (typeof value === 'string' || value === true)) raw[key] = value;
  }
  return raw;
}

/** Help lines fit a terminal of 80 columns, piped or not. */
const HELP_WIDTH = 80;

function helpLine(flag: FlagSpec): string {
  const range = flag.range === undefined ? '' : ` (${flag.range[0]}..${flag.range[1]})`;
  const dflt = flag.defaultText === undefined ? '' : ` [default: ${flag.defaultText}]`;
  return `${flag.help}${range}${dflt}`;
}

/** commander's multi-line messages -> one ConfigError line naming the flag. */
function fromCommander<K extends string>(
  err: CommanderError,
  spec: CliSpec<K>,
  labelOf: ReadonlyMap<string, FlagSpec>,
  operands: readonly string[],
): ConfigError {
  const [first = err.message, hint] = err.message.replace(/^error: /, '').split('\n');
  if (err.code === 'commander.unknownOption') {
    const name = /'([^']+)'/.exec(first)?.[1] ?? first;
    const reason = spec.unsupported?.[name];
    if (reason !== undefined) {
      return new ConfigError(ErrorCode.UNSUPPORTED_FLAG, `${name} is not supported: ${reason}`, name);
    }
    const suggestion = hint === undefined ? '' : ` ${hint.replace(/^\(Did/, '(did')}`;
    return new ConfigError(ErrorCode.UNKNOWN_FLAG, `unknown option ${name}${suggestion}; see -h`, name);
  }
  if (err.code === 'commander.optionMissingArgument') {
    const flag = labelOf.get(/'([^']+)'/.exec(first)?.[1] ?? '');
    if (flag !== undefined) {
      return new ConfigError(
        ErrorCode.BAD_FLAG,
        `${flagLabel(flag)} needs a value: expected ${flagExpected(flag)}`,
        flagLabel(flag),
      );
    }
  }
  if (err.code === 'commander.excessArguments') {
    const word = operands[0] === undefined ? '' : ` ${JSON.stringify(operands[0])}`;
    return new ConfigError(
      ErrorCode.UNEXPECTED_ARGUMENT,
      `unexpected argument${word} (${spec.name} takes flags only; quote values with spaces); see -h`,
    );
  }
  return new ConfigError(ErrorCode.BAD_FLAG, first);
}

/** `version` of the package.json one directory above the module at `moduleUrl` (dist/ or src/). */
export function readPackageVersion(moduleUrl: string): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', moduleUrl), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
}
