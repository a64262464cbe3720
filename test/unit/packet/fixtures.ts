/**
 * Loads the tcpdump-written captures under test/fixtures: the golden ones (real kernel packets,
 * offloads off) and the offload capture (TSO super-segments with unfinished checksums).
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { PcapFileReader, PcapReadStatus } from '@tcpcopy/common';
import type { FixturePacket } from '../../fixtures/tcpdump-text.js';

/** test/fixtures, seen from test/dist/unit/packet. */
export const FIXTURES_DIR = fileURLToPath(new URL('../../../fixtures/', import.meta.url));

/** Captures made with offloads on (make-fixtures `offloads`): their checksums are unfinished on
 *  purpose and their packets exceed the MTU, so they are no golden decodes. */
const OFFLOAD_PREFIX = 'offload-';
/** A 100 KiB POST captured on prod's interface with the kernel's veth offloads (TSO, checksum offload). */
export const OFFLOAD_TSO_FIXTURE = 'offload-tso-ethernet.pcap';

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

/** The JSON make-fixtures writes beside a pcap: tcpdump's decode of every packet. */
export interface FixtureJson {
  linkType: number;
  packetCount: number;
  packets: FixturePacket[];
  /** The offload capture: the POST body's length. */
  uploadBytes?: number;
}

/** The golden captures (offloads off), sorted by name. */
export function loadFixtures(): Fixture[] {
  if (!existsSync(FIXTURES_DIR)) return [];
  return readdirSync(FIXTURES_DIR)
    .filter((f) => f.endsWith('.pcap') && !f.startsWith(OFFLOAD_PREFIX))
    .sort()
    .map(loadFixture);
}

/** One capture of test/fixtures by file name. */
export function loadFixture(name: string): Fixture {
  const reader = new PcapFileReader(path.join(FIXTURES_DIR, name));
  const records: CapturedFrame[] = [];
  let status: PcapReadStatus;
  while ((status = reader.next()) === PcapReadStatus.Packet) {
    records.push({
      data: Buffer.from(reader.packet.subarray(0, reader.record.capturedLength)),
      originalLength: reader.record.originalLength,
    });
  }
  reader.close();
  if (status !== PcapReadStatus.End) throw new Error(`${name}: pcap read stopped with status ${status}`);
  return { name, linkType: reader.linkType, records };
}

/** The JSON beside capture `name`, if there is one. */
export function loadFixtureJson(name: string): FixtureJson | undefined {
  const jsonPath = path.join(FIXTURES_DIR, name.replace(/\.pcap$/, '.json'));
  return existsSync(jsonPath) ? (JSON.parse(readFileSync(jsonPath, 'utf8')) as FixtureJson) : undefined;
}
