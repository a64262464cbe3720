/**
 * Production is untouched by the copier: the client gets the same statuses and bodies with and
 * without it, and no packet but production's ever reaches the client. With the same port on both
 * sides (-x 80-target:80), the copier never captures its own output: the test server gets each
 * request exactly once, and the copier captures what the client sent, no more.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { withLab, type Lab } from '../lab/index.js';
import { numberAt, runAb, settle, startIntercept, startTcpcopy, stopForStats } from './copy-harness.js';
import type { ProbeArgs, ProbeRequest, ProbeResult } from './http-probe.js';

const PROBE = fileURLToPath(new URL('./http-probe.js', import.meta.url));
const ROUNDS = 5;
const AB_REQUESTS = 1000;
/** The copier's capture and tcpdump's on the client may each miss a frame under a burst. */
const CAPTURE_TOLERANCE = 0.01;

/** Statuses 200, 206, 404 and 405, bodies from empty to 1 MiB, GET, HEAD and POST. */
const REQUESTS: ProbeRequest[] = [
  { method: 'GET', path: '/' },
  { method: 'GET', path: '/index.html' },
  { method: 'GET', path: '/1k.bin' },
  { method: 'GET', path: '/64k.bin' },
  { method: 'GET', path: '/1m.bin' },
  { method: 'GET', path: '/no-such-file' },
  { method: 'HEAD', path: '/64k.bin' },
  { method: 'POST', path: '/index.html', headers: { 'content-type': 'text/plain' }, body: 'x'.repeat(3000) },
  { method: 'GET', path: '/1m.bin', headers: { range: 'bytes=1000-70999' } },
];

/** Runs the request list ROUNDS times on one keep-alive connection and on a connection each. */
async function probe(lab: Lab, base: string): Promise<ProbeResult[]> {
  const results: ProbeResult[] = [];
  for (const keepAlive of [true, false]) {
    const args: ProbeArgs = { base, requests: REQUESTS, rounds: ROUNDS, keepAlive };
    const proc = lab.spawnNode('client', PROBE, [JSON.stringify(args)]);
    await proc.succeeded();
    results.push(...proc.jsonLines<ProbeResult>());
  }
  return results;
}

/** Source addresses of the IPv4 packets in a pcap, with their counts. */
function sourcesIn(pcap: string): Map<string, number> {
  const text = execFileSync('tcpdump', ['-nn', '-q', '-r', pcap], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
    maxBuffer: 256 * 1024 * 1024,
  });
  const sources = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = / IP (\d+\.\d+\.\d+\.\d+)/.exec(line);
    if (m) sources.set(m[1]!, (sources.get(m[1]!) ?? 0) + 1);
  }
  return sources;
}

function packetCount(pcap: string): number {
  return [...sourcesIn(pcap).values()].reduce((a, b) => a + b, 0);
}

test(
  'production answers the same with and without the copier; only prod ever talks to the client; no re-capture with the same port',
  { timeout: 110_000 },
  async (t) => {
    await withLab(t, async (lab) => {
      const { client, prod: prodHost } = lab.hosts;
      const prod = await lab.startNginx('prod');
      const target = await lab.startNginx('target');

      const without = await probe(lab, prod.url());
      assert.equal(without.length, 2 * ROUNDS * REQUESTS.length);
      assert.deepEqual(
        without.filter((r) => r.error !== undefined),
        [],
        'requests failed without the copier',
      );
      assert.deepEqual(
        new Set(without.map((r) => r.status)),
        new Set([200, 206, 404, 405]),
        'the request set covers every status',
      );
      const servedBefore = prod.readAccessLog().length;

      // Everything reaching the client but its own packets, and what the client sends to prod:80.
      const inbound = await lab.captureOn('client', `ip and not src host ${client.ip}`, {
        file: 'client-inbound.pcap',
      });
      const toProd = await lab.captureOn(
        'client',
        `tcp and src host ${client.ip} and dst host ${prodHost.ip} and dst port 80`,
        { file: 'client-to-prod.pcap' },
      );
      await startIntercept(lab, 80);
      const tcpcopy = await startTcpcopy(lab, { port: 80 });

      const withCopier = await probe(lab, prod.url());
      const ab = await runAb(lab, prod.url('/1k.bin'), { requests: AB_REQUESTS, concurrency: 8 });
      assert.deepEqual(ab, { complete: AB_REQUESTS, failed: 0 });
      assert.deepEqual(withCopier, without, 'the client saw other responses with the copier running');

      const copied = prod.readAccessLog().length - servedBefore;
      const arrived = await settle(() => target.readAccessLog().length, copied);
      const stats = await stopForStats(tcpcopy);
      // tcpdump in immediate mode can drop under ab's burst: what it dropped was sent too.
      const sentToProd = packetCount(await toProd.stop()) + (toProd.stats()?.droppedByKernel ?? 0);
      const inboundSources = sourcesIn(await inbound.stop());

      t.diagnostic(
        `copied ${copied}, arrived ${arrived}; captured ${numberAt(stats, 'capture.framesCaptured')} of ${sentToProd} frames the client sent to prod:80`,
      );
      // Exactly once: no copy of a copy (the copier's packets to target:80 are never re-captured).
      assert.equal(arrived, copied, `target received ${arrived} requests for the ${copied} production served`);
      assert.equal(numberAt(stats, 'capture.ownPacketsIgnored'), 0);
      const captured = numberAt(stats, 'capture.framesCaptured');
      assert.ok(
        Math.abs(captured - sentToProd) <= CAPTURE_TOLERANCE * sentToProd,
        `the copier captured ${captured} frames; the client sent ${sentToProd} to prod:80`,
      );
      // Nothing but production's packets reached the client.
      assert.deepEqual(
        [...inboundSources.keys()],
        [prodHost.ip],
        `sources seen by the client: ${JSON.stringify([...inboundSources])}`,
      );
      assert.deepEqual(await lab.guardCounters(), {
        clientFromOthers: 0,
        prodFromTarget: 0,
        prodFromFakeSubnet: 0,
        prodToSelf: 0,
      });
    });
  },
);
