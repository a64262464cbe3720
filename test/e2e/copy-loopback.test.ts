/**
 * tcpcopy -H: clients on the production host itself (curl to 127.0.0.1, captured on lo) are
 * copied as coming from the -H address, which the test server routes back to the intercept
 * host like the fake client subnet. Without it (and without -c) their copies come from
 * 127.0.0.1, which no other host accepts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withLab } from '../lab/index.js';
import { TCPCOPY_BIN, settle, startIntercept } from './copy-harness.js';

const REQUESTS = 20;

test(
  '-H: requests from clients on the production host reach the test server from the -H address',
  { timeout: 90_000 },
  async (t) => {
    await withLab(t, async (lab) => {
      await lab.startNginx('prod', { alsoListen: ['127.0.0.1'] });
      const target = await lab.startNginx('target');
      await startIntercept(lab, 80);
      const replacement = lab.fakeIp(9);
      const copier = (extra: readonly string[]) => {
        // No -c: the copies keep the client's address, or take -H's for a loopback client.
        const args = ['-x', `80-${lab.host('target').ip}:80`, '-s', lab.host('aux').ip, ...extra];
        return lab.spawn('prod', TCPCOPY_BIN, args, { name: 'tcpcopy' });
      };
      const local = async (tag: string): Promise<number> => {
        for (let i = 0; i < REQUESTS; i++) {
          await lab.exec('prod', 'curl', [
            '-s',
            '--fail',
            '-o',
            '/dev/null',
            `http://127.0.0.1/index.html?${tag}=${i}`,
          ]);
        }
        const copied = () => target.readAccessLog().filter((e) => e.path.startsWith(`/index.html?${tag}=`)).length;
        return settle(copied, REQUESTS, { quietMs: 3000, timeoutMs: 20_000 });
      };

      const without = copier([]);
      await without.waitFor(/"msg":"capturing"/, { stream: 'stderr', timeoutMs: 15_000 });
      assert.equal(await local('plain'), 0, 'copies from 127.0.0.1 reach no test server');
      assert.equal((await without.stop()).code, 0);

      const withH = copier(['-H', replacement]);
      await withH.waitFor(/"msg":"capturing"/, { stream: 'stderr', timeoutMs: 15_000 });
      const arrived = await local('replaced');
      assert.equal(arrived, REQUESTS, `the test server received ${arrived} of ${REQUESTS} local requests`);
      const replaced = target.readAccessLog().filter((e) => e.path.startsWith('/index.html?replaced='));
      assert.ok(replaced.every((e) => e.client.startsWith(`${replacement}:`)));
    });
  },
);
