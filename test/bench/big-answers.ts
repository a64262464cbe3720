/**
 * Big answers: how far the copy trails production when the test server sends a lot. Production
 * and the test server serve the same 4 MiB file; ab fetches it ANSWERS times over keep-alive,
 * then ANSWERS times over short connections, two at a time; the copy is done when the test
 * server has logged every answer whole. Reports production's time, the copy's (from the same
 * start) and their ratio.
 *
 * Run as root: pnpm bench:big-answers (builds first). Env BIG_ANSWER_MB (default 4) sets the
 * answer's size, BIG_COPIES (default 1) tcpcopy's -n, LAB_OFFLOADS the lab's profile;
 * BIG_COPIER=c runs the upstream C tools named by UPSTREAM_TCPCOPY and UPSTREAM_INTERCEPT
 * instead of ours. BIG_TCPDUMP=1 records the test server's side (headers) and BIG_KEEP_LOGS=1
 * keeps the lab's logs and that capture, for a copy that stalls. Writes
 * test/bench/results/big-answers.json, with the frames the lab's veths dropped.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLab, type Lab, type NginxServer } from '../lab/index.js';
import { sleep } from '../e2e/copy-harness.js';
import { startOurs, startUpstream, upstreamFromEnv, type CopierName } from './e2e/copiers.js';

const RESULTS_PATH = fileURLToPath(new URL('../../bench/results/big-answers.json', import.meta.url));
const ANSWER_BYTES = Number(process.env.BIG_ANSWER_MB ?? 4) * 1024 * 1024;
const COPIES = Number(process.env.BIG_COPIES ?? 1);
const COPIER: CopierName = process.env.BIG_COPIER === 'c' ? 'c' : 'ours';
/** Per connection kind (keep-alive, then short): the load. */
const ANSWERS = 100;
const GIVE_UP_MS = 60_000;
const POLL_MS = 100;

/** Frames every veth leg of the lab failed to pass on (their tx_dropped): losses the lab made. */
async function framesDroppedByVeths(lab: Lab): Promise<number> {
  let dropped = 0;
  for (const ns of [lab.topology.switchNs, ...Object.values(lab.hosts).map((h) => h!.ns)]) {
    const links = JSON.parse(
      (await lab.run.run('ip', ['-n', ns, '-s', '-j', 'link', 'show', 'type', 'veth'])).stdout,
    ) as {
      stats64: { tx: { dropped: number } };
    }[];
    for (const link of links) dropped += link.stats64.tx.dropped;
  }
  return dropped;
}

function wholeAnswers(server: NginxServer): number {
  return server.readAccessLog().filter((e) => e.path === '/big.bin' && e.bodyBytesSent === ANSWER_BYTES).length;
}

const lab = await createLab();
try {
  const files = { 'big.bin': Buffer.alloc(ANSWER_BYTES, 0x5a) };
  const prod = await lab.startNginx('prod', { files });
  const target = await lab.startNginx('target', { files });
  if (COPIER === 'c') {
    const upstream = upstreamFromEnv(process.env);
    if ('skipped' in upstream) throw new Error(`BIG_COPIER=c: ${upstream.skipped}`);
    await startUpstream(lab, upstream.binaries, COPIES);
  } else {
    await startOurs(lab, COPIES);
  }
  const dump =
    process.env.BIG_TCPDUMP === '1' ? await lab.captureOn('target', 'tcp port 80', { snapLength: 128 }) : undefined;
  const started = Date.now();
  for (const keepAlive of [['-k'], []]) {
    await lab.exec('client', 'ab', ['-q', ...keepAlive, '-n', String(ANSWERS), '-c', '2', prod.url('/big.bin')], {
      timeoutMs: GIVE_UP_MS,
    });
  }
  const productionMs = Date.now() - started;
  // A copier that loses answers never completes: the copy's time is then when its count last grew.
  let copied = wholeAnswers(target);
  let copyMs = Date.now() - started;
  while (copied < 2 * ANSWERS * COPIES && Date.now() - started < GIVE_UP_MS) {
    await sleep(POLL_MS);
    const now = wholeAnswers(target);
    if (now > copied) copyMs = Date.now() - started;
    copied = now;
  }
  await dump?.stop();
  const labDrops = await framesDroppedByVeths(lab);
  const result = {
    date: new Date().toISOString(),
    copier: COPIER,
    offloads: lab.offloads,
    copies: COPIES,
    answers: 2 * ANSWERS * COPIES,
    answerBytes: ANSWER_BYTES,
    productionMs,
    copyMs,
    copied,
    ratio: copyMs / productionMs,
    labDrops,
  };
  mkdirSync(path.dirname(RESULTS_PATH), { recursive: true });
  writeFileSync(RESULTS_PATH, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(
    `${COPIER}: ${2 * ANSWERS} answers of ${ANSWER_BYTES >> 20} MiB, keep-alive then short, two at a time, -n ${COPIES} (offloads ${lab.offloads}): ` +
      `production ${(productionMs / 1000).toFixed(1)} s, copy ${(copyMs / 1000).toFixed(1)} s (${result.ratio.toFixed(1)}x), ${copied}/${result.answers} whole, ${labDrops} frames dropped by the lab's veths\n`,
  );
} finally {
  await lab.destroy({ keepLogs: process.env.BIG_KEEP_LOGS === '1' });
}
