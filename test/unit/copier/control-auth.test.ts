/**
 * The copier's control connections with --auth-file on loopback: against our intercept with the
 * same key, another key or none; against peers that cannot authenticate (upstream's C intercept,
 * silent or closing) under --protocol auto, which must never fall back to the legacy protocol;
 * and against a stranger posing as an intercept, which must learn no proof and no route.
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import {
  ControlAuthKey,
  ControlMessageType,
  ErrorCode,
  FrameDecoder,
  encodeFrame,
  type ControlMessage,
} from '@tcpcopy/common';
import { replyHeaders, replyPacket } from '../control/fixtures.js';
import { eventually, startDaemon } from '../intercept/daemon-helpers.js';
import { REPLY, TUPLE, linksTo } from './links-harness.js';

const KEY = new ControlAuthKey(Buffer.alloc(32, 0x61));
const OTHER_KEY = new ControlAuthKey(Buffer.alloc(32, 0x62));

/** A peer on the control port that records what each connection sent and answers as told. */
async function peer(t: TestContext, onConnection: (socket: Socket, received: Buffer[]) => void) {
  const received: Buffer[][] = [];
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    const chunks: Buffer[] = [];
    received.push(chunks);
    sockets.push(socket);
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    onConnection(socket, chunks);
  });
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, received };
}

/** The native messages in `bytes` (a legacy version record would fail to decode). */
function messagesIn(bytes: Buffer): ControlMessage[] {
  const messages: ControlMessage[] = [];
  new FrameDecoder({ onMessage: (m) => messages.push(m), onError: () => {} }).push(bytes);
  return messages;
}

const authRejections = (h: Awaited<ReturnType<typeof startDaemon>>): number =>
  (h.daemon.server.counters.rejected as Record<string, number>)[ErrorCode.CONTROL_AUTH] ?? 0;

describe('copier with --auth-file', { timeout: 30_000 }, () => {
  test('same key: connected, routes added, replies through', async (t) => {
    const h = await startDaemon(t, { admission: { key: KEY } });
    const { links, records } = linksTo(t, h.port, { authKey: KEY, connectionsPerIntercept: 2 });
    await eventually(() => links.counters.connects === 2, 'both connections');
    links.routeAdd(TUPLE);
    await eventually(() => h.daemon.core.routes.size === 1, 'the route');
    h.source.emit(replyPacket(REPLY));
    await eventually(() => records.length === 1, 'the reply');
    assert.deepEqual(records[0], replyHeaders(REPLY));
    assert.equal(h.daemon.server.counters.authenticated, 2);
    assert.equal(links.counters.authFailures, 0);
    assert.equal(links.authFailure, undefined);
  });

  const refusals: [string, ControlAuthKey | undefined, ControlAuthKey | undefined, RegExp][] = [
    ['another key', KEY, OTHER_KEY, /does not match our key/],
    ['a key on the copier only', KEY, undefined, /does not authenticate/],
    ['a key on the intercept only', undefined, KEY, /requires authentication/],
  ];
  for (const [name, copierKey, interceptKey, why] of refusals) {
    test(`${name}: refused on both sides with TCPCOPY_ERR_CONTROL_AUTH, never ready, no route`, async (t) => {
      const h = await startDaemon(t, { admission: { key: interceptKey } });
      const { links, logs } = linksTo(t, h.port, { authKey: copierKey, connectionsPerIntercept: 2 });
      await eventually(() => links.counters.authFailures >= 2 && authRejections(h) >= 2, 'refusals on both sides');
      assert.equal(links.readyCount, 0);
      assert.equal(links.counters.connects, 0);
      assert.equal(links.authFailure?.code, ErrorCode.CONTROL_AUTH);
      assert.match(links.authFailure?.message ?? '', new RegExp(`^intercept 127.0.0.1:${h.port} `));
      assert.match(links.authFailure?.message ?? '', why);
      assert.ok(logs.some((l) => l.includes(ErrorCode.CONTROL_AUTH) && l.includes(`127.0.0.1:${h.port}`)));
      assert.ok(h.logs.some((l) => l.includes(ErrorCode.CONTROL_AUTH) && l.includes('"peer":"127.0.0.1:')));
      links.routeAdd(TUPLE);
      assert.equal(links.counters.routeAddsUnsent, 1);
      assert.equal(h.daemon.core.routes.size, 0);
      assert.equal(h.daemon.server.counters.legacy, 0, 'auto never fell back to the legacy protocol');
    });
  }

  for (const behaviour of ['stays silent', 'closes'] as const) {
    test(`auto: a peer that ${behaviour} on our hello (upstream's C intercept) is refused, not spoken legacy to`, async (t) => {
      const c = await peer(t, (socket) => {
        if (behaviour === 'closes') socket.once('data', () => socket.destroy());
      });
      const { links, logs } = linksTo(t, c.port, { authKey: KEY, connectionsPerIntercept: 2 });
      await eventually(() => links.counters.authFailures >= 2, 'refusals', 8000);
      assert.equal(links.readyCount, 0);
      assert.equal(links.authFailure?.code, ErrorCode.CONTROL_AUTH);
      assert.ok(!logs.some((l) => l.includes('legacy')), 'no fall-back to the legacy protocol');
      for (const chunks of c.received) {
        const bytes = Buffer.concat(chunks);
        assert.ok(bytes.length === 0 || bytes.readUInt32BE(0) !== 0, 'never a legacy version record');
      }
    });
  }

  test('a stranger posing as an intercept learns no copier proof and no route', async (t) => {
    // It answers every hello with a made-up nonce and proof.
    const stranger = await peer(t, (socket) =>
      socket.once('data', () =>
        socket.write(
          encodeFrame({
            type: ControlMessageType.Hello,
            version: 2,
            role: 'intercept',
            instanceId: 'stranger',
            software: 'x',
            auth: Buffer.alloc(64, 0x33),
          }),
        ),
      ),
    );
    const { links } = linksTo(t, stranger.port, { authKey: KEY, connectionsPerIntercept: 2 });
    links.routeAdd(TUPLE);
    await eventually(() => links.counters.authFailures >= 2, 'refusals');
    assert.match(links.authFailure?.message ?? '', /does not match our key/);
    const sent = stranger.received.flatMap((chunks) => messagesIn(Buffer.concat(chunks)));
    assert.ok(sent.length > 0);
    assert.deepEqual(
      [...new Set(sent.map((m) => m.type))],
      [ControlMessageType.Hello],
      'hellos only: no proof, no route, no heartbeat',
    );
  });
});
