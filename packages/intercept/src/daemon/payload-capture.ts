/**
 * How much of each reply the capture keeps: the headers, which is all a header record carries,
 * except while at least one connected copier was granted payload records (docs/protocol.md
 * §2.2); then whole packets. A headers-only capture holds ~8x more packets in the same ring and
 * copies less, so an intercept without comparing copiers costs what it always did.
 */
import { IPV4_MAX_TOTAL_LENGTH, RESPONSE_MAX_HEADERS_BYTES, type Logger, type PacketSource } from '@tcpcopy/common';
import type { ConnectionId } from '../core/index.js';

/** What the capture keeps of each packet while no copier wants payloads (main.ts opens it so). */
export const HEADERS_SNAP_LENGTH = RESPONSE_MAX_HEADERS_BYTES;
/** While one does: the largest IPv4 packet whole. */
export const PAYLOAD_SNAP_LENGTH = IPV4_MAX_TOTAL_LENGTH;

export class PayloadCapture {
  private readonly payloadConns = new Set<ConnectionId>();

  constructor(
    private readonly source: PacketSource,
    private readonly log: Logger,
  ) {}

  /** Copier connections granted payloads and still open. */
  get connections(): number {
    return this.payloadConns.size;
  }

  /** A copier's connection is ready; the first one granted payloads widens the capture. */
  onAdmitted(conn: ConnectionId, payloads: boolean): void {
    if (!payloads) return;
    this.payloadConns.add(conn);
    if (this.payloadConns.size === 1) this.snap(PAYLOAD_SNAP_LENGTH, 'a copier asked for reply payloads');
  }

  /** A connection closed; when it was the last one granted payloads, headers only again. */
  onClosed(conn: ConnectionId): void {
    if (this.payloadConns.delete(conn) && this.payloadConns.size === 0) {
      this.snap(HEADERS_SNAP_LENGTH, 'no copier asks for reply payloads any more');
    }
  }

  /**
   * A source that cannot change (a fake, a file) delivers what it has; a capture that refuses
   * goes on as it was: replies then reach payload copiers with their payloads cut (each record
   * says how much it holds), which is a logged failure, not a reason to stop.
   */
  private snap(snapLength: number, why: string): void {
    if (this.source.setSnapLength === undefined) return;
    try {
      this.source.setSnapLength(snapLength);
      this.log.info({ snapLength }, `capture keeps ${snapLength} bytes per packet: ${why}`);
    } catch (err) {
      this.log.error({ err, snapLength }, `capture could not change its snap length (${why})`);
    }
  }
}
