// Start-up as the operator sees it, with no process started: the one error line and its advice,
// the stop signals, -d's readiness pipe (a fake background process for the parent, a real file
// descriptor for the daemon's end) and what runCli does around main (-d, the pid file).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { existsSync, fstatSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import {
  DAEMON_CHILD_ENV,
  ErrorCode,
  ExitCode,
  PRIVILEGE_ADVICE,
  READY_FD_ENV,
  ReadinessReport,
  awaitReadiness,
  catchStopSignals,
  createError,
  readinessProblem,
  runCli,
  startupErrorLine,
  type BackgroundProcess,
  type CliConfig,
  type Readiness,
  type StopSignal,
} from '@tcpcopy/common';
import { fakeIo } from './fake-io.js';

function errno(code: string, message = code): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}

describe('startupErrorLine', () => {
  test('name, code, what happened and the advice, on one line', () => {
    const cases: [err: unknown, line: string][] = [
      [
        createError(ErrorCode.FILTER, 'bad capture filter "tcp and src prot 80": unknown host \'prot\''),
        'tcpcopy: TCPCOPY_ERR_FILTER: bad capture filter "tcp and src prot 80": unknown host \'prot\' ' +
          '(check -F: pcap-filter(7) syntax for IPv4 packets, no link-level primitives)',
      ],
      [
        createError(ErrorCode.DEVICE, 'cannot capture: no such device: eth9'),
        "tcpcopy: TCPCOPY_ERR_DEVICE: cannot capture: no such device: eth9 (check -i: `ip link` lists this host's devices)",
      ],
      [
        createError(
          ErrorCode.PIDFILE,
          'pid file /run/t.pid belongs to running process 7 (stop it first, or choose another -P)',
        ),
        'tcpcopy: TCPCOPY_ERR_PIDFILE: pid file /run/t.pid belongs to running process 7 (stop it first, or choose another -P)',
      ],
      [createError(ErrorCode.USER, 'line one\n  line two'), 'tcpcopy: TCPCOPY_ERR_USER: line one line two'],
      [
        new TypeError('x is not a function'),
        'tcpcopy: TCPCOPY_ERR_UNEXPECTED: x is not a function (run with --log-level debug for the stack, and report it)',
      ],
      [
        'a string',
        'tcpcopy: TCPCOPY_ERR_UNEXPECTED: a string (run with --log-level debug for the stack, and report it)',
      ],
    ];
    for (const [err, line] of cases) assert.equal(startupErrorLine('tcpcopy', err), line);
  });

  test('a packet socket refused for want of privileges names root, CAP_NET_RAW and CAP_NET_ADMIN', () => {
    assert.match(PRIVILEGE_ADVICE, /root.*CAP_NET_RAW.*CAP_NET_ADMIN/);
    const privileged = [
      // The capture addon names the errno in `code`.
      createError(ErrorCode.CAPTURE_OPEN, 'cannot capture on eth0: socket(AF_PACKET): Operation not permitted', {
        cause: errno('EPERM', 'socket(AF_PACKET): Operation not permitted'),
      }),
      // raw-socket throws the bare strerror() text.
      createError(ErrorCode.RAW_SOCKET, 'cannot open a raw IPv4 socket: Operation not permitted', {
        cause: new Error('Operation not permitted'),
      }),
      createError(ErrorCode.RAW_SOCKET, 'cannot open a raw IPv4 socket: Permission denied', {
        cause: new Error('Permission denied'),
      }),
    ];
    for (const err of privileged) assert.ok(startupErrorLine('t', err).endsWith(` (${PRIVILEGE_ADVICE})`), err.message);
    const otherwise = [
      createError(ErrorCode.CAPTURE_OPEN, 'cannot capture on eth0: mmap: no memory', { cause: errno('ENOMEM') }),
      createError(ErrorCode.RAW_SOCKET, 'cannot open a raw IPv4 socket: Protocol not supported', {
        cause: new Error('Protocol not supported'),
      }),
      createError(ErrorCode.CAPTURE_OPEN, 'capture already started'),
    ];
    for (const err of otherwise) assert.ok(!startupErrorLine('t', err).includes('CAP_NET_RAW'), err.message);
  });

  test('advice by the errno: a busy or foreign address, a file that cannot be written', () => {
    const listen = (code: string): string =>
      startupErrorLine(
        'i',
        createError(ErrorCode.LISTEN, `cannot listen on 0.0.0.0:1: ${code}`, { cause: errno(code) }),
      );
    assert.equal(
      listen('EADDRINUSE'),
      'i: TCPCOPY_ERR_LISTEN: cannot listen on 0.0.0.0:1: EADDRINUSE (another process listens there: stop it, or choose another port)',
    );
    assert.match(listen('EADDRNOTAVAIL'), /EADDRNOTAVAIL \(the address is not one of this host's\)$/);
    assert.equal(listen('EINVAL'), 'i: TCPCOPY_ERR_LISTEN: cannot listen on 0.0.0.0:1: EINVAL');
    for (const code of [ErrorCode.LOG_FILE, ErrorCode.PIDFILE]) {
      const line = startupErrorLine('i', createError(code, 'cannot open /x/y: ENOENT', { cause: errno('ENOENT') }));
      assert.match(
        line,
        /: cannot open \/x\/y: ENOENT \(create the directory or fix its permissions, or choose another path\)$/,
      );
    }
  });
});

describe('catchStopSignals', () => {
  test('the first of SIGTERM and SIGINT counts; requested resolves with it, even when asked later', async () => {
    const source = new EventEmitter();
    const stops = catchStopSignals({ on: (signal, listener) => source.on(signal, listener) });
    assert.equal(stops.signal, undefined);
    source.emit('SIGINT');
    source.emit('SIGTERM');
    assert.equal(stops.signal, 'SIGINT');
    assert.equal(await stops.requested, 'SIGINT');
  });
});

/** A background process as -d's parent sees it, driven by the test. */
class FakeBackground extends EventEmitter implements BackgroundProcess {
  readonly report = new PassThrough();
  readonly killed: NodeJS.Signals[] = [];
  released = false;
  onSpawnError(listener: (err: Error) => void): void {
    this.once('spawn-error', listener);
  }
  onClose(listener: (code: number | null, signal: NodeJS.Signals | null) => void): void {
    this.once('close', listener);
  }
  kill(signal: NodeJS.Signals): void {
    this.killed.push(signal);
  }
  release(): void {
    this.released = true;
  }
  /** Writes `text` on the pipe in pieces of `step` characters, then exits as told. */
  say(text: string, step: number, exit?: [code: number | null, signal: NodeJS.Signals | null]): void {
    for (let at = 0; at < text.length; at += step) this.report.write(text.slice(at, at + step));
    if (exit === undefined) return;
    this.report.end();
    // The real 'close' comes once the pipe is drained.
    this.report.on('end', () => this.emit('close', ...exit));
    this.report.resume();
  }
}

describe("-d's readiness pipe, the parent's end", () => {
  const LINE = 'tcpcopy: TCPCOPY_ERR_DEVICE: cannot capture: no such device: eth9 (check -i)';

  test('`ready` or an error line, whole, byte by byte or split anywhere, then possibly more', async () => {
    for (const [text, expected] of [
      ['ready\n', { state: 'ready' }],
      [`${LINE}\n`, { state: 'failed', line: LINE }],
      ['ready\nlater words\n', { state: 'ready' }],
    ] as const) {
      for (let step = 1; step <= text.length; step++) {
        const proc = new FakeBackground();
        const readiness = awaitReadiness(proc);
        proc.say(text, step);
        assert.deepEqual(await readiness, expected, `${JSON.stringify(text)} in pieces of ${step}`);
      }
    }
  });

  test('an unfinished line, then the exit, is the error; an exit without a word says how it ended', async () => {
    const cases: [text: string, exit: [number | null, NodeJS.Signals | null], expected: Readiness][] = [
      [LINE, [1, null], { state: 'failed', line: LINE }],
      ['', [1, null], { state: 'ended', code: 1, signal: null }],
      ['', [null, 'SIGKILL'], { state: 'ended', code: null, signal: 'SIGKILL' }],
    ];
    for (const [text, exit, expected] of cases) {
      const proc = new FakeBackground();
      const readiness = awaitReadiness(proc);
      proc.say(text, 3, exit);
      assert.deepEqual(await readiness, expected);
    }
    const unborn = new FakeBackground();
    const readiness = awaitReadiness(unborn);
    const err = errno('ENOENT', 'spawn /usr/bin/node ENOENT');
    unborn.emit('spawn-error', err);
    assert.deepEqual(await readiness, { state: 'not started', err });
  });

  test('what the parent prints: nothing, the line itself, or how the daemon ended and where it logs', () => {
    const log = '/var/log/tcpcopy.log';
    assert.equal(readinessProblem('tcpcopy', { state: 'ready' }, log), undefined);
    assert.equal(readinessProblem('tcpcopy', { state: 'failed', line: LINE }, log), LINE);
    assert.equal(
      readinessProblem('tcpcopy', { state: 'ended', code: 1, signal: null }, log),
      `tcpcopy: TCPCOPY_ERR_DAEMONIZE: the background process exited with status 1 before it was ready (its log: ${log})`,
    );
    assert.equal(
      readinessProblem('tcpcopy', { state: 'ended', code: null, signal: 'SIGKILL' }, log),
      `tcpcopy: TCPCOPY_ERR_DAEMONIZE: the background process was killed by SIGKILL before it was ready (its log: ${log})`,
    );
    assert.equal(
      readinessProblem('tcpcopy', { state: 'not started', err: new Error('spawn node EAGAIN') }, log),
      'tcpcopy: TCPCOPY_ERR_DAEMONIZE: cannot start the background process: spawn node EAGAIN',
    );
  });
});

function withDir(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'startup-test-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

/** The environment of -d's background process, with `fd` as its end of the readiness pipe. */
function backgroundEnv(fd: number): NodeJS.ProcessEnv {
  return { [DAEMON_CHILD_ENV]: '1', [READY_FD_ENV]: String(fd) };
}

function isOpen(fd: number): boolean {
  try {
    fstatSync(fd);
    return true;
  } catch {
    return false;
  }
}

describe("-d's readiness pipe, the daemon's end", () => {
  test(
    'says one line, once, then closes its descriptor',
    withDir(async (dir) => {
      const path = join(dir, 'pipe');
      const fd = openSync(path, 'w');
      const report = new ReadinessReport(backgroundEnv(fd));
      assert.equal(report.inBackground, true);
      report.ready();
      report.failed('tcpcopy: TCPCOPY_ERR_UNEXPECTED: too late');
      assert.equal(readFileSync(path, 'utf8'), 'ready\n');
      assert.equal(isOpen(fd), false);
    }),
  );

  test('without -d, or under systemd (DAEMON_CHILD_ENV alone), there is no pipe', () => {
    for (const env of [{}, { [DAEMON_CHILD_ENV]: '1' }, { [READY_FD_ENV]: '3' }, backgroundEnv(Number.NaN)]) {
      const report = new ReadinessReport(env);
      assert.equal(report.inBackground, false, JSON.stringify(env));
      report.ready();
    }
  });
});

const DAEMON: CliConfig = { logFile: undefined, logLevel: 'info', daemonize: true };

describe('runCli around main', () => {
  test("-d's parent exits 0 once its daemon says ready, without running main", async () => {
    const proc = new FakeBackground();
    const io = fakeIo(['-d'], { env: { PATH: '/bin' }, background: () => proc });
    const done = runCli(
      'demo',
      () => DAEMON,
      () => assert.fail('main runs in the daemon only'),
      io,
    );
    proc.say('ready\n', 6);
    await done;
    assert.deepEqual([io.code, io.err, proc.released], [ExitCode.Ok, '', true]);
    assert.deepEqual(io.started, [{ PATH: '/bin', [DAEMON_CHILD_ENV]: '1', [READY_FD_ENV]: '3' }]);
  });

  test("-d's parent prints its daemon's line, or how it ended naming its log, and exits 1", async () => {
    for (const [config, say, exit, err] of [
      [DAEMON, 'demo: TCPCOPY_ERR_FILTER: bad (x)\n', undefined, 'demo: TCPCOPY_ERR_FILTER: bad (x)\n'],
      [
        DAEMON,
        '',
        [null, 'SIGKILL'],
        'demo: TCPCOPY_ERR_DAEMONIZE: the background process was killed by SIGKILL before it was ready (its log: /var/log/demo.log)\n',
      ],
      [
        { ...DAEMON, logFile: '/tmp/d.log' },
        '',
        [0, null],
        'demo: TCPCOPY_ERR_DAEMONIZE: the background process exited with status 0 before it was ready (its log: /tmp/d.log)\n',
      ],
    ] as const) {
      const proc = new FakeBackground();
      const io = fakeIo([], { background: () => proc });
      const done = runCli(
        'demo',
        () => config,
        () => {},
        io,
      );
      proc.say(say, 4, exit === undefined ? undefined : [...exit]);
      await done;
      assert.deepEqual([io.code, io.err], [ExitCode.Failure, err]);
    }
  });

  test("a stop while -d's parent waits stops the daemon too; its end is then reported", async () => {
    let stop: (signal: StopSignal) => void = () => {};
    const requested = new Promise<StopSignal>((r) => (stop = r));
    const proc = new FakeBackground();
    const io = fakeIo([], { background: () => proc, stops: { signal: undefined, requested } });
    const done = runCli(
      'demo',
      () => DAEMON,
      () => {},
      io,
    );
    stop('SIGINT');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(proc.killed, ['SIGINT']);
    proc.say('', 1, [0, null]);
    await done;
    assert.equal(io.code, ExitCode.Failure);
    assert.match(io.err, /TCPCOPY_ERR_DAEMONIZE: the background process exited with status 0 before it was ready/);
  });

  test(
    'in the daemon: main logs to the default file without -l, and ready() reaches the parent',
    withDir(async (dir) => {
      const path = join(dir, 'pipe');
      const io = fakeIo([], { env: backgroundEnv(openSync(path, 'w')) });
      let logFile: string | undefined;
      await runCli(
        'demo',
        () => DAEMON,
        (_config, context) => {
          logFile = context.logFile;
          context.ready();
        },
        io,
      );
      assert.deepEqual([logFile, io.code, readFileSync(path, 'utf8')], ['/var/log/demo.log', undefined, 'ready\n']);
    }),
  );

  test(
    'in the daemon: a failure is the line on the pipe and in the -l file',
    withDir(async (dir) => {
      const path = join(dir, 'pipe');
      const logFile = join(dir, 'demo.log');
      const io = fakeIo([], { env: backgroundEnv(openSync(path, 'w')) });
      await runCli(
        'demo',
        () => ({ ...DAEMON, logFile }),
        () => {
          throw createError(ErrorCode.NO_INTERCEPT, 'none within 3 s');
        },
        io,
      );
      const line =
        'demo: TCPCOPY_ERR_NO_INTERCEPT: none within 3 s (start intercept first, check -s and -p, or use -L to keep trying)';
      assert.deepEqual([io.code, io.err, readFileSync(path, 'utf8')], [ExitCode.Failure, `${line}\n`, `${line}\n`]);
      assert.match(readFileSync(logFile, 'utf8'), /"level":60,.*"msg":"TCPCOPY_ERR_NO_INTERCEPT: none within 3 s/);
    }),
  );

  test(
    'the pid file is there while main runs and gone after, however main ends; --check writes none',
    withDir(async (dir) => {
      const pidFile = join(dir, 'demo.pid');
      const config: CliConfig = { logFile: undefined, logLevel: 'info', pidFile };
      for (const ending of ['resolves', 'throws'] as const) {
        const io = fakeIo([]);
        await runCli(
          'demo',
          () => config,
          () => {
            assert.equal(readFileSync(pidFile, 'utf8'), `${process.pid}\n`);
            if (ending === 'throws') throw createError(ErrorCode.NO_INTERCEPT, 'none');
          },
          io,
        );
        assert.equal(existsSync(pidFile), false, ending);
        assert.equal(io.atExits.length, 1, 'also removed at exit, whatever exits the process');
      }
      const io = fakeIo([]);
      await runCli(
        'demo',
        () => ({ ...config, check: true }),
        () => ExitCode.Ok,
        io,
      );
      assert.deepEqual([existsSync(pidFile), io.code], [false, ExitCode.Ok]);
    }),
  );

  test(
    'a pid file held by a running process is the one line, and left as it was',
    withDir(async (dir) => {
      const pidFile = join(dir, 'demo.pid');
      const holder = process.ppid;
      writeFileSync(pidFile, `${holder}\n`);
      const io = fakeIo([]);
      await runCli(
        'demo',
        () => ({ logFile: undefined, logLevel: 'info' as const, pidFile }),
        () => assert.fail('main must not run'),
        io,
      );
      assert.equal(io.code, ExitCode.Failure);
      assert.equal(
        io.err,
        `demo: TCPCOPY_ERR_PIDFILE: pid file ${pidFile} belongs to running process ${holder} (stop it first, or choose another -P)\n`,
      );
      assert.equal(readFileSync(pidFile, 'utf8'), `${holder}\n`);
    }),
  );
});
