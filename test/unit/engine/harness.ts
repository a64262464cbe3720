/**
 * A deterministic world for the copier's session engine: a fake clock, a capturing EngineHost, a
 * network with per-direction latency and impairments (drop, duplicate, delay/reorder), a
 * simulated test server (FakeTarget), and builders for captured client packets.
 *
 * Time only moves in run(): it jumps to the next event (a packet delivery, the engine's
 * nextDeadline(), the target's retransmission timer) and processes it, like the daemon's loop.
 * Replies reach the engine as intercept delivers them: header records (payload stripped, IP
 * total length kept), one batch per delivery time, followed by engine.flush().
 */
import assert from 'node:assert/strict';
import {
  DecodeStatus,
  TcpFlag,
  decodeIpv4,
  decodeTcp,
  newIpv4View,
  newTcpView,
  type TcpOptionsSpec,
} from '@tcpcopy/common';
import { buildTcpPacket, toAddress } from '@tcpcopy/common/testing';
import { Engine, FakeAddressPlan, seqAdd, type EngineConfig, type EngineHost, type Tuple } from '@tcpcopy/copier';
import { FakeTarget, type FakeTargetOptions } from './fake-target.js';
import { decodePacket, describe, type Packet } from './packets.js';

export const CLIENT_IP = toAddress('192.0.2.10');
export const PROD_IP = toAddress('198.51.100.1');
export const PROD_PORT = 8000;
export const TARGET_IP = toAddress('203.0.113.5');
export const TARGET_PORT = 8080;

export function engineConfig(overrides: Partial<EngineConfig> = {}): EngineConfig {
  return {
    targets: [{ matchIp: 0, matchPort: PROD_PORT, targetIp: TARGET_IP, targetPort: TARGET_PORT }],
    fakeIps: [],
    copies: 1,
    portShift: 0,
    samplePercent: 100,
    rampUp: false,
    fakeSynMss: 1460,
    mtu: 1500,
    onlySyn: false,
    noWait: false,
    sessionTimeoutMs: 600_000,
    keepaliveTimeoutMs: 720_000,
    fixedRttMs: 0,
    memoryBudgetBytes: 512 * 1024 * 1024,
    lingerMs: 6000,
    ...overrides,
  };
}

export type HostEvent =
  | { kind: 'inject'; at: number; packet: Packet; dstIp: number }
  | { kind: 'routeAdd'; at: number; tuple: Tuple }
  | { kind: 'routeDel'; at: number; tuple: Tuple };

/** An EngineHost that records (copies of) everything and hands injected packets on. */
export class CaptureHost implements EngineHost {
  readonly events: HostEvent[] = [];
  now = 0;
  onInject: ((p: Packet) => void) | undefined;

  inject(packet: Buffer, length: number, dstIp: number): void {
    const p = decodePacket(packet.subarray(0, length), this.now);
    this.events.push({ kind: 'inject', at: this.now, packet: p, dstIp });
    this.onInject?.(p);
  }

  routeAdd(tuple: Tuple): void {
    this.events.push({ kind: 'routeAdd', at: this.now, tuple: { ...tuple } });
  }

  routeDel(tuple: Tuple): void {
    this.events.push({ kind: 'routeDel', at: this.now, tuple: { ...tuple } });
  }

  get injected(): Packet[] {
    const out: Packet[] = [];
    for (const e of this.events) if (e.kind === 'inject') out.push(e.packet);
    return out;
  }

  get routeAdds(): Tuple[] {
    const out: Tuple[] = [];
    for (const e of this.events) if (e.kind === 'routeAdd') out.push(e.tuple);
    return out;
  }

  get routeDels(): Tuple[] {
    const out: Tuple[] = [];
    for (const e of this.events) if (e.kind === 'routeDel') out.push(e.tuple);
    return out;
  }
}

/**
 * What the network does to one packet: the extra delays of each copy delivered. [] drops it,
 * [0] delivers it normally, [0, 0] duplicates it, [30] delays it 30 ms (reordering it).
 */
export type Impairment = (p: Packet, now: number) => readonly number[];

export const deliver: Impairment = () => [0];

/** Drops the packets matching `pred` (at most `times` of them). */
export function dropWhere(pred: (p: Packet) => boolean, times = Infinity): Impairment {
  let left = times;
  return (p) => {
    if (left > 0 && pred(p)) {
      left--;
      return [];
    }
    return [0];
  };
}

interface InFlight {
  at: number;
  order: number;
  toTarget: boolean;
  packet: Packet;
}

export interface SimOptions {
  config?: Partial<EngineConfig>;
  target?: Partial<FakeTargetOptions>;
  /** One-way latency in ms between copier and target (each direction). */
  latencyMs?: number;
  addresses?: FakeAddressPlan;
}

/** Events processed at one instant before we call it a livelock. */
const MAX_EVENTS_PER_INSTANT = 10_000;

export class Sim {
  now = 0;
  readonly config: EngineConfig;
  readonly host = new CaptureHost();
  readonly engine: Engine;
  readonly target: FakeTarget;
  latencyMs: number;
  toTarget: Impairment = deliver;
  toEngine: Impairment = deliver;
  /** Packets the target sent, before impairment (what intercept would have seen). */
  readonly targetSent: Packet[] = [];
  /** Each of the target's packets as it reaches the engine, payload included (what intercept's
   *  payload records carry). */
  onRecord: ((p: Packet) => void) | undefined;
  private readonly wire: InFlight[] = [];
  private order = 0;
  /** A reused capture buffer with a link-header-sized offset, scribbled over after each use. */
  private readonly capture = Buffer.alloc(70_000);
  private readonly ip = newIpv4View();
  private readonly tcp = newTcpView();

  constructor(opts: SimOptions = {}) {
    this.config = engineConfig(opts.config);
    this.latencyMs = opts.latencyMs ?? 1;
    this.engine = new Engine(
      this.config,
      this.host,
      opts.addresses ?? new FakeAddressPlan(this.config.fakeIps, this.config.portShift),
    );
    this.target = new FakeTarget({ ip: TARGET_IP, port: TARGET_PORT, ...opts.target }, (buf) => {
      const p = decodePacket(buf, this.now);
      this.targetSent.push(p);
      this.send(p, false);
    });
    this.host.onInject = (p) => {
      if (p.dst === TARGET_IP) this.send(p, true);
    };
  }

  /** Feeds one captured client packet (as the capture loop would) at the current time; a
   * capturedLength below the packet's length simulates a snaplen cut. */
  client(packet: Buffer, capturedLength = packet.length): boolean {
    const off = 14; // as if behind an Ethernet header
    packet.copy(this.capture, off, 0, capturedLength);
    assert.equal(decodeIpv4(this.capture, off, capturedLength, this.ip), DecodeStatus.Ok);
    assert.equal(decodeTcp(this.capture, this.ip, this.tcp), DecodeStatus.Ok);
    this.host.now = this.now;
    const ours = this.engine.onClientPacket(this.capture, this.ip, this.tcp, this.now);
    // The capture buffer is reused by the next packet: nothing may still point into it.
    this.capture.fill(0xa5, 0, off + packet.length);
    return ours;
  }

  /** Hands a target->client packet to the engine as an intercept header record, then flushes. */
  targetRecord(p: Packet): void {
    this.feedRecords([p]);
  }

  /** Runs the world for `ms` milliseconds of simulated time. */
  run(ms: number): void {
    this.runUntil(() => false, ms);
  }

  /** Runs until `done()` holds after an event, or `maxMs` pass; returns whether done() held. */
  runUntil(done: () => boolean, maxMs = 60_000): boolean {
    const end = this.now + maxMs;
    let lastNow = -1;
    let sameInstant = 0;
    for (;;) {
      if (done()) return true;
      const next = Math.min(this.nextWire(), this.engine.nextDeadline(), this.target.nextDeadline());
      if (next > end) {
        this.now = end;
        this.host.now = end;
        return done();
      }
      this.now = Math.max(this.now, next);
      this.host.now = this.now;
      if (this.now === lastNow) {
        if (++sameInstant > MAX_EVENTS_PER_INSTANT) throw new Error(`livelock at ${this.now} ms`);
      } else {
        lastNow = this.now;
        sameInstant = 0;
      }
      this.step();
    }
  }

  /** Runs until no packet is in flight (timers may still be armed). */
  settle(maxMs = 60_000): void {
    this.runUntil(() => this.wire.length === 0, maxMs);
  }

  /** Injected packets toward the target (the engine's output), optionally since index `from`. */
  injected(from = 0): Packet[] {
    return this.host.injected.slice(from);
  }

  describeInjected(): string {
    return this.host.injected.map(describe).join('\n');
  }

  describeAll(): string {
    const all = [...this.host.injected.map((p) => ({ p, dir: '>' })), ...this.targetSent.map((p) => ({ p, dir: '<' }))];
    all.sort((a, b) => a.p.at - b.p.at);
    return all.map(({ p, dir }) => `${dir} ${describe(p)}`).join('\n');
  }

  private send(p: Packet, toTarget: boolean): void {
    const delays = (toTarget ? this.toTarget : this.toEngine)(p, this.now);
    for (const extra of delays)
      this.wire.push({ at: this.now + this.latencyMs + extra, order: this.order++, toTarget, packet: p });
  }

  private nextWire(): number {
    let t = Infinity;
    for (const f of this.wire) if (f.at < t) t = f.at;
    return t;
  }

  private takeDue(toTarget: boolean): Packet[] {
    const due = this.wire
      .filter((f) => f.at <= this.now && f.toTarget === toTarget)
      .sort((a, b) => a.at - b.at || a.order - b.order);
    if (due.length === 0) return [];
    const taken = new Set(due);
    for (let i = this.wire.length - 1; i >= 0; i--) if (taken.has(this.wire[i]!)) this.wire.splice(i, 1);
    return due.map((f) => f.packet);
  }

  private step(): void {
    for (const p of this.takeDue(true)) this.target.receive(p, this.now);
    if (this.target.nextDeadline() <= this.now) this.target.tick(this.now);
    const records = this.takeDue(false);
    if (records.length > 0) this.feedRecords(records);
    if (this.engine.nextDeadline() <= this.now) this.engine.tick(this.now);
  }

  /** One batch of header records: payload stripped, IP total length kept. */
  private feedRecords(packets: readonly Packet[]): void {
    this.host.now = this.now;
    for (const p of packets) {
      this.onRecord?.(p);
      const headers = p.raw.length - p.payload.length;
      const record = Buffer.from(p.raw.subarray(0, headers));
      const ip = newIpv4View();
      const tcp = newTcpView();
      assert.equal(decodeIpv4(record, 0, record.length, ip), DecodeStatus.Ok);
      assert.equal(decodeTcp(record, ip, tcp), DecodeStatus.Ok);
      this.engine.onTargetPacket(ip, tcp, this.now);
    }
    this.engine.flush();
  }
}

// --- the captured client ------------------------------------------------------------------

export interface ClientOptions {
  ip?: number;
  port?: number;
  dstIp?: number;
  dstPort?: number;
  isn?: number;
  /** ISN of the production server's side: what the client's acks count from. */
  prodIsn?: number;
  mss?: number;
  /** Window-scale shift offered in the SYN; undefined = no option. */
  windowScale?: number;
  timestamps?: boolean;
  sackPermitted?: boolean;
  window?: number;
  /** First IP ID. */
  ipId?: number;
  /** The client's TSval at simulation time 0 (its TS clock ticks with the simulation, 1/ms). */
  tsBase?: number;
}

/**
 * A real client talking to production, as the capture sees it: builders for its packets that
 * keep its sequence number, its ack (how much production response it has received) and its
 * TSval clock. Builders only build; feed them with sim.client() (or hold them to reorder).
 */
export class Client {
  readonly ip: number;
  readonly port: number;
  readonly dstIp: number;
  readonly dstPort: number;
  readonly isn: number;
  readonly opts: ClientOptions;
  seq: number;
  ack: number;
  /** The whole byte stream this client sent (what the target should receive). */
  private sent: Buffer[] = [];
  private ipId: number;
  private sim: Sim;
  private readonly tsBase: number;
  /** Added to the TS clock: a test can make the client's TSval jump (even backwards). */
  tsOffset = 0;

  constructor(sim: Sim, opts: ClientOptions = {}) {
    this.sim = sim;
    this.opts = opts;
    this.ip = opts.ip ?? CLIENT_IP;
    this.port = opts.port ?? 40000;
    this.dstIp = opts.dstIp ?? PROD_IP;
    this.dstPort = opts.dstPort ?? PROD_PORT;
    this.isn = (opts.isn ?? 0x10000000) >>> 0;
    this.seq = this.isn;
    this.ack = seqAdd(opts.prodIsn ?? 0x50000000, 1);
    this.ipId = opts.ipId ?? 100;
    this.tsBase = opts.tsBase ?? 1_000_000;
  }

  get stream(): Buffer {
    if (this.sent.length > 1) this.sent = [Buffer.concat(this.sent)];
    return this.sent[0] ?? Buffer.alloc(0);
  }

  syn(): Buffer {
    const o = this.opts;
    const options: TcpOptionsSpec = { mss: o.mss ?? 1460 };
    if (o.sackPermitted !== false) options.sackPermitted = true;
    if (o.timestamps === true) options.timestamps = { val: this.tsVal(), ecr: 0 };
    if (o.windowScale !== undefined) options.windowScale = o.windowScale;
    const p = this.build({ seq: this.isn, ack: 0, flags: TcpFlag.SYN, window: o.window ?? 64240, options });
    this.seq = seqAdd(this.isn, 1);
    return p;
  }

  /** A pure ACK (the third handshake packet, or acking production's response), advertising
   *  `window` (the field's value) when given. */
  pureAck(window?: number): Buffer {
    return this.build({ seq: this.seq, ack: this.ack, flags: TcpFlag.ACK, window });
  }

  /** A data segment; `received` production response bytes arrived first (the client's ack advances). */
  data(bytes: Uint8Array | string, received = 0, flags: number = TcpFlag.ACK | TcpFlag.PSH): Buffer {
    this.ack = seqAdd(this.ack, received);
    const payload = typeof bytes === 'string' ? Buffer.from(bytes) : Buffer.from(bytes);
    const p = this.build({ seq: this.seq, ack: this.ack, flags, payload });
    this.seq = seqAdd(this.seq, payload.length);
    this.sent.push(payload);
    return p;
  }

  /** A FIN (after `received` more response bytes). */
  fin(received = 0): Buffer {
    this.ack = seqAdd(this.ack, received);
    const p = this.build({ seq: this.seq, ack: this.ack, flags: TcpFlag.FIN | TcpFlag.ACK });
    this.seq = seqAdd(this.seq, 1);
    return p;
  }

  rst(): Buffer {
    return this.build({ seq: this.seq, ack: this.ack, flags: TcpFlag.RST | TcpFlag.ACK, window: 0 });
  }

  /** A segment re-sent by the client: `from` bytes into the stream, `length` bytes long. */
  retransmission(from: number, length: number): Buffer {
    const payload = this.stream.subarray(from, from + length);
    return this.build({ seq: seqAdd(this.isn, 1 + from), ack: this.ack, flags: TcpFlag.ACK | TcpFlag.PSH, payload });
  }

  /** Feeds a packet built by this client. */
  feed(packet: Buffer): boolean {
    return this.sim.client(packet);
  }

  tsVal(): number {
    return (this.tsBase + this.tsOffset + this.sim.now) >>> 0;
  }

  private build(f: {
    seq: number;
    ack: number;
    flags: number;
    window?: number;
    payload?: Buffer;
    options?: TcpOptionsSpec;
  }): Buffer {
    let options = f.options;
    if (options === undefined && this.opts.timestamps === true)
      options = { timestamps: { val: this.tsVal(), ecr: 0x1234 } };
    return buildTcpPacket({
      src: this.ip,
      dst: this.dstIp,
      srcPort: this.port,
      dstPort: this.dstPort,
      seq: f.seq,
      ack: f.ack,
      flags: f.flags,
      window: f.window ?? this.opts.window ?? 502,
      options,
      payload: f.payload,
      ipId: this.ipId++ & 0xffff,
    });
  }
}

/** A client that has sent SYN + third ACK, the SYN-ACK round trip done (for most tests). */
export function connect(sim: Sim, opts: ClientOptions = {}): Client {
  const c = new Client(sim, opts);
  c.feed(c.syn());
  sim.run(1);
  c.feed(c.pureAck());
  sim.settle();
  return c;
}

/** Bytes 0..n-1 of a recognisable pattern (distinct per `tag`). */
export function bytes(n: number, tag = 0): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + tag * 31 + (i >> 8)) & 0xff;
  return b;
}

/** Asserts every injected packet carries valid IP and TCP checksums. */
export function assertChecksums(sim: Sim): void {
  for (const p of sim.host.injected) {
    assert.ok(p.ipChecksumOk && p.tcpChecksumOk, `bad checksum: ${describe(p)}`);
  }
}
