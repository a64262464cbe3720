/**
 * The copier engine's counters: one plain object that tests, the stats log line and the metrics
 * endpoint all read. Session outcomes are counted once each, so
 * started = established + failed(before establishing) + live, and so on.
 */

export const SessionEndReason = {
  /** Both sides closed with FIN, or the test server's work was done and the client went away. */
  Finished: 'finished',
  ClientReset: 'client_reset',
  TargetReset: 'target_reset',
  /** No SYN-ACK within the establishment timeout: the test server's replies do not reach intercept. */
  EstablishTimeout: 'establish_timeout',
  IdleTimeout: 'idle_timeout',
  /** A client segment was never captured (capture loss) and the stream could not go on. */
  CaptureGap: 'capture_gap',
  RetransmitLimit: 'retransmit_limit',
  BufferLimit: 'buffer_limit',
  Shutdown: 'shutdown',
} as const;
export type SessionEndReason = (typeof SessionEndReason)[keyof typeof SessionEndReason];

export interface EngineCounters {
  clientPackets: number;
  clientPayloadBytes: number;
  clientRetransmissionsDropped: number;
  clientPureAcksDropped: number;
  orphanPackets: number;
  /** A client reused its port (new SYN, new ISN) while its previous session was still replayed. */
  clientPortReuses: number;
  truncatedPackets: number;
  packetsInjected: number;
  bytesInjected: number;
  retransmissions: number;
  fastRetransmissions: number;
  segmentsSplit: number;
  sessionsStarted: number;
  sessionsJoinedMidStream: number;
  sessionsEstablished: number;
  /** The test server answered a SYN retransmission with a new ISN (its first SYN-ACK was a cookie). */
  handshakesRestarted: number;
  /** The test server still held a connection on a new session's tuple (a killed copier's): reset. */
  staleConnectionsReset: number;
  sessionsSampledOut: number;
  sessionsShed: number;
  tupleSpaceExhausted: number;
  sessionsEnded: Record<SessionEndReason, number>;
  targetPackets: number;
  targetPayloadBytes: number;
  targetUnknownSession: number;
  resetsToStrays: number;
  /** Client payload bytes the test server acknowledged. */
  payloadBytesAcked: number;
}

export function newCounters(): EngineCounters {
  const ended = {} as Record<SessionEndReason, number>;
  for (const reason of Object.values(SessionEndReason)) ended[reason] = 0;
  return {
    clientPackets: 0,
    clientPayloadBytes: 0,
    clientRetransmissionsDropped: 0,
    clientPureAcksDropped: 0,
    orphanPackets: 0,
    clientPortReuses: 0,
    truncatedPackets: 0,
    packetsInjected: 0,
    bytesInjected: 0,
    retransmissions: 0,
    fastRetransmissions: 0,
    segmentsSplit: 0,
    sessionsStarted: 0,
    sessionsJoinedMidStream: 0,
    sessionsEstablished: 0,
    handshakesRestarted: 0,
    staleConnectionsReset: 0,
    sessionsSampledOut: 0,
    sessionsShed: 0,
    tupleSpaceExhausted: 0,
    sessionsEnded: ended,
    targetPackets: 0,
    targetPayloadBytes: 0,
    targetUnknownSession: 0,
    resetsToStrays: 0,
    payloadBytesAcked: 0,
  };
}
