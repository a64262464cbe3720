/** fast-check arbitraries for packet fields and options shared by the packet tests. */
import fc from 'fast-check';
import {
  TcpOptionKind,
  tcpOptionsLength,
  TCP_MAX_OPTIONS_LENGTH,
  type TcpOptionsSpec,
  type TcpPacketFields,
} from '@tcpcopy/common';

export const arbU32 = fc.nat({ max: 0xffffffff });
export const arbU16 = fc.nat({ max: 0xffff });
export const arbU8 = fc.nat({ max: 0xff });

const KNOWN_KINDS: ReadonlySet<number> = new Set<number>(Object.values(TcpOptionKind));

/** A kind this decoder keeps opaque. */
export const arbUnknownKind = fc.integer({ min: 6, max: 255 }).filter((k) => !KNOWN_KINDS.has(k));

/** One well-formed option of an unknown kind: kind, length (>= 2), data. */
export const arbUnknownOption = fc
  .tuple(arbUnknownKind, fc.uint8Array({ maxLength: 8 }))
  .map(([kind, data]) => Buffer.concat([Buffer.from([kind, data.length + 2]), data]));

const arbSackBlock = fc.tuple(arbU32, arbU32).map(([l, r]) => [l, r] as const);

/** An options spec that fits in the 40 bytes of option space. */
export const arbOptionsSpec: fc.Arbitrary<TcpOptionsSpec> = fc
  .record(
    {
      mss: arbU16,
      windowScale: arbU8,
      sackPermitted: fc.boolean(),
      sack: fc.array(arbSackBlock, { minLength: 1, maxLength: 4 }),
      timestamps: fc.record({ val: arbU32, ecr: arbU32 }),
      raw: fc.array(arbUnknownOption, { maxLength: 3 }).map((parts) => Buffer.concat(parts)),
    },
    { requiredKeys: [] },
  )
  .filter((o) => tcpOptionsLength(o) <= TCP_MAX_OPTIONS_LENGTH);

export const arbPayload = fc.oneof(
  { weight: 4, arbitrary: fc.uint8Array({ maxLength: 64 }) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1000, maxLength: 1460 }) },
);

/** IP options: any bytes (the writer zero-pads to 4), at most 40. */
export const arbIpOptions = fc.uint8Array({ minLength: 1, maxLength: 40 });

export const arbTcpPacketFields: fc.Arbitrary<TcpPacketFields> = fc.record(
  {
    src: arbU32,
    dst: arbU32,
    srcPort: arbU16,
    dstPort: arbU16,
    seq: arbU32,
    ack: arbU32,
    flags: arbU8,
    window: arbU16,
    urgent: arbU16,
    options: arbOptionsSpec,
    payload: arbPayload,
    ipId: arbU16,
    ttl: arbU8,
    tos: arbU8,
    df: fc.boolean(),
    ipOptions: arbIpOptions,
  },
  { requiredKeys: ['src', 'dst', 'srcPort', 'dstPort', 'seq', 'ack', 'flags', 'window'] },
);

/**
 * One option as an independent encoder (not the production one) lays it out, in any order and
 * alignment: the oracle for decoder properties, including options at odd offsets.
 */
export type OptionItem =
  | { kind: 'nop' }
  | { kind: 'mss'; value: number }
  | { kind: 'ws'; value: number }
  | { kind: 'sackPermitted' }
  | { kind: 'sack'; edges: number[] }
  | { kind: 'ts'; val: number; ecr: number }
  | { kind: 'unknown'; bytes: Buffer };

export const arbOptionItem: fc.Arbitrary<OptionItem> = fc.oneof(
  fc.constant({ kind: 'nop' as const }),
  arbU16.map((value) => ({ kind: 'mss' as const, value })),
  arbU8.map((value) => ({ kind: 'ws' as const, value })),
  fc.constant({ kind: 'sackPermitted' as const }),
  fc
    .array(arbU32, { minLength: 2, maxLength: 8 })
    .map((e) => ({ kind: 'sack' as const, edges: e.slice(0, e.length & ~1) })),
  fc.tuple(arbU32, arbU32).map(([val, ecr]) => ({ kind: 'ts' as const, val, ecr })),
  arbUnknownOption.map((bytes) => ({ kind: 'unknown' as const, bytes })),
);

export function encodeOptionItem(item: OptionItem): Buffer {
  switch (item.kind) {
    case 'nop':
      return Buffer.from([1]);
    case 'mss': {
      const b = Buffer.from([2, 4, 0, 0]);
      b.writeUInt16BE(item.value, 2);
      return b;
    }
    case 'ws':
      return Buffer.from([3, 3, item.value]);
    case 'sackPermitted':
      return Buffer.from([4, 2]);
    case 'sack': {
      const b = Buffer.alloc(2 + item.edges.length * 4);
      b[0] = 5;
      b[1] = b.length;
      item.edges.forEach((e, i) => b.writeUInt32BE(e, 2 + i * 4));
      return b;
    }
    case 'ts': {
      const b = Buffer.from([8, 10, 0, 0, 0, 0, 0, 0, 0, 0]);
      b.writeUInt32BE(item.val, 2);
      b.writeUInt32BE(item.ecr, 6);
      return b;
    }
    case 'unknown':
      return item.bytes;
  }
}

/** An option list whose encoding (zero-padded to 4) fits in 40 bytes. */
export const arbOptionItems = fc
  .array(arbOptionItem, { maxLength: 10 })
  .filter((items) => items.reduce((n, it) => n + encodeOptionItem(it).length, 0) <= TCP_MAX_OPTIONS_LENGTH);

export function encodeOptionItems(items: readonly OptionItem[]): Buffer {
  const raw = Buffer.concat(items.map(encodeOptionItem));
  return Buffer.concat([raw, Buffer.alloc(((raw.length + 3) & ~3) - raw.length)]);
}

/** What a decoder should report for an option list: the last occurrence of each option wins. */
export interface ExpectedOptions {
  mss: number;
  windowScale: number;
  sackPermitted: boolean;
  timestamps: { val: number; ecr: number; offset: number } | undefined;
  sackEdges: number[];
  unknownCount: number;
}

export function expectedOptions(items: readonly OptionItem[]): ExpectedOptions {
  const e: ExpectedOptions = {
    mss: -1,
    windowScale: -1,
    sackPermitted: false,
    timestamps: undefined,
    sackEdges: [],
    unknownCount: 0,
  };
  let at = 0;
  for (const it of items) {
    if (it.kind === 'mss') e.mss = it.value;
    else if (it.kind === 'ws') e.windowScale = it.value;
    else if (it.kind === 'sackPermitted') e.sackPermitted = true;
    else if (it.kind === 'sack') e.sackEdges = it.edges;
    else if (it.kind === 'ts') e.timestamps = { val: it.val, ecr: it.ecr, offset: at + 2 };
    else if (it.kind === 'unknown') e.unknownCount++;
    at += encodeOptionItem(it).length;
  }
  return e;
}
