/**
 * The intercept's decisions, free of I/O: captured replies in, responses frames out through the
 * injected transport. Time comes from parameters; the daemon calls tick() from a timer (every
 * millisecond or so) and after each capture burst.
 */
import { TcpFlag, rewriteDstAddr, type Ipv4View, type TcpView } from '@tcpcopy/common/packet';
import { newRouteKey, readRoute, routeCount } from '@tcpcopy/common/records';
import { BatchAppend, Batcher, type BatcherOptions } from './batcher.js';
import type { ConnectionId } from './keys.js';
import { ParkingLot } from './parking-lot.js';
import { RouteTable } from './route-table.js';

/** Where batches go: one copier control connection each, framed as its protocol wants. */
export interface InterceptTransport {
  /** Sends `records` (valid during the call only) as one responses frame; returns its bytes. */
  sendResponses(conn: ConnectionId, records: Buffer): number;
  /** Bytes written to `conn` but not yet sent (socket.writableLength). */
  pendingBytes(conn: ConnectionId): number;
  /** Whether `conn`'s copier was granted payload records: its batches are then sent as those. */
  wantsPayloads(conn: ConnectionId): boolean;
}

/**
 * intercept -D A-B: the test server's replies addressed to `from` (A) are the fake client `to`'s
 * (B). A test server in a container behind address translation sees its clients as A (e.g. the
 * bridge's gateway), and intercept captures its replies before they are translated back.
 * Host-order IPv4 addresses.
 */
export interface ReplyAddressMap {
  readonly from: number;
  readonly to: number;
}

export interface InterceptCoreOptions {
  batcher?: Partial<BatcherOptions>;
  replyAddressMap?: ReplyAddressMap;
  routeIdleTimeoutMs?: number;
  parkingMaxRecords?: number;
  parkingTtlMs?: number;
}

/** What became of one captured reply. */
export const ReplyOutcome = {
  Routed: 0,
  /** SYN-ACK or RST without a route yet: parked until its routeAdd. */
  Parked: 1,
  /** No route and not worth parking (usually a capture filter broader than the copied flows). */
  Unroutable: 2,
  /** Routed, but its connection is above the high-water mark. */
  DroppedBackpressure: 3,
} as const;
export type ReplyOutcome = (typeof ReplyOutcome)[keyof typeof ReplyOutcome];

/** Per copier connection. */
export interface ConnectionCounters {
  routesAdded: number;
  /** Routes this connection took over from another one. */
  routesRebound: number;
  routesDeleted: number;
  routed: number;
  /** Parked replies handed to this connection by its routeAdds. */
  released: number;
  droppedBackpressure: number;
  /** Replies merged into the record before them: contiguous data of one flow in one batch. */
  merged: number;
  framesSent: number;
  recordsSent: number;
  bytesSent: number;
  /** Of those, the test server's reply data in payload records. */
  payloadBytesSent: number;
}

export interface InterceptCounters extends ConnectionCounters {
  repliesCaptured: number;
  /** Replies addressed to -D's A, taken (routed and recorded) as addressed to its B. */
  repliesRewritten: number;
  parked: number;
  /** Parked replies whose route never came within the parking TTL. */
  parkedExpired: number;
  /** Parked replies dropped to keep the lot within its bound. */
  parkedOverflow: number;
  unroutable: number;
  /** routeDel for a route absent or bound to another connection. */
  routeDelIgnored: number;
  routesExpired: number;
  /** Routes removed because their connection closed. */
  routesClosed: number;
  /** Records still batched when their connection closed. */
  droppedOnClose: number;
}

function newConnectionCounters(): ConnectionCounters {
  return {
    routesAdded: 0,
    routesRebound: 0,
    routesDeleted: 0,
    routed: 0,
    released: 0,
    droppedBackpressure: 0,
    merged: 0,
    framesSent: 0,
    recordsSent: 0,
    bytesSent: 0,
    payloadBytesSent: 0,
  };
}

/** Replies upstream parks: the start (SYN-ACK) or the abort (RST) of a session (§1.14). */
const PARKABLE_FLAGS = TcpFlag.SYN | TcpFlag.RST;
/** No IPv4 address (a uint32) equals it: without -D, no reply is rewritten. */
const NO_ADDRESS = -1;

export class InterceptCore {
  readonly routes: RouteTable;
  readonly parking: ParkingLot;
  readonly batcher: Batcher;
  readonly counters: InterceptCounters = {
    ...newConnectionCounters(),
    repliesCaptured: 0,
    repliesRewritten: 0,
    parked: 0,
    parkedExpired: 0,
    parkedOverflow: 0,
    unroutable: 0,
    routeDelIgnored: 0,
    routesExpired: 0,
    routesClosed: 0,
    droppedOnClose: 0,
  };
  private readonly perConnection = new Map<ConnectionId, ConnectionCounters>();
  private readonly routeKey = newRouteKey();
  private readonly mapFrom: number;
  /** As int32: a uint32 above 2^31 is a heap number, boxed per call (common/src/packet/rewrite.ts). */
  private readonly mapTo: number;

  constructor(
    private readonly transport: InterceptTransport,
    options: InterceptCoreOptions = {},
  ) {
    this.mapFrom = options.replyAddressMap?.from ?? NO_ADDRESS;
    this.mapTo = (options.replyAddressMap?.to ?? 0) | 0;
    this.routes = new RouteTable(options.routeIdleTimeoutMs);
    this.parking = new ParkingLot(options.parkingMaxRecords, options.parkingTtlMs);
    this.batcher = new Batcher(
      (conn) => transport.pendingBytes(conn),
      options.batcher,
      (conn) => transport.wantsPayloads(conn),
    );
  }

  /** Counters of a connection seen in a routeAdd/routeDel and not closed since. */
  connectionCounters(conn: ConnectionId): Readonly<ConnectionCounters> | undefined {
    return this.perConnection.get(conn);
  }

  /**
   * A reply captured from the target, decoded by decodeIpv4/decodeTcp: the flow's fake client is
   * its destination, the target its source. Its headers (payload stripped) go to the flow's
   * connection, or for a connection granted payloads its headers and the payload bytes the
   * capture holds. A reply to -D's A is first readdressed to B in place (buffer and views, both
   * checksums patched): the copier then sees the headers the fake client would have received.
   */
  onReply(buf: Buffer, ip: Ipv4View, tcp: TcpView, nowMs: number): ReplyOutcome {
    this.counters.repliesCaptured++;
    if (ip.dst === this.mapFrom) {
      rewriteDstAddr(buf, ip, tcp, this.mapTo);
      this.counters.repliesRewritten++;
    }
    const headersLength = ip.headerLength + tcp.headerLength;
    const conn = this.routes.lookup(ip.dst, tcp.dstPort, ip.src, tcp.srcPort, nowMs);
    if (conn !== undefined) {
      if (!this.deliver(conn, buf, ip.offset, headersLength, tcp.capturedPayloadLength)) {
        return ReplyOutcome.DroppedBackpressure;
      }
      this.count(conn, 'routed', 1);
      return ReplyOutcome.Routed;
    }
    if ((tcp.flags & PARKABLE_FLAGS) === 0) {
      this.counters.unroutable++;
      return ReplyOutcome.Unroutable;
    }
    this.counters.parkedOverflow += this.parking.park(
      ip.dst,
      tcp.dstPort,
      ip.src,
      tcp.srcPort,
      buf,
      ip.offset,
      headersLength,
      nowMs,
    );
    this.counters.parked++;
    return ReplyOutcome.Parked;
  }

  /** A routeAdd batch (validated by the frame decoder) from `conn`; releases parked replies. */
  onRouteAdd(conn: ConnectionId, routes: Buffer, nowMs: number): void {
    const key = this.routeKey;
    for (let i = 0, n = routeCount(routes); i < n; i++) {
      readRoute(routes, i, key);
      const previous = this.routes.add(key.clientIp, key.clientPort, key.targetIp, key.targetPort, conn, nowMs);
      this.count(conn, 'routesAdded', 1);
      if (previous !== undefined && previous !== conn) this.count(conn, 'routesRebound', 1);
      for (const record of this.parking.take(key.clientIp, key.clientPort, key.targetIp, key.targetPort)) {
        // Parked records hold headers only: a SYN-ACK's or RST's data (rare) is not forwarded.
        if (this.deliver(conn, record, 0, record.length, 0)) this.count(conn, 'released', 1);
      }
    }
  }

  onRouteDel(conn: ConnectionId, routes: Buffer): void {
    const key = this.routeKey;
    for (let i = 0, n = routeCount(routes); i < n; i++) {
      readRoute(routes, i, key);
      if (this.routes.delete(key.clientIp, key.clientPort, key.targetIp, key.targetPort, conn)) {
        this.count(conn, 'routesDeleted', 1);
      } else {
        this.counters.routeDelIgnored++;
      }
    }
  }

  /** `conn` closed: its routes go, its waiting records are discarded. Returns its final counters. */
  onConnectionClosed(conn: ConnectionId): Readonly<ConnectionCounters> | undefined {
    this.counters.routesClosed += this.routes.deleteConnection(conn);
    this.counters.droppedOnClose += this.batcher.discard(conn);
    const counters = this.perConnection.get(conn);
    this.perConnection.delete(conn);
    return counters;
  }

  /** Sends every waiting batch; returns how many frames left. */
  flushWaiting(): number {
    let frames = 0;
    for (const conn of this.batcher.waiting()) if (this.flush(conn)) frames++;
    return frames;
  }

  /** Expires parked replies and idle routes. */
  tick(nowMs: number): void {
    this.counters.parkedExpired += this.parking.expire(nowMs);
    this.counters.routesExpired += this.routes.expireIdle(nowMs);
  }

  private deliver(conn: ConnectionId, buf: Buffer, offset: number, length: number, payloadLength: number): boolean {
    const result = this.batcher.append(conn, buf, offset, length, payloadLength);
    if (result === BatchAppend.Dropped) {
      this.count(conn, 'droppedBackpressure', 1);
      return false;
    }
    if (result === BatchAppend.Merged) this.count(conn, 'merged', 1);
    if (result === BatchAppend.Full) this.flush(conn);
    return true;
  }

  private flush(conn: ConnectionId): boolean {
    const records = this.batcher.pendingRecords(conn);
    const payloadBytes = this.batcher.pendingPayloadBytes(conn);
    let bytes = 0;
    if (!this.batcher.flush(conn, (batch) => (bytes = this.transport.sendResponses(conn, batch)))) return false;
    this.count(conn, 'framesSent', 1);
    this.count(conn, 'recordsSent', records);
    this.count(conn, 'bytesSent', bytes);
    this.count(conn, 'payloadBytesSent', payloadBytes);
    return true;
  }

  /** Adds `n` to a counter of `conn` and to the daemon-wide total. */
  private count(conn: ConnectionId, counter: keyof ConnectionCounters, n: number): void {
    this.counters[counter] += n;
    this.connection(conn)[counter] += n;
  }

  private connection(conn: ConnectionId): ConnectionCounters {
    let counters = this.perConnection.get(conn);
    if (counters === undefined) {
      counters = newConnectionCounters();
      this.perConnection.set(conn, counters);
    }
    return counters;
  }
}
