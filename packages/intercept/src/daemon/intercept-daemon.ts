/**
 * The intercept daemon minus process chores: control server + capture + core + timers. Every
 * outside dependency (packet source, clock, logger, listen address) is a parameter, so tests run
 * it on loopback with a fake source; main.ts adds the live capture, signals, pid file and -d.
 */
import type { AddressInfo } from 'node:net';
import { systemClock, type Clock, type Logger, type PacketSource } from '@tcpcopy/common';
import {
  InterceptCore,
  type ConnectionCounters,
  type InterceptCoreOptions,
  type InterceptCounters,
} from '../core/index.js';
import type { ControlAdmissionOptions } from './control-admission.js';
import { ControlServer, type ControlServerCounters, type PeerInfo } from './control-server.js';
import { PayloadCapture } from './payload-capture.js';
import { ReplyCapture, type ReplyCaptureStats } from './reply-capture.js';

/** Parked replies and idle routes are expired this often (their lifetimes are 30 s and 30 min). */
export const HOUSEKEEPING_INTERVAL_MS = 1000;
/** Upstream's OUTPUT_INTERVAL: a stats line every 30 s. */
export const STATS_INTERVAL_MS = 30_000;

export interface InterceptDaemonOptions {
  /** Control listen address, dotted quad ('0.0.0.0' = all). */
  readonly host: string;
  /** Control listen port; 0 picks a free one. */
  readonly port: number;
  readonly source: PacketSource;
  readonly log: Logger;
  /** Our hello's identity, e.g. 'aux:1234' and 'intercept 0.1.0'. */
  readonly instanceId: string;
  readonly software: string;
  readonly clock?: Clock;
  readonly core?: InterceptCoreOptions;
  readonly helloTimeoutMs?: number;
  /** --auth-file's key and --allow's sources. */
  readonly admission?: ControlAdmissionOptions;
  /** 0 = no periodic stats line. */
  readonly statsIntervalMs?: number;
  /** How long connections get to drain on stop. */
  readonly closeGraceMs?: number;
}

export interface ConnectionStats extends PeerInfo, Partial<ConnectionCounters> {
  readonly routes: number;
}

export interface InterceptStats {
  readonly replies: Pick<
    InterceptCounters,
    | 'repliesCaptured'
    | 'repliesRewritten'
    | 'routed'
    | 'parked'
    | 'released'
    | 'unroutable'
    | 'droppedBackpressure'
    | 'merged'
    | 'parkedExpired'
    | 'parkedOverflow'
    | 'droppedOnClose'
  >;
  readonly routes: { live: number } & Pick<
    InterceptCounters,
    'routesAdded' | 'routesRebound' | 'routesDeleted' | 'routeDelIgnored' | 'routesExpired' | 'routesClosed'
  >;
  readonly parkedNow: number;
  readonly sent: Pick<InterceptCounters, 'framesSent' | 'recordsSent' | 'bytesSent' | 'payloadBytesSent'> & {
    /** Copier connections granted payload records, open now. */
    payloadConnections: number;
  };
  readonly capture: ReplyCaptureStats;
  readonly control: ControlServerCounters & { open: number };
  readonly connections: ConnectionStats[];
}

export class InterceptDaemon {
  readonly core: InterceptCore;
  readonly server: ControlServer;
  private readonly capture: ReplyCapture;
  readonly payloadCapture: PayloadCapture;
  /** Set while a flush of the waiting batches is scheduled for the end of this event-loop turn. */
  private flushScheduled: NodeJS.Immediate | undefined;
  private readonly clock: Clock;
  private readonly log: Logger;
  private housekeeping: NodeJS.Timeout | undefined;
  private statsTimer: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;

  constructor(private readonly options: InterceptDaemonOptions) {
    this.clock = options.clock ?? systemClock;
    this.log = options.log;
    this.payloadCapture = new PayloadCapture(options.source, options.log.child({ component: 'capture' }));
    this.server = new ControlServer(
      {
        host: options.host,
        port: options.port,
        instanceId: options.instanceId,
        software: options.software,
        log: options.log.child({ component: 'control' }),
        ...(options.helloTimeoutMs === undefined ? {} : { helloTimeoutMs: options.helloTimeoutMs }),
        admission: options.admission,
      },
      {
        onRouteAdd: (conn, routes) => {
          const released = this.core.counters.released;
          this.core.onRouteAdd(conn, routes, this.clock.now());
          if (this.core.counters.released !== released) this.flushSoon();
        },
        onRouteDel: (conn, routes) => this.core.onRouteDel(conn, routes),
        onAdmitted: (conn, payloads) => this.payloadCapture.onAdmitted(conn, payloads),
        onClosed: (conn) => {
          this.payloadCapture.onClosed(conn);
          const counters = this.core.onConnectionClosed(conn);
          if (counters !== undefined) this.log.info({ conn, ...counters }, 'connection closed; its routes are deleted');
        },
      },
    );
    this.core = new InterceptCore(this.server, options.core);
    this.capture = new ReplyCapture(options.source, this.core, this.clock, () => this.flushSoon());
  }

  /**
   * Listens, then starts capturing. Rejects with the server's RuntimeError (LISTEN) or the
   * source's PacketIoError (DEVICE, FILTER, CAPTURE_OPEN); nothing is left open then.
   */
  async start(): Promise<AddressInfo> {
    const address = await this.server.listen();
    try {
      this.capture.start();
    } catch (err) {
      await this.server.close(0);
      throw err;
    }
    this.housekeeping = setInterval(() => this.core.tick(this.clock.now()), HOUSEKEEPING_INTERVAL_MS);
    this.housekeeping.unref();
    const statsIntervalMs = this.options.statsIntervalMs ?? STATS_INTERVAL_MS;
    if (statsIntervalMs > 0) {
      this.statsTimer = setInterval(() => this.log.info(this.stats(), 'stats'), statsIntervalMs);
      this.statsTimer.unref();
    }
    return address;
  }

  /**
   * Stops capturing, sends every waiting batch, then closes the server and its connections
   * (each drains for up to closeGraceMs). Idempotent.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.capture.stop();
      clearInterval(this.housekeeping);
      clearInterval(this.statsTimer);
      clearImmediate(this.flushScheduled);
      this.core.flushWaiting();
      await this.server.close(this.options.closeGraceMs);
    })();
    return this.stopping;
  }

  /**
   * Batches leave once this turn of the event loop has handled all the capture delivered (every
   * packet of the ring's ready blocks), not on a timer: a record's wait is part of the test
   * server's round trip, which paces its answers.
   */
  private flushSoon(): void {
    this.flushScheduled ??= setImmediate(this.flushNow);
  }

  /** Made once: flushSoon runs at every capture wake-up that batched a reply. */
  private readonly flushNow = (): void => {
    this.flushScheduled = undefined;
    this.core.flushWaiting();
  };

  /** The stats line: the core's counters, the capture's, the server's, and per connection. */
  stats(): InterceptStats {
    const c = this.core.counters;
    return {
      replies: {
        repliesCaptured: c.repliesCaptured,
        repliesRewritten: c.repliesRewritten,
        routed: c.routed,
        parked: c.parked,
        released: c.released,
        unroutable: c.unroutable,
        droppedBackpressure: c.droppedBackpressure,
        merged: c.merged,
        parkedExpired: c.parkedExpired,
        parkedOverflow: c.parkedOverflow,
        droppedOnClose: c.droppedOnClose,
      },
      routes: {
        live: this.core.routes.size,
        routesAdded: c.routesAdded,
        routesRebound: c.routesRebound,
        routesDeleted: c.routesDeleted,
        routeDelIgnored: c.routeDelIgnored,
        routesExpired: c.routesExpired,
        routesClosed: c.routesClosed,
      },
      parkedNow: this.core.parking.size,
      sent: {
        framesSent: c.framesSent,
        recordsSent: c.recordsSent,
        bytesSent: c.bytesSent,
        payloadBytesSent: c.payloadBytesSent,
        payloadConnections: this.payloadCapture.connections,
      },
      capture: this.capture.stats(),
      control: {
        open: this.server.connectionCount,
        ...this.server.counters,
        rejected: { ...this.server.counters.rejected },
      },
      connections: this.server.peerInfo().map((p) => ({
        ...p,
        routes: this.core.routes.routesOf(p.conn),
        ...this.core.connectionCounters(p.conn),
      })),
    };
  }
}
