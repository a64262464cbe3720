/**
 * A connection from a copier that speaks upstream's legacy protocol (tcpcopy 1.3, protocol
 * version 6; docs/protocol.md §6): its 14-byte route records in, our replies out as combined
 * frames of 64-byte records. Nothing else travels: no hello answered, no heartbeats, no stats.
 */
import type { Socket } from 'node:net';
import { LegacyReplyEncoder, LegacyRouteDecoder, type ControlError } from '@tcpcopy/common';

export interface LegacyCopierHandlers {
  /** The version record arrived: the copier has identified itself. */
  onVersion(version: number): void;
  onRoutes(adds: Buffer, dels: Buffer): void;
  onUnknownType(type: number): void;
  /** A fault; the caller closes the connection. */
  onError(err: ControlError): void;
}

export class LegacyCopierConnection {
  private readonly decoder: LegacyRouteDecoder;
  private readonly encoder = new LegacyReplyEncoder();

  constructor(
    readonly socket: Socket,
    handlers: LegacyCopierHandlers,
  ) {
    this.decoder = new LegacyRouteDecoder(handlers);
  }

  /** Bytes read from the socket, in order. */
  push(chunk: Buffer): void {
    this.decoder.push(chunk);
  }

  get pendingBytes(): number {
    return this.socket.writableLength;
  }

  /** Writes `records` (a native response batch) as combined frames; returns the bytes queued. */
  sendResponses(records: Buffer): number {
    const frames = this.encoder.encode(records);
    if (frames.length === 0) return 0;
    // The encoder's buffer is reused; the socket may keep what it cannot write yet.
    this.socket.write(Buffer.from(frames));
    return frames.length;
  }
}
