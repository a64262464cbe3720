/**
 * Capture -> core: each frame the PacketSource delivers is decoded in place into one reused set
 * of views (no allocation per packet) and handed to the core while the capture buffer is still
 * valid (the core copies the headers it keeps). Frames that are not IPv4/TCP, or are cut before
 * the end of the TCP header, are counted by reason and dropped; a snapshot-length cut inside the
 * payload is fine, records carry headers only.
 */
import {
  DECODE_STATUS_NAMES,
  DecodeStatus,
  decodeFrame,
  newPacketViews,
  type Clock,
  type LinkType,
  type PacketSource,
  type SourceStats,
} from '@tcpcopy/common';
import { ReplyOutcome, type InterceptCore } from '../core/index.js';

export interface ReplyCaptureStats extends SourceStats {
  /** Frames that did not decode to IPv4/TCP, by reason (DECODE_STATUS_NAMES); zeros left out. */
  decodeFailures: Record<string, number>;
}

export class ReplyCapture {
  private readonly views = newPacketViews();
  /** Indexed by DecodeStatus. */
  private readonly failures: number[] = new Array<number>(DECODE_STATUS_NAMES.length).fill(0);

  /** `onBatched()` runs when a reply was added to a connection's batch. */
  constructor(
    private readonly source: PacketSource,
    private readonly core: InterceptCore,
    private readonly clock: Clock,
    private readonly onBatched: () => void,
  ) {}

  /** Starts the source; its errors (device, filter, open) propagate. */
  start(): void {
    this.source.start((buf, offset, length, linkType) => this.onFrame(buf, offset, length, linkType));
  }

  stop(): void {
    this.source.stop();
  }

  onFrame(buf: Buffer, offset: number, length: number, linkType: LinkType): void {
    const views = this.views;
    const status = decodeFrame(linkType, buf, offset, length, views);
    if (status !== DecodeStatus.Ok) {
      this.failures[status]!++;
      return;
    }
    const now = this.clock.now();
    if (this.core.onReply(buf, views.ip, views.tcp, now) === ReplyOutcome.Routed) this.onBatched();
  }

  stats(): ReplyCaptureStats {
    const decodeFailures: Record<string, number> = {};
    this.failures.forEach((n, status) => {
      if (n > 0) decodeFailures[DECODE_STATUS_NAMES[status] ?? `status ${status}`] = n;
    });
    return { ...this.source.stats(), decodeFailures };
  }
}
