// Production's connections meet their copies: each copy's answers compared with production's (bytes mode).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ACK,
  CLIENT_PORT,
  EMPTY,
  Harness,
  PSH,
  SYN,
  conversation,
  hubOptions,
  type Segment,
  type Turn,
} from './hub-harness.js';

const TURNS: Turn[] = [
  { request: 'GET /a\r\n', answer: '200 A' },
  { request: 'GET /b\r\n', answer: '200 B' },
  { request: 'GET /c\r\n', answer: '200 C' },
];
const withAnswers = (answers: readonly string[]): Turn[] => TURNS.map((t, i) => ({ ...t, answer: answers[i]! }));

describe('comparison hub', () => {
  test('-n 2: each copy compared on its own against the same production exchanges', () => {
    const h = new Harness();
    const production = conversation(TURNS);
    assert.equal(h.start(0), true);
    assert.equal(h.start(1), true);
    h.production(production);
    assert.equal(h.hub.size, 1, 'kept for its copies');
    h.copy(0, conversation(TURNS));
    h.end(0);
    h.copy(1, conversation(withAnswers(['200 A', '500 B', '200 C'])));
    h.end(1);
    assert.deepEqual(h.summary, [
      [0, 'identical', undefined],
      [0, 'identical', undefined],
      [0, 'identical', undefined],
      [1, 'identical', undefined],
      [1, 'different', 'bytes'],
      [1, 'identical', undefined],
    ]);
    const record = h.reported[4]![2]!;
    assert.deepEqual(record.session, { client: '10.0.0.9:5000', target: '10.0.0.3:80', copy: 1 });
    assert.equal(record.exchange, 1);
    assert.equal(record.offset, 0);
    assert.equal(h.hub.counters.compared, 6);
    assert.equal(h.hub.counters.identical, 5);
    assert.equal(h.hub.counters.different, 1);
    assert.equal(h.hub.counters.byKind.bytes, 1);
    assert.equal(h.hub.size, 0, 'forgotten once ended and compared');
    assert.equal(h.hub.memoryBytes, 0);
  });

  test('connections closed on both sides are forgotten at once; the tuple released later changes nothing', () => {
    const h = new Harness();
    h.start(0);
    h.production(conversation(TURNS));
    h.copy(0, conversation(TURNS));
    assert.equal(h.hub.size, 0, 'both FINs on both sides: nothing left to wait for');
    assert.equal(h.hub.counters.identical, 3);
    h.end(0);
    assert.equal(h.hub.counters.compared, 3, 'not compared again');
    // A copy still open (no FIN from the test server yet) is kept until its tuple is released.
    h.start(0, 5001);
    h.production(conversation(TURNS), 5001);
    h.copy(0, conversation(TURNS, { ending: 'none' }), 5001);
    assert.equal(h.hub.size, 1);
    h.end(0, 5001);
    assert.equal(h.hub.size, 0);
    assert.equal(h.hub.counters.identical, 6);
  });

  test('production is followed only once a copy of it starts', () => {
    const h = new Harness();
    const production = conversation(TURNS);
    h.production(production.slice(0, 3));
    assert.equal(h.hub.size, 0, 'segments of a connection nobody copies are ignored');
    h.production(production, CLIENT_PORT + 1);
    assert.equal(h.hub.size, 0);
    assert.equal(h.start(0), true);
    assert.equal(h.hub.size, 1);
  });

  test('beyond maxConnections a copy is refused and counted; the copies of a followed one are not', () => {
    const h = new Harness(hubOptions({ maxConnections: 1 }));
    assert.equal(h.start(0), true);
    assert.equal(h.start(1), true, 'a second copy of the same connection');
    assert.equal(h.start(0, CLIENT_PORT + 1), false);
    assert.equal(h.hub.counters.connectionsShed, 1);
    assert.equal(h.hub.size, 1);
  });

  test('a copy that never answers: timeouts once it ended', () => {
    const h = new Harness();
    h.start(0);
    h.production(conversation(TURNS));
    h.copy(0, [{ fromClient: true, seq: 100, flags: SYN, payload: EMPTY }]);
    assert.deepEqual(h.summary, []);
    h.end(0);
    assert.deepEqual(h.summary, [
      [0, 'different', 'timeout'],
      [0, 'different', 'timeout'],
      [0, 'different', 'timeout'],
    ]);
    assert.equal(h.reported[0]![2]!.test, null);
    assert.equal(h.hub.counters.byKind.timeout, 3);
    assert.equal(h.hub.size, 0);
  });

  test('a copy ended before production: held, its last exchange compared when production ends', () => {
    const h = new Harness().run(conversation(TURNS, { ending: 'none' }), conversation(TURNS));
    assert.deepEqual(h.summary, [
      [0, 'identical', undefined],
      [0, 'identical', undefined],
    ]);
    assert.equal(h.hub.size, 1, 'held: production has not given its last exchange');
    h.production([{ fromClient: false, seq: 9016, flags: ACK, payload: Buffer.from('-more') }]);
    assert.equal(h.reported.length, 2);
    h.hub.productionGone(h.ref(0).clientIp, CLIENT_PORT, h.at++);
    assert.deepEqual(h.summary[2], [0, 'different', 'length'], "production's whole last answer");
    assert.equal(h.hub.size, 0);
  });

  test('a copy ended before production closes: compared at both FINs', () => {
    const h = new Harness();
    h.start(0);
    const production = conversation(TURNS);
    h.production(production.slice(0, -2));
    h.copy(0, conversation(TURNS));
    h.end(0);
    assert.equal(h.reported.length, 2);
    h.production(production.slice(-2));
    assert.deepEqual(
      h.summary.map(([, outcome]) => outcome),
      ['identical', 'identical', 'identical'],
    );
    assert.equal(h.hub.size, 0);
  });

  test('joined mid-stream: the turns before the first whole one are not compared', () => {
    const h = new Harness();
    h.start(0);
    h.start(1);
    // Production's capture starts at a client segment without SYN; each copy's SYN is faked one
    // before it, so the copy's stream starts at the same sequence number.
    const joined = conversation(TURNS, { handshake: false, clientIsn: 5000, serverIsn: 7000 });
    h.production(joined);
    const fakedSyn: Segment = { fromClient: true, seq: 4999, flags: SYN, payload: EMPTY };
    const copyAnswers = conversation(withAnswers(['400 ?', '200 B', '200 C']), { clientIsn: 4999 });
    h.copy(0, [fakedSyn, ...copyAnswers.slice(1)]);
    h.end(0);
    h.copy(1, [fakedSyn, ...conversation(withAnswers(['400 ?', '200 B', '503 C']), { clientIsn: 4999 }).slice(1)]);
    h.end(1);
    assert.deepEqual(h.summary, [
      [0, 'identical', undefined],
      [0, 'identical', undefined],
      [1, 'identical', undefined],
      [1, 'different', 'bytes'],
    ]);
    assert.equal(h.reported[3]![2]!.exchange, 2);
    assert.equal(h.hub.counters.compared, 4, 'the partial first turn is not counted');
  });

  test("production's server side starting mid-answer: that exchange is not compared", () => {
    // The client's SYN is seen, production's SYN-ACK and the start of its first answer are not.
    const production = conversation(TURNS).filter((s) => !(s.flags & SYN) || s.fromClient);
    const h = new Harness().run(production, conversation(TURNS));
    assert.deepEqual(h.summary, [
      [0, 'identical', undefined],
      [0, 'identical', undefined],
    ]);
  });

  test('a client reusing the endpoint of a connection still held for its copy: a new one is followed', () => {
    const h = new Harness();
    h.start(0);
    h.production(conversation(TURNS));
    assert.equal(h.hub.size, 1);
    h.start(1);
    assert.equal(h.hub.size, 2, 'the old one lives on for copy 0');
    h.production(conversation(TURNS.slice(0, 1), { clientIsn: 50_000 }));
    h.copy(0, conversation(TURNS));
    h.end(0);
    h.copy(1, conversation(TURNS.slice(0, 1), { clientIsn: 50_000 }));
    h.end(1);
    assert.deepEqual(
      h.summary.map(([copy, outcome]) => [copy, outcome]),
      [
        [0, 'identical'],
        [0, 'identical'],
        [0, 'identical'],
        [1, 'identical'],
      ],
    );
    assert.equal(h.hub.size, 0);
  });

  test('memoryBytes grows with what is held and shrinks as copies are compared', () => {
    const h = new Harness(hubOptions({ compareBytes: 4096 }));
    h.start(0);
    const big = 'x'.repeat(3000);
    const turns: Turn[] = [
      { request: 'q1', answer: big },
      { request: 'q2', answer: big },
      { request: 'q3', answer: big },
    ];
    const production = conversation(turns);
    h.production(production.slice(0, 2));
    const idle = h.hub.memoryBytes;
    h.production(production.slice(2, 6));
    const afterTwo = h.hub.memoryBytes;
    assert.ok(afterTwo >= idle + 2 * 3000, `${afterTwo} holds two kept answers`);
    // Bytes beyond a hole are held by reassembly.
    h.production([{ fromClient: false, seq: 9000 + 1 + 6000 + 100, flags: ACK | PSH, payload: Buffer.alloc(500) }]);
    assert.ok(h.hub.memoryBytes >= afterTwo + 500);
    h.copy(0, conversation(turns).slice(0, 6));
    assert.ok(h.hub.memoryBytes > afterTwo, 'the copy holds its answers until compared');
    h.production(production.slice(6));
    h.copy(0, conversation(turns).slice(6));
    h.end(0);
    assert.equal(h.hub.memoryBytes, 0);
    assert.equal(h.hub.size, 0);
  });
});
