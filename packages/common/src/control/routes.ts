/** Route records carried by routeAdd / routeDel: fixed 12-byte big-endian records in one Buffer. */
import { readU16, readU32, writeU16, writeU32 } from '../packet/bytes.js';
import {
  CONTROL_MAX_ROUTES_PER_MESSAGE,
  ROUTE_OFF_CLIENT_IP,
  ROUTE_OFF_CLIENT_PORT,
  ROUTE_OFF_TARGET_IP,
  ROUTE_OFF_TARGET_PORT,
  ROUTE_RECORD_BYTES,
} from './constants.js';
import { GrowableBuffer } from './growable.js';

/** A flow as the target server sees it; addresses are u32 in host order (a.b.c.d = a<<24 | ...). */
export interface RouteKey {
  clientIp: number;
  clientPort: number;
  targetIp: number;
  targetPort: number;
}

export function newRouteKey(): RouteKey {
  return { clientIp: 0, clientPort: 0, targetIp: 0, targetPort: 0 };
}

/** Null when `routes` is a well-formed batch, else why not. */
export function checkRouteBatch(routes: Buffer): string | null {
  if (routes.length % ROUTE_RECORD_BYTES !== 0) {
    return `route batch of ${routes.length} bytes is not a multiple of ${ROUTE_RECORD_BYTES}`;
  }
  if (routes.length / ROUTE_RECORD_BYTES > CONTROL_MAX_ROUTES_PER_MESSAGE) {
    return `route batch holds more than ${CONTROL_MAX_ROUTES_PER_MESSAGE} routes`;
  }
  return null;
}

export function routeCount(routes: Buffer): number {
  return Math.floor(routes.length / ROUTE_RECORD_BYTES);
}

/** Reads route `index` (0-based, < routeCount) into `out`, which the caller reuses. */
export function readRoute(routes: Buffer, index: number, out: RouteKey): void {
  const at = index * ROUTE_RECORD_BYTES;
  out.clientIp = readU32(routes, at + ROUTE_OFF_CLIENT_IP);
  out.clientPort = readU16(routes, at + ROUTE_OFF_CLIENT_PORT);
  out.targetIp = readU32(routes, at + ROUTE_OFF_TARGET_IP);
  out.targetPort = readU16(routes, at + ROUTE_OFF_TARGET_PORT);
}

/** Packs routes into one reusable buffer; `view()` is the `routes` field of a routeAdd/routeDel. */
export class RouteBatchBuilder {
  private readonly out: GrowableBuffer;

  constructor(initialRoutes = 64) {
    this.out = new GrowableBuffer(initialRoutes * ROUTE_RECORD_BYTES);
  }

  get count(): number {
    return this.out.length / ROUTE_RECORD_BYTES;
  }

  /** True when one more route would not fit in a single message. */
  get full(): boolean {
    return this.count >= CONTROL_MAX_ROUTES_PER_MESSAGE;
  }

  add(clientIp: number, clientPort: number, targetIp: number, targetPort: number): void {
    const at = this.out.length;
    const buf = this.out.reserve(ROUTE_RECORD_BYTES);
    writeU32(buf, at + ROUTE_OFF_CLIENT_IP, clientIp);
    writeU16(buf, at + ROUTE_OFF_CLIENT_PORT, clientPort);
    writeU32(buf, at + ROUTE_OFF_TARGET_IP, targetIp);
    writeU16(buf, at + ROUTE_OFF_TARGET_PORT, targetPort);
    this.out.commit(ROUTE_RECORD_BYTES);
  }

  /** The packed routes; valid until `clear()` is followed by another `add()`. */
  view(): Buffer {
    return this.out.view();
  }

  clear(): void {
    this.out.clear();
  }
}
