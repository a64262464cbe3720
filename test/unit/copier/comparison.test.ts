/**
 * --compare's wiring in the daemon (daemon/comparison.ts), over the engine harness: production's
 * side through the pipeline (the client's segments, production's answers flagged outgoing), the
 * copy's side through the engine's hooks (injected packets, the target's packets as intercept's
 * payload records carry them), and a copy compared once its tuple is freed.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { DecodeStatus, LinkType, TcpFlag, createLogger, decodeIpv4, decodeTcp, newPacketViews } from '@tcpcopy/common';
import { buildTcpPacket } from '@tcpcopy/common/testing';
import type { CompareConfig, EngineHost as CopierEngineHost } from '@tcpcopy/copier';
import { Comparison, Pipeline, watchSaturation } from '@tcpcopy/copier/daemon';
import { CLIENT_IP, Client, PROD_IP, PROD_PORT, Sim } from '../engine/harness.js';

const REQUEST = 'GET /a HTTP/1.1\r\nHost: x\r\n\r\n';
const ANSWER = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello';
const PROD_ISN = 0x50000000;
const LINGER_MS = 1000;

interface Rig {
  sim: Sim;
  comparison: Comparison;
  pipeline: Pipeline;
  diffLog: string;
  warnings: string[];
}

function rig(t: TestContext, testAnswer: string, opts: { copies?: number; budget?: number; used?: number } = {}): Rig {
  const sim: Sim = new Sim({
    config: { copies: opts.copies ?? 1, lingerMs: LINGER_MS },
    target: {
      onData: (conn, bytes, now) => {
        if (bytes.toString().endsWith('\r\n\r\n')) sim.target.respond(conn, testAnswer, now);
      },
      onFin: (conn, now) => sim.target.close(conn, now),
    },
  });
  const dir = mkdtempSync(join(tmpdir(), 'compare-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const diffLog = join(dir, 'diff.log');
  const warnings: string[] = [];
  const log = createLogger({
    name: 'test',
    level: 'warn',
    stderr: { write: (line: string) => (warnings.push(line), true) },
  });
  const config: CompareConfig = {
    mode: 'bytes',
    compareBytes: 65536,
    diffLog,
    ignoreHeaders: ['Date'],
    ignoreBody: [],
  };
  const comparison = new Comparison(config, sim.config.targets, {
    log,
    now: () => sim.now,
    memoryInUse: () => opts.used ?? 0,
    memoryBudget: () => opts.budget ?? 1 << 30,
  });
  // As main.ts builds the engine's host.
  const host: CopierEngineHost = sim.host;
  const inject = sim.host.inject.bind(sim.host);
  const routeDel = sim.host.routeDel.bind(sim.host);
  host.inject = (packet, length, dstIp) => {
    comparison.injectedPacket(packet, length);
    inject(packet, length, dstIp);
  };
  host.routeDel = (tuple) => {
    routeDel(tuple);
    comparison.routeDel(tuple);
  };
  Object.assign(host, comparison.engineHooks());
  const views = newPacketViews();
  sim.onRecord = (p) => {
    assert.equal(decodeIpv4(p.raw, 0, p.raw.length, views.ip), DecodeStatus.Ok);
    assert.equal(decodeTcp(p.raw, views.ip, views.tcp), DecodeStatus.Ok);
    const tcp = views.tcp;
    comparison.targetSegment(views.ip, tcp, p.raw, tcp.payloadOffset, tcp.capturedPayloadLength, sim.now);
  };
  const pipeline = new Pipeline(sim.engine, [], sim.config.targets, comparison);
  return { sim, comparison, pipeline, diffLog, warnings };
}

/** One production session: the client's request, production's answer, both FINs. */
function productionSession(r: Rig, port = 40000): void {
  const { sim, pipeline } = r;
  const c = new Client(sim, { port, prodIsn: PROD_ISN });
  const client = (packet: Buffer): void => {
    sim.host.now = sim.now;
    pipeline.onFrame(LinkType.Ipv4, packet, 0, packet.length, sim.now);
  };
  let prodSeq = PROD_ISN;
  const answer = (flags: number, payload = ''): void => {
    const packet = buildTcpPacket({
      src: PROD_IP,
      dst: CLIENT_IP,
      srcPort: PROD_PORT,
      dstPort: port,
      seq: prodSeq,
      ack: c.seq,
      flags,
      window: 65535,
      payload: Buffer.from(payload),
    });
    prodSeq = (prodSeq + payload.length + (flags & (TcpFlag.SYN | TcpFlag.FIN) ? 1 : 0)) >>> 0;
    pipeline.onFrame(LinkType.Ipv4, packet, 0, packet.length, sim.now, true);
  };
  client(c.syn());
  answer(TcpFlag.SYN | TcpFlag.ACK);
  sim.run(1);
  client(c.pureAck());
  client(c.data(REQUEST));
  sim.run(1);
  answer(TcpFlag.ACK | TcpFlag.PSH, ANSWER);
  sim.run(5);
  client(c.fin(ANSWER.length));
  answer(TcpFlag.FIN | TcpFlag.ACK);
  sim.settle();
}

async function diffLines(r: Rig): Promise<Record<string, unknown>[]> {
  await r.comparison.close();
  const text = readFileSync(r.diffLog, 'utf8');
  return text === ''
    ? []
    : text
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('tcpcopy --compare: the daemon wiring', () => {
  test('a test server answering the same: compared and forgotten once both connections closed, nothing logged', async (t) => {
    const r = rig(t, ANSWER);
    productionSession(r);
    assert.equal(r.comparison.exchanges.identical, 1);
    assert.equal(r.comparison.connections, 0, 'not followed while the tuple lingers');
    r.sim.run(LINGER_MS + 100);
    assert.equal(r.comparison.counters.copiesCompared, 1);
    assert.equal(r.comparison.exchanges.compared, 1);
    assert.equal(r.comparison.exchanges.identical, 1);
    assert.equal(r.pipeline.counters.answersCaptured, 3);
    assert.equal(r.comparison.connections, 0, 'forgotten once compared');
    assert.deepEqual(await diffLines(r), []);
  });

  test('-n 2 with another answer: each copy reported on its own, with its session and the first differing byte', async (t) => {
    const r = rig(t, ANSWER.replace('hello', 'hellO'), { copies: 2 });
    productionSession(r);
    r.sim.run(LINGER_MS + 100);
    const lines = await diffLines(r);
    assert.equal(lines.length, 2);
    assert.deepEqual(lines.map((l) => (l.session as { copy: number }).copy).sort(), [0, 1]);
    for (const line of lines) {
      assert.equal(line.kind, 'bytes');
      assert.equal(line.offset, ANSWER.indexOf('hello') + 4);
      assert.equal((line.session as { client: string }).client, '192.0.2.10:40000');
    }
    assert.equal(r.comparison.exchanges.byKind.bytes, 2);
    const [target] = r.comparison.perTarget.values();
    assert.equal(target?.different, 2);
    assert.equal(target?.byKind.bytes, 2);
  });

  test('past 3/4 of the -m budget, copies go on but are not compared', async (t) => {
    const r = rig(t, ANSWER, { budget: 1000, used: 800 });
    productionSession(r);
    r.sim.run(LINGER_MS + 100);
    assert.equal(r.sim.engine.counters.sessionsStarted, 1, 'copied');
    assert.deepEqual(r.comparison.counters.copiesShed, { memory: 1, connections: 0, busy: 0 });
    assert.equal(r.comparison.exchanges.compared, 0);
    assert.equal(r.comparison.connections, 0, 'nothing followed');
  });

  test('while tcpcopy is saturated, new sessions are copied but not compared; then compared again', async (t) => {
    const r = rig(t, ANSWER);
    r.comparison.setBusy(true);
    productionSession(r, 40000);
    r.comparison.setBusy(false);
    productionSession(r, 40001);
    r.sim.run(LINGER_MS + 100);
    assert.equal(r.sim.engine.counters.sessionsStarted, 2, 'both copied');
    assert.deepEqual(r.comparison.counters.copiesShed, { memory: 0, connections: 0, busy: 1 });
    assert.equal(r.comparison.exchanges.identical, 1);
    assert.equal(r.warnings.filter((w) => w.includes('saturated')).length, 1);
    // Saturated in the middle of a session: its comparison is dropped, not left half fed.
    const c = new Client(r.sim, { port: 40002, prodIsn: PROD_ISN });
    for (const packet of [c.syn(), c.pureAck(), c.data(REQUEST)]) {
      r.pipeline.onFrame(LinkType.Ipv4, packet, 0, packet.length, r.sim.now);
      r.sim.run(1);
    }
    assert.equal(r.comparison.connections, 1);
    r.comparison.setBusy(true);
    assert.equal(r.comparison.connections, 0);
    assert.deepEqual(r.comparison.counters.copiesShed, { memory: 0, connections: 0, busy: 2 });
    assert.equal(r.comparison.counters.copiesCompared, 1);
  });

  test('an intercept that cannot forward answers turns comparison off, once, with a warning', async (t) => {
    const r = rig(t, ANSWER.replace('hello', 'HELLO'));
    r.comparison.disable("upstream's legacy protocol cannot carry them");
    r.comparison.disable('again');
    productionSession(r);
    r.sim.run(LINGER_MS + 100);
    assert.equal(r.comparison.exchanges.compared, 0);
    assert.deepEqual(await diffLines(r), []);
    assert.equal(r.warnings.filter((w) => w.includes('response comparison off')).length, 1);
  });

  test("copies the daemon's stop aborts are not compared; those closed before are", async (t) => {
    const r = rig(t, ANSWER.replace('hello', 'HELLO'));
    productionSession(r, 40000);
    // A second session, still open when the daemon stops.
    const c = new Client(r.sim, { port: 40001, prodIsn: PROD_ISN });
    for (const packet of [c.syn(), c.pureAck(), c.data(REQUEST)]) {
      r.pipeline.onFrame(LinkType.Ipv4, packet, 0, packet.length, r.sim.now);
      r.sim.run(1);
    }
    r.sim.settle();
    r.comparison.shutdown();
    r.sim.engine.shutdown(r.sim.now);
    const lines = await diffLines(r);
    assert.deepEqual(
      lines.map((l) => (l.session as { client: string }).client),
      ['192.0.2.10:40000'],
    );
  });
});

describe('tcpcopy --compare: telling saturation', () => {
  test('saturated only after two seconds in a row behind the capture; one burst is not', (t) => {
    t.mock.timers.enable({ apis: ['setInterval'] });
    let held = 0;
    const seen: boolean[] = [];
    const stop = watchSaturation(
      () => held,
      1000,
      (busy) => seen.push(busy),
    );
    t.after(stop);
    const second = (bytes: number): void => {
      held = bytes;
      t.mock.timers.tick(1000);
    };
    second(5000); // a burst
    second(0);
    second(5000);
    second(5000); // behind twice in a row
    second(5000);
    second(0);
    assert.deepEqual(seen, [false, false, false, true, true, false]);
  });
});
