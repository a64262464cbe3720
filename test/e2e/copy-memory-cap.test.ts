/**
 * -m caps the copier's resident memory, not only its estimate of what sessions hold: under a
 * burst of short connections at full speed (the copy falls behind, sessions pile up, V8's heap
 * grows far past its live data) tcpcopy sheds new sessions before its resident set passes -m,
 * and copies everything again once the burst is over. Before the resident set was measured, the
 * same load took a copier with `-m 160 -B 32` to 292 MiB (docs/benchmarks.md).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withLab } from '../lab/index.js';
import {
  NO_GUARD_HITS,
  numberAt,
  residentMiB,
  runAb,
  settle,
  sleep,
  startIntercept,
  startTcpcopy,
  stopForStats,
} from './copy-harness.js';

/** Idle the copier holds ~78 MiB, with its 16 MiB ring; the spill area (-B) counts as full. */
const CAP_MIB = 170;
const SPILL_MIB = 16;
const BURST = { requests: 60_000, concurrency: 128 };
const AFTER = 500;
/** How long a closed session's tuple lingers in tcpcopy (main.ts), held in its memory. */
const LINGER_MS = 6000;

test(
  `-m ${CAP_MIB}: a burst at full speed sheds sessions, the resident set stays under the cap, and the copy comes back`,
  { timeout: 120_000 },
  async (t) => {
    await withLab(t, async (lab) => {
      const prod = await lab.startNginx('prod');
      const target = await lab.startNginx('target');
      await startIntercept(lab, 80);
      const tcpcopy = await startTcpcopy(lab, { port: 80, extra: ['-m', String(CAP_MIB), '-B', String(SPILL_MIB)] });

      const burst = await runAb(lab, prod.url('/index.html'), BURST);
      assert.equal(burst.failed, 0);
      const peakMiB = residentMiB(tcpcopy, 'VmHWM');
      const servedInBurst = prod.readAccessLog().length;
      await settle(() => target.readAccessLog().length, servedInBurst);
      const copiedInBurst = target.readAccessLog().length;

      // The burst is over and its sessions' tuples have lingered out: the copier admits sessions
      // again and copies all of them.
      await sleep(LINGER_MS);
      const after = await runAb(lab, prod.url('/index.html'), { requests: AFTER, concurrency: 2 });
      assert.equal(after.failed, 0);
      const copiedAfter = (await settle(() => target.readAccessLog().length, copiedInBurst + AFTER)) - copiedInBurst;
      const stats = await stopForStats(tcpcopy);
      t.diagnostic(
        `peak ${peakMiB.toFixed(0)} MiB; burst: ${copiedInBurst} of ${servedInBurst} copied, ` +
          `${numberAt(stats, 'sessions.shed')} sessions shed; after: ${copiedAfter} of ${AFTER}`,
      );

      assert.ok(
        peakMiB <= CAP_MIB,
        `the copier's resident set peaked at ${peakMiB.toFixed(0)} MiB, over -m ${CAP_MIB}`,
      );
      assert.ok(numberAt(stats, 'process.pressureEpisodes') > 0, 'the burst brought the copier near -m');
      assert.ok(numberAt(stats, 'sessions.shed') > 0, 'sessions were shed for it');
      assert.ok(copiedInBurst > 0, 'the burst was copied in part, not refused whole');
      assert.ok(copiedAfter >= 0.99 * AFTER, `after the burst ${copiedAfter} of ${AFTER} were copied`);
      const guards = await lab.guardCounters();
      assert.deepEqual(guards, NO_GUARD_HITS);
    });
  },
);
