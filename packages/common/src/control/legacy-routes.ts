/**
 * Upstream's control protocol (tcpcopy 1.3 / intercept 1.0, protocol version 6), copier to
 * intercept: fixed 14-byte big-endian records, no framing, no answer, no authentication
 * (docs/protocol.md §6; the replies' direction is legacy-replies.ts):
 *
 *   u32 client ip | u16 client port | u16 type | u32 target ip | u16 target port
 *
 * The first record of a connection is the version record: all zero but type = 6. Pure: chunks
 * in, native route batches (routes.ts) out, so the intercept core takes both protocols alike.
 */
import { ControlError, ErrorCode } from '../errors.js';
import { readU16, readU32, writeU16, writeU32 } from '../packet/bytes.js';
import {
  CONTROL_FRAME_HEADER_BYTES,
  ROUTE_OFF_CLIENT_IP,
  ROUTE_OFF_CLIENT_PORT,
  ROUTE_OFF_TARGET_IP,
  ROUTE_OFF_TARGET_PORT,
  ROUTE_RECORD_BYTES,
} from './constants.js';
import { GrowableBuffer } from './growable.js';
import { RouteBatchBuilder } from './routes.js';

/** The version upstream's copier announces, and the only one its intercept knows. */
export const LEGACY_PROTOCOL_VERSION = 6;
export const LEGACY_ROUTE_RECORD_BYTES = 14;
const OFF_CLIENT_IP = 0;
const OFF_CLIENT_PORT = 4;
const OFF_TYPE = 6;
const OFF_TARGET_IP = 8;
const OFF_TARGET_PORT = 12;
/** Record types; the version record carries the version in `type` instead. */
export const LegacyRouteType = { ClientAdd: 1, ClientDel: 2 } as const;
export type LegacyRouteType = (typeof LegacyRouteType)[keyof typeof LegacyRouteType];

/** The record every legacy connection opens with. */
export function legacyVersionRecord(): Buffer {
  const record = Buffer.alloc(LEGACY_ROUTE_RECORD_BYTES);
  writeU16(record, OFF_TYPE, LEGACY_PROTOCOL_VERSION);
  return record;
}

/** Route records (copier -> intercept) packed into one reusable buffer. */
export class LegacyRouteWriter {
  private readonly out = new GrowableBuffer(64 * LEGACY_ROUTE_RECORD_BYTES);

  get count(): number {
    return this.out.length / LEGACY_ROUTE_RECORD_BYTES;
  }

  add(type: LegacyRouteType, clientIp: number, clientPort: number, targetIp: number, targetPort: number): void {
    const at = this.out.length;
    const buf = this.out.reserve(LEGACY_ROUTE_RECORD_BYTES);
    writeU32(buf, at + OFF_CLIENT_IP, clientIp);
    writeU16(buf, at + OFF_CLIENT_PORT, clientPort);
    writeU16(buf, at + OFF_TYPE, type);
    writeU32(buf, at + OFF_TARGET_IP, targetIp);
    writeU16(buf, at + OFF_TARGET_PORT, targetPort);
    this.out.commit(LEGACY_ROUTE_RECORD_BYTES);
  }

  /** Adds every route of a native route batch (routes.ts) as a record of `type`. */
  addBatch(type: LegacyRouteType, routes: Buffer): void {
    for (let at = 0; at + ROUTE_RECORD_BYTES <= routes.length; at += ROUTE_RECORD_BYTES) {
      this.add(
        type,
        readU32(routes, at + ROUTE_OFF_CLIENT_IP),
        readU16(routes, at + ROUTE_OFF_CLIENT_PORT),
        readU32(routes, at + ROUTE_OFF_TARGET_IP),
        readU16(routes, at + ROUTE_OFF_TARGET_PORT),
      );
    }
  }

  /** The records so far; valid until `clear()` is followed by another `add()`. */
  view(): Buffer {
    return this.out.view();
  }

  clear(): void {
    this.out.clear();
  }
}

export interface LegacyRouteHandlers {
  /** The version record arrived; upstream only warns about a version other than 6. */
  onVersion(version: number): void;
  /** What one pushed chunk held, as native route batches (either may be empty). */
  onRoutes(adds: Buffer, dels: Buffer): void;
  /** A record of another type: upstream logs and ignores it. */
  onUnknownType(type: number): void;
  /** Called once; the decoder ignores further input. */
  onError(err: ControlError): void;
}

/**
 * The intercept's reader of a legacy copier's stream, any chunking. Each chunk's routes are
 * delivered together, in native batches the intercept core takes as they are.
 */
export class LegacyRouteDecoder {
  private readonly partial = Buffer.alloc(LEGACY_ROUTE_RECORD_BYTES);
  private partialFilled = 0;
  private versionSeen = false;
  private dead = false;
  private readonly adds = new RouteBatchBuilder();
  private readonly dels = new RouteBatchBuilder();

  constructor(private readonly handlers: LegacyRouteHandlers) {}

  get failed(): boolean {
    return this.dead;
  }

  push(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length && !this.dead) {
      if (this.partialFilled > 0 || chunk.length - pos < LEGACY_ROUTE_RECORD_BYTES) {
        const n = Math.min(LEGACY_ROUTE_RECORD_BYTES - this.partialFilled, chunk.length - pos);
        chunk.copy(this.partial, this.partialFilled, pos, pos + n);
        this.partialFilled += n;
        pos += n;
        if (this.partialFilled < LEGACY_ROUTE_RECORD_BYTES) break;
        this.partialFilled = 0;
        this.record(this.partial, 0);
      } else {
        this.record(chunk, pos);
        pos += LEGACY_ROUTE_RECORD_BYTES;
      }
    }
    if (this.adds.count > 0 || this.dels.count > 0) {
      this.handlers.onRoutes(this.adds.view(), this.dels.view());
      this.adds.clear();
      this.dels.clear();
    }
  }

  private record(buf: Buffer, at: number): void {
    const type = readU16(buf, at + OFF_TYPE);
    if (!this.versionSeen) {
      // Upstream's intercept reads the first 8 bytes as a pre-2013 record to tell the two apart.
      if (readU32(buf, at + OFF_CLIENT_IP) !== 0 || readU16(buf, at + OFF_CLIENT_PORT) !== 0) {
        this.dead = true;
        this.handlers.onError(
          new ControlError(ErrorCode.CONTROL_VERSION, 'legacy copier sent no version record: it is older than 2013'),
        );
        return;
      }
      this.versionSeen = true;
      this.handlers.onVersion(type);
      return;
    }
    const batch =
      type === LegacyRouteType.ClientAdd ? this.adds : type === LegacyRouteType.ClientDel ? this.dels : null;
    if (batch === null) {
      this.handlers.onUnknownType(type);
      return;
    }
    batch.add(
      readU32(buf, at + OFF_CLIENT_IP),
      readU16(buf, at + OFF_CLIENT_PORT),
      readU32(buf, at + OFF_TARGET_IP),
      readU16(buf, at + OFF_TARGET_PORT),
    );
  }
}

/**
 * The protocol a copier speaks, from the first bytes of its connection: a native frame declares
 * a length of at least 1 in its first 4 bytes, a legacy version record starts with 8 zero bytes.
 * Undefined while that cannot be told yet (fewer than 4 bytes, all zero).
 */
export function openingProtocol(first: Buffer): 'native' | 'legacy' | undefined {
  const n = Math.min(first.length, CONTROL_FRAME_HEADER_BYTES);
  for (let i = 0; i < n; i++) if (first[i] !== 0) return 'native';
  return n === CONTROL_FRAME_HEADER_BYTES ? 'legacy' : undefined;
}
