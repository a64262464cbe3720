/**
 * What intercept's control server keeps per copier connection and counts over all of them, and
 * what the stats line and the metrics read of it.
 */
import type { Socket } from 'node:net';
import type { ControlConnection, ControlError, ControlErrorCode, HelloMessage } from '@tcpcopy/common';
import type { ConnectionId } from '../core/index.js';
import type { LegacyCopierConnection } from './legacy-copier.js';

/** What the stats line says a legacy copier runs: it names no software of its own. */
const LEGACY_SOFTWARE = 'upstream tcpcopy (legacy protocol)';

export interface ControlServerCounters {
  accepted: number;
  /** Connections from a source outside --allow, closed at once (not counted as accepted). */
  notAllowed: number;
  /** Connections that completed the hello exchange. */
  ready: number;
  /** Of those, copiers that proved the --auth-file key. */
  authenticated: number;
  closed: number;
  helloTimeouts: number;
  heartbeats: number;
  /** Connections that opened in upstream's legacy protocol. */
  legacy: number;
  /** Legacy records of a type other than CLIENT_ADD/CLIENT_DEL (ignored, as upstream does). */
  legacyUnknownTypes: number;
  /** Frames for a connection that was already gone (closed between batching and sending). */
  framesToClosed: number;
  /** Connections closed for a protocol fault, by error code. */
  rejected: Partial<Record<ControlErrorCode, number>>;
}

/** What the stats line shows per connection. */
export interface PeerInfo {
  readonly conn: ConnectionId;
  readonly peer: string;
  /** Null until the first bytes told. */
  readonly protocol: 'native' | 'legacy' | null;
  /** Null until the hello arrived (never for a legacy copier, which has no identity). */
  readonly instanceId: string | null;
  readonly software: string | null;
  readonly version: number | null;
  readonly pendingBytes: number;
}

export interface Peer {
  readonly conn: ConnectionId;
  readonly label: string;
  readonly socket: Socket;
  /** What arrived before the protocol could be told. */
  opening: Buffer | undefined;
  /** Set once the first bytes told the protocol. */
  connection: ControlConnection | undefined;
  legacy: LegacyCopierConnection | undefined;
  /** Null until the hello (native) or version record (legacy) arrived. */
  hello: HelloMessage | null;
  version: number | null;
  /** Its hello asked for payload records and ours granted them: its batches are payload records. */
  payloads: boolean;
  /** Set while the copier owes its proof of the key: nothing else may come first. */
  checkProof: ((proof: Buffer) => ControlError | undefined) | undefined;
  /** Once a fault closed it, messages still queued in the same chunk are ignored. */
  rejected: boolean;
  helloTimer: NodeJS.Timeout | undefined;
}

export function newControlServerCounters(): ControlServerCounters {
  return {
    accepted: 0,
    notAllowed: 0,
    ready: 0,
    authenticated: 0,
    closed: 0,
    helloTimeouts: 0,
    heartbeats: 0,
    legacy: 0,
    legacyUnknownTypes: 0,
    framesToClosed: 0,
    rejected: {},
  };
}

export function newPeer(conn: ConnectionId, label: string, socket: Socket): Peer {
  return {
    conn,
    label,
    socket,
    opening: undefined,
    connection: undefined,
    legacy: undefined,
    hello: null,
    version: null,
    payloads: false,
    checkProof: undefined,
    rejected: false,
    helloTimer: undefined,
  };
}

export function peerInfoOf(p: Peer): PeerInfo {
  return {
    conn: p.conn,
    peer: p.label,
    protocol: p.connection !== undefined ? 'native' : p.legacy !== undefined ? 'legacy' : null,
    instanceId: p.hello?.instanceId ?? null,
    software: p.hello?.software ?? (p.legacy !== undefined && p.version !== null ? LEGACY_SOFTWARE : null),
    version: p.version,
    pendingBytes: p.socket.writableLength,
  };
}
