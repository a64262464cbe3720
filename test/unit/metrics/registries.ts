/**
 * Both daemons' metric registries as their --metrics endpoints build them, over idle stand-ins
 * (the engine harness for tcpcopy, a loopback InterceptDaemon for intercept): for tests that look
 * at which series exist, not at their values.
 */
import type { TestContext } from 'node:test';
import { createLogger, type PacketSink, type PacketSource } from '@tcpcopy/common';
import { MetricsRegistry } from '@tcpcopy/common/metrics';
import {
  Comparison,
  InterceptLinks,
  MemoryGuard,
  Pipeline,
  processMemoryReadings,
  registerCopierMetrics,
} from '@tcpcopy/copier/daemon';
import { registerInterceptMetrics } from '@tcpcopy/intercept';
import { Sim } from '../engine/harness.js';
import { startDaemon } from '../intercept/daemon-helpers.js';

export interface DaemonRegistries {
  readonly copier: MetricsRegistry;
  readonly intercept: MetricsRegistry;
}

/** `processMetrics`: Node's process series too, as the served endpoints have them. */
export async function daemonRegistries(
  t: Pick<TestContext, 'after'>,
  processMetrics = false,
): Promise<DaemonRegistries> {
  const sim = new Sim();
  const source: PacketSource = { start: () => {}, stop: () => {}, stats: () => ({ received: 0, truncated: 0 }) };
  const sink: PacketSink = {
    send: () => true,
    stats: () => ({ sent: 0, errors: {}, retried: 0, queueFull: 0, queued: 0 }),
    close: async () => {},
  };
  const links = new InterceptLinks({
    intercepts: [],
    connectionsPerIntercept: 1,
    protocol: 'auto',
    instanceId: 'test:1',
    software: 'test',
    log: createLogger({ name: 'test', level: 'fatal', stderr: { write: () => true } }),
    onRecords: () => 0,
  });
  const log = createLogger({ name: 'test', level: 'fatal', stderr: { write: () => true } });
  // With --compare, so that its series are checked too.
  const comparison = new Comparison(
    { mode: 'auto', compareBytes: 65536, diffLog: undefined, ignoreHeaders: ['Date'], ignoreBody: [] },
    sim.config.targets,
    { log, now: () => sim.now, memoryInUse: () => 0, memoryBudget: () => 1 << 30 },
  );
  const copier = registerCopierMetrics(new MetricsRegistry({ processMetrics }), {
    engine: sim.engine,
    pipeline: new Pipeline(sim.engine, []),
    links,
    source,
    sink,
    clock: { now: () => sim.now },
    copies: 1,
    comparison,
    memoryGuard: new MemoryGuard(1 << 30, processMemoryReadings(source, 0), undefined, () => {}, log),
  });
  // startDaemon only registers its teardown on the context.
  const h = await startDaemon(t as TestContext);
  return { copier, intercept: registerInterceptMetrics(new MetricsRegistry({ processMetrics }), h.daemon) };
}
