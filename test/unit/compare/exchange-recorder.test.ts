/**
 * ExchangeRecorder: both directions of a connection cut into client turns and answers. Turns,
 * answers split over many segments, pipelined bursts, a server that speaks first, answers longer
 * than compareBytes (kept in part, hashed whole), lost bytes, and an end in the middle of an answer.
 * Also fed through StreamReassembly from reordered, retransmitted segments.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { ExchangeRecorder, StreamReassembly } from '@tcpcopy/copier/compare';
import type { Exchange } from '../../../packages/copier/src/compare/index.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const sha = (bytes: Buffer | string): string => createHash('sha256').update(bytes).digest('hex');
const limits = { compareBytes: 64, requestBytes: 16 };

function summary(e: Exchange): [number, string, number, string, number, string] {
  return [
    e.index,
    e.request.firstBytes.toString('latin1'),
    e.request.length,
    e.answer.firstBytes.toString('latin1'),
    e.answer.length,
    e.ending,
  ];
}

describe('ExchangeRecorder', () => {
  test('request/answer turns on a keep-alive connection', () => {
    const r = new ExchangeRecorder(limits);
    const done: Exchange[] = [];
    const keep = (e: Exchange | undefined): void => void (e && done.push(e));
    keep(r.clientBytes(b('GET /a'), 1));
    keep(r.clientBytes(b('\r\n'), 2));
    r.serverBytes(b('200 A'), 3);
    keep(r.clientBytes(b('GET /b\r\n'), 4));
    assert.equal(done.length, 1, 'the second request closes the first exchange');
    r.serverBytes(b('404'), 5);
    keep(r.end(false));
    assert.deepEqual(done.map(summary), [
      [0, 'GET /a\r\n', 8, '200 A', 5, 'next-turn'],
      [1, 'GET /b\r\n', 8, '404', 3, 'end'],
    ]);
    assert.deepEqual(
      done.map((e) => e.request.offset),
      [0, 8],
    );
    assert.deepEqual(
      done.map((e) => [e.request.at, e.answer.firstAt, e.answer.lastAt]),
      [
        [1, 3, 3],
        [4, 5, 5],
      ],
    );
    assert.equal(done[0]!.answer.sha256, sha('200 A'));
    assert.equal(r.clientBytes(b('late'), 6), undefined, 'nothing after the end');
  });

  test('an answer split over many segments is one answer, hashed whole', () => {
    const r = new ExchangeRecorder(limits);
    r.clientBytes(b('q'), 0);
    const answer = 'the answer comes in pieces';
    for (let i = 0; i < answer.length; i += 3) r.serverBytes(b(answer.slice(i, i + 3)), i);
    const e = r.end(false)!;
    assert.equal(e.answer.firstBytes.toString('latin1'), answer);
    assert.equal(e.answer.length, answer.length);
    assert.equal(e.answer.sha256, sha(answer));
  });

  test('a pipelined burst is one turn, its answers one answer', () => {
    const r = new ExchangeRecorder({ compareBytes: 64, requestBytes: 64 });
    r.clientBytes(b('GET /1\r\n'), 0);
    r.clientBytes(b('GET /2\r\n'), 0);
    r.serverBytes(b('one'), 1);
    r.serverBytes(b('two'), 2);
    const e = r.end(false)!;
    assert.deepEqual(summary(e), [0, 'GET /1\r\nGET /2\r\n', 16, 'onetwo', 6, 'end']);
  });

  test('an answer longer than compareBytes keeps its first bytes and hashes all of it', () => {
    const r = new ExchangeRecorder(limits);
    r.clientBytes(b('a request longer than sixteen bytes'), 0);
    const answer = Buffer.alloc(10_000);
    for (let i = 0; i < answer.length; i++) answer[i] = i & 0xff;
    for (let i = 0; i < answer.length; i += 1460) r.serverBytes(answer.subarray(i, i + 1460), 1);
    const e = r.end(false)!;
    assert.deepEqual(e.answer.firstBytes, answer.subarray(0, 64));
    assert.equal(e.answer.length, 10_000);
    assert.equal(e.answer.sha256, sha(answer));
    assert.equal(e.request.firstBytes.toString('latin1'), 'a request longer');
    assert.equal(e.request.length, 35);
  });

  test('kept prefixes are copies: the caller may reuse its buffers', () => {
    const r = new ExchangeRecorder(limits);
    const reused = b('req');
    r.clientBytes(reused, 0);
    reused.fill(0);
    const answer = b('ans');
    r.serverBytes(answer, 1);
    answer.fill(0);
    assert.deepEqual(summary(r.end(false)!), [0, 'req', 3, 'ans', 3, 'end']);
  });

  test('an end in the middle of an answer closes it as it is; a reset says so', () => {
    const r = new ExchangeRecorder(limits);
    r.clientBytes(b('q1'), 0);
    r.serverBytes(b('a1'), 1);
    r.clientBytes(b('q2'), 2);
    r.serverBytes(b('half of a'), 3);
    assert.deepEqual(summary(r.end(true)!), [1, 'q2', 2, 'half of a', 9, 'reset']);
  });

  test('a turn never answered is closed by the end with an empty answer', () => {
    const r = new ExchangeRecorder(limits);
    r.clientBytes(b('q'), 0);
    const e = r.end(false)!;
    assert.deepEqual(summary(e), [0, 'q', 1, '', 0, 'end']);
    assert.equal(e.answer.sha256, sha(''));
    assert.equal(e.answer.firstAt, undefined);
  });

  test('a server that speaks first gives an exchange with an empty request', () => {
    const r = new ExchangeRecorder(limits);
    r.serverBytes(b('220 ready'), 0);
    const e = r.clientBytes(b('HELO'), 1)!;
    assert.deepEqual(summary(e), [0, '', 0, '220 ready', 9, 'next-turn']);
    assert.equal(r.end(false)!.request.offset, 0);
  });

  test('no bytes at all, no exchange', () => {
    assert.equal(new ExchangeRecorder(limits).end(false), undefined);
  });

  test('lost bytes count in the lengths and offsets, and are reported', () => {
    const r = new ExchangeRecorder(limits);
    r.clientBytes(b('ab'), 0);
    r.clientGap(3, 0);
    r.serverBytes(b('x'), 1);
    r.serverGap(5, 1);
    const first = r.clientGap(2, 2)!;
    assert.equal(first.request.length, 5);
    assert.equal(first.request.lostBytes, 3);
    assert.equal(first.answer.length, 6);
    assert.equal(first.answer.lostBytes, 5);
    r.serverBytes(b('y'), 3);
    const second = r.end(false)!;
    assert.equal(second.request.offset, 5);
    assert.equal(second.request.lostBytes, 2);
  });
});

describe('ExchangeRecorder behind StreamReassembly', () => {
  test('reordered and retransmitted segments on both sides give the same exchanges', () => {
    const requests = ['GET /first HTTP/1.1\r\n\r\n', 'GET /second HTTP/1.1\r\n\r\n'];
    const answers = ['HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello', 'HTTP/1.1 404 Not Found\r\n\r\n'];
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }), fc.boolean(), (size, retransmit) => {
        const r = new ExchangeRecorder({ compareBytes: 1024, requestBytes: 1024 });
        const done: Exchange[] = [];
        let now = 0;
        const client = new StreamReassembly(
          {
            data: (bytes) => void pushIf(done, r.clientBytes(bytes, now)),
            gap: (n) => void pushIf(done, r.clientGap(n, now)),
            fin: () => undefined,
          },
          4096,
        );
        const server = new StreamReassembly(
          { data: (bytes) => r.serverBytes(bytes, now), gap: (n) => r.serverGap(n, now), fin: () => undefined },
          4096,
        );
        client.start(100);
        server.start(0xfffffff0);
        let clientSeq = 100;
        let serverSeq = 0xfffffff0;
        for (let turn = 0; turn < 2; turn++) {
          clientSeq = sendReordered(client, clientSeq, b(requests[turn]!), size, retransmit, () => now++);
          serverSeq = sendReordered(server, serverSeq, b(answers[turn]!), size, retransmit, () => now++);
        }
        pushIf(done, r.end(false));
        assert.deepEqual(
          done.map((e) => [e.request.firstBytes.toString(), e.answer.firstBytes.toString(), e.answer.sha256]),
          requests.map((q, i) => [q, answers[i]!, sha(answers[i]!)]),
        );
      }),
    );
  });
});

function pushIf(list: Exchange[], e: Exchange | undefined): void {
  if (e !== undefined) list.push(e);
}

/** Cuts `bytes` into segments, sends them last-first (each hole filled last), some twice. */
function sendReordered(
  stream: InstanceType<typeof StreamReassembly>,
  seq: number,
  bytes: Buffer,
  size: number,
  retransmit: boolean,
  tick: () => void,
): number {
  const starts: number[] = [];
  for (let at = 0; at < bytes.length; at += size) starts.push(at);
  for (const at of starts.reverse()) {
    const piece = bytes.subarray(at, at + size);
    stream.segment((seq + at) >>> 0, piece, false);
    if (retransmit) stream.segment((seq + at) >>> 0, piece, false);
    tick();
  }
  return (seq + bytes.length) >>> 0;
}
