/**
 * PcapFileReader on pcapng files: the fixtures editcap and mergecap made from the classic golden
 * captures give the same packets and timestamps as those; every truncation of a fixture; files of
 * random blocks (both byte orders, every timestamp resolution, sections, skipped blocks) give back
 * exactly the packets put in; each kind of bad block stops the read with its named status.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import {
  ErrorCode,
  LinkType,
  MAX_PCAPNG_BLOCK_LENGTH,
  MAX_PCAP_RECORD_BYTES,
  PcapFileReader,
  PcapFileSource,
  PcapReadStatus,
  isTcpcopyError,
} from '@tcpcopy/common';
import { writePcapng, type PcapngBlockToWrite } from '@tcpcopy/common/testing';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'fixtures');
const dir = mkdtempSync(join(tmpdir(), 'pcapng-reader-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface ReadPacket {
  data: Buffer;
  tsMicros: number;
  originalLength: number;
  linkType: number;
}

let fileCount = 0;
function tempFile(bytes: Buffer): string {
  const path = join(dir, `${++fileCount}.pcapng`);
  writeFileSync(path, bytes);
  return path;
}

function readAll(reader: PcapFileReader): { packets: ReadPacket[]; status: PcapReadStatus } {
  const packets: ReadPacket[] = [];
  for (;;) {
    const status = reader.next();
    if (status !== PcapReadStatus.Packet) {
      reader.close();
      return { packets, status };
    }
    const r = reader.record;
    packets.push({
      data: Buffer.from(reader.packet.subarray(0, r.capturedLength)),
      tsMicros: r.tsMicros,
      originalLength: r.originalLength,
      linkType: reader.linkType,
    });
  }
}

function readFile(path: string): { packets: ReadPacket[]; status: PcapReadStatus } {
  return readAll(new PcapFileReader(path));
}

function assertPcapError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => isTcpcopyError(err, ErrorCode.PCAP_FILE) && pattern.test(err.message));
}

function assertSamePackets(actual: readonly ReadPacket[], expected: readonly ReadPacket[], what: string): void {
  assert.equal(actual.length, expected.length, `${what}: packet count`);
  for (const [i, p] of actual.entries()) {
    const want = expected[i]!;
    assert.ok(p.data.equals(want.data), `${what}: packet ${i} bytes`);
    assert.equal(p.tsMicros, want.tsMicros, `${what}: packet ${i} timestamp`);
    assert.equal(p.originalLength, want.originalLength, `${what}: packet ${i} original length`);
    assert.equal(p.linkType, want.linkType, `${what}: packet ${i} link type`);
  }
}

describe('pcapng fixtures (editcap, mergecap) read as the classic captures they were made from', () => {
  const classic = (name: string): ReadPacket[] => {
    const { packets, status } = readFile(join(FIXTURES, name));
    assert.equal(status, PcapReadStatus.End);
    return packets;
  };

  for (const [pcapng, pcap] of [
    ['http-ethernet.pcapng', 'http-ethernet.pcap'],
    ['http-any-sll2.pcapng', 'http-any-sll2.pcap'],
    ['http-ethernet-nsec.pcapng', 'http-ethernet.pcap'],
  ] as const) {
    test(`${pcapng}: every packet as in ${pcap}, to the microsecond`, () => {
      const reader = new PcapFileReader(join(FIXTURES, pcapng));
      assert.equal(reader.header, undefined);
      const { packets, status } = readAll(reader);
      assert.equal(status, PcapReadStatus.End);
      assertSamePackets(packets, classic(pcap), pcapng);
    });
  }

  test('the nanosecond fixture really says 10^-9 s, and its times are 999 ns past the microsecond', () => {
    const bytes = readFileSync(join(FIXTURES, 'http-ethernet-nsec.pcapng'));
    // if_tsresol (9), length 1, value 9, in the first interface description.
    assert.ok(bytes.subarray(0, 256).includes(Buffer.from([9, 0, 1, 0, 9])), 'no if_tsresol 9');
    // The first EPB's timestamp, read here independently: nanoseconds, so floor(/1000) is the
    // classic capture's microseconds, and rounding instead of flooring would be 1 us off.
    const epb = bytes.indexOf(Buffer.from([6, 0, 0, 0]));
    const ns = (BigInt(bytes.readUInt32LE(epb + 12)) << 32n) | BigInt(bytes.readUInt32LE(epb + 16));
    assert.equal(ns % 1000n, 999n);
    assert.equal(Number(ns / 1000n), classic('http-ethernet.pcap')[0]!.tsMicros);
  });

  test('http-two-interfaces.pcapng (mergecap): each packet has its interface`s link type', () => {
    const { packets, status } = readFile(join(FIXTURES, 'http-two-interfaces.pcapng'));
    assert.equal(status, PcapReadStatus.End);
    const ethernet = packets.filter((p) => p.linkType === LinkType.Ethernet);
    const sll2 = packets.filter((p) => p.linkType === LinkType.LinuxSll2);
    assert.equal(ethernet.length + sll2.length, packets.length);
    assertSamePackets(ethernet, classic('http-ethernet.pcap'), 'Ethernet interface');
    assertSamePackets(sll2, classic('http-any-sll2.pcap'), 'SLL2 interface');
    // mergecap interleaves by time: both interfaces alternate, and time never goes back.
    assert.ok(packets.slice(0, 4).some((p) => p.linkType === LinkType.LinuxSll2));
    for (let i = 1; i < packets.length; i++) assert.ok(packets[i]!.tsMicros >= packets[i - 1]!.tsMicros);
  });

  test('cut at every byte: the packets before the cut, then End or TruncatedRecord; never a throw once open', () => {
    const file = readFileSync(join(FIXTURES, 'http-ethernet.pcapng'));
    const all = classic('http-ethernet.pcap');
    // The blocks, walked here independently (editcap wrote little-endian): where each ends.
    const blockEnds: number[] = [];
    const packetEnds: number[] = [];
    let firstInterfaceEnd = 0;
    for (let at = 0; at < file.length; at += file.readUInt32LE(at + 4)) {
      const type = file.readUInt32LE(at);
      const end = at + file.readUInt32LE(at + 4);
      blockEnds.push(end);
      if (type === 6) packetEnds.push(end);
      if (type === 1 && firstInterfaceEnd === 0) firstInterfaceEnd = end;
    }
    assert.equal(packetEnds.length, all.length);
    const path = join(dir, 'cut.pcapng');
    for (let cut = 0; cut <= file.length; cut++) {
      writeFileSync(path, file.subarray(0, cut));
      if (cut < firstInterfaceEnd) {
        assertPcapError(() => new PcapFileReader(path), /shorter than a pcap header|interface description/);
        continue;
      }
      const { packets, status } = readFile(path);
      const whole = packetEnds.filter((end) => end <= cut).length;
      assert.equal(packets.length, whole, `cut ${cut}`);
      assertSamePackets(packets, all.slice(0, whole), `cut ${cut}`);
      const expected = blockEnds.includes(cut) ? PcapReadStatus.End : PcapReadStatus.TruncatedRecord;
      assert.equal(status, expected, `cut ${cut}`);
    }
  });
});

const SUPPORTED_LINK_TYPES = Object.values(LinkType);
/** LINKTYPE_USER0: a link type we do not decode. */
const UNSUPPORTED_LINK_TYPE = 147;
const KNOWN_BLOCK_TYPES = new Set([0x0a0d0d0a, 1, 3, 6]);
const MICROS_PER_SECOND = 1_000_000n;

interface InterfacePlan {
  linkType: number;
  snapLength: number;
  tsresol: number | undefined;
  tsoffsetSeconds: bigint | undefined;
  comment: string | undefined;
}

type StepPlan =
  | { kind: 'interface'; iface: InterfacePlan }
  | { kind: 'enhanced'; pick: number; timestamp: bigint; data: Uint8Array; extra: number; comment: string | undefined }
  | { kind: 'simple'; data: Uint8Array; extra: number }
  | { kind: 'other'; blockType: number; body: Uint8Array };

interface SectionPlan {
  bigEndian: boolean;
  first: InterfacePlan;
  steps: StepPlan[];
}

const arbInterface: fc.Arbitrary<InterfacePlan> = fc.record({
  linkType: fc.constantFrom(...SUPPORTED_LINK_TYPES),
  snapLength: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 400 })),
  tsresol: fc.option(
    fc.oneof(
      fc.integer({ min: 0, max: 19 }),
      fc.integer({ min: 0, max: 63 }).map((n) => n | 0x80),
    ),
    { nil: undefined },
  ),
  tsoffsetSeconds: fc.option(fc.bigInt({ min: -(2n ** 30n), max: 2n ** 30n }), { nil: undefined }),
  comment: fc.option(fc.string({ maxLength: 12 }), { nil: undefined }),
});

const arbStep: fc.Arbitrary<StepPlan> = fc.oneof(
  fc.record({ kind: fc.constant('interface' as const), iface: arbInterface }),
  fc.record({
    kind: fc.constant('enhanced' as const),
    pick: fc.nat(),
    timestamp: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    data: fc.uint8Array({ maxLength: 300 }),
    extra: fc.oneof(fc.constant(0), fc.nat(1500)),
    comment: fc.option(fc.string({ maxLength: 12 }), { nil: undefined }),
  }),
  fc.record({ kind: fc.constant('simple' as const), data: fc.uint8Array({ maxLength: 300 }), extra: fc.nat(600) }),
  fc.record({
    kind: fc.constant('other' as const),
    blockType: fc.nat({ max: 0xffffffff }).filter((t) => !KNOWN_BLOCK_TYPES.has(t)),
    body: fc.uint8Array({ maxLength: 80 }),
  }),
);

const arbSections = fc.array(
  fc.record({ bigEndian: fc.boolean(), first: arbInterface, steps: fc.array(arbStep, { maxLength: 16 }) }),
  { minLength: 1, maxLength: 3 },
);

/** Units per second of an if_tsresol byte (absent: microseconds). */
function unitsPerSecond(tsresol: number | undefined): bigint {
  if (tsresol === undefined) return MICROS_PER_SECOND;
  return tsresol & 0x80 ? 2n ** BigInt(tsresol & 0x7f) : 10n ** BigInt(tsresol);
}

/** The blocks of a plan and the packets a reader must return, computed with BigInts. Timestamps
 *  are kept to what stays below 2^52 us, where a double holds every microsecond. */
function materialize(sections: readonly SectionPlan[]): { blocks: PcapngBlockToWrite[]; packets: ReadPacket[] } {
  const blocks: PcapngBlockToWrite[] = [];
  const packets: ReadPacket[] = [];
  let lastMicros = 0;
  for (const section of sections) {
    blocks.push({ kind: 'section', bigEndian: section.bigEndian });
    const interfaces: InterfacePlan[] = [];
    for (const step of [{ kind: 'interface', iface: section.first } as const, ...section.steps]) {
      switch (step.kind) {
        case 'interface':
          interfaces.push(step.iface);
          blocks.push({ kind: 'interface', ...step.iface });
          break;
        case 'enhanced': {
          const interfaceId = step.pick % interfaces.length;
          const iface = interfaces[interfaceId]!;
          const units = unitsPerSecond(iface.tsresol);
          const limit = (2n ** 52n * units) / MICROS_PER_SECOND;
          const timestamp = step.timestamp % (limit < 2n ** 64n ? limit : 2n ** 64n);
          const micros = (timestamp * MICROS_PER_SECOND) / units + (iface.tsoffsetSeconds ?? 0n) * MICROS_PER_SECOND;
          lastMicros = Number(micros);
          const originalLength = step.data.length + step.extra;
          blocks.push({
            kind: 'enhanced',
            interfaceId,
            timestamp,
            data: step.data,
            originalLength,
            comment: step.comment,
          });
          packets.push({
            data: Buffer.from(step.data),
            tsMicros: lastMicros,
            originalLength,
            linkType: iface.linkType,
          });
          break;
        }
        case 'simple': {
          const iface = interfaces[0]!;
          const originalLength = step.data.length + step.extra;
          const captured = iface.snapLength === 0 ? originalLength : Math.min(originalLength, iface.snapLength);
          const data = Buffer.alloc(captured);
          data.set(step.data.subarray(0, captured));
          blocks.push({ kind: 'simple', originalLength, data });
          packets.push({ data, tsMicros: lastMicros, originalLength, linkType: iface.linkType });
          break;
        }
        case 'other':
          blocks.push({ kind: 'other', blockType: step.blockType, body: step.body });
          break;
      }
    }
  }
  return { blocks, packets };
}

describe('pcapng files built here', () => {
  test('random sections and blocks: exactly the packets put in, with their times and link types (property)', () => {
    fc.assert(
      fc.property(arbSections, (sections) => {
        const { blocks, packets } = materialize(sections);
        const { packets: read, status } = readFile(tempFile(writePcapng(blocks)));
        assert.equal(status, PcapReadStatus.End);
        assertSamePackets(read, packets, 'random file');
      }),
      { numRuns: 300 },
    );
  });

  test('any byte changed or file cut anywhere: a named status, never a throw once open, never a hang (property)', () => {
    const named = new Set<number>(Object.values(PcapReadStatus));
    fc.assert(
      fc.property(arbSections, fc.nat(), fc.nat(255), fc.boolean(), (sections, where, value, cut) => {
        const file = writePcapng(materialize(sections).blocks);
        const at = where % file.length;
        const bad = cut ? file.subarray(0, at) : Buffer.from(file);
        if (!cut) bad[at] = value;
        let reader: PcapFileReader;
        try {
          reader = new PcapFileReader(tempFile(bad));
        } catch (err) {
          assert.ok(isTcpcopyError(err, ErrorCode.PCAP_FILE), String(err));
          return;
        }
        const { status } = readAll(reader);
        assert.ok(named.has(status) && status !== PcapReadStatus.Packet, `status ${status}`);
      }),
      { numRuns: 300 },
    );
  });
});

/** A section (little-endian unless said) with one Ethernet interface, then `rest`. */
function file(rest: readonly PcapngBlockToWrite[], bigEndian = false): Buffer {
  return writePcapng([{ kind: 'section', bigEndian }, { kind: 'interface', linkType: LinkType.Ethernet }, ...rest]);
}

function packet(fill: number, length = 60): PcapngBlockToWrite {
  return {
    kind: 'enhanced',
    interfaceId: 0,
    timestamp: 1_700_000_000_000_000n + BigInt(fill),
    data: Buffer.alloc(length, fill),
  };
}

/** Reads `bytes`; returns how many packets came before the status, and the status asked twice. */
function outcome(bytes: Buffer): { packets: number; status: PcapReadStatus } {
  const reader = new PcapFileReader(tempFile(bytes));
  let packets = 0;
  let status: PcapReadStatus;
  while ((status = reader.next()) === PcapReadStatus.Packet) packets++;
  assert.equal(reader.next(), status, 'asked again, the reader answers the same');
  reader.close();
  return { packets, status };
}

/** Offset of the n-th block (0: the section header) of a little-endian file. */
function blockAt(bytes: Buffer, n: number): number {
  let at = 0;
  for (let i = 0; i < n; i++) at += bytes.readUInt32LE(at + 4);
  return at;
}

describe('pcapng: bad blocks stop the read with a named status', () => {
  const good = [packet(1), packet(2)];

  test('a block length below 12, or not a multiple of 4: BadRecordLength', () => {
    for (const length of [0, 8, 62]) {
      const bytes = file([...good, packet(3)]);
      bytes.writeUInt32LE(length, blockAt(bytes, 4) + 4);
      assert.deepEqual(outcome(bytes), { packets: 2, status: PcapReadStatus.BadRecordLength }, `length ${length}`);
    }
  });

  test('a block longer than libpcap reads: BadRecordLength; the longest is skipped', () => {
    const longest = { kind: 'other', blockType: 0x0bad, body: Buffer.alloc(MAX_PCAPNG_BLOCK_LENGTH - 12) } as const;
    assert.deepEqual(outcome(file([packet(1), longest, packet(2)])), { packets: 2, status: PcapReadStatus.End });
    const tooLong = { ...longest, body: Buffer.alloc(MAX_PCAPNG_BLOCK_LENGTH - 8) };
    assert.deepEqual(outcome(file([packet(1), tooLong, packet(2)])), {
      packets: 1,
      status: PcapReadStatus.BadRecordLength,
    });
  });

  test('a trailing length that is not the leading one: LengthMismatch', () => {
    const bytes = file([...good, packet(3)]);
    const third = blockAt(bytes, 4);
    bytes.writeUInt32LE(bytes.readUInt32LE(third + 4) + 4, blockAt(bytes, 5) - 4);
    assert.deepEqual(outcome(bytes), { packets: 2, status: PcapReadStatus.LengthMismatch });
  });

  test('a packet on an interface the section never described: UnknownInterface', () => {
    assert.deepEqual(outcome(file([...good, { ...packet(3), interfaceId: 1 } as PcapngBlockToWrite])), {
      packets: 2,
      status: PcapReadStatus.UnknownInterface,
    });
    // A new section forgets the interfaces of the one before.
    const spbInNewSection = file([
      ...good,
      { kind: 'section', bigEndian: true },
      { kind: 'simple', originalLength: 4, data: Buffer.alloc(4) },
    ]);
    assert.deepEqual(outcome(spbInNewSection), { packets: 2, status: PcapReadStatus.UnknownInterface });
  });

  test('a packet on an interface of a link type we do not decode: UnsupportedLinkType', () => {
    const bytes = file([
      ...good,
      { kind: 'interface', linkType: UNSUPPORTED_LINK_TYPE },
      { ...packet(3), interfaceId: 0 } as PcapngBlockToWrite,
      { ...packet(4), interfaceId: 1 } as PcapngBlockToWrite,
    ]);
    assert.deepEqual(outcome(bytes), { packets: 3, status: PcapReadStatus.UnsupportedLinkType });
  });

  test('a packet longer than its block, or than any capture: BadBlock, BadRecordLength', () => {
    const bytes = file([...good, packet(3, 61)]);
    bytes.writeUInt32LE(65, blockAt(bytes, 4) + 20);
    assert.deepEqual(outcome(bytes), { packets: 2, status: PcapReadStatus.BadBlock });
    const huge = file([...good, packet(3, MAX_PCAP_RECORD_BYTES + 1)]);
    assert.deepEqual(outcome(huge), { packets: 2, status: PcapReadStatus.BadRecordLength });
    const largest = file([...good, packet(3, MAX_PCAP_RECORD_BYTES)]);
    assert.deepEqual(outcome(largest), { packets: 3, status: PcapReadStatus.End });
  });

  test('interface options that run past the block, or an if_tsresol finer than libpcap reads: BadBlock', () => {
    for (const tsresol of [20, 0x80 | 64]) {
      const bytes = file([...good, { kind: 'interface', linkType: LinkType.Raw, tsresol }, packet(3)]);
      assert.deepEqual(outcome(bytes), { packets: 2, status: PcapReadStatus.BadBlock }, `tsresol ${tsresol}`);
    }
    const bytes = file([...good, { kind: 'interface', linkType: LinkType.Raw, comment: 'eth1' }, packet(3)]);
    bytes.writeUInt16LE(200, blockAt(bytes, 4) + 18);
    assert.deepEqual(outcome(bytes), { packets: 2, status: PcapReadStatus.BadBlock });
  });

  test('a later section of an unknown byte-order magic: BadRecordLength', () => {
    const badMagic = file([...good, { kind: 'section', bigEndian: false }, packet(3)]);
    badMagic.writeUInt32LE(0x12345678, blockAt(badMagic, 4) + 8);
    assert.deepEqual(outcome(badMagic), { packets: 2, status: PcapReadStatus.BadRecordLength });
  });

  test('refused at open with PCAP_FILE, as libpcap refuses them', () => {
    const open = (bytes: Buffer) => () => new PcapFileReader(tempFile(bytes));
    assertPcapError(open(writePcapng([{ kind: 'section', bigEndian: false }])), /no interface description block/);
    assertPcapError(
      open(writePcapng([{ kind: 'section', bigEndian: true }, packet(1)])),
      /a packet before any interface description block/,
    );
    assertPcapError(
      open(
        writePcapng([
          { kind: 'section', bigEndian: false },
          { kind: 'interface', linkType: UNSUPPORTED_LINK_TYPE },
        ]),
      ),
      /link type 147 is not supported/,
    );
    assertPcapError(
      open(
        writePcapng([
          { kind: 'section', bigEndian: false, majorVersion: 2 },
          { kind: 'interface', linkType: 1 },
        ]),
      ),
      /no interface description block/,
    );
    const shortSection = file([packet(1)]);
    shortSection.writeUInt32LE(24, 4);
    shortSection.writeUInt32LE(24, 20);
    assertPcapError(open(shortSection), /malformed pcapng block/);
    const badMagic = file([packet(1)]);
    badMagic.writeUInt32LE(0, 8);
    assertPcapError(open(badMagic), /neither a pcap nor a pcapng file/);
  });
});

describe('pcapng: what the draft leaves to the reader', () => {
  test('sections in both byte orders, each with its own interfaces; blocks of other types skipped', () => {
    const bytes = writePcapng([
      { kind: 'section', bigEndian: true },
      { kind: 'other', blockType: 4, body: Buffer.from('name resolution') },
      { kind: 'interface', linkType: LinkType.LinuxSll },
      packet(1),
      { kind: 'section', bigEndian: false },
      { kind: 'interface', linkType: LinkType.Ipv4 },
      { kind: 'interface', linkType: LinkType.Raw },
      { ...packet(2), interfaceId: 1 } as PcapngBlockToWrite,
      { kind: 'other', blockType: 5, body: Buffer.alloc(24) },
      packet(3),
    ]);
    const { packets, status } = readFile(tempFile(bytes));
    assert.equal(status, PcapReadStatus.End);
    assert.deepEqual(
      packets.map((p) => [p.data[0], p.linkType]),
      [
        [1, LinkType.LinuxSll],
        [2, LinkType.Raw],
        [3, LinkType.Ipv4],
      ],
    );
  });

  test('a section of another major version is skipped whole, up to the next section', () => {
    const bytes = writePcapng([
      { kind: 'section', bigEndian: false, majorVersion: 2 },
      { kind: 'other', blockType: 0x0bad, body: Buffer.alloc(8) },
      { kind: 'section', bigEndian: true },
      { kind: 'interface', linkType: LinkType.Ethernet },
      packet(1),
      { kind: 'section', bigEndian: false, majorVersion: 2 },
      { kind: 'interface', linkType: UNSUPPORTED_LINK_TYPE },
      { ...packet(2), interfaceId: 7 } as PcapngBlockToWrite,
      { kind: 'section', bigEndian: false },
      { kind: 'interface', linkType: LinkType.Raw },
      packet(3),
    ]);
    const { packets, status } = readFile(tempFile(bytes));
    assert.equal(status, PcapReadStatus.End);
    assert.deepEqual(
      packets.map((p) => [p.data[0], p.linkType]),
      [
        [1, LinkType.Ethernet],
        [3, LinkType.Raw],
      ],
    );
  });

  test('if_tsresol in both forms and if_tsoffset give microseconds since the epoch', () => {
    const cases: { tsresol: number | undefined; timestamp: bigint; offset?: bigint; micros: number }[] = [
      { tsresol: undefined, timestamp: 1_700_000_000_123_456n, micros: 1_700_000_000_123_456 },
      { tsresol: 9, timestamp: 1_700_000_000_123_456_789n, micros: 1_700_000_000_123_456 },
      { tsresol: 3, timestamp: 1_700_000_000_123n, micros: 1_700_000_000_123_000 },
      { tsresol: 0x80 | 20, timestamp: (1_700_000_000n << 20n) + (1n << 19n), micros: 1_700_000_000_500_000 },
      { tsresol: 0x80 | 32, timestamp: (1_700_000_000n << 32n) + (3n << 30n), micros: 1_700_000_000_750_000 },
      { tsresol: 6, timestamp: 123_456n, offset: 1_700_000_000n, micros: 1_700_000_000_123_456 },
      { tsresol: 19, timestamp: 10n ** 19n - 1n, offset: -1n, micros: -1 },
    ];
    for (const c of cases) {
      const bytes = writePcapng([
        { kind: 'section', bigEndian: false },
        { kind: 'interface', linkType: LinkType.Ethernet, tsresol: c.tsresol, tsoffsetSeconds: c.offset },
        { kind: 'enhanced', interfaceId: 0, timestamp: c.timestamp, data: Buffer.alloc(14) },
      ]);
      assert.equal(readFile(tempFile(bytes)).packets[0]?.tsMicros, c.micros, `tsresol ${c.tsresol}`);
    }
  });

  test('a simple packet block: the first interface`s, min(original length, snapshot length) bytes, the time before it', () => {
    const bytes = writePcapng([
      { kind: 'section', bigEndian: true },
      { kind: 'interface', linkType: LinkType.Raw, snapLength: 40 },
      { kind: 'interface', linkType: LinkType.Ethernet },
      { kind: 'simple', originalLength: 30, data: Buffer.alloc(30, 1) },
      { ...packet(2), interfaceId: 1 } as PcapngBlockToWrite,
      { kind: 'simple', originalLength: 1500, data: Buffer.alloc(40, 3) },
    ]);
    const { packets, status } = readFile(tempFile(bytes));
    assert.equal(status, PcapReadStatus.End);
    assert.deepEqual(
      packets.map((p) => [p.data.length, p.data[0], p.originalLength, p.linkType, p.tsMicros]),
      [
        [30, 1, 30, LinkType.Raw, 0],
        [60, 2, 60, LinkType.Ethernet, 1_700_000_000_000_002],
        [40, 3, 1500, LinkType.Raw, 1_700_000_000_000_002],
      ],
    );
  });

  test('files larger than the read chunk: blocks straddling chunk boundaries, up to the largest packet', () => {
    const sizes = Array.from({ length: 60 }, (_, i) =>
      i === 12 ? MAX_PCAP_RECORD_BYTES : 1000 + ((i * 4099) % 90_000),
    );
    const bytes = file(sizes.map((size, i) => packet(i, size)));
    assert.ok(bytes.length > 2 * MAX_PCAPNG_BLOCK_LENGTH);
    const { packets, status } = readFile(tempFile(bytes));
    assert.equal(status, PcapReadStatus.End);
    assert.deepEqual(
      packets.map((p) => [p.data.length, p.data[0]]),
      sizes.map((size, i) => [size, i]),
    );
  });

  test('PcapFileSource pushes each packet with its interface`s link type', async () => {
    const bytes = writePcapng([
      { kind: 'section', bigEndian: false },
      { kind: 'interface', linkType: LinkType.LinuxSll2 },
      { kind: 'interface', linkType: LinkType.Ethernet },
      ...Array.from({ length: 300 }, (_, i) => ({ ...packet(i & 0xff), interfaceId: i % 2 }) as PcapngBlockToWrite),
    ]);
    const source = new PcapFileSource(tempFile(bytes));
    const seen: number[] = [];
    source.start((_buf, _offset, _length, linkType) => seen.push(linkType));
    assert.equal(await source.done, PcapReadStatus.End);
    assert.deepEqual(
      seen,
      Array.from({ length: 300 }, (_, i) => (i % 2 === 0 ? LinkType.LinuxSll2 : LinkType.Ethernet)),
    );
  });
});
