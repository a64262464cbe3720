/**
 * Capture drops made visible. The kernel drops packets when the capture ring is full (tcpcopy
 * too busy for too long, or -B too small for the bursts): every dropped client packet leaves a
 * hole in its session, which then ends. Read every CAPTURE_LOSS_POLL_MS, a growing drop count
 * tells the engine (so those sessions end as capture_dropped, not as a bare capture_gap) and
 * the operator (one warning, repeated at most every CAPTURE_LOSS_REPEAT_MS while it goes on).
 */
import type { Logger, PacketSource } from '@tcpcopy/common';
import type { Engine } from '../engine/index.js';

/** While drops go on, the warning is repeated this rarely. */
export const CAPTURE_LOSS_REPEAT_MS = 60_000;

export class CaptureLossWatch {
  private dropped = 0;
  private warnedAt = -Infinity;
  private droppedSinceWarning = 0;

  constructor(
    private readonly source: PacketSource,
    private readonly engine: Engine,
    private readonly log: Logger,
    private readonly captureBufferBytes: number,
  ) {}

  check(now: number): void {
    const dropped = this.source.stats().kernelDropped ?? 0;
    if (dropped <= this.dropped) return;
    this.droppedSinceWarning += dropped - this.dropped;
    this.dropped = dropped;
    this.engine.noteCaptureLoss(now);
    if (now - this.warnedAt < CAPTURE_LOSS_REPEAT_MS) return;
    this.log.warn(
      { kernelDropped: this.droppedSinceWarning, total: dropped, bufferMb: this.captureBufferBytes / (1 << 20) },
      'the capture ring overflowed: the kernel dropped client packets and their sessions end as capture_dropped; raise -B or give tcpcopy more CPU',
    );
    this.warnedAt = now;
    this.droppedSinceWarning = 0;
  }
}
