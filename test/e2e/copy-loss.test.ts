/**
 * Copying through a lossy network: 3 % of TCP frames dropped at random on prod's and target's
 * switch ports, in both directions (client->prod, copier->target, target->aux and the rest). The
 * copier must retransmit what the test server did not get, wait out capture gaps until the client
 * resends, hold each request and the client's FIN until the test server's answers are in (late,
 * after its own retransmissions), and still deliver at least 99 % of the requests.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OFFLOAD_PROFILES, withLab } from '../lab/index.js';
import { numberAt, runAb, settle, startIntercept, startTcpcopy, stopForStats } from './copy-harness.js';

const SHORT_REQUESTS = 600;
const KEEPALIVE_REQUESTS = 400;
const TOTAL = SHORT_REQUESTS + KEEPALIVE_REQUESTS;
/** 3 % of frames, in nft's per-mille. */
const LOSS_PERMILLE = 30;
const MIN_DELIVERED = 0.99;
/**
 * How far the copy may trail production. Losses cost the copy a fast retransmission each; when
 * they cost an RTO each (no SACK blocks, one ACK per batch: see engine/receive-holes tests) the
 * copy trailed by 30-50 s.
 */
const MAX_COPY_LAG_MS = 15_000;

for (const offloads of OFFLOAD_PROFILES) {
  test(
    `${LOSS_PERMILLE / 10} % frame loss on prod and target, both directions: at least 99 % of ${TOTAL} requests reach the test server (offloads ${offloads})`,
    { timeout: 110_000 },
    async (t) => {
      await withLab(
        t,
        async (lab) => {
          const prod = await lab.startNginx('prod');
          const target = await lab.startNginx('target');
          await startIntercept(lab, 80);
          const tcpcopy = await startTcpcopy(lab, { port: 80 });
          for (const host of ['prod', 'target']) {
            for (const direction of ['from', 'to'] as const) await lab.dropFrames(host, LOSS_PERMILLE, direction);
          }

          const started = Date.now();
          const short = await runAb(lab, prod.url('/index.html'), { requests: SHORT_REQUESTS, concurrency: 8 });
          // 64 KiB responses: dozens of segments each, so losses land inside responses, and keep-alive
          // connections carry a hundred requests each: one aborted connection would lose them all.
          const keepAlive = await runAb(lab, prod.url('/64k.bin'), {
            requests: KEEPALIVE_REQUESTS,
            concurrency: 4,
            keepAlive: true,
          });
          assert.deepEqual([short.complete, keepAlive.complete], [SHORT_REQUESTS, KEEPALIVE_REQUESTS]);

          const productionMs = Date.now() - started;
          const arrived = await settle(() => target.readAccessLog().length, TOTAL, { quietMs: 8000 });
          const copyMs = Date.now() - started;
          const served = prod.readAccessLog().length;
          const stats = await stopForStats(tcpcopy);
          const summary = JSON.stringify({
            sessions: stats['sessions'],
            injected: stats['injected'],
            client: stats['client'],
          });
          t.diagnostic(
            `delivered ${arrived}/${TOTAL}; production took ${productionMs} ms, the copy ${copyMs} ms; ${summary}`,
          );
          assert.equal(served, TOTAL, 'production served every request');
          assert.ok(
            arrived >= Math.ceil(MIN_DELIVERED * TOTAL),
            `target received ${arrived} of ${TOTAL} requests; ${summary}`,
          );
          assert.ok(arrived <= TOTAL, `target received ${arrived} requests, more than the ${TOTAL} production served`);
          assert.ok(
            copyMs - productionMs < MAX_COPY_LAG_MS,
            `the copy trailed production by ${copyMs - productionMs} ms`,
          );
          // The loss was real: the copier had to retransmit.
          assert.ok(numberAt(stats, 'injected.retransmissions') > 0, summary);
          assert.deepEqual(await lab.guardCounters(), {
            clientFromOthers: 0,
            prodFromTarget: 0,
            prodFromFakeSubnet: 0,
            prodToSelf: 0,
          });
        },
        { offloads },
      );
    },
  );
}
