/**
 * intercept -D A-B, the test server in a container: tcpcopy copies from one fake address B, and
 * on the target host a stateless rewrite (as a container host's source translation toward its
 * bridge, without the translation back) turns B into A before the test server sees it. The test
 * server answers A, which target routes via aux like the fake subnet. With -D A-B, intercept
 * routes those replies by B's route and every request is copied; without it, none is.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withLab, type Lab } from '../lab/index.js';
import { numberAt, runAb, settle, startIntercept, startTcpcopy, stopForStats } from './copy-harness.js';

/** Before conntrack (-200), so nothing translates the replies back: they leave addressed to A. */
const RAW_PRIORITY = -300;

/** Target rewrites the copies' source B into A, fixing both checksums, as the container host would. */
async function rewriteSourceOnTarget(lab: Lab, fakeClient: string, seenAs: string): Promise<void> {
  await lab.exec('target', 'nft', ['-f', '-'], {
    input:
      [
        'add table ip lab_container',
        `add chain ip lab_container prerouting { type filter hook prerouting priority ${RAW_PRIORITY}; }`,
        `add rule ip lab_container prerouting ip saddr ${fakeClient} notrack ip saddr set ${seenAs}`,
      ].join('\n') + '\n',
  });
}

interface Run {
  requests: number;
  copied: number;
  clientsSeen: Set<string>;
  intercept: Record<string, unknown>;
}

/** Copies `requests` HTTP requests through a target that sees the fake client as another address. */
async function copyThroughContainer(lab: Lab, requests: number, withMap: boolean): Promise<Run> {
  const fakeClient = lab.fakeIp(1); // B: tcpcopy's one -c address
  const seenAs = lab.fakeIp(254); // A: the address the test server sees, routed via aux
  const prod = await lab.startNginx('prod');
  const target = await lab.startNginx('target');
  await rewriteSourceOnTarget(lab, fakeClient, seenAs);
  const intercept = await startIntercept(lab, 80, withMap ? ['-D', `${seenAs}-${fakeClient}`] : []);
  // The later -c wins over the harness's whole fake range, as a repeated flag does.
  await startTcpcopy(lab, { extra: ['-c', fakeClient] });
  const ab = await runAb(lab, prod.url('/1k.bin'), { requests, concurrency: 4 });
  assert.deepEqual(ab, { complete: requests, failed: 0 }, 'production served every request');
  const copied = await settle(() => target.readAccessLog().length, requests, { quietMs: 3000 });
  return {
    requests,
    copied,
    clientsSeen: new Set(target.readAccessLog().map((e) => e.client.replace(/:\d+$/, ''))),
    intercept: await stopForStats(intercept),
  };
}

test('with -D A-B, replies to A are routed by B: every request is copied', { timeout: 60_000 }, async (t) => {
  await withLab(t, async (lab) => {
    const run = await copyThroughContainer(lab, 300, true);
    assert.equal(run.copied, run.requests, `the test server received ${run.copied} of ${run.requests} requests`);
    assert.deepEqual([...run.clientsSeen], [lab.fakeIp(254)], 'the test server saw every copy as coming from A');
    const captured = numberAt(run.intercept, 'replies.repliesCaptured');
    assert.ok(captured >= run.requests, `intercept captured ${captured} replies`);
    assert.equal(numberAt(run.intercept, 'replies.repliesRewritten'), captured, 'every reply was addressed to A');
    assert.equal(numberAt(run.intercept, 'replies.unroutable'), 0);
    assert.deepEqual(await lab.guardCounters(), {
      clientFromOthers: 0,
      prodFromTarget: 0,
      prodFromFakeSubnet: 0,
      prodToSelf: 0,
    });
  });
});

test('without -D, replies to A match no route: no request is copied', { timeout: 60_000 }, async (t) => {
  await withLab(t, async (lab) => {
    const run = await copyThroughContainer(lab, 20, false);
    assert.equal(run.copied, 0, 'no handshake completes without the mapping');
    assert.ok(numberAt(run.intercept, 'replies.repliesCaptured') > 0, "the test server's SYN-ACKs were captured");
    assert.equal(numberAt(run.intercept, 'replies.routed'), 0);
    assert.equal(numberAt(run.intercept, 'replies.repliesRewritten'), 0);
  });
});
