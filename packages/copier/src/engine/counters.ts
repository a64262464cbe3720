/**
 * The copier engine's counters: one plain object that tests, the stats log line and the metrics
 * endpoint all read. Session outcomes are counted once each, so
 * started = established + failed(before establishing) + live, and so on.
 */
import { addrPortToString } from '@tcpcopy/common/packet';

export const SessionEndReason = {
  /** Both sides closed with FIN, or the test server's work was done and the client went away. */
  Finished: 'finished',
  ClientReset: 'client_reset',
  TargetReset: 'target_reset',
  /** No SYN-ACK within the establishment timeout: the test server's replies do not reach intercept. */
  EstablishTimeout: 'establish_timeout',
  IdleTimeout: 'idle_timeout',
  /** A client segment was never captured and the stream could not go on. */
  CaptureGap: 'capture_gap',
  /** The same, while the capture reported kernel drops (its ring overflowed: raise -B). */
  CaptureDropped: 'capture_dropped',
  RetransmitLimit: 'retransmit_limit',
  BufferLimit: 'buffer_limit',
  /** The client sent nothing after its SYN (spoofed sources, or a handshake never completed). */
  ClientSilent: 'client_silent',
  Shutdown: 'shutdown',
} as const;
export type SessionEndReason = (typeof SessionEndReason)[keyof typeof SessionEndReason];

/**
 * Why captured client payload did not reach the test server (docs/metrics.md). A session's end
 * reason covers the bytes it still held (unsent or unacknowledged) when it ended, and the bytes
 * captured for it afterwards; the others are refused before any session takes them.
 */
export const PayloadDropReason = {
  ...SessionEndReason,
  /** Captured shorter than its IP total length (snapshot length): not copied. */
  Truncated: 'truncated',
  SampledOut: 'sampled_out',
  /** New sessions refused because the -m cap was reached. */
  Shed: 'shed',
  /** No free fake tuple for a replica. */
  TupleSpaceExhausted: 'tuple_space_exhausted',
  /** No session to carry it: data of a connection without a SYN under -O, or a RST with data. */
  Orphan: 'orphan',
} as const;
export type PayloadDropReason = (typeof PayloadDropReason)[keyof typeof PayloadDropReason];

/**
 * One test server's share (every -x entry copying to the same ip:port): its sessions, and the
 * fate of each client payload byte captured for it. Per copy (-n), every captured byte ends in
 * exactly one bucket, so at every instant
 *   payloadCaptured * copies = payloadAcked + payloadDuplicate + payloadPending + sum(payloadDropped)
 * (test/unit/metrics/accounting.test.ts checks this over random worlds).
 */
export interface TargetCounters {
  /** The test server, `ip:port`. */
  readonly target: string;
  /** Captured client packets matched to it. */
  packets: number;
  sessionsStarted: number;
  sessionsEstablished: number;
  sessionsEnded: Record<SessionEndReason, number>;
  /** Client payload bytes captured (client retransmissions included), once per packet. */
  payloadCaptured: number;
  /** Per copy: bytes the test server acknowledged. */
  payloadAcked: number;
  /** Per copy: bytes the session already had (client retransmissions, overlaps): not new data. */
  payloadDuplicate: number;
  /** Per copy, now: bytes queued, in flight or held out of order in live sessions. */
  payloadPending: number;
  /** Per copy: bytes that will never reach the test server, by reason. */
  payloadDropped: Record<PayloadDropReason, number>;
  /**
   * How far the copy trails production, in ms: the age of the oldest captured client segment
   * the test server has not acknowledged yet (0 when none waits). A gauge, set by
   * Engine.refreshCopyLag when the stats are read.
   */
  copyLagMs: number;
}

function zeros<K extends string>(keys: readonly K[]): Record<K, number> {
  const table = {} as Record<K, number>;
  for (const key of keys) table[key] = 0;
  return table;
}

export function newTargetCounters(target: string): TargetCounters {
  return {
    target,
    packets: 0,
    sessionsStarted: 0,
    sessionsEstablished: 0,
    sessionsEnded: zeros(Object.values(SessionEndReason)),
    payloadCaptured: 0,
    payloadAcked: 0,
    payloadDuplicate: 0,
    payloadPending: 0,
    payloadDropped: zeros(Object.values(PayloadDropReason)),
    copyLagMs: 0,
  };
}

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
  /** SYNs held back as compact records while too many flows were half-open (a SYN flood). */
  synsHeld: number;
  /**
   * Client FINs released after the test server's silence (FIN_RELEASE_QUIET_MS) while it had
   * sent less response than production had: a shorter answer, or one that is cut.
   */
  finsReleasedOnQuiet: number;
  /** Held SYNs that no handshake ACK followed in time, or pushed out by newer ones. */
  synsExpired: number;
  sessionsEnded: Record<SessionEndReason, number>;
  targetPackets: number;
  targetPayloadBytes: number;
  targetUnknownSession: number;
  resetsToStrays: number;
  /** Client payload bytes the test server acknowledged (sum of the targets' payloadAcked). */
  payloadBytesAcked: number;
}

export function newCounters(): EngineCounters {
  const ended = zeros(Object.values(SessionEndReason));
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
    synsHeld: 0,
    finsReleasedOnQuiet: 0,
    synsExpired: 0,
    sessionsEnded: ended,
    targetPackets: 0,
    targetPayloadBytes: 0,
    targetUnknownSession: 0,
    resetsToStrays: 0,
    payloadBytesAcked: 0,
  };
}

/**
 * Counters per -x entry, shared by the entries that copy to the same test server: `ofEntry` by
 * -x index, `distinct` one per test server in -x order.
 */
export function targetCountersOf(targets: readonly { targetIp: number; targetPort: number }[]): {
  ofEntry: TargetCounters[];
  distinct: TargetCounters[];
} {
  const byName = new Map<string, TargetCounters>();
  const ofEntry = targets.map((t) => {
    const name = addrPortToString(t.targetIp, t.targetPort);
    let c = byName.get(name);
    if (c === undefined) byName.set(name, (c = newTargetCounters(name)));
    return c;
  });
  return { ofEntry, distinct: [...byName.values()] };
}
