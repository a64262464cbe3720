/**
 * Big answers, end to end: production and the test server serve the same 4 MiB file; ab fetches
 * it over keep-alive, then over short connections, two at a time. The copier is the client of
 * every copy, so it must take the test server's answers as fast as ab took production's: every
 * copy whole (the test server's access log counts the body bytes it sent), and the copy done
 * soon after production; with -n 2, and with 20 MiB answers too. Before the copier advertised the real client's largest window, one
 * client ACK with a closed window could hold a copy to 128 bytes a round trip, for good.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OFFLOAD_PROFILES, withLab, type NginxServer, type OffloadProfile } from '../lab/index.js';
import { sleep, startIntercept, startTcpcopy } from './copy-harness.js';

/** The copy may trail production by this factor plus SLACK_MS (2 cores shared by everything). */
const MAX_RATIO = 2;
const SLACK_MS = 1500;
const GIVE_UP_MS = 45_000;

interface Case {
  offloads: OffloadProfile;
  answerMiB: number;
  /** Per connection kind: keep-alive, then short. */
  answers: number;
  /** tcpcopy's -n. */
  copies: number;
}

/** The load on every profile, then its two harder variants on the lab it was measured on. */
const CASES: readonly Case[] = [
  ...OFFLOAD_PROFILES.map((offloads) => ({ offloads, answerMiB: 4, answers: 20, copies: 1 })),
  { offloads: 'off', answerMiB: 4, answers: 20, copies: 2 },
  { offloads: 'off', answerMiB: 20, answers: 5, copies: 1 },
];

function wholeAnswers(server: NginxServer, bytes: number): number {
  return server.readAccessLog().filter((e) => e.path === '/big.bin' && e.bodyBytesSent === bytes).length;
}

for (const { offloads, answerMiB, answers, copies } of CASES) {
  test(
    `${2 * answers} answers of ${answerMiB} MiB, keep-alive then short, -n ${copies}: every copy whole, soon after production (offloads ${offloads})`,
    { timeout: 90_000 },
    async (t) => {
      await withLab(
        t,
        async (lab) => {
          const bytes = answerMiB * 1024 * 1024;
          const files = { 'big.bin': Buffer.alloc(bytes, 0x5a) };
          const prod = await lab.startNginx('prod', { files });
          const target = await lab.startNginx('target', { files });
          await startIntercept(lab, 80);
          await startTcpcopy(lab, { port: 80, copies });
          const started = Date.now();
          for (const keepAlive of [['-k'], []]) {
            await lab.exec(
              'client',
              'ab',
              ['-q', ...keepAlive, '-n', String(answers), '-c', '2', prod.url('/big.bin')],
              { timeoutMs: 30_000 },
            );
          }
          const productionMs = Date.now() - started;
          const copied = 2 * answers * copies;
          while (wholeAnswers(target, bytes) < copied && Date.now() - started < GIVE_UP_MS) await sleep(50);
          const copyMs = Date.now() - started;
          t.diagnostic(`production ${productionMs} ms, copy ${copyMs} ms`);
          assert.equal(wholeAnswers(prod, bytes), 2 * answers);
          assert.equal(
            wholeAnswers(target, bytes),
            copied,
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
