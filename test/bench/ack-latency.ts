/**
 * How long the test server waits for the copier's ACKs: the whole loop from its data segment on
 * the wire, through intercept's capture and the control channel, to tcpcopy's ACK arriving back.
 * tcpdump on the test server's interface records both directions; for every ACK that acknowledges
 * new data, the latency is its arrival time minus the departure time of the segment it ends on.
 * Production and the test server serve the same 4 MiB file, fetched ANSWERS times over one
 * keep-alive connection.
 *
 * Run as root: pnpm bench:ack-latency (builds first). Writes test/bench/results/ack-latency.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DecodeStatus, PcapFileReader, PcapReadStatus, TcpFlag, decodeFrame, newPacketViews } from '@tcpcopy/common';
import { createLab } from '../lab/index.js';
import { sleep, startIntercept, startTcpcopy } from '../e2e/copy-harness.js';

const RESULTS_PATH = fileURLToPath(new URL('../../bench/results/ack-latency.json', import.meta.url));
const ANSWER_BYTES = 4 * 1024 * 1024;
const ANSWERS = 10;
const SETTLE_MS = 3000;
/** IPv4 and TCP headers with options, at most. */
const HEADERS_SNAP_LENGTH = 128;
const HTTP_PORT = 80;
const US_PER_MS = 1000;

interface Latencies {
  acks: number;
  medianMs: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** ACK latencies (µs) from a capture on the test server: data out on HTTP_PORT, ACKs in. */
function ackLatencies(pcap: string): number[] {
  const reader = new PcapFileReader(pcap);
  const views = newPacketViews();
  /** Per connection (the fake client's ip:port): departure time of each data segment by its end. */
  const sentAt = new Map<number, Map<number, number>>();
  const lastAck = new Map<number, number>();
  const out: number[] = [];
  try {
    for (let status = reader.next(); status === PcapReadStatus.Packet; status = reader.next()) {
      if (decodeFrame(reader.linkType, reader.packet, 0, reader.record.capturedLength, views) !== DecodeStatus.Ok)
        continue;
      const { ip, tcp } = views;
      const ts = reader.record.tsMicros;
      if (tcp.srcPort === HTTP_PORT && tcp.payloadLength > 0) {
        const conn = ip.dst * 65536 + tcp.dstPort;
        let ends = sentAt.get(conn);
        if (ends === undefined) sentAt.set(conn, (ends = new Map()));
        const end = (tcp.seq + tcp.payloadLength) >>> 0;
        if (!ends.has(end)) ends.set(end, ts); // a retransmission keeps the first departure
      } else if (tcp.dstPort === HTTP_PORT && tcp.flags & TcpFlag.ACK) {
        const conn = ip.src * 65536 + tcp.srcPort;
        if (lastAck.get(conn) === tcp.ack) continue;
        lastAck.set(conn, tcp.ack);
        const departed = sentAt.get(conn)?.get(tcp.ack);
        if (departed !== undefined) out.push(ts - departed);
      }
    }
  } finally {
    reader.close();
  }
  return out;
}

function summary(micros: number[]): Latencies {
  const sorted = [...micros].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! / US_PER_MS;
  return { acks: sorted.length, medianMs: at(0.5), p90Ms: at(0.9), p99Ms: at(0.99), maxMs: at(1) };
}

const lab = await createLab();
let result: Latencies & { date: string; offloads: string };
try {
  const files = { 'big.bin': Buffer.alloc(ANSWER_BYTES, 0x5a) };
  const prod = await lab.startNginx('prod', { files });
  await lab.startNginx('target', { files });
  await startIntercept(lab, HTTP_PORT);
  await startTcpcopy(lab, { port: HTTP_PORT });
  // Headers only: a ring of whole-packet slots dropped under the answers' bursts.
  const capture = await lab.captureOn('target', `tcp port ${HTTP_PORT} and net ${lab.fakeSubnet}`, {
    snapLength: HEADERS_SNAP_LENGTH,
  });
  await lab.exec('client', 'ab', ['-q', '-k', '-n', String(ANSWERS), '-c', '1', prod.url('/big.bin')], {
    timeoutMs: 60_000,
  });
  await sleep(SETTLE_MS);
  const pcap = await capture.stop();
  const stats = capture.stats();
  if (stats === undefined || stats.droppedByKernel > 0)
    throw new Error(`tcpdump missed packets (${JSON.stringify(stats)}): the latencies would be wrong`);
  result = { date: new Date().toISOString(), offloads: lab.offloads, ...summary(ackLatencies(pcap)) };
} finally {
  await lab.destroy({ keepLogs: false });
}
mkdirSync(path.dirname(RESULTS_PATH), { recursive: true });
writeFileSync(RESULTS_PATH, `${JSON.stringify(result, null, 2)}\n`);
process.stdout.write(
  `test server's data -> copier's ACK, ${result.acks} ACKs over ${ANSWERS} answers of 4 MiB (offloads ${result.offloads}): ` +
    `median ${result.medianMs.toFixed(2)} ms, p90 ${result.p90Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms, max ${result.maxMs.toFixed(2)} ms\n`,
);
