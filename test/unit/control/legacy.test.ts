/**
 * The legacy (upstream C, protocol version 6) control protocol. The fixtures are written byte by
 * byte from upstream's packed structs (src/communication/tc_msg.h of tcpcopy 1.3 / intercept
 * 1.0: msg_clt_t, 14 bytes; msg_server_t, a 20-byte iphdr, a 20-byte tcphdr and 24 bytes of
 * options), not produced by our encoders, so a test here fails when our layout drifts from theirs.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  LEGACY_REPLY_RECORD_BYTES,
  LegacyReplyDecoder,
  LegacyReplyEncoder,
  LegacyRouteDecoder,
  LegacyRouteType,
  LegacyRouteWriter,
  ResponseBatchCursor,
  legacyVersionRecord,
} from '@tcpcopy/common';
import { ControlError, ErrorCode } from '@tcpcopy/common/errors';
import { decodeIpv4, decodeTcp, newPacketViews, DecodeStatus } from '@tcpcopy/common/packet';
import { hex, recordsBuffer, replySpecArb, routesBuffer } from './fixtures.js';

/** msg_clt_t: clt_ip | clt_port | type | target_ip | target_port, all network order. */
const VERSION_RECORD = hex('00000000 | 0000 | 0006 | 00000000 | 0000');
const ADD_10_9_0_1_40000_TO_10_0_0_2_8000 = hex('0a090001 | 9c40 | 0001 | 0a000002 | 1f40');
const DEL_10_9_0_1_40000_TO_10_0_0_2_8000 = hex('0a090001 | 9c40 | 0002 | 0a000002 | 1f40');
const UNKNOWN_TYPE_7 = hex('0a090002 | 9c41 | 0007 | 0a000002 | 1f40');

/**
 * msg_server_t for a reply 10.0.0.2:8000 -> 10.9.0.1:40000 carrying 40 payload bytes (stripped):
 * iphdr (IHL 5, tot_len 92 = 20 + 32 + 40), tcphdr (doff 8: NOP NOP timestamps), 12 zero bytes.
 */
const REPLY_RECORD = hex(
  '45 00 005c 1234 4000 40 06 0000 0a000002 0a090001' +
    '1f40 9c40 000003e8 000007d0 80 10 ffff 0000 0000' +
    '0101080a 00000064 000000c8' +
    '000000000000000000000000',
);
/** The same reply as a native record's headers would hold it (20 + 32 bytes). */
const REPLY_HEADERS = REPLY_RECORD.subarray(0, 52);

function walk(records: Buffer): { headers: Buffer[]; payloads: number[] } {
  const cursor = new ResponseBatchCursor().reset(records);
  const { ip, tcp } = newPacketViews();
  const headers: Buffer[] = [];
  const payloads: number[] = [];
  while (cursor.next()) {
    headers.push(Buffer.from(cursor.buffer.subarray(cursor.offset, cursor.offset + cursor.length)));
    assert.equal(decodeIpv4(cursor.buffer, cursor.offset, cursor.length, ip), DecodeStatus.Ok);
    assert.equal(decodeTcp(cursor.buffer, ip, tcp), DecodeStatus.Ok);
    payloads.push(tcp.payloadLength);
  }
  return { headers, payloads };
}

function decodeReplies(chunks: readonly Buffer[]): { batches: Buffer[]; errors: ControlError[] } {
  const batches: Buffer[] = [];
  const errors: ControlError[] = [];
  const decoder = new LegacyReplyDecoder({
    onRecords: (records) => batches.push(Buffer.from(records)),
    onError: (err) => errors.push(err),
  });
  for (const chunk of chunks) decoder.push(chunk);
  return { batches, errors };
}

/** Every way of cutting `stream` in two, and byte by byte. */
function splits(stream: Buffer): Buffer[][] {
  const out: Buffer[][] = [[stream], [...stream].map((b) => Buffer.from([b]))];
  for (let i = 1; i < stream.length; i++) out.push([stream.subarray(0, i), stream.subarray(i)]);
  return out;
}

describe('legacy protocol, copier -> intercept (msg_clt_t)', () => {
  test('the version record and a CLIENT_ADD are the upstream bytes', () => {
    assert.deepEqual(legacyVersionRecord(), VERSION_RECORD);
    const writer = new LegacyRouteWriter();
    writer.add(LegacyRouteType.ClientAdd, 0x0a090001, 40000, 0x0a000002, 8000);
    writer.add(LegacyRouteType.ClientDel, 0x0a090001, 40000, 0x0a000002, 8000);
    assert.equal(writer.count, 2);
    assert.deepEqual(
      writer.view(),
      Buffer.concat([ADD_10_9_0_1_40000_TO_10_0_0_2_8000, DEL_10_9_0_1_40000_TO_10_0_0_2_8000]),
    );
  });

  test('a stream split anywhere gives the version, the routes as native batches and the unknown type', () => {
    const stream = Buffer.concat([
      VERSION_RECORD,
      ADD_10_9_0_1_40000_TO_10_0_0_2_8000,
      UNKNOWN_TYPE_7,
      DEL_10_9_0_1_40000_TO_10_0_0_2_8000,
    ]);
    const route = routesBuffer([[0x0a090001, 40000, 0x0a000002, 8000]]);
    for (const chunks of splits(stream)) {
      const versions: number[] = [];
      const adds: Buffer[] = [];
      const dels: Buffer[] = [];
      const unknown: number[] = [];
      const decoder = new LegacyRouteDecoder({
        onVersion: (v) => versions.push(v),
        onRoutes: (a, d) => {
          if (a.length > 0) adds.push(Buffer.from(a));
          if (d.length > 0) dels.push(Buffer.from(d));
        },
        onUnknownType: (t) => unknown.push(t),
        onError: (err) => assert.fail(err),
      });
      for (const chunk of chunks) decoder.push(chunk);
      assert.deepEqual(versions, [6]);
      assert.deepEqual(Buffer.concat(adds), route);
      assert.deepEqual(Buffer.concat(dels), route);
      assert.deepEqual(unknown, [7]);
    }
  });

  test('another version is reported and served, as upstream only warns', () => {
    const versions: number[] = [];
    const decoder = new LegacyRouteDecoder({
      onVersion: (v) => versions.push(v),
      onRoutes: () => {},
      onUnknownType: () => {},
      onError: (err) => assert.fail(err),
    });
    decoder.push(hex('00000000 0000 0005 00000000 0000'));
    assert.deepEqual(versions, [5]);
    assert.equal(decoder.failed, false);
  });

  test('a stream that does not open with a version record is refused (a pre-2013 copier)', () => {
    const errors: ControlError[] = [];
    const decoder = new LegacyRouteDecoder({
      onVersion: () => assert.fail('no version record was sent'),
      onRoutes: () => assert.fail('nothing is routed for a refused copier'),
      onUnknownType: () => {},
      onError: (err) => errors.push(err),
    });
    decoder.push(Buffer.concat([ADD_10_9_0_1_40000_TO_10_0_0_2_8000, ADD_10_9_0_1_40000_TO_10_0_0_2_8000]));
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.code, ErrorCode.CONTROL_VERSION);
    assert.equal(decoder.failed, true);
  });
});

describe('legacy protocol, intercept -> copier (msg_server_t)', () => {
  test('combined frames and bare records, split anywhere, give the native headers and payload lengths', () => {
    const stream = Buffer.concat([
      hex('0002'),
      REPLY_RECORD,
      REPLY_RECORD,
      REPLY_RECORD, // a bare record, as builds without TC_COMBINED send them
      hex('0001'),
      REPLY_RECORD,
    ]);
    for (const chunks of splits(stream)) {
      const { batches, errors } = decodeReplies(chunks);
      assert.deepEqual(errors, []);
      const { headers, payloads } = walk(Buffer.concat(batches));
      assert.deepEqual(headers, [REPLY_HEADERS, REPLY_HEADERS, REPLY_HEADERS, REPLY_HEADERS]);
      assert.deepEqual(payloads, [40, 40, 40, 40]);
    }
  });

  test('options upstream cut at 44 bytes: the header ends at the last whole option, the payload length kept', () => {
    // doff 15: NOP NOP TS, NOP NOP SACK with 3 blocks (26 bytes); the record holds the first 24
    // option bytes. tot_len 140 = 20 + 60 + 60 bytes of payload.
    const record = Buffer.from(REPLY_RECORD);
    record.writeUInt16BE(140, 2);
    record[20 + 12] = 0xf0;
    hex('0101080a 00000064 000000c8 0101 051a 00000001 00000002 0000').copy(record, 40);
    const { batches, errors } = decodeReplies([hex('0001'), record]);
    assert.deepEqual(errors, []);
    const { headers, payloads } = walk(Buffer.concat(batches));
    assert.equal(headers[0]!.length, 20 + 32, 'NOP NOP TS NOP NOP is 14 bytes: 12 of them are whole words');
    assert.equal(headers[0]![32]! >> 4, 8);
    assert.deepEqual(payloads, [60]);
  });

  test('IP options upstream dropped but left in IHL: the TCP header is read at 20, the payload length kept', () => {
    const record = Buffer.from(REPLY_RECORD);
    record[0] = 0x46;
    record.writeUInt16BE(96, 2); // 24 + 32 + 40
    const { headers, payloads } = walk(Buffer.concat(decodeReplies([record]).batches));
    assert.equal(headers[0]![0], 0x45);
    assert.deepEqual(payloads, [40]);
  });

  test('a count of 0 or above 16 is a broken stream; the records before it are still delivered', () => {
    for (const count of ['0000', '0011', 'ffff']) {
      const { batches, errors } = decodeReplies([Buffer.concat([hex('0001'), REPLY_RECORD, hex(count), REPLY_RECORD])]);
      assert.equal(errors.length, 1, count);
      assert.equal(errors[0]!.code, ErrorCode.CONTROL_MALFORMED);
      assert.equal(walk(Buffer.concat(batches)).headers.length, 1);
    }
  });

  test('a record that is not IPv4/TCP is a broken stream', () => {
    const record = Buffer.from(REPLY_RECORD);
    record[20 + 12] = 0x40; // data offset 4
    assert.equal(decodeReplies([hex('0001'), record]).errors.length, 1);
  });
});

describe('legacy protocol, our intercept writing for a C copier', () => {
  test('a native record becomes the upstream record, and 17 records two combined frames', () => {
    const native = recordsBuffer([{ payloadLength: 40, options: { timestamps: { val: 100, ecr: 200 } } }]);
    const encoder = new LegacyReplyEncoder();
    const one = Buffer.from(encoder.encode(native));
    assert.equal(one.length, 2 + LEGACY_REPLY_RECORD_BYTES);
    assert.equal(one.readUInt16BE(0), 1);
    const ours = one.subarray(2);
    // Everything but the IP ID and checksum, which the test builder chooses.
    assert.deepEqual(ours.subarray(0, 4), REPLY_RECORD.subarray(0, 4));
    assert.deepEqual(ours.subarray(8, 10), REPLY_RECORD.subarray(8, 10));
    assert.deepEqual(ours.subarray(12, 36), REPLY_RECORD.subarray(12, 36));
    assert.deepEqual(ours.subarray(38), REPLY_RECORD.subarray(38));

    const seventeen = encoder.encode(Buffer.concat(Array.from({ length: 17 }, () => native)));
    assert.equal(seventeen.length, 2 * 2 + 17 * LEGACY_REPLY_RECORD_BYTES);
    assert.equal(seventeen.readUInt16BE(0), 16);
    assert.equal(seventeen.readUInt16BE(2 + 16 * LEGACY_REPLY_RECORD_BYTES), 1);
  });

  test('a TCP header over 44 bytes keeps its timestamps and the SACK blocks that fit, the payload length kept', () => {
    const native = recordsBuffer([
      {
        payloadLength: 60,
        ipOptionWords: 1,
        options: {
          timestamps: { val: 1, ecr: 2 },
          sack: [
            [10, 20],
            [30, 40],
            [50, 60],
          ],
        },
      },
    ]);
    const frames = new LegacyReplyEncoder().encode(native);
    const record = frames.subarray(2, 2 + LEGACY_REPLY_RECORD_BYTES);
    const { ip, tcp } = newPacketViews();
    assert.equal(record[0], 0x45);
    assert.equal(decodeIpv4(record, 0, 20 + 44, ip), DecodeStatus.Ok);
    assert.equal(ip.checksum, record.readUInt16BE(10));
    assert.equal(decodeTcp(record, ip, tcp), DecodeStatus.Ok);
    assert.ok(tcp.headerLength <= 44);
    assert.equal(tcp.payloadLength, 60);
    assert.equal(tcp.options.tsVal, 1);
    assert.equal(tcp.options.sackBlockCount, 1);
    // And our copier reads it back the same way.
    const back = walk(Buffer.concat(decodeReplies([frames]).batches));
    assert.deepEqual(back.payloads, [60]);
  });

  test('property: what our intercept writes, our copier reads back as the same replies', () => {
    fc.assert(
      fc.property(
        fc.array(replySpecArb, { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1, max: 97 }),
        (specs, cut) => {
          const native = recordsBuffer(
            specs.map((s) => ({ ...s, tcpOptionWords: Math.min(s.tcpOptionWords ?? 0, 6) })),
          );
          const frames = Buffer.from(new LegacyReplyEncoder().encode(native));
          const chunks = [];
          for (let i = 0; i < frames.length; i += cut) chunks.push(frames.subarray(i, i + cut));
          const { batches, errors } = decodeReplies(chunks);
          assert.deepEqual(errors, []);
          const sent = walk(native);
          const received = walk(Buffer.concat(batches));
          assert.deepEqual(received.payloads, sent.payloads);
          for (let i = 0; i < sent.headers.length; i++) {
            const s = sent.headers[i]!;
            const r = received.headers[i]!;
            const sIhl = (s[0]! & 0x0f) * 4;
            // The TCP header travels whole when it fits; the IP header loses its options only.
            assert.deepEqual(r.subarray(20), s.subarray(sIhl));
            assert.deepEqual(r.subarray(12, 20), s.subarray(12, 20));
          }
        },
      ),
    );
  });
});
