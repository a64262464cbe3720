/** Loads the tcpdump-written captures under test/fixtures (real kernel packets, offloads off). */
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { PcapFileReader, PcapReadStatus } from '@tcpcopy/common';

/** test/fixtures, seen from test/dist/unit/packet. */
export const FIXTURES_DIR = fileURLToPath(new URL('../../../fixtures/', import.meta.url));

export interface CapturedFrame {
  /** A copy: the reader reuses its buffer. */
  data: Buffer;
  originalLength: number;
}

export interface Fixture {
  name: string;
  linkType: number;
  records: CapturedFrame[];
}

export function loadFixtures(): Fixture[] {
  if (!existsSync(FIXTURES_DIR)) return [];
  return readdirSync(FIXTURES_DIR)
    .filter((f) => f.endsWith('.pcap'))
    .sort()
    .map((name) => {
      const reader = new PcapFileReader(path.join(FIXTURES_DIR, name));
      const records: CapturedFrame[] = [];
      let status: PcapReadStatus;
      while ((status = reader.next()) === PcapReadStatus.Packet) {
        records.push({ data: Buffer.from(reader.packet.subarray(0, reader.record.capturedLength)), originalLength: reader.record.originalLength });
      }
      reader.close();
      if (status !== PcapReadStatus.End) throw new Error(`${name}: pcap read stopped with status ${status}`);
      return { name, linkType: reader.linkType, records };
    });
}
