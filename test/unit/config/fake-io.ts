/** A CliIo for runCli's tests: records output, the exit code, exit hooks and -d's starts. */
import assert from 'node:assert/strict';
import type { BackgroundProcess, CliIo, ExitCode, StopRequests } from '@tcpcopy/common';

export type FakeIo = CliIo & {
  out: string;
  err: string;
  code: number | undefined;
  atExits: (() => void)[];
  /** The environment each -d start was given. */
  started: NodeJS.ProcessEnv[];
};

/** Never stopped. */
export const NO_STOPS: StopRequests = { signal: undefined, requested: new Promise<never>(() => {}) };

export function fakeIo(
  argv: string[],
  options: { env?: NodeJS.ProcessEnv; stops?: StopRequests; background?: () => BackgroundProcess } = {},
): FakeIo {
  const io: FakeIo = {
    argv,
    out: '',
    err: '',
    code: undefined,
    atExits: [],
    started: [],
    stdout: { write: (s: string) => (io.out += s) },
    stderr: { write: (s: string) => (io.err += s) },
    exit: (code: ExitCode) => {
      io.code = code;
    },
    env: options.env ?? {},
    pid: process.pid,
    stops: options.stops ?? NO_STOPS,
    startBackground: (env) => {
      io.started.push(env);
      return options.background?.() ?? assert.fail('-d is not given');
    },
    atExit: (fn) => io.atExits.push(fn),
  };
  return io;
}
