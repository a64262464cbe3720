/**
 * intercept's process: flags are validated already (config.ts), and runCli took care of -d, the
 * pid file and the stop signals; this file owns the log, the live capture, privileges, the stop
 * and the exit. The daemon itself (server + capture + core + timers) is InterceptDaemon.
 */
import { hostname } from 'node:os';
import {
  ConfigReloader,
  LiveCapture,
  checkCaptureFilter,
  createLogger,
  ipv4ToString,
  readPackageVersion,
  ANY_DEVICE,
  INITIAL_CAPTURE_RING_BYTES,
  dropPrivileges,
  readAuthFile,
  type CliContext,
  type ExitCode,
} from '@tcpcopy/common';
import { runInterceptCheck } from './check.js';
import { describeInterceptConfig, type InterceptConfig } from './config.js';
import type { MetricsServer } from '@tcpcopy/common/metrics';
import { InterceptDaemon } from './daemon/intercept-daemon.js';
import { HEADERS_SNAP_LENGTH } from './daemon/payload-capture.js';

/** On SIGTERM, copier connections get this long to take their last responses frames. */
const CLOSE_GRACE_MS = 300;
/** Once stopped, the process exits this soon even if a native handle lingers. */
const EXIT_GRACE_MS = 100;

export async function main(config: InterceptConfig, cli: CliContext<InterceptConfig>): Promise<ExitCode | void> {
  if (config.check) return runInterceptCheck(config);
  // A typo in -F is the first thing reported, whatever else is wrong.
  checkCaptureFilter(config.filter);
  // The key is read once, at start: a SIGHUP reload does not re-read it (docs/flags.md).
  const authKey = readAuthFile(config.authFile);

  const log = createLogger({ name: 'intercept', level: config.logLevel, file: cli.logFile });
  // logrotate's postrotate sends SIGHUP: reopen the log, and re-read --config (the log level).
  // Handled from here on: SIGHUP's default action would kill a daemon still starting.
  const reloader = new ConfigReloader(config, { log, load: () => cli.reload() });
  const onSighup = (): void => void reloader.onSighup();
  process.on('SIGHUP', onSighup);
  let daemon: InterceptDaemon | undefined;
  let metrics: MetricsServer | undefined;
  try {
    // One capture for every interface unless -i names some: one ring instead of one per device.
    const devices = config.devices.length > 0 ? config.devices : [ANY_DEVICE];
    daemon = new InterceptDaemon({
      host: ipv4ToString(config.bindAddress),
      port: config.port,
      // Both directions: on aux the replies arrive, on a test server that runs intercept itself
      // they leave. Headers only: records carry nothing else, and the ring holds ~8x more; it
      // starts small and grows with the load. Whole packets only while a copier asks for
      // payloads (daemon/payload-capture.ts).
      source: new LiveCapture({
        devices,
        filter: config.filter,
        direction: 'both',
        snapLength: HEADERS_SNAP_LENGTH,
        initialRingBytes: INITIAL_CAPTURE_RING_BYTES,
      }),
      log,
      instanceId: `${hostname()}:${process.pid}`,
      software: `intercept ${readPackageVersion(import.meta.url)}`,
      closeGraceMs: CLOSE_GRACE_MS,
      core: { replyAddressMap: config.containerMap },
      admission: { key: authKey, allow: config.allow },
    });
    const address = await daemon.start();
    // Stopped while it started: no metrics, no 'running', no ready; the stop below follows.
    if (cli.stops.signal === undefined) {
      // prom-client is loaded only when metrics are served: it is a sixth of an idle daemon's memory.
      if (config.metrics !== undefined)
        metrics = await (await import('./daemon/metrics.js')).serveInterceptMetrics(daemon, config.metrics);
      if (config.user !== undefined) dropPrivileges(config.user);
      const metricsAt = metrics === undefined ? undefined : `${metrics.address.address}:${metrics.address.port}`;
      log.info(
        {
          listen: `${address.address}:${address.port}`,
          devices,
          filter: config.filter,
          containerMap: describeInterceptConfig(config).containerMap,
          user: config.user,
          metrics: metricsAt,
        },
        'intercept running',
      );
      cli.ready();
    }
  } catch (err) {
    await Promise.all([daemon?.stop(), metrics?.close()]);
    log.flush();
    throw err;
  }

  log.info({ signal: await cli.stops.requested }, 'stopping');
  await Promise.all([daemon.stop(), metrics?.close()]);
  log.info(daemon.stats(), 'final stats');
  log.flush();
  process.off('SIGHUP', onSighup);
  // The capture handles are closed, but a native binding may still hold the loop: don't wait for it.
  setTimeout(() => process.exit(0), EXIT_GRACE_MS).unref();
}
