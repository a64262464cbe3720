/**
 * Native control messages and their validation. Every payload is a msgpack map with a numeric
 * `type`; parseControlMessage builds a fresh typed object from a decoded value, so nothing
 * unvalidated (extra keys, wrong types) reaches the daemons. Unknown keys are ignored: a later
 * version may add optional fields without breaking older peers.
 */
import {
  CONTROL_MAX_AUTH_BYTES,
  CONTROL_MAX_FEATURES,
  CONTROL_MAX_FEATURE_LENGTH,
  CONTROL_MAX_ID_LENGTH,
  CONTROL_MAX_STATS_KEYS,
  CONTROL_MIN_PROTOCOL_VERSION,
  CONTROL_PROTOCOL_VERSION,
  ControlMessageType,
} from './constants.js';
import { checkPayloadBatch } from './payload-responses.js';
import { checkResponseBatch } from './responses.js';
import { checkRouteBatch } from './routes.js';

export type PeerRole = 'copier' | 'intercept';

/** First message in each direction; the intercept answers the copier's hello with its own. */
export interface HelloMessage {
  readonly type: typeof ControlMessageType.Hello;
  /** Highest protocol version the sender speaks (see negotiateControlVersion). */
  readonly version: number;
  readonly role: PeerRole;
  /** Identifies the sending process in the peer's logs (e.g. hostname:pid). */
  readonly instanceId: string;
  /** Software version of the sender, for logs. */
  readonly software: string;
  /**
   * Authentication (version 2, auth.ts): the copier's nonce; the intercept's nonce and proof, or
   * nothing when the copier offered no nonce. Absent when the sender does not authenticate.
   */
  readonly auth?: Buffer;
  /**
   * Optional features (docs/protocol.md §2.2): a copier's asks for them, an intercept's grants
   * those it was asked for and serves. Names a receiver does not know are ignored; absent when
   * the sender names none.
   */
  readonly features?: readonly string[];
}

export interface HeartbeatMessage {
  readonly type: typeof ControlMessageType.Heartbeat;
  /** Sender's wall clock, ms since the epoch. */
  readonly timeMs: number;
}

export interface RouteAddMessage {
  readonly type: typeof ControlMessageType.RouteAdd;
  /** Packed 12-byte route records (routes.ts). */
  readonly routes: Buffer;
}

export interface RouteDelMessage {
  readonly type: typeof ControlMessageType.RouteDel;
  readonly routes: Buffer;
}

export interface ResponsesMessage {
  readonly type: typeof ControlMessageType.Responses;
  /** Header records (responses.ts). */
  readonly records: Buffer;
}

export interface PayloadResponsesMessage {
  readonly type: typeof ControlMessageType.PayloadResponses;
  /** Payload records (payload-responses.ts). */
  readonly records: Buffer;
}

export interface StatsMessage {
  readonly type: typeof ControlMessageType.Stats;
  readonly values: Readonly<Record<string, number>>;
}

/** Version 2, copier -> intercept, right after the intercept's hello: the copier's proof. */
export interface AuthMessage {
  readonly type: typeof ControlMessageType.Auth;
  readonly proof: Buffer;
}

export type ControlMessage =
  | HelloMessage
  | HeartbeatMessage
  | RouteAddMessage
  | RouteDelMessage
  | ResponsesMessage
  | PayloadResponsesMessage
  | StatsMessage
  | AuthMessage;

/**
 * The version both sides use: the lower of the two announced, or null when the peer's highest is
 * below what this build accepts (the connection is then closed).
 */
export function negotiateControlVersion(peerVersion: number): number | null {
  const version = Math.min(peerVersion, CONTROL_PROTOCOL_VERSION);
  return version >= CONTROL_MIN_PROTOCOL_VERSION ? version : null;
}

type Fields = Readonly<Record<string, unknown>>;

/** A decoded msgpack map: a plain object (msgpackr turns other wire types into arrays, Buffers, class instances). */
function isFields(value: unknown): value is Fields {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function isShortString(value: unknown): value is string {
  return typeof value === 'string' && value.length <= CONTROL_MAX_ID_LENGTH;
}

/** Binary of at most CONTROL_MAX_AUTH_BYTES: hello.auth and auth.proof. */
function isAuthBytes(value: unknown): value is Buffer {
  return Buffer.isBuffer(value) && value.length <= CONTROL_MAX_AUTH_BYTES;
}

function isFeatureList(value: unknown): value is readonly string[] {
  return (
    Array.isArray(value) &&
    value.length <= CONTROL_MAX_FEATURES &&
    value.every((name) => typeof name === 'string' && name.length <= CONTROL_MAX_FEATURE_LENGTH)
  );
}

function parseHello(f: Fields): HelloMessage | string {
  const { version, role, instanceId, software, auth, features } = f;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1 || version > 0xffff) {
    return 'hello.version must be an integer in 1..65535';
  }
  if (role !== 'copier' && role !== 'intercept') return "hello.role must be 'copier' or 'intercept'";
  if (!isShortString(instanceId)) return `hello.instanceId must be a string of at most ${CONTROL_MAX_ID_LENGTH} chars`;
  if (!isShortString(software)) return `hello.software must be a string of at most ${CONTROL_MAX_ID_LENGTH} chars`;
  if (auth !== undefined && !isAuthBytes(auth)) {
    return `hello.auth must be binary of at most ${CONTROL_MAX_AUTH_BYTES} bytes`;
  }
  if (features !== undefined && !isFeatureList(features)) {
    return `hello.features must be a list of at most ${CONTROL_MAX_FEATURES} strings of at most ${CONTROL_MAX_FEATURE_LENGTH} chars`;
  }
  return {
    type: ControlMessageType.Hello,
    version,
    role,
    instanceId,
    software,
    ...(auth === undefined ? {} : { auth }),
    ...(features === undefined ? {} : { features: [...features] }),
  };
}

function parseRoutes(f: Fields, type: typeof ControlMessageType.RouteAdd | typeof ControlMessageType.RouteDel) {
  const { routes } = f;
  if (!Buffer.isBuffer(routes)) return 'routes must be binary';
  const problem = checkRouteBatch(routes);
  return problem ?? { type, routes };
}

function parseStats(f: Fields): StatsMessage | string {
  const { values } = f;
  if (!isFields(values)) return 'stats.values must be a map';
  const keys = Object.keys(values);
  if (keys.length > CONTROL_MAX_STATS_KEYS) return `stats.values has more than ${CONTROL_MAX_STATS_KEYS} keys`;
  // A null prototype: keys from the wire can never shadow Object.prototype members.
  const copy: Record<string, number> = Object.create(null) as Record<string, number>;
  for (const key of keys) {
    const value = values[key];
    if (key.length > CONTROL_MAX_ID_LENGTH) return `stats key longer than ${CONTROL_MAX_ID_LENGTH} chars`;
    if (typeof value !== 'number' || !Number.isFinite(value)) return `stats.values.${key} must be a finite number`;
    copy[key] = value;
  }
  return { type: ControlMessageType.Stats, values: copy };
}

/** A typed message built from a decoded msgpack value, or why the value is not one. */
export function parseControlMessage(value: unknown): ControlMessage | string {
  if (!isFields(value)) return 'payload is not a map';
  switch (value.type) {
    case ControlMessageType.Hello:
      return parseHello(value);
    case ControlMessageType.Heartbeat: {
      const { timeMs } = value;
      if (typeof timeMs !== 'number' || !Number.isFinite(timeMs)) return 'heartbeat.timeMs must be a finite number';
      return { type: ControlMessageType.Heartbeat, timeMs };
    }
    case ControlMessageType.RouteAdd:
    case ControlMessageType.RouteDel:
      return parseRoutes(value, value.type);
    case ControlMessageType.Responses: {
      const { records } = value;
      if (!Buffer.isBuffer(records)) return 'responses.records must be binary';
      return checkResponseBatch(records) ?? { type: ControlMessageType.Responses, records };
    }
    case ControlMessageType.PayloadResponses: {
      const { records } = value;
      if (!Buffer.isBuffer(records)) return 'payloadResponses.records must be binary';
      return checkPayloadBatch(records) ?? { type: ControlMessageType.PayloadResponses, records };
    }
    case ControlMessageType.Stats:
      return parseStats(value);
    case ControlMessageType.Auth: {
      const { proof } = value;
      if (!isAuthBytes(proof)) return `auth.proof must be binary of at most ${CONTROL_MAX_AUTH_BYTES} bytes`;
      return { type: ControlMessageType.Auth, proof };
    }
    default:
      return `unknown message type ${typeof value.type === 'number' ? value.type : typeof value.type}`;
  }
}

/** The wire form of a message: exactly the documented fields, optional ones omitted when absent. */
export function controlMessageFields(msg: ControlMessage): Record<string, unknown> {
  switch (msg.type) {
    case ControlMessageType.Hello: {
      const { type, version, role, instanceId, software, auth, features } = msg;
      return {
        type,
        version,
        role,
        instanceId,
        software,
        ...(auth === undefined ? {} : { auth }),
        ...(features === undefined ? {} : { features }),
      };
    }
    case ControlMessageType.Heartbeat:
      return { type: msg.type, timeMs: msg.timeMs };
    case ControlMessageType.RouteAdd:
    case ControlMessageType.RouteDel:
      return { type: msg.type, routes: msg.routes };
    case ControlMessageType.Responses:
    case ControlMessageType.PayloadResponses:
      return { type: msg.type, records: msg.records };
    case ControlMessageType.Stats:
      return { type: msg.type, values: msg.values };
    case ControlMessageType.Auth:
      return { type: msg.type, proof: msg.proof };
  }
}
