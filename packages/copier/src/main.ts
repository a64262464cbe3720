/**
 * tcpcopy's daemon: capture -> engine -> raw socket, with the intercept control channels
 * feeding the test server's replies back. Everything per packet lives in the engine and the
 * pipeline; this file owns process state: sockets, timers, signals, logs.
 */
import { hostname } from 'node:os';
import {
  ConfigReloader,
  ErrorCode,
  LiveCapture,
  RuntimeError,
  checkCaptureFilter,
  createLogger,
  ANY_DEVICE,
  dropPrivileges,
  ipv4ToString,
  localIpv4Addresses,
  readPackageVersion,
  systemClock,
  type CliContext,
  type Clock,
  type ExitCode,
  type Logger,
  type PacketSink,
  type PacketSource,
} from '@tcpcopy/common';
import { runCopierCheck } from './check.js';
import type { CopierConfig } from './config.js';
import { CAPTURE_LOSS_POLL_MS, Engine, FakeAddressPlan, type EngineConfig } from './engine/index.js';
import { CaptureLossWatch } from './daemon/capture-loss.js';
import { buildCaptureFilter, filterNamesHostAddresses } from './daemon/capture-filter.js';
import { AddressWatch, followHostAddresses } from './daemon/address-watch.js';
import { OfflineSource } from './offline/offline-source.js';
import { showProgress } from './offline/progress.js';
import { InterceptLinks, readCopierAuthKey } from './daemon/intercept-links.js';
import { Pipeline } from './daemon/pipeline.js';
import { openCopySink } from './daemon/copy-sink.js';
import { DeadlineTimer } from './daemon/deadline-timer.js';
import { statsSnapshot } from './daemon/stats.js';
import { MemoryGuard, processMemoryReadings, sessionRoom, v8FullCollection } from './daemon/memory-guard.js';
import type { Comparison } from './daemon/comparison.js';
import type { MetricsServer } from '@tcpcopy/common/metrics';
import { DIAGNOSIS_SAMPLE_MS, NoReplyWatch, noReplyContext } from './daemon/diagnosis.js';

/** A closed session's tuple stays reserved this long (upstream TCP_MS_TIMEOUT: 6 s). */
const LINGER_MS = 6000;
/** After the last packet of an offline replay, sessions get this long to finish (upstream OFFLINE_TAIL_TIMEOUT). */
const OFFLINE_TAIL_TIMEOUT_MS = 120_000;
const DRAIN_POLL_MS = 100;
/** Upstream OUTPUT_INTERVAL. */
const STATS_INTERVAL_MS = 30_000;
/** How long start-up waits for a first intercept connection before capturing anyway. */
const FIRST_CONNECTION_WAIT_MS = 3000;
/** On SIGTERM the last RSTs and route deletes get this long to leave. */
const SHUTDOWN_GRACE_MS = 500;
/**
 * How long a quiet capture holds packets back. The lag is the same for every packet of a
 * session (pacing follows the test server's replies, not the capture), and 8 ms lets the -B ring
 * outlast a pause of the event loop of a second at the default size, however few the packets.
 */
const CAPTURE_BLOCK_TIMEOUT_MS = 8;
/**
 * The kernel ring under the spill area (-B): the addon's copying thread empties it as blocks
 * retire, so it holds only what arrives while that thread waits for a CPU. In the lab 4 MiB lost
 * packets of uploads at veth speed in one run of two, 8 MiB in one of seven (64 KiB packets
 * behind a shaper: one per block), 16 MiB none.
 */
const CAPTURE_RING_BYTES = 16 * 1024 * 1024;
/** -f k shifts ports by k * 2048 plus a per-process random offset, as upstream. */
const PORT_SHIFT_UNIT = 2048;
const PORT_SHIFT_RANDOM = 512;
/** --compare: tcpcopy counts as saturated while more than 1/8 of -B waits in the capture. */
const SATURATED_SPILL_SHARE = 8;

export function engineConfigOf(config: CopierConfig, random: () => number = Math.random): EngineConfig {
  return {
    targets: config.transfers.map((t) => ({
      matchIp: t.matchIp ?? 0,
      matchPort: t.matchPort,
      targetIp: t.targetIp,
      targetPort: t.targetPort,
    })),
    fakeIps: config.fakeClientIps,
    ...(config.loopbackSource === undefined ? {} : { loopbackSource: config.loopbackSource }),
    copies: config.copies,
    portShift:
      config.portShift === 0 ? 0 : config.portShift * PORT_SHIFT_UNIT + Math.floor(random() * PORT_SHIFT_RANDOM),
    samplePercent: config.samplePercent,
    rampUp: config.rampUp,
    fakeSynMss: config.mss,
    mtu: config.mtu,
    onlySyn: config.onlySyn,
    noWait: config.noWait,
    sessionTimeoutMs: config.sessionTimeoutMs,
    keepaliveTimeoutMs: config.keepaliveTimeoutMs,
    fixedRttMs: config.fixedRttMs ?? 0,
    memoryBudgetBytes: config.memoryLimitBytes,
    lingerMs: LINGER_MS,
  };
}

function captureRingBytes(config: CopierConfig): number {
  return Math.min(config.captureBufferBytes, CAPTURE_RING_BYTES);
}

/**
 * -m caps the whole process: what it holds before the first packet (the runtime), the capture
 * ring about to be mapped and its spill area (-B) at its fullest leave the rest to sessions
 * (Engine.memoryInUse).
 */
function memoryBudget(config: CopierConfig, liveCapture: boolean, log: Logger): number {
  const captureBytes = liveCapture ? captureRingBytes(config) + config.captureBufferBytes : 0;
  const room = sessionRoom(config.memoryLimitBytes, process.memoryUsage.rss() + captureBytes);
  if (room.warning !== undefined) log.warn(room.fields, room.warning);
  return room.budgetBytes;
}

export interface CopierIo {
  source: PacketSource;
  sink: PacketSink;
  clock: Clock;
}

export async function main(
  config: CopierConfig,
  cli: CliContext<CopierConfig>,
  io?: CopierIo,
): Promise<ExitCode | void> {
  if (config.check) return runCopierCheck(config, engineConfigOf(config).targets);
  // Mutable: SIGHUP may change -r, and the engine reads samplePercent afresh at each session
  // start, so running sessions go on and only new ones see the new share.
  const engineConfig: { -readonly [K in keyof EngineConfig]: EngineConfig[K] } = engineConfigOf(config);
  const hostAddresses = localIpv4Addresses();
  // With --compare, production's answers are captured too, except while tcpcopy is saturated.
  let answers = config.compare !== undefined;
  let addresses: readonly number[] = hostAddresses;
  const filterNow = (): string => buildCaptureFilter(engineConfig.targets, addresses, config.filter, answers);
  const filter = filterNow();
  // A typo in -F is the first thing reported: not after seconds of waiting for intercepts.
  if (io === undefined && config.offline === undefined) checkCaptureFilter(filter);
  // The key is read once, at start: a SIGHUP reload does not re-read it (docs/flags.md).
  const authKey = readCopierAuthKey(config.authFile, config.controlProtocol);
  const log = createLogger({ name: 'tcpcopy', level: config.logLevel, file: cli.logFile });
  // SIGHUP: logrotate, and --config's -r and log level. Handled from here on: its default
  // action would kill a copier still waiting for its intercepts.
  const reloader = new ConfigReloader(config, {
    log,
    load: () => cli.reload(),
    apply: { samplePercent: (percent) => (engineConfig.samplePercent = percent) },
  });
  process.on('SIGHUP', () => {
    void reloader.onSighup();
    comparison?.reopen();
  });
  engineConfig.memoryBudgetBytes = memoryBudget(config, io === undefined && config.offline === undefined, log);
  // One capture for every interface unless -i names some: one ring instead of one per device.
  const devices = config.devices.length > 0 ? config.devices : [ANY_DEVICE];
  const clock = io?.clock ?? systemClock;
  const sink = io?.sink ?? openCopySink(config);
  const targetNames = new Map<number, string>();
  const nameOf = (ip: number): string => {
    let name = targetNames.get(ip);
    if (name === undefined) targetNames.set(ip, (name = ipv4ToString(ip)));
    return name;
  };

  // Loaded only to compare: a copier that does not pays nothing for it, not even the modules.
  const compare = config.compare === undefined ? undefined : await import('./daemon/comparison.js');
  const comparison: Comparison | undefined =
    config.compare === undefined || compare === undefined
      ? undefined
      : new compare.Comparison(config.compare, engineConfig.targets, {
          log: log.child({ component: 'compare' }),
          now: () => clock.now(),
          memoryInUse: () => engine.memoryInUse,
          // Near -m (the resident set) comparisons are shed with new sessions.
          memoryBudget: () => (engine.memoryPressure ? 0 : engineConfig.memoryBudgetBytes),
        });
  let links: InterceptLinks | undefined;
  const engine: Engine = new Engine(
    engineConfig,
    {
      inject: (packet, length, dstIp) => {
        comparison?.injectedPacket(packet, length);
        sink.send(packet, 0, length, nameOf(dstIp));
      },
      routeAdd: (tuple) => links?.routeAdd(tuple),
      routeDel: (tuple) => {
        links?.routeDel(tuple);
        comparison?.routeDel(tuple);
      },
      ...comparison?.engineHooks(),
    },
    new FakeAddressPlan(engineConfig.fakeIps, engineConfig.portShift, engineConfig.loopbackSource),
  );
  const pipeline = new Pipeline(engine, engineConfig.fakeIps, engineConfig.targets, comparison);
  const timer = new DeadlineTimer(
    clock,
    () => engine.nextDeadline(),
    (now) => engine.tick(now),
  );

  links = new InterceptLinks({
    intercepts: config.intercepts,
    connectionsPerIntercept: config.connectionsPerIntercept,
    protocol: config.controlProtocol,
    authKey,
    instanceId: `${hostname()}:${process.pid}`,
    software: `tcpcopy ${readPackageVersion(import.meta.url)}`,
    log: log.child({ component: 'control' }),
    onRecords: (records) => {
      const n = pipeline.onRecords(records, clock.now());
      timer.poke();
      return n;
    },
    wantPayloads: comparison !== undefined,
    onPayloadRecords: (records) => {
      const n = pipeline.onPayloadRecords(records, clock.now());
      timer.poke();
      return n;
    },
    onPayloadsRefused: (why) => comparison?.disable(why),
  });
  links.start();
  // A stop while it waits for intercepts is as clean as one later on.
  await Promise.race([waitForFirstConnection(links, FIRST_CONNECTION_WAIT_MS), cli.stops.requested]);
  if (links.readyCount === 0 && cli.stops.signal === undefined) {
    const intercepts = config.intercepts.map((i) => `${ipv4ToString(i.ip)}:${i.port}`);
    if (!config.keepRunningWithoutIntercepts) {
      // As upstream without -L: copies whose replies cannot come back are worse than none.
      links.close();
      throw (
        links.authFailure ??
        new RuntimeError(
          ErrorCode.NO_INTERCEPT,
          `no intercept reachable at ${intercepts.join(', ')} within ${FIRST_CONNECTION_WAIT_MS / 1000} s`,
        )
      );
    }
    log.warn(
      { intercepts },
      'no intercept reachable yet (-L): capturing anyway, routes are sent as soon as one connects',
    );
  }

  const offline = config.offline === undefined ? undefined : new OfflineSource(config.offline, clock);
  const source =
    io?.source ??
    offline ??
    new LiveCapture({
      devices,
      filter,
      // Production's answers leave this host: with --compare the capture also sees what it sends.
      direction: comparison === undefined ? 'in' : 'both',
      ringBytes: captureRingBytes(config),
      spillBytes: config.captureBufferBytes,
      snapLength: config.snapLength,
      blockTimeoutMs: CAPTURE_BLOCK_TIMEOUT_MS,
    });
  const memoryGuard = new MemoryGuard(
    config.memoryLimitBytes,
    processMemoryReadings(source, source instanceof LiveCapture ? config.captureBufferBytes : 0),
    v8FullCollection(),
    (pressure) => (engine.memoryPressure = pressure),
    log,
  );
  const parts = { engine, pipeline, links, source, sink, clock, copies: config.copies, comparison, memoryGuard };
  // prom-client is loaded only when metrics are served: it is a sixth of an idle daemon's memory.
  const metrics: MetricsServer | undefined =
    config.metrics === undefined
      ? undefined
      : await (await import('./daemon/metrics.js')).serveCopierMetrics(parts, config.metrics);
  // Stopped while it started: nothing is captured, and the stop below follows at once.
  if (cli.stops.signal === undefined) {
    source.start((buf, offset, length, linkType, _tsMicros, outgoing) => {
      pipeline.onFrame(linkType, buf, offset, length, clock.now(), outgoing);
      timer.poke();
    });
    if (config.user !== undefined) dropPrivileges(config.user);
    const metricsAt = metrics === undefined ? undefined : `${metrics.address.address}:${metrics.address.port}`;
    log.info(
      {
        devices,
        filter,
        offline: config.offline?.file,
        targets: config.transfers.length,
        copies: config.copies,
        metrics: metricsAt,
      },
      'capturing',
    );
    cli.ready();
  }

  const stats = setInterval(() => log.info(statsSnapshot(parts, clock.now()), 'stats'), STATS_INTERVAL_MS).unref();
  memoryGuard.start(() => clock.now());
  const watch = new NoReplyWatch(parts, noReplyContext(config), log);
  const diagnosis = setInterval(() => watch.check(clock.now()), DIAGNOSIS_SAMPLE_MS);
  diagnosis.unref();
  const lossWatch = new CaptureLossWatch(source, engine, log, config.captureBufferBytes);
  const captureLoss = setInterval(() => lossWatch.check(clock.now()), CAPTURE_LOSS_POLL_MS);
  captureLoss.unref();
  const stopLoadWatch =
    comparison === undefined || compare === undefined
      ? undefined
      : compare.watchSaturation(
          () => source.stats().spillHeldBytes ?? 0,
          config.captureBufferBytes / SATURATED_SPILL_SHARE,
          (busy) => {
            comparison.setBusy(busy);
            if (answers !== busy || !(source instanceof LiveCapture) || config.filter !== undefined) return;
            answers = !busy;
            source.setFilter(filterNow());
            source.setOutgoing(answers);
          },
        );
  const stopFollowing =
    source instanceof LiveCapture && filterNamesHostAddresses(engineConfig.targets, config.filter)
      ? followHostAddresses({
          watch: new AddressWatch(localIpv4Addresses, hostAddresses),
          filterFor: (changed) => {
            addresses = changed;
            return filterNow();
          },
          setFilter: (changed) => source.setFilter(changed),
          counted: () => pipeline.counters.hostAddressChanges++,
          log,
        })
      : undefined;
  const replayStartedAt = Date.now();
  const progress =
    offline === undefined || source !== offline
      ? undefined
      : showProgress(
          () => ({
            ...offline.progress(),
            sessions: engine.counters.sessionsStarted,
            sent: sink.stats().sent,
            elapsedMs: Date.now() - replayStartedAt,
          }),
          process.stderr,
          log,
        );

  // An offline replay ends by itself once the file is done and its sessions have drained.
  const replayed = offline?.done
    .then(() => waitForDrain(engine, OFFLINE_TAIL_TIMEOUT_MS))
    .then(() => 'end of replay' as const);
  const signal = await Promise.race(replayed === undefined ? [cli.stops.requested] : [cli.stops.requested, replayed]);
  progress?.stop();
  log.info({ signal }, 'stopping');
  source.stop();
  clearInterval(stats);
  clearInterval(diagnosis);
  clearInterval(captureLoss);
  memoryGuard.stop();
  stopLoadWatch?.();
  stopFollowing?.();
  void metrics?.close();
  comparison?.shutdown();
  engine.shutdown(clock.now());
  timer.stop();
  links.close();
  await comparison?.close();
  log.info(statsSnapshot(parts, clock.now()), 'final stats');
  await Promise.race([sink.close(), new Promise((r) => setTimeout(r, SHUTDOWN_GRACE_MS))]);
  log.flush();
  // Native capture handles can outlive stop(); nothing is left to do, so don't wait for them.
  setTimeout(() => process.exit(0), SHUTDOWN_GRACE_MS).unref();
}

function waitForDrain(engine: Engine, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const started = Date.now();
    const check = (): void => {
      if (engine.sessionCount === 0 || Date.now() - started >= timeoutMs) resolve();
      else setTimeout(check, DRAIN_POLL_MS);
    };
    check();
  });
}

function waitForFirstConnection(links: InterceptLinks, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const started = Date.now();
    const check = (): void => {
      if (links.readyCount > 0 || Date.now() - started >= timeoutMs) resolve();
      else setTimeout(check, 20);
    };
    check();
  });
}
