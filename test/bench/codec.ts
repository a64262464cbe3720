/**
 * Codec benchmark: per captured packet, what the copier's hot path does to it — decode
 * link + IPv4 + TCP, then rewrite destination, source, ack and TSecr with incremental checksum
 * updates — on a 60-byte SYN (with the usual options) and a full 1500-byte data segment, both in
 * Ethernet frames. A full checksum recomputation variant shows what the incremental update saves.
 * Also checks that the loop allocates nothing: no garbage collection may run during a timed
 * run, and the heap may not grow. Single-threaded, so the rates are per core.
 *
 * Run: pnpm bench (builds first). Writes test/bench/results/codec.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import {
  DecodeStatus,
  LinkType,
  TcpFlag,
  decodeFrame,
  newPacketViews,
  recomputeChecksums,
  rewriteAck,
  rewriteDstAddr,
  rewriteSrcAddr,
  rewriteTsEcr,
  verifyTcpChecksum,
  writeIpv4Checksum,
  type PacketViews,
} from '@tcpcopy/common';
import { buildTcpPacket, wrapLink } from '@tcpcopy/common/testing';

const RESULTS_PATH = fileURLToPath(new URL('../../bench/results/codec.json', import.meta.url));
const WARMUP_ITERATIONS = 300_000;
const RUNS = 5;
/** Each timed run lasts about this long (iterations calibrated from the warm-up). */
const RUN_SECONDS = 0.5;
const MIN_RUN_ITERATIONS = 200_000;
/** Heap growth tolerated over a run (bookkeeping noise): well under 1 byte per packet. */
const HEAP_NOISE_BYTES = 64 * 1024;

type Checksums = 'incremental' | 'full';

interface CaseResult {
  name: string;
  ipBytes: number;
  frameBytes: number;
  checksums: Checksums;
  iterationsPerRun: number;
  packetsPerSecond: number;
  nsPerPacket: number;
  runsPacketsPerSecond: number[];
  gcDuringRuns: number;
  heapGrowthBytesPerPacket: number;
  allocationFree: boolean;
}

const syn = wrapLink(
  LinkType.Ethernet,
  buildTcpPacket({
    src: '192.168.10.21',
    dst: '192.168.10.5',
    srcPort: 51234,
    dstPort: 8000,
    seq: 0x1a2b3c4d,
    ack: 0,
    flags: TcpFlag.SYN,
    window: 64240,
    ipId: 4321,
    options: { mss: 1460, sackPermitted: true, timestamps: { val: 2703232064, ecr: 0 }, windowScale: 7 },
  }),
);
const full = wrapLink(
  LinkType.Ethernet,
  buildTcpPacket({
    src: '192.168.10.21',
    dst: '192.168.10.5',
    srcPort: 51234,
    dstPort: 8000,
    seq: 0x1a2b3c4e,
    ack: 0x55667788,
    flags: TcpFlag.ACK | TcpFlag.PSH,
    window: 502,
    options: { timestamps: { val: 2703232100, ecr: 3851200019 } },
    payload: Buffer.alloc(1448, 0x61),
  }),
);

/**
 * The per-packet work; returns a value derived from the result so nothing is optimised away.
 * 32-bit values are passed as int32 (`| 0`), as the rewriters recommend for hot paths: a uint32
 * >= 2^31 would be boxed in a heap number at every call V8 does not inline.
 */
function processPacket(frame: Buffer, v: PacketViews, i: number, checksums: Checksums): number {
  if (decodeFrame(LinkType.Ethernet, frame, 0, frame.length, v) !== DecodeStatus.Ok) return -1;
  const { ip, tcp } = v;
  rewriteDstAddr(frame, ip, tcp, 0x0a000002);
  rewriteSrcAddr(frame, ip, tcp, 0xac100000 | (i & 0xffff));
  rewriteAck(frame, tcp, (tcp.ack + i) | 0);
  rewriteTsEcr(frame, tcp, (tcp.options.tsEcr + 1) | 0);
  if (checksums === 'full') {
    writeIpv4Checksum(frame, ip);
    recomputeChecksums(frame, ip, tcp);
  }
  return tcp.checksum;
}

function loop(frame: Buffer, v: PacketViews, n: number, checksums: Checksums): number {
  let acc = 0;
  for (let i = 0; i < n; i++) acc = (acc + processPacket(frame, v, i, checksums)) | 0;
  return acc;
}

/** Start times of every garbage collection (ms on the performance clock). */
const gcStarts: number[] = [];
const gcObserver = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcStarts.push(e.startTime);
});

/**
 * Collections that started during [t0, t1]. Entries arrive asynchronously, so wait for them;
 * collections V8 runs between runs (its memory reducer, on idle tasks) fall outside the window.
 */
async function gcsDuring(t0: number, t1: number): Promise<number> {
  await new Promise((r) => setTimeout(r, 10));
  return gcStarts.filter((t) => t >= t0 && t <= t1).length;
}

async function runCase(name: string, template: Buffer, checksums: Checksums): Promise<CaseResult> {
  const frame = Buffer.from(template);
  const v = newPacketViews();
  const w0 = performance.now();
  let sink = loop(frame, v, WARMUP_ITERATIONS, checksums);
  const warmupRate = WARMUP_ITERATIONS / ((performance.now() - w0) / 1000);
  const iterations = Math.max(MIN_RUN_ITERATIONS, Math.round(warmupRate * RUN_SECONDS));
  if (
    decodeFrame(LinkType.Ethernet, frame, 0, frame.length, v) !== DecodeStatus.Ok ||
    !verifyTcpChecksum(frame, v.ip)
  ) {
    throw new Error(`${name}: the rewritten packet no longer verifies`);
  }
  const rates: number[] = [];
  let gcs = 0;
  let maxGrowth = 0;
  for (let r = 0; r < RUNS; r++) {
    const heapBefore = process.memoryUsage().heapUsed;
    const t0 = performance.now();
    sink ^= loop(frame, v, iterations, checksums);
    const t1 = performance.now();
    const heapAfter = process.memoryUsage().heapUsed;
    gcs += await gcsDuring(t0, t1);
    maxGrowth = Math.max(maxGrowth, heapAfter - heapBefore);
    rates.push(iterations / ((t1 - t0) / 1000));
  }
  if (sink === 0x7fffffff) process.stdout.write(''); // keep `sink` observable
  const sorted = [...rates].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  const allocationFree = gcs === 0 && maxGrowth < HEAP_NOISE_BYTES;
  return {
    name,
    ipBytes: v.ip.totalLength,
    frameBytes: frame.length,
    checksums,
    iterationsPerRun: iterations,
    packetsPerSecond: Math.round(median),
    nsPerPacket: Math.round((1e9 / median) * 10) / 10,
    runsPacketsPerSecond: rates.map(Math.round),
    gcDuringRuns: gcs,
    heapGrowthBytesPerPacket: Math.max(0, maxGrowth) / iterations,
    allocationFree,
  };
}

async function main(): Promise<void> {
  gcObserver.observe({ entryTypes: ['gc'] });
  const cases: [string, Buffer, Checksums][] = [
    ['SYN 60 B, incremental checksums', syn, 'incremental'],
    ['data 1500 B, incremental checksums', full, 'incremental'],
    ['SYN 60 B, full checksum recomputation', syn, 'full'],
    ['data 1500 B, full checksum recomputation', full, 'full'],
  ];
  const results: CaseResult[] = [];
  for (const [name, frame, checksums] of cases) {
    const r = await runCase(name, frame, checksums);
    results.push(r);
    process.stdout.write(
      `${r.name.padEnd(42)} ${(r.packetsPerSecond / 1e6).toFixed(2).padStart(6)} M packets/s/core ` +
        `${String(r.nsPerPacket).padStart(6)} ns/packet  GCs ${r.gcDuringRuns}  ` +
        `${r.allocationFree ? 'no allocation' : `ALLOCATES (${r.heapGrowthBytesPerPacket.toFixed(2)} B/packet)`}\n`,
    );
  }
  gcObserver.disconnect();
  const report = {
    benchmark: 'codec: decode link+IPv4+TCP, rewrite dst addr + src addr + ack + TSecr',
    date: new Date().toISOString(),
    node: process.version,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    runs: RUNS,
    results,
  };
  mkdirSync(path.dirname(RESULTS_PATH), { recursive: true });
  writeFileSync(RESULTS_PATH, JSON.stringify(report, null, 2) + '\n');
  process.stdout.write(`results: ${RESULTS_PATH}\n`);
  if (results.some((r) => !r.allocationFree)) {
    process.stderr.write('FAIL: the per-packet path allocates\n');
    process.exitCode = 1;
  }
}

await main();
