/**
 * `tcpcopy report FILE [--html OUT]`: the thin part around the pure report. It reads a diff log
 * line by line (a log may be larger than memory), prints the text report and writes the page. It
 * captures and sends nothing, so it runs anywhere: the bin dispatches here before the daemon's
 * start-up. A bad argument is one line and exit 2, an unreadable log or page exit 1, as for the
 * daemon itself.
 */
import { createReadStream, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { ExitCode } from '@tcpcopy/common/cli';
import { ConfigError, ErrorCode } from '@tcpcopy/common/errors';
import { ReportBuilder, type DiffReport } from './aggregate.js';
import { renderHtml } from './html.js';
import { renderText } from './text.js';

export const REPORT_USAGE = `Usage: tcpcopy report FILE [--html OUT]

Summarises a diff log written by tcpcopy --diff-log: differing exchanges by kind,
by HTTP path (or first request bytes) and by test server, and the most frequent
differences with production's and the test server's answers side by side.

  --html OUT   also write the report as one self-contained HTML page to OUT
  -h, --help   print this help and exit
`;

export interface ReportArgs {
  readonly file: string;
  readonly html: string | undefined;
}

/** What runReport prints and exits with; the bin passes the process. */
export interface ReportIo {
  readonly stdout: { write(s: string): unknown };
  readonly stderr: { write(s: string): unknown };
}

/** The words after `report`; undefined for -h. Throws ConfigError for anything else wrong. */
export function parseReportArgs(argv: readonly string[]): ReportArgs | undefined {
  let file: string | undefined;
  let html: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '-h' || word === '--help') return undefined;
    if (word === '--html' || word.startsWith('--html=')) {
      const value = word === '--html' ? argv[++i] : word.slice('--html='.length);
      if (value === undefined || value === '') {
        throw new ConfigError(ErrorCode.BAD_FLAG, 'report --html needs a value: expected a file to write', '--html');
      }
      html = value;
    } else if (word.startsWith('-') && word !== '-') {
      throw new ConfigError(ErrorCode.UNKNOWN_FLAG, `report: unknown option ${word}; see tcpcopy report -h`, word);
    } else if (file === undefined) {
      file = word;
    } else {
      throw new ConfigError(
        ErrorCode.UNEXPECTED_ARGUMENT,
        `report: unexpected argument ${JSON.stringify(word)} (one diff log at a time); see tcpcopy report -h`,
      );
    }
  }
  if (file === undefined) {
    throw new ConfigError(ErrorCode.MISSING_FLAG, 'report needs a diff log: tcpcopy report FILE [--html OUT]');
  }
  return { file, html };
}

/** Reads the log at `file` into a report; rejects with the fs error when it cannot be read. */
export async function readDiffLog(file: string): Promise<DiffReport> {
  const builder = new ReportBuilder();
  const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  for await (const line of lines) builder.addLine(line);
  return builder.report();
}

/** Runs `tcpcopy report` with the words after `report`; resolves with the exit status. */
export async function runReport(argv: readonly string[], io: ReportIo): Promise<ExitCode> {
  let args: ReportArgs | undefined;
  try {
    args = parseReportArgs(argv);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.stderr.write(`tcpcopy: ${err.message}\n`);
    return ExitCode.Usage;
  }
  if (args === undefined) {
    io.stdout.write(REPORT_USAGE);
    return ExitCode.Ok;
  }
  let report: DiffReport;
  try {
    report = await readDiffLog(args.file);
  } catch (err) {
    io.stderr.write(`tcpcopy: cannot read diff log ${args.file}: ${reason(err)}\n`);
    return ExitCode.Failure;
  }
  if (args.html !== undefined) {
    try {
      writeFileSync(args.html, renderHtml(report, args.file));
    } catch (err) {
      io.stderr.write(`tcpcopy: cannot write ${args.html}: ${reason(err)}\n`);
      return ExitCode.Failure;
    }
  }
  io.stdout.write(renderText(report, args.file));
  return ExitCode.Ok;
}

/** `ENOENT: no such file or directory`, without the path the line already names. */
function reason(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as NodeJS.ErrnoException).code;
  const message = err.message.replace(/^\w+: /, '').replace(/, \w+ '.*'$/, '');
  return code === undefined ? message : `${code}: ${message}`;
}
