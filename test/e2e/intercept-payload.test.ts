/**
 * Intercept forwarding the test server's payload (for response comparison, docs/compare.md) on a
 * real capture ring: a copier that asks for payloads in its hello makes intercept capture whole
 * packets, and its flow's answer arrives in payload records that reassemble to the very bytes
 * nginx sent; intercept's ring is back to headers only once that copier has gone.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { patternBytes, withLab } from '../lab/index.js';
import { numberAt, startIntercept, stopForStats } from './copy-harness.js';
import type { PayloadClientArgs } from './payload-client.js';
import { argsFile } from './program-args.js';

const PAYLOAD_CLIENT = fileURLToPath(new URL('./payload-client.js', import.meta.url));
const BODY = patternBytes(64 * 1024);

test("a copier that asks for payloads receives the test server's answer whole", { timeout: 60_000 }, async (t) => {
  await withLab(t, async (lab) => {
    await lab.startNginx('target');
    const intercept = await startIntercept(lab, 80);
    const args: PayloadClientArgs = {
      intercept: lab.host('aux').ip,
      port: 36524,
      fake: lab.fakeIp(5),
      clientPort: 40000,
      target: lab.host('target').ip,
      targetPort: 80,
      request: 'GET /64k.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n',
    };
    const client = lab.spawnNode('prod', PAYLOAD_CLIENT, [argsFile(lab.logDir, 'payload-client', args)]);
    await client.succeeded();
    const [result] = client.jsonLines<{ event: string; answerHex: string; payloadRecords: number; error?: string }>();
    assert.equal(result?.event, 'done', JSON.stringify(result));
    const answer = Buffer.from(result.answerHex, 'hex');
    assert.match(answer.subarray(0, 15).toString(), /^HTTP\/1\.1 200 /);
    assert.deepEqual(answer.subarray(answer.length - BODY.length), BODY, 'the body, byte for byte');
    assert.ok(result.payloadRecords > 1, `${result.payloadRecords} payload records`);
    // Whole packets while the payload copier was connected, headers only again after it left.
    await intercept.waitFor(/"snapLength":120,/, { stream: 'stderr', timeoutMs: 5000 });
    const widened = intercept.stderr.indexOf('"snapLength":65535,');
    assert.ok(widened >= 0 && intercept.stderr.lastIndexOf('"snapLength":120,') > widened, 'widened, then narrowed');
    assert.doesNotMatch(intercept.stderr, /could not change its snap length/);
    const stats = await stopForStats(intercept);
    assert.ok(numberAt(stats, 'sent.payloadBytesSent') >= BODY.length, JSON.stringify(stats.sent));
  });
});
