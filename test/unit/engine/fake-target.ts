/**
 * A small simulated TCP peer standing in for the test server: it consumes the packets the engine
 * injects and answers them like a (simplified) Linux listener would, so engine tests can check
 * outcomes ("the target received exactly the request bytes, in order") rather than internals.
 *
 * Simplifications: immediate ACK for every segment carrying data or FIN, SACK blocks only when
 * asked for (`sack`), no delayed ACK, no congestion control; out-of-order data is buffered and re-assembled; PAWS is enforced
 * (a segment whose TSval went backwards is dropped, RFC 7323 §5.3) so TSval monotonicity matters.
 */
import { TcpFlag, type TcpOptionsSpec } from '@tcpcopy/common';
import { buildTcpPacket } from '@tcpcopy/common/testing';
import { seqAdd, seqDiff, seqGt, seqLe, seqLt } from '@tcpcopy/copier';
import type { Packet } from './packets.js';

export interface FakeTargetOptions {
  ip: number;
  port: number;
  /** ISN of the n-th accepted connection (n from 0). Default: just below 2^32, so seqs wrap. */
  isn?: (n: number) => number;
  /** MSS offered in the SYN-ACK and used for response segments. */
  mss?: number;
  /** Window-scale shift offered when the SYN offered one; undefined = never offer. */
  windowScale?: number;
  /** Offer the window-scale option even when the SYN did not (a misbehaving peer). */
  forceWindowScale?: boolean;
  /** Agree to timestamps when the SYN offers them (default true). */
  timestamps?: boolean;
  /** Receive window in bytes (default 65535). */
  window?: number;
  /** Retransmission timeout for response data and SYN-ACKs (default 200 ms / 1000 ms). */
  rtoMs?: number;
  synAckRtoMs?: number;
  /** Answer segments for unknown connections with RST, as a real stack does (default true). */
  resetUnknown?: boolean;
  /** Report out-of-order data in SACK blocks when the SYN permitted it, as Linux does. */
  sack?: boolean;
  /** Application hook: new in-order bytes arrived on `conn`. */
  onData?: (conn: TargetConn, bytes: Buffer, now: number) => void;
  /** Application hook: the peer's FIN arrived in order. */
  onFin?: (conn: TargetConn, now: number) => void;
}

export const TargetConnState = { SynReceived: 'syn-received', Established: 'established', Closed: 'closed' } as const;
export type TargetConnState = (typeof TargetConnState)[keyof typeof TargetConnState];

export class TargetConn {
  state: TargetConnState = TargetConnState.SynReceived;
  readonly clientIp: number;
  readonly clientPort: number;
  readonly irs: number;
  readonly iss: number;
  /** Options of the SYN that opened the connection. */
  readonly syn: Packet;
  rcvNxt: number;
  sndUna: number;
  sndNxt: number;
  /** Unacknowledged + unsent response bytes, starting at sndUna. */
  sndBuf: Buffer = Buffer.alloc(0);
  finQueued = false;
  finSent = false;
  finAcked = false;
  finReceived = false;
  resetByPeer = false;
  /** Closed by the FIN exchange: later segments are absorbed, not reset. */
  timeWait = false;
  /** Segments that arrived after the FIN exchange completed. */
  timeWaitPackets = 0;
  /** Bytes received in order from the client. */
  private chunks: Buffer[] = [];
  private ooo = new Map<number, Buffer>();
  rcvWindow: number;
  readonly rcvShift: number;
  readonly peerShift: number;
  readonly tsOk: boolean;
  tsRecent = 0;
  peerWindow: number;
  rtoAt = Infinity;
  rto: number;
  /** Every packet this connection received, in arrival order. */
  readonly packets: Packet[] = [];
  /** Segments dropped by PAWS (TSval older than TS.Recent). */
  pawsDrops = 0;
  /** Data bytes refused because they fell outside the receive window. */
  outOfWindowBytes = 0;
  /** TSecr values that were not a TSval this side had sent. */
  badEcrs = 0;
  /** ACKs sent in answer to a SYN on this established connection. */
  challengeAcks = 0;

  constructor(
    syn: Packet,
    iss: number,
    rcvWindow: number,
    rcvShift: number,
    peerShift: number,
    tsOk: boolean,
    rto: number,
  ) {
    this.syn = syn;
    this.clientIp = syn.src;
    this.clientPort = syn.srcPort;
    this.irs = syn.seq;
    this.iss = iss;
    this.rcvNxt = seqAdd(syn.seq, 1);
    this.sndUna = iss;
    this.sndNxt = seqAdd(iss, 1);
    this.rcvWindow = rcvWindow;
    this.rcvShift = rcvShift;
    this.peerShift = peerShift;
    this.tsOk = tsOk;
    this.peerWindow = syn.window;
    this.rto = rto;
  }

  /** Everything received in order so far. */
  get received(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  get receivedLength(): number {
    return seqDiff(this.rcvNxt, seqAdd(this.irs, 1)) - (this.finReceived ? 1 : 0);
  }

  accept(bytes: Buffer): void {
    this.chunks.push(Buffer.from(bytes));
    this.rcvNxt = seqAdd(this.rcvNxt, bytes.length);
    for (;;) {
      const next = this.takeOoo();
      if (next === undefined) return;
      this.chunks.push(next);
      this.rcvNxt = seqAdd(this.rcvNxt, next.length);
    }
  }

  stash(seq: number, bytes: Buffer): void {
    const have = this.ooo.get(seq);
    if (have === undefined || have.length < bytes.length) this.ooo.set(seq, Buffer.from(bytes));
  }

  /** The out-of-order data held, as SACK blocks (RFC 2018), at most `max`, lowest first. */
  sackBlocks(max: number): [number, number][] {
    const blocks: [number, number][] = [];
    for (const seq of [...this.ooo.keys()].sort((a, b) => seqDiff(a, b))) {
      const end = seqAdd(seq, this.ooo.get(seq)!.length);
      const last = blocks.at(-1);
      if (last !== undefined && seqLe(seq, last[1])) {
        if (seqGt(end, last[1])) last[1] = end;
      } else blocks.push([seq, end]);
    }
    return blocks.slice(0, max);
  }

  /** The stashed out-of-order bytes that now continue the stream (trimmed), if any. */
  private takeOoo(): Buffer | undefined {
    for (const [seq, bytes] of this.ooo) {
      const end = seqAdd(seq, bytes.length);
      if (seqLe(end, this.rcvNxt)) {
        this.ooo.delete(seq);
        continue;
      }
      if (seqLe(seq, this.rcvNxt)) {
        this.ooo.delete(seq);
        return bytes.subarray(seqDiff(this.rcvNxt, seq));
      }
    }
    return undefined;
  }
}

const DEFAULT_WINDOW = 65535;
const DEFAULT_MSS = 1460;
const DEFAULT_RTO_MS = 200;
const DEFAULT_SYN_ACK_RTO_MS = 1000;
const MAX_WINDOW_FIELD = 0xffff;
/** Offset of the target's TSval clock from the simulation clock, so values are not tiny. */
const TS_CLOCK_BASE = 0x7fff0000;

export class FakeTarget {
  readonly opts: FakeTargetOptions;
  private readonly emit: (packet: Buffer) => void;
  /** Connections by client ip:port; a closed one stays until the same tuple opens again. */
  readonly conns = new Map<string, TargetConn>();
  /** Every connection ever accepted, in order. */
  readonly accepted: TargetConn[] = [];
  /** Packets with a bad checksum or not addressed to this target. */
  readonly badPackets: Packet[] = [];
  /** Non-SYN packets for connections this side does not know. */
  readonly strays: Packet[] = [];
  /** Every packet received, in arrival order. */
  readonly log: Packet[] = [];
  private now = 0;

  constructor(opts: FakeTargetOptions, emit: (packet: Buffer) => void) {
    this.opts = opts;
    this.emit = emit;
  }

  /** The connection from client ip:port (the latest one on that tuple). */
  conn(clientIp: number, clientPort: number): TargetConn | undefined {
    return this.conns.get(`${clientIp}:${clientPort}`);
  }

  /** The only connection; throws unless exactly one was accepted. */
  only(): TargetConn {
    if (this.accepted.length !== 1) throw new Error(`expected one target connection, have ${this.accepted.length}`);
    return this.accepted[0]!;
  }

  tsNow(): number {
    return (TS_CLOCK_BASE + this.now) >>> 0;
  }

  receive(p: Packet, now: number): void {
    this.now = now;
    this.log.push(p);
    if (!p.ipChecksumOk || !p.tcpChecksumOk || p.dst !== this.opts.ip || p.dstPort !== this.opts.port) {
      this.badPackets.push(p);
      return;
    }
    const key = `${p.src}:${p.srcPort}`;
    let conn = this.conns.get(key);
    if (p.flags & TcpFlag.SYN && !(p.flags & TcpFlag.ACK) && !(p.flags & TcpFlag.RST)) {
      if (conn === undefined || (conn.state === TargetConnState.Closed && conn.irs !== p.seq)) {
        conn = this.open(p);
        this.conns.set(key, conn);
        this.accepted.push(conn);
      }
      conn.packets.push(p);
      // A retransmitted SYN: the SYN-ACK was lost, send it again.
      if (conn.state === TargetConnState.SynReceived && conn.irs === p.seq) this.sendSynAck(conn);
      // A SYN on a synchronized connection draws a challenge ACK (RFC 5961 §4.2, as Linux does).
      else if (conn.state === TargetConnState.Established) {
        conn.challengeAcks++;
        this.sendAck(conn);
      }
      return;
    }
    if (conn !== undefined && conn.timeWait) {
      // TIME_WAIT (RFC 9293 §3.6): late segments are absorbed; a retransmitted FIN is re-acked.
      conn.packets.push(p);
      conn.timeWaitPackets++;
      if (p.flags & TcpFlag.FIN) this.sendAck(conn);
      return;
    }
    if (conn === undefined || conn.state === TargetConnState.Closed) {
      this.strays.push(p);
      if (conn !== undefined) conn.packets.push(p);
      if (!(p.flags & TcpFlag.RST) && this.opts.resetUnknown !== false) this.resetFor(p);
      return;
    }
    conn.packets.push(p);
    this.segment(conn, p);
  }

  /** Queues response bytes on `conn` and sends what the peer's window allows. */
  respond(conn: TargetConn, bytes: Uint8Array | string, now: number): void {
    this.now = now;
    const data = typeof bytes === 'string' ? Buffer.from(bytes) : Buffer.from(bytes);
    conn.sndBuf = Buffer.concat([conn.sndBuf, data]);
    this.pump(conn);
  }

  /** Closes the sending direction: FIN after the queued bytes. */
  close(conn: TargetConn, now: number): void {
    this.now = now;
    conn.finQueued = true;
    this.pump(conn);
  }

  /** Aborts the connection with an RST. */
  reset(conn: TargetConn, now: number): void {
    this.now = now;
    this.send(conn, { seq: conn.sndNxt, ack: conn.rcvNxt, flags: TcpFlag.RST | TcpFlag.ACK, window: 0 }, false);
    conn.state = TargetConnState.Closed;
    conn.rtoAt = Infinity;
  }

  /** Changes the receive window; announce sends a window update (a pure ACK). */
  setWindow(conn: TargetConn, bytes: number, now: number, announce = true): void {
    this.now = now;
    conn.rcvWindow = bytes;
    if (announce) this.sendAck(conn);
  }

  nextDeadline(): number {
    let t = Infinity;
    for (const conn of this.accepted) if (conn.rtoAt < t) t = conn.rtoAt;
    return t;
  }

  tick(now: number): void {
    this.now = now;
    for (const conn of this.accepted) {
      if (conn.rtoAt > now) continue;
      conn.rto *= 2;
      conn.rtoAt = now + conn.rto;
      if (conn.state === TargetConnState.SynReceived) this.sendSynAck(conn);
      else if (conn.state === TargetConnState.Established) this.retransmit(conn);
      else conn.rtoAt = Infinity;
    }
  }

  // --- receiving ------------------------------------------------------------------------

  private open(syn: Packet): TargetConn {
    const o = this.opts;
    const n = this.accepted.length;
    const iss = (o.isn?.(n) ?? 0xfffff000 + n * 7919) >>> 0;
    const wsOffered = o.windowScale !== undefined && (syn.windowScale >= 0 || o.forceWindowScale === true);
    const wsOk = wsOffered && syn.windowScale >= 0;
    const tsOk = o.timestamps !== false && syn.ts !== undefined;
    const conn = new TargetConn(
      syn,
      iss,
      o.window ?? DEFAULT_WINDOW,
      wsOk ? o.windowScale! : 0,
      wsOk ? syn.windowScale : 0,
      tsOk,
      o.synAckRtoMs ?? DEFAULT_SYN_ACK_RTO_MS,
    );
    if (tsOk) conn.tsRecent = syn.ts!.val;
    return conn;
  }

  private segment(conn: TargetConn, p: Packet): void {
    if (p.flags & TcpFlag.RST) {
      // RFC 5961 §3.2 simplified: accept a reset inside the window.
      if (seqLe(conn.rcvNxt, p.seq) && seqLt(p.seq, seqAdd(conn.rcvNxt, Math.max(conn.rcvWindow, 1)))) {
        conn.resetByPeer = true;
        conn.state = TargetConnState.Closed;
        conn.rtoAt = Infinity;
      }
      return;
    }
    if (!(p.flags & TcpFlag.ACK)) return;
    if (conn.tsOk && p.ts !== undefined) {
      if (seqLt(p.ts.val, conn.tsRecent)) {
        conn.pawsDrops++;
        this.sendAck(conn);
        return;
      }
      if (seqGt(p.ts.ecr, this.tsNow())) conn.badEcrs++;
      if (seqLe(p.seq, conn.rcvNxt)) conn.tsRecent = p.ts.val;
    }
    if (conn.state === TargetConnState.SynReceived) {
      if (p.ack !== seqAdd(conn.iss, 1)) {
        this.resetFor(p);
        return;
      }
      conn.state = TargetConnState.Established;
      conn.sndUna = p.ack;
      conn.rtoAt = Infinity;
      conn.rto = this.opts.rtoMs ?? DEFAULT_RTO_MS;
    }
    this.onAck(conn, p);
    const hadData = p.payload.length > 0 || (p.flags & TcpFlag.FIN) !== 0;
    if (p.payload.length > 0) this.onData(conn, p);
    if (p.flags & TcpFlag.FIN && !conn.finReceived && seqAdd(p.seq, p.payload.length) === conn.rcvNxt) {
      conn.finReceived = true;
      conn.rcvNxt = seqAdd(conn.rcvNxt, 1);
      this.opts.onFin?.(conn, this.now);
    }
    // RFC 9293 §3.10.7.4: an unacceptable segment (e.g. a window probe with an old sequence
    // number) is answered with an ACK, as is every segment carrying data or a FIN.
    const stale = !hadData && seqLt(p.seq, conn.rcvNxt);
    if ((hadData || stale) && conn.state !== TargetConnState.Closed) this.sendAck(conn);
    if (conn.finAcked && conn.finReceived) {
      conn.state = TargetConnState.Closed;
      conn.timeWait = true;
    }
  }

  private onAck(conn: TargetConn, p: Packet): void {
    conn.peerWindow = p.window << conn.peerShift;
    const ack = p.ack;
    if (seqGt(ack, conn.sndUna) && seqLe(ack, conn.sndNxt)) {
      let acked = seqDiff(ack, conn.sndUna);
      if (conn.finSent && ack === conn.sndNxt) {
        conn.finAcked = true;
        acked--;
      }
      conn.sndBuf = conn.sndBuf.subarray(Math.min(acked, conn.sndBuf.length));
      conn.sndUna = ack;
      conn.rto = this.opts.rtoMs ?? DEFAULT_RTO_MS;
      conn.rtoAt = conn.sndUna === conn.sndNxt ? Infinity : this.now + conn.rto;
    }
    this.pump(conn);
  }

  private onData(conn: TargetConn, p: Packet): void {
    const rightEdge = seqAdd(conn.rcvNxt, conn.rcvWindow);
    let seq = p.seq;
    let bytes = p.payload;
    if (seqLt(seq, conn.rcvNxt)) {
      const skip = seqDiff(conn.rcvNxt, seq);
      if (skip >= bytes.length) return;
      bytes = bytes.subarray(skip);
      seq = conn.rcvNxt;
    }
    const room = seqDiff(rightEdge, seq);
    if (room < bytes.length) {
      conn.outOfWindowBytes += bytes.length - Math.max(room, 0);
      bytes = bytes.subarray(0, Math.max(room, 0));
    }
    if (bytes.length === 0) return;
    if (seq !== conn.rcvNxt) {
      conn.stash(seq, bytes);
      return;
    }
    const before = conn.receivedLength;
    conn.accept(bytes);
    const fresh = conn.received.subarray(before);
    this.opts.onData?.(conn, fresh, this.now);
  }

  // --- sending --------------------------------------------------------------------------

  private pump(conn: TargetConn): void {
    if (conn.state !== TargetConnState.Established) return;
    const mss = this.segmentSize(conn);
    for (;;) {
      const sent = seqDiff(conn.sndNxt, conn.sndUna) - (conn.finSent && !conn.finAcked ? 1 : 0);
      const unsent = conn.sndBuf.length - sent;
      if (unsent > 0) {
        const room = conn.peerWindow - sent;
        if (room <= 0) break;
        const size = Math.min(mss, unsent, room);
        this.sendData(conn, conn.sndNxt, conn.sndBuf.subarray(sent, sent + size));
        conn.sndNxt = seqAdd(conn.sndNxt, size);
      } else if (conn.finQueued && !conn.finSent) {
        this.send(conn, {
          seq: conn.sndNxt,
          ack: conn.rcvNxt,
          flags: TcpFlag.FIN | TcpFlag.ACK,
          window: this.windowField(conn),
        });
        conn.finSent = true;
        conn.sndNxt = seqAdd(conn.sndNxt, 1);
      } else break;
      if (conn.rtoAt === Infinity) conn.rtoAt = this.now + conn.rto;
    }
  }

  /** Go back to sndUna and resend one segment (or the FIN). */
  private retransmit(conn: TargetConn): void {
    if (conn.sndUna === conn.sndNxt) {
      conn.rtoAt = Infinity;
      return;
    }
    const dataOutstanding = Math.min(conn.sndBuf.length, seqDiff(conn.sndNxt, conn.sndUna));
    if (dataOutstanding > 0) {
      this.sendData(conn, conn.sndUna, conn.sndBuf.subarray(0, Math.min(this.segmentSize(conn), dataOutstanding)));
    } else {
      this.send(conn, {
        seq: conn.sndUna,
        ack: conn.rcvNxt,
        flags: TcpFlag.FIN | TcpFlag.ACK,
        window: this.windowField(conn),
      });
    }
  }

  private segmentSize(conn: TargetConn): number {
    const mine = this.opts.mss ?? DEFAULT_MSS;
    return conn.syn.mss > 0 ? Math.min(mine, conn.syn.mss) : mine;
  }

  private windowField(conn: TargetConn): number {
    return Math.min(MAX_WINDOW_FIELD, conn.rcvWindow >>> conn.rcvShift);
  }

  private sendSynAck(conn: TargetConn): void {
    const o = this.opts;
    const options: TcpOptionsSpec = { mss: o.mss ?? DEFAULT_MSS };
    if (o.windowScale !== undefined && (conn.syn.windowScale >= 0 || o.forceWindowScale === true))
      options.windowScale = o.windowScale;
    if (conn.syn.sackPermitted) options.sackPermitted = true;
    if (conn.tsOk) options.timestamps = { val: this.tsNow(), ecr: conn.tsRecent };
    // A SYN-ACK's window is never scaled (RFC 7323 §2.2).
    const packet = buildTcpPacket({
      src: this.opts.ip,
      dst: conn.clientIp,
      srcPort: this.opts.port,
      dstPort: conn.clientPort,
      seq: conn.iss,
      ack: conn.rcvNxt,
      flags: TcpFlag.SYN | TcpFlag.ACK,
      window: Math.min(MAX_WINDOW_FIELD, conn.rcvWindow),
      options,
    });
    if (conn.rtoAt === Infinity) conn.rtoAt = this.now + conn.rto;
    this.emit(packet);
  }

  private sendAck(conn: TargetConn): void {
    this.send(conn, { seq: conn.sndNxt, ack: conn.rcvNxt, flags: TcpFlag.ACK, window: this.windowField(conn) });
  }

  private sendData(conn: TargetConn, seq: number, payload: Buffer): void {
    this.send(conn, {
      seq,
      ack: conn.rcvNxt,
      flags: TcpFlag.ACK | TcpFlag.PSH,
      window: this.windowField(conn),
      payload,
    });
  }

  private send(
    conn: TargetConn,
    f: { seq: number; ack: number; flags: number; window: number; payload?: Buffer },
    withTs = true,
  ): void {
    const packet = buildTcpPacket({
      src: this.opts.ip,
      dst: conn.clientIp,
      srcPort: this.opts.port,
      dstPort: conn.clientPort,
      seq: f.seq,
      ack: f.ack,
      flags: f.flags,
      window: f.window,
      options: this.optionsFor(conn, withTs),
      payload: f.payload,
    });
    this.emit(packet);
  }

  private optionsFor(conn: TargetConn, withTs: boolean): TcpOptionsSpec | undefined {
    const options: TcpOptionsSpec = {};
    const ts = conn.tsOk && withTs;
    if (ts) options.timestamps = { val: this.tsNow(), ecr: conn.tsRecent };
    // Beside timestamps, three blocks fit in the 40 option bytes.
    const sack = this.opts.sack === true && conn.syn.sackPermitted ? conn.sackBlocks(ts ? 3 : 4) : [];
    if (sack.length > 0) options.sack = sack;
    return ts || sack.length > 0 ? options : undefined;
  }

  /** RFC 9293 §3.10.7.1: a reset for a segment that belongs to no connection. */
  private resetFor(p: Packet): void {
    const ackFlag = (p.flags & TcpFlag.ACK) !== 0;
    const packet = buildTcpPacket({
      src: this.opts.ip,
      dst: p.src,
      srcPort: this.opts.port,
      dstPort: p.srcPort,
      seq: ackFlag ? p.ack : 0,
      ack: ackFlag
        ? 0
        : seqAdd(p.seq, p.payload.length + (p.flags & TcpFlag.SYN ? 1 : 0) + (p.flags & TcpFlag.FIN ? 1 : 0)),
      flags: ackFlag ? TcpFlag.RST : TcpFlag.RST | TcpFlag.ACK,
      window: 0,
    });
    this.emit(packet);
  }
}
