/**
 * RawSocketSink's queue, copy, retry and error accounting, against a fake socket (the real one
 * is exercised in the lab: test/e2e/lab-smoke, lab-io).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import fc from 'fast-check';
import { RawSocketSink, errnoName, type RawSocket, type SendCallback } from '@tcpcopy/common';

const DST = '10.231.0.40';

class FakeSocket extends EventEmitter implements RawSocket {
  readonly sends: { bytes: Buffer; dst: string }[] = [];
  private readonly callbacks: SendCallback[] = [];
  closed = false;
  recvPaused = false;

  send(buffer: Buffer, offset: number, length: number, address: string, cb: SendCallback): this {
    this.sends.push({ bytes: Buffer.from(buffer.subarray(offset, offset + length)), dst: address });
    this.callbacks.push(cb);
    return this;
  }
  pauseRecv(): this {
    this.recvPaused = true;
    return this;
  }
  close(): this {
    this.closed = true;
    return this;
  }
  get inFlight(): number {
    return this.callbacks.length;
  }
  /** Completes the oldest send, successfully or with strerror text as raw-socket reports it. */
  complete(strerror?: string): void {
    const cb = this.callbacks.shift();
    assert.ok(cb, 'no send in flight');
    cb(strerror === undefined ? null : new Error(strerror), 0);
  }
}

function setup(options: ConstructorParameters<typeof RawSocketSink>[0] = {}): {
  sink: RawSocketSink;
  sockets: FakeSocket[];
} {
  const sockets: FakeSocket[] = [];
  const sink = new RawSocketSink({
    ...options,
    createSocket: () => {
      const s = new FakeSocket();
      sockets.push(s);
      return s;
    },
  });
  return { sink, sockets };
}

const tick = (ms = 5): Promise<void> => new Promise((r) => setTimeout(r, ms));
const packet = (fill: number, length = 40): Buffer => Buffer.alloc(length, fill);

describe('RawSocketSink', () => {
  test('opens one socket with receive paused', () => {
    const { sockets } = setup();
    assert.equal(sockets.length, 1);
    assert.equal(sockets[0]!.recvPaused, true);
  });

  test('keeps one send in flight, in order, and copies packets (callers reuse buffers)', () => {
    const { sink, sockets } = setup();
    const fake = sockets[0]!;
    const buf = packet(1);
    for (const fill of [1, 2, 3]) {
      buf.fill(fill);
      assert.equal(sink.send(buf, 0, buf.length, DST), true);
    }
    buf.fill(9);
    assert.equal(fake.inFlight, 1);
    fake.complete();
    fake.complete();
    fake.complete();
    assert.deepEqual(
      fake.sends.map((s) => s.bytes[0]),
      [1, 2, 3],
    );
    assert.deepEqual(sink.stats(), { sent: 3, errors: {}, retried: 0, queueFull: 0, queued: 0 });
  });

  test('sends only [offset, offset+length) of the caller buffer', () => {
    const { sink, sockets } = setup();
    const buf = Buffer.from([0, 1, 2, 3, 4, 5]);
    sink.send(buf, 2, 3, DST);
    assert.deepEqual([...sockets[0]!.sends[0]!.bytes], [2, 3, 4]);
    assert.equal(sockets[0]!.sends[0]!.dst, DST);
  });

  test('retries transient errors, then counts them by errno name', async () => {
    const { sink, sockets } = setup({ maxRetries: 2 });
    const fake = sockets[0]!;
    sink.send(packet(7), 0, 40, DST);
    sink.send(packet(8), 0, 40, DST);
    fake.complete('No buffer space available');
    await tick();
    assert.equal(fake.sends.length, 2, 'the same packet is sent again');
    assert.equal(fake.sends[1]!.bytes[0], 7);
    fake.complete('No buffer space available');
    await tick();
    fake.complete('No buffer space available');
    // Retries exhausted: counted, and the next packet goes.
    assert.equal(fake.sends.length, 4);
    assert.equal(fake.sends[3]!.bytes[0], 8);
    fake.complete();
    assert.deepEqual(sink.stats(), { sent: 1, errors: { ENOBUFS: 1 }, retried: 2, queueFull: 0, queued: 0 });
  });

  test('does not retry permanent errors, and never throws', () => {
    const { sink, sockets } = setup();
    const fake = sockets[0]!;
    sink.send(packet(1), 0, 40, DST);
    sink.send(packet(2), 0, 40, DST);
    fake.complete('Operation not permitted');
    fake.complete('Message too long');
    assert.deepEqual(sink.stats().errors, { EPERM: 1, EMSGSIZE: 1 });
    assert.equal(fake.sends.length, 2);
  });

  test('refuses when the queue is full, and bad addresses', () => {
    const { sink, sockets } = setup({ queueCapacity: 2 });
    assert.equal(sink.send(packet(1), 0, 40, DST), true);
    assert.equal(sink.send(packet(2), 0, 40, DST), true);
    assert.equal(sink.send(packet(3), 0, 40, DST), false);
    assert.equal(sink.send(packet(4), 0, 40, 'not-an-ip'), false);
    assert.equal(sink.send(packet(5), 0, 40, '::1'), false);
    assert.deepEqual(sink.stats(), { sent: 0, errors: { EADDRESS: 2 }, retried: 0, queueFull: 1, queued: 2 });
    sockets[0]!.complete();
    assert.equal(sink.send(packet(6), 0, 40, DST), true, 'room again after a completion');
  });

  test('packets longer than a slot get their own buffer; slots are reused after', () => {
    const { sink, sockets } = setup({ slotBytes: 64, queueCapacity: 2 });
    const fake = sockets[0]!;
    const big = Buffer.from(Array.from({ length: 100 }, (_, i) => i));
    sink.send(big, 0, big.length, DST);
    sink.send(packet(5, 64), 0, 64, DST);
    fake.complete();
    sink.send(packet(6, 10), 0, 10, DST);
    fake.complete();
    fake.complete();
    assert.deepEqual(
      fake.sends.map((s) => s.bytes.length),
      [100, 64, 10],
    );
    assert.deepEqual(fake.sends[0]!.bytes, big);
    assert.equal(sink.stats().sent, 3);
  });

  test('a socket error opens a new socket and resends the packet in flight', () => {
    const { sink, sockets } = setup();
    sink.send(packet(3), 0, 40, DST);
    sockets[0]!.emit('error', new Error('Network is down'));
    assert.equal(sockets.length, 2);
    assert.equal(sockets[1]!.sends[0]!.bytes[0], 3);
    sockets[1]!.complete();
    assert.deepEqual(sink.stats(), { sent: 1, errors: { ENETDOWN: 1 }, retried: 1, queueFull: 0, queued: 0 });
  });

  test('close() sends what is queued, closes the socket, then refuses', async () => {
    const { sink, sockets } = setup();
    const fake = sockets[0]!;
    sink.send(packet(1), 0, 40, DST);
    sink.send(packet(2), 0, 40, DST);
    const closed = sink.close();
    fake.complete();
    fake.complete();
    await closed;
    assert.equal(fake.closed, true);
    assert.equal(sink.send(packet(3), 0, 40, DST), false);
    assert.deepEqual(sink.stats(), { sent: 2, errors: { ECLOSED: 1 }, retried: 0, queueFull: 0, queued: 0 });
  });

  test('property: every accepted packet is sent once, in order, or counted as an error', async () => {
    const outcome = fc.constantFrom<string | undefined>(
      undefined,
      undefined,
      'No buffer space available',
      'Operation not permitted',
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(outcome, { minLength: 4, maxLength: 4 }), { minLength: 1, maxLength: 30 }),
        async (plans) => {
          const { sink, sockets } = setup({ maxRetries: 1, queueCapacity: 8 });
          const fake = sockets[0]!;
          let accepted = 0;
          for (const [i] of plans.entries()) if (sink.send(packet(i + 1), 0, 40, DST)) accepted++;
          let attempt = 0;
          let current = -1;
          while (sink.stats().queued > 0) {
            if (fake.inFlight === 0) {
              await tick(2);
              continue;
            }
            const id = fake.sends[fake.sends.length - 1]!.bytes[0]!;
            attempt = id === current ? attempt + 1 : 0;
            current = id;
            fake.complete(plans[id - 1]![attempt]);
          }
          const s = sink.stats();
          const failed = (s.errors['ENOBUFS'] ?? 0) + (s.errors['EPERM'] ?? 0);
          assert.equal(s.sent + failed, accepted);
          assert.equal(s.queueFull, plans.length - accepted);
          const firstAttempts = fake.sends.map((x) => x.bytes[0]!).filter((id, i, all) => i === 0 || all[i - 1] !== id);
          assert.deepEqual(
            firstAttempts,
            Array.from({ length: accepted }, (_, i) => i + 1),
          );
        },
      ),
      { numRuns: 40 },
    );
  });
});

/** A socket whose binding sends synchronously, failing with the scripted errors first. */
class ImmediateSocket extends FakeSocket {
  readonly immediate: Buffer[] = [];
  constructor(private readonly failures: string[]) {
    super();
  }
  sendNow(buffer: Buffer, offset: number, length: number): void {
    const failure = this.failures.shift();
    if (failure !== undefined) throw new Error(failure);
    this.immediate.push(Buffer.from(buffer.subarray(offset, offset + length)));
  }
}

describe('RawSocketSink with a synchronous binding', () => {
  test('sends at once without queueing while the kernel takes packets', () => {
    const fake = new ImmediateSocket([]);
    const sink = new RawSocketSink({ createSocket: () => fake });
    const buf = packet(7);
    for (let i = 0; i < 100; i++) assert.equal(sink.send(buf, 0, buf.length, DST), true);
    assert.equal(fake.immediate.length, 100);
    assert.equal(fake.sends.length, 0, 'nothing went through the callback queue');
    assert.equal(sink.stats().sent, 100);
  });

  test('after a transient error, packets queue in order and all go at once when the wait is over', async () => {
    const fake = new ImmediateSocket(['No buffer space available']);
    // A clock that stands still: only the timer ends the wait.
    const sink = new RawSocketSink({ createSocket: () => fake, now: () => 0 });
    for (let i = 1; i <= 1000; i++) assert.equal(sink.send(packet(i & 0xff), 0, 40, DST), true);
    assert.equal(fake.immediate.length, 0, 'the failed packet and those behind it wait');
    assert.equal(sink.stats().queued, 1000);
    await tick();
    // One timer, not one event-loop turn per packet: the queue is gone in one go.
    assert.deepEqual(
      fake.immediate.map((b) => b[0]),
      Array.from({ length: 1000 }, (_, i) => (i + 1) & 0xff),
    );
    assert.equal(fake.sends.length, 0, "nothing went through raw-socket's one-per-turn queue");
    assert.deepEqual(sink.stats(), { sent: 1000, errors: {}, retried: 1, queueFull: 0, queued: 0 });
    assert.equal(sink.send(packet(9), 0, 40, DST), true);
    assert.equal(fake.immediate.length, 1001, 'direct again');
  });

  test('the queue goes from the next send once the wait is over, without waiting for its timer', () => {
    // A capture drain handing over thousands of packets in one event-loop turn: the timer cannot
    // fire until it ends, so every packet behind one ENOBUFS would queue (and overflow) meanwhile.
    let now = 0;
    const fake = new ImmediateSocket(['No buffer space available']);
    const sink = new RawSocketSink({ createSocket: () => fake, now: () => now, queueCapacity: 16 });
    for (let i = 1; i <= 10; i++) assert.equal(sink.send(packet(i), 0, 40, DST), true);
    assert.equal(sink.stats().queued, 10, 'within the wait, packets queue');
    now = 1;
    for (let i = 11; i <= 100; i++) assert.equal(sink.send(packet(i), 0, 40, DST), true);
    assert.deepEqual(
      fake.immediate.map((b) => b[0]),
      Array.from({ length: 100 }, (_, i) => i + 1),
    );
    assert.deepEqual(sink.stats(), { sent: 100, errors: {}, retried: 1, queueFull: 0, queued: 0 });
  });

  test('a packet the kernel keeps refusing is given up on after the retries, and counted', async () => {
    const fake = new ImmediateSocket(Array.from({ length: 4 }, () => 'No buffer space available'));
    const sink = new RawSocketSink({ createSocket: () => fake, maxRetries: 3 });
    assert.equal(sink.send(packet(1), 0, 40, DST), true);
    assert.equal(sink.send(packet(2), 0, 40, DST), true);
    await sink.flush();
    assert.deepEqual(
      fake.immediate.map((b) => b[0]),
      [2],
    );
    assert.deepEqual(sink.stats().errors, { ENOBUFS: 1 });
    assert.equal(sink.stats().retried, 3, 'the first try and three retries');
  });

  test('counts a permanent error and refuses the packet', () => {
    const fake = new ImmediateSocket(['Message too long']);
    const sink = new RawSocketSink({ createSocket: () => fake });
    assert.equal(sink.send(packet(1), 0, 40, DST), false);
    assert.equal(sink.stats().errors['EMSGSIZE'], 1);
    assert.equal(sink.send(packet(2), 0, 40, DST), true);
  });
});

describe('errnoName', () => {
  test('maps strerror text to errno names', () => {
    assert.equal(errnoName(new Error('No buffer space available')), 'ENOBUFS');
    assert.equal(errnoName(new Error('Operation not permitted')), 'EPERM');
    assert.equal(errnoName(new Error('Message too long')), 'EMSGSIZE');
    assert.equal(errnoName(new Error('Network is unreachable')), 'ENETUNREACH');
    assert.equal(errnoName(new Error('something else')), 'UNKNOWN');
  });
});
