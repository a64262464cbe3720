/**
 * How a captured client becomes the client the test server sees: fake address (-c), source port
 * (-f shift, -n replicas), and session sampling (-r). Every choice is checked against the live
 * and lingering sessions of that test-server endpoint, so no two sessions ever share a 4-tuple.
 */
import { PERCENT, type EngineTarget } from './config.js';
import type { Tuple } from './wire.js';

const PORTS = 0x10000;

/** ip:port as one exact integer (48 bits fit a double): the key of every session table. */
export function endpointKey(ip: number, port: number): number {
  return ip * PORTS + port;
}

/** The address and the port of an endpointKey. */
export function endpointIp(key: number): number {
  return Math.floor(key / PORTS);
}
export function endpointPort(key: number): number {
  return key % PORTS;
}

/** Sticky fake-address choices kept at most (upstream: a 65,536-entry table). */
const MAX_STICKY_ADDRESSES = 65536;

/** Ports below this are never used as fake source ports (privileged, and rarely client ports). */
export const FIRST_FAKE_PORT = 1024;
const PORT_SPACE = PORTS - FIRST_FAKE_PORT;
/** Replicas that share a fake address are spread this far apart in port space. */
export const REPLICA_PORT_STRIDE = 4099; // prime, so strides never line up with the -f shift
/**
 * When the preferred port is taken, the next ones tried are this far apart (a prime, coprime with
 * PORT_SPACE, so every port is tried once). Clients take their ports in sequence, so the taken
 * ports form long runs: trying port + 1, + 2, ... walked a whole run each time, 13,000 tries per
 * session on average once 40,000 tuples lived on one fake address (one client address at 10,000
 * sessions/s with 6 s of linger, bench:e2e's overload); these steps leave the runs at once (3 tries).
 */
const PORT_PROBE_STRIDE = 7919;
/**
 * Ports tried per fake address before it counts as full. A full address was scanned whole
 * (64,512 tries) for every new session: at overload, when lingering tuples fill the space, that
 * stopped tcpcopy dead (bench:e2e). At 95 % taken, 512 tries all miss with odds below 1e-11.
 */
const MAX_PORT_PROBES = 512;
/** Pool addresses tried after the client's own, when its ports there are full. */
const MAX_ADDRESS_SPILL = 4;

function wrapPort(port: number): number {
  return FIRST_FAKE_PORT + ((((port - FIRST_FAKE_PORT) % PORT_SPACE) + PORT_SPACE) % PORT_SPACE);
}

/** 32-bit avalanche mix (murmur3 finaliser): sampling decisions spread evenly over ip:port. */
function mix(ip: number, port: number): number {
  let h = (ip ^ Math.imul(port, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** -r: whether a client session is copied; stable per (ip, port), so whole sessions are kept. */
export function sampled(ip: number, port: number, percent: number): boolean {
  return percent >= PERCENT || mix(ip, port) % PERCENT < percent;
}

const MS_PER_SECOND = 1000;

/**
 * The share of new sessions copied at a given time: -r, or with -g a ramp from 1 % to 100 % over
 * the first ~100 s after the first session considered (docs/upstream.md §3).
 */
export class SampleShare {
  private rampStartedAt: number | undefined;

  constructor(private readonly config: { readonly samplePercent: number; readonly rampUp: boolean }) {}

  percentAt(now: number): number {
    if (!this.config.rampUp) return this.config.samplePercent;
    this.rampStartedAt ??= now;
    return Math.min(PERCENT, Math.floor((now - this.rampStartedAt) / MS_PER_SECOND) + 1);
  }
}

/** Anything that can say whether a fake ip:port is taken at one test-server endpoint. */
export interface TupleOccupancy {
  has(fakeEndpoint: number): boolean;
}

/** 127.0.0.0/8 (RFC 1122 §3.2.1.3): the first octet. */
const LOOPBACK_NET = 127;
const LOOPBACK_SHIFT = 24;

export class FakeAddressPlan {
  private readonly pool: readonly number[];
  private readonly portShift: number;
  /** Sticky real-address -> pool index (upstream keeps this for the process lifetime too). */
  private readonly poolIndexOf = new Map<number, number>();
  private nextPoolIndex = 0;

  /**
   * `loopbackSource` (-H) stands for a client on this host's loopback (127.0.0.0/8): a test
   * server elsewhere can neither reach nor answer 127.0.0.1.
   */
  constructor(
    pool: readonly number[],
    portShift: number,
    private readonly loopbackSource?: number,
  ) {
    this.pool = pool;
    this.portShift = portShift;
  }

  /**
   * The tuple for replica `replica` of client ip:port toward `target`, or undefined when its fake
   * address is full there (no free port in MAX_PORT_PROBES tries) and so are the next pool
   * addresses tried. Replicas first take different fake addresses from the pool; only when the
   * pool is smaller than -n do they share one on spread-out ports.
   */
  allocate(
    clientIp: number,
    clientPort: number,
    replica: number,
    target: EngineTarget,
    taken: TupleOccupancy,
  ): Tuple | undefined {
    const pool = this.pool;
    const loopback = this.loopbackSource !== undefined && clientIp >>> LOOPBACK_SHIFT === LOOPBACK_NET;
    const source = loopback ? this.loopbackSource! : clientIp;
    const round = pool.length > 0 ? Math.floor(replica / pool.length) : replica;
    const preferred = clientPort + this.portShift + round * REPLICA_PORT_STRIDE;
    const base = pool.length > 0 ? this.poolIndex(source) + replica : 0;
    const addresses = pool.length > 0 ? Math.min(pool.length, 1 + MAX_ADDRESS_SPILL) : 1;
    for (let a = 0; a < addresses; a++) {
      const srcIp = pool.length > 0 ? pool[(base + a) % pool.length]! : source;
      for (let probe = 0; probe < MAX_PORT_PROBES; probe++) {
        const srcPort =
          probe === 0 && preferred <= 0xffff ? preferred : wrapPort(preferred + probe * PORT_PROBE_STRIDE);
        if (!taken.has(endpointKey(srcIp, srcPort)))
          return { srcIp, srcPort, dstIp: target.targetIp, dstPort: target.targetPort };
      }
    }
    return undefined;
  }

  private poolIndex(clientIp: number): number {
    let index = this.poolIndexOf.get(clientIp);
    if (index === undefined) {
      if (this.poolIndexOf.size >= MAX_STICKY_ADDRESSES) this.poolIndexOf.clear();
      index = this.nextPoolIndex;
      this.nextPoolIndex = (this.nextPoolIndex + 1) % this.pool.length;
      this.poolIndexOf.set(clientIp, index);
    }
    return index;
  }
}
