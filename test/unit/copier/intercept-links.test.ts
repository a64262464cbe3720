/**
 * The copier's control connections against intercepts of both kinds on loopback: ours (the real
 * InterceptDaemon with a fake capture) and upstream's C intercept, simulated byte for byte from
 * its structs (it reads 14-byte records after an 8-byte version check, answers nothing, and
 * sends replies as combined frames of 64-byte records). --protocol auto must tell them apart.
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { hex, replyHeaders, replyPacket } from '../control/fixtures.js';
import { eventually, startDaemon } from '../intercept/daemon-helpers.js';
import { REPLY, TUPLE, linksTo, said } from './links-harness.js';

const VERSION_RECORD = hex('00000000 | 0000 | 0006 | 00000000 | 0000');
const CLIENT_ADD = hex('0a090001 | 9c40 | 0001 | 0a000002 | 1f40');

/** A C intercept: what each connection sent, and a way to answer over the latest one. */
class SimulatedCIntercept {
  readonly received: Buffer[] = [];
  readonly sockets: Socket[] = [];
  port = 0;

  constructor(
    t: TestContext,
    private readonly onOpening: 'stay silent' | 'close' = 'stay silent',
  ) {
    const server = createServer((socket) => {
      const index = this.received.push(Buffer.alloc(0)) - 1;
      this.sockets.push(socket);
      socket.on('error', () => {});
      socket.on('data', (chunk: Buffer) => {
        this.received[index] = Buffer.concat([this.received[index]!, chunk]);
        // Upstream reads 8 bytes first: anything but zero address and port is a client "too old".
        if (this.onOpening === 'close' && this.received[index]!.subarray(0, 6).some((b) => b !== 0)) socket.destroy();
      });
    });
    t.after(() => {
      for (const s of this.sockets) s.destroy();
      server.close();
    });
    this.listening = new Promise((resolve) =>
      server.listen(0, '127.0.0.1', () => {
        this.port = (server.address() as AddressInfo).port;
        resolve();
      }),
    );
  }

  readonly listening: Promise<void>;

  /** Sends one combined frame holding upstream's record of `REPLY` on the latest connection. */
  reply(): void {
    const headers = replyHeaders(REPLY);
    const record = Buffer.concat([headers, Buffer.alloc(64 - headers.length)]);
    this.sockets.at(-1)!.write(Buffer.concat([hex('0001'), record]));
  }
}

describe('copier control connections: native and legacy intercepts', { timeout: 30_000 }, () => {
  test('auto with upstream intercept (silent on our hello): legacy from the next connection, connected on its first reply', async (t) => {
    const c = new SimulatedCIntercept(t);
    await c.listening;
    const { links, logs, records } = linksTo(t, c.port, { protocol: 'auto' });
    await eventually(() => links.readyCount === 1, 'a connection carrying routes', 5000);
    assert.equal(c.received.length, 2, 'the native attempt, then the legacy connection');
    assert.notDeepEqual(c.received[0]!.subarray(0, 4), Buffer.alloc(4), 'the first opened with a native frame');
    assert.ok(said(logs, "taking it for upstream's C intercept"));
    assert.equal(links.counters.connects, 0, 'not connected before a reply proved the protocol');
    assert.ok(!said(logs, 'connected to intercept'));

    links.routeAdd(TUPLE);
    await eventually(() => c.received[1]!.length === 28, 'the version record and a CLIENT_ADD');
    assert.deepEqual(c.received[1], Buffer.concat([VERSION_RECORD, CLIENT_ADD]));

    c.reply();
    await eventually(() => records.length === 1, 'the reply');
    assert.deepEqual(records[0], replyHeaders(REPLY));
    assert.equal(links.counters.connects, 1);
    assert.ok(said(logs, 'connected to intercept'));
    assert.equal(links.perIntercept[0]!.protocol, 'legacy');
    assert.equal(links.perIntercept[0]!.records, 1);
  });

  test('auto with a peer that closes on our hello: legacy at once', async (t) => {
    const c = new SimulatedCIntercept(t, 'close');
    await c.listening;
    const started = Date.now();
    const { links } = linksTo(t, c.port, { protocol: 'auto' });
    await eventually(() => links.readyCount === 1, 'a legacy connection', 5000);
    assert.ok(Date.now() - started < 900, 'no hello wait when the peer closes');
    assert.deepEqual(c.received.at(-1), VERSION_RECORD);
  });

  test('--protocol legacy speaks legacy from the first connection; native never falls back', async (t) => {
    const c = new SimulatedCIntercept(t);
    await c.listening;
    const legacy = linksTo(t, c.port, { protocol: 'legacy' });
    await eventually(() => legacy.links.readyCount === 1, 'a legacy connection');
    assert.deepEqual(c.received[0], VERSION_RECORD);

    const d = new SimulatedCIntercept(t);
    await d.listening;
    const native = linksTo(t, d.port, { protocol: 'native' });
    await eventually(() => said(native.logs, 'no hello from intercept'), 'the warning', 5000);
    assert.equal(native.links.readyCount, 0);
    assert.ok(d.received.every((r) => r.length === 0 || r.subarray(0, 4).some((b) => b !== 0)));
  });

  test('auto with our intercept: native, connected on its hello, replies through', async (t) => {
    const h = await startDaemon(t);
    const { links, logs, records } = linksTo(t, h.port, { protocol: 'auto' });
    await eventually(() => links.counters.connects === 1, 'connected');
    assert.equal(links.perIntercept[0]!.protocol, 'native');
    assert.ok(!said(logs, 'legacy'));
    links.routeAdd(TUPLE);
    await eventually(() => h.daemon.core.routes.size === 1, 'the route');
    h.source.emit(replyPacket(REPLY));
    await eventually(() => records.length === 1, 'the reply');
    assert.deepEqual(records[0], replyHeaders(REPLY));
  });

  test('asked for payloads (--compare), a legacy connection says it cannot carry them; a native one does not', async (t) => {
    const h = await startDaemon(t);
    const refused: string[] = [];
    const legacy = linksTo(t, h.port, {
      protocol: 'legacy',
      wantPayloads: true,
      onPayloadsRefused: (why) => refused.push(why),
    });
    await eventually(() => legacy.links.readyCount === 1, 'a legacy connection');
    assert.deepEqual(refused, ["upstream's legacy protocol cannot carry them"]);
    const native = linksTo(t, h.port, { wantPayloads: true, onPayloadsRefused: (why) => refused.push(why) });
    await eventually(() => native.links.readyCount === 1, 'a native connection');
    assert.equal(refused.length, 1, 'our intercept grants payloads');
  });

  test('a connection back after a loss gets the live routes again, of every test server, and no deleted one', async (t) => {
    const c = new SimulatedCIntercept(t);
    await c.listening;
    const { links } = linksTo(t, c.port, { protocol: 'legacy' });
    await eventually(() => links.readyCount === 1, 'a legacy connection');
    const otherTarget = { ...TUPLE, dstIp: 0x0a000003 };
    const deleted = { ...TUPLE, srcPort: 40001 };
    for (const tuple of [TUPLE, otherTarget, deleted]) links.routeAdd(tuple);
    links.routeDel(deleted);
    await eventually(() => c.received[0]!.length === VERSION_RECORD.length + 4 * 14, 'three adds and a delete');
    c.sockets[0]!.destroy();
    await eventually(() => c.received[1]?.length === VERSION_RECORD.length + 2 * 14, 'the routes again', 10_000);
    const again = c.received[1]!.subarray(VERSION_RECORD.length);
    assert.deepEqual(again.subarray(0, 14), CLIENT_ADD);
    assert.deepEqual(again.subarray(14), hex('0a090001 | 9c40 | 0001 | 0a000003 | 1f40'));
  });

  test('--protocol legacy with our intercept: it serves the legacy protocol too', async (t) => {
    const h = await startDaemon(t);
    const { links, records } = linksTo(t, h.port, { protocol: 'legacy' });
    await eventually(() => links.readyCount === 1, 'a legacy connection');
    links.routeAdd(TUPLE);
    await eventually(() => h.daemon.core.routes.size === 1, 'the route');
    h.source.emit(replyPacket(REPLY));
    await eventually(() => records.length === 1, 'the reply');
    assert.deepEqual(records[0], replyHeaders(REPLY));
    assert.equal(links.counters.connects, 1);
    links.routeDel(TUPLE);
    await eventually(() => h.daemon.core.routes.size === 0, 'CLIENT_DEL honoured by our intercept');
  });
});
