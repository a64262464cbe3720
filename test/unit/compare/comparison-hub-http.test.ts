// HTTP mode in the comparison hub: production's k-th response against each copy's k-th.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { seededRandom } from '@tcpcopy/common/testing';
import { httpCompareRules, type DiffRecord } from '@tcpcopy/copier/compare';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { validate, type Json, type Schema } from './json-schema-subset.js';
import {
  ACK,
  EMPTY,
  Harness,
  SYN,
  conversation,
  hubOptions,
  perturbed,
  type Segment,
  type Turn,
} from './hub-harness.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
const SCHEMA = JSON.parse(readFileSync(resolve(ROOT, 'docs/compare-diff-log.schema.json'), 'utf8')) as Schema;
const GET = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: example.com\r\n\r\n`;
const DATE_A = 'Date: Mon, 01 Dec 2026 10:00:00 GMT';
const DATE_B = 'Date: Mon, 01 Dec 2026 10:00:07 GMT';

/** A response with a Content-Length body; `head` lines go before it. */
function answer(body: string | Buffer, head: readonly string[] = [DATE_A], status = '200 OK'): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body) : body;
  const lines = [`HTTP/1.1 ${status}`, ...head, `Content-Length: ${b.length}`];
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`), b]);
}

function chunked(body: string, head: readonly string[] = [DATE_A]): Buffer {
  const half = Math.floor(body.length / 2);
  const chunks = [body.slice(0, half), body.slice(half)].map((c) => `${c.length.toString(16)}\r\n${c}\r\n`);
  return Buffer.from(
    `HTTP/1.1 200 OK\r\n${[...head, 'Transfer-Encoding: chunked'].join('\r\n')}\r\n\r\n${chunks.join('')}0\r\n\r\n`,
  );
}

/** Production's turns against copy 0's; returns what the hub reported. */
function compare(production: Turn[], copy: Turn[], options = hubOptions({ mode: 'auto' })): Harness {
  return new Harness(options).run(conversation(production), conversation(copy));
}

const turns = (...pairs: [string, string | Buffer | (string | Buffer)[]][]): Turn[] =>
  pairs.map(([request, answer]) => ({ request, answer }));

const onlyRecord = (h: Harness): DiffRecord => {
  const records = h.reported.flatMap(([, , r]) => (r === undefined ? [] : [r]));
  assert.equal(records.length, 1, JSON.stringify(h.summary));
  return records[0]!;
};

describe('comparison hub, HTTP mode', () => {
  test('a differing status: one record, kind status, with the HTTP fields', () => {
    const h = compare(
      turns([GET('/a'), answer('{"ok":true}')]),
      turns([GET('/a'), answer('oops', [DATE_B], '500 Oops')]),
    );
    assert.deepEqual(h.summary, [[0, 'different', 'status']]);
    const record = onlyRecord(h);
    assert.equal(record.exchange, 0);
    assert.equal(record.production.http?.status, 200);
    assert.equal(record.test?.http?.status, 500);
    assert.equal(record.request.http?.requestLine, 'GET /a HTTP/1.1');
    assert.deepEqual(record.request.http?.headers, [['Host', 'example.com']]);
    assert.equal(record.offset, null);
    assert.equal(h.hub.counters.byKind.status, 1);
    assert.equal(h.hub.counters.httpConnections, 1);
  });

  test('an extra header is kind headers; another body is kind body, at its offset', () => {
    const extra = compare(turns([GET('/a'), answer('x')]), turns([GET('/a'), answer('x', [DATE_A, 'X-Debug: 1'])]));
    assert.deepEqual(extra.summary, [[0, 'different', 'headers']]);
    const body = compare(turns([GET('/a'), answer('{"n":1}')]), turns([GET('/a'), answer('{"n":2}')]));
    const record = onlyRecord(body);
    assert.equal(record.kind, 'body');
    assert.equal(record.offset, 5);
    assert.deepEqual(record.excerpt, { start: 0, production: '{"n":1}', test: '{"n":2}' });
    const both = compare(turns([GET('/a'), answer('a')]), turns([GET('/a'), answer('b', [DATE_A, 'X: 1'], '404 No')]));
    assert.equal(onlyRecord(both).kind, 'status', 'the status names the record when several differ');
  });

  test('only Date differs: nothing reported', () => {
    const h = compare(turns([GET('/a'), answer('same')]), turns([GET('/a'), answer('same', [DATE_B])]));
    assert.deepEqual(h.summary, [[0, 'identical', undefined]]);
  });

  test('pipelined requests pair by message, their answers split over many segments', () => {
    const pipelined = GET('/a') + GET('/b') + GET('/c');
    const answers = (b: string): Buffer => Buffer.concat([answer('A'), answer(b), answer('C')]);
    const pieces = (buf: Buffer): Buffer[] =>
      Array.from({ length: Math.ceil(buf.length / 7) }, (_, i) => buf.subarray(i * 7, i * 7 + 7));
    const h = compare(turns([pipelined, pieces(answers('B'))]), turns([pipelined, pieces(answers('b'))]));
    assert.deepEqual(h.summary, [
      [0, 'identical', undefined],
      [0, 'different', 'body'],
      [0, 'identical', undefined],
    ]);
    assert.equal(onlyRecord(h).exchange, 1);
  });

  test('segments reordered and retransmitted on both sides: compared once each', () => {
    const t = turns(
      [GET('/a'), answer('x'.repeat(300))],
      [GET('/b'), answer('y'.repeat(300))],
      [GET('/c'), answer('z')],
    );
    for (let seed = 1; seed <= 20; seed++) {
      const random = seededRandom(seed);
      const h = new Harness(hubOptions({ mode: 'auto' }));
      h.start(0);
      h.production(perturbed(conversation(t), random));
      h.copy(0, perturbed(conversation(t), random));
      h.end(0);
      assert.deepEqual(
        h.summary,
        [0, 1, 2].map(() => [0, 'identical', undefined]),
        `seed ${seed}`,
      );
    }
  });

  test('chunked against Content-Length, gzip against identity, the same body: nothing reported', () => {
    const body = 'hello, the same body in both answers';
    const h = compare(
      turns([GET('/a'), chunked(body)], [GET('/b'), answer(gzipSync(body), [DATE_A, 'Content-Encoding: gzip'])]),
      turns([GET('/a'), answer(body, [DATE_B])], [GET('/b'), answer(body)]),
    );
    assert.deepEqual(h.summary, [
      [0, 'identical', undefined],
      [0, 'identical', undefined],
    ]);
  });

  test('HEAD answers have no body whatever Content-Length says; the next request pairs after them', () => {
    const head = 'HEAD /big HTTP/1.1\r\nHost: example.com\r\n\r\n';
    const headAnswer = (length: number): string => `HTTP/1.1 200 OK\r\n${DATE_A}\r\nContent-Length: ${length}\r\n\r\n`;
    const h = compare(
      turns([head + GET('/a'), Buffer.concat([Buffer.from(headAnswer(1000)), answer('A')])]),
      turns([head + GET('/a'), Buffer.concat([Buffer.from(headAnswer(999)), answer('A')])]),
    );
    assert.deepEqual(h.summary, [
      [0, 'different', 'headers'],
      [0, 'identical', undefined],
    ]);
  });

  test('100 Continue and other 1xx interim answers are not compared', () => {
    const post = 'POST /up HTTP/1.1\r\nHost: example.com\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n';
    const segments = (interim: string): Segment[] => [
      { fromClient: true, seq: 100, flags: SYN, payload: EMPTY },
      { fromClient: false, seq: 9000, flags: SYN | ACK, payload: EMPTY },
      { fromClient: true, seq: 101, flags: ACK, payload: Buffer.from(post) },
      { fromClient: false, seq: 9001, flags: ACK, payload: Buffer.from(interim) },
      { fromClient: true, seq: 101 + post.length, flags: ACK, payload: Buffer.from('data') },
      { fromClient: false, seq: 9001 + interim.length, flags: ACK, payload: answer('stored') },
    ];
    const h = new Harness(hubOptions({ mode: 'auto' }));
    h.start(0);
    h.production(segments('HTTP/1.1 100 Continue\r\n\r\n'));
    h.copy(0, segments('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n'));
    h.end(0);
    h.hub.productionGone(h.ref(0).clientIp, h.ref(0).clientPort, h.at++);
    assert.deepEqual(h.summary, [[0, 'identical', undefined]]);
  });

  test('a 1 MiB answer: equal compares identical; a difference beyond the prefix is found by the hash', () => {
    const options = hubOptions({ mode: 'auto', compareBytes: 64 * 1024 });
    const big = Buffer.alloc(1 << 20, 'a');
    const changed = Buffer.from(big);
    changed[900_000] = 0x62;
    const split = (b: Buffer): Buffer[] =>
      Array.from({ length: Math.ceil(b.length / 1460) }, (_, i) => b.subarray(i * 1460, (i + 1) * 1460));
    const equal = compare(
      turns([GET('/big'), split(answer(big))]),
      turns([GET('/big'), split(answer(big, [DATE_B]))]),
      options,
    );
    assert.deepEqual(equal.summary, [[0, 'identical', undefined]]);
    const differ = compare(turns([GET('/big'), answer(big)]), turns([GET('/big'), answer(changed)]), options);
    const record = onlyRecord(differ);
    assert.equal(record.kind, 'body');
    assert.equal(record.offset, null, 'beyond the compared prefix');
    assert.equal(record.production.length, 1 << 20);
    assert.notEqual(record.production.sha256, record.test?.sha256);
  });

  test('--compare-ignore masks a timestamp in the body', () => {
    const p = turns([GET('/t'), answer('{"at":"10:00:00","v":1}')]);
    const c = turns([GET('/t'), answer('{"at":"10:00:07","v":1}')]);
    assert.equal(onlyRecord(compare(p, c)).kind, 'body');
    const masked = hubOptions({ mode: 'auto', http: httpCompareRules({ ignoreBody: [/"at":"[^"]*"/] }) });
    assert.deepEqual(compare(p, c, masked).summary, [[0, 'identical', undefined]]);
  });

  test('the test server never answering is a timeout; resetting is a reset', () => {
    const p = turns([GET('/a'), answer('A')], [GET('/b'), answer('B')]);
    const h = new Harness(hubOptions({ mode: 'auto' }));
    h.start(0);
    h.start(1);
    h.production(conversation(p));
    h.copy(0, conversation(turns([GET('/a'), answer('A')], [GET('/b'), []])));
    h.end(0);
    h.copy(1, conversation(turns([GET('/a'), answer('A')], [GET('/b'), []]), { ending: 'server-reset' }));
    h.end(1);
    assert.deepEqual(h.summary, [
      [0, 'identical', undefined],
      [0, 'different', 'timeout'],
      [1, 'identical', undefined],
      [1, 'different', 'reset'],
    ]);
    assert.equal(h.reported[1]![2]!.test, null);
  });

  test('auto picks bytes for a protocol that is not HTTP (Redis RESP); http falls back, counted', () => {
    const resp = turns(['*2\r\n$3\r\nGET\r\n$1\r\nk\r\n', '$1\r\nv\r\n'], ['*1\r\n$4\r\nPING\r\n', '+PONG\r\n']);
    const other = turns(['*2\r\n$3\r\nGET\r\n$1\r\nk\r\n', '$1\r\nw\r\n'], ['*1\r\n$4\r\nPING\r\n', '+PONG\r\n']);
    const auto = compare(resp, other);
    assert.deepEqual(auto.summary, [
      [0, 'different', 'bytes'],
      [0, 'identical', undefined],
    ]);
    assert.equal(auto.hub.counters.httpConnections, 0);
    assert.equal(auto.hub.counters.httpFallbacks, 0);
    const forced = compare(resp, other, hubOptions({ mode: 'http' }));
    assert.deepEqual(forced.summary, auto.summary);
    assert.equal(forced.hub.counters.httpFallbacks, 1);
  });

  test('joined mid-stream: HTTP parsing starts at the first whole turn on both sides', () => {
    const h = new Harness(hubOptions({ mode: 'auto' }));
    h.start(0);
    const p = turns([GET('/a'), answer('A')], [GET('/b'), answer('B')], [GET('/c'), answer('C')]);
    h.production(conversation(p, { handshake: false, clientIsn: 5000 }));
    const c = turns([GET('/a'), answer('other A')], [GET('/b'), answer('B')], [GET('/c'), answer('c')]);
    const fakedSyn: Segment = { fromClient: true, seq: 4999, flags: SYN, payload: EMPTY };
    h.copy(0, [fakedSyn, ...conversation(c, { clientIsn: 4999 }).slice(1)]);
    h.end(0);
    assert.deepEqual(h.summary, [
      [0, 'identical', undefined],
      [0, 'different', 'body'],
    ]);
    assert.equal(onlyRecord(h).exchange, 1, 'indexed from the first whole turn');
  });

  test('memoryBytes grows with answers held and shrinks to nothing once compared', () => {
    const h = new Harness(hubOptions({ mode: 'auto', compareBytes: 8192 }));
    h.start(0);
    const t = turns([GET('/a'), answer('a'.repeat(5000))], [GET('/b'), answer('b'.repeat(5000))]);
    const production = conversation(t);
    h.production(production.slice(0, 4));
    const one = h.hub.memoryBytes;
    h.production(production.slice(4, 6));
    assert.ok(h.hub.memoryBytes >= one + 5000, 'the answer waits for the copy');
    h.copy(0, conversation(t).slice(0, 4));
    h.production(production.slice(6));
    h.copy(0, conversation(t).slice(4));
    h.end(0);
    assert.equal(h.hub.memoryBytes, 0);
    assert.equal(h.hub.size, 0);
  });

  test('bytes the capture lost inside a body: that exchange is lost, the later ones are still compared', () => {
    // 200 kB answers in 10 kB segments; one piece of answer 1 reaches the copy's tap 60 segments
    // late (as when intercept swaps capture rings), past the 64 kB the tap holds beyond a hole.
    const body = Buffer.alloc(200_000, 0x61);
    const pieces = (b: Buffer): Buffer[] =>
      Array.from({ length: Math.ceil(b.length / 10_000) }, (_, i) => b.subarray(i * 10_000, (i + 1) * 10_000));
    const keepAlive = [0, 1, 2, 3].map((i): Turn => ({ request: GET(`/r${i}`), answer: pieces(answer(body)) }));
    const late = conversation(keepAlive);
    const at = late.findIndex((s, i) => !s.fromClient && i > 30);
    late.splice(at + 60, 0, ...late.splice(at, 1));
    for (const mode of ['http', 'bytes'] as const) {
      const options = hubOptions({ mode, compareBytes: 65536, holdBytes: 65536 });
      const h = new Harness(options).run(conversation(keepAlive), late);
      assert.deepEqual(
        h.summary,
        [
          [0, 'identical', undefined],
          [0, 'lost', undefined],
          [0, 'identical', undefined],
          [0, 'identical', undefined],
        ],
        mode,
      );
    }
  });

  test('every HTTP record is valid against the diff-log schema', () => {
    const masked = hubOptions({ mode: 'auto', http: httpCompareRules({ ignoreBody: [/<t>\d+<\/t>/] }) });
    const cases: [Turn[], Turn[], ReturnType<typeof hubOptions>?][] = [
      [turns([GET('/a'), answer('a')]), turns([GET('/a'), answer('b', [DATE_A, 'X: 1'], '404 No')])],
      [turns([GET('/a'), answer('a')]), turns([GET('/a'), answer('a', [DATE_A, 'X: 1'])])],
      [
        turns([GET('/a'), answer('<t>1</t>same body, other ending A')]),
        turns([GET('/a'), answer('<t>12345</t>same body, other ending B')]),
        masked,
      ],
      [turns([GET('/a'), answer('a')]), turns([GET('/a'), answer('ab')])],
      [turns([GET('/a'), answer('a')]), turns([GET('/a'), []])],
      [turns([GET('/a'), answer('a')]), turns([GET('/a'), 'HTTP/1.1 2xx what\r\n\r\n'])],
    ];
    const kinds: string[] = [];
    let shifted = 0;
    for (const [p, c, options] of cases) {
      const record = onlyRecord(compare(p, c, options));
      kinds.push(record.kind);
      if (record.excerpt?.testStart !== undefined) shifted++;
      assert.deepEqual(validate(SCHEMA, JSON.parse(JSON.stringify(record)) as Json), [], record.kind);
    }
    assert.deepEqual(kinds, ['status', 'headers', 'body', 'length', 'timeout', 'status']);
    assert.equal(shifted, 1, 'the masked case shifts the test excerpt');
  });
});
