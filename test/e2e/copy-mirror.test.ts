/**
 * A tcpcopy on a host that receives mirrored traffic (a SPAN port, a TAP, `tc mirred`): the
 * switch copies every frame it delivers to prod to the mirror host's port as well (nft `dup`).
 * With production's address in -x, or a -F of the user's (which replaces the built filter, as
 * upstream: ANDed with a filter of this host's addresses it captured nothing), and the device
 * named with -i, the mirror's tcpcopy captures frames addressed to another host and copies them
 * to the test server; production and its clients see nothing of it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withLab } from '../lab/index.js';
import { TCPCOPY_BIN, fakeRange, settle, startIntercept } from './copy-harness.js';

const REQUESTS = 300;

const HOW = [
  {
    name: "production's address in -x",
    args: (prodIp: string, targetIp: string) => ['-x', `${prodIp}:80-${targetIp}:80`],
  },
  {
    name: 'a -F of its own',
    args: (_: string, targetIp: string) => ['-x', `80-${targetIp}:80`, '-F', 'tcp dst port 80'],
  },
];

for (const how of HOW) {
  test(
    `a tcpcopy fed by a mirror port copies production traffic whole, with ${how.name}`,
    { timeout: 90_000 },
    async (t) => {
      await withLab(
        t,
        async (lab) => {
          const { prod, aux, target } = lab.hosts;
          const mirror = lab.host('mirror');
          const prodServer = await lab.startNginx('prod');
          const targetServer = await lab.startNginx('target');
          await startIntercept(lab, 80);
          await lab.run.run('ip', ['netns', 'exec', lab.topology.switchNs, 'nft', '-f', '-'], {
            input:
              [
                'add table netdev lab_mirror',
                `add chain netdev lab_mirror to_prod { type filter hook egress device "${prod.switchPort}" priority 0; }`,
                `add rule netdev lab_mirror to_prod dup to "${mirror.switchPort}"`,
              ].join('\n') + '\n',
          });
          const copier = lab.spawn(
            'mirror',
            TCPCOPY_BIN,
            [...how.args(prod.ip, target.ip), '-s', aux.ip, '-c', fakeRange(lab), '-i', mirror.iface],
            { name: 'tcpcopy-mirror' },
          );
          await copier.waitFor(/"msg":"capturing"/, { stream: 'stderr', timeoutMs: 15_000 });
          const ab = await lab.exec('client', 'ab', [
            '-q',
            '-n',
            String(REQUESTS),
            '-c',
            '4',
            prodServer.url('/index.html'),
          ]);
          assert.match(ab.stdout, new RegExp(`Complete requests:\\s+${REQUESTS}`));
          assert.equal(prodServer.readAccessLog().length, REQUESTS);
          const copied = await settle(() => targetServer.readAccessLog().length, REQUESTS);
          assert.equal(copied, REQUESTS, `${copied} of ${REQUESTS} copied from the mirror port`);
          assert.deepEqual(await lab.guardCounters(), {
            clientFromOthers: 0,
            prodFromTarget: 0,
            prodFromFakeSubnet: 0,
            prodToSelf: 0,
          });
          assert.equal((await copier.stop()).code, 0);
        },
        { extraHosts: ['mirror'] },
      );
    },
  );
}
