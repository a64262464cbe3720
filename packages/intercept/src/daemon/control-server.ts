/**
 * The intercept's side of the control channel (docs/protocol.md): a TCP server on -b:-p, each
 * copier connection known by a numeric ConnectionId and speaking the protocol its first bytes
 * show: native (a ControlConnection; it must open with a copier's hello, answered with ours) or
 * upstream's legacy one (a LegacyCopierConnection; it opens with a version record), both at once
 * on one port. Route adds and deletes go to the handlers, replies come back through
 * `sendResponses` in the connection's protocol. Sockets never block: `pendingBytes`
 * lets the core's batcher shed records for a slow copier (upstream's blocking sockets let one
 * slow tcpcopy stall the whole intercept, docs/upstream.md §5). A misbehaving peer costs only
 * its own connection: the fault is logged and counted, the connection closed, the server goes on.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import {
  CONTROL_MAX_FRAME_BYTES,
  CONTROL_MAX_HELLO_FRAME_BYTES,
  CONTROL_PROTOCOL_VERSION,
  ControlConnection,
  ControlError,
  ControlMessageType,
  ErrorCode,
  encodeFrame,
  LEGACY_PROTOCOL_VERSION,
  RuntimeError,
  negotiateControlVersion,
  openingProtocol,
  type ControlErrorCode,
  type ControlMessage,
  type HelloMessage,
  type Logger,
} from '@tcpcopy/common';
import type { ConnectionId, InterceptTransport } from '../core/index.js';
import { LegacyCopierConnection } from './legacy-copier.js';

/** A peer that has not said hello by then is closed: it holds a socket and says nothing. */
export const HELLO_TIMEOUT_MS = 10_000;
/** On close, connections get this long to drain what was written to them before they are cut. */
export const CLOSE_GRACE_MS = 500;
/** What the stats line says a legacy copier runs: it names no software of its own. */
const LEGACY_SOFTWARE = 'upstream tcpcopy (legacy protocol)';
/** Upstream's listen backlog was 5; copiers open -C connections (2..11) each, all at start-up. */
const LISTEN_BACKLOG = 128;

export interface ControlServerHandlers {
  /** A validated routeAdd batch from a connection past its hello. */
  onRouteAdd(conn: ConnectionId, routes: Buffer): void;
  onRouteDel(conn: ConnectionId, routes: Buffer): void;
  /** The connection is gone (whatever the reason); its routes should go too. */
  onClosed(conn: ConnectionId): void;
}

export interface ControlServerOptions {
  /** Listen address as a dotted quad ('0.0.0.0' = all). */
  readonly host: string;
  /** Listen port; 0 picks a free one (tests). */
  readonly port: number;
  /** Our hello's instanceId and software, for the copier's logs. */
  readonly instanceId: string;
  readonly software: string;
  readonly log: Logger;
  readonly helloTimeoutMs?: number;
}

export interface ControlServerCounters {
  accepted: number;
  /** Connections that completed the hello exchange. */
  ready: number;
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

interface Peer {
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
  /** Once a fault closed it, messages still queued in the same chunk are ignored. */
  rejected: boolean;
  helloTimer: NodeJS.Timeout | undefined;
}

export class ControlServer implements InterceptTransport {
  readonly counters: ControlServerCounters = {
    accepted: 0,
    ready: 0,
    closed: 0,
    helloTimeouts: 0,
    heartbeats: 0,
    legacy: 0,
    legacyUnknownTypes: 0,
    framesToClosed: 0,
    rejected: {},
  };
  private readonly server: Server;
  private readonly peers = new Map<ConnectionId, Peer>();
  private readonly log: Logger;
  private readonly helloTimeoutMs: number;
  private nextConn: ConnectionId = 1;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly options: ControlServerOptions,
    private readonly handlers: ControlServerHandlers,
  ) {
    this.log = options.log;
    this.helloTimeoutMs = options.helloTimeoutMs ?? HELLO_TIMEOUT_MS;
    this.server = createServer({ noDelay: true }, (socket) => this.accept(socket));
  }

  /** Starts listening; rejects with a RuntimeError (LISTEN) when the address cannot be bound. */
  listen(): Promise<AddressInfo> {
    const { host, port } = this.options;
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        reject(
          new RuntimeError(
            ErrorCode.LISTEN,
            `cannot listen on ${host}:${port} for tcpcopy connections: ${err.code ?? err.message}`,
            { cause: err },
          ),
        );
      };
      this.server.once('error', onError);
      this.server.listen({ host, port, backlog: LISTEN_BACKLOG }, () => {
        this.server.off('error', onError);
        this.server.on('error', (err) => this.log.error({ err }, 'control server error'));
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  /** Connections currently open, hello done or not. */
  get connectionCount(): number {
    return this.peers.size;
  }

  peerInfo(): PeerInfo[] {
    return [...this.peers.values()].map((p) => ({
      conn: p.conn,
      peer: p.label,
      protocol: p.connection !== undefined ? 'native' : p.legacy !== undefined ? 'legacy' : null,
      instanceId: p.hello?.instanceId ?? null,
      software: p.hello?.software ?? (p.legacy !== undefined && p.version !== null ? LEGACY_SOFTWARE : null),
      version: p.version,
      pendingBytes: p.socket.writableLength,
    }));
  }

  /** InterceptTransport: `records` as a responses frame (or legacy frames) for `conn`. Never
   *  blocks; Node queues what the kernel does not take yet, and the batcher stops batching for
   *  `conn` above its high-water mark. The encoders copy the records, so the batch is free again
   *  on return. */
  sendResponses(conn: ConnectionId, records: Buffer): number {
    const peer = this.peers.get(conn);
    if (peer === undefined || peer.rejected || peer.socket.destroyed) {
      this.counters.framesToClosed++;
      return 0;
    }
    if (peer.legacy !== undefined) return peer.legacy.sendResponses(records);
    const frame = encodeFrame({ type: ControlMessageType.Responses, records });
    // false only means "above Node's own high-water mark": the frame is queued all the same.
    peer.connection?.sendFrame(frame);
    return frame.length;
  }

  pendingBytes(conn: ConnectionId): number {
    return this.peers.get(conn)?.socket.writableLength ?? 0;
  }

  /**
   * Stops accepting, half-closes every connection once its queued frames are written, and
   * resolves when all are closed; stragglers are cut after `graceMs`. Idempotent.
   */
  close(graceMs = CLOSE_GRACE_MS): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      const sockets = [...this.peers.values()].map((p) => p.socket);
      const cut = setTimeout(() => {
        for (const s of sockets) s.destroy();
      }, graceMs);
      this.server.close(() => {
        clearTimeout(cut);
        resolve();
      });
      for (const s of sockets) s.end();
    });
    return this.closing;
  }

  private accept(socket: Socket): void {
    if (this.closing !== undefined) {
      socket.destroy();
      return;
    }
    const conn = this.nextConn++;
    const label = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
    this.counters.accepted++;
    const peer: Peer = {
      conn,
      label,
      socket,
      opening: undefined,
      connection: undefined,
      legacy: undefined,
      hello: null,
      version: null,
      rejected: false,
      helloTimer: undefined,
    };
    this.peers.set(conn, peer);
    socket.setNoDelay(true);
    const sniff = (chunk: Buffer): void => {
      const opening = peer.opening === undefined ? chunk : Buffer.concat([peer.opening, chunk]);
      const protocol = openingProtocol(opening);
      peer.opening = protocol === undefined ? opening : undefined;
      if (protocol === undefined) return;
      socket.off('data', sniff);
      if (protocol === 'native') this.startNative(peer, opening);
      else this.startLegacy(peer, opening);
    };
    socket.on('data', sniff);
    peer.helloTimer = setTimeout(() => {
      this.counters.helloTimeouts++;
      this.log.warn({ conn, peer: label }, `no hello within ${this.helloTimeoutMs} ms; closing`);
      socket.destroy();
    }, this.helloTimeoutMs);
    peer.helloTimer.unref();
    // Resets and the like: 'close' follows, which is where the connection is cleaned up.
    socket.on('error', (err) => this.log.debug({ conn, peer: label, err }, 'control connection error'));
    socket.once('close', () => this.onClose(peer));
    this.log.debug({ conn, peer: label }, 'control connection accepted');
  }

  private startNative(peer: Peer, opening: Buffer): void {
    peer.connection = new ControlConnection(
      peer.socket,
      {
        onMessage: (msg) => this.onMessage(peer, msg),
        onError: (err) => this.reject(peer, err, false),
      },
      CONTROL_MAX_HELLO_FRAME_BYTES,
    );
    peer.connection.pushOpening(opening);
  }

  /** Upstream's tcpcopy: its version record stands for a hello (docs/protocol.md §6). */
  private startLegacy(peer: Peer, opening: Buffer): void {
    this.counters.legacy++;
    const legacy = new LegacyCopierConnection(peer.socket, {
      onVersion: (version) => {
        clearTimeout(peer.helloTimer);
        peer.version = version;
        this.counters.ready++;
        const fields = { conn: peer.conn, peer: peer.label, protocol: 'legacy', version };
        if (version === LEGACY_PROTOCOL_VERSION) this.log.info(fields, 'copier connected (legacy protocol)');
        // Upstream's intercept only warns too: the layouts have not changed since version 6.
        else
          this.log.warn(
            fields,
            `copier connected (legacy protocol version ${version}; ${LEGACY_PROTOCOL_VERSION} expected)`,
          );
      },
      onRoutes: (adds, dels) => {
        if (peer.rejected) return;
        if (adds.length > 0) this.handlers.onRouteAdd(peer.conn, adds);
        if (dels.length > 0) this.handlers.onRouteDel(peer.conn, dels);
      },
      onUnknownType: (type) => {
        this.counters.legacyUnknownTypes++;
        this.log.debug({ conn: peer.conn, peer: peer.label, type }, 'legacy record of unknown type ignored');
      },
      onError: (err) => this.reject(peer, err, true),
    });
    peer.legacy = legacy;
    peer.socket.on('data', (chunk: Buffer) => legacy.push(chunk));
    legacy.push(opening);
  }

  private onMessage(peer: Peer, msg: ControlMessage): void {
    if (peer.rejected) return;
    if (peer.hello === null) {
      this.onFirstMessage(peer, msg);
      return;
    }
    switch (msg.type) {
      case ControlMessageType.RouteAdd:
        this.handlers.onRouteAdd(peer.conn, msg.routes);
        return;
      case ControlMessageType.RouteDel:
        this.handlers.onRouteDel(peer.conn, msg.routes);
        return;
      case ControlMessageType.Heartbeat:
        // Answered, so a copier can tell a live intercept from a silent one.
        this.counters.heartbeats++;
        peer.connection?.send({ type: ControlMessageType.Heartbeat, timeMs: Date.now() });
        return;
      case ControlMessageType.Stats:
        this.log.debug({ conn: peer.conn, peer: peer.label, stats: msg.values }, 'copier stats');
        return;
      case ControlMessageType.Hello:
      case ControlMessageType.Responses:
        this.reject(
          peer,
          new ControlError(ErrorCode.CONTROL_UNEXPECTED, `unexpected message type ${msg.type} after hello`),
          true,
        );
        return;
    }
  }

  /** The first message must be a copier's hello with a version we speak (docs/protocol.md §2). */
  private onFirstMessage(peer: Peer, msg: ControlMessage): void {
    clearTimeout(peer.helloTimer);
    if (msg.type !== ControlMessageType.Hello) {
      this.reject(peer, new ControlError(ErrorCode.CONTROL_UNEXPECTED, `message type ${msg.type} before hello`), true);
      return;
    }
    if (msg.role !== 'copier') {
      this.reject(
        peer,
        new ControlError(ErrorCode.CONTROL_UNEXPECTED, `hello from a peer with role ${msg.role}, expected copier`),
        true,
      );
      return;
    }
    const version = negotiateControlVersion(msg.version);
    if (version === null) {
      this.reject(
        peer,
        new ControlError(
          ErrorCode.CONTROL_VERSION,
          `copier speaks control protocol version ${msg.version} at most, below what this intercept accepts`,
        ),
        true,
      );
      return;
    }
    peer.hello = msg;
    peer.version = version;
    peer.connection?.setMaxFrameBytes(CONTROL_MAX_FRAME_BYTES);
    this.counters.ready++;
    peer.connection?.send({
      type: ControlMessageType.Hello,
      version: CONTROL_PROTOCOL_VERSION,
      role: 'intercept',
      instanceId: this.options.instanceId,
      software: this.options.software,
    });
    this.log.info(
      { conn: peer.conn, peer: peer.label, instanceId: msg.instanceId, software: msg.software, version },
      'copier connected',
    );
  }

  /** Counts and logs a protocol fault, then closes the connection (ControlConnection already does
   *  so for decode errors: `destroy` is false then). */
  private reject(peer: Peer, err: ControlError, destroy: boolean): void {
    if (peer.rejected) return;
    peer.rejected = true;
    clearTimeout(peer.helloTimer);
    this.counters.rejected[err.code] = (this.counters.rejected[err.code] ?? 0) + 1;
    this.log.warn({ conn: peer.conn, peer: peer.label, err }, `closing control connection: ${err.message}`);
    if (destroy) peer.socket.destroy();
  }

  private onClose(peer: Peer): void {
    clearTimeout(peer.helloTimer);
    this.peers.delete(peer.conn);
    this.counters.closed++;
    this.handlers.onClosed(peer.conn);
    if (peer.version !== null) this.log.info({ conn: peer.conn, peer: peer.label }, 'copier disconnected');
  }
}
