/**
 * Big answers, end to end: production and the test server serve the same 4 MiB file; ab fetches
 * it over keep-alive, then over short connections, two at a time. The copier is the client of
 * every copy, so it must take the test server's answers as fast as ab took production's: every
 * copy whole (the test server's access log counts the body bytes it sent), and the copy done
 * soon after production. Before the copier advertised the real client's largest window, one
 * client ACK with a closed window could hold a copy to 128 bytes a round trip, for good.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OFFLOAD_PROFILES, withLab, type NginxServer } from '../lab/index.js';
import { sleep, startIntercept, startTcpcopy } from './copy-harness.js';

const ANSWER_BYTES = 4 * 1024 * 1024;
/** Per connection kind: keep-alive, then short. */
const ANSWERS = 20;
/** The copy may trail production by this factor plus SLACK_MS (2 cores shared by everything). */
const MAX_RATIO = 3;
const SLACK_MS = 3000;
const GIVE_UP_MS = 45_000;

function wholeAnswers(server: NginxServer): number {
  return server.readAccessLog().filter((e) => e.path === '/big.bin' && e.bodyBytesSent === ANSWER_BYTES).length;
}

for (const offloads of OFFLOAD_PROFILES) {
  test(
    `${2 * ANSWERS} answers of 4 MiB, keep-alive then short: every copy whole, soon after production (offloads ${offloads})`,
    { timeout: 90_000 },
    async (t) => {
      await withLab(
        t,
        async (lab) => {
          const files = { 'big.bin': Buffer.alloc(ANSWER_BYTES, 0x5a) };
          const prod = await lab.startNginx('prod', { files });
          const target = await lab.startNginx('target', { files });
          await startIntercept(lab, 80);
          await startTcpcopy(lab, { port: 80 });
          const started = Date.now();
          for (const keepAlive of [['-k'], []]) {
            await lab.exec(
              'client',
              'ab',
              ['-q', ...keepAlive, '-n', String(ANSWERS), '-c', '2', prod.url('/big.bin')],
              { timeoutMs: 30_000 },
            );
          }
          const productionMs = Date.now() - started;
          while (wholeAnswers(target) < 2 * ANSWERS && Date.now() - started < GIVE_UP_MS) await sleep(50);
          const copyMs = Date.now() - started;
          assert.equal(wholeAnswers(prod), 2 * ANSWERS);
          assert.equal(
            wholeAnswers(target),
            2 * ANSWERS,
            `whole copies: ${JSON.stringify(target.readAccessLog().map((e) => e.bodyBytesSent))}`,
          );
          assert.ok(
            copyMs <= MAX_RATIO * productionMs + SLACK_MS,
            `the copy took ${copyMs} ms, production ${productionMs} ms`,
          );
        },
        { offloads },
      );
    },
  );
}
