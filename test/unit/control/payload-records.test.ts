/**
 * Payload records (docs/protocol.md §3.3) and the hello feature that asks for them (§2.2): the
 * byte layout, round trips, every truncation rejected, malformed records named, and hellos
 * without the feature byte for byte what they always were.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  CONTROL_FEATURE_PAYLOAD,
  ControlMessageType,
  FrameDecoder,
  PayloadBatchBuilder,
  PayloadBatchCursor,
  checkPayloadBatch,
  decodeIpv4,
  decodeTcp,
  encodeFrame,
  newIpv4View,
  newTcpView,
  parseControlMessage,
  type ControlMessage,
  type HelloMessage,
} from '@tcpcopy/common';
import { payloadRecordsBuffer, replyHeaders, replyPacket, replySpecArb } from './fixtures.js';
import { msgpack } from './msgpack.js';

function decodeOne(frame: Buffer): ControlMessage | string {
  let out: ControlMessage | string = 'nothing decoded';
  const decoder = new FrameDecoder({ onMessage: (m) => (out = m), onError: (e) => (out = e.message) });
  decoder.push(frame);
  return out;
}

function framed(value: unknown): Buffer {
  const payload = msgpack(value);
  const frame = Buffer.alloc(4 + payload.length);
  frame.writeUInt32BE(payload.length, 0);
  payload.copy(frame, 4);
  return frame;
}

describe('payload records', () => {
  test('the documented byte layout: u16 headers length, u16 payload length, headers, payload', () => {
    const packet = replyPacket({ payload: Buffer.from('hello') });
    const b = new PayloadBatchBuilder(1);
    b.append(packet, 0, 40, 5);
    const hex = b.view().toString('hex');
    assert.equal(hex.slice(0, 8), '0028' + '0005');
    assert.equal(hex.slice(8), packet.toString('hex'));
    assert.equal(b.count, 1);
    assert.equal(b.payloadBytes, 5);
    assert.equal(checkPayloadBatch(b.view()), null);
  });

  test('builder and cursor round-trip any replies; a record decodes as the packet it was', () => {
    fc.assert(
      fc.property(fc.array(replySpecArb, { maxLength: 20 }), fc.nat(400), (specs, keep) => {
        const b = new PayloadBatchBuilder(1);
        const packets = specs.map((spec) => replyPacket(spec));
        packets.forEach((packet, i) => {
          const headersLength = replyHeaders(specs[i]).length;
          b.append(packet, 0, headersLength, Math.min(keep, packet.length - headersLength));
        });
        assert.equal(checkPayloadBatch(b.view()), null);
        const cursor = new PayloadBatchCursor().reset(b.view());
        const ip = newIpv4View();
        const tcp = newTcpView();
        for (const packet of packets) {
          assert.ok(cursor.next());
          const kept = cursor.payloadLength;
          assert.deepEqual(
            cursor.buffer.subarray(cursor.offset, cursor.payloadOffset + kept),
            packet.subarray(0, cursor.length + kept),
          );
          decodeIpv4(cursor.buffer, cursor.offset, cursor.length + kept, ip);
          decodeTcp(cursor.buffer, ip, tcp);
          assert.equal(tcp.payloadOffset, cursor.payloadOffset);
          assert.equal(tcp.capturedPayloadLength, kept);
          assert.equal(tcp.payloadLength, packet.length - cursor.length);
        }
        assert.equal(cursor.next(), false);
        b.clear();
        assert.equal(b.count, 0);
        assert.equal(b.payloadBytes, 0);
      }),
    );
  });

  test('a batch cut at every byte is rejected, never read past its end', () => {
    const batch = payloadRecordsBuffer([{ payloadLength: 30 }, { tcpOptionWords: 2, payloadLength: 7 }]);
    const ends = new Set([0, 4 + 40 + 30, batch.length]);
    for (let cut = 0; cut <= batch.length; cut++) {
      const part = batch.subarray(0, cut);
      if (ends.has(cut)) assert.equal(checkPayloadBatch(part), null, `cut ${cut}`);
      else assert.match(checkPayloadBatch(part) ?? '', /truncated|overruns/, `cut ${cut}`);
      const cursor = new PayloadBatchCursor().reset(part);
      let n = 0;
      while (cursor.next()) n++;
      assert.equal(n, [...ends].filter((e) => e > 0 && e <= cut).length, `cut ${cut}`);
    }
  });

  test('malformed records are named', () => {
    const good = payloadRecordsBuffer([{ payloadLength: 10 }]);
    const cases: [string, (b: Buffer) => void, RegExp][] = [
      ['payload longer than the total length leaves', (b) => b.writeUInt16BE(11, 2), /more than its IPv4 total length/],
      ['headers length below 40', (b) => b.writeUInt16BE(39, 0), /headers length 39/],
      ['not IPv4', (b) => (b[4] = 0x65), /not IPv4/],
      ['data offset disagrees', (b) => (b[4 + 20 + 12] = 0x60), /IHL and data offset/],
    ];
    for (const [what, spoil, pattern] of cases) {
      const b = Buffer.from(good);
      spoil(b);
      assert.match(checkPayloadBatch(b) ?? '', pattern, what);
      const frame = framed({ type: ControlMessageType.PayloadResponses, records: b });
      assert.match(String(decodeOne(frame)), pattern, `${what}, in a frame`);
    }
  });
});

describe('hello feature negotiation', () => {
  const hello: HelloMessage = {
    type: ControlMessageType.Hello,
    version: 2,
    role: 'copier',
    instanceId: 'a',
    software: 'b',
  };

  test('a hello that asks for nothing is byte for byte the hello of before (no features key)', () => {
    // What the encoder wrote before features existed: a map of exactly these 5 keys.
    const asBefore = Buffer.from(
      [
        '00000036 de0005',
        'a474797065 01 a776657273696f6e 02 a4726f6c65 a6636f70696572',
        'aa696e7374616e63654964 a161 a8736f667477617265 a162',
      ]
        .join('')
        .replace(/ /g, ''),
      'hex',
    );
    assert.deepEqual(encodeFrame(hello), asBefore);
    assert.deepEqual(decodeOne(asBefore), hello);
  });

  test('features round-trip, unknown names kept for the receiver to ignore', () => {
    const asking = { ...hello, features: [CONTROL_FEATURE_PAYLOAD, 'zstd-someday'] };
    assert.deepEqual(decodeOne(encodeFrame(asking)), asking);
  });

  test('a receiver ignores keys it does not know: how an older peer reads our features', () => {
    // An older build's parser never looked at `features`; ours ignores any such key the same way.
    const fromLater = { type: 1, version: 2, role: 'copier', instanceId: 'a', software: 'b', compression: ['zstd'] };
    assert.deepEqual(parseControlMessage(fromLater), hello);
  });

  test('ill-formed features are malformed', () => {
    for (const features of ['payload', [7], Array.from({ length: 17 }, () => 'x'), ['x'.repeat(33)]]) {
      assert.match(String(parseControlMessage({ ...hello, features })), /hello.features/, JSON.stringify(features));
    }
  });
});
