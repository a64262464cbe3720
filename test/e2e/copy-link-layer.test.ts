/**
 * Link-layer sending (tcpcopy -o, -x ...@MAC), the usual way around a production host's
 * firewall: prod drops what conntrack calls invalid on its way out (`ct state invalid drop`, a
 * common hardening rule). A copy's packets, sent through the raw IP socket, pass that hook, and
 * conntrack never sees the test server's answers (they go to the intercept host), so all but
 * the SYN of each copy are invalid and dropped. Sent as Ethernet frames on prod's device, they
 * bypass the IP stack and arrive whole.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withLab, type Lab } from '../lab/index.js';
import { runAb, settle, startIntercept, startTcpcopy, stopForStats, numberAt } from './copy-harness.js';

const REQUESTS = 200;

async function dropInvalidOnOutput(lab: Lab): Promise<void> {
  await lab.exec('prod', 'nft', ['-f', '-'], {
    input:
      [
        'add table ip lab_firewall',
        'add chain ip lab_firewall out { type filter hook output priority 0; policy accept; }',
        'add rule ip lab_firewall out ct state invalid counter drop',
      ].join('\n') + '\n',
  });
}

test(
  '-o with the next hop MAC: copies leave as frames past a firewall that drops the raw socket path',
  { timeout: 120_000 },
  async (t) => {
    await withLab(t, async (lab) => {
      const prod = await lab.startNginx('prod');
      const target = await lab.startNginx('target');
      await startIntercept(lab, 80);
      await dropInvalidOnOutput(lab);
      const { stdout: targetMac } = await lab.exec('target', 'cat', [
        `/sys/class/net/${lab.host('target').iface}/address`,
      ]);

      // Through the raw socket, the firewall drops the copies.
      const raw = await startTcpcopy(lab, { port: 80 });
      assert.equal(
        (await runAb(lab, prod.url('/index.html'), { requests: REQUESTS, concurrency: 4 })).complete,
        REQUESTS,
      );
      const viaRaw = await settle(() => target.readAccessLog().length, REQUESTS, { quietMs: 3000, timeoutMs: 20_000 });
      await stopForStats(raw);
      assert.ok(viaRaw < REQUESTS / 2, `the firewall let ${viaRaw} of ${REQUESTS} copies through the raw socket`);

      // As frames on prod's device, all of them arrive.
      const before = target.readAccessLog().length;
      const link = await startTcpcopy(lab, {
        transfer: `80-${lab.host('target').ip}:80@${targetMac.trim()}`,
        extra: ['-o', lab.host('prod').iface],
      });
      assert.equal(
        (await runAb(lab, prod.url('/index.html'), { requests: REQUESTS, concurrency: 4 })).complete,
        REQUESTS,
      );
      const viaLink = await settle(() => target.readAccessLog().length - before, REQUESTS);
      t.diagnostic(`copies through the raw socket: ${viaRaw} of ${REQUESTS}; as frames: ${viaLink} of ${REQUESTS}`);
      assert.equal(viaLink, REQUESTS, `the test server received ${viaLink} of ${REQUESTS} copies sent as frames`);
      const stats = await stopForStats(link);
      assert.equal(numberAt(stats, 'sink.queueFull'), 0);
      const guards = await lab.guardCounters();
      assert.deepEqual(
        Object.values(guards),
        Object.values(guards).map(() => 0),
        JSON.stringify(guards),
      );
    });
  },
);
