/**
 * intercept's metrics (docs/metrics.md): the core's, the control server's and the capture's
 * counter objects, read at scrape time. These are the objects the periodic stats line reads too.
 * Per copier connection, series carry `conn` (its number here), `peer` (ip:port) and `copier`
 * (the instance id from its hello); they go away with the connection.
 */
import type { ListenAddress } from '@tcpcopy/common';
import { MetricsRegistry, serveMetrics, type MetricsServer } from '@tcpcopy/common/metrics';
import type { ConnectionCounters, InterceptCounters } from '../core/index.js';
import type { InterceptDaemon } from './intercept-daemon.js';

const P = 'intercept_';

/** Daemon-wide counters of the core, as `intercept_<name>_total`. */
const CORE_COUNTERS: readonly [keyof InterceptCounters, string, string][] = [
  ['repliesCaptured', 'replies_captured', 'Packets from the test server (the -F filter) decoded from the capture.'],
  [
    'repliesRewritten',
    'replies_rewritten',
    "Replies addressed to -D's A, routed and recorded as addressed to its B (the fake client).",
  ],
  ['routed', 'replies_routed', 'Replies appended to the batch of the copier connection that registered their route.'],
  ['parked', 'replies_parked', 'SYN-ACK or RST replies that came before their route and were parked.'],
  ['released', 'replies_released', 'Parked replies handed to a connection when their route arrived.'],
  [
    'merged',
    'replies_merged',
    'Replies merged into the record before them in their batch (contiguous data of one flow), as GRO merges segments: fewer records for the copier.',
  ],
  [
    'unroutable',
    'replies_unroutable',
    'Replies with no route that were not worth parking (the -F filter is broader than the copied flows, or the route is long gone).',
  ],
  ['routesAdded', 'routes_added', 'Routes registered by copiers.'],
  ['routesRebound', 'routes_rebound', 'Routes taken over by another connection of a copier.'],
  ['routesDeleted', 'routes_deleted', 'Routes withdrawn by copiers.'],
  ['routeDelIgnored', 'route_deletes_ignored', 'Route withdrawals for a route absent or held by another connection.'],
  ['routesExpired', 'routes_expired', 'Routes removed after being idle too long.'],
  ['routesClosed', 'routes_closed', 'Routes removed because their connection closed.'],
  ['framesSent', 'frames_sent', 'Responses frames sent to copiers.'],
  ['recordsSent', 'records_sent', 'Header records sent to copiers.'],
  ['bytesSent', 'sent_bytes', 'Bytes of responses frames sent to copiers.'],
  [
    'payloadBytesSent',
    'payload_sent_bytes',
    "Of those, the test server's reply data sent in payload records to copiers that asked for it.",
  ],
];

/** Replies lost on intercept's side, by reason. */
const REPLY_DROPS: readonly [keyof InterceptCounters, string][] = [
  ['droppedBackpressure', 'backpressure'],
  ['parkedExpired', 'parked_expired'],
  ['parkedOverflow', 'parked_overflow'],
  ['droppedOnClose', 'connection_closed'],
];

/** Per copier connection, as `intercept_connection_<name>_total`. */
const CONNECTION_COUNTERS: readonly [keyof ConnectionCounters, string, string][] = [
  ['routed', 'replies_routed', 'Replies routed to this copier connection.'],
  ['released', 'replies_released', 'Parked replies released to this connection by its route adds.'],
  [
    'droppedBackpressure',
    'replies_dropped',
    'Replies dropped because this connection was above its high-water mark (a slow copier).',
  ],
  [
    'merged',
    'replies_merged',
    'Replies merged into the record before them (contiguous data of one flow in one batch).',
  ],
  ['routesAdded', 'routes_added', 'Routes this connection registered.'],
  ['routesDeleted', 'routes_deleted', 'Routes this connection withdrew.'],
  ['framesSent', 'frames_sent', 'Responses frames sent on this connection.'],
  ['recordsSent', 'records_sent', 'Header records sent on this connection.'],
  ['bytesSent', 'sent_bytes', 'Bytes sent on this connection.'],
  ['payloadBytesSent', 'payload_sent_bytes', "Of those, the test server's reply data in payload records."],
];

type ConnectionLabel = 'conn' | 'peer' | 'copier';
const CONNECTION_LABELS: readonly ConnectionLabel[] = ['conn', 'peer', 'copier'];

/** `--metrics`: serves this daemon's metrics (and Node's process metrics) on `listen`. */
export function serveInterceptMetrics(daemon: InterceptDaemon, listen: ListenAddress): Promise<MetricsServer> {
  return serveMetrics(registerInterceptMetrics(new MetricsRegistry({ processMetrics: true }), daemon), listen);
}

export function registerInterceptMetrics(metrics: MetricsRegistry, daemon: InterceptDaemon): MetricsRegistry {
  const core = daemon.core;
  const server = daemon.server;
  const c = core.counters;
  for (const [field, name, help] of CORE_COUNTERS) {
    metrics.add({ name: `${P}${name}_total`, help, kind: 'counter', read: (emit) => emit(c[field]) });
  }
  metrics.add({
    name: `${P}replies_dropped_total`,
    help: 'Replies intercept could not deliver, by reason: backpressure (copier connection too slow), parked_expired (no route within 30 s), parked_overflow, connection_closed (batched when the copier went away).',
    kind: 'counter',
    labels: ['reason'],
    read: (emit) => {
      for (const [field, reason] of REPLY_DROPS) emit(c[field], { reason });
    },
  });
  metrics.add({
    name: `${P}routes`,
    help: 'Routes registered now.',
    kind: 'gauge',
    read: (emit) => emit(core.routes.size),
  });
  metrics.add({
    name: `${P}payload_connections`,
    help: 'Copier connections granted reply payloads, open now: while any is, the capture keeps whole packets.',
    kind: 'gauge',
    read: (emit) => emit(daemon.payloadCapture.connections),
  });
  metrics.add({
    name: `${P}parked_replies`,
    help: 'Replies parked now, waiting for their route.',
    kind: 'gauge',
    read: (emit) => emit(core.parking.size),
  });

  registerCapture(metrics, daemon);
  registerControl(metrics, daemon);

  /** Every open connection with its labels and (once it routed anything) its counters. */
  const connections = (): {
    labels: Record<ConnectionLabel, string>;
    counters: Readonly<ConnectionCounters> | undefined;
    routes: number;
    pending: number;
  }[] =>
    server.peerInfo().map((p) => ({
      labels: { conn: String(p.conn), peer: p.peer, copier: p.instanceId ?? '' },
      counters: core.connectionCounters(p.conn),
      routes: core.routes.routesOf(p.conn),
      pending: p.pendingBytes,
    }));
  for (const [field, name, help] of CONNECTION_COUNTERS) {
    metrics.add({
      name: `${P}connection_${name}_total`,
      help,
      kind: 'counter',
      labels: CONNECTION_LABELS,
      read: (emit) => {
        for (const conn of connections()) emit(conn.counters?.[field] ?? 0, conn.labels);
      },
    });
  }
  metrics.add({
    name: `${P}connection_routes`,
    help: 'Routes held by this copier connection now.',
    kind: 'gauge',
    labels: CONNECTION_LABELS,
    read: (emit) => {
      for (const conn of connections()) emit(conn.routes, conn.labels);
    },
  });
  metrics.add({
    name: `${P}connection_pending_bytes`,
    help: 'Bytes written to this copier connection that the kernel has not taken yet.',
    kind: 'gauge',
    labels: CONNECTION_LABELS,
    read: (emit) => {
      for (const conn of connections()) emit(conn.pending, conn.labels);
    },
  });
  return metrics;
}

function registerCapture(metrics: MetricsRegistry, daemon: InterceptDaemon): void {
  const capture = (): ReturnType<InterceptDaemon['stats']>['capture'] => daemon.stats().capture;
  metrics.add({
    name: `${P}capture_frames_total`,
    help: 'Frames the capture delivered.',
    kind: 'counter',
    read: (emit) => emit(capture().received),
  });
  metrics.add({
    name: `${P}capture_truncated_total`,
    help: 'Frames cut by the snapshot length (records need the headers only: harmless unless the TCP header is cut).',
    kind: 'counter',
    read: (emit) => emit(capture().truncated),
  });
  metrics.add({
    name: `${P}capture_kernel_dropped_total`,
    help: 'Frames the kernel dropped before intercept read them (its capture ring was full).',
    kind: 'counter',
    read: (emit) => emit(capture().kernelDropped ?? 0),
  });
  metrics.add({
    name: `${P}capture_ring_bytes`,
    help: 'Bytes of the capture rings being read: they start at 4 MiB and double while half full, up to 16 MiB.',
    kind: 'gauge',
    read: (emit) => emit(capture().ringBytes ?? 0),
  });
  metrics.add({
    name: `${P}capture_ring_growths_total`,
    help: 'Times a capture ring was replaced by one twice its size.',
    kind: 'counter',
    read: (emit) => emit(capture().ringGrowths ?? 0),
  });
  metrics.addTable(
    `${P}capture_decode_failures_total`,
    'Captured frames that did not decode to IPv4/TCP, by reason.',
    'reason',
    () => capture().decodeFailures,
  );
}

function registerControl(metrics: MetricsRegistry, daemon: InterceptDaemon): void {
  const s = daemon.server.counters;
  metrics.add({
    name: `${P}control_connections`,
    help: 'Copier connections open now.',
    kind: 'gauge',
    read: (emit) => emit(daemon.server.connectionCount),
  });
  const counters: readonly [keyof Omit<typeof s, 'rejected'>, string, string][] = [
    ['accepted', 'accepted', 'Copier connections accepted.'],
    ['notAllowed', 'not_allowed', 'Control connections from a source outside --allow, closed at once.'],
    ['ready', 'ready', 'Copier connections that completed the hello exchange.'],
    ['authenticated', 'authenticated', 'Copier connections that proved the --auth-file key.'],
    ['closed', 'closed', 'Copier connections closed.'],
    ['helloTimeouts', 'hello_timeouts', 'Connections closed for saying no hello in time.'],
    ['heartbeats', 'heartbeats', 'Heartbeats received.'],
    ['legacy', 'legacy', "Copier connections that opened in upstream's legacy protocol."],
    ['legacyUnknownTypes', 'legacy_unknown_types', 'Legacy records of an unknown type, ignored.'],
    ['framesToClosed', 'frames_to_closed', 'Frames for a connection that was already gone.'],
  ];
  for (const [field, name, help] of counters) {
    metrics.add({ name: `${P}control_${name}_total`, help, kind: 'counter', read: (emit) => emit(s[field]) });
  }
  metrics.addTable(
    `${P}control_rejected_total`,
    'Connections closed for a protocol fault, by error code (docs/errors.md).',
    'code',
    () => s.rejected as Record<string, number>,
  );
}
