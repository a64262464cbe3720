/**
 * The copier's side of the control channel: -C connections to each intercept (-s), each in the
 * protocol its intercept speaks (intercept-link.ts), route add/delete batches out and header
 * records back. A lost connection is retried with back-off while the others keep working
 * (upstream exits unless -L).
 */
import {
  ConfigError,
  ErrorCode,
  flagLabel,
  ipv4ToString,
  readAuthFile,
  DAEMON_FLAGS,
  type ControlAuthKey,
  type ControlError,
  type Logger,
} from '@tcpcopy/common';
import { endpointKey, type Tuple } from '../engine/index.js';
import type { ControlProtocolChoice } from '../config/flags.js';
import { HEARTBEAT_MS, Link, type InterceptAddress, type InterceptGroup } from './intercept-link.js';

export type { InterceptAddress } from './intercept-link.js';

export interface LinkCounters {
  connects: number;
  reconnects: number;
  disconnects: number;
  protocolErrors: number;
  /** Connections refused for the key proof (TCPCOPY_ERR_CONTROL_AUTH), either side's. */
  authFailures: number;
  routesAdded: number;
  routesDeleted: number;
  routeAddsUnsent: number;
  responseFrames: number;
}

/** The counters of one intercept (one -s entry), over all its connections. */
export interface PerInterceptCounters {
  /** `ip:port` as given with -s. */
  readonly intercept: string;
  /** The protocol its connections speak; null until one could carry routes. */
  protocol: 'native' | 'legacy' | null;
  connects: number;
  disconnects: number;
  responseFrames: number;
  /** Header records received: the test server's replies that this intercept captured for us. */
  records: number;
}

export interface InterceptLinksOptions {
  intercepts: readonly InterceptAddress[];
  connectionsPerIntercept: number;
  /** --protocol: `auto` tells native and upstream's legacy intercepts apart. */
  protocol: ControlProtocolChoice;
  /** --auth-file: every intercept must prove this key, and is proved it. */
  authKey?: ControlAuthKey | undefined;
  instanceId: string;
  software: string;
  log: Logger;
  /** A batch of header records; the buffer is only valid during the call. Returns how many it read. */
  onRecords(records: Buffer): number;
  /**
   * Ask every intercept for the test server's reply payloads (docs/protocol.md §2.2); default
   * false: header records only, as ever. Intercepts that grant it send payload records instead.
   */
  wantPayloads?: boolean;
  /**
   * A batch of payload records (PayloadBatchCursor walks it; each record is the reply's headers
   * with the captured payload after them); only valid during the call. Returns how many it read.
   * Called only with wantPayloads.
   */
  onPayloadRecords?(records: Buffer): number;
  /** Asked for payloads, an intercept sends none (legacy or older): its replies come as headers. */
  onPayloadsRefused?(why: string): void;
  /** Called when the set of ready connections changes (e.g. to warn when none is left). */
  onReadyChange?(ready: number): void;
}

/** All control connections of one copier. Routes are batched and flushed once per event-loop turn. */
export class InterceptLinks {
  readonly counters: LinkCounters = {
    connects: 0,
    reconnects: 0,
    disconnects: 0,
    protocolErrors: 0,
    authFailures: 0,
    routesAdded: 0,
    routesDeleted: 0,
    routeAddsUnsent: 0,
    responseFrames: 0,
  };
  readonly log: Logger;
  readonly instanceId: string;
  readonly software: string;
  readonly authKey: ControlAuthKey | undefined;
  /** The last refused key proof: the start-up error when no intercept accepted us. */
  authFailure: ControlError | undefined;
  readonly onRecords: (records: Buffer) => number;
  readonly wantPayloads: boolean;
  readonly onPayloadRecords: (records: Buffer) => number;
  readonly onPayloadsRefused: (why: string) => void;
  /** Per -s intercept, in -s order. */
  readonly perIntercept: readonly PerInterceptCounters[];
  /** Per intercept, its connections; a route goes to one connection of every intercept. */
  private readonly groups: Link[][];
  private readonly roundRobin: number[];
  private readonly onReadyChange: ((ready: number) => void) | undefined;
  private flushScheduled = false;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  /** Live routes and the connections that carry them: deletes go where the add went. */
  private readonly routes = new RouteTable();

  constructor(opts: InterceptLinksOptions) {
    this.log = opts.log;
    this.instanceId = opts.instanceId;
    this.software = opts.software;
    this.authKey = opts.authKey;
    this.onRecords = opts.onRecords;
    this.wantPayloads = opts.wantPayloads ?? false;
    // An intercept sends payload records only to a copier that asked, so without one none come.
    this.onPayloadRecords = opts.onPayloadRecords ?? (() => 0);
    this.onPayloadsRefused = opts.onPayloadsRefused ?? (() => {});
    this.onReadyChange = opts.onReadyChange;
    const groups: InterceptGroup[] = opts.intercepts.map((address) => ({
      address,
      found: undefined,
      stats: {
        intercept: `${ipv4ToString(address.ip)}:${address.port}`,
        protocol: null,
        connects: 0,
        disconnects: 0,
        responseFrames: 0,
        records: 0,
      },
    }));
    this.perIntercept = groups.map((g) => g.stats);
    this.groups = groups.map((group) =>
      Array.from({ length: opts.connectionsPerIntercept }, () => new Link(this, group, opts.protocol)),
    );
    this.roundRobin = this.groups.map(() => 0);
  }

  start(): void {
    for (const group of this.groups) for (const link of group) link.open();
    this.heartbeatTimer = setInterval(() => {
      for (const group of this.groups) for (const link of group) link.tick(Date.now());
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
    this.routes.add({ tuple: t, links: chosen });
    this.scheduleFlush();
  }

  routeDel(t: Tuple): void {
    const route = this.routes.take(t);
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
    for (const route of this.routes.all()) {
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

/**
 * --auth-file, read at start. The legacy protocol cannot authenticate, so a key and
 * `--protocol legacy` together are a contradiction, refused as a flag conflict.
 */
export function readCopierAuthKey(
  authFile: string | undefined,
  protocol: ControlProtocolChoice,
): ControlAuthKey | undefined {
  if (authFile !== undefined && protocol === 'legacy') {
    const label = flagLabel(DAEMON_FLAGS.authFile);
    throw new ConfigError(
      ErrorCode.FLAG_CONFLICT,
      `${label} with --protocol legacy: upstream's protocol cannot authenticate (use --protocol auto or native)`,
      label,
    );
  }
  return readAuthFile(authFile);
}

interface Route {
  readonly tuple: Tuple;
  readonly links: Link[];
}

/**
 * Live routes by test-server endpoint, then by fake client endpoint, keyed by numbers: a busy
 * copier holds one per live or lingering session (60,000 at 10,000 requests/s), and a string
 * key made of the four fields cost ~250 bytes of heap each (docs/benchmarks.md).
 */
class RouteTable {
  private readonly byTarget = new Map<number, Map<number, Route>>();

  add(route: Route): void {
    const t = route.tuple;
    const target = endpointKey(t.dstIp, t.dstPort);
    let routes = this.byTarget.get(target);
    if (routes === undefined) this.byTarget.set(target, (routes = new Map()));
    routes.set(endpointKey(t.srcIp, t.srcPort), route);
  }

  /** Removes the route of `t` and returns it. */
  take(t: Tuple): Route | undefined {
    const routes = this.byTarget.get(endpointKey(t.dstIp, t.dstPort));
    const key = endpointKey(t.srcIp, t.srcPort);
    const route = routes?.get(key);
    if (route !== undefined) routes!.delete(key);
    return route;
  }

  *all(): IterableIterator<Route> {
    for (const routes of this.byTarget.values()) yield* routes.values();
  }
}
