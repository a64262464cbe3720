/**
 * An address that moves onto production while tcpcopy runs (a keepalived VIP failing over) is
 * copied from then on, and one that moves off is no longer captured: the copier follows the
 * host's addresses within 2 s, logs and counts each change.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withLab } from '../lab/index.js';
import { numberAt, settle, sleep, startIntercept, startTcpcopy, stopForStats } from './copy-harness.js';

const REQUESTS = 20;
/** The copier reads the address list every second. */
const FOLLOW_MS = 2000;

test('a VIP added after start is copied within 2 s; its removal is followed too', { timeout: 90_000 }, async (t) => {
  await withLab(t, async (lab) => {
    const prod = lab.host('prod');
    const vip = prod.ip.replace(/\.\d+$/, '.99');
    const target = await lab.startNginx('target');
    await startIntercept(lab, 80);
    const tcpcopy = await startTcpcopy(lab, { port: 80 });

    const addedAt = Date.now();
    await lab.exec('prod', 'ip', ['addr', 'add', `${vip}/24`, 'dev', prod.iface]);
    await tcpcopy.waitFor(/host addresses changed/, { stream: 'stderr', timeoutMs: FOLLOW_MS + 1000 });
    assert.ok(Date.now() - addedAt <= FOLLOW_MS + 500, `followed after ${Date.now() - addedAt} ms`);
    assert.match(tcpcopy.stderr, new RegExp(`"added":\\["${vip.replace(/\./g, '\\.')}"\\]`));

    await lab.startNginx('prod', { alsoListen: [vip] });
    for (let i = 0; i < REQUESTS; i++) {
      await lab.exec('client', 'curl', ['-s', '--fail', '-o', '/dev/null', `http://${vip}/index.html?vip=${i}`]);
    }
    const copied = () => target.readAccessLog().filter((e) => e.path.startsWith('/index.html?vip=')).length;
    assert.equal(await settle(copied, REQUESTS), REQUESTS, 'every request to the VIP was copied');

    await lab.exec('prod', 'ip', ['addr', 'del', `${vip}/24`, 'dev', prod.iface]);
    await sleep(FOLLOW_MS + 500);
    assert.match(tcpcopy.stderr, new RegExp(`"removed":\\["${vip.replace(/\./g, '\\.')}"\\]`));
    const stats = await stopForStats(tcpcopy);
    assert.equal(numberAt(stats, 'capture.hostAddressChanges'), 2);
  });
});
