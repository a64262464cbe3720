/**
 * An authenticating intercept (--auth-file, --allow) on loopback against copiers and strangers
 * written byte by byte: who gets routes added and records back, what is refused with which code,
 * what is counted and logged with the peer's address, and that a paired copier sees none of it.
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type AddressInfo } from 'node:net';
import {
  CONTROL_AUTH_NONCE_BYTES,
  CONTROL_PROTOCOL_VERSION,
  ControlAuthKey,
  ControlMessageType,
  ErrorCode,
  FrameDecoder,
  TcpFlag,
  type HelloMessage,
} from '@tcpcopy/common';
import { hex, replyHeaders, replyPacket, type ReplySpec, routesBuffer } from '../control/fixtures.js';
import { TestCopier, eventually, startDaemon, type Harness } from './daemon-helpers.js';

const KEY = new ControlAuthKey(Buffer.alloc(32, 0x4b));
const OTHER_KEY = new ControlAuthKey(Buffer.alloc(32, 0x4c));
// replyPacket's defaults: the target 10.0.0.2:8000 answering the fake client 10.9.0.1:40000.
const routeAdd = (clientPort: number) =>
  ({
    type: ControlMessageType.RouteAdd,
    routes: routesBuffer([[0x0a090001, clientPort, 0x0a000002, 8000]]),
  }) as const;
const reply = (seq: number, dstPort: number): ReplySpec => ({
  seq,
  dstPort,
  flags: TcpFlag.ACK | TcpFlag.PSH,
  payloadLength: 10,
});
/** Upstream tcpcopy's opening: its version record, then a CLIENT_ADD for 10.9.0.1:40009. */
const LEGACY_OPENING = hex('00000000 0000 0006 00000000 0000 | 0a090001 9c49 0001 0a000002 1f40');

function hello(auth: Buffer | undefined, version = CONTROL_PROTOCOL_VERSION): HelloMessage {
  return { type: ControlMessageType.Hello, version, role: 'copier', instanceId: 'stranger', software: 'x', auth };
}

/** A copier that proved the key, with a route whose replies it receives. */
async function pairedCopier(t: TestContext, h: Harness): Promise<TestCopier> {
  const c = await TestCopier.ready(t, h.port, KEY);
  c.send(routeAdd(40000));
  await c.sync();
  return c;
}

/** Each reply to the paired copier's route reaches it; nothing reaches `others`. */
async function stillPaired(h: Harness, paired: TestCopier, seq: number): Promise<void> {
  h.source.emit(replyPacket(reply(seq, 40000)));
  await eventually(() => paired.records().some((r) => r.equals(replyHeaders(reply(seq, 40000)))), 'the reply');
}

const rejectedBy = (h: Harness, code: string): number =>
  (h.daemon.server.counters.rejected as Record<string, number>)[code] ?? 0;

describe('intercept with --auth-file', { timeout: 30_000 }, () => {
  test('a copier with the same key is served; the key is proved before routes', async (t) => {
    const h = await startDaemon(t, { admission: { key: KEY } });
    const c = await pairedCopier(t, h);
    assert.equal(c.hello?.auth?.length, 64, 'our hello carries our nonce and proof');
    await stillPaired(h, c, 1);
    assert.equal(h.daemon.server.counters.authenticated, 1);
    assert.equal(h.daemon.server.counters.ready, 1);
    assert.ok(h.logs.some((l) => l.includes('copier connected') && l.includes('"authenticated":true')));
  });

  test('strangers get no route and no record, each refused with its code and address; the paired copier goes on', async (t) => {
    const h = await startDaemon(t, { admission: { key: KEY } });
    const paired = await pairedCopier(t, h);
    const recorded = await proofOnTheWire(t, h);
    const strangers: { name: string; run: (c: TestCopier) => void; code: string }[] = [
      { name: 'no key: a hello without auth', run: (c) => c.send(hello(undefined)), code: ErrorCode.CONTROL_AUTH },
      {
        name: 'a route right after its hello',
        run: (c) => {
          c.send(hello(Buffer.alloc(CONTROL_AUTH_NONCE_BYTES, 1)));
          c.send(routeAdd(40001));
        },
        code: ErrorCode.CONTROL_AUTH,
      },
      {
        name: 'a garbage proof',
        run: (c) => {
          c.send(hello(Buffer.alloc(CONTROL_AUTH_NONCE_BYTES, 2)));
          c.send({ type: ControlMessageType.Auth, proof: Buffer.alloc(32, 0xee) });
          c.send(routeAdd(40001));
        },
        code: ErrorCode.CONTROL_AUTH,
      },
      {
        name: "a replay of another connection's hello and proof",
        run: (c) => {
          c.send(hello(recorded.nonce));
          c.send({ type: ControlMessageType.Auth, proof: recorded.proof });
          c.send(routeAdd(40001));
        },
        code: ErrorCode.CONTROL_AUTH,
      },
      {
        name: 'a version 1 hello',
        run: (c) => c.send(hello(Buffer.alloc(CONTROL_AUTH_NONCE_BYTES), 1)),
        code: ErrorCode.CONTROL_AUTH,
      },
      {
        name: 'the intercept proof, sent back (reflection)',
        run: (c) => {
          c.send(hello(Buffer.alloc(CONTROL_AUTH_NONCE_BYTES, 3)));
          void c
            .waitFor((m) => m.type === ControlMessageType.Hello)
            .then((m) => {
              if (m.type === ControlMessageType.Hello && m.auth !== undefined)
                c.send({ type: ControlMessageType.Auth, proof: m.auth.subarray(CONTROL_AUTH_NONCE_BYTES) });
            });
        },
        code: ErrorCode.CONTROL_AUTH,
      },
    ];
    let expected = 0;
    for (const s of strangers) {
      const c = await TestCopier.connect(t, h.port);
      const peer = `127.0.0.1:${c.socket.localPort}`;
      s.run(c);
      await c.waitClosed();
      expected++;
      assert.equal(rejectedBy(h, s.code), expected, s.name);
      assert.ok(
        h.logs.some((l) => l.includes(s.code) && l.includes(peer)),
        `${s.name}: logged with ${s.code} and ${peer}`,
      );
      assert.deepEqual(c.records(), [], `${s.name}: no record`);
    }
    assert.equal(h.daemon.core.routes.size, 1, "only the paired copier's route");
    h.source.emit(replyPacket(reply(5, 40001)));
    assert.equal(h.daemon.stats().replies.unroutable, 1, "a stranger's flow has no route");
    await stillPaired(h, paired, 2);
    assert.equal(h.daemon.server.counters.authenticated, 2, 'the paired copier and the recorded one');
  });

  test('a stranger that leaves or stalls before proving is counted, and holds nothing', async (t) => {
    const h = await startDaemon(t, { admission: { key: KEY }, helloTimeoutMs: 200 });
    const paired = await pairedCopier(t, h);
    const leaver = await TestCopier.connect(t, h.port);
    leaver.send(hello(Buffer.alloc(CONTROL_AUTH_NONCE_BYTES, 4)));
    await leaver.waitFor((m) => m.type === ControlMessageType.Hello);
    leaver.socket.end();
    await eventually(() => rejectedBy(h, ErrorCode.CONTROL_AUTH) === 1, 'the leaver counted');
    assert.ok(h.logs.some((l) => l.includes('instead of proving the key')));

    const staller = await TestCopier.connect(t, h.port);
    staller.send(hello(Buffer.alloc(CONTROL_AUTH_NONCE_BYTES, 5)));
    await staller.waitClosed();
    assert.equal(h.daemon.server.counters.helloTimeouts, 1);
    assert.equal(rejectedBy(h, ErrorCode.CONTROL_AUTH), 1, 'a stall is counted once, as a timeout');
    assert.ok(h.logs.some((l) => l.includes('no proof of the key within 200 ms')));
    await stillPaired(h, paired, 3);
    assert.equal(paired.socket.destroyed, false, "the paired copier's hello timer was cleared by its proof");
  });

  test("a copier with another key: its proof is refused (and it refuses the intercept's)", async (t) => {
    const h = await startDaemon(t, { admission: { key: KEY } });
    await assert.rejects(TestCopier.ready(t, h.port, OTHER_KEY), (err: Error & { code?: string }) => {
      assert.equal(err.code, ErrorCode.CONTROL_AUTH);
      assert.match(err.message, /does not match our key/);
      return true;
    });
    // One that proves itself anyway, with its key over both nonces.
    const nonce = Buffer.alloc(CONTROL_AUTH_NONCE_BYTES, 6);
    const c = await TestCopier.connect(t, h.port);
    c.send(hello(nonce));
    const answer = await c.waitFor((m) => m.type === ControlMessageType.Hello);
    const interceptNonce = (answer as HelloMessage).auth!.subarray(0, CONTROL_AUTH_NONCE_BYTES);
    c.send({ type: ControlMessageType.Auth, proof: OTHER_KEY.proof('copier', nonce, interceptNonce) });
    c.send(routeAdd(40002));
    await c.waitClosed();
    assert.ok(h.logs.some((l) => l.includes("copier's proof does not match our key")));
    assert.ok(rejectedBy(h, ErrorCode.CONTROL_AUTH) >= 1);
    assert.equal(h.daemon.core.routes.size, 0);
  });

  test("legacy copiers (upstream's, which cannot authenticate) only from --allow's sources", async (t) => {
    const denied = await startDaemon(t, { admission: { key: KEY } });
    const c = await TestCopier.connect(t, denied.port);
    c.socket.write(LEGACY_OPENING);
    await c.waitClosed();
    assert.equal(rejectedBy(denied, ErrorCode.CONTROL_LEGACY_DENIED), 1);
    assert.ok(denied.logs.some((l) => l.includes(ErrorCode.CONTROL_LEGACY_DENIED) && l.includes('--allow')));
    assert.equal(denied.daemon.core.routes.size, 0);

    const allowed = await startDaemon(t, {
      admission: { key: KEY, allow: [{ address: 0x7f000001, prefixLength: 32 }] },
    });
    const legacy = await TestCopier.connect(t, allowed.port);
    legacy.socket.write(LEGACY_OPENING);
    await eventually(() => allowed.daemon.core.routes.size === 1, 'the legacy route');
    const native = await TestCopier.ready(t, allowed.port, KEY);
    assert.equal(native.socket.destroyed, false, '--allow does not spare natives the proof, nor refuse them');
    assert.equal(rejectedBy(allowed, ErrorCode.CONTROL_LEGACY_DENIED), 0);
  });
});

describe('intercept --allow, and an intercept without a key', { timeout: 30_000 }, () => {
  test('connections from other sources are closed at once and counted, before a byte is read', async (t) => {
    const h = await startDaemon(t, { admission: { allow: [{ address: 0x0a000000, prefixLength: 8 }] } });
    for (let i = 0; i < 3; i++) {
      const c = await TestCopier.connect(t, h.port);
      c.send(hello(undefined));
      await c.waitClosed();
      assert.deepEqual(c.messages, []);
    }
    assert.equal(h.daemon.server.counters.notAllowed, 3);
    assert.equal(h.daemon.server.counters.accepted, 0);
    assert.ok(h.logs.some((l) => l.includes('outside --allow') && l.includes('127.0.0.1:')));

    const open = await startDaemon(t, { admission: { allow: [{ address: 0x7f000000, prefixLength: 8 }] } });
    const c = await TestCopier.ready(t, open.port);
    c.send(routeAdd(40000));
    await c.sync();
    assert.equal(open.daemon.core.routes.size, 1);
    assert.equal(open.daemon.server.counters.notAllowed, 0);
  });

  test('a copier offering a key to an intercept without one is refused, told why by our hello', async (t) => {
    const h = await startDaemon(t);
    await assert.rejects(TestCopier.ready(t, h.port, KEY), /does not authenticate/);
    await eventually(() => rejectedBy(h, ErrorCode.CONTROL_AUTH) === 1, 'the refusal counted');
    assert.ok(h.logs.some((l) => l.includes('this intercept has no --auth-file')));
    const plain = await TestCopier.ready(t, h.port);
    assert.equal(plain.hello?.auth, undefined, 'without keys, hellos are as they were');
  });
});

/** An eavesdropper's record of one proved copier's exchange: its nonce and its proof. */
async function proofOnTheWire(t: TestContext, h: Harness): Promise<{ nonce: Buffer; proof: Buffer }> {
  // A relay between a copier with the key and the intercept, recording what the copier sends.
  const sent: Buffer[] = [];
  const relay = createServer((down) => {
    const up = connect({ host: '127.0.0.1', port: h.port });
    down.on('data', (chunk: Buffer) => {
      sent.push(chunk);
      up.write(chunk);
    });
    up.on('data', (chunk: Buffer) => down.write(chunk));
    down.on('error', () => up.destroy());
    up.on('error', () => down.destroy());
    t.after(() => {
      up.destroy();
      down.destroy();
    });
  });
  t.after(() => relay.close());
  const port = await new Promise<number>((resolve) =>
    relay.listen(0, '127.0.0.1', () => resolve((relay.address() as AddressInfo).port)),
  );
  const c = await TestCopier.ready(t, port, KEY);
  await c.sync();
  let nonce: Buffer | undefined;
  let proof: Buffer | undefined;
  const decoder = new FrameDecoder({
    onMessage: (m) => {
      if (m.type === ControlMessageType.Hello) nonce = m.auth;
      if (m.type === ControlMessageType.Auth) proof = m.proof;
    },
    onError: (err) => assert.fail(err),
  });
  decoder.push(Buffer.concat(sent));
  assert.ok(nonce !== undefined && proof !== undefined, 'the exchange was seen');
  return { nonce, proof };
}
