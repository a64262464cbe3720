/**
 * PcapFileReader and PcapFileSource: the golden captures, both byte orders and timestamp
 * resolutions, files larger than the read chunk, every truncation, and corrupt headers.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ErrorCode,
  LinkType,
  MAX_PCAP_RECORD_BYTES,
  PcapFileReader,
  PcapFileSource,
  PcapReadStatus,
  isTcpcopyError,
} from '@tcpcopy/common';
import { writePcap } from '@tcpcopy/common/testing';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'fixtures');
const dir = mkdtempSync(join(tmpdir(), 'pcap-reader-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface TestRecord {
  data: Buffer;
  seconds: number;
  fraction: number;
  originalLength: number;
}

let fileCount = 0;
function tempPcap(bytes: Buffer): string {
  const path = join(dir, `${++fileCount}.pcap`);
  writeFileSync(path, bytes);
  return path;
}

function records(n: number, size: (i: number) => number): TestRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    data: Buffer.alloc(size(i), i & 0xff),
    seconds: 1_700_000_000 + i,
    fraction: (i * 7919) % 1_000_000,
    originalLength: size(i) + (i % 3 === 0 ? 10 : 0),
  }));
}

/** Reads until the reader stops; returns the packets read and the final status. */
function readAll(reader: PcapFileReader): {
  packets: { data: Buffer; tsMicros: number; originalLength: number }[];
  status: PcapReadStatus;
} {
  const packets = [];
  for (;;) {
    const status = reader.next();
    if (status !== PcapReadStatus.Packet) return { packets, status };
    const r = reader.record;
    packets.push({
      data: Buffer.from(reader.packet.subarray(0, r.capturedLength)),
      tsMicros: r.tsMicros,
      originalLength: r.originalLength,
    });
  }
}

function assertPcapError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => isTcpcopyError(err, ErrorCode.PCAP_FILE) && pattern.test(err.message));
}

describe('PcapFileReader', () => {
  for (const name of ['http-ethernet', 'http-any-sll2']) {
    test(`reads the golden capture ${name} as tcpdump does`, () => {
      const expected = JSON.parse(readFileSync(join(FIXTURES, `${name}.json`), 'utf8')) as {
        linkType: number;
        packetCount: number;
        packets: { timestamp: string; frameLength: number }[];
      };
      const reader = new PcapFileReader(join(FIXTURES, `${name}.pcap`));
      assert.equal(reader.linkType, expected.linkType);
      const { packets, status } = readAll(reader);
      reader.close();
      assert.equal(status, PcapReadStatus.End);
      assert.equal(packets.length, expected.packetCount);
      for (const [i, p] of packets.entries()) {
        const want = expected.packets[i]!;
        const [sec, usec] = want.timestamp.split('.') as [string, string];
        assert.equal(p.tsMicros, Number(sec) * 1e6 + Number(usec), `packet ${i} timestamp`);
        assert.equal(p.data.length, want.frameLength, `packet ${i} length`);
        assert.equal(p.originalLength, want.frameLength);
      }
    });
  }

  for (const bigEndian of [false, true]) {
    for (const nanoseconds of [false, true]) {
      test(`${bigEndian ? 'big' : 'little'}-endian, ${nanoseconds ? 'nano' : 'micro'}second files`, () => {
        const recs = records(5, (i) => 60 + i);
        const path = tempPcap(writePcap(LinkType.Ethernet, recs, { bigEndian, nanoseconds }));
        const reader = new PcapFileReader(path);
        assert.equal(reader.header?.bigEndian, bigEndian);
        assert.equal(reader.header?.nanoseconds, nanoseconds);
        const { packets, status } = readAll(reader);
        assert.equal(status, PcapReadStatus.End);
        assert.deepEqual(
          packets.map((p) => p.tsMicros),
          recs.map((r) => r.seconds * 1e6 + (nanoseconds ? Math.floor(r.fraction / 1000) : r.fraction)),
        );
        assert.deepEqual(
          packets.map((p) => p.data),
          recs.map((r) => r.data),
        );
        assert.deepEqual(
          packets.map((p) => p.originalLength),
          recs.map((r) => r.originalLength),
        );
      });
    }
  }

  test('files larger than the read chunk: records straddling chunk boundaries, up to the maximum size', () => {
    const recs = records(40, (i) => (i === 20 ? MAX_PCAP_RECORD_BYTES : 1000 + ((i * 4099) % 60_000)));
    const path = tempPcap(writePcap(LinkType.Raw, recs));
    const { packets, status } = readAll(new PcapFileReader(path));
    assert.equal(status, PcapReadStatus.End);
    assert.equal(packets.length, recs.length);
    for (const [i, p] of packets.entries()) assert.ok(p.data.equals(recs[i]!.data), `record ${i}`);
  });

  test('cut at every byte: the whole records before the cut, then TruncatedRecord or End; never a throw', () => {
    const recs = records(3, (i) => 20 + i * 5);
    const file = writePcap(LinkType.Ethernet, recs);
    const boundaries = new Set<number>();
    let at = 24;
    for (const r of recs) boundaries.add((at += 16 + r.data.length));
    for (let cut = 0; cut <= file.length; cut++) {
      const path = tempPcap(file.subarray(0, cut));
      if (cut < 24) {
        assertPcapError(() => new PcapFileReader(path), /shorter than a pcap header/);
        continue;
      }
      const { packets, status } = readAll(new PcapFileReader(path));
      const whole = [...boundaries].filter((b) => b <= cut).length;
      assert.equal(packets.length, whole, `cut ${cut}`);
      assert.equal(
        status,
        cut === 24 || boundaries.has(cut) ? PcapReadStatus.End : PcapReadStatus.TruncatedRecord,
        `cut ${cut}`,
      );
    }
  });

  test('rejects unknown magic, unsupported link types and missing files with PCAP_FILE', () => {
    const text = Buffer.from('neither pcap nor pcapng, just text\n');
    assertPcapError(() => new PcapFileReader(tempPcap(text)), /neither a pcap nor a pcapng file/);
    const user0 = writePcap(
      147,
      records(1, () => 10),
    );
    assertPcapError(() => new PcapFileReader(tempPcap(user0)), /link type 147/);
    assertPcapError(() => new PcapFileReader(join(dir, 'missing.pcap')), /cannot open/);
  });

  test('a record longer than any capture stops the read as corrupt', () => {
    const file = writePcap(
      LinkType.Ethernet,
      records(2, () => 30),
    );
    file.writeUInt32LE(MAX_PCAP_RECORD_BYTES + 1, 24 + 16 + 30 + 8);
    const { packets, status } = readAll(new PcapFileReader(tempPcap(file)));
    assert.equal(packets.length, 1);
    assert.equal(status, PcapReadStatus.BadRecordLength);
  });
});

describe('PcapFileSource', () => {
  test('pushes every record with its link type and timestamp, then resolves done', async () => {
    const recs = records(600, (i) => 40 + (i % 50));
    const source = new PcapFileSource(tempPcap(writePcap(LinkType.LinuxSll2, recs)));
    const seen: { first: number; length: number; linkType: number; ts: number | undefined }[] = [];
    source.start((buf, offset, length, linkType, ts) => seen.push({ first: buf[offset]!, length, linkType, ts }));
    assert.equal(await source.done, PcapReadStatus.End);
    assert.equal(seen.length, recs.length);
    for (const [i, s] of seen.entries()) {
      assert.deepEqual(s, {
        first: i & 0xff,
        length: recs[i]!.data.length,
        linkType: LinkType.LinuxSll2,
        ts: recs[i]!.seconds * 1e6 + recs[i]!.fraction,
      });
    }
    // records() marks every third record as cut by the snapshot length.
    assert.deepEqual(source.stats(), { received: 600, truncated: 200 });
  });

  test('stop() from inside the handler delivers nothing more', async () => {
    const source = new PcapFileSource(
      tempPcap(
        writePcap(
          LinkType.Ethernet,
          records(50, () => 40),
        ),
      ),
    );
    let n = 0;
    source.start(() => {
      if (++n === 10) source.stop();
    });
    assert.equal(await source.done, PcapReadStatus.End);
    assert.equal(n, 10);
  });

  test('start() throws at once for an unusable file', () => {
    const source = new PcapFileSource(join(dir, 'missing.pcap'));
    assertPcapError(() => source.start(() => undefined), /cannot open/);
  });
});
