/**
 * Writes pcapng files for tests (reader: io/pcap-file.ts with io/pcapng-format.ts). Independent
 * of the reader's code except for the format constants, so reader tests have a second opinion;
 * the fixtures editcap and mergecap wrote (test/fixtures) tie both to the format as Wireshark
 * writes it.
 */
import { PCAPNG_BYTE_ORDER_MAGIC, PCAPNG_MIN_BLOCK_LENGTH, PcapngBlockType } from '../io/pcapng-format.js';

const VERSION_MAJOR = 1;
const VERSION_MINOR = 0;
/** Section length -1: not given (§4.1). */
const UNKNOWN_SECTION_LENGTH = -1n;
const OPT_ENDOFOPT = 0;
const OPT_COMMENT = 1;
const IF_TSRESOL = 9;
const IF_TSOFFSET = 14;
const ALIGNMENT = 4;

export type PcapngBlockToWrite =
  /** Starts a section; it and every block up to the next section are in this byte order. */
  | { kind: 'section'; bigEndian: boolean; majorVersion?: number }
  | {
      kind: 'interface';
      linkType: number;
      /** 0 (the default): no limit. */
      snapLength?: number;
      /** The if_tsresol byte (absent: microseconds). */
      tsresol?: number;
      tsoffsetSeconds?: bigint;
      comment?: string;
    }
  | {
      kind: 'enhanced';
      interfaceId: number;
      /** In the interface's units. */
      timestamp: bigint;
      data: Uint8Array;
      /** Default data.length. */
      originalLength?: number;
      comment?: string;
    }
  /** data: the captured bytes, min(originalLength, the first interface's snapshot length). */
  | { kind: 'simple'; originalLength: number; data: Uint8Array }
  /** Any other block (name resolution, statistics, custom...): a type and an opaque body. */
  | { kind: 'other'; blockType: number; body: Uint8Array };

interface Option {
  code: number;
  value: Uint8Array;
}

/** A whole pcapng file of these blocks, in this order (blocks before any section: little-endian). */
export function writePcapng(blocks: readonly PcapngBlockToWrite[]): Buffer {
  let bigEndian = false;
  const parts = blocks.map((block) => {
    if (block.kind === 'section') bigEndian = block.bigEndian;
    return encodeBlock(block, bigEndian);
  });
  return Buffer.concat(parts);
}

function encodeBlock(block: PcapngBlockToWrite, be: boolean): Buffer {
  const w = new Writer(be);
  switch (block.kind) {
    case 'section':
      w.u32(PCAPNG_BYTE_ORDER_MAGIC)
        .u16(block.majorVersion ?? VERSION_MAJOR)
        .u16(VERSION_MINOR);
      w.i64(UNKNOWN_SECTION_LENGTH);
      return frame(PcapngBlockType.SectionHeader, w.bytes(), be);
    case 'interface': {
      w.u16(block.linkType)
        .u16(0)
        .u32(block.snapLength ?? 0);
      const options: Option[] = [];
      if (block.comment !== undefined) options.push(comment(block.comment));
      if (block.tsresol !== undefined) options.push({ code: IF_TSRESOL, value: Uint8Array.of(block.tsresol) });
      if (block.tsoffsetSeconds !== undefined) {
        options.push({ code: IF_TSOFFSET, value: new Writer(be).i64(block.tsoffsetSeconds).bytes() });
      }
      w.options(options);
      return frame(PcapngBlockType.InterfaceDescription, w.bytes(), be);
    }
    case 'enhanced': {
      const timestamp = BigInt.asUintN(64, block.timestamp);
      w.u32(block.interfaceId)
        .u32(Number(timestamp >> 32n))
        .u32(Number(timestamp & 0xffffffffn));
      w.u32(block.data.length)
        .u32(block.originalLength ?? block.data.length)
        .padded(block.data);
      w.options(block.comment === undefined ? [] : [comment(block.comment)]);
      return frame(PcapngBlockType.EnhancedPacket, w.bytes(), be);
    }
    case 'simple':
      w.u32(block.originalLength).padded(block.data);
      return frame(PcapngBlockType.SimplePacket, w.bytes(), be);
    case 'other':
      w.padded(block.body);
      return frame(block.blockType, w.bytes(), be);
  }
}

/** Type, total length, body, total length. */
function frame(type: number, body: Buffer, be: boolean): Buffer {
  const length = PCAPNG_MIN_BLOCK_LENGTH + body.length;
  const head = new Writer(be).u32(type).u32(length).bytes();
  return Buffer.concat([head, body, new Writer(be).u32(length).bytes()]);
}

function comment(text: string): Option {
  return { code: OPT_COMMENT, value: Buffer.from(text, 'utf8') };
}

class Writer {
  private readonly parts: Buffer[] = [];

  constructor(private readonly be: boolean) {}

  u16(v: number): this {
    const b = Buffer.alloc(2);
    if (this.be) b.writeUInt16BE(v);
    else b.writeUInt16LE(v);
    return this.push(b);
  }

  u32(v: number): this {
    const b = Buffer.alloc(4);
    if (this.be) b.writeUInt32BE(v >>> 0);
    else b.writeUInt32LE(v >>> 0);
    return this.push(b);
  }

  i64(v: bigint): this {
    const b = Buffer.alloc(8);
    if (this.be) b.writeBigInt64BE(v);
    else b.writeBigInt64LE(v);
    return this.push(b);
  }

  /** The bytes, then zeros up to a multiple of 4. */
  padded(data: Uint8Array): this {
    this.push(Buffer.from(data));
    return this.push(Buffer.alloc((ALIGNMENT - (data.length % ALIGNMENT)) % ALIGNMENT));
  }

  /** Each option (code, length, padded value), then opt_endofopt; nothing for no options. */
  options(options: readonly Option[]): this {
    if (options.length === 0) return this;
    for (const o of options) this.u16(o.code).u16(o.value.length).padded(o.value);
    return this.u16(OPT_ENDOFOPT).u16(0);
  }

  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }

  private push(b: Buffer): this {
    this.parts.push(b);
    return this;
  }
}
