/**
 * The I/O wrappers on real sockets, inside the lab: LiveCapture survives a burst of more than
 * 100k frames under forced garbage collection (the ring's memory must outlive every collection),
 * RawSocketSink counts a kernel send error and keeps going, and LiveCapture reports a bad
 * device or filter with its error code.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode, TcpFlag } from '@tcpcopy/common';
import { buildTcpPacket } from '@tcpcopy/common/testing';
import { withLab, type Lab, type LabProcess } from '../lab/index.js';

const BURST = 120_000;
/** Bytes on the wire beyond prod's 1500-byte MTU, with DF set: the kernel must refuse it. */
const OVERSIZE = 1600;
const DISCARD_PORT = 9;

interface CaptureSummary {
  received: number;
  kernelDropped: number;
  ringBytes: number;
  ringGrowths: number;
}

interface SpillSummary extends CaptureSummary {
  spillPeakBytes: number;
  spillFull: number;
}

/** A bare ACK (or with `payload`) from a fake client to a closed port on aux: aux's RST goes
 *  nowhere (no route to the fake subnet). */
function toDiscardPort(lab: Lab, srcPort: number, payload?: Buffer): Buffer {
  return buildTcpPacket({
    src: lab.fakeIp(3),
    dst: lab.hosts.aux.ip,
    srcPort,
    dstPort: DISCARD_PORT,
    seq: 1,
    ack: 1,
    flags: TcpFlag.ACK,
    window: 1000,
    ...(payload === undefined ? {} : { payload }),
  });
}

/** The capture agent's closing stats. */
function captureSummary(capture: LabProcess): CaptureSummary {
  const done = capture.jsonLines<{ event: string; stats?: CaptureSummary }>().find((e) => e.event === 'done');
  assert.ok(done?.stats, `capture agent ended without a summary:\n${capture.stderr}`);
  return done.stats;
}

for (const device of ['lab0', 'any']) {
  test(`LiveCapture on ${device} receives a burst of ${BURST} frames injected by RawSocketSink, under forced GC`, async (t) => {
    await withLab(t, async (lab) => {
      const { aux } = lab.hosts;
      const capture = lab.spawnAgent(
        'aux',
        'capture',
        {
          devices: [device],
          filter: `tcp and dst port ${DISCARD_PORT}`,
          count: BURST,
          timeoutMs: 30_000,
          quiet: true,
          gcEvery: 10_000,
        },
        { nodeArgs: ['--expose-gc'] },
      );
      await capture.waitFor(/"event":"ready"/);
      const ack = toDiscardPort(lab, 33_333);
      const inject = lab.spawnAgent('prod', 'inject', {
        packets: [{ hex: ack.toString('hex'), dst: aux.ip }],
        repeat: BURST,
      });
      await inject.succeeded();
      const [sent] = inject.jsonLines<{ stats: { sent: number; errors: object } }>();
      assert.equal(sent?.stats.sent, BURST, JSON.stringify(sent?.stats));

      await capture.succeeded();
      // Kernel ring overruns are possible on two shared cores, but never unseen; a crash is not.
      const { received, kernelDropped } = captureSummary(capture);
      assert.ok(received >= BURST * 0.95, `captured ${received} of ${BURST}`);
      assert.equal(received + kernelDropped, BURST, `${received} captured + ${kernelDropped} dropped by the kernel`);
    });
  });
}

const MIB = 1024 * 1024;
const GROWTH_BURST = 20_000;
const CATCH_UP_MS = 2000;

test('a capture ring that starts small grows under a burst, and loses nothing unseen on the way', async (t) => {
  await withLab(t, async (lab) => {
    const { aux } = lab.hosts;
    const capture = lab.spawnAgent(
      'aux',
      'capture',
      // A collection every 200 frames keeps the reader behind the burst, so the ring fills.
      {
        devices: ['lab0'],
        filter: `tcp and dst port ${DISCARD_PORT}`,
        timeoutMs: 15_000,
        quiet: true,
        gcEvery: 200,
        ringBytes: 32 * MIB,
        initialRingBytes: 4 * MIB,
      },
      { nodeArgs: ['--expose-gc'] },
    );
    await capture.waitFor(/"event":"ready"/);
    const segment = toDiscardPort(lab, 33_334, Buffer.alloc(1400));
    const inject = lab.spawnAgent('prod', 'inject', {
      packets: [{ hex: segment.toString('hex'), dst: aux.ip }],
      repeat: GROWTH_BURST,
    });
    await inject.succeeded();
    // The reader takes a few blocks per event-loop turn: let it catch up before stopping it.
    await new Promise((r) => setTimeout(r, CATCH_UP_MS));
    await capture.stop('SIGTERM', 5000);
    const stats = captureSummary(capture);
    const { received, kernelDropped, ringBytes, ringGrowths } = stats;
    assert.ok(ringGrowths >= 1 && ringBytes > 4 * MIB, `the ring did not grow: ${JSON.stringify(stats)}`);
    // Packets both rings held arrive twice; a packet neither delivered must be a counted drop.
    assert.ok(
      received + kernelDropped >= GROWTH_BURST,
      `${received} captured + ${kernelDropped} dropped of ${GROWTH_BURST}`,
    );
  });
});

test('a spill area holds a burst that arrives while JavaScript is stalled, hands it over whole, then gives its memory back', async (t) => {
  await withLab(t, async (lab) => {
    const { aux } = lab.hosts;
    // tcpcopy's ring (16 MiB, ~11,000 of these frames): the stall lets the whole burst (28 MB)
    // arrive, so the spill area must hold what the ring could not.
    const capture = lab.spawnAgent('aux', 'capture', {
      devices: ['lab0'],
      filter: `tcp and dst port ${DISCARD_PORT}`,
      timeoutMs: 15_000,
      quiet: true,
      ringBytes: 16 * MIB,
      spillBytes: 64 * MIB,
      stallMs: 3000,
    });
    await capture.waitFor(/"event":"ready"/);
    const segment = toDiscardPort(lab, 33_335, Buffer.alloc(1400));
    const inject = lab.spawnAgent('prod', 'inject', {
      packets: [{ hex: segment.toString('hex'), dst: aux.ip }],
      repeat: GROWTH_BURST,
    });
    await inject.succeeded();
    await new Promise((r) => setTimeout(r, 3000 + CATCH_UP_MS));
    await capture.stop('SIGTERM', 5000);
    const done = capture
      .jsonLines<{ event: string; stats?: SpillSummary; rssAtReady?: number; rssAtEnd?: number }>()
      .find((e) => e.event === 'done');
    assert.ok(done?.stats, capture.stderr);
    const { received, kernelDropped, spillPeakBytes, spillFull } = done.stats;
    assert.equal(kernelDropped, 0, `the ring never overflowed: ${JSON.stringify(done)}`);
    assert.equal(received, GROWTH_BURST, 'every frame reached JavaScript');
    assert.equal(spillFull, 0);
    assert.ok(spillPeakBytes > 20 * MIB, `the spill held the burst: ${spillPeakBytes} bytes at most`);
    // Read to the end, the spill area keeps the pages of 8 slots (1 MiB) and gives back the rest.
    const grown = done.rssAtEnd! - done.rssAtReady!;
    assert.ok(grown < 8 * MIB, `resident memory ${grown} bytes above idle after the burst was read`);
  });
});

test('a capture of both directions sees what its host sends, flagged outgoing, until told not to (tcpcopy --compare)', async (t) => {
  await withLab(t, async (lab) => {
    const { aux } = lab.hosts;
    const sent = 50;
    const outgoingOf = async (outgoing: boolean): Promise<number> => {
      const capture = lab.spawnAgent('prod', 'capture', {
        devices: ['any'],
        filter: `tcp and dst port ${DISCARD_PORT}`,
        timeoutMs: 10_000,
        quiet: true,
        direction: 'both',
        outgoing,
      });
      await capture.waitFor(/"event":"ready"/);
      const segment = toDiscardPort(lab, 33_336, Buffer.alloc(100));
      const inject = lab.spawnAgent('prod', 'inject', {
        packets: [{ hex: segment.toString('hex'), dst: aux.ip }],
        repeat: sent,
      });
      await inject.succeeded();
      await new Promise((r) => setTimeout(r, CATCH_UP_MS));
      await capture.stop('SIGTERM', 5000);
      const done = capture.jsonLines<{ event: string; outgoingSeen?: number }>().find((e) => e.event === 'done');
      assert.ok(done?.outgoingSeen !== undefined, capture.stderr);
      return done.outgoingSeen;
    };
    assert.equal(await outgoingOf(true), sent, 'every packet prod sent, flagged outgoing');
    assert.equal(await outgoingOf(false), 0, 'none once told not to: the kernel skips the ring');
  });
});

test('RawSocketSink counts a kernel send error (EMSGSIZE) and sends the next packet', async (t) => {
  await withLab(t, async (lab) => {
    const { target } = lab.hosts;
    const base = {
      src: lab.fakeIp(4),
      dst: target.ip,
      srcPort: 44_444,
      dstPort: DISCARD_PORT,
      seq: 1,
      ack: 1,
      flags: TcpFlag.ACK,
      window: 1000,
    };
    const oversize = buildTcpPacket({ ...base, payload: Buffer.alloc(OVERSIZE - 40) });
    const normal = buildTcpPacket(base);
    const inject = lab.spawnAgent('prod', 'inject', {
      packets: [oversize, normal].map((p) => ({ hex: p.toString('hex'), dst: target.ip })),
    });
    await inject.succeeded();
    const [result] = inject.jsonLines<{ stats: { sent: number; errors: Record<string, number> } }>();
    assert.deepEqual(result?.stats.errors, { EMSGSIZE: 1 });
    assert.equal(result?.stats.sent, 1);
  });
});

test('LiveCapture reports an unknown device and a bad filter with their error codes', async (t) => {
  await withLab(t, async (lab) => {
    const cases = [
      { devices: ['nosuch0'], filter: 'tcp', code: ErrorCode.DEVICE },
      { devices: [lab.hosts.aux.iface], filter: 'tcp and and', code: ErrorCode.FILTER },
    ];
    for (const c of cases) {
      const agent = lab.spawnAgent('aux', 'capture', { devices: c.devices, filter: c.filter, timeoutMs: 2000 });
      const exit = await agent.exited;
      assert.equal(exit.code, 2, agent.stderr);
      const [event] = agent.jsonLines<{ event: string; code: string }>();
      assert.equal(event?.event, 'error');
      assert.equal(event?.code, c.code);
    }
  });
});
