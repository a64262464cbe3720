import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  CONTROL_FRAME_HEADER_BYTES,
  CONTROL_MAX_FRAME_BYTES,
  ControlMessageType,
  FrameDecoder,
  encodeFrame,
  negotiateControlVersion,
  CONTROL_PROTOCOL_VERSION,
  type ControlMessage,
} from '@tcpcopy/common';
import { ControlError, ErrorCode } from '@tcpcopy/common/errors';
import { msgpack } from './msgpack.js';
import { SAMPLE_MESSAGES, comparable, messageArb, recordsBuffer, replyHeaders } from './fixtures.js';

interface Collected {
  decoder: FrameDecoder;
  messages: ControlMessage[];
  errors: ControlError[];
}

function collector(maxFrameBytes?: number): Collected {
  const messages: ControlMessage[] = [];
  const errors: ControlError[] = [];
  const decoder = new FrameDecoder(
    { onMessage: (m) => messages.push(m), onError: (e) => errors.push(e) },
    maxFrameBytes,
  );
  return { decoder, messages, errors };
}

function decodeChunks(chunks: readonly Buffer[]): Collected {
  const c = collector();
  for (const chunk of chunks) c.decoder.push(chunk);
  return c;
}

function assertDecodes(chunks: readonly Buffer[], expected: readonly ControlMessage[]): void {
  const c = decodeChunks(chunks);
  assert.deepEqual(c.errors, []);
  assert.deepEqual(c.messages.map(comparable), expected.map(comparable));
  assert.equal(c.decoder.bufferedBytes, 0);
}

/** A frame around an arbitrary payload, bypassing message validation. */
function rawFrame(payload: Buffer, declared = payload.length): Buffer {
  const head = Buffer.alloc(CONTROL_FRAME_HEADER_BYTES);
  head.writeUInt32BE(declared);
  return Buffer.concat([head, payload]);
}

const framed = (value: unknown): Buffer => rawFrame(msgpack(value));

/** Copies so decoded Buffers never alias a chunk the test reuses. */
function splitAt(frame: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [0, ...[...cuts].sort((a, b) => a - b), frame.length];
  const out: Buffer[] = [];
  for (let i = 1; i < points.length; i++) out.push(Buffer.from(frame.subarray(points[i - 1], points[i])));
  return out;
}

function assertRejects(chunks: readonly Buffer[], code: string, pattern?: RegExp): void {
  const c = decodeChunks(chunks);
  assert.equal(c.messages.length, 0, 'no message before the bad frame');
  assert.equal(c.errors.length, 1);
  const err = c.errors[0]!;
  assert.ok(err instanceof ControlError);
  assert.equal(err.code, code);
  if (pattern !== undefined) assert.match(err.message, pattern);
  assert.equal(c.decoder.failed, true);
  // Dead: a valid frame afterwards is ignored and no second error is reported.
  c.decoder.push(encodeFrame(SAMPLE_MESSAGES[0]!));
  c.decoder.end();
  assert.equal(c.messages.length, 0);
  assert.equal(c.errors.length, 1);
}

describe('control framing: every sample message', () => {
  for (const msg of SAMPLE_MESSAGES) {
    const frame = encodeFrame(msg);
    test(`type ${msg.type} (${frame.length} bytes): whole, byte by byte, split at every offset`, () => {
      assert.equal(frame.readUInt32BE(0), frame.length - CONTROL_FRAME_HEADER_BYTES);
      assertDecodes([frame], [msg]);
      assertDecodes(
        splitAt(
          frame,
          Array.from({ length: frame.length - 1 }, (_, i) => i + 1),
        ),
        [msg],
      );
      for (let cut = 1; cut < frame.length; cut++) assertDecodes(splitAt(frame, [cut]), [msg]);
    });
  }

  test('all samples back to back in one chunk, and the stream split at every offset', () => {
    const stream = Buffer.concat(SAMPLE_MESSAGES.map((m) => encodeFrame(m)));
    assertDecodes([stream], SAMPLE_MESSAGES);
    for (let cut = 1; cut < stream.length; cut++) assertDecodes(splitAt(stream, [cut]), SAMPLE_MESSAGES);
  });

  test('optional hello.auth is omitted from the wire when absent', () => {
    const c = decodeChunks([encodeFrame(SAMPLE_MESSAGES[0]!)]);
    assert.equal(Object.hasOwn(c.messages[0]!, 'auth'), false);
  });

  test('a frame is never cut short by a chunk ending: bytes wait in the decoder', () => {
    const frame = encodeFrame(SAMPLE_MESSAGES[6]!);
    const c = collector();
    c.decoder.push(frame.subarray(0, 2));
    assert.equal(c.decoder.bufferedBytes, 2);
    c.decoder.push(frame.subarray(2, 10));
    assert.equal(c.decoder.bufferedBytes, 10);
    assert.equal(c.messages.length + c.errors.length, 0);
  });
});

describe('control framing: properties', () => {
  test('any message sequence, concatenated and split anywhere, decodes to the same sequence', () => {
    fc.assert(
      fc.property(
        fc.array(messageArb, { minLength: 1, maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (messages, rawCuts) => {
          const stream = Buffer.concat(messages.map((m) => encodeFrame(m)));
          const cuts = rawCuts.map((c) => c % (stream.length + 1));
          assertDecodes(splitAt(stream, cuts), messages);
        },
      ),
    );
  });

  test('random bytes in random chunks never throw and stop at the first error', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 20 }), (chunks) => {
        let errors = 0;
        let afterError = 0;
        const decoder = new FrameDecoder({
          onMessage: () => {
            if (errors > 0) afterError++;
          },
          onError: (err) => {
            errors++;
            assert.ok(
              err.code === ErrorCode.CONTROL_MALFORMED || err.code === ErrorCode.CONTROL_FRAME_TOO_LARGE,
              err.code,
            );
          },
        });
        for (const chunk of chunks) decoder.push(Buffer.from(chunk));
        decoder.end();
        assert.ok(errors <= 1);
        assert.equal(afterError, 0);
        assert.equal(decoder.failed, errors === 1);
      }),
    );
  });

  test('random payloads behind a valid length prefix are rejected as malformed or parsed, never thrown', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 200 }), (payload) => {
        const c = decodeChunks([rawFrame(Buffer.from(payload))]);
        assert.equal(c.messages.length + c.errors.length, 1);
        if (c.errors.length === 1) assert.equal(c.errors[0]!.code, ErrorCode.CONTROL_MALFORMED);
      }),
    );
  });

  test('any message with its payload cut short (length prefix adjusted) is malformed', () => {
    fc.assert(
      fc.property(messageArb, fc.nat(), (msg, cutSeed) => {
        const payload = encodeFrame(msg).subarray(CONTROL_FRAME_HEADER_BYTES);
        const cut = 1 + (cutSeed % (payload.length - 1));
        assertRejects([rawFrame(payload.subarray(0, cut))], ErrorCode.CONTROL_MALFORMED);
      }),
    );
  });
});

describe('control framing: rejects', () => {
  test('declared length above the maximum, before reading the payload', () => {
    const head = Buffer.alloc(CONTROL_FRAME_HEADER_BYTES);
    head.writeUInt32BE(CONTROL_MAX_FRAME_BYTES + 1);
    assertRejects([head], ErrorCode.CONTROL_FRAME_TOO_LARGE);
    head.writeUInt32BE(0xffffffff);
    assertRejects([head.subarray(0, 1), head.subarray(1)], ErrorCode.CONTROL_FRAME_TOO_LARGE);
  });

  test('a custom maximum applies to both ends', () => {
    const msg = SAMPLE_MESSAGES[6]!;
    const frame = encodeFrame(msg);
    const c = collector(frame.length - CONTROL_FRAME_HEADER_BYTES - 1);
    c.decoder.push(frame);
    assert.equal(c.errors[0]?.code, ErrorCode.CONTROL_FRAME_TOO_LARGE);
    assert.throws(
      () => encodeFrame(msg, frame.length - CONTROL_FRAME_HEADER_BYTES - 1),
      (err: unknown): boolean => err instanceof ControlError && err.code === ErrorCode.CONTROL_FRAME_TOO_LARGE,
    );
  });

  test('a frame of length 0 (what a legacy peer starts with) is malformed', () => {
    assertRejects([Buffer.alloc(14)], ErrorCode.CONTROL_MALFORMED, /empty/);
  });

  test('a stream ending inside a frame is reported as truncated, at every cut', () => {
    const frame = encodeFrame(SAMPLE_MESSAGES[3]!);
    for (let cut = 1; cut < frame.length; cut++) {
      const c = decodeChunks([frame.subarray(0, cut)]);
      assert.equal(c.errors.length, 0);
      c.decoder.end();
      assert.equal(c.errors[0]?.code, ErrorCode.CONTROL_MALFORMED, `cut ${cut}`);
      assert.match(c.errors[0]!.message, /ended inside a frame/);
    }
    const clean = decodeChunks([frame]);
    clean.decoder.end();
    assert.equal(clean.errors.length, 0);
  });

  const header = { type: ControlMessageType.Hello, version: 1, role: 'copier', instanceId: 'a', software: 'b' };
  const malformed: [string, Buffer, RegExp][] = [
    ['bad msgpack (string cut short)', rawFrame(Buffer.from([0xa5, 0x61])), /msgpack/],
    ["msgpack's reserved 0xc1", rawFrame(Buffer.from([0xc1])), /not a map/],
    [
      'trailing bytes after the value',
      rawFrame(Buffer.concat([msgpack({ type: 2, timeMs: 1 }), Buffer.from([0])])),
      /msgpack/,
    ],
    ['not a map (array)', framed([1, 2]), /not a map/],
    ['not a map (number)', framed(5), /not a map/],
    ['not a map (binary)', framed(Buffer.from([1])), /not a map/],
    ['map without type', framed({ timeMs: 1 }), /unknown message type/],
    ['unknown type', framed({ type: 99 }), /unknown message type 99/],
    ['string type', framed({ type: 'hello' }), /unknown message type string/],
    ['hello without version', framed({ ...header, version: undefined }), /version/],
    ['hello with fractional version', framed({ ...header, version: 1.5 }), /version/],
    ['hello with version 0', framed({ ...header, version: 0 }), /version/],
    ['hello with bad role', framed({ ...header, role: 'tcpcopy' }), /role/],
    ['hello with numeric instanceId', framed({ ...header, instanceId: 7 }), /instanceId/],
    ['hello with long software', framed({ ...header, software: 'x'.repeat(129) }), /software/],
    ['hello with string auth', framed({ ...header, auth: 'proof' }), /auth/],
    ['hello with oversized auth', framed({ ...header, auth: Buffer.alloc(257) }), /auth/],
    ['heartbeat without time', framed({ type: ControlMessageType.Heartbeat }), /timeMs/],
    ['heartbeat with string time', framed({ type: ControlMessageType.Heartbeat, timeMs: '1' }), /timeMs/],
    [
      'heartbeat with u64 time (decodes as bigint)',
      framed({ type: ControlMessageType.Heartbeat, timeMs: 1n << 63n }),
      /timeMs/,
    ],
    ['routeAdd with string routes', framed({ type: ControlMessageType.RouteAdd, routes: 'abc' }), /binary/],
    ['routeAdd of 13 bytes', framed({ type: ControlMessageType.RouteAdd, routes: Buffer.alloc(13) }), /multiple of 12/],
    ['routeDel of 11 bytes', framed({ type: ControlMessageType.RouteDel, routes: Buffer.alloc(11) }), /multiple of 12/],
    ['responses without records', framed({ type: ControlMessageType.Responses }), /binary/],
    ['stats with array values', framed({ type: ControlMessageType.Stats, values: [1] }), /map/],
    ['stats with string value', framed({ type: ControlMessageType.Stats, values: { a: 'x' } }), /stats.values.a/],
    ['stats with long key', framed({ type: ControlMessageType.Stats, values: { ['k'.repeat(129)]: 1 } }), /key/],
    ['auth without proof', framed({ type: ControlMessageType.Auth }), /auth.proof/],
    ['auth with oversized proof', framed({ type: ControlMessageType.Auth, proof: Buffer.alloc(257) }), /auth.proof/],
  ];
  for (const [name, frame, pattern] of malformed) {
    test(`malformed: ${name}`, () => {
      assertRejects([frame], ErrorCode.CONTROL_MALFORMED, pattern);
      assertRejects(
        splitAt(
          frame,
          Array.from({ length: frame.length - 1 }, (_, i) => i + 1),
        ),
        ErrorCode.CONTROL_MALFORMED,
        pattern,
      );
    });
  }

  test('stats with too many keys', () => {
    const values = Object.fromEntries(Array.from({ length: 1025 }, (_, i) => [`k${i}`, i]));
    assertRejects([framed({ type: ControlMessageType.Stats, values })], ErrorCode.CONTROL_MALFORMED, /keys/);
  });

  test('messages before a bad frame are delivered, nothing after it', () => {
    const stream = Buffer.concat([
      encodeFrame(SAMPLE_MESSAGES[2]!),
      framed({ type: 99 }),
      encodeFrame(SAMPLE_MESSAGES[2]!),
    ]);
    const c = decodeChunks([stream]);
    assert.equal(c.messages.length, 1);
    assert.equal(c.errors.length, 1);
  });

  test('bad response records are malformed (each layout fault)', () => {
    const good = recordsBuffer([{ tcpOptionWords: 2 }]);
    const mutate = (fn: (b: Buffer) => void): Buffer => {
      const b = Buffer.from(good);
      fn(b);
      return b;
    };
    const cases: [string, Buffer, RegExp][] = [
      ['one stray byte', Buffer.concat([good, Buffer.from([0])]), /truncated record length/],
      ['length below 40', mutate((b) => b.writeUInt16BE(39, 0)), /headers length 39/],
      ['length above 120', Buffer.concat([Buffer.from([0, 121]), Buffer.alloc(121)]), /headers length 121/],
      ['record overruns', good.subarray(0, good.length - 1), /overruns/],
      ['IPv6 version nibble', mutate((b) => (b[2] = 0x65)), /not IPv4/],
      ['IHL 4', mutate((b) => (b[2] = 0x44)), /IHL 4/],
      ['IHL leaves no TCP header', mutate((b) => (b[2] = 0x48)), /IHL 8/],
      ['IHL 6 moves the data offset', mutate((b) => (b[2] = 0x46)), /give \d+ bytes, length says 48/],
      ['data offset disagrees', mutate((b) => (b[2 + 20 + 12] = 0x60)), /length says 48/],
      ['total length below headers', mutate((b) => b.writeUInt16BE(47, 2 + 2)), /total length/],
    ];
    for (const [name, records, pattern] of cases) {
      assertRejects([framed({ type: ControlMessageType.Responses, records })], ErrorCode.CONTROL_MALFORMED, pattern);
      assert.ok(name);
    }
    assert.equal(replyHeaders({ tcpOptionWords: 2 }).length, 48);
  });
});

describe('control version negotiation', () => {
  test('the lower of the two versions, or null below the minimum', () => {
    assert.equal(negotiateControlVersion(CONTROL_PROTOCOL_VERSION), CONTROL_PROTOCOL_VERSION);
    assert.equal(negotiateControlVersion(CONTROL_PROTOCOL_VERSION + 5), CONTROL_PROTOCOL_VERSION);
    assert.equal(negotiateControlVersion(0), null);
  });
});
