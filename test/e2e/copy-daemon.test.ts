/**
 * The user's own command line, as typed on a production host:
 *   tcpcopy -x 80-TARGET:80 -s AUX -c a.b.c.x -n 2 -d -P pidfile -l logfile
 * The parent returns 0 once the daemon captures, paired with its intercept; the daemon writes its
 * pid file and a JSON log, copies every request twice, and on SIGTERM stops within a second,
 * removing its pid file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { withLab } from '../lab/index.js';
import { CONTROL_PORT, TCPCOPY_BIN, fakeRange, pidsNamed, settle, startIntercept } from './copy-harness.js';
import { isAlive, logged, logLines, poll } from './daemon-helpers.js';

const REQUESTS = 200;
const COPIES = 2;
/** SIGTERM: stop capturing, last RSTs, flush logs, exit within a second. */
const EXIT_BUDGET_MS = 1000;

test(
  'tcpcopy -d -P -l as typed by a user: detached, copies -n 2, stops cleanly on SIGTERM',
  { timeout: 90_000 },
  async (t) => {
    await withLab(t, async (lab) => {
      const prod = await lab.startNginx('prod');
      const target = await lab.startNginx('target');
      const intercept = await startIntercept(lab, 80);
      const pidFile = join(lab.logDir, 'tcpcopy.pid');
      const logFile = join(lab.logDir, 'tcpcopy.log');
      let daemonPid: number | undefined;
      t.after(() => {
        if (daemonPid !== undefined && isAlive(daemonPid)) process.kill(daemonPid, 'SIGKILL');
      });
      const argv = [
        '-x',
        `80-${lab.host('target').ip}:80`,
        '-s',
        lab.host('aux').ip,
        '-c',
        fakeRange(lab),
        '-n',
        String(COPIES),
        '-d',
        '-P',
        pidFile,
        '-l',
        logFile,
      ];
      const parent = lab.spawn('prod', TCPCOPY_BIN, argv, { name: 'tcpcopy-d' });
      assert.equal((await parent.exited).code, 0, 'the parent exits 0 once the daemon runs');
      assert.ok(logged(logFile, 'capturing'), 'the parent waited until the daemon captured');
      daemonPid = await poll(
        () => (existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) || undefined : undefined),
        'the pid file',
      );
      assert.notEqual(daemonPid, parent.pid);
      await poll(() => logged(logFile, 'capturing'), 'the daemon to capture', 15_000);
      await new Promise((r) => setTimeout(r, 500));
      // Found by name, as the C daemons are.
      assert.ok((await pidsNamed(lab, 'pidof', ['tcpcopy'])).includes(daemonPid), 'pidof tcpcopy');
      assert.ok((await pidsNamed(lab, 'pgrep', ['-x', 'tcpcopy'])).includes(daemonPid), 'pgrep -x tcpcopy');
      assert.ok((await pidsNamed(lab, 'ps', ['-C', 'tcpcopy', '-o', 'pid='])).includes(daemonPid), 'ps -C tcpcopy');
      assert.ok((await pidsNamed(lab, 'pgrep', ['-x', 'intercept'])).includes(intercept.pid!), 'pgrep -x intercept');

      const ab = await lab.exec('client', 'ab', ['-q', '-n', String(REQUESTS), '-c', '4', prod.url('/index.html')]);
      assert.match(ab.stdout, new RegExp(`Complete requests:\\s+${REQUESTS}`));
      const arrived = await settle(() => target.readAccessLog().length, COPIES * REQUESTS);
      assert.equal(arrived, COPIES * REQUESTS, `target received ${arrived} of ${COPIES * REQUESTS}`);

      const pid = daemonPid;
      const stoppedAt = Date.now();
      process.kill(pid, 'SIGTERM');
      await poll(() => (isAlive(pid) ? undefined : true), 'the daemon to exit', EXIT_BUDGET_MS + 500);
      assert.ok(Date.now() - stoppedAt <= EXIT_BUDGET_MS + 500, 'stopped within a second');
      assert.equal(existsSync(pidFile), false, 'pid file removed');
      const lines = logLines(logFile); // throws if any line is not JSON
      const final = lines.find((l) => l['msg'] === 'final stats') as
        { sessions?: { started: number; ended: { finished: number } } } | undefined;
      assert.ok(final?.sessions, 'final stats logged');
      // ab may open a few connections it closes unused once the count is reached: at least one
      // session per request, and every connection copied COPIES times, each finished cleanly.
      const { started, ended } = final.sessions;
      assert.ok(
        started >= COPIES * REQUESTS && started % COPIES === 0,
        `${started} sessions for ${REQUESTS} connections x ${COPIES}`,
      );
      assert.equal(ended.finished, started, 'every session finished cleanly');
    });
  },
);

test(
  'no intercept reachable at start: exit 1 with TCPCOPY_ERR_NO_INTERCEPT; with -L it captures and keeps trying',
  { timeout: 60_000 },
  async (t) => {
    await withLab(t, async (lab) => {
      const argv = ['-x', `80-${lab.host('target').ip}:80`, '-s', lab.host('aux').ip, '-c', fakeRange(lab)];
      const alone = lab.spawn('prod', TCPCOPY_BIN, argv, { name: 'tcpcopy-alone' });
      const exit = await alone.exited;
      assert.equal(exit.code, 1);
      assert.match(alone.stderr, /TCPCOPY_ERR_NO_INTERCEPT|no intercept reachable/);

      const lonely = lab.spawn('prod', TCPCOPY_BIN, [...argv, '-L'], { name: 'tcpcopy-lonely' });
      await lonely.waitFor(/"msg":"capturing"/, { stream: 'stderr', timeoutMs: 15_000 });
      await startIntercept(lab, 80);
      await lonely.waitFor(/connected to intercept/, { stream: 'stderr', timeoutMs: 15_000 });
      assert.equal((await lonely.stop()).code, 0);
    });
  },
);

test(
  'a peer on the control port that never answers our hello is never reported connected (native: exit 1; auto: legacy, unproven)',
  { timeout: 60_000 },
  async (t) => {
    await withLab(t, async (lab) => {
      // Accepts connections and says nothing, as a peer speaking another protocol would to ours.
      const silent = lab.spawn(
        'aux',
        'python3',
        [
          '-c',
          'import socket, time\n' +
            's = socket.socket()\n' +
            's.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n' +
            `s.bind(("0.0.0.0", ${CONTROL_PORT}))\n` +
            's.listen(64)\n' +
            'held = [s.accept() for _ in range(64)]\n',
        ],
        { name: 'silent-peer' },
      );
      await lab.waitForPort('aux', CONTROL_PORT, 5000, silent);
      const argv = ['-x', `80-${lab.host('target').ip}:80`, '-s', lab.host('aux').ip, '-c', fakeRange(lab)];
      const native = lab.spawn('prod', TCPCOPY_BIN, [...argv, '--protocol', 'native'], { name: 'tcpcopy-native' });
      const exit = await native.exited;
      assert.equal(exit.code, 1, native.stderr);
      assert.match(native.stderr, /no hello from intercept/);
      assert.doesNotMatch(native.stderr, /connected to intercept/);
      assert.match(native.stderr, /TCPCOPY_ERR_NO_INTERCEPT|no intercept reachable/);

      // By default a peer silent on our hello is taken for upstream's C intercept, which answers
      // nothing until it has a reply to route: routes go to it, but it is not called connected.
      const auto = lab.spawn('prod', TCPCOPY_BIN, argv, { name: 'tcpcopy-auto' });
      await auto.waitFor(/"msg":"capturing"/, { stream: 'stderr', timeoutMs: 15_000 });
      assert.match(auto.stderr, /taking it for upstream's C intercept/);
      assert.doesNotMatch(auto.stderr, /connected to intercept/);
      assert.equal((await auto.stop()).code, 0, auto.stderr);
    });
  },
);
