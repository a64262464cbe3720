/**
 * Route table: which control connection gets the replies of a flow. Keyed by the flow as the
 * target server sees it (fake client ip:port, target ip:port). The last routeAdd wins, as
 * upstream's CLIENT_ADD rebinding (docs/upstream.md §5). Unlike upstream, routes are deleted:
 * by routeDel, when their connection closes, and after an idle time as a safety net.
 */
import { endpointKey, type ConnectionId } from './keys.js';

/**
 * A route unused (no add, no reply routed) for this long is dropped. Longer than the copier's
 * session idle timeout (-t 600 s) plus its keepalive margin (120 s), so a live session never
 * loses its route to this safety net.
 */
export const ROUTE_IDLE_TIMEOUT_MS = 30 * 60 * 1000;

interface RouteEntry {
  readonly clientKey: number;
  readonly targetKey: number;
  conn: ConnectionId;
  lastUsedMs: number;
  /** Next route of the same fake client endpoint toward another target (rare). */
  sameClient: RouteEntry | null;
  /** Neighbours in the idle list, least recently used first. */
  older: RouteEntry | null;
  newer: RouteEntry | null;
}

export class RouteTable {
  /** First route of each fake client endpoint; others chained through `sameClient`. */
  private readonly byClient = new Map<number, RouteEntry>();
  private readonly byConnection = new Map<ConnectionId, Set<RouteEntry>>();
  private oldest: RouteEntry | null = null;
  private newest: RouteEntry | null = null;
  private count = 0;

  constructor(readonly idleTimeoutMs = ROUTE_IDLE_TIMEOUT_MS) {}

  get size(): number {
    return this.count;
  }

  /** Routes currently bound to `conn`. */
  routesOf(conn: ConnectionId): number {
    return this.byConnection.get(conn)?.size ?? 0;
  }

  /**
   * Binds the flow to `conn` and returns the connection it was bound to before (the same one for a
   * refresh), or undefined for a new route.
   */
  add(
    clientIp: number,
    clientPort: number,
    targetIp: number,
    targetPort: number,
    conn: ConnectionId,
    nowMs: number,
  ): ConnectionId | undefined {
    const clientKey = endpointKey(clientIp, clientPort);
    const targetKey = endpointKey(targetIp, targetPort);
    const existing = this.find(clientKey, targetKey);
    if (existing !== null) {
      const previous = existing.conn;
      if (previous !== conn) {
        this.connectionSet(previous).delete(existing);
        this.dropEmptySet(previous);
        this.connectionSet(conn).add(existing);
        existing.conn = conn;
      }
      this.touch(existing, nowMs);
      return previous;
    }
    const entry: RouteEntry = {
      clientKey,
      targetKey,
      conn,
      lastUsedMs: nowMs,
      sameClient: this.byClient.get(clientKey) ?? null,
      older: null,
      newer: null,
    };
    this.byClient.set(clientKey, entry);
    this.connectionSet(conn).add(entry);
    this.appendNewest(entry);
    this.count++;
    return undefined;
  }

  /** The connection for a flow, marking the route as used; undefined when there is none. */
  lookup(
    clientIp: number,
    clientPort: number,
    targetIp: number,
    targetPort: number,
    nowMs: number,
  ): ConnectionId | undefined {
    const entry = this.find(endpointKey(clientIp, clientPort), endpointKey(targetIp, targetPort));
    if (entry === null) return undefined;
    this.touch(entry, nowMs);
    return entry.conn;
  }

  /**
   * Deletes the flow's route if it is bound to `conn`. A connection cannot delete a route another
   * connection has since rebound (its later add won).
   */
  delete(clientIp: number, clientPort: number, targetIp: number, targetPort: number, conn: ConnectionId): boolean {
    const entry = this.find(endpointKey(clientIp, clientPort), endpointKey(targetIp, targetPort));
    if (entry === null || entry.conn !== conn) return false;
    this.remove(entry);
    return true;
  }

  /** Deletes every route of a closed connection; returns how many. */
  deleteConnection(conn: ConnectionId): number {
    const set = this.byConnection.get(conn);
    if (set === undefined) return 0;
    const n = set.size;
    for (const entry of set) this.remove(entry);
    return n;
  }

  /** Deletes routes idle for idleTimeoutMs or more; returns how many. */
  expireIdle(nowMs: number): number {
    let n = 0;
    while (this.oldest !== null && nowMs - this.oldest.lastUsedMs >= this.idleTimeoutMs) {
      this.remove(this.oldest);
      n++;
    }
    return n;
  }

  private find(clientKey: number, targetKey: number): RouteEntry | null {
    let entry = this.byClient.get(clientKey) ?? null;
    while (entry !== null && entry.targetKey !== targetKey) entry = entry.sameClient;
    return entry;
  }

  private remove(entry: RouteEntry): void {
    // Unchain from the fake client's list.
    const first = this.byClient.get(entry.clientKey);
    if (first === entry) {
      if (entry.sameClient === null) this.byClient.delete(entry.clientKey);
      else this.byClient.set(entry.clientKey, entry.sameClient);
    } else {
      let prev = first ?? null;
      while (prev !== null && prev.sameClient !== entry) prev = prev.sameClient;
      if (prev !== null) prev.sameClient = entry.sameClient;
    }
    const set = this.byConnection.get(entry.conn);
    set?.delete(entry);
    this.dropEmptySet(entry.conn);
    this.unlinkIdle(entry);
    this.count--;
  }

  private touch(entry: RouteEntry, nowMs: number): void {
    entry.lastUsedMs = nowMs;
    if (this.newest === entry) return;
    this.unlinkIdle(entry);
    this.appendNewest(entry);
  }

  private appendNewest(entry: RouteEntry): void {
    entry.older = this.newest;
    entry.newer = null;
    if (this.newest !== null) this.newest.newer = entry;
    else this.oldest = entry;
    this.newest = entry;
  }

  private unlinkIdle(entry: RouteEntry): void {
    if (entry.older !== null) entry.older.newer = entry.newer;
    else this.oldest = entry.newer;
    if (entry.newer !== null) entry.newer.older = entry.older;
    else this.newest = entry.older;
    entry.older = null;
    entry.newer = null;
  }

  private connectionSet(conn: ConnectionId): Set<RouteEntry> {
    let set = this.byConnection.get(conn);
    if (set === undefined) {
      set = new Set();
      this.byConnection.set(conn, set);
    }
    return set;
  }

  private dropEmptySet(conn: ConnectionId): void {
    if (this.byConnection.get(conn)?.size === 0) this.byConnection.delete(conn);
  }
}
