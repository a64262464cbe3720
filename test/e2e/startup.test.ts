/**
 * Start-up and lifecycle as an operator meets them, in the lab: with -d the parent waits for its
 * daemon and exits 0 once it runs, or prints the daemon's one error line and exits 1; every
 * start-up error is one line `name: TCPCOPY_ERR_...: what happened (what to do)`, on a pipe as
 * on a terminal; a filter typo is TCPCOPY_ERR_FILTER whether an intercept runs or not; SIGTERM at
 * any moment of tcpcopy's start-up exits 0 with final stats and no pid file; a clean stop of
 * either daemon logs no warning.
 *
 * The failing -d runs give -l a file in the lab's directory. The successful ones log where -d
 * logs without -l, /var/log/<name>.log: they run in a mount namespace of their own (unshare) with
 * a lab directory mounted on /var/log, so the host's /var/log is never written.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withLab, type Lab } from '../lab/index.js';
import { CONTROL_PORT, INTERCEPT_BIN, TCPCOPY_BIN, fakeRange, sleep, startIntercept } from './copy-harness.js';
import { isAlive, logged, logLines, poll } from './daemon-helpers.js';

const SERVER_PORT = 80;
const FILTER_TYPO = 'tcp and src prot 80';
/** pino's levels: warn and above must not appear in a clean stop's log. */
const WARN_LEVEL = 40;
const FATAL_LEVEL = 60;
/** What `-u`-less operators run as when they forget sudo: nobody, without any capability. */
// Root without CAP_NET_RAW (root may still read the project, wherever it lies, e.g. under /root).
const UNPRIVILEGED = ['--bounding-set=-net_raw', '--inh-caps=-net_raw'];

interface Run {
  code: number | null;
  stderr: string;
}

function run(lab: Lab, host: string, cmd: string, args: readonly string[]): Promise<Run> {
  return lab.exec(host, cmd, [...args], { check: false, timeoutMs: 20_000 });
}

/** Exit 1 and a stderr of one line `program: code: ...` that says nothing twice; the line. */
function assertOneLine(r: Run, program: string, code: string): string {
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`^${program}: ${code}: [^\\n]+\\n$`));
  const parts = r.stderr.trimEnd().split(': ');
  for (let i = 1; i < parts.length; i++) assert.notEqual(parts[i], parts[i - 1], `said twice: ${r.stderr}`);
  return r.stderr.trimEnd();
}

function interceptArgs(lab: Lab, ...extra: string[]): string[] {
  return ['-i', lab.host('aux').iface, '-F', `tcp and src port ${SERVER_PORT}`, ...extra];
}

function copierArgs(lab: Lab, ...extra: string[]): string[] {
  const transfer = `${SERVER_PORT}-${lab.host('target').ip}:${SERVER_PORT}`;
  return ['-x', transfer, '-s', lab.host('aux').ip, '-c', fakeRange(lab), ...extra];
}

function readPid(file: string): number | undefined {
  return existsSync(file) ? Number(readFileSync(file, 'utf8').trim()) || undefined : undefined;
}

function warnings(logFile: string): Record<string, unknown>[] {
  return logLines(logFile).filter((l) => (l['level'] as number) >= WARN_LEVEL);
}

test('start-up errors are one line and exit 1, with -d too: filter typo, missing device, busy port, held pid file, no privileges', async (t) => {
  await withLab(t, async (lab) => {
    const file = (name: string): string => join(lab.logDir, name);

    // No intercept runs: the filter is still what is reported, and at once (not after 3 s).
    const startedAt = Date.now();
    assertOneLine(
      await run(lab, 'prod', TCPCOPY_BIN, copierArgs(lab, '-F', FILTER_TYPO)),
      'tcpcopy',
      'TCPCOPY_ERR_FILTER',
    );
    assert.ok(Date.now() - startedAt < 2500, 'reported before any wait for intercepts');
    const typo = ['-i', lab.host('aux').iface, '-F', FILTER_TYPO, '-d', '-l', file('intercept-filter.log')];
    assertOneLine(await run(lab, 'aux', INTERCEPT_BIN, typo), 'intercept', 'TCPCOPY_ERR_FILTER');

    const noDevice = ['-i', 'nosuch0', '-F', 'tcp and src port 80', '-d', '-l', file('intercept-device.log')];
    const line = assertOneLine(await run(lab, 'aux', INTERCEPT_BIN, noDevice), 'intercept', 'TCPCOPY_ERR_DEVICE');
    assert.match(line, /nosuch0/);
    const inLog = logged(file('intercept-device.log'), line.slice('intercept: '.length));
    assert.equal(inLog?.['level'], FATAL_LEVEL, 'the daemon logged it too');

    const intercept = await startIntercept(lab, SERVER_PORT);
    const copierTypo = copierArgs(lab, '-F', FILTER_TYPO, '-d', '-l', file('tcpcopy-filter.log'));
    assertOneLine(await run(lab, 'prod', TCPCOPY_BIN, copierTypo), 'tcpcopy', 'TCPCOPY_ERR_FILTER');
    const copierNoDevice = copierArgs(lab, '-i', 'nosuch0', '-d', '-l', file('tcpcopy-device.log'));
    assertOneLine(await run(lab, 'prod', TCPCOPY_BIN, copierNoDevice), 'tcpcopy', 'TCPCOPY_ERR_DEVICE');

    const busyControl = interceptArgs(lab, '-d', '-l', file('intercept-busy.log'));
    const busy = assertOneLine(await run(lab, 'aux', INTERCEPT_BIN, busyControl), 'intercept', 'TCPCOPY_ERR_LISTEN');
    assert.match(busy, new RegExp(`:${CONTROL_PORT}\\b.*\\(another process listens there`));
    const prod = await lab.startNginx('prod');
    const busyMetrics = copierArgs(
      lab,
      '--metrics',
      `${lab.host('prod').ip}:${prod.port}`,
      '-d',
      '-l',
      file('tcpcopy-busy.log'),
    );
    assertOneLine(await run(lab, 'prod', TCPCOPY_BIN, busyMetrics), 'tcpcopy', 'TCPCOPY_ERR_LISTEN');

    // Held: the pid file names a live process, this test's runner; it is left as it was.
    for (const [program, bin, host, args] of [
      ['intercept', INTERCEPT_BIN, 'aux', interceptArgs(lab, '-p', String(CONTROL_PORT + 1))],
      ['tcpcopy', TCPCOPY_BIN, 'prod', copierArgs(lab)],
    ] as const) {
      const pidFile = file(`${program}-held.pid`);
      writeFileSync(pidFile, `${process.pid}\n`);
      const held = await run(lab, host, bin, [...args, '-d', '-P', pidFile, '-l', file(`${program}-held.log`)]);
      assert.match(assertOneLine(held, program, 'TCPCOPY_ERR_PIDFILE'), new RegExp(`running process ${process.pid} `));
      assert.equal(readFileSync(pidFile, 'utf8'), `${process.pid}\n`);
    }

    // Without privileges: the capture (intercept) or the raw socket (tcpcopy) is refused.
    for (const [program, bin, host, args, code] of [
      [
        'intercept',
        INTERCEPT_BIN,
        'aux',
        interceptArgs(lab, '-p', String(CONTROL_PORT + 2)),
        'TCPCOPY_ERR_CAPTURE_OPEN',
      ],
      ['tcpcopy', TCPCOPY_BIN, 'prod', copierArgs(lab), 'TCPCOPY_ERR_RAW_SOCKET'],
    ] as const) {
      const refused = assertOneLine(await run(lab, host, 'setpriv', [...UNPRIVILEGED, bin, ...args]), program, code);
      assert.match(refused, /\(run as root, or give the program CAP_NET_RAW; CAP_NET_ADMIN is not needed\)$/);
    }
    assert.equal((await intercept.stop()).code, 0);
  });
});

test('SIGTERM 0.1 s, 1 s and 3 s after tcpcopy starts (loading, waiting for intercepts): exit 0, final stats, no pid file', async (t) => {
  await withLab(t, async (lab) => {
    for (const afterMs of [100, 1000, 3000]) {
      const pidFile = join(lab.logDir, `tcpcopy-${afterMs}.pid`);
      const logFile = join(lab.logDir, `tcpcopy-${afterMs}.log`);
      // -L: at 3 s it has just stopped waiting and captures; without, it would be exiting 1 then.
      const proc = lab.spawn('prod', TCPCOPY_BIN, copierArgs(lab, '-L', '-P', pidFile, '-l', logFile), {
        name: `tcpcopy-${afterMs}`,
      });
      await sleep(afterMs);
      proc.signal('SIGTERM');
      assert.deepEqual(await proc.exited, { code: 0, signal: null }, `SIGTERM after ${afterMs} ms: ${proc.stderr}`);
      assert.equal(existsSync(pidFile), false, `pid file left after ${afterMs} ms`);
      assert.ok(logged(logFile, 'final stats'), `no final stats after ${afterMs} ms`);
      assert.equal(logged(logFile, 'stopping')?.['signal'], 'SIGTERM');
    }
  });
});

test('-d without -l: both parents exit 0 once their daemon runs, which logs to /var/log/<name>.log; a clean stop warns of nothing', async (t) => {
  await withLab(t, async (lab) => {
    const varLog = join(lab.logDir, 'var-log');
    mkdirSync(varLog);
    const pids: number[] = [];
    // Detached: not in the lab's process list, so killed here if the test fails half way.
    t.after(() => {
      for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    });
    const detached = async (host: string, program: string, bin: string, args: readonly string[]): Promise<number> => {
      const pidFile = join(lab.logDir, `${program}.pid`);
      const parent = lab.spawn(
        host,
        'unshare',
        [
          '--mount',
          '--propagation',
          'private',
          'sh',
          '-c',
          'mount --bind "$0" /var/log && exec "$@"',
          varLog,
          bin,
          ...args,
          '-d',
          '-P',
          pidFile,
        ],
        { name: `${program}-d` },
      );
      assert.deepEqual(await parent.exited, { code: 0, signal: null }, parent.stderr);
      assert.equal(parent.stderr, '');
      // The parent exits only once the daemon is ready: its pid file is there already.
      const pid = readPid(pidFile);
      assert.ok(pid !== undefined && isAlive(pid), `${program}'s daemon runs`);
      pids.push(pid);
      return pid;
    };
    const interceptLog = join(varLog, 'intercept.log');
    const copierLog = join(varLog, 'tcpcopy.log');
    const interceptPid = await detached('aux', 'intercept', INTERCEPT_BIN, interceptArgs(lab));
    assert.ok(logged(interceptLog, 'intercept running'));
    const copierPid = await detached('prod', 'tcpcopy', TCPCOPY_BIN, copierArgs(lab));
    assert.ok(logged(copierLog, 'capturing'));
    assert.ok(logged(copierLog, 'connected to intercept'), 'paired before the parent exited');

    for (const [pid, logFile, program] of [
      [copierPid, copierLog, 'tcpcopy'],
      [interceptPid, interceptLog, 'intercept'],
    ] as const) {
      process.kill(pid, 'SIGTERM');
      await poll(() => (isAlive(pid) ? undefined : true), `${program} to exit`, 3000);
      assert.equal(existsSync(join(lab.logDir, `${program}.pid`)), false, `${program}'s pid file removed`);
      assert.ok(logged(logFile, 'final stats'), `${program} logged final stats`);
      assert.deepEqual(warnings(logFile), [], `${program} warned`);
    }
  });
});
