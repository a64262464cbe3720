/**
 * The #1 deployment failure, end to end: the test server has no route for the fake client subnet
 * through aux, so every SYN tcpcopy sends is answered into the void and intercept never sees a
 * reply. tcpcopy must say so, once, within 10 s of the first copied SYN, naming the route to add;
 * and say again when replies come back once the route is fixed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withLab } from '../lab/index.js';
import { sleep, startIntercept, startTcpcopy } from './copy-harness.js';

const WARNING = /"diagnosis":"no_replies"/;
const DEADLINE_MS = 10_000;
/** Traffic goes on this long after the warning: it must not be repeated per session. */
const MORE_TRAFFIC_MS = 8000;

test(
  'no route for the fake subnet on the test server: one clear warning within 10 s, then a notice when fixed',
  { timeout: 120_000 },
  async (t) => {
    await withLab(t, async (lab) => {
      const prod = await lab.startNginx('prod');
      const target = await lab.startNginx('target');
      const aux = lab.host('aux');
      await lab.exec('target', 'ip', ['route', 'del', lab.fakeSubnet]);
      await startIntercept(lab, 80);
      const tcpcopy = await startTcpcopy(lab, { port: 80 });

      // A client requesting every 200 ms; production answers it as always.
      const url = prod.url('/index.html');
      const client = lab.spawn(
        'client',
        'sh',
        ['-c', `while :; do curl -s -o /dev/null --max-time 2 ${url}; sleep 0.2; done`],
        { name: 'curl-loop' },
      );
      const firstRequestAt = Date.now();
      await tcpcopy.waitFor(WARNING, { stream: 'stderr', timeoutMs: DEADLINE_MS });
      const after = Date.now() - firstRequestAt;
      t.diagnostic(`warned ${after} ms after the first request`);
      assert.ok(after <= DEADLINE_MS);

      await sleep(MORE_TRAFFIC_MS);
      const warnings = tcpcopy.stderr.split('\n').filter((l) => WARNING.test(l));
      assert.equal(warnings.length, 1, 'one warning, not one per session');
      const w = JSON.parse(warnings[0]!) as Record<string, unknown>;
      assert.equal(w['level'], 40);
      const msg = String(w['msg']);
      t.diagnostic(msg);
      assert.ok(msg.includes(`ip route add ${lab.fakeSubnet} via ${aux.ip}`), msg);
      for (const cause of ['ip_forward', "-F 'tcp and src port 80'", 'rp_filter', 'tcpcopy_sessions_started_total'])
        assert.ok(msg.includes(cause), cause);
      const targets = w['targets'] as { target: string; sessionsStarted: number; sessionsEstablished: number }[];
      assert.equal(targets[0]?.target, `${lab.host('target').ip}:80`);
      assert.ok((targets[0]?.sessionsStarted ?? 0) >= 5);
      assert.equal(targets[0]?.sessionsEstablished, 0);
      const intercepts = w['intercepts'] as { intercept: string; connectionsReady: number; replies: number }[];
      assert.deepEqual(intercepts, [{ intercept: `${aux.ip}:36524`, connectionsReady: 2, replies: 0 }]);
      assert.equal(target.readAccessLog().length, 0, 'nothing could reach the test server');

      // Fix the route: replies flow, tcpcopy says so once, requests reach the test server.
      await lab.exec('target', 'ip', ['route', 'add', lab.fakeSubnet, 'via', aux.ip]);
      await tcpcopy.waitFor(/"msg":"replies from the test server arrive again"/, {
        stream: 'stderr',
        timeoutMs: 10_000,
      });
      for (let i = 0; i < 50 && target.readAccessLog().length === 0; i++) await sleep(200);
      assert.ok(target.readAccessLog().length > 0, 'copies arrive once the route is there');
      await client.stop('SIGTERM', 2000);
    });
  },
);
