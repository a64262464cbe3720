/** A copier-like control client and a fake packet source, for driving InterceptDaemon on loopback. */
import { connect, type Socket } from 'node:net';
import type { TestContext } from 'node:test';
import {
  CONTROL_PROTOCOL_VERSION,
  ControlError,
  ControlMessageType,
  CopierAuth,
  FrameDecoder,
  LinkType,
  ResponseBatchCursor,
  createLogger,
  encodeFrame,
  type ControlAuthKey,
  type ControlMessage,
  type HelloMessage,
  type PacketHandler,
  type PacketSource,
  type SourceStats,
} from '@tcpcopy/common';
import { wrapLink } from '@tcpcopy/common/testing';
import { InterceptDaemon, type InterceptDaemonOptions } from '@tcpcopy/intercept';

const WAIT_MS = 3000;

/**
 * Delivers frames the way a capture does: through one buffer that the next frame overwrites.
 * After each delivery the buffer is scribbled over, so a daemon that keeps a reference to it
 * instead of copying sends garbage.
 */
export class FakeSource implements PacketSource {
  private handler: PacketHandler | undefined;
  private readonly buffer = Buffer.alloc(65535);
  private received = 0;
  started = 0;
  stopped = 0;

  constructor(private readonly failure?: Error) {}

  start(onPacket: PacketHandler): void {
    if (this.failure !== undefined) throw this.failure;
    this.started++;
    this.handler = onPacket;
  }

  stop(): void {
    this.stopped++;
    this.handler = undefined;
  }

  stats(): SourceStats {
    return { received: this.received, truncated: 0 };
  }

  /** One captured IPv4 packet behind `linkType`'s header; `cut` bytes are left off the end. */
  emit(ipPacket: Buffer, linkType: LinkType = LinkType.Ethernet, cut = 0): void {
    this.emitFrame(wrapLink(linkType, ipPacket), linkType, cut);
  }

  emitFrame(frame: Buffer, linkType: LinkType, cut = 0): void {
    if (this.handler === undefined) throw new Error('source not started');
    frame.copy(this.buffer);
    this.received++;
    this.handler(this.buffer, 0, frame.length - cut, linkType);
    this.buffer.fill(0xee, 0, frame.length);
  }
}

export interface Harness {
  daemon: InterceptDaemon;
  source: FakeSource;
  port: number;
  /** Log lines (pino JSON) written so far. */
  logs: string[];
}

export async function startDaemon(t: TestContext, options: Partial<InterceptDaemonOptions> = {}): Promise<Harness> {
  const source = options.source instanceof FakeSource ? options.source : new FakeSource();
  const logs: string[] = [];
  const log = createLogger({ name: 'intercept', level: 'info', stderr: { write: (s: string) => logs.push(s) } });
  const daemon = new InterceptDaemon({
    host: '127.0.0.1',
    port: 0,
    source,
    log,
    instanceId: 'test:1',
    software: 'intercept test',
    statsIntervalMs: 0,
    closeGraceMs: 200,
    ...options,
  });
  const address = await daemon.start();
  t.after(() => daemon.stop());
  return { daemon, source, port: address.port, logs };
}

/** The copier's end of one control connection, recording everything it receives. */
export class TestCopier {
  readonly messages: ControlMessage[] = [];
  decodeError: ControlError | undefined;
  readonly closed: Promise<void>;
  private readonly waiters = new Set<() => void>();

  private constructor(readonly socket: Socket) {
    const decoder = new FrameDecoder({
      onMessage: (msg) => {
        this.messages.push(msg);
        this.wake();
      },
      onError: (err) => {
        this.decodeError = err;
      },
    });
    socket.on('data', (chunk: Buffer) => decoder.push(chunk));
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  static async connect(t: TestContext, port: number): Promise<TestCopier> {
    const socket = connect({ host: '127.0.0.1', port });
    t.after(() => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new TestCopier(socket);
  }

  /** Connects and completes the hello exchange, proving `key` and asking for `features` when given. */
  static async ready(t: TestContext, port: number, key?: ControlAuthKey, features?: string[]): Promise<TestCopier> {
    const c = await TestCopier.connect(t, port);
    const auth = new CopierAuth(key);
    c.send({
      type: ControlMessageType.Hello,
      version: CONTROL_PROTOCOL_VERSION,
      role: 'copier',
      instanceId: 'copier:1',
      software: 'test',
      auth: auth.helloAuth,
      ...(features === undefined ? {} : { features }),
    });
    const hello = await c.waitFor((m) => m.type === ControlMessageType.Hello);
    const proof = hello.type === ControlMessageType.Hello ? auth.onInterceptHello(hello) : undefined;
    if (proof instanceof ControlError) throw proof;
    if (proof !== undefined) c.send({ type: ControlMessageType.Auth, proof });
    return c;
  }

  /** Resolves when the intercept has closed the connection; rejects after `timeoutMs`. */
  waitClosed(timeoutMs = WAIT_MS): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`connection still open after ${timeoutMs} ms`)), timeoutMs);
    });
    return Promise.race([this.closed, timeout]).finally(() => clearTimeout(timer));
  }

  send(msg: ControlMessage): void {
    this.socket.write(encodeFrame(msg));
  }

  get hello(): HelloMessage | undefined {
    return this.messages.find((m): m is HelloMessage => m.type === ControlMessageType.Hello);
  }

  /** Resolves once a received message satisfies `pred` (or already has). */
  waitFor(pred: (msg: ControlMessage) => boolean, timeoutMs = WAIT_MS): Promise<ControlMessage> {
    return this.until(() => this.messages.find(pred), timeoutMs, 'message');
  }

  /** Resolves once `n` response records have arrived; returns all of them. */
  waitForRecords(n: number, timeoutMs = WAIT_MS): Promise<Buffer[]> {
    return this.until(() => (this.records().length >= n ? this.records() : undefined), timeoutMs, `${n} records`);
  }

  /**
   * Sends a heartbeat and waits for its echo: the intercept handles a connection's messages in
   * order, so everything sent before has been acted on when the echo arrives.
   */
  async sync(): Promise<void> {
    const before = this.messages.filter((m) => m.type === ControlMessageType.Heartbeat).length;
    this.send({ type: ControlMessageType.Heartbeat, timeMs: Date.now() });
    await this.until(
      () => (this.messages.filter((m) => m.type === ControlMessageType.Heartbeat).length > before ? true : undefined),
      WAIT_MS,
      'heartbeat echo',
    );
  }

  /** Every response record received so far, in order (copies). */
  records(): Buffer[] {
    const out: Buffer[] = [];
    const cursor = new ResponseBatchCursor();
    for (const m of this.messages) {
      if (m.type !== ControlMessageType.Responses) continue;
      cursor.reset(m.records);
      while (cursor.next()) out.push(Buffer.from(cursor.buffer.subarray(cursor.offset, cursor.offset + cursor.length)));
    }
    return out;
  }

  private wake(): void {
    for (const w of this.waiters) w();
  }

  private until<T>(probe: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const v = probe();
        if (v === undefined) return;
        done();
        resolve(v);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; got ${this.messages.length} messages`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }
}

/** Polls `probe` until it is true (for state the daemon changes without telling a client). */
export async function eventually(probe: () => boolean, what: string, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
