/** The periodic stats line: one object an operator can read, built from the counters. */
import type { PacketSink, PacketSource } from '@tcpcopy/common';
import type { Engine } from '../engine/index.js';
import type { InterceptLinks } from './intercept-links.js';
import type { Pipeline } from './pipeline.js';

export function statsSnapshot(
  engine: Engine,
  pipeline: Pipeline,
  links: InterceptLinks | undefined,
  source: PacketSource,
  sink: PacketSink,
): Record<string, unknown> {
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
    },
    client: {
      packets: e.clientPackets,
      payloadBytes: e.clientPayloadBytes,
      payloadBytesAcked: e.payloadBytesAcked,
      retransmissionsDropped: e.clientRetransmissionsDropped,
      orphans: e.orphanPackets,
    },
    target: { packets: e.targetPackets, payloadBytes: e.targetPayloadBytes, unknownSession: e.targetUnknownSession },
    injected: { packets: e.packetsInjected, retransmissions: e.retransmissions, fastRetransmissions: e.fastRetransmissions },
    buffered: engine.totalBufferedBytes,
    capture: { ...source.stats(), ...pipeline.counters },
    sink: sink.stats(),
    control: links === undefined ? undefined : { ready: links.readyCount, ...links.counters },
  };
}
