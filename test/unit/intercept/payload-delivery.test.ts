/**
 * Reply payloads on a real InterceptDaemon (loopback control socket, fake capture): only a copier
 * that asked in its hello gets payload records, another keeps header records; the capture keeps
 * whole packets only while such a copier is connected; the copier's InterceptLinks ask with
 * wantPayloads and hand the records to onPayloadRecords.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CONTROL_FEATURE_PAYLOAD,
  ControlMessageType,
  PayloadBatchCursor,
  RESPONSE_MAX_HEADERS_BYTES,
  TcpFlag,
  createLogger,
} from '@tcpcopy/common';
import { InterceptLinks } from '@tcpcopy/copier/daemon';
import { Batcher, BatchAppend } from '@tcpcopy/intercept';
import { replyHeaders, replyPacket, routesBuffer } from '../control/fixtures.js';
import { FakeSource, TestCopier, eventually, startDaemon } from './daemon-helpers.js';

// replyPacket's defaults: the target 10.0.0.2:8000 answering the fake client 10.9.0.1:40000.
const CLIENT_IP = 0x0a090001;
const TARGET_IP = 0x0a000002;
const TARGET_PORT = 8000;
const routeAdd = (clientPort: number) =>
  ({
    type: ControlMessageType.RouteAdd,
    routes: routesBuffer([[CLIENT_IP, clientPort, TARGET_IP, TARGET_PORT]]),
  }) as const;
const answer = (dstPort: number, seq: number, text: string): Buffer =>
  replyPacket({ dstPort, seq, flags: TcpFlag.ACK | TcpFlag.PSH, payload: Buffer.from(text) });

/** A capture whose snap length can change, recording every change. */
class SnappingSource extends FakeSource {
  readonly snaps: number[] = [];
  setSnapLength(snapLength: number): void {
    this.snaps.push(snapLength);
  }
}

/** Every payload record received: its headers and payload (copies). */
function payloadRecords(c: TestCopier): { headers: Buffer; payload: Buffer }[] {
  const out: { headers: Buffer; payload: Buffer }[] = [];
  const cursor = new PayloadBatchCursor();
  for (const m of c.messages) {
    if (m.type !== ControlMessageType.PayloadResponses) continue;
    cursor.reset(m.records);
    while (cursor.next()) {
      out.push({
        headers: Buffer.from(cursor.buffer.subarray(cursor.offset, cursor.offset + cursor.length)),
        payload: Buffer.from(cursor.buffer.subarray(cursor.payloadOffset, cursor.payloadOffset + cursor.payloadLength)),
      });
    }
  }
  return out;
}

describe('reply payloads', { timeout: 30_000 }, () => {
  test('only the connection that asked gets payload records; another gets header records', async (t) => {
    const source = new SnappingSource();
    const h = await startDaemon(t, { source });
    const asking = await TestCopier.ready(t, h.port, undefined, [CONTROL_FEATURE_PAYLOAD, 'unknown-feature']);
    const plain = await TestCopier.ready(t, h.port);
    assert.deepEqual(asking.hello?.features, [CONTROL_FEATURE_PAYLOAD], 'granted what it knows, nothing else');
    assert.equal(plain.hello?.features, undefined, 'a hello that asked for nothing gets none back');
    asking.send(routeAdd(40000));
    await asking.sync();
    plain.send(routeAdd(40001));
    await plain.sync();
    // Contiguous data of one flow: header records merge, payload records never do.
    h.source.emit(answer(40000, 1000, 'HTTP/1.1 200 OK\r\n'));
    h.source.emit(answer(40000, 1017, 'hello'));
    h.source.emit(answer(40001, 1000, 'HTTP/1.1 200 OK\r\n'));
    h.source.emit(answer(40001, 1017, 'hello'));
    await eventually(() => payloadRecords(asking).length === 2, 'two payload records');
    const [first, second] = payloadRecords(asking);
    assert.deepEqual(
      first!.headers,
      replyHeaders({
        dstPort: 40000,
        seq: 1000,
        flags: TcpFlag.ACK | TcpFlag.PSH,
        payload: Buffer.from('HTTP/1.1 200 OK\r\n'),
      }),
    );
    assert.equal(Buffer.concat([first!.payload, second!.payload]).toString(), 'HTTP/1.1 200 OK\r\nhello');
    const headers = await plain.waitForRecords(1);
    assert.equal(headers.length, 1, 'merged into one header record');
    assert.equal(headers[0]!.length, 40, 'headers only');
    assert.equal(headers[0]!.readUInt16BE(2), 40 + 22, 'total length of both segments');
    assert.ok(!asking.messages.some((m) => m.type === ControlMessageType.Responses));
    assert.ok(!plain.messages.some((m) => m.type === ControlMessageType.PayloadResponses));
    const stats = h.daemon.stats();
    assert.equal(stats.sent.payloadBytesSent, 22);
    assert.equal(stats.sent.payloadConnections, 1);
    assert.deepEqual(source.snaps, [65535]);
  });

  test('the capture keeps whole packets from the first payload copier until the last one leaves', async (t) => {
    const source = new SnappingSource();
    const h = await startDaemon(t, { source });
    const plain = await TestCopier.ready(t, h.port);
    await plain.sync();
    assert.deepEqual(source.snaps, [], 'a headers-only copier changes nothing');
    const a = await TestCopier.ready(t, h.port, undefined, [CONTROL_FEATURE_PAYLOAD]);
    await a.sync();
    const b = await TestCopier.ready(t, h.port, undefined, [CONTROL_FEATURE_PAYLOAD]);
    await b.sync();
    assert.deepEqual(source.snaps, [65535], 'widened once, for the first');
    a.socket.destroy();
    await eventually(() => h.daemon.payloadCapture.connections === 1, 'a gone');
    assert.deepEqual(source.snaps, [65535]);
    b.socket.destroy();
    await eventually(() => source.snaps.length === 2, 'back to headers');
    assert.deepEqual(source.snaps, [65535, RESPONSE_MAX_HEADERS_BYTES]);
    plain.socket.destroy();
    await eventually(() => h.daemon.server.connectionCount === 0, 'all closed');
    assert.deepEqual(source.snaps, [65535, RESPONSE_MAX_HEADERS_BYTES]);
  });

  test("the copier's links ask with wantPayloads and deliver through onPayloadRecords", async (t) => {
    const h = await startDaemon(t);
    const payloads: string[] = [];
    let headerBatches = 0;
    const links = new InterceptLinks({
      intercepts: [{ ip: 0x7f000001, port: h.port }],
      connectionsPerIntercept: 1,
      protocol: 'native',
      instanceId: 'test',
      software: 'test',
      log: createLogger({ name: 'tcpcopy', level: 'debug', stderr: { write: () => {} } }),
      wantPayloads: true,
      onRecords: () => headerBatches++,
      onPayloadRecords: (batch) => {
        const cursor = new PayloadBatchCursor().reset(batch);
        let n = 0;
        for (; cursor.next(); n++) {
          payloads.push(
            cursor.buffer.toString('latin1', cursor.payloadOffset, cursor.payloadOffset + cursor.payloadLength),
          );
        }
        return n;
      },
    });
    t.after(() => links.close());
    links.start();
    await eventually(() => links.readyCount === 1, 'link ready');
    links.routeAdd({ srcIp: CLIENT_IP, srcPort: 40000, dstIp: TARGET_IP, dstPort: TARGET_PORT });
    await eventually(() => h.daemon.core.routes.size === 1, 'route registered');
    h.source.emit(answer(40000, 1000, 'body bytes'));
    await eventually(() => payloads.length === 1, 'payload record');
    assert.deepEqual(payloads, ['body bytes']);
    assert.equal(headerBatches, 0);
    assert.equal(links.perIntercept[0]!.records, 1);
  });
});

describe('batcher with payload records', () => {
  test('never merged, counted in payload bytes, and dropped above the high-water mark', () => {
    let pending = 0;
    const batcher = new Batcher(
      () => pending,
      { highWaterBytes: 1000 },
      (conn) => conn === 1,
    );
    const p1 = replyPacket({ seq: 1, flags: TcpFlag.ACK, payload: Buffer.alloc(100, 1) });
    const p2 = replyPacket({ seq: 101, flags: TcpFlag.ACK, payload: Buffer.alloc(50, 2) });
    for (const conn of [1, 2]) {
      assert.equal(batcher.append(conn, p1, 0, 40, 100), BatchAppend.Queued);
      assert.equal(batcher.append(conn, p2, 0, 40, 50), conn === 1 ? BatchAppend.Queued : BatchAppend.Merged);
    }
    assert.equal(batcher.pendingRecords(1), 2);
    assert.equal(batcher.pendingPayloadBytes(1), 150);
    assert.equal(batcher.pendingRecords(2), 1);
    assert.equal(batcher.pendingPayloadBytes(2), 0);
    let sent = Buffer.alloc(0);
    batcher.flush(1, (records) => (sent = Buffer.from(records)));
    assert.equal(sent.length, 2 * 4 + 40 + 100 + 40 + 50);
    pending = 1001;
    assert.equal(batcher.append(1, p1, 0, 40, 100), BatchAppend.Dropped);
  });
});
