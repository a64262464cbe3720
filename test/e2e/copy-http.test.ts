/**
 * Online copy of HTTP, end to end: ab on client -> nginx on prod, copied by tcpcopy (prod) to
 * nginx on target, replies returned by intercept (aux). Every request must arrive, production
 * must be untouched, and no packet of the copier may reach the client; the copier's capture
 * must hold every byte the client sent, whatever the offloads merged or left unfinished.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OFFLOAD_PROFILES, withLab } from '../lab/index.js';
import {
  NO_GUARD_HITS,
  numberAt,
  requestSummary,
  settle,
  startIntercept,
  startTcpcopy,
  stopForStats,
} from './copy-harness.js';

const REQUESTS = 2000;

for (const offloads of OFFLOAD_PROFILES) {
  test(
    `2,000 short and 2,000 keep-alive HTTP requests all reach the test server (offloads ${offloads})`,
    { timeout: 240_000 },
    async (t) => {
      await withLab(
        t,
        async (lab) => {
          const prod = await lab.startNginx('prod');
          const target = await lab.startNginx('target');
          await startIntercept(lab, 80);
          const tcpcopy = await startTcpcopy(lab, { port: 80 });

          const short = await lab.exec('client', 'ab', [
            '-q',
            '-n',
            String(REQUESTS),
            '-c',
            '8',
            prod.url('/index.html'),
          ]);
          assert.match(short.stdout, new RegExp(`Complete requests:\\s+${REQUESTS}`));
          assert.match(short.stdout, /Failed requests:\s+0/);
          const keepAlive = await lab.exec('client', 'ab', [
            '-q',
            '-k',
            '-n',
            String(REQUESTS),
            '-c',
            '4',
            prod.url('/1k.bin'),
          ]);
          assert.match(keepAlive.stdout, new RegExp(`Complete requests:\\s+${REQUESTS}`));

          const arrived = await settle(() => target.readAccessLog().length, 2 * REQUESTS);
          const prodLog = prod.readAccessLog();
          const targetLog = target.readAccessLog();
          assert.equal(prodLog.length, 2 * REQUESTS, 'production served every request');
          assert.equal(arrived, 2 * REQUESTS, `target received ${arrived} of ${2 * REQUESTS} requests`);
          assert.deepEqual(requestSummary(targetLog), requestSummary(prodLog), 'same methods, paths and statuses');
          for (const e of targetLog)
            assert.ok(
              e.client.startsWith(lab.fakeIp(1).replace(/\.1$/, '.')),
              `target saw a fake client, not ${e.client}`,
            );

          // Every byte the client sent (production received them all: request lines and headers, no
          // bodies, no loss in this lab) was captured, however GRO merged it.
          const stats = await stopForStats(tcpcopy);
          const clientBytes = prodLog.reduce((n, e) => n + e.requestLength, 0);
          assert.equal(numberAt(stats, 'capture.kernelDropped'), 0, "the copier's capture ring overflowed");
          assert.equal(
            numberAt(stats, 'client.payloadBytes'),
            clientBytes,
            'the copier captured every payload byte the client sent',
          );

          const guards = await lab.guardCounters();
          assert.deepEqual(guards, NO_GUARD_HITS);
        },
        { offloads },
      );
    },
  );
}
