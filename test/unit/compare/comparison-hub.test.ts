// Production's connections meet their copies: each copy's answers compared with production's.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TcpFlag } from '@tcpcopy/common/packet';
import { toAddress } from '@tcpcopy/common/testing';
import { ComparisonHub, type CopyRef, type ExchangeComparison } from '@tcpcopy/copier/compare';

const { ACK, PSH, SYN, FIN } = TcpFlag;
const CLIENT = toAddress('10.0.0.9');
const TARGET = toAddress('10.0.0.3');
const LIMITS = { compareBytes: 64, requestBytes: 64, holdBytes: 1 << 16, maxConnections: 1 };
const TURNS = ['GET /a\r\n', 'GET /b\r\n'];

/** One connection's segments in time order, through `client` and `server` feeders. */
function converse(
  client: (seq: number, flags: number, payload: Buffer) => void,
  server: (seq: number, flags: number, payload: Buffer) => void,
  answers: readonly string[],
  afterSyn: () => void = () => {},
): void {
  let c = 100;
  let s = 9000;
  client(c++, SYN, Buffer.alloc(0));
  // The copier starts its copies when it captures the client's SYN.
  afterSyn();
  server(s++, SYN | ACK, Buffer.alloc(0));
  TURNS.forEach((turn, i) => {
    client(c, ACK | PSH, Buffer.from(turn));
    c += turn.length;
    server(s, ACK | PSH, Buffer.from(answers[i]!));
    s += answers[i]!.length;
  });
  client(c, ACK | FIN, Buffer.alloc(0));
  server(s, ACK | FIN, Buffer.alloc(0));
}

describe('comparison hub', () => {
  test("each copy's answers against production's; everything forgotten once compared", () => {
    const results: [CopyRef, ExchangeComparison][] = [];
    const hub = new ComparisonHub(LIMITS, (ref, c) => results.push([ref, c]));
    let at = 0;
    const copies = [
      { fake: toAddress('10.9.0.1'), answers: ['200 A', '200 B'] },
      { fake: toAddress('10.9.0.2'), answers: ['200 A', '500 B'] },
    ];
    converse(
      (seq, flags, p) => hub.productionSegment(true, CLIENT, 5000, seq, flags, p, at++),
      (seq, flags, p) => hub.productionSegment(false, CLIENT, 5000, seq, flags, p, at++),
      ['200 A', '200 B'],
      () =>
        copies.forEach(({ fake }, copy) =>
          hub.copyStarted({ clientIp: CLIENT, clientPort: 5000, targetIp: TARGET, targetPort: 80, copy }, fake, 5000),
        ),
    );
    assert.equal(hub.size, 1, 'kept for its copies');
    for (const { fake, answers } of copies) {
      converse(
        (seq, flags, p) => hub.copyClient(fake, 5000, seq, flags, p, at++),
        (seq, flags, p) => hub.copyServer(fake, 5000, seq, flags, p, at++),
        answers,
      );
      hub.copyEnded(fake, 5000, at++);
    }
    assert.deepEqual(
      results.map(([ref, c]) => [ref.copy, c.index, c.outcome, c.difference?.kind, c.difference?.offset]),
      [
        [0, 0, 'identical', undefined, undefined],
        [0, 1, 'identical', undefined, undefined],
        [1, 0, 'identical', undefined, undefined],
        [1, 1, 'different', 'bytes', 0],
      ],
    );
    assert.deepEqual(hub.counters, { connectionsShed: 0, compared: 4, identical: 3, different: 1, notComparable: 0 });
    assert.equal(hub.size, 0);
  });

  test('a copy that never answers is a timeout; connections beyond the limit are shed and counted', () => {
    const results: ExchangeComparison[] = [];
    const hub = new ComparisonHub(LIMITS, (_, c) => results.push(c));
    converse(
      (seq, flags, p) => hub.productionSegment(true, CLIENT, 5000, seq, flags, p, 0),
      (seq, flags, p) => hub.productionSegment(false, CLIENT, 5000, seq, flags, p, 0),
      ['200 A', '200 B'],
      () => hub.copyStarted({ clientIp: CLIENT, clientPort: 5000, targetIp: TARGET, targetPort: 80, copy: 0 }, 1, 5000),
    );
    hub.productionSegment(true, CLIENT, 5001, 1, SYN, Buffer.alloc(0), 1);
    assert.equal(hub.counters.connectionsShed, 1);
    hub.copyClient(1, 5000, 100, SYN, Buffer.alloc(0), 2);
    hub.copyEnded(1, 5000, 3);
    assert.deepEqual(
      results.map((c) => c.difference?.kind),
      ['timeout', 'timeout'],
    );
    assert.equal(hub.size, 0, 'ended, and its copy compared');
  });

  test('a production connection said gone (its session idled out) is forgotten without copies', () => {
    const hub = new ComparisonHub(LIMITS, () => assert.fail('nothing to compare'));
    hub.productionSegment(true, CLIENT, 5000, 100, SYN, Buffer.alloc(0), 0);
    hub.productionSegment(true, CLIENT, 5000, 101, ACK | PSH, Buffer.from(TURNS[0]!), 1);
    assert.equal(hub.size, 1);
    hub.productionGone(CLIENT, 5000, 2);
    assert.equal(hub.size, 0);
  });
});
