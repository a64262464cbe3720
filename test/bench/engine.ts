/**
 * Session-engine benchmark: whole HTTP-like sessions through the copier's engine with no I/O.
 * Per session: the client's SYN, third ACK, a 100-byte request, the ACK of the response and
 * its FIN+ACK are captured; the test server's SYN-ACK, ACK, 500-byte response and FIN come back
 * as header records. Every packet is decoded from its bytes (as the daemon does), the engine
 * injects its rewritten packets into a counting host. Sessions run in waves of CONCURRENT, so
 * the session table, timer heap and tuple allocation are exercised as under load.
 *
 * Run: pnpm bench (builds first). Writes test/bench/results/engine.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DecodeStatus, TcpFlag, decodeIpv4, decodeTcp, newIpv4View, newTcpView, parseIpv4 } from '@tcpcopy/common';
import { buildTcpPacket } from '@tcpcopy/common/testing';
import { Engine, FakeAddressPlan, HALF_OPEN_FLOWS_LIMIT, type EngineConfig, type EngineHost } from '@tcpcopy/copier';
import { engineConfig } from '../unit/engine/harness.js';

const RESULTS_PATH = fileURLToPath(new URL('../../bench/results/engine.json', import.meta.url));
const CONCURRENT = 1000;
const WAVES = 40;
const RUNS = 5;
const REQUEST_BYTES = 100;
const RESPONSE_BYTES = 500;

const CLIENT_NET = parseIpv4('192.0.2.0')!;
const PROD = parseIpv4('198.51.100.1')!;
const TARGET = parseIpv4('203.0.113.5')!;
const FAKE_NET = parseIpv4('10.232.0.0')!;
const PORT = 80;

const config: EngineConfig = engineConfig({
  targets: [{ matchIp: 0, matchPort: PORT, targetIp: TARGET, targetPort: PORT }],
  fakeIps: Array.from({ length: 254 }, (_, i) => (FAKE_NET + i + 1) >>> 0),
  memoryBudgetBytes: 1 << 30,
});

interface Step {
  fromClient: boolean;
  packet: Buffer;
}

/** One session's packets in order; the server's ISN is fixed, the tuple is what the engine picks. */
function session(i: number, fakeIp: number, fakePort: number): Step[] {
  const client = (CLIENT_NET + 1 + (i % 250)) >>> 0;
  const port = 20000 + Math.floor(i / 250);
  const cIsn = (i * 7919) >>> 0;
  const pIsn = 1000;
  const tIsn = (i * 104729) >>> 0;
  const c = (seq: number, ack: number, flags: number, payload?: Buffer): Step => ({
    fromClient: true,
    packet: buildTcpPacket({
      src: client,
      dst: PROD,
      srcPort: port,
      dstPort: PORT,
      seq,
      ack,
      flags,
      window: 502,
      payload,
    }),
  });
  const t = (seq: number, ack: number, flags: number, payloadLength = 0): Step => ({
    fromClient: false,
    // A header record: headers only, total length counting the stripped payload.
    packet: headersOnly(
      buildTcpPacket({
        src: TARGET,
        dst: fakeIp,
        srcPort: PORT,
        dstPort: fakePort,
        seq,
        ack,
        flags,
        window: 509,
        payload: Buffer.alloc(payloadLength),
      }),
    ),
  });
  const A = TcpFlag.ACK;
  return [
    c(cIsn, 0, TcpFlag.SYN),
    t(tIsn, cIsn + 1, TcpFlag.SYN | A),
    c(cIsn + 1, pIsn + 1, A),
    c(cIsn + 1, pIsn + 1, A | TcpFlag.PSH, Buffer.alloc(REQUEST_BYTES, 0x41)),
    t(tIsn + 1, cIsn + 1 + REQUEST_BYTES, A),
    t(tIsn + 1, cIsn + 1 + REQUEST_BYTES, A | TcpFlag.PSH, RESPONSE_BYTES),
    t(tIsn + 1 + RESPONSE_BYTES, cIsn + 1 + REQUEST_BYTES, A | TcpFlag.FIN),
    c(cIsn + 1 + REQUEST_BYTES, pIsn + 1 + RESPONSE_BYTES + 1, A | TcpFlag.FIN),
    t(tIsn + 2 + RESPONSE_BYTES, cIsn + 2 + REQUEST_BYTES, A),
  ];
}

function headersOnly(p: Buffer): Buffer {
  const ihl = (p[0]! & 0x0f) * 4;
  const doff = (p[ihl + 12]! >> 4) * 4;
  return p.subarray(0, ihl + doff);
}

interface RunResult {
  sessions: number;
  packets: number;
  injected: number;
  seconds: number;
}

type Plan = (id: number, fakeIp: number, fakePort: number) => Step[];

/**
 * Replays `waves` x CONCURRENT sessions on `engine`. `plan` gives each session's packets given
 * the tuple the engine chose for it (a fresh engine chooses the same tuples every run, so the
 * timed runs use packets prepared by the first, untimed one). With `linger` false, time moves
 * past each wave's linger, so every session is forgotten; with true, every session is still
 * lingering at the end.
 */
function replayWaves(
  engine: Engine,
  tuples: readonly { srcIp: number; srcPort: number }[],
  plan: Plan,
  waves: number,
  linger: boolean,
): number {
  const ip = newIpv4View();
  const tcp = newTcpView();
  let now = 0;
  let packets = 0;
  const feed = (step: Step): void => {
    if (
      decodeIpv4(step.packet, 0, step.packet.length, ip) !== DecodeStatus.Ok ||
      decodeTcp(step.packet, ip, tcp) !== DecodeStatus.Ok
    ) {
      throw new Error('bench packet does not decode');
    }
    if (step.fromClient) engine.onClientPacket(step.packet, ip, tcp, now);
    else {
      engine.onTargetPacket(ip, tcp, now);
      engine.flush();
    }
    packets++;
  };
  for (let w = 0; w < waves; w++) {
    const wave: Step[][] = [];
    for (let k = 0; k < CONCURRENT; k++) {
      const id = w * CONCURRENT + k;
      const first = plan(id, 0, 0)[0]!;
      feed(first);
      const t = tuples[id]!;
      wave.push(plan(id, t.srcIp, t.srcPort));
    }
    for (let s = 1; s < wave[0]!.length; s++) {
      now += 1;
      for (const steps of wave) feed(steps[s]!);
      engine.tick(now);
    }
    if (!linger) now += config.lingerMs + 1;
    engine.tick(now);
  }
  return packets;
}

function newEngine(): { engine: Engine; tuples: { srcIp: number; srcPort: number }[]; injected: () => number } {
  let injected = 0;
  const tuples: { srcIp: number; srcPort: number }[] = [];
  const host: EngineHost = {
    inject: () => void injected++,
    routeAdd: (t) => void tuples.push(t),
    routeDel: () => undefined,
  };
  return { engine: new Engine(config, host, new FakeAddressPlan(config.fakeIps, 0)), tuples, injected: () => injected };
}

/** One timed pass over WAVES x CONCURRENT sessions on a fresh engine. */
function run(plan: Plan): RunResult {
  const { engine, tuples, injected } = newEngine();
  const started = performance.now();
  const packets = replayWaves(engine, tuples, plan, WAVES, false);
  const seconds = (performance.now() - started) / 1000;
  if (engine.sessionCount !== 0 || engine.counters.sessionsEnded.finished !== WAVES * CONCURRENT) {
    throw new Error(`sessions did not finish cleanly: ${JSON.stringify(engine.counters.sessionsEnded)}`);
  }
  return { sessions: WAVES * CONCURRENT, packets, injected: injected(), seconds };
}

/** SYNs beyond the half-open limit (a SYN flood's), held as records. */
const HELD_SYNS = 30_000;
/** Waves of finished sessions still lingering on their tuples together. */
const LINGERING_WAVES = 20;

/** Heap growth over `work`, after a full collection on either side; undefined without --expose-gc. */
function heapGrowth(work: () => void): number | undefined {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) return undefined;
  gc();
  const before = process.memoryUsage().heapUsed;
  work();
  gc();
  return process.memoryUsage().heapUsed - before;
}

/** Heap per finished session while it lingers (answering strays like TIME_WAIT). */
function heapPerLingeringSession(plan: Plan): number | undefined {
  const { engine, tuples } = newEngine();
  const held = heapGrowth(() => replayWaves(engine, tuples, plan, LINGERING_WAVES, true));
  const sessions = LINGERING_WAVES * CONCURRENT;
  if (engine.sessionCount !== sessions || engine.counters.sessionsEnded.finished !== sessions)
    throw new Error(`${engine.sessionCount} lingering of ${sessions}`);
  return held === undefined ? undefined : Math.round(held / sessions);
}

/** Heap per SYN held beyond the half-open limit (HALF_OPEN_FLOWS_LIMIT sessions first). */
function heapPerHeldSyn(): number | undefined {
  const { engine } = newEngine();
  const ip = newIpv4View();
  const tcp = newTcpView();
  const feed = (syn: Buffer): void => {
    decodeIpv4(syn, 0, syn.length, ip);
    decodeTcp(syn, ip, tcp);
    engine.onClientPacket(syn, ip, tcp, 0);
  };
  const syns = Array.from({ length: HALF_OPEN_FLOWS_LIMIT + HELD_SYNS }, (_, i) => session(i, 0, 0)[0]!.packet);
  for (const syn of syns.slice(0, HALF_OPEN_FLOWS_LIMIT)) feed(syn);
  const held = heapGrowth(() => {
    for (const syn of syns.slice(HALF_OPEN_FLOWS_LIMIT)) feed(syn);
  });
  if (engine.pendingSynCount !== HELD_SYNS) throw new Error(`${engine.pendingSynCount} SYNs held of ${HELD_SYNS}`);
  return held === undefined ? undefined : Math.round(held / HELD_SYNS);
}

// The untimed first run builds (and keeps) every session's packets for the tuples chosen.
const prepared: Step[][] = [];
run((id, fakeIp, fakePort) => {
  const steps = session(id, fakeIp, fakePort);
  if (fakeIp !== 0) prepared[id] = steps;
  return steps;
});
const replay = (id: number): Step[] => prepared[id]!;
const runs: RunResult[] = [];
for (let r = 0; r < RUNS; r++) runs.push(run(replay));
const bySpeed = [...runs].sort((a, b) => a.seconds - b.seconds);
const median = bySpeed[Math.floor(RUNS / 2)]!;
const result = {
  date: new Date().toISOString(),
  node: process.version,
  cpu: os.cpus()[0]?.model ?? 'unknown',
  concurrent: CONCURRENT,
  sessionsPerRun: median.sessions,
  packetsPerSession: median.packets / median.sessions,
  injectedPerSession: median.injected / median.sessions,
  sessionsPerSecond: Math.round(median.sessions / median.seconds),
  packetsPerSecond: Math.round(median.packets / median.seconds),
  microsecondsPerPacket: (median.seconds * 1e6) / median.packets,
  heapBytesPerLingeringSession: heapPerLingeringSession(replay),
  heapBytesPerHeldSyn: heapPerHeldSyn(),
};
mkdirSync(path.dirname(RESULTS_PATH), { recursive: true });
writeFileSync(RESULTS_PATH, `${JSON.stringify(result, null, 2)}\n`);
process.stdout.write(
  `engine: ${result.sessionsPerSecond} sessions/s, ${result.packetsPerSecond} packets/s per core ` +
    `(${result.microsecondsPerPacket.toFixed(2)} µs per packet, ${result.packetsPerSession} packets and ` +
    `${result.injectedPerSession} injections per session, ${CONCURRENT} concurrent); ` +
    `heap bytes per lingering session ${result.heapBytesPerLingeringSession ?? '? (run with --expose-gc)'}, ` +
    `per held SYN ${result.heapBytesPerHeldSyn ?? '?'}\n`,
);
