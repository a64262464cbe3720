/** The periodic stats line: one object an operator can read, built from the counters (all of them). */
import type { PacketSink, PacketSource } from '@tcpcopy/common';
import type { Engine } from '../engine/index.js';
import type { InterceptLinks } from './intercept-links.js';
import type { Pipeline } from './pipeline.js';
import type { Comparison } from './comparison.js';
import type { MemoryGuard } from './memory-guard.js';

export interface StatsParts {
  readonly engine: Engine;
  readonly pipeline: Pipeline;
  readonly links?: InterceptLinks | undefined;
  readonly source: PacketSource;
  readonly sink: PacketSink;
  readonly comparison?: Comparison | undefined;
  readonly memoryGuard?: MemoryGuard | undefined;
}

export function statsSnapshot(parts: StatsParts, now: number): Record<string, unknown> {
  const { engine, pipeline, links, source, sink, comparison, memoryGuard: guard } = parts;
  engine.refreshCopyLag(now);
  const e = engine.counters;
  return {
    sessions: {
      live: engine.sessionCount,
      started: e.sessionsStarted,
      joinedMidStream: e.sessionsJoinedMidStream,
      established: e.sessionsEstablished,
      ended: e.sessionsEnded,
      sampledOut: e.sessionsSampledOut,
      shed: e.sessionsShed,
      tupleSpaceExhausted: e.tupleSpaceExhausted,
      handshakesRestarted: e.handshakesRestarted,
      staleConnectionsReset: e.staleConnectionsReset,
      /** SYNs held back while too many flows were half-open (a SYN flood), now and ever. */
      synsPending: engine.pendingSynCount,
      synsHeld: e.synsHeld,
      synsExpired: e.synsExpired,
      /** Client FINs sent on the test server's silence, short of production's answer. */
      finsReleasedOnQuiet: e.finsReleasedOnQuiet,
    },
    client: {
      packets: e.clientPackets,
      payloadBytes: e.clientPayloadBytes,
      payloadBytesAcked: e.payloadBytesAcked,
      retransmissionsDropped: e.clientRetransmissionsDropped,
      orphans: e.orphanPackets,
      pureAcksDropped: e.clientPureAcksDropped,
      portReuses: e.clientPortReuses,
      /** Decoded, but captured shorter than their IP total length: not copied. */
      truncated: e.truncatedPackets,
    },
    target: {
      packets: e.targetPackets,
      payloadBytes: e.targetPayloadBytes,
      unknownSession: e.targetUnknownSession,
      resetsToStrays: e.resetsToStrays,
    },
    injected: {
      packets: e.packetsInjected,
      bytes: e.bytesInjected,
      retransmissions: e.retransmissions,
      fastRetransmissions: e.fastRetransmissions,
      segmentsSplit: e.segmentsSplit,
    },
    buffered: engine.totalBufferedBytes,
    /** The engine's memory estimate that -m caps (sessions, held SYNs, buffered packets). */
    memoryInUse: engine.memoryInUse,
    /** What the process holds, as the kernel and V8 count it (docs/metrics.md): -m is measured on rss. */
    process: { ...processMemory(), memoryPressure: guard?.pressure, ...guard?.counters },
    /** Per test server: sessions, the payload accounting and the copy's lag (docs/metrics.md). */
    targets: engine.targetCounters,
    capture: { ...source.stats(), ...pipeline.counters },
    sink: sink.stats(),
    control:
      links === undefined ? undefined : { ready: links.readyCount, ...links.counters, intercepts: links.perIntercept },
    /** --compare: exchanges compared, identical, differing by kind, per test server (docs/compare.md). */
    compare: comparison?.snapshot(),
  };
}

function processMemory(): Record<string, number> {
  const m = process.memoryUsage();
  return {
    rss: m.rss,
    heapUsed: m.heapUsed,
    heapTotal: m.heapTotal,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
  };
}
