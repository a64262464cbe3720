/**
 * An offline replay as a PacketSource: the records of a pcap file delivered at the times
 * ReplaySchedule gives, for -T passes. `done` resolves after the last record of the last pass.
 */
import {
  PcapFileReader,
  PcapReadStatus,
  type Clock,
  type PacketHandler,
  type PacketSource,
  type SourceStats,
} from '@tcpcopy/common';
import { ReplaySchedule } from './replay-schedule.js';

/** Records delivered per turn of the event loop at most, so timers and sockets keep running. */
const BATCH = 256;
const MICROS_PER_MS = 1000;

export interface OfflineOptions {
  file: string;
  speedup: number;
  gapSkipMs: number;
  passes: number;
}

export interface ReplayProgress {
  /** Share of the replay done, 0 to 1 (all -T passes). */
  readonly done: number;
  /** Packets replayed so far. */
  readonly packets: number;
}

export class OfflineSource implements PacketSource {
  readonly done: Promise<void>;
  private finish!: () => void;
  private reader: PcapFileReader | undefined;
  private readonly schedule: ReplaySchedule;
  /** A record read but not yet due (the reader's buffer holds it until the next read). */
  private pending = false;
  private pass = 0;
  private timer: NodeJS.Timeout | undefined;
  private received = 0;
  private truncated = 0;

  constructor(
    private readonly options: OfflineOptions,
    private readonly clock: Clock,
  ) {
    this.schedule = new ReplaySchedule(options.speedup, options.gapSkipMs);
    this.done = new Promise((resolve) => (this.finish = resolve));
  }

  /** Opens the file at once (PacketIoError PCAP_FILE if unusable), then replays it. */
  start(onPacket: PacketHandler): void {
    this.reader = new PcapFileReader(this.options.file);
    const pump = (): void => {
      this.timer = undefined;
      for (let i = 0; i < BATCH; i++) {
        const reader = this.reader;
        if (reader === undefined) return;
        if (!this.pending) {
          if (reader.next() !== PcapReadStatus.Packet) {
            this.nextPass();
            continue;
          }
          this.pending = true;
        }
        const wait = this.schedule.delay(reader.record.tsMicros / MICROS_PER_MS, this.clock.now());
        if (wait > 0) {
          this.timer = setTimeout(pump, Math.ceil(wait));
          return;
        }
        this.pending = false;
        this.received++;
        if (reader.record.capturedLength < reader.record.originalLength) this.truncated++;
        onPacket(reader.packet, 0, reader.record.capturedLength, reader.linkType, reader.record.tsMicros);
      }
      this.timer = setTimeout(pump, 0);
    };
    pump();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.reader?.close();
    this.reader = undefined;
    this.finish();
  }

  stats(): SourceStats {
    return { received: this.received, truncated: this.truncated };
  }

  /** How far the replay has come: passes done plus the share of the file read in this one. */
  progress(): ReplayProgress {
    const reader = this.reader;
    const inPass = reader === undefined || reader.size === 0 ? 1 : reader.position / reader.size;
    const passes = this.options.passes;
    return {
      done: Math.min(1, (Math.min(this.pass, passes) + (this.pass < passes ? inPass : 0)) / passes),
      packets: this.received,
    };
  }

  private nextPass(): void {
    this.reader?.close();
    this.reader = undefined;
    if (++this.pass >= this.options.passes) {
      this.finish();
      return;
    }
    this.reader = new PcapFileReader(this.options.file);
    this.schedule.restart();
  }
}
