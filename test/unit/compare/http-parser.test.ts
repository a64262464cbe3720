/**
 * HttpParser: HTTP/1.x requests and responses from byte chunks. Every framing (Content-Length,
 * chunked with extensions and trailers, close-delimited, none), bodiless answers (HEAD, 204, 304,
 * 1xx skipped), pipelining, content codings with the size cap and hash, each malformed-input
 * status, every split of a message into two chunks, and a fast-check property over random
 * messages, framings and chunkings.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { deflateRawSync, deflateSync, gzipSync, brotliCompressSync } from 'node:zlib';
import fc from 'fast-check';
import { HttpParser, MAX_HEAD_BYTES, httpResponseParser, type HttpResponse } from '@tcpcopy/copier/compare';
import type { BodyLimits, HttpMessage, HttpParserStatus } from '../../../packages/copier/src/compare/index.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const sha = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

interface Parsed {
  messages: HttpMessage[];
  status: HttpParserStatus;
}

/** Parses `chunks` as one direction; `methods` are the requests a response parser answers. */
function parse(
  role: 'request' | 'response',
  chunks: readonly Buffer[],
  options: { methods?: readonly string[]; limits?: Partial<BodyLimits>; end?: boolean } = {},
): Parsed {
  const messages: HttpMessage[] = [];
  const parser = new HttpParser(role, (m: HttpMessage) => messages.push(m), options.limits);
  for (const method of options.methods ?? []) parser.expectResponseTo(method);
  for (const chunk of chunks) parser.push(chunk);
  if (options.end !== false) parser.end();
  return { messages, status: parser.status };
}

/** What a test compares: everything but the Buffer identity. */
function summary(p: Parsed): unknown {
  return { status: p.status, messages: p.messages.map((m) => ({ ...m, body: m.body.toString('latin1') })) };
}

/** Asserts that every split into two chunks, and byte-by-byte feeding, parse like the whole. */
function assertSplitInvariant(role: 'request' | 'response', bytes: Buffer, methods: readonly string[] = []): Parsed {
  const whole = parse(role, [bytes], { methods });
  for (let at = 0; at <= bytes.length; at++) {
    const split = parse(role, [bytes.subarray(0, at), bytes.subarray(at)], { methods });
    assert.deepEqual(summary(split), summary(whole), `split at byte ${at}`);
  }
  const bytewise = parse(
    role,
    [...bytes].map((x) => Buffer.from([x])),
    { methods },
  );
  assert.deepEqual(summary(bytewise), summary(whole), 'byte by byte');
  return whole;
}

describe('HttpParser framing', () => {
  test('requests: Content-Length body, none without it, pipelined in one chunk, any split', () => {
    const bytes = b(
      'GET /a HTTP/1.1\r\nHost: x\r\n\r\n' +
        'POST /b?q=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nX-Dup: 1\r\nx-dup: 2\r\n\r\nhello' +
        '\r\nDELETE /c HTTP/1.0\r\n\r\n', // an empty line before a request line is ignored (RFC 9112 §2.2)
    );
    const { messages, status } = assertSplitInvariant('request', bytes);
    assert.equal(status, 'ended');
    assert.deepEqual(
      messages.map((m) => m.role === 'request' && [m.method, m.target, m.version, m.body.toString(), m.framing]),
      [
        ['GET', '/a', 'HTTP/1.1', '', 'none'],
        ['POST', '/b?q=1', 'HTTP/1.1', 'hello', 'content-length'],
        ['DELETE', '/c', 'HTTP/1.0', '', 'none'],
      ],
    );
    assert.deepEqual(messages[1]!.headers, [
      ['Host', 'x'],
      ['Content-Length', '5'],
      ['X-Dup', '1'],
      ['x-dup', '2'],
    ]);
    assert.equal(messages[1]!.startLine, 'POST /b?q=1 HTTP/1.1');
  });

  test('a chunked response with extensions and trailers, then a Content-Length one', () => {
    const bytes = b(
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' +
        '5;name=value;flag\r\nhello\r\n001 \t;ext="q"\r\n!\r\n0;last\r\nX-Checksum: abc\r\nX-Other:  def \r\n\r\n' +
        'HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nnot',
    );
    const { messages, status } = assertSplitInvariant('response', bytes, ['GET', 'GET']);
    assert.equal(status, 'ended');
    const [first, second] = messages;
    assert.equal(first!.body.toString(), 'hello!');
    assert.equal(first!.bodyLength, 6);
    assert.equal(first!.framing, 'chunked');
    assert.deepEqual(first!.trailers, [
      ['X-Checksum', 'abc'],
      ['X-Other', 'def'],
    ]);
    assert.ok(second?.role === 'response');
    assert.deepEqual([second.status, second.reason, second.body.toString()], [404, 'Not Found', 'not']);
  });

  test('a close-delimited response ends with the connection, not before', () => {
    const bytes = b('HTTP/1.0 200 OK\r\nServer: old\r\n\r\nall of it\r\nHTTP/1.1 200 OK\r\n\r\n');
    const open = parse('response', [bytes], { methods: ['GET'], end: false });
    assert.deepEqual([open.messages.length, open.status], [0, 'ok']);
    const { messages } = assertSplitInvariant('response', bytes, ['GET']);
    assert.equal(messages.length, 1);
    assert.equal(messages[0]!.body.toString(), 'all of it\r\nHTTP/1.1 200 OK\r\n\r\n');
    assert.equal(messages[0]!.framing, 'close');
    // Transfer-Encoding without chunked last also runs to the close (RFC 9112 §6.3 item 4).
    const gzipOnly = parse('response', [b('HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\nrest')]);
    assert.deepEqual([gzipOnly.messages[0]!.framing, gzipOnly.messages[0]!.body.toString()], ['close', 'rest']);
  });

  test('no body for HEAD, 204 and 304 whatever their fields say; the next answer still parses', () => {
    const bytes = b(
      'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n' +
        'HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n' +
        'HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n' +
        'HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody',
    );
    const { messages, status } = assertSplitInvariant('response', bytes, ['HEAD', 'GET', 'GET', 'GET']);
    assert.equal(status, 'ended');
    assert.deepEqual(
      messages.map((m) => m.role === 'response' && [m.status, m.requestMethod, m.framing, m.body.toString()]),
      [
        [200, 'HEAD', 'none', ''],
        [204, 'GET', 'none', ''],
        [304, 'GET', 'none', ''],
        [200, 'GET', 'content-length', 'body'],
      ],
    );
  });

  test('100 Continue and 103 are skipped and do not use up a request method', () => {
    const bytes = b(
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n' +
        'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok' +
        'HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n',
    );
    const { messages, status } = assertSplitInvariant('response', bytes, ['POST', 'HEAD']);
    assert.equal(status, 'ended', 'the HEAD answer has no body: nothing is left waiting');
    assert.deepEqual(
      messages.map((m) => m.role === 'response' && [m.status, m.requestMethod, m.body.toString()]),
      [
        [200, 'POST', 'ok'],
        [200, 'HEAD', ''],
      ],
    );
  });

  test('after 101 Switching Protocols the connection is no longer HTTP', () => {
    const bytes = b('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello');
    const { messages, status } = parse('response', [bytes], { methods: ['GET'] });
    assert.deepEqual([messages.length, status], [1, 'upgraded']);
    const tunnel = parse('response', [b('HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x01')], {
      methods: ['CONNECT'],
    });
    assert.deepEqual([tunnel.messages.length, tunnel.status], [1, 'upgraded']);
  });

  test('a response with no request method to pair with is framed as an answer to GET', () => {
    const { messages } = parse('response', [b('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi')]);
    const [answer] = messages;
    assert.ok(answer?.role === 'response');
    assert.deepEqual([answer.requestMethod, answer.body.toString()], ['GET', 'hi']);
  });

  test('a bare LF ends lines too, obsolete folding continues a value', () => {
    const { messages } = parse('request', [b('GET / HTTP/1.1\nA: 1\n  more\nB:2\n\n')]);
    assert.deepEqual(messages[0]!.headers, [
      ['A', '1 more'],
      ['B', '2'],
    ]);
  });
});

describe('HttpParser content codings', () => {
  const text = b('{"hello":"world","n":[1,2,3]}'.repeat(20));
  const response = (coding: string, body: Buffer): Buffer =>
    Buffer.concat([
      b(`HTTP/1.1 200 OK\r\nContent-Encoding: ${coding}\r\nContent-Length: ${body.length}\r\n\r\n`),
      body,
    ]);

  for (const [coding, form, encode] of [
    ['gzip', 'gzip', gzipSync],
    ['x-gzip', 'gzip', gzipSync],
    ['deflate', 'zlib-wrapped', deflateSync],
    ['deflate', 'raw', deflateRawSync],
    ['br', 'brotli', brotliCompressSync],
    ['identity', 'as is', (x: Buffer) => x],
  ] as const) {
    test(`${coding} (${form}) is decoded, in any split`, () => {
      const { messages } = assertSplitInvariant('response', response(coding, encode(text)));
      assert.equal(messages[0]!.body.toString(), text.toString());
      assert.equal(messages[0]!.bodyLength, text.length);
      assert.equal(messages[0]!.decoding, coding === 'identity' ? 'identity' : 'decoded');
    });
  }

  test('a chunked gzip body is de-chunked, then decoded', () => {
    const gz = gzipSync(text);
    const half = gz.length >> 1;
    const bytes = Buffer.concat([
      b('HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n'),
      b(`${half.toString(16)}\r\n`),
      gz.subarray(0, half),
      b(`\r\n${(gz.length - half).toString(16)}\r\n`),
      gz.subarray(half),
      b('\r\n0\r\n\r\n'),
    ]);
    assert.equal(parse('response', [bytes]).messages[0]!.body.toString(), text.toString());
  });

  test('corrupt or unknown codings keep the body as received', () => {
    const corrupt = parse('response', [response('gzip', b('not gzip at all'))]).messages[0]!;
    assert.deepEqual([corrupt.decoding, corrupt.body.toString()], ['corrupt', 'not gzip at all']);
    const unknown = parse('response', [response('zstd', b('(zstd)'))]).messages[0]!;
    assert.deepEqual([unknown.decoding, unknown.body.toString()], ['unsupported', '(zstd)']);
    const stacked = parse('response', [response('gzip, gzip', gzipSync(gzipSync(text)))]).messages[0]!;
    assert.equal(stacked.decoding, 'unsupported');
  });

  test('beyond maxBodyBytes the body keeps its first bytes, its length and a hash of all of it', () => {
    const big = Buffer.alloc(10_000, 'abcdefghij');
    const limits = { maxBodyBytes: 1000 };
    for (const [coding, encoded] of [
      ['identity', big],
      ['gzip', gzipSync(big)],
    ] as const) {
      const { messages } = parse('response', [response(coding, encoded)], { limits });
      const m = messages[0]!;
      assert.deepEqual(
        [m.truncated, m.bodyLength, m.body.length, m.bodyHash],
        [true, big.length, 1000, sha(big)],
        coding,
      );
      assert.ok(m.body.equals(big.subarray(0, 1000)));
    }
    // Fed in small pieces, the hash still covers every byte once.
    const pieces = [];
    const whole = response('identity', big);
    for (let at = 0; at < whole.length; at += 333) pieces.push(whole.subarray(at, at + 333));
    assert.equal(parse('response', pieces, { limits }).messages[0]!.bodyHash, sha(big));
    const exact = parse('response', [response('identity', big.subarray(0, 1000))], { limits }).messages[0]!;
    assert.deepEqual([exact.truncated, exact.bodyHash], [false, null]);
  });

  test('a zip bomb stops at maxDecodeBytes and is kept as received', () => {
    const bomb = gzipSync(Buffer.alloc(4 * 1024 * 1024));
    const limits = { maxBodyBytes: 512, maxDecodeBytes: 64 * 1024 };
    const m = parse('response', [response('gzip', bomb)], { limits }).messages[0]!;
    assert.deepEqual([m.decoding, m.bodyLength], ['too-large', bomb.length]);
    assert.ok(m.body.equals(bomb.subarray(0, 512)));
    // An encoded body longer than maxDecodeBytes is not buffered for decoding at all.
    const long = gzipSync(Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 7919) % 251)));
    const m2 = parse('response', [response('gzip', long)], { limits: { maxDecodeBytes: 1000 } }).messages[0]!;
    assert.deepEqual([m2.decoding, m2.bodyLength], ['too-large', long.length]);
  });
});

describe('HttpParser malformed input', () => {
  const cases: [string, 'request' | 'response', string, HttpParserStatus][] = [
    ['a request line without version', 'request', 'GET /\r\n\r\n', 'bad-start-line'],
    ['HTTP/2', 'request', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'bad-start-line'],
    ['a status line without code', 'response', 'HTTP/1.1 OK\r\n\r\n', 'bad-start-line'],
    ['not HTTP at all', 'response', '\x00\x01binary\r\n', 'bad-start-line'],
    ['a field without colon', 'request', 'GET / HTTP/1.1\r\nHost x\r\n\r\n', 'bad-header'],
    ['whitespace before the colon', 'request', 'GET / HTTP/1.1\r\nHost : x\r\n\r\n', 'bad-header'],
    ['folding with nothing to fold into', 'request', 'GET / HTTP/1.1\r\n x\r\n\r\n', 'bad-header'],
    [
      'a Content-Length that is no number',
      'request',
      'POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n',
      'bad-content-length',
    ],
    [
      'two differing Content-Lengths',
      'response',
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n',
      'bad-content-length',
    ],
    [
      'a request not chunked last',
      'request',
      'POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n',
      'bad-transfer-encoding',
    ],
    [
      'a chunk size not hex',
      'response',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
      'bad-chunk-size',
    ],
    [
      'an empty chunk-size line',
      'response',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n',
      'bad-chunk-size',
    ],
    [
      'chunk data too long',
      'response',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n',
      'bad-chunk-end',
    ],
    [
      'a bad trailer',
      'response',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad\r\n\r\n',
      'bad-header',
    ],
    ['an end inside a body', 'response', 'HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort', 'incomplete'],
    ['an end inside a head', 'request', 'GET / HTTP/1.1\r\nHost: x\r\n', 'incomplete'],
    ['an end inside a start line', 'request', 'GET / HT', 'incomplete'],
    [
      'an end inside a chunked body',
      'response',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab',
      'incomplete',
    ],
  ];
  for (const [name, role, input, expected] of cases) {
    test(`${name}: ${expected}, in any split`, () => {
      const bytes = b(input);
      const whole = assertSplitInvariant(role, bytes);
      assert.deepEqual([whole.status, whole.messages.length], [expected, 0]);
      if (expected === 'incomplete') return;
      // A valid message after the error is not parsed: the stream's framing is lost.
      const after = parse(role, [bytes, b('GET / HTTP/1.1\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n')]);
      assert.deepEqual([after.status, after.messages.length], [expected, 0]);
    });
  }

  test(`a header section over ${MAX_HEAD_BYTES} bytes: header-too-large, however it arrives`, () => {
    const head = `GET / HTTP/1.1\r\nX-Big: ${'a'.repeat(MAX_HEAD_BYTES)}\r\n\r\n`;
    assert.equal(parse('request', [b(head)]).status, 'header-too-large');
    const many = `GET / HTTP/1.1\r\n${'X-Many: 0123456789abcdef\r\n'.repeat(MAX_HEAD_BYTES / 16)}\r\n`;
    const pieces = [];
    for (let at = 0; at < many.length; at += 100) pieces.push(b(many.slice(at, at + 100)));
    assert.equal(parse('request', pieces).status, 'header-too-large');
    const trailers = `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: ${'t'.repeat(MAX_HEAD_BYTES)}\r\n\r\n`;
    assert.equal(parse('response', [b(trailers)]).status, 'header-too-large');
    // Just under the limit is fine.
    const fits = `GET / HTTP/1.1\r\nX: ${'a'.repeat(MAX_HEAD_BYTES - 25)}\r\n\r\n`;
    assert.deepEqual([parse('request', [b(fits)]).status, Buffer.byteLength(fits) <= MAX_HEAD_BYTES], ['ended', true]);
  });
});

describe('HttpParser: bytes the capture lost', () => {
  const responses = (): { parser: HttpParser<'response'>; got: HttpResponse[] } => {
    const got: HttpResponse[] = [];
    return { parser: httpResponseParser((r) => got.push(r)), got };
  };

  test('inside a Content-Length body or a chunk: skipped, the message marked lost, the next one read', () => {
    for (const [first, cut] of [
      ['HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n', 4],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n', 4],
    ] as const) {
      const { parser, got } = responses();
      parser.push(Buffer.from(`${first}abc`));
      assert.equal(parser.gap(cut), true);
      const rest = first.includes('chunked') ? 'xyz\r\n0\r\n\r\n' : 'xyz';
      parser.push(Buffer.from(`${rest}HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok`));
      assert.deepEqual(
        got.map((r) => [r.lostBytes, r.body.toString()]),
        [
          [cut, 'abcxyz'],
          [0, 'ok'],
        ],
      );
    }
  });

  test('in a head, a chunk size, or past the body: false, nothing consumed', () => {
    const { parser } = responses();
    assert.equal(parser.gap(3), false, 'in the head');
    parser.push(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab'));
    assert.equal(parser.gap(3), false, 'beyond the body: the next head is in it');
    assert.equal(parser.gap(2), true);
    const chunked = responses();
    chunked.parser.push(Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'));
    assert.equal(chunked.parser.gap(1), false, 'a chunk size');
  });
});

describe('HttpParser property', () => {
  const token = fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,15}$/);
  const value = fc.stringMatching(/^[!-~]([ !-~]{0,30}[!-~])?$/);
  const framingNames = new Set(['content-length', 'transfer-encoding', 'content-encoding']);
  const message = fc.record({
    headers: fc
      .array(fc.tuple(token, value), { maxLength: 6 })
      .map((hs) => hs.filter(([n]) => !framingNames.has(n.toLowerCase()))),
    body: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
    framing: fc.constantFrom('content-length', 'chunked', 'close'),
    gzip: fc.boolean(),
    chunkSizes: fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 8 }),
    status: fc.integer({ min: 200, max: 599 }).filter((s) => s !== 204 && s !== 304),
  });
  type Generated = typeof message extends fc.Arbitrary<infer T> ? T : never;

  /** The fields a serialized message carries: its framing fields, then the generated ones. */
  function fields(m: Generated, payload: Buffer): [string, string][] {
    const framing: [string, string][] = m.gzip ? [['Content-Encoding', 'gzip']] : [];
    if (m.framing === 'chunked') framing.push(['Transfer-Encoding', 'chunked']);
    if (m.framing === 'content-length') framing.push(['Content-Length', String(payload.length)]);
    return [...framing, ...m.headers];
  }

  /** Serializes one message; `role` decides the start line, `framing` the body's delimitation. */
  function serialize(role: 'request' | 'response', m: Generated): Buffer {
    const payload = m.gzip ? gzipSync(m.body) : m.body;
    const startLine = role === 'request' ? 'PUT /x HTTP/1.1' : `HTTP/1.1 ${m.status} Whatever`;
    const head = [startLine, ...fields(m, payload).map(([n, v]) => `${n}: ${v}`), '', ''].join('\r\n');
    if (m.framing !== 'chunked') return Buffer.concat([b(head), payload]);
    const parts = [b(head)];
    let at = 0;
    for (let i = 0; at < payload.length; i++) {
      const size = Math.min(m.chunkSizes[i % m.chunkSizes.length]!, payload.length - at);
      const extension = i % 2 === 0 ? `;i=${i}` : '';
      parts.push(b(`${size.toString(16)}${extension}\r\n`), payload.subarray(at, at + size), b('\r\n'));
      at += size;
    }
    parts.push(b('0\r\nX-Trailer: 1\r\n\r\n'));
    return Buffer.concat(parts);
  }

  test('random messages, framings and chunkings parse back to the same headers and bodies', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('request' as const, 'response' as const),
        fc.array(message, { minLength: 1, maxLength: 4 }),
        fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 10 }),
        (role, generated, cuts) => {
          // A request cannot be close-delimited, and a close-delimited response must be the last.
          const messages = generated.map((m, i) =>
            m.framing === 'close' && (role === 'request' || i < generated.length - 1)
              ? { ...m, framing: 'content-length' as const }
              : m,
          );
          const bytes = Buffer.concat(messages.map((m) => serialize(role, m)));
          const chunks = [];
          for (let at = 0, i = 0; at < bytes.length; i++) {
            const n = cuts[i % cuts.length]!;
            chunks.push(bytes.subarray(at, at + n));
            at += n;
          }
          const parsed = parse(role, chunks, { methods: messages.map(() => 'GET') });
          assert.equal(parsed.status, 'ended');
          assert.equal(parsed.messages.length, messages.length);
          parsed.messages.forEach((p, i) => {
            const m = messages[i]!;
            assert.deepEqual(p.headers, fields(m, m.gzip ? gzipSync(m.body) : m.body), `fields of message ${i}`);
            assert.ok(p.body.equals(m.body), `body of message ${i}`);
            assert.equal(p.framing, m.framing);
            assert.equal(p.decoding, m.gzip ? 'decoded' : 'identity');
          });
        },
      ),
      { numRuns: 300 },
    );
  });
});
