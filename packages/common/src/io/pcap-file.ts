/**
 * Reading classic pcap files for offline replay: PcapFileReader pulls one record at a time (the
 * replay paces by timestamp itself), PcapFileSource pushes a whole file through a PacketSource
 * handler. Files are read in chunks into reused buffers: nothing is allocated per packet.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { ErrorCode, PacketIoError } from '../errors.js';
import { isSupportedLinkType, type LinkType } from '../packet/link.js';
import {
  PCAP_FILE_HEADER_LENGTH,
  PCAP_RECORD_HEADER_LENGTH,
  PcapHeaderStatus,
  decodePcapFileHeader,
  decodePcapRecordHeader,
  type PcapFileHeader,
  type PcapRecordHeader,
} from './pcap-format.js';
import type { PacketHandler, PacketSource, SourceStats } from './source.js';

export const PcapReadStatus = {
  Packet: 0,
  End: 1,
  /** The file ends inside a record (e.g. tcpdump was killed mid-write): treat as the end. */
  TruncatedRecord: 2,
  /** A record claims more bytes than any capture holds: the file is corrupt from here on. */
  BadRecordLength: 3,
} as const;
export type PcapReadStatus = (typeof PcapReadStatus)[keyof typeof PcapReadStatus];

/** Largest record accepted: tcpdump's maximum snapshot length (MAXIMUM_SNAPLEN, 256 KiB). */
export const MAX_PCAP_RECORD_BYTES = 262_144;
const CHUNK_BYTES = 1024 * 1024;

export class PcapFileReader {
  readonly header: PcapFileHeader;
  readonly linkType: LinkType;
  /** After next() returned Packet: the record's header and, in packet[0..capturedLength), its
   *  bytes. Both are overwritten by the next call. */
  readonly record: PcapRecordHeader = { tsMicros: 0, capturedLength: 0, originalLength: 0 };
  readonly packet = Buffer.alloc(MAX_PCAP_RECORD_BYTES);
  private readonly chunk = Buffer.alloc(CHUNK_BYTES);
  private start = 0;
  private end = 0;
  private eof = false;
  private fd: number | undefined;

  /** Opens `path` and reads its file header; throws PacketIoError(PCAP_FILE) when it is not a
   *  classic pcap file of a link type we decode. */
  constructor(readonly path: string) {
    try {
      this.fd = openSync(path, 'r');
    } catch (err) {
      throw new PacketIoError(ErrorCode.PCAP_FILE, `cannot open pcap file ${path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    this.fill();
    const header: PcapFileHeader = { bigEndian: false, nanoseconds: false, snapLength: 0, linkType: 0 };
    const status = decodePcapFileHeader(this.chunk.subarray(0, this.end), header);
    if (status !== PcapHeaderStatus.Ok || !isSupportedLinkType(header.linkType)) {
      this.close();
      const why =
        status === PcapHeaderStatus.Truncated
          ? 'shorter than a pcap header'
          : status === PcapHeaderStatus.BadMagic
            ? 'not a classic pcap file (pcapng is not supported)'
            : `link type ${header.linkType} is not supported`;
      throw new PacketIoError(ErrorCode.PCAP_FILE, `${path}: ${why}`);
    }
    this.header = header;
    this.linkType = header.linkType;
    this.start = PCAP_FILE_HEADER_LENGTH;
  }

  next(): PcapReadStatus {
    if (this.end - this.start < PCAP_RECORD_HEADER_LENGTH) {
      this.fill();
      if (this.end === this.start) return PcapReadStatus.End;
      if (this.end - this.start < PCAP_RECORD_HEADER_LENGTH) return PcapReadStatus.TruncatedRecord;
    }
    decodePcapRecordHeader(this.chunk, this.start, this.header, this.record);
    const length = this.record.capturedLength;
    if (length > MAX_PCAP_RECORD_BYTES) return PcapReadStatus.BadRecordLength;
    if (this.end - this.start < PCAP_RECORD_HEADER_LENGTH + length) {
      this.fill();
      if (this.end - this.start < PCAP_RECORD_HEADER_LENGTH + length) return PcapReadStatus.TruncatedRecord;
    }
    const data = this.start + PCAP_RECORD_HEADER_LENGTH;
    this.chunk.copy(this.packet, 0, data, data + length);
    this.start = data + length;
    return PcapReadStatus.Packet;
  }

  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }

  /** Moves the unread bytes to the front of the chunk and reads until it is full or the file
   *  ends. A chunk (1 MiB) always holds a whole record (at most 256 KiB + 16). */
  private fill(): void {
    if (this.eof || this.fd === undefined) return;
    this.chunk.copyWithin(0, this.start, this.end);
    this.end -= this.start;
    this.start = 0;
    while (this.end < this.chunk.length) {
      const n = readSync(this.fd, this.chunk, this.end, this.chunk.length - this.end, null);
      if (n === 0) {
        this.eof = true;
        return;
      }
      this.end += n;
    }
  }
}

/** Records delivered per turn of the event loop, so timers and sockets keep running. */
const BATCH = 256;

/** A pcap file as a PacketSource: every record, as fast as the handler takes them. */
export class PcapFileSource implements PacketSource {
  /** Resolves with how the file ended (End, TruncatedRecord or BadRecordLength), or with End
   *  when stopped early. */
  readonly done: Promise<PcapReadStatus>;
  private finish!: (status: PcapReadStatus) => void;
  private reader: PcapFileReader | undefined;
  private received = 0;
  private truncated = 0;

  constructor(readonly path: string) {
    this.done = new Promise((resolve) => (this.finish = resolve));
  }

  /** Opens the file (throwing PacketIoError(PCAP_FILE) at once if it is unusable), then
   *  delivers its records asynchronously. */
  start(onPacket: PacketHandler): void {
    if (this.reader) throw new PacketIoError(ErrorCode.PCAP_FILE, `${this.path} is already being read`);
    const reader = new PcapFileReader(this.path);
    this.reader = reader;
    const pump = (): void => {
      if (this.reader !== reader) return;
      for (let i = 0; i < BATCH; i++) {
        const status = reader.next();
        if (status !== PcapReadStatus.Packet) {
          this.end(status);
          return;
        }
        this.received++;
        if (reader.record.capturedLength < reader.record.originalLength) this.truncated++;
        onPacket(reader.packet, 0, reader.record.capturedLength, reader.linkType, reader.record.tsMicros);
        if (this.reader !== reader) return;
      }
      setImmediate(pump);
    };
    setImmediate(pump);
  }

  stop(): void {
    this.end(PcapReadStatus.End);
  }

  stats(): SourceStats {
    return { received: this.received, truncated: this.truncated };
  }

  private end(status: PcapReadStatus): void {
    if (!this.reader) return;
    this.reader.close();
    this.reader = undefined;
    this.finish(status);
  }
}
