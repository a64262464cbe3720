/**
 * The intercept serving upstream's C tcpcopy (legacy protocol v6), simulated byte for byte from
 * upstream's structs: a 14-byte version record, then 14-byte CLIENT_ADD records; replies come back
 * as combined frames (u16 count, 64-byte records). Real sockets on loopback, a fake capture.
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { ControlMessageType, TcpFlag } from '@tcpcopy/common';
import { hex, replyHeaders, replyPacket, type ReplySpec, routesBuffer } from '../control/fixtures.js';
import { TestCopier, eventually, startDaemon, type Harness } from './daemon-helpers.js';

/** msg_clt_t records (clt_ip | clt_port | type | target_ip | target_port), network order. */
const VERSION = hex('00000000 | 0000 | 0006 | 00000000 | 0000');
const addOf = (clientPort: number, type = 1): Buffer => {
  const record = hex('0a090001 | 0000 | 0000 | 0a000002 | 1f40');
  record.writeUInt16BE(clientPort, 4);
  record.writeUInt16BE(type, 6);
  return record;
};
const reply = (seq: number, dstPort = 40000): ReplySpec => ({
  seq,
  dstPort,
  flags: TcpFlag.ACK | TcpFlag.PSH,
  payloadLength: 100,
  options: { timestamps: { val: 7, ecr: 9 } },
});

/** The C copier's end: raw bytes out, the combined frames it receives split into records. */
class LegacyCopier {
  private received = Buffer.alloc(0);
  readonly closed: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => (this.received = Buffer.concat([this.received, chunk])));
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  static async connect(t: TestContext, port: number): Promise<LegacyCopier> {
    const socket = connect({ host: '127.0.0.1', port });
    t.after(() => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new LegacyCopier(socket);
  }

  /** The frames received so far, each as its count and its 64-byte records. */
  frames(): { count: number; records: Buffer[] }[] {
    const out: { count: number; records: Buffer[] }[] = [];
    let at = 0;
    while (at + 2 <= this.received.length) {
      const count = this.received.readUInt16BE(at);
      const end = at + 2 + count * 64;
      if (end > this.received.length) break;
      const records = [];
      for (let r = at + 2; r < end; r += 64) records.push(this.received.subarray(r, r + 64));
      out.push({ count, records });
      at = end;
    }
    return out;
  }

  records(): Buffer[] {
    return this.frames().flatMap((f) => f.records);
  }
}

/** The record upstream's intercept makes of a reply: IPv4 header, TCP header, zeros up to 64. */
function upstreamRecordOf(spec: ReplySpec): Buffer {
  const headers = replyHeaders(spec);
  return Buffer.concat([headers, Buffer.alloc(64 - headers.length)]);
}

async function legacyReady(t: TestContext, h: Harness, opening: Buffer[]): Promise<LegacyCopier> {
  const c = await LegacyCopier.connect(t, h.port);
  for (const piece of opening) {
    c.socket.write(piece);
    await new Promise((r) => setTimeout(r, 2));
  }
  await eventually(() => h.daemon.core.routes.size > 0, 'the legacy route');
  return c;
}

describe('intercept serving upstream tcpcopy (legacy protocol)', { timeout: 30_000 }, () => {
  test('version record and CLIENT_ADD byte by byte: replies come back as upstream records in combined frames', async (t) => {
    const h = await startDaemon(t);
    const opening = Buffer.concat([VERSION, addOf(40000)]);
    const c = await legacyReady(
      t,
      h,
      [...opening].map((b) => Buffer.from([b])),
    );
    // Not contiguous, so the batcher does not merge them (it would, as GRO does, for either protocol).
    const specs = [reply(1000), reply(3000), reply(5000)];
    for (const s of specs) h.source.emit(replyPacket(s));
    await eventually(() => c.records().length === 3, 'three records');
    assert.deepEqual(c.records(), specs.map(upstreamRecordOf));
    assert.deepEqual(
      c.frames().map((f) => f.count),
      [3],
      'one burst, one combined frame',
    );
    const info = h.daemon.server.peerInfo()[0]!;
    assert.equal(info.protocol, 'legacy');
    assert.equal(info.version, 6);
    assert.equal(h.daemon.server.counters.legacy, 1);
    assert.ok(h.logs.some((l) => l.includes('copier connected (legacy protocol)')));
  });

  test('more than 16 records leave in frames of at most 16', async (t) => {
    const h = await startDaemon(t);
    const c = await legacyReady(t, h, [Buffer.concat([VERSION, addOf(40000)])]);
    for (let i = 0; i < 40; i++)
      h.source.emit(replyPacket({ ...reply(1000 + i * 100), flags: TcpFlag.ACK | TcpFlag.FIN }));
    await eventually(() => c.records().length === 40, 'forty records');
    assert.ok(c.frames().every((f) => f.count >= 1 && f.count <= 16));
  });

  test('a native copier and a C tcpcopy on one port each get their own replies', async (t) => {
    const h = await startDaemon(t);
    const legacy = await legacyReady(t, h, [Buffer.concat([VERSION, addOf(40001)])]);
    const native = await TestCopier.ready(t, h.port);
    native.send({ type: ControlMessageType.RouteAdd, routes: routesBuffer([[0x0a090001, 40000, 0x0a000002, 8000]]) });
    await native.sync();
    h.source.emit(replyPacket(reply(5000, 40000)));
    h.source.emit(replyPacket(reply(6000, 40001)));
    assert.deepEqual(await native.waitForRecords(1), [replyHeaders(reply(5000, 40000))]);
    await eventually(() => legacy.records().length === 1, 'the legacy record');
    assert.deepEqual(legacy.records(), [upstreamRecordOf(reply(6000, 40001))]);
    assert.deepEqual(
      h.daemon.server
        .peerInfo()
        .map((p) => p.protocol)
        .sort(),
      ['legacy', 'native'],
    );
  });

  test('CLIENT_DEL deletes the route, other types are counted and ignored, closing drops the routes', async (t) => {
    const h = await startDaemon(t);
    const c = await legacyReady(t, h, [Buffer.concat([VERSION, addOf(40000), addOf(40001)])]);
    await eventually(() => h.daemon.core.routes.size === 2, 'two routes');
    c.socket.write(Buffer.concat([addOf(40000, 2), addOf(40000, 9)]));
    await eventually(() => h.daemon.core.routes.size === 1, 'the route deleted');
    await eventually(() => h.daemon.server.counters.legacyUnknownTypes === 1, 'the unknown type counted');
    c.socket.end();
    await eventually(() => h.daemon.core.routes.size === 0, 'routes gone with the connection');
  });
});
