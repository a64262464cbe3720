/**
 * Injection through a raw IPv4 socket (the `raw-socket` binding). Protocol IPPROTO_RAW implies
 * IP_HDRINCL (raw(7)): we hand the kernel complete IPv4 packets, and such a socket receives
 * nothing. raw-socket's own send() queues each packet until the socket polls writable, one send
 * per event-loop turn: far too slow for bursts (a capture wake-up delivers many packets). Its
 * binding's send is a plain non-blocking sendto(), so the sink calls it directly. After a
 * transient error (ENOBUFS: the socket's send buffer is full of packets the devices have not
 * freed yet, or the device's queue is full) it queues, in pooled slots, for RETRY_DELAY_MS, then
 * sends the whole queue at once again: from the next send() once the wait is over, or from a
 * timer if none comes. (Waiting for the timer alone, one ENOBUFS in the middle of a long capture
 * drain made every packet behind it queue until the drain ended: 12,000 refused at overload.
 * Draining that queue through raw-socket's send, one packet per event-loop turn, let one ENOBUFS
 * at 10,000 requests/s fill it for good: 177,000 packets refused, the copy collapsed.)
 * Unlike upstream tcpcopy, a failed send never ends the process: transient errors are retried a
 * few times, then every failure is counted by errno name.
 */
import { createRequire } from 'node:module';
import { isIPv4 } from 'node:net';
import { getSystemErrorMap } from 'node:util';
import { ErrorCode, PacketIoError } from '../errors.js';
import type { PacketSink, SinkStats } from './sink.js';

/** IPPROTO_RAW (RFC 790 assigns 255 as reserved; Linux uses it for "raw IP, header included"). */
export const IPPROTO_RAW = 255;

export type SendCallback = (error: Error | null, bytes: number) => void;
/** The parts of a `raw-socket` Socket the sink uses (the package ships no types); tests hand
 *  in a fake through RawSocketSinkOptions.createSocket. */
export interface RawSocket {
  send(buffer: Buffer, offset: number, length: number, address: string, afterCallback: SendCallback): unknown;
  /** Immediate non-blocking send; throws the errno's strerror() text. Absent: queue only. */
  sendNow?(buffer: Buffer, offset: number, length: number, address: string): void;
  pauseRecv(): unknown;
  close(): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
}
interface RawSocketModule {
  createSocket(options: { protocol: number }): RawSocket;
}

let rawModule: RawSocketModule | undefined;
/** Loaded on first use: importing @tcpcopy/common must not load a native addon. */
function loadRawSocket(): RawSocketModule {
  rawModule ??= createRequire(import.meta.url)('raw-socket') as RawSocketModule;
  return rawModule;
}

export interface RawSocketSinkOptions {
  /** Packets that may wait for the socket; more are refused (counted as queueFull). */
  queueCapacity?: number;
  /** Bytes per pooled slot; a longer packet gets a buffer of its own. */
  slotBytes?: number;
  /** Extra attempts for a packet that met a transient error (ENOBUFS, EAGAIN, ...). */
  maxRetries?: number;
  /** Opens the socket; default raw-socket's createSocket({ protocol: IPPROTO_RAW }). */
  createSocket?: () => RawSocket;
  /** Milliseconds, for the wait after a transient error; default performance.now. */
  now?: () => number;
  /** What createSocket opens, for the error when it cannot; default "a raw IPv4 socket". */
  socketName?: string;
}

/** What raw-socket's Socket wraps: its binding, whose send() is synchronous. */
interface RawSocketBinding {
  send(buffer: Buffer, offset: number, length: number, address: string, done: (bytes: number) => void): unknown;
}

const IGNORE_BYTES = (): void => {};

function createRawSocket(): RawSocket {
  const socket = loadRawSocket().createSocket({ protocol: IPPROTO_RAW }) as RawSocket & { wrap: RawSocketBinding };
  socket.sendNow = (buffer, offset, length, address) => {
    socket.wrap.send(buffer, offset, length, address, IGNORE_BYTES);
  };
  return socket;
}

export const DEFAULT_SINK_QUEUE = 4096;
/** An Ethernet-MTU packet fits; jumbo packets take the (allocating) oversize path. */
export const DEFAULT_SLOT_BYTES = 2048;
export const DEFAULT_SEND_RETRIES = 3;
const RETRY_DELAY_MS = 1;
const CLOSE_WAIT_MS = 2000;
/** Errors worth another try: the kernel was short of buffers or the socket was full. */
const TRANSIENT = new Set(['ENOBUFS', 'EAGAIN', 'EWOULDBLOCK', 'ENOMEM', 'EINTR']);

/** raw-socket reports errors as strerror() text; libuv knows the same texts by errno name. */
let errnoByMessage: Map<string, string> | undefined;
export function errnoName(err: Error): string {
  if (!errnoByMessage) {
    errnoByMessage = new Map();
    for (const [name, message] of getSystemErrorMap().values()) errnoByMessage.set(message.toLowerCase(), name);
  }
  return errnoByMessage.get(err.message.toLowerCase()) ?? 'UNKNOWN';
}

export class RawSocketSink implements PacketSink {
  private socket: RawSocket;
  private readonly capacity: number;
  private readonly slotBytes: number;
  private readonly maxRetries: number;
  private readonly createSocket: () => RawSocket;
  /** Slot i is pool[i*slotBytes ..]; `buffers[i]` is that view, or an oversize packet's own buffer. */
  private readonly pool: Buffer;
  private readonly buffers: Buffer[];
  private readonly lengths: Uint32Array;
  private readonly attempts: Uint8Array;
  private readonly dsts: string[];
  private head = 0;
  private count = 0;
  private inFlight = false;
  private closed = false;
  private sent = 0;
  private retried = 0;
  private queueFull = 0;
  private readonly errors = new Map<string, number>();
  private drained: (() => void)[] = [];
  /** Set while queued packets wait out a transient error (synchronous binding only). */
  private retryTimer: NodeJS.Timeout | undefined;
  /** When the queue may be tried again. */
  private retryAt = 0;
  private readonly now: () => number;
  private readonly socketName: string;
  /** Created once: raw-socket calls it after every send. */
  private readonly onSent: SendCallback = (error) => this.completed(error);

  /** Throws PacketIoError(RAW_SOCKET) when the socket cannot be made (e.g. not root). */
  constructor(options: RawSocketSinkOptions = {}) {
    this.capacity = options.queueCapacity ?? DEFAULT_SINK_QUEUE;
    this.slotBytes = options.slotBytes ?? DEFAULT_SLOT_BYTES;
    this.maxRetries = options.maxRetries ?? DEFAULT_SEND_RETRIES;
    this.createSocket = options.createSocket ?? createRawSocket;
    this.now = options.now ?? (() => performance.now());
    this.socketName = options.socketName ?? 'a raw IPv4 socket';
    this.pool = Buffer.alloc(this.capacity * this.slotBytes);
    this.buffers = Array.from({ length: this.capacity }, (_, i) => this.slotView(i));
    this.lengths = new Uint32Array(this.capacity);
    this.attempts = new Uint8Array(this.capacity);
    this.dsts = new Array<string>(this.capacity).fill('');
    this.socket = this.openSocket();
  }

  send(buf: Buffer, offset: number, length: number, dstIp: string): boolean {
    if (this.closed) return this.refuse('ECLOSED');
    // Checked here because raw-socket would report it synchronously from inside send().
    if (!isIPv4(dstIp)) return this.refuse('EADDRESS');
    const sendNow = this.socket.sendNow;
    if (sendNow === undefined) {
      if (!this.enqueue(buf, offset, length, dstIp)) return false;
      if (!this.inFlight) this.submit();
      return true;
    }
    // Queued packets go first: while they wait out a transient error, so does this one.
    if (this.count > 0 && this.now() >= this.retryAt) this.retryQueued();
    let failed = false;
    if (this.count === 0) {
      try {
        sendNow.call(this.socket, buf, offset, length, dstIp);
        this.sent++;
        return true;
      } catch (err) {
        const code = errnoName(err as Error);
        if (!TRANSIENT.has(code)) return this.refuse(code);
        this.retried++;
        failed = true;
      }
    }
    if (!this.enqueue(buf, offset, length, dstIp)) return false;
    if (failed) {
      this.attempts[this.head] = 1;
      this.waitBeforeRetry();
    }
    return true;
  }

  private waitBeforeRetry(): void {
    this.retryAt = this.now() + RETRY_DELAY_MS;
    this.retryTimer ??= setTimeout(() => this.retryQueued(), RETRY_DELAY_MS);
  }

  private enqueue(buf: Buffer, offset: number, length: number, dstIp: string): boolean {
    if (this.count === this.capacity) {
      this.queueFull++;
      return false;
    }
    const slot = (this.head + this.count) % this.capacity;
    if (length > this.slotBytes) this.buffers[slot] = Buffer.allocUnsafe(length);
    buf.copy(this.buffers[slot]!, 0, offset, offset + length);
    this.lengths[slot] = length;
    this.dsts[slot] = dstIp;
    this.count++;
    return true;
  }

  /** Sends the queue at once, oldest first, until it is empty or the kernel refuses again. */
  private retryQueued(): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const sendNow = this.socket.sendNow!;
    while (this.count > 0 && !this.closed) {
      const slot = this.head;
      try {
        sendNow.call(this.socket, this.buffers[slot]!, 0, this.lengths[slot]!, this.dsts[slot]!);
        this.sent++;
      } catch (err) {
        const code = errnoName(err as Error);
        if (TRANSIENT.has(code) && this.attempts[slot]! < this.maxRetries) {
          this.attempts[slot] = this.attempts[slot]! + 1;
          this.retried++;
          this.waitBeforeRetry();
          return;
        }
        this.count1(code);
      }
      this.release(slot);
    }
    for (const resolve of this.drained.splice(0)) resolve();
  }

  /** The head slot is done with (sent or given up on). */
  private release(slot: number): void {
    this.attempts[slot] = 0;
    if (this.lengths[slot]! > this.slotBytes) this.buffers[slot] = this.slotView(slot);
    this.head = (slot + 1) % this.capacity;
    this.count--;
  }

  stats(): SinkStats {
    return {
      sent: this.sent,
      errors: Object.fromEntries(this.errors),
      retried: this.retried,
      queueFull: this.queueFull,
      queued: this.count,
    };
  }

  /** Resolves once everything queued has been sent (or given up on). */
  flush(): Promise<void> {
    if (this.count === 0) return Promise.resolve();
    return new Promise((resolve) => this.drained.push(resolve));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.flush(), new Promise((r) => (timer = setTimeout(r, CLOSE_WAIT_MS)))]);
    clearTimeout(timer);
    this.closed = true;
    clearTimeout(this.retryTimer);
    // Whatever the socket did not take in time is given up on, and counted.
    if (this.count > 0) this.errors.set('ECLOSED', (this.errors.get('ECLOSED') ?? 0) + this.count);
    this.count = 0;
    for (const resolve of this.drained.splice(0)) resolve();
    this.socket.close();
  }

  private openSocket(): RawSocket {
    let socket: RawSocket;
    try {
      socket = this.createSocket();
    } catch (err) {
      const socketName = this.socketName;
      throw new PacketIoError(ErrorCode.RAW_SOCKET, `cannot open ${socketName}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    socket.pauseRecv();
    // raw-socket closes the socket after an 'error' (a failed poll), dropping the send in
    // flight without a callback: count it, open a fresh socket and send that packet again.
    socket.on('error', (err) => {
      this.count1(errnoName(err));
      if (this.closed) return;
      this.socket = this.openSocket();
      if (this.inFlight) {
        this.retried++;
        this.submit();
      }
    });
    return socket;
  }

  private submit(): void {
    this.inFlight = true;
    const slot = this.head;
    this.socket.send(this.buffers[slot]!, 0, this.lengths[slot]!, this.dsts[slot]!, this.onSent);
  }

  private completed(error: Error | null): void {
    this.inFlight = false;
    const slot = this.head;
    if (error === null) {
      this.sent++;
    } else {
      const code = errnoName(error);
      if (TRANSIENT.has(code) && this.attempts[slot]! < this.maxRetries && !this.closed) {
        this.attempts[slot] = this.attempts[slot]! + 1;
        this.retried++;
        this.inFlight = true;
        setTimeout(() => {
          if (!this.closed) this.submit();
        }, RETRY_DELAY_MS);
        return;
      }
      this.count1(code);
    }
    this.release(slot);
    if (this.count > 0) this.submit();
    else for (const resolve of this.drained.splice(0)) resolve();
  }

  private slotView(slot: number): Buffer {
    return this.pool.subarray(slot * this.slotBytes, (slot + 1) * this.slotBytes);
  }

  private refuse(code: string): false {
    this.count1(code);
    return false;
  }

  private count1(code: string): void {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
  }
}
