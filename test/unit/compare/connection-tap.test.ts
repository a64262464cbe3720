// A connection watched from the side: both directions' segments, as a capture sees them, into exchanges.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { TcpFlag } from '@tcpcopy/common/packet';
import { ConnectionTap, type Exchange } from '@tcpcopy/copier/compare';

const LIMITS = { compareBytes: 16, requestBytes: 64, holdBytes: 1 << 16 };
const CLIENT_ISN = 0xfffffff0; // wraps during the test
const SERVER_ISN = 5000;
const { ACK, PSH, SYN, FIN, RST } = TcpFlag;
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function tap(): { tap: ConnectionTap; exchanges: Exchange[] } {
  const exchanges: Exchange[] = [];
  return { tap: new ConnectionTap(LIMITS, (e) => exchanges.push(e)), exchanges };
}

describe('connection tap', () => {
  test('keep-alive: two turns, answers split, reordered and retransmitted, closed by FINs', () => {
    const { tap: t, exchanges } = tap();
    const request1 = Buffer.from('GET /a HTTP/1.1\r\n\r\n');
    const answer1 = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789');
    const request2 = Buffer.from('GET /b HTTP/1.1\r\n\r\n');
    const answer2 = Buffer.from('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
    let c = (CLIENT_ISN + 1) >>> 0;
    let s = SERVER_ISN + 1;
    t.clientSegment(CLIENT_ISN, SYN, Buffer.alloc(0), 1);
    t.serverSegment(SERVER_ISN, SYN | ACK, Buffer.alloc(0), 2);
    t.clientSegment(c, ACK | PSH, request1, 3);
    c = (c + request1.length) >>> 0;
    // The answer in three pieces: the last first, the middle twice.
    const [p1, p2, p3] = [answer1.subarray(0, 10), answer1.subarray(10, 30), answer1.subarray(30)];
    t.serverSegment(s + 30, ACK, p3, 4);
    t.serverSegment(s + 10, ACK, p2, 5);
    t.serverSegment(s, ACK, p1, 6);
    t.serverSegment(s + 10, ACK, p2, 7);
    s += answer1.length;
    t.clientSegment(c, ACK | PSH, request2, 8);
    c = (c + request2.length) >>> 0;
    assert.equal(exchanges.length, 1, "the client's next turn closes the first exchange");
    t.serverSegment(s, ACK | PSH, answer2, 9);
    s += answer2.length;
    t.clientSegment(c, ACK | FIN, Buffer.alloc(0), 10);
    t.serverSegment(s, ACK | FIN, Buffer.alloc(0), 11);
    assert.equal(t.end, 'closed');
    assert.deepEqual(
      exchanges.map((e) => ({
        index: e.index,
        request: e.request.firstBytes.toString(),
        answerLength: e.answer.length,
        sha256: e.answer.sha256,
        prefix: e.answer.firstBytes.toString(),
        lost: e.answer.lostBytes,
        ending: e.ending,
      })),
      [
        {
          index: 0,
          request: request1.toString(),
          answerLength: answer1.length,
          sha256: sha256(answer1),
          prefix: answer1.subarray(0, 16).toString(),
          lost: 0,
          ending: 'next-turn',
        },
        {
          index: 1,
          request: request2.toString(),
          answerLength: answer2.length,
          sha256: sha256(answer2),
          prefix: answer2.subarray(0, 16).toString(),
          lost: 0,
          ending: 'end',
        },
      ],
    );
  });

  test('a reset in the middle of an answer ends the exchange as reset; nothing after counts', () => {
    const { tap: t, exchanges } = tap();
    t.clientSegment(100, ACK | PSH, Buffer.from('PING\r\n'), 1); // joined mid-stream: no SYN seen
    t.serverSegment(900, ACK, Buffer.from('+PO'), 2);
    t.serverSegment(903, RST, Buffer.alloc(0), 3);
    t.serverSegment(903, ACK, Buffer.from('NG\r\n'), 4);
    assert.equal(t.end, 'reset');
    assert.equal(exchanges.length, 1);
    assert.equal(exchanges[0]!.ending, 'reset');
    assert.equal(exchanges[0]!.answer.firstBytes.toString(), '+PO');
  });

  test('abandoned with a hole: the hole is counted lost, the exchange handed over once', () => {
    const { tap: t, exchanges } = tap();
    t.clientSegment(1, ACK | PSH, Buffer.from('GET /\r\n'), 1);
    t.serverSegment(50, ACK, Buffer.from('abc'), 2);
    t.serverSegment(60, ACK, Buffer.from('xyz'), 3); // 53..59 never seen
    t.abandon(4);
    t.abandon(5);
    assert.equal(t.end, 'abandoned');
    assert.equal(exchanges.length, 1);
    assert.equal(exchanges[0]!.answer.length, 13);
    assert.equal(exchanges[0]!.answer.lostBytes, 7);
  });
});
