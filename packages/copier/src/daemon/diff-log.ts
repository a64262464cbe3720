/**
 * The --diff-log file: one JSON line per differing exchange (compare/diff-record.ts), appended.
 * Writing never holds the copy up: lines queue in the stream, and past MAX_QUEUED_BYTES (a disk
 * that cannot keep up) they are dropped and counted rather than held in memory. A write error
 * is logged once and counted; the copy goes on. SIGHUP reopens the file (logrotate).
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { Logger } from '@tcpcopy/common';
import { diffLogLine, type DiffRecord } from '../compare/index.js';

const MAX_QUEUED_BYTES = 8 * 1024 * 1024;

export interface DiffLogStats {
  file: string;
  written: number;
  /** Records not written: the disk was MAX_QUEUED_BYTES behind, or the file could not be written. */
  dropped: number;
  errors: number;
}

export class DiffLog {
  private stream: WriteStream;
  private readonly counts = { written: 0, dropped: 0, errors: 0 };
  private failed = false;

  constructor(
    private readonly file: string,
    private readonly log: Logger,
  ) {
    this.stream = this.open();
  }

  write(record: DiffRecord): void {
    if (this.failed || this.stream.writableLength > MAX_QUEUED_BYTES) {
      this.counts.dropped++;
      return;
    }
    this.stream.write(diffLogLine(record));
    this.counts.written++;
  }

  stats(): DiffLogStats {
    return { file: this.file, ...this.counts };
  }

  reopen(): void {
    const old = this.stream;
    this.failed = false;
    this.stream = this.open();
    old.end();
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.stream.end(resolve));
  }

  private open(): WriteStream {
    const stream = createWriteStream(this.file, { flags: 'a' });
    stream.on('error', (err) => {
      this.counts.errors++;
      if (this.failed) return;
      this.failed = true;
      this.log.error({ file: this.file, err: err.message }, 'cannot write the diff log: differences are only counted');
    });
    return stream;
  }
}
