/**
 * Reading capture files for offline replay, classic pcap or pcapng as the file's magic says:
 * PcapFileReader pulls one packet at a time (the replay paces by timestamp itself),
 * PcapFileSource pushes a whole file through a PacketSource handler. Files are read in chunks
 * into reused buffers; the formats (pcap-format.ts, pcapng-format.ts) cut them into records.
 * Nothing is allocated per packet.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { ErrorCode, PacketIoError } from '../errors.js';
import { LinkType, isSupportedLinkType } from '../packet/link.js';
import {
  MAX_PCAP_RECORD_BYTES,
  NO_PACKET,
  PCAP_FILE_HEADER_LENGTH,
  PcapHeaderStatus,
  PcapReadStatus,
  PcapRecordFraming,
  decodePcapFileHeader,
  type CaptureRecord,
  type PcapFileHeader,
  type RecordFraming,
  type RecordStatus,
} from './pcap-format.js';
import { MAX_PCAPNG_BLOCK_LENGTH, PcapngFraming, isPcapng } from './pcapng-format.js';
import type { PacketHandler, PacketSource, SourceStats } from './source.js';

/** Holds any whole record: a pcapng block at most, a classic record (256 KiB + 16) too. */
const CHUNK_BYTES = MAX_PCAPNG_BLOCK_LENGTH;

/** Why a pcapng file stopped before its first interface, as the open's error says it. */
const PCAPNG_OPEN_PROBLEM: Readonly<Record<PcapReadStatus, string>> = {
  [PcapReadStatus.Packet]: 'a packet before any interface description block',
  [PcapReadStatus.End]: 'no interface description block',
  [PcapReadStatus.TruncatedRecord]: 'truncated before its first interface description block',
  [PcapReadStatus.BadRecordLength]: 'a pcapng block of an impossible length',
  [PcapReadStatus.LengthMismatch]: 'a pcapng block whose trailing length is not its leading one',
  [PcapReadStatus.BadBlock]: 'a malformed pcapng block',
  [PcapReadStatus.UnknownInterface]: 'a packet before any interface description block',
  [PcapReadStatus.UnsupportedLinkType]: 'a packet of an unsupported link type',
};

export class PcapFileReader {
  /** The classic file header; undefined for pcapng, whose sections say their own byte order. */
  readonly header: PcapFileHeader | undefined;
  /** After next() returned Packet: the packet's header fields and link type and, in
   *  packet[0..capturedLength), its bytes. Both are overwritten by the next call. */
  readonly record: CaptureRecord = { tsMicros: 0, capturedLength: 0, originalLength: 0, linkType: LinkType.Ethernet };
  readonly packet = Buffer.alloc(MAX_PCAP_RECORD_BYTES);
  private readonly framing: RecordFraming;
  private readonly chunk = Buffer.alloc(CHUNK_BYTES);
  private start = 0;
  private end = 0;
  /** Where in the file chunk[0] was read from. */
  private chunkAt = 0;
  private eof = false;
  private fd: number | undefined;
  /** The file's size when it was opened, in bytes. */
  readonly size: number;

  /** Opens `path` and reads its file header (pcapng: up to its first interface description);
   *  throws PacketIoError(PCAP_FILE) when it is no capture file of a link type we decode. */
  constructor(readonly path: string) {
    try {
      this.fd = openSync(path, 'r');
    } catch (err) {
      throw new PacketIoError(ErrorCode.PCAP_FILE, `cannot open pcap file ${path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    this.size = fstatSync(this.fd).size;
    this.fill();
    const head = this.chunk.subarray(0, this.end);
    if (isPcapng(head)) {
      const framing = new PcapngFraming();
      this.framing = framing;
      this.openPcapng(framing);
      return;
    }
    const header: PcapFileHeader = { bigEndian: false, nanoseconds: false, snapLength: 0, linkType: 0 };
    const status = decodePcapFileHeader(head, header);
    if (status !== PcapHeaderStatus.Ok || !isSupportedLinkType(header.linkType)) {
      const why =
        status === PcapHeaderStatus.Truncated
          ? 'shorter than a pcap header'
          : status === PcapHeaderStatus.BadMagic
            ? 'neither a pcap nor a pcapng file'
            : `link type ${header.linkType} is not supported`;
      this.fail(why);
    }
    this.header = header;
    this.framing = new PcapRecordFraming(header, header.linkType);
    this.record.linkType = header.linkType;
    this.start = PCAP_FILE_HEADER_LENGTH;
  }

  /** The link type of the last packet read (before the first: the file's, or its first
   *  interface's). */
  get linkType(): LinkType {
    return this.record.linkType;
  }

  /** Bytes of the file read past: with `size`, how far a replay has come. */
  get position(): number {
    return this.chunkAt + this.start;
  }

  next(): PcapReadStatus {
    let status: RecordStatus;
    while ((status = this.readRecord()) === NO_PACKET);
    return status;
  }

  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }

  /** As libpcap opens pcapng: blocks are read up to the first interface description, whose
   *  link type must be one we decode; a packet before it has no link type. */
  private openPcapng(framing: PcapngFraming): void {
    while (framing.interfaceCount === 0) {
      const status = this.readRecord();
      if (status !== NO_PACKET) this.fail(PCAPNG_OPEN_PROBLEM[status]);
    }
    const linkType = framing.linkTypeOf(0);
    if (!isSupportedLinkType(linkType)) this.fail(`link type ${linkType} is not supported`);
    this.record.linkType = linkType;
  }

  private fail(why: string): never {
    this.close();
    throw new PacketIoError(ErrorCode.PCAP_FILE, `${this.path}: ${why}`);
  }

  /** The next record: NO_PACKET once it was read past, Packet with its bytes copied out, or why
   *  the file ends here (the record is then not read past: asking again answers the same). */
  private readRecord(): RecordStatus {
    const framing = this.framing;
    if (this.end - this.start < framing.prefixLength) {
      this.fill();
      if (this.end === this.start) return PcapReadStatus.End;
      if (this.end - this.start < framing.prefixLength) return PcapReadStatus.TruncatedRecord;
    }
    const length = framing.recordLength(this.chunk, this.start);
    if (length === 0) return PcapReadStatus.BadRecordLength;
    if (this.end - this.start < length) {
      this.fill();
      if (this.end - this.start < length) return PcapReadStatus.TruncatedRecord;
    }
    const status = framing.decodeRecord(this.chunk, this.start, length, this.record);
    if (status === PcapReadStatus.Packet) {
      const data = framing.dataOffset;
      this.chunk.copy(this.packet, 0, data, data + this.record.capturedLength);
    }
    if (status === PcapReadStatus.Packet || status === NO_PACKET) this.start += length;
    return status;
  }

  /** Moves the unread bytes to the front of the chunk and reads until it is full or the file
   *  ends. */
  private fill(): void {
    if (this.eof || this.fd === undefined) return;
    this.chunk.copyWithin(0, this.start, this.end);
    this.chunkAt += this.start;
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

/** A capture file as a PacketSource: every packet, as fast as the handler takes them. */
export class PcapFileSource implements PacketSource {
  /** Resolves with how the file ended (End, or the PcapReadStatus of what stopped it), or with
   *  End when stopped early. */
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
