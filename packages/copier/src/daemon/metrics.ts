/**
 * tcpcopy's metrics (docs/metrics.md): the engine's, the pipeline's, the control links' and the
 * capture and raw socket's counter objects, read at scrape time; the periodic stats line reads
 * the same objects. Per test server, series carry `target="ip:port"`; per intercept,
 * `intercept="ip:port"` (as given with -s).
 */
import type { Clock, ListenAddress, PacketSink, PacketSource } from '@tcpcopy/common';
import { MetricsRegistry, serveMetrics, type MetricsServer } from '@tcpcopy/common/metrics';
import type { Engine, EngineCounters, TargetCounters } from '../engine/index.js';
import type { PerInterceptCounters, InterceptLinks, LinkCounters } from './intercept-links.js';
import type { Pipeline, PipelineCounters } from './pipeline.js';
import type { Comparison } from './comparison.js';
import { registerComparisonMetrics } from './compare-metrics.js';
import type { MemoryGuard } from './memory-guard.js';

const P = 'tcpcopy_';

export interface CopierParts {
  readonly engine: Engine;
  readonly pipeline: Pipeline;
  readonly links: InterceptLinks;
  readonly source: PacketSource;
  readonly sink: PacketSink;
  /** The engine's clock: the copy's lag is computed at scrape time. */
  readonly clock: Clock;
  /** -n: each captured byte is owed to the test server once per copy. */
  readonly copies: number;
  /** --compare: its series are served only when tcpcopy compares. */
  readonly comparison?: Comparison | undefined;
  /** -m measured on the resident set. */
  readonly memoryGuard?: MemoryGuard | undefined;
}

const MS_PER_SECOND = 1000;

type NumberKeys<T> = { [K in keyof T]: T[K] extends number ? K : never }[keyof T];

/** Engine-wide counters, as `tcpcopy_<name>_total`. */
const ENGINE_COUNTERS: readonly [NumberKeys<EngineCounters>, string, string][] = [
  [
    'clientRetransmissionsDropped',
    'client_retransmissions_dropped',
    'Client segments dropped because everything in them was captured before (client retransmissions).',
  ],
  [
    'clientPureAcksDropped',
    'client_pure_acks_dropped',
    'Client pure ACKs not copied: the copier acknowledges the test server itself.',
  ],
  [
    'orphanPackets',
    'client_orphan_packets',
    'Client packets with no session to carry them (no SYN seen and no data, -O, or a RST).',
  ],
  [
    'clientPortReuses',
    'client_port_reuses',
    'Clients that reused their port while their previous session was still replayed.',
  ],
  [
    'truncatedPackets',
    'client_truncated_packets',
    'Client packets captured shorter than their IP length (snapshot length): not copied.',
  ],
  [
    'packetsInjected',
    'packets_injected',
    'Packets sent to the test server (data, handshakes, ACKs, retransmissions, resets).',
  ],
  ['bytesInjected', 'injected_bytes', 'Bytes of IP packets sent to the test server.'],
  ['retransmissions', 'retransmitted_packets', 'Segments sent again (timeouts and fast retransmissions).'],
  ['fastRetransmissions', 'fast_retransmissions', 'Retransmissions on three duplicate ACKs.'],
  ['segmentsSplit', 'segments_split', 'Segments produced by splitting captured segments larger than the MTU (-M).'],
  [
    'sessionsJoinedMidStream',
    'sessions_joined_midstream',
    'Sessions started without a captured SYN (a faked handshake).',
  ],
  [
    'sessionsSampledOut',
    'sessions_sampled_out',
    'Session starts refused by -r sampling (asked again at each data packet of a connection left out).',
  ],
  [
    'sessionsShed',
    'sessions_shed',
    'Session starts refused above the -m memory bound (asked again at each data packet).',
  ],
  ['tupleSpaceExhausted', 'tuple_space_exhausted', 'Replicas not started: no free fake address and port.'],
  [
    'finsReleasedOnQuiet',
    'fins_released_on_quiet',
    "Client FINs sent after 1 s of the test server's silence while it had sent less response than production: a shorter answer, or a cut one.",
  ],
  [
    'synsHeld',
    'syns_held',
    "SYNs held back as compact records while too many flows were half-open (a SYN flood): a session starts at the client's ACK.",
  ],
  ['synsExpired', 'syns_expired', 'Held SYNs that no handshake ACK followed in time, or that newer ones pushed out.'],
  [
    'handshakesRestarted',
    'handshakes_restarted',
    'Handshakes adopted again because the test server answered a SYN retransmission with a new ISN.',
  ],
  [
    'staleConnectionsReset',
    'stale_connections_reset',
    "Connections still held by the test server on a new session's tuple, reset.",
  ],
  ['targetPackets', 'target_packets', "Header records of the test server's packets handed to the engine."],
  ['targetPayloadBytes', 'target_payload_bytes', "Payload bytes the test server sent (from the records' IP lengths)."],
  ['targetUnknownSession', 'replies_unknown_session', 'Replies for no live or lingering session.'],
  ['resetsToStrays', 'resets_to_strays', 'Resets sent for test-server packets to sessions already closed.'],
];

/** Per test server, as `tcpcopy_<name>{target}`. */
const TARGET_COUNTERS: readonly [NumberKeys<TargetCounters>, string, string][] = [
  ['packets', 'packets_matched', 'Captured client packets matched to this test server (-x).'],
  ['sessionsStarted', 'sessions_started', 'Sessions started (one per -n copy), with a SYN or joined mid-stream.'],
  [
    'sessionsEstablished',
    'sessions_established',
    'Sessions whose SYN the test server answered (SYN-ACK seen through intercept).',
  ],
  [
    'payloadCaptured',
    'payload_captured_bytes',
    'Client payload bytes captured (client retransmissions included), once per packet.',
  ],
  ['payloadAcked', 'payload_acked_bytes', 'Client payload bytes the test server acknowledged, per copy.'],
  [
    'payloadDuplicate',
    'payload_duplicate_bytes',
    'Captured client payload bytes the session already had (retransmissions, overlaps), per copy: not new data.',
  ],
];

const PIPELINE_COUNTERS: readonly [NumberKeys<PipelineCounters>, string, string][] = [
  ['framesCaptured', 'capture_frames', 'Frames the capture delivered.'],
  [
    'ownPacketsIgnored',
    'capture_own_packets',
    'Captured packets from a fake client address (our own output): ignored.',
  ],
  ['framesNotMatched', 'capture_unmatched_frames', 'Captured TCP packets to no -x entry.'],
  ['answersCaptured', 'capture_answers', "Production's answers captured for --compare (0 without it)."],
  ['recordsReceived', 'replies', "Header records of the test server's replies received from all intercepts."],
  [
    'hostAddressChanges',
    'host_address_changes',
    "Times this host's addresses changed (a VIP moving in or out) and the capture filter followed.",
  ],
];

const LINK_COUNTERS: readonly [keyof LinkCounters, string, string][] = [
  ['reconnects', 'control_reconnects', 'Control connections to an intercept opened again after one was lost.'],
  ['protocolErrors', 'control_protocol_errors', 'Control connections dropped for a protocol error.'],
  [
    'authFailures',
    'control_auth_failures',
    'Control connections to an intercept refused over the --auth-file key proof (TCPCOPY_ERR_CONTROL_AUTH).',
  ],
  ['routesAdded', 'routes_added', 'Routes registered with the intercepts.'],
  ['routesDeleted', 'routes_deleted', 'Routes withdrawn.'],
  ['routeAddsUnsent', 'route_adds_unsent', 'Routes that could not be sent: no intercept connection was ready.'],
];

const INTERCEPT_COUNTERS: readonly [NumberKeys<PerInterceptCounters>, string, string][] = [
  ['records', 'intercept_replies', 'Replies (header records) received from this intercept.'],
  ['responseFrames', 'intercept_response_frames', 'Responses frames received from this intercept.'],
  ['connects', 'intercept_connects', 'Control connections opened to this intercept.'],
  ['disconnects', 'intercept_disconnects', 'Control connections to this intercept lost.'],
];

/** `--metrics`: serves tcpcopy's metrics (and Node's process metrics) on `listen`. */
export function serveCopierMetrics(parts: CopierParts, listen: ListenAddress): Promise<MetricsServer> {
  return serveMetrics(registerCopierMetrics(new MetricsRegistry({ processMetrics: true }), parts), listen);
}

export function registerCopierMetrics(metrics: MetricsRegistry, parts: CopierParts): MetricsRegistry {
  const { engine, pipeline, links, copies } = parts;
  const e = engine.counters;
  const counter = (name: string, help: string, read: () => number): void => {
    metrics.add({ name: `${P}${name}_total`, help, kind: 'counter', read: (emit) => emit(read()) });
  };
  const gauge = (name: string, help: string, read: () => number): void => {
    metrics.add({ name: `${P}${name}`, help, kind: 'gauge', read: (emit) => emit(read()) });
  };
  /** `before` runs once per scrape, ahead of the reads. */
  const perTarget = (
    name: string,
    help: string,
    kind: 'counter' | 'gauge',
    read: (t: TargetCounters) => number,
    before?: () => void,
  ): void => {
    metrics.add({
      name: `${P}${name}`,
      help,
      kind,
      labels: ['target'],
      read: (emit) => {
        before?.();
        for (const t of engine.targetCounters) emit(read(t), { target: t.target });
      },
    });
  };
  const perTargetTable = (
    name: string,
    help: string,
    table: (t: TargetCounters) => Readonly<Record<string, number>>,
  ): void => {
    metrics.add({
      name: `${P}${name}`,
      help,
      kind: 'counter',
      labels: ['target', 'reason'],
      read: (emit) => {
        for (const t of engine.targetCounters)
          for (const [reason, n] of Object.entries(table(t))) emit(n, { target: t.target, reason });
      },
    });
  };

  // Capture and decoding.
  for (const [field, name, help] of PIPELINE_COUNTERS) counter(name, help, () => pipeline.counters[field]);
  metrics.addTable(
    `${P}capture_frames_dropped_total`,
    'Captured frames the decoders refused, by reason.',
    'reason',
    () => pipeline.counters.framesDropped,
  );
  metrics.addTable(
    `${P}replies_dropped_total`,
    'Reply records the decoders refused, by reason.',
    'reason',
    () => pipeline.counters.recordsDropped,
  );
  counter(
    'capture_kernel_dropped',
    'Frames the kernel dropped before tcpcopy read them (its capture ring was full).',
    () => parts.source.stats().kernelDropped ?? 0,
  );
  gauge(
    'capture_ring_bytes',
    'Bytes of the kernel capture rings being read.',
    () => parts.source.stats().ringBytes ?? 0,
  );
  gauge(
    'capture_spill_peak_bytes',
    'The most bytes of captured blocks waiting in the spill area (-B) at once.',
    () => parts.source.stats().spillPeakBytes ?? 0,
  );
  gauge(
    'capture_spill_held_bytes',
    'Bytes of captured blocks waiting in the spill area (-B) now: how far tcpcopy is behind the capture.',
    () => parts.source.stats().spillHeldBytes ?? 0,
  );
  counter(
    'capture_spill_full',
    'Times a captured block found the spill area (-B) full and waited in the kernel ring.',
    () => parts.source.stats().spillFull ?? 0,
  );
  counter(
    'capture_checksum_partial',
    'Packets captured with an unfinished TCP checksum (checksum offload on the sender): recomputed.',
    () => parts.source.stats().checksumPartial ?? 0,
  );
  counter(
    'capture_snaplen_truncated',
    'Frames cut by the capture snapshot length.',
    () => parts.source.stats().truncated,
  );

  // The engine.
  for (const [field, name, help] of ENGINE_COUNTERS) counter(name, help, () => e[field]);
  for (const [field, name, help] of TARGET_COUNTERS) perTarget(`${name}_total`, help, 'counter', (t) => t[field]);
  perTargetTable(
    'sessions_ended_total',
    'Sessions ended, by reason: finished is the clean end, every other reason a failure (docs/metrics.md).',
    (t) => t.sessionsEnded,
  );
  perTarget(
    'payload_expected_bytes_total',
    'Captured client payload bytes times the number of copies (-n): what the test server should receive. = acked + duplicate + pending + dropped.',
    'counter',
    (t) => t.payloadCaptured * copies,
  );
  perTarget(
    'copy_lag_seconds',
    'How far the copy trails production: age of the oldest captured client segment the test server has not acknowledged (0 when none waits).',
    'gauge',
    (t) => t.copyLagMs / MS_PER_SECOND,
    () => parts.engine.refreshCopyLag(parts.clock.now()),
  );
  perTarget(
    'payload_pending_bytes',
    'Client payload bytes queued, in flight or held out of order in live sessions, per copy.',
    'gauge',
    (t) => t.payloadPending,
  );
  perTargetTable(
    'payload_dropped_bytes_total',
    'Client payload bytes that will never reach the test server, per copy, by reason (a session end reason, or refused before a session: truncated, sampled_out, shed, tuple_space_exhausted, orphan).',
    (t) => t.payloadDropped,
  );
  gauge('sessions', 'Live and lingering sessions.', () => engine.sessionCount);
  gauge('buffered_bytes', 'Bytes of client packets held by all sessions.', () => engine.totalBufferedBytes);
  gauge(
    'memory_estimate_bytes',
    "The engine's memory estimate: sessions, held SYNs and buffered packets. New sessions are shed while it is above what -m leaves them.",
    () => engine.memoryInUse,
  );
  const guard = parts.memoryGuard;
  if (guard !== undefined) {
    gauge('memory_pressure', '1 while the resident set is near -m and new sessions are shed for it.', () =>
      guard.pressure ? 1 : 0,
    );
    counter('memory_pressure_episodes', 'Times the resident set came near -m.', () => guard.counters.pressureEpisodes);
    counter('memory_collections', 'Full garbage collections asked of V8 near -m.', () => guard.counters.collections);
  }
  gauge('syns_pending', "SYNs held back now, waiting for their client's ACK.", () => engine.pendingSynCount);
  gauge('copies', 'Copies of each session (-n).', () => copies);

  // Raw socket.
  counter('inject_sent', 'Packets the kernel accepted from the raw socket.', () => parts.sink.stats().sent);
  counter('inject_retried', 'Raw sends repeated after a transient error.', () => parts.sink.stats().retried);
  counter('inject_queue_full', 'Packets refused because the send queue was full.', () => parts.sink.stats().queueFull);
  metrics.addTable(
    `${P}inject_errors_total`,
    'Packets given up on by the raw socket, by errno.',
    'errno',
    () => parts.sink.stats().errors,
  );
  gauge('inject_queued', 'Packets accepted but not yet sent.', () => parts.sink.stats().queued);

  // Control channels.
  for (const [field, name, help] of LINK_COUNTERS) counter(name, help, () => links.counters[field]);
  for (const [field, name, help] of INTERCEPT_COUNTERS) {
    metrics.add({
      name: `${P}${name}_total`,
      help,
      kind: 'counter',
      labels: ['intercept'],
      read: (emit) => {
        for (const i of links.perIntercept) emit(i[field], { intercept: i.intercept });
      },
    });
  }
  metrics.add({
    name: `${P}intercept_connections_ready`,
    help: 'Control connections to this intercept ready now (of -C).',
    kind: 'gauge',
    labels: ['intercept'],
    read: (emit) => links.perIntercept.forEach((i, n) => emit(links.readyCountOf(n), { intercept: i.intercept })),
  });
  if (parts.comparison !== undefined) registerComparisonMetrics(metrics, parts.comparison);
  return metrics;
}
