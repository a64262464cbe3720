import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  CONTROL_MAX_ROUTES_PER_MESSAGE,
  DecodeStatus,
  ROUTE_RECORD_BYTES,
  ResponseBatchBuilder,
  ResponseBatchCursor,
  RouteBatchBuilder,
  checkResponseBatch,
  checkRouteBatch,
  decodeIpv4,
  decodeTcp,
  newIpv4View,
  newRouteKey,
  newTcpView,
  readRoute,
  routeCount,
} from '@tcpcopy/common';
import { replyHeaders, replyPacket, replySpecArb } from './fixtures.js';

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u16 = fc.integer({ min: 0, max: 0xffff });

describe('route records', () => {
  test('builder and reader round-trip any routes, big-endian 12-byte records', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(u32, u16, u32, u16), { maxLength: 200 }), (routes) => {
        const b = new RouteBatchBuilder(1);
        for (const [ci, cp, ti, tp] of routes) b.add(ci, cp, ti, tp);
        const buf = b.view();
        assert.equal(buf.length, routes.length * ROUTE_RECORD_BYTES);
        assert.equal(b.count, routes.length);
        assert.equal(routeCount(buf), routes.length);
        assert.equal(checkRouteBatch(buf), null);
        const key = newRouteKey();
        routes.forEach(([ci, cp, ti, tp], i) => {
          readRoute(buf, i, key);
          assert.deepEqual(key, { clientIp: ci, clientPort: cp, targetIp: ti, targetPort: tp });
        });
      }),
    );
  });

  test('the documented byte layout', () => {
    const b = new RouteBatchBuilder();
    b.add(0x0a090001, 40000, 0xc0a80102, 8000);
    assert.equal(b.view().toString('hex'), '0a090001' + '9c40' + 'c0a80102' + '1f40');
  });

  test('clear() reuses the buffer; full at the per-message maximum', () => {
    const b = new RouteBatchBuilder(1);
    b.add(1, 2, 3, 4);
    b.clear();
    assert.equal(b.count, 0);
    b.add(5, 6, 7, 8);
    const key = newRouteKey();
    readRoute(b.view(), 0, key);
    assert.equal(key.clientIp, 5);
    for (let i = 1; i < CONTROL_MAX_ROUTES_PER_MESSAGE; i++) b.add(i, 1, 1, 1);
    assert.equal(b.full, true);
    assert.equal(checkRouteBatch(b.view()), null);
    b.add(0, 0, 0, 0);
    assert.match(checkRouteBatch(b.view()) ?? '', /more than/);
  });

  test('lengths that are not a multiple of 12 are rejected', () => {
    for (const n of [1, 11, 13, 23]) assert.match(checkRouteBatch(Buffer.alloc(n)) ?? '', /multiple of 12/);
    assert.equal(checkRouteBatch(Buffer.alloc(0)), null);
  });
});

describe('response records', () => {
  test('builder + cursor round-trip records of varied IHL and data offset', () => {
    fc.assert(
      fc.property(fc.array(replySpecArb, { maxLength: 40 }), (specs) => {
        const b = new ResponseBatchBuilder(8);
        const packets = specs.map((s) => replyPacket(s));
        specs.forEach((s, i) => b.append(packets[i]!, 0, 40 + 4 * (s.ipOptionWords! + s.tcpOptionWords!)));
        assert.equal(b.count, specs.length);
        const batch = b.view();
        assert.equal(checkResponseBatch(batch), null);
        const cursor = new ResponseBatchCursor().reset(batch);
        const ip = newIpv4View();
        const tcp = newTcpView();
        for (let i = 0; i < specs.length; i++) {
          const spec = specs[i]!;
          assert.equal(cursor.next(), true);
          assert.equal(cursor.buffer, batch, 'no copy per record');
          assert.equal(cursor.length, 40 + 4 * (spec.ipOptionWords! + spec.tcpOptionWords!));
          assert.deepEqual(
            cursor.buffer.subarray(cursor.offset, cursor.offset + cursor.length),
            packets[i]!.subarray(0, cursor.length),
          );
          // The payload is stripped but derivable from the total length, as the copier reads it.
          assert.equal(decodeIpv4(cursor.buffer, cursor.offset, cursor.length, ip), DecodeStatus.Ok);
          assert.equal(decodeTcp(cursor.buffer, ip, tcp), DecodeStatus.Ok);
          assert.equal(tcp.payloadLength, spec.payloadLength);
          assert.equal(tcp.seq, spec.seq);
        }
        assert.equal(cursor.next(), false);
      }),
    );
  });

  test('a builder grows past its initial size and is reused after clear()', () => {
    const b = new ResponseBatchBuilder(1);
    const h = replyHeaders({ tcpOptionWords: 3 });
    for (let i = 0; i < 100; i++) b.append(h, 0, h.length);
    assert.equal(b.byteLength, 100 * (2 + h.length));
    b.clear();
    assert.equal(b.count, 0);
    assert.equal(b.byteLength, 0);
    const h2 = replyHeaders({ ipOptionWords: 2 });
    b.append(h2, 0, h2.length);
    const cursor = new ResponseBatchCursor().reset(b.view());
    assert.equal(cursor.next(), true);
    assert.equal(cursor.length, h2.length);
    assert.equal(cursor.next(), false);
  });

  test('records are copied from an offset inside a larger capture buffer', () => {
    const packet = replyPacket({ payloadLength: 10 });
    const capture = Buffer.concat([Buffer.alloc(14, 0xee), packet]);
    const b = new ResponseBatchBuilder();
    b.append(capture, 14, 40);
    assert.deepEqual(b.view(), Buffer.concat([Buffer.from([0, 40]), packet.subarray(0, 40)]));
  });

  test('the cursor stops cleanly on unvalidated, cut batches', () => {
    const b = new ResponseBatchBuilder();
    const h = replyHeaders();
    b.append(h, 0, h.length);
    b.append(h, 0, h.length);
    const whole = Buffer.from(b.view());
    for (let cut = 0; cut < whole.length; cut++) {
      const cursor = new ResponseBatchCursor().reset(whole.subarray(0, cut));
      let n = 0;
      while (cursor.next()) n++;
      assert.equal(n, cut >= 42 ? 1 : 0, `cut ${cut}`);
      assert.equal(checkResponseBatch(whole.subarray(0, cut)) === null, cut === 0 || cut === 42, `cut ${cut}`);
    }
  });
});

describe('response records: merging contiguous data', () => {
  const merged = (
    specs: Parameters<typeof replyHeaders>[0][],
  ): { builder: ResponseBatchBuilder; results: boolean[] } => {
    const builder = new ResponseBatchBuilder();
    const results = specs.map((spec) => {
      const h = replyHeaders(spec);
      return builder.appendMerging(h, 0, h.length);
    });
    return { builder, results };
  };
  const only = (
    builder: ResponseBatchBuilder,
  ): { seq: number; ack: number; window: number; payload: number; flags: number } => {
    const cursor = new ResponseBatchCursor().reset(builder.view());
    assert.ok(cursor.next());
    const ip = newIpv4View();
    const tcp = newTcpView();
    assert.equal(decodeIpv4(cursor.buffer, cursor.offset, cursor.length, ip), DecodeStatus.Ok);
    assert.equal(decodeTcp(cursor.buffer, ip, tcp), DecodeStatus.Ok);
    assert.ok(!cursor.next(), 'one record');
    return { seq: tcp.seq, ack: tcp.ack, window: tcp.window, payload: tcp.payloadLength, flags: tcp.flags };
  };

  test('data continuing the last record joins it: its seq, both lengths, the newer ack, window and flags', () => {
    const { builder, results } = merged([
      { seq: 0xfffffff0, payloadLength: 1000, ack: 5, window: 100 },
      { seq: (0xfffffff0 + 1000) >>> 0, payloadLength: 500, ack: 9, window: 300, flags: 0x18 },
    ]);
    assert.deepEqual(results, [false, true]);
    assert.equal(builder.count, 1);
    assert.deepEqual(only(builder), { seq: 0xfffffff0, ack: 9, window: 300, payload: 1500, flags: 0x18 });
    assert.equal(checkResponseBatch(builder.view()), null);
  });

  test('a gap, a retransmission, another flow, other option lengths, a FIN, a pure ACK or an overflowing length stay records of their own', () => {
    const first = { seq: 1000, payloadLength: 100 };
    const big = { seq: 1000, payloadLength: 40_000 };
    const cases: [string, Parameters<typeof replyHeaders>[0]][] = [
      ['gap', { seq: 1101, payloadLength: 100 }],
      ['retransmission', { seq: 1000, payloadLength: 100 }],
      ['another flow', { seq: 1100, payloadLength: 100, dstPort: 40001 }],
      ['other header length', { seq: 1100, payloadLength: 100, tcpOptionWords: 3 }],
      ['FIN', { seq: 1100, payloadLength: 100, flags: 0x11 }],
      ['pure ACK', { seq: 1100, payloadLength: 0 }],
      ['over 65535 bytes', { seq: 41_000, payloadLength: 30_000 }],
    ];
    for (const [name, next] of cases) {
      const { builder, results } = merged([name === 'over 65535 bytes' ? big : first, next]);
      assert.deepEqual(results, [false, false], name);
      assert.equal(builder.count, 2, name);
    }
  });

  test('property: a merged batch covers the same bytes of each flow as the records appended', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            gap: fc.boolean(),
            port: fc.integer({ min: 0, max: 1 }),
            length: fc.integer({ min: 0, max: 1400 }),
          }),
          { maxLength: 40 },
        ),
        (steps) => {
          const builder = new ResponseBatchBuilder();
          const next = [5000, 9000];
          const sent = [0, 0];
          for (const step of steps) {
            const seq = next[step.port]! + (step.gap ? 7 : 0);
            const h = replyHeaders({ seq, payloadLength: step.length, dstPort: 40000 + step.port });
            builder.appendMerging(h, 0, h.length);
            next[step.port] = seq + step.length;
            sent[step.port]! += step.length;
          }
          const got = [0, 0];
          const cursor = new ResponseBatchCursor().reset(builder.view());
          const ip = newIpv4View();
          const tcp = newTcpView();
          while (cursor.next()) {
            decodeIpv4(cursor.buffer, cursor.offset, cursor.length, ip);
            decodeTcp(cursor.buffer, ip, tcp);
            got[tcp.dstPort - 40000]! += tcp.payloadLength;
          }
          assert.deepEqual(got, sent);
        },
      ),
    );
  });
});
