/**
 * Sends raw Ethernet frames from inside a lab host (run with lab.spawnNode), through libpcap's
 * pcap_sendpacket (the `cap` binding): unlike a raw IP socket, nothing in the kernel fixes the IP
 * header up, so malformed headers leave as written.
 *   node frame-sender.js '{"device":"lab0","frames":["024c...."]}'
 * Every frame must be addressed to a lab MAC (02:4c:...) and, at the IPv4 destination offset, to a
 * lab address. Prints {"event":"done","sent":N}.
 */
import { createRequire } from 'node:module';
import { assertInsideLab, assertLabAddress } from '../lab/agents/guard.js';
import { programArgs } from './program-args.js';

export interface FrameSenderArgs {
  device: string;
  frames: string[];
}

/** The lab's MAC prefix (test/lab/topology.ts: 02:4c:<slot>:00:00:<n>). */
const LAB_MAC_PREFIX = '024c';
/** Ethernet header, then the IPv4 destination address at offset 16 of the IP header. */
const ETHERNET_HEADER_BYTES = 14;
const IPV4_DST_OFFSET = ETHERNET_HEADER_BYTES + 16;
/** A filter no frame matches (IEEE local experimental EtherType): the handle only sends. */
const MATCH_NOTHING = 'ether proto 0x88b5';
const RING_BYTES = 1024 * 1024;

interface CapSender {
  open(device: string, filter: string, bufSize: number, buffer: Buffer): string;
  send(buffer: Buffer, length: number): void;
  close(): void;
}

assertInsideLab();
const args = programArgs<FrameSenderArgs>();
const frames = args.frames.map((hex) => Buffer.from(hex, 'hex'));
for (const f of frames) {
  if (!f.subarray(0, 2).equals(Buffer.from(LAB_MAC_PREFIX, 'hex')))
    throw new Error(`frame not addressed to a lab MAC: ${f.toString('hex', 0, 6)}`);
  if (f.length >= IPV4_DST_OFFSET + 4)
    assertLabAddress([...f.subarray(IPV4_DST_OFFSET, IPV4_DST_OFFSET + 4)].join('.'));
}
// `cap` sends whole frames (libpcap's pcap_sendpacket); only the tests need it.
const require = createRequire(import.meta.url);
const { Cap } = require('cap') as { Cap: new () => CapSender };
const cap = new Cap();
// cap keeps a raw pointer to this buffer: a module-level binding keeps it alive past close().
const buffer = Buffer.alloc(65535);
cap.open(args.device, MATCH_NOTHING, RING_BYTES, buffer);
for (const f of frames) cap.send(f, f.length);
cap.close();
process.stdout.write(`${JSON.stringify({ event: 'done', sent: frames.length })}\n`);
