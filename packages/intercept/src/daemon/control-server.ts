/**
 * The intercept's side of the control channel (docs/protocol.md): a TCP server on -b:-p, each
 * copier connection known by a numeric ConnectionId and speaking the protocol its first bytes
 * show: native (a ControlConnection; it must open with a copier's hello, answered with ours) or
 * upstream's legacy one (a LegacyCopierConnection; it opens with a version record), both at once
 * on one port. Who may stay (--allow, --auth-file) is control-admission.ts's decision; a copier
 * that must prove the key sends nothing else first. Route adds and deletes go to the handlers,
 * replies come back through `sendResponses` in the connection's protocol. Sockets never block:
 * `pendingBytes` lets the core's batcher shed records for a slow copier (upstream's blocking
 * sockets let one slow tcpcopy stall the whole intercept, docs/upstream.md §5). A misbehaving peer costs only
 * its own connection: the fault is logged and counted, the connection closed, the server goes on.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import {
  CONTROL_MAX_FRAME_BYTES,
  CONTROL_MAX_HELLO_FRAME_BYTES,
  ControlConnection,
  ControlError,
  ControlMessageType,
  ErrorCode,
  encodeFrame,
  LEGACY_PROTOCOL_VERSION,
  RuntimeError,
  openingProtocol,
  type ControlMessage,
  type Logger,
} from '@tcpcopy/common';
import type { ConnectionId, InterceptTransport } from '../core/index.js';
import { ControlAdmission, type ControlAdmissionOptions } from './control-admission.js';
import {
  newControlServerCounters,
  newPeer,
  peerInfoOf,
  type ControlServerCounters,
  type Peer,
  type PeerInfo,
} from './control-peers.js';
import { LegacyCopierConnection } from './legacy-copier.js';

/** A peer that has not said hello by then is closed: it holds a socket and says nothing. */
export const HELLO_TIMEOUT_MS = 10_000;
/** On close, connections get this long to drain what was written to them before they are cut. */
export const CLOSE_GRACE_MS = 500;
/** Upstream's listen backlog was 5; copiers open -C connections (2..11) each, all at start-up. */
const LISTEN_BACKLOG = 128;

export type { ControlServerCounters, PeerInfo } from './control-peers.js';

export interface ControlServerHandlers {
  /** A validated routeAdd batch from a connection past its hello. */
  onRouteAdd(conn: ConnectionId, routes: Buffer): void;
  onRouteDel(conn: ConnectionId, routes: Buffer): void;
  /** The connection is gone (whatever the reason); its routes should go too. */
  onClosed(conn: ConnectionId): void;
  /** A copier's connection is ready; `payloads`: it was granted payload records. */
  onAdmitted?(conn: ConnectionId, payloads: boolean): void;
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
  /** --auth-file's key and --allow's sources; without them every peer is served. */
  readonly admission?: ControlAdmissionOptions;
}

export class ControlServer implements InterceptTransport {
  readonly counters: ControlServerCounters = newControlServerCounters();
  private readonly server: Server;
  private readonly peers = new Map<ConnectionId, Peer>();
  private readonly log: Logger;
  private readonly helloTimeoutMs: number;
  private readonly admission: ControlAdmission;
  private nextConn: ConnectionId = 1;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly options: ControlServerOptions,
    private readonly handlers: ControlServerHandlers,
  ) {
    this.log = options.log;
    this.helloTimeoutMs = options.helloTimeoutMs ?? HELLO_TIMEOUT_MS;
    this.admission = new ControlAdmission(options.admission ?? {}, options);
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
    return [...this.peers.values()].map(peerInfoOf);
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
    const type = peer.payloads ? ControlMessageType.PayloadResponses : ControlMessageType.Responses;
    const frame = encodeFrame({ type, records });
    // false only means "above Node's own high-water mark": the frame is queued all the same.
    peer.connection?.sendFrame(frame);
    return frame.length;
  }

  pendingBytes(conn: ConnectionId): number {
    return this.peers.get(conn)?.socket.writableLength ?? 0;
  }

  wantsPayloads(conn: ConnectionId): boolean {
    return this.peers.get(conn)?.payloads ?? false;
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
    const label = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
    if (this.closing !== undefined || !this.admission.admits(socket.remoteAddress)) {
      if (this.closing === undefined) {
        this.counters.notAllowed++;
        this.log.warn({ peer: label }, 'control connection from a source outside --allow; closed');
      }
      socket.destroy();
      return;
    }
    const conn = this.nextConn++;
    this.counters.accepted++;
    const peer = newPeer(conn, label, socket);
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
    // A stream that ends inside its first 4 bytes is as truncated as one that ends inside a frame.
    socket.once('end', () => {
      if (peer.opening === undefined || peer.connection !== undefined || peer.legacy !== undefined) return;
      const why = `the stream ended after ${peer.opening.length} bytes, before its protocol could be told`;
      this.reject(peer, new ControlError(ErrorCode.CONTROL_MALFORMED, why), 'destroy');
    });
    peer.helloTimer = setTimeout(() => {
      this.counters.helloTimeouts++;
      const what = peer.checkProof === undefined ? 'no hello' : 'no proof of the key';
      // Counted as a timeout only, not as a refused proof once the socket closes.
      peer.checkProof = undefined;
      this.log.warn({ conn, peer: label }, `${what} within ${this.helloTimeoutMs} ms; closing`);
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
        onError: (err) => this.reject(peer, err, 'none'),
      },
      CONTROL_MAX_HELLO_FRAME_BYTES,
    );
    peer.connection.pushOpening(opening);
  }

  /** Upstream's tcpcopy: its version record stands for a hello (docs/protocol.md §6). */
  private startLegacy(peer: Peer, opening: Buffer): void {
    this.counters.legacy++;
    const refusal = this.admission.legacyRefusal(peer.socket.remoteAddress);
    if (refusal !== undefined) {
      this.reject(peer, refusal, 'destroy');
      return;
    }
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
      onError: (err) => this.reject(peer, err, 'destroy'),
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
    if (peer.checkProof !== undefined) {
      this.onProof(peer, peer.checkProof, msg);
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
      case ControlMessageType.PayloadResponses:
      case ControlMessageType.Auth:
        this.reject(
          peer,
          new ControlError(ErrorCode.CONTROL_UNEXPECTED, `unexpected message type ${msg.type} after hello`),
          'destroy',
        );
        return;
    }
  }

  /** The first message must be a copier's hello that control-admission.ts accepts. */
  private onFirstMessage(peer: Peer, msg: ControlMessage): void {
    const outcome = this.admission.hello(msg);
    if (outcome.answer !== undefined) peer.connection?.send(outcome.answer);
    if (!outcome.accepted) {
      // Our hello tells the copier why: it must reach it before the connection closes.
      this.reject(peer, outcome.error, outcome.answer === undefined ? 'destroy' : 'end');
      return;
    }
    peer.hello = outcome.hello;
    peer.version = outcome.version;
    peer.payloads = outcome.payloads;
    peer.checkProof = outcome.checkProof;
    // The hello timer runs on while the proof is owed.
    if (peer.checkProof === undefined) this.admit(peer);
  }

  private onProof(peer: Peer, checkProof: (proof: Buffer) => ControlError | undefined, msg: ControlMessage): void {
    peer.checkProof = undefined;
    const refusal =
      msg.type === ControlMessageType.Auth
        ? checkProof(msg.proof)
        : new ControlError(ErrorCode.CONTROL_AUTH, `message type ${msg.type} before the copier proved the key`);
    if (refusal !== undefined) {
      this.reject(peer, refusal, 'destroy');
      return;
    }
    this.counters.authenticated++;
    this.admit(peer);
  }

  /** Routes may flow: the hello was answered, and the key proved when one is set. */
  private admit(peer: Peer): void {
    clearTimeout(peer.helloTimer);
    peer.connection?.setMaxFrameBytes(CONTROL_MAX_FRAME_BYTES);
    this.counters.ready++;
    const hello = peer.hello;
    this.log.info(
      {
        conn: peer.conn,
        peer: peer.label,
        instanceId: hello?.instanceId,
        software: hello?.software,
        version: peer.version,
        authenticated: this.admission.authenticates,
        payloads: peer.payloads,
      },
      'copier connected',
    );
    this.handlers.onAdmitted?.(peer.conn, peer.payloads);
  }

  /**
   * Counts and logs a fault. `destroy` closes the connection now, `end` once what was written
   * left (cut after CLOSE_GRACE_MS all the same); `none` leaves that to ControlConnection (a
   * decode error) or to the peer, which closed it.
   */
  private reject(peer: Peer, err: ControlError, close: 'destroy' | 'end' | 'none'): void {
    if (peer.rejected) return;
    peer.rejected = true;
    peer.checkProof = undefined;
    clearTimeout(peer.helloTimer);
    this.counters.rejected[err.code] = (this.counters.rejected[err.code] ?? 0) + 1;
    this.log.warn({ conn: peer.conn, peer: peer.label, err }, `control connection refused: ${err.message}`);
    if (close === 'destroy') peer.socket.destroy();
    if (close === 'end') {
      peer.socket.end();
      setTimeout(() => peer.socket.destroy(), CLOSE_GRACE_MS).unref();
    }
  }

  private onClose(peer: Peer): void {
    if (peer.checkProof !== undefined) {
      const why = 'copier closed the connection instead of proving the key: its --auth-file differs from ours';
      this.reject(peer, new ControlError(ErrorCode.CONTROL_AUTH, why), 'none');
    }
    clearTimeout(peer.helloTimer);
    this.peers.delete(peer.conn);
    this.counters.closed++;
    this.handlers.onClosed(peer.conn);
    if (peer.version !== null) this.log.info({ conn: peer.conn, peer: peer.label }, 'copier disconnected');
  }
}
