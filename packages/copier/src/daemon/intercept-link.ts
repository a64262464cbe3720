/**
 * One control connection to one intercept, reconnecting until closed, in the protocol the
 * intercept speaks (docs/protocol.md): native (our hello, answered) or upstream's legacy one
 * (a version record, then 14-byte route records; replies in 64-byte records). With `auto` a
 * connection opens native; an intercept that accepts it and then closes on our hello, or does
 * not answer it within AUTO_HELLO_WAIT_MS, is spoken to in the legacy protocol from then on.
 *
 * A native connection is connected once the hello came back. A legacy intercept says nothing
 * until it has a reply to route, so a legacy connection carries routes as soon as it is open
 * but is reported connected only once the first reply came back over it.
 *
 * With --auth-file, both sides prove the key within the hello exchange (CopierAuth) before any
 * route flows, and a peer that does not answer our hello is refused, never taken for a C
 * intercept: the legacy protocol cannot authenticate.
 *
 * With `wantPayloads` our hello asks for the test server's reply payloads (docs/protocol.md
 * §2.2); an intercept that grants them sends payload records instead of header records. One that
 * does not (an older build, or upstream's, whose protocol cannot carry them) is warned about.
 */
import { connect, type Socket } from 'node:net';
import {
  CONTROL_FEATURE_PAYLOAD,
  CONTROL_PROTOCOL_VERSION,
  ControlConnection,
  ControlError,
  ControlMessageType,
  CopierAuth,
  ErrorCode,
  LegacyReplyDecoder,
  LegacyRouteType,
  LegacyRouteWriter,
  RouteBatchBuilder,
  encodeFrame,
  ipv4ToString,
  legacyVersionRecord,
  type ControlMessage,
} from '@tcpcopy/common';
import type { ControlProtocolChoice } from '../config/flags.js';
import type { Tuple } from '../engine/index.js';
import type { InterceptLinks, PerInterceptCounters } from './intercept-links.js';

type Protocol = 'native' | 'legacy';

export interface InterceptAddress {
  readonly ip: number;
  readonly port: number;
}

const RECONNECT_MIN_MS = 250;
const RECONNECT_MAX_MS = 12_000; // upstream's -L retry interval
export const HEARTBEAT_MS = 5_000;
/** How long an intercept has to answer our hello before the connection is given up. */
const HELLO_WAIT_MS = 2_000;
/** With `auto`: how long a peer has to answer our hello before it is taken for a C intercept. */
const AUTO_HELLO_WAIT_MS = 1_000;
/** A legacy intercept that routed no reply this long after our first route is warned about. */
const LEGACY_SILENCE_WARN_MS = 10_000;

/** What the links of one intercept (one -s entry) share: the protocol it was found to speak. */
export interface InterceptGroup {
  readonly address: InterceptAddress;
  readonly stats: PerInterceptCounters;
  /** With `auto`, set once a connection found out; then every connection speaks it at once. */
  found: Protocol | undefined;
}

export class Link {
  /** Carries routes: the hello was answered, or a legacy connection is open. */
  ready = false;
  private protocol: Protocol = 'native';
  /** Native: the hello came back; legacy: a reply did. */
  private proven = false;
  private connection: ControlConnection | undefined;
  private socket: Socket | undefined;
  /** This connection's side of the key proof (a fresh nonce per connection). */
  private auth: CopierAuth;
  /** This connection was refused already: its close says nothing more. */
  private refused = false;
  private readonly adds = new RouteBatchBuilder();
  private readonly dels = new RouteBatchBuilder();
  private readonly legacyRoutes = new LegacyRouteWriter();
  private backoff = RECONNECT_MIN_MS;
  private retryTimer: NodeJS.Timeout | undefined;
  private helloTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private everConnected = false;
  /** Legacy, not yet proven: when the first route went out, and whether that was warned about. */
  private firstRouteAt: number | undefined;
  private silenceWarned = false;

  constructor(
    private readonly owner: InterceptLinks,
    readonly group: InterceptGroup,
    private readonly choice: ControlProtocolChoice,
  ) {
    this.auth = new CopierAuth(owner.authKey);
  }

  get label(): string {
    return this.group.stats.intercept;
  }

  open(): void {
    if (this.closed) return;
    this.protocol = this.choice === 'auto' ? (this.group.found ?? 'native') : this.choice;
    this.refused = false;
    this.auth = new CopierAuth(this.owner.authKey);
    const socket = connect({ host: ipv4ToString(this.group.address.ip), port: this.group.address.port });
    this.socket = socket;
    socket.setKeepAlive(true, HEARTBEAT_MS);
    socket.setNoDelay(true);
    let opened = false;
    if (this.protocol === 'native') {
      this.connection = new ControlConnection(socket, {
        onMessage: (msg) => this.onMessage(msg),
        onError: (err) => this.protocolError(err),
      });
    } else {
      const decoder = new LegacyReplyDecoder({
        onRecords: (records) => this.onRecords(records),
        onError: (err) => {
          this.protocolError(err);
          socket.destroy();
        },
      });
      socket.on('data', (chunk: Buffer) => decoder.push(chunk));
    }
    socket.once('connect', () => {
      opened = true;
      if (this.protocol === 'legacy') {
        socket.write(legacyVersionRecord());
        this.usable();
        return;
      }
      this.connection?.send({
        type: ControlMessageType.Hello,
        version: CONTROL_PROTOCOL_VERSION,
        role: 'copier',
        instanceId: this.owner.instanceId,
        software: this.owner.software,
        auth: this.auth.helloAuth,
        ...(this.owner.wantPayloads ? { features: [CONTROL_FEATURE_PAYLOAD] } : {}),
      });
      const wait = this.mayFallBack ? AUTO_HELLO_WAIT_MS : HELLO_WAIT_MS;
      this.helloTimer = setTimeout(() => this.noHello(socket, wait), wait);
    });
    socket.on('error', (err) => this.owner.log.debug({ intercept: this.label, err }, 'control connection error'));
    socket.once('close', () => this.onClose(opened));
  }

  /** `auto` without a key: a peer that does not speak our protocol is taken for a C intercept. */
  private get mayFallBack(): boolean {
    return this.choice === 'auto' && this.owner.authKey === undefined;
  }

  private protocolError(err: ControlError): void {
    this.owner.counters.protocolErrors++;
    this.owner.log.warn({ intercept: this.label, err }, 'control protocol error; reconnecting');
  }

  private onMessage(msg: ControlMessage): void {
    if (msg.type === ControlMessageType.Hello && !this.ready) {
      clearTimeout(this.helloTimer);
      const proof = this.auth.onInterceptHello(msg);
      if (proof instanceof ControlError) {
        this.refuse(proof.message);
        return;
      }
      // Sent before any route: the intercept takes nothing else until it checked the proof.
      if (proof !== undefined) this.connection?.send({ type: ControlMessageType.Auth, proof });
      this.group.found = 'native';
      if (this.owner.wantPayloads && msg.features?.includes(CONTROL_FEATURE_PAYLOAD) !== true) {
        this.payloadsRefused('it does not offer them (an older intercept)');
      }
      this.usable();
      this.connected(msg.software);
      return;
    }
    if (msg.type === ControlMessageType.Responses) this.onRecords(msg.records);
    if (msg.type === ControlMessageType.PayloadResponses) this.onRecords(msg.records, this.owner.onPayloadRecords);
  }

  /** A batch of header records, or of payload records when `deliver` is onPayloadRecords. */
  private onRecords(records: Buffer, deliver: (records: Buffer) => number = this.owner.onRecords): void {
    if (!this.proven) this.connected(null);
    this.owner.counters.responseFrames++;
    this.group.stats.responseFrames++;
    this.group.stats.records += deliver(records);
  }

  /** Asked for payloads and got none: replies still come, as headers only, so copying goes on. */
  private payloadsRefused(why: string): void {
    this.owner.log.warn(
      { intercept: this.label, protocol: this.protocol },
      `intercept sends no reply payloads: ${why}; its replies come as headers only`,
    );
    this.owner.onPayloadsRefused(why);
  }

  /** The connection carries routes from now on. */
  private usable(): void {
    this.ready = true;
    this.backoff = RECONNECT_MIN_MS;
    this.group.stats.protocol = this.protocol;
    if (this.protocol === 'legacy') {
      this.owner.log.info(
        { intercept: this.label, protocol: 'legacy' },
        "speaking upstream's legacy protocol to intercept: connected once its first reply comes back",
      );
      if (this.owner.wantPayloads) this.payloadsRefused("upstream's legacy protocol cannot carry them");
    }
    this.owner.replayRoutes(this);
    this.owner.readyChanged();
  }

  /** The intercept proved it speaks the protocol: its hello, or a legacy reply, came back. */
  private connected(software: string | null): void {
    this.proven = true;
    this.owner.counters.connects++;
    this.group.stats.connects++;
    if (this.everConnected) this.owner.counters.reconnects++;
    this.everConnected = true;
    const fields = { intercept: this.label, protocol: this.protocol, ...(software === null ? {} : { software }) };
    this.owner.log.info(fields, 'connected to intercept');
  }

  /**
   * TCPCOPY_ERR_CONTROL_AUTH, `why` said of the intercept: logged, counted, kept for the start-up
   * error; the connection is retried with back-off.
   */
  private refuse(why: string): void {
    this.refused = true;
    const err = new ControlError(ErrorCode.CONTROL_AUTH, `intercept ${this.label} ${why}`);
    this.owner.counters.authFailures++;
    this.owner.authFailure = err;
    this.owner.log.warn({ intercept: this.label, err }, `${err.message}; retrying`);
    this.socket?.destroy();
  }

  private noHello(socket: Socket, waitedMs: number): void {
    if (this.owner.authKey !== undefined) {
      this.refuse(
        `did not answer our hello within ${waitedMs} ms: with --auth-file only an intercept that authenticates is used (upstream's C intercept cannot)`,
      );
      return;
    }
    this.owner.counters.protocolErrors++;
    if (this.choice === 'auto') {
      this.fallBackToLegacy(`it did not answer our hello within ${waitedMs} ms`);
    } else {
      this.owner.log.warn(
        { intercept: this.label, waitedMs },
        'no hello from intercept: the peer does not speak our protocol (--protocol legacy or auto pairs ' +
          "with upstream's C intercept) or is not an intercept; retrying",
      );
    }
    socket.destroy();
  }

  private fallBackToLegacy(why: string): void {
    if (this.group.found === undefined) {
      this.owner.log.warn(
        { intercept: this.label },
        `intercept does not speak our protocol (${why}): taking it for upstream's C intercept (legacy protocol)`,
      );
    }
    this.group.found = 'legacy';
    this.backoff = 0;
  }

  private onClose(opened: boolean): void {
    clearTimeout(this.helloTimer);
    const wasReady = this.ready;
    const wasProven = this.proven;
    this.ready = false;
    this.proven = false;
    this.connection = undefined;
    this.firstRouteAt = undefined;
    this.adds.clear();
    this.dels.clear();
    // Our intercept answers at once; one that accepts and closes on our hello speaks another protocol.
    const closedOnHello = opened && !wasReady && !this.refused && this.protocol === 'native';
    if (closedOnHello && this.owner.authKey !== undefined) {
      this.refuse('closed the connection on our hello: it does not authenticate, or its --allow leaves this host out');
    } else if (closedOnHello && this.choice === 'auto' && this.group.found !== 'native') {
      this.fallBackToLegacy('it closed the connection on our hello');
    }
    if (wasReady) {
      if (wasProven) {
        this.owner.counters.disconnects++;
        this.group.stats.disconnects++;
      }
      if (!this.closed) this.owner.log.warn({ intercept: this.label }, 'lost the connection to intercept; retrying');
      this.owner.readyChanged();
    }
    if (this.closed) return;
    this.retryTimer = setTimeout(() => this.open(), this.backoff);
    this.backoff = Math.min(Math.max(this.backoff * 2, RECONNECT_MIN_MS), RECONNECT_MAX_MS);
  }

  queueAdd(t: Tuple): void {
    this.adds.add(t.srcIp, t.srcPort, t.dstIp, t.dstPort);
    if (this.adds.full) this.flush();
  }

  queueDel(t: Tuple): void {
    this.dels.add(t.srcIp, t.srcPort, t.dstIp, t.dstPort);
    if (this.dels.full) this.flush();
  }

  flush(): void {
    if (this.ready && (this.adds.count > 0 || this.dels.count > 0)) {
      if (this.protocol === 'legacy') this.flushLegacy();
      else this.flushNative();
    }
    this.adds.clear();
    this.dels.clear();
  }

  private flushNative(): void {
    const c = this.connection;
    if (c === undefined) return;
    if (this.adds.count > 0) c.sendFrame(encodeFrame({ type: ControlMessageType.RouteAdd, routes: this.adds.view() }));
    if (this.dels.count > 0) c.sendFrame(encodeFrame({ type: ControlMessageType.RouteDel, routes: this.dels.view() }));
  }

  /** CLIENT_DEL is upstream's too: its intercept ignores it, ours deletes the route. */
  private flushLegacy(): void {
    const w = this.legacyRoutes;
    w.clear();
    w.addBatch(LegacyRouteType.ClientAdd, this.adds.view());
    w.addBatch(LegacyRouteType.ClientDel, this.dels.view());
    // The writer's buffer is reused; the socket may keep what it cannot write yet.
    this.socket?.write(Buffer.from(w.view()));
    if (this.adds.count > 0) this.firstRouteAt ??= Date.now();
  }

  /** Every HEARTBEAT_MS: a native heartbeat, or a word on a legacy intercept that stays silent. */
  tick(now: number): void {
    if (!this.ready) return;
    if (this.protocol === 'native') {
      this.connection?.send({ type: ControlMessageType.Heartbeat, timeMs: now });
      return;
    }
    if (this.proven || this.silenceWarned || this.firstRouteAt === undefined) return;
    if (now - this.firstRouteAt < LEGACY_SILENCE_WARN_MS) return;
    this.silenceWarned = true;
    this.owner.log.warn(
      { intercept: this.label, protocol: 'legacy', waitedMs: now - this.firstRouteAt },
      'intercept has routed no reply back since our first route: is it an intercept, and does its -F ' +
        "capture the test server's replies?",
    );
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.helloTimer);
    this.flush();
    this.socket?.end();
  }
}
