/**
 * --metrics on both daemons, end to end: ab through production, tcpcopy (prod) and intercept
 * (aux) serving Prometheus text on their hosts' loopback, scraped with curl inside the lab and
 * parsed strictly. The loss accounting must close exactly
 *   expected (= captured x copies) = acked + duplicate + pending + dropped
 * and on a clean lab the fraction of production's payload that reached the test server,
 * acked / (expected - duplicate) (docs/metrics.md), must read 1.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withLab, type Lab } from '../lab/index.js';
import { parsePrometheusText, type Exposition } from '../unit/metrics/prom-text.js';
import {
  CONTROL_PORT,
  TCPCOPY_BIN,
  fakeRange,
  runAb,
  settle,
  sleep,
  startIntercept,
  startTcpcopy,
} from './copy-harness.js';

const SHORT = 300;
const KEEP_ALIVE = 300;
const KEEP_ALIVE_CONCURRENCY = 4;
const TCPCOPY_METRICS = '127.0.0.1:9100';
const INTERCEPT_METRICS = '127.0.0.1:9101';

async function scrape(lab: Lab, host: string, at: string): Promise<Exposition> {
  const { stdout } = await lab.exec(host, 'curl', ['-sS', '--fail', '--max-time', '5', `http://${at}/metrics`]);
  return parsePrometheusText(stdout);
}

interface Accounting {
  expected: number;
  acked: number;
  duplicate: number;
  pending: number;
  dropped: number;
}

function accounting(e: Exposition, target: string): Accounting {
  const l = { target };
  return {
    expected: e.value('tcpcopy_payload_expected_bytes_total', l),
    acked: e.value('tcpcopy_payload_acked_bytes_total', l),
    duplicate: e.value('tcpcopy_payload_duplicate_bytes_total', l),
    pending: e.value('tcpcopy_payload_pending_bytes', l),
    dropped: e.sum('tcpcopy_payload_dropped_bytes_total', l),
  };
}

test(
  'both daemons serve metrics; the loss accounting closes and reads 1.0 on a clean lab',
  { timeout: 180_000 },
  async (t) => {
    await withLab(t, async (lab) => {
      const prod = await lab.startNginx('prod');
      const targetServer = await lab.startNginx('target');
      await startIntercept(lab, 80, ['--metrics', INTERCEPT_METRICS]);
      const tcpcopy = await startTcpcopy(lab, { port: 80, extra: ['--metrics', TCPCOPY_METRICS] });
      assert.match(
        tcpcopy.stderr,
        new RegExp(
          `"msg":"capturing".*"metrics":"${TCPCOPY_METRICS}"|"metrics":"${TCPCOPY_METRICS}".*"msg":"capturing"`,
        ),
      );
      const target = `${lab.host('target').ip}:80`;
      const aux = `${lab.host('aux').ip}:${CONTROL_PORT}`;

      // Before any traffic: the series exist, at zero, and the identity holds trivially.
      const idle = await scrape(lab, 'prod', TCPCOPY_METRICS);
      assert.equal(idle.value('tcpcopy_sessions_started_total', { target }), 0);
      assert.ok(idle.value('tcpcopy_intercept_connections_ready', { intercept: aux }) >= 1);

      const short = await runAb(lab, prod.url('/index.html'), { requests: SHORT, concurrency: 8 });
      const keepAlive = await runAb(lab, prod.url('/1k.bin'), {
        requests: KEEP_ALIVE,
        concurrency: KEEP_ALIVE_CONCURRENCY,
        keepAlive: true,
      });
      assert.deepEqual(
        [short, keepAlive],
        [
          { complete: SHORT, failed: 0 },
          { complete: KEEP_ALIVE, failed: 0 },
        ],
      );
      const arrived = await settle(() => targetServer.readAccessLog().length, SHORT + KEEP_ALIVE);
      assert.equal(arrived, SHORT + KEEP_ALIVE, 'every request reached the test server');

      // Every session ends with the clients' FINs; wait until all have and nothing is pending.
      const busy = (x: Exposition): boolean =>
        accounting(x, target).pending > 0 ||
        x.sum('tcpcopy_sessions_ended_total', { target }) < x.value('tcpcopy_sessions_started_total', { target });
      let e = await scrape(lab, 'prod', TCPCOPY_METRICS);
      for (let i = 0; i < 50 && busy(e); i++) {
        await sleep(200);
        e = await scrape(lab, 'prod', TCPCOPY_METRICS);
      }
      const a = accounting(e, target);
      t.diagnostic(`accounting ${JSON.stringify(a)}`);
      assert.ok(a.expected > 0);
      assert.equal(
        a.acked + a.duplicate + a.pending + a.dropped,
        a.expected,
        'captured x copies = acked + duplicate + pending + dropped',
      );
      assert.equal(a.pending, 0);
      assert.equal(
        a.dropped,
        0,
        `nothing dropped on a clean lab: ${JSON.stringify(e.samples('tcpcopy_payload_dropped_bytes_total').filter((s) => s.value > 0))}`,
      );
      assert.equal(
        a.acked / (a.expected - a.duplicate),
        1,
        'the fraction of production payload that reached the test server',
      );

      // ab -k opens a few more connections than -c when nginx closes one: count, don't assume.
      const sessions = e.value('tcpcopy_sessions_started_total', { target });
      assert.ok(sessions >= SHORT + KEEP_ALIVE_CONCURRENCY, `${sessions} sessions`);
      assert.equal(e.value('tcpcopy_sessions_established_total', { target }), sessions);
      assert.equal(e.value('tcpcopy_sessions_ended_total', { target, reason: 'finished' }), sessions);
      assert.equal(e.sum('tcpcopy_sessions_ended_total', { target }), sessions, 'no failure of any kind');
      assert.equal(e.value('tcpcopy_copies'), 1);
      assert.ok(e.value('tcpcopy_packets_matched_total', { target }) >= sessions * 3);
      assert.ok(e.value('tcpcopy_packets_injected_total') >= sessions * 3);
      assert.ok(e.value('process_resident_memory_bytes') > 0, 'process metrics too');

      // Replies: what intercept sent is what tcpcopy received, per intercept and in total.
      const i = await scrape(lab, 'aux', INTERCEPT_METRICS);
      const replies = e.value('tcpcopy_replies_total');
      assert.ok(replies >= sessions * 2, `${replies} replies`);
      assert.equal(e.value('tcpcopy_intercept_replies_total', { intercept: aux }), replies);
      assert.equal(i.value('intercept_records_sent_total'), replies, 'every record intercept sent arrived');
      assert.equal(i.value('intercept_replies_routed_total') + i.value('intercept_replies_released_total'), replies);
      assert.equal(i.sum('intercept_replies_dropped_total'), 0);
      assert.ok(i.value('intercept_replies_captured_total') >= replies);
      const perConnection = i.samples('intercept_connection_records_sent_total');
      assert.equal(perConnection.length, 2, "tcpcopy's two control connections (-C 2)");
      assert.equal(
        perConnection.reduce((n, s) => n + s.value, 0),
        replies,
      );
      assert.ok(
        perConnection.every((s) => /:\d+$/.test(s.labels['copier'] ?? '')),
        'labelled with the copier instance',
      );
      assert.equal(i.value('intercept_control_connections'), 2);

      // Anything else on the metrics port is a 404.
      const other = await lab.exec('prod', 'curl', [
        '-s',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        `http://${TCPCOPY_METRICS}/`,
      ]);
      assert.equal(other.stdout, '404');

      // A second tcpcopy on the same metrics port stops at start-up, before capturing: exit 1.
      const second = lab.spawn(
        'prod',
        TCPCOPY_BIN,
        [
          '-x',
          `80-${lab.host('target').ip}:80`,
          '-s',
          lab.host('aux').ip,
          '-c',
          fakeRange(lab),
          '--metrics',
          TCPCOPY_METRICS,
        ],
        { name: 'tcpcopy-busy' },
      );
      assert.equal((await second.exited).code, 1);
      assert.match(second.stderr, /TCPCOPY_ERR_LISTEN/);
      assert.doesNotMatch(second.stderr, /"msg":"capturing"/);
    });
  },
);

test(
  '3 % frame loss and duplicated client frames: the accounting closes at every scrape, mid-flight too, and duplicates are not counted as delivered',
  { timeout: 180_000 },
  async (t) => {
    await withLab(t, async (lab) => {
      const prod = await lab.startNginx('prod');
      const targetServer = await lab.startNginx('target');
      await startIntercept(lab, 80);
      await startTcpcopy(lab, { port: 80, extra: ['--metrics', TCPCOPY_METRICS] });
      const target = `${lab.host('target').ip}:80`;
      for (const host of ['prod', 'target']) {
        for (const direction of ['from', 'to'] as const) await lab.dropFrames(host, 30, direction);
      }
      // 5 % of the client's frames arrive twice: prod captures those bytes twice.
      await lab.duplicateFrames('client', 50);
      const closes = (e: Exposition, when: string): Accounting => {
        const a = accounting(e, target);
        assert.equal(a.acked + a.duplicate + a.pending + a.dropped, a.expected, `${when}: ${JSON.stringify(a)}`);
        return a;
      };

      // Scrape while ab runs: sessions are mid-stream, bytes in flight.
      const ab = runAb(lab, prod.url('/index.html'), { requests: 400, concurrency: 8 });
      const abKeepAlive = ab.then(() =>
        runAb(lab, prod.url('/64k.bin'), { requests: 200, concurrency: 4, keepAlive: true }),
      );
      let pendingSeen = 0;
      for (let i = 0; i < 20; i++) {
        pendingSeen = Math.max(
          pendingSeen,
          closes(await scrape(lab, 'prod', TCPCOPY_METRICS), `mid-flight scrape ${i}`).pending,
        );
        await sleep(100);
      }
      await abKeepAlive;
      await settle(() => targetServer.readAccessLog().length, 600, { quietMs: 8000 });
      let e = await scrape(lab, 'prod', TCPCOPY_METRICS);
      for (
        let i = 0;
        i < 100 &&
        e.sum('tcpcopy_sessions_ended_total', { target }) < e.value('tcpcopy_sessions_started_total', { target });
        i++
      ) {
        await sleep(200);
        e = await scrape(lab, 'prod', TCPCOPY_METRICS);
      }
      const a = closes(e, 'after the traffic');
      const fraction = a.acked / (a.expected - a.duplicate);
      const dropped = e
        .samples('tcpcopy_payload_dropped_bytes_total')
        .filter((s) => s.value > 0)
        .map((s) => `${s.labels['reason']}=${s.value}`);
      t.diagnostic(
        `fraction ${fraction.toFixed(4)}, ${JSON.stringify(a)}, dropped ${dropped.join(' ')}, pending seen mid-flight ${pendingSeen}`,
      );
      assert.ok(a.duplicate > 0, 'client frames captured twice count as duplicates');
      assert.ok(fraction >= 0.99 && fraction <= 1, `fraction ${fraction}`);
      assert.equal(a.pending, 0);
      // What the fraction says matches what the test server logged.
      const arrived = targetServer.readAccessLog().length / prod.readAccessLog().length;
      assert.ok(Math.abs(arrived - fraction) < 0.02, `requests arrived ${arrived}, bytes ${fraction}`);
    });
  },
);
