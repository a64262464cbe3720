/**
 * The copier's side of the control channel: -C connections to each intercept (-s), a hello on
 * each, route add/delete batches, and header records back. A connection counts as connected
 * only once the intercept's hello came back: a peer that accepts the connection but speaks
 * another protocol (upstream's C intercept) or none is never reported connected. A lost
 * connection is retried with back-off while the others keep working (upstream exits unless -L).
 */
import { connect, type Socket } from 'node:net';
import {
  CONTROL_PROTOCOL_VERSION,
  ControlConnection,
  ControlMessageType,
  RouteBatchBuilder,
  encodeFrame,
  ipv4ToString,
  type ControlMessage,
  type Logger,
} from '@tcpcopy/common';
import type { Tuple } from '../engine/index.js';

export interface InterceptAddress {
  readonly ip: number;
  readonly port: number;
}

export interface LinkCounters {
  connects: number;
  reconnects: number;
  disconnects: number;
  protocolErrors: number;
  routesAdded: number;
  routesDeleted: number;
  routeAddsUnsent: number;
  responseFrames: number;
}

/** The counters of one intercept (one -s entry), over all its connections. */
export interface PerInterceptCounters {
  /** `ip:port` as given with -s. */
  readonly intercept: string;
  connects: number;
  disconnects: number;
  responseFrames: number;
  /** Header records received: the test server's replies that this intercept captured for us. */
  records: number;
}

export interface InterceptLinksOptions {
  intercepts: readonly InterceptAddress[];
  connectionsPerIntercept: number;
  instanceId: string;
  software: string;
  log: Logger;
  /** A batch of header records; the buffer is only valid during the call. Returns how many it read. */
  onRecords(records: Buffer): number;
  /** Called when the set of ready connections changes (e.g. to warn when none is left). */
  onReadyChange?(ready: number): void;
}

const RECONNECT_MIN_MS = 250;
const RECONNECT_MAX_MS = 12_000; // upstream's -L retry interval
const HEARTBEAT_MS = 5_000;
/** How long an intercept has to answer our hello before the connection is given up. */
const HELLO_WAIT_MS = 2_000;

/** One TCP connection to one intercept, reconnecting forever until closed. */
class Link {
  ready = false;
  private connection: ControlConnection | undefined;
  private socket: Socket | undefined;
  private readonly adds = new RouteBatchBuilder();
  private readonly dels = new RouteBatchBuilder();
  private backoff = RECONNECT_MIN_MS;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private everConnected = false;
  private helloTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly owner: InterceptLinks,
    readonly address: InterceptAddress,
    private readonly stats: PerInterceptCounters,
  ) {}

  get label(): string {
    return this.stats.intercept;
  }

  open(): void {
    if (this.closed) return;
    const socket = connect({ host: ipv4ToString(this.address.ip), port: this.address.port });
    this.socket = socket;
    socket.setKeepAlive(true, HEARTBEAT_MS);
    this.connection = new ControlConnection(socket, {
      onMessage: (msg) => this.onMessage(msg),
      onError: (err) => {
        this.owner.counters.protocolErrors++;
        this.owner.log.warn({ intercept: this.label, err }, 'control protocol error; reconnecting');
      },
    });
    socket.once('connect', () => {
      this.connection?.send({
        type: ControlMessageType.Hello,
        version: CONTROL_PROTOCOL_VERSION,
        role: 'copier',
        instanceId: this.owner.instanceId,
        software: this.owner.software,
      });
      this.helloTimer = setTimeout(() => this.noHello(socket), HELLO_WAIT_MS);
    });
    socket.on('error', (err) => {
      this.owner.log.debug({ intercept: this.label, err }, 'control connection error');
    });
    socket.once('close', () => this.onClose());
  }

  private onMessage(msg: ControlMessage): void {
    if (msg.type === ControlMessageType.Hello && !this.ready) {
      this.connected(msg.software);
      return;
    }
    if (msg.type === ControlMessageType.Responses) {
      this.owner.counters.responseFrames++;
      this.stats.responseFrames++;
      this.stats.records += this.owner.onRecords(msg.records);
    }
  }

  private connected(software: string): void {
    clearTimeout(this.helloTimer);
    this.owner.counters.connects++;
    this.stats.connects++;
    if (this.everConnected) this.owner.counters.reconnects++;
    this.everConnected = true;
    this.backoff = RECONNECT_MIN_MS;
    this.ready = true;
    this.owner.log.info({ intercept: this.label, software }, 'connected to intercept');
    this.owner.replayRoutes(this);
    this.owner.readyChanged();
  }

  private noHello(socket: Socket): void {
    this.owner.counters.protocolErrors++;
    this.owner.log.warn(
      { intercept: this.label, waitedMs: HELLO_WAIT_MS },
      "no hello from intercept: the peer does not speak this control protocol (upstream's C intercept " +
        'speaks its own, not supported yet) or is not an intercept; retrying',
    );
    socket.destroy();
  }

  private onClose(): void {
    clearTimeout(this.helloTimer);
    const wasReady = this.ready;
    this.ready = false;
    this.connection = undefined;
    this.adds.clear();
    this.dels.clear();
    if (wasReady) {
      this.owner.counters.disconnects++;
      this.stats.disconnects++;
      this.owner.log.warn({ intercept: this.label }, 'lost the connection to intercept; retrying');
      this.owner.readyChanged();
    }
    if (this.closed) return;
    this.retryTimer = setTimeout(() => this.open(), this.backoff);
    this.backoff = Math.min(this.backoff * 2, RECONNECT_MAX_MS);
  }

  queueAdd(t: Tuple): void {
    this.adds.add(t.srcIp, t.srcPort, t.dstIp, t.dstPort);
    if (this.adds.full) this.flush();
  }

  queueDel(t: Tuple): void {
    this.dels.add(t.srcIp, t.srcPort, t.dstIp, t.dstPort);
    if (this.dels.full) this.flush();
  }

  flush(): void {
    const c = this.connection;
    if (c !== undefined && this.ready) {
      if (this.adds.count > 0)
        c.sendFrame(encodeFrame({ type: ControlMessageType.RouteAdd, routes: this.adds.view() }));
      if (this.dels.count > 0)
        c.sendFrame(encodeFrame({ type: ControlMessageType.RouteDel, routes: this.dels.view() }));
    }
    this.adds.clear();
    this.dels.clear();
  }

  heartbeat(now: number): void {
    if (this.ready) this.connection?.send({ type: ControlMessageType.Heartbeat, timeMs: now });
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.helloTimer);
    this.flush();
    this.socket?.end();
  }
}

/** All control connections of one copier. Routes are batched and flushed once per event-loop turn. */
export class InterceptLinks {
  readonly counters: LinkCounters = {
    connects: 0,
    reconnects: 0,
    disconnects: 0,
    protocolErrors: 0,
    routesAdded: 0,
    routesDeleted: 0,
    routeAddsUnsent: 0,
    responseFrames: 0,
  };
  readonly log: Logger;
  readonly instanceId: string;
  readonly software: string;
  readonly onRecords: (records: Buffer) => number;
  /** Per -s intercept, in -s order. */
  readonly perIntercept: readonly PerInterceptCounters[];
  /** Per intercept, its connections; a route goes to one connection of every intercept. */
  private readonly groups: Link[][];
  private readonly roundRobin: number[];
  private readonly onReadyChange: ((ready: number) => void) | undefined;
  private flushScheduled = false;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  /** Live routes and the connections that carry them: deletes go where the add went. */
  private readonly routes = new Map<string, { tuple: Tuple; links: Link[] }>();

  constructor(opts: InterceptLinksOptions) {
    this.log = opts.log;
    this.instanceId = opts.instanceId;
    this.software = opts.software;
    this.onRecords = opts.onRecords;
    this.onReadyChange = opts.onReadyChange;
    this.perIntercept = opts.intercepts.map((address) => ({
      intercept: `${ipv4ToString(address.ip)}:${address.port}`,
      connects: 0,
      disconnects: 0,
      responseFrames: 0,
      records: 0,
    }));
    this.groups = opts.intercepts.map((address, i) =>
      Array.from({ length: opts.connectionsPerIntercept }, () => new Link(this, address, this.perIntercept[i]!)),
    );
    this.roundRobin = this.groups.map(() => 0);
  }

  start(): void {
    for (const group of this.groups) for (const link of group) link.open();
    this.heartbeatTimer = setInterval(() => {
      for (const group of this.groups) for (const link of group) link.heartbeat(Date.now());
    }, HEARTBEAT_MS);
    this.heartbeatTimer.unref();
  }

  get readyCount(): number {
    let n = 0;
    for (const group of this.groups) for (const link of group) if (link.ready) n++;
    return n;
  }

  /** Ready connections to the i-th intercept (-s order). */
  readyCountOf(i: number): number {
    let n = 0;
    for (const link of this.groups[i] ?? []) if (link.ready) n++;
    return n;
  }

  readyChanged(): void {
    this.onReadyChange?.(this.readyCount);
  }

  /** Registers a session's tuple with every intercept (each on its next ready connection). */
  routeAdd(t: Tuple): void {
    const chosen: Link[] = [];
    for (let g = 0; g < this.groups.length; g++) {
      const link = this.nextReady(g);
      if (link === undefined) continue;
      link.queueAdd(t);
      chosen.push(link);
    }
    if (chosen.length === 0) this.counters.routeAddsUnsent++;
    else this.counters.routesAdded++;
    this.routes.set(tupleId(t), { tuple: t, links: chosen });
    this.scheduleFlush();
  }

  routeDel(t: Tuple): void {
    const id = tupleId(t);
    const route = this.routes.get(id);
    this.routes.delete(id);
    if (route === undefined) return;
    for (const link of route.links) link.queueDel(t);
    this.counters.routesDeleted++;
    this.scheduleFlush();
  }

  /**
   * A connection came (back): the intercept forgot its routes when it went away, so the live
   * sessions it carried, and those that had no connection of its intercept, are registered again.
   */
  replayRoutes(link: Link): void {
    const group = this.groups.findIndex((g) => g.includes(link));
    for (const route of this.routes.values()) {
      const carried = route.links.includes(link);
      const uncovered = !route.links.some((l) => this.groups[group]!.includes(l));
      if (!carried && !uncovered) continue;
      link.queueAdd(route.tuple);
      if (uncovered) route.links.push(link);
    }
    this.scheduleFlush();
  }

  /** Sends queued route batches now (also done automatically at the end of the turn). */
  flush(): void {
    this.flushScheduled = false;
    for (const group of this.groups) for (const link of group) link.flush();
  }

  close(): void {
    clearInterval(this.heartbeatTimer);
    for (const group of this.groups) for (const link of group) link.close();
  }

  private nextReady(group: number): Link | undefined {
    const links = this.groups[group]!;
    for (let i = 0; i < links.length; i++) {
      const at = (this.roundRobin[group]! + i) % links.length;
      const link = links[at]!;
      if (link.ready) {
        this.roundRobin[group] = (at + 1) % links.length;
        return link;
      }
    }
    return undefined;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }
}

function tupleId(t: Tuple): string {
  return `${t.srcIp}:${t.srcPort}:${t.dstIp}:${t.dstPort}`;
}
