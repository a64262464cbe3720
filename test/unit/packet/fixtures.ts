/** Loads the tcpdump-written captures under test/fixtures (real kernel packets, offloads off). */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { readPcap, type PcapFile } from '@tcpcopy/common/testing';

/** test/fixtures, seen from test/dist/unit/packet. */
export const FIXTURES_DIR = fileURLToPath(new URL('../../../fixtures/', import.meta.url));

export interface Fixture {
  name: string;
  pcap: PcapFile;
}

export function loadFixtures(): Fixture[] {
  if (!existsSync(FIXTURES_DIR)) return [];
  return readdirSync(FIXTURES_DIR)
    .filter((f) => f.endsWith('.pcap'))
    .sort()
    .map((name) => ({ name, pcap: readPcap(readFileSync(path.join(FIXTURES_DIR, name))) }));
}
