/**
 * intercept's process: flags are validated already (config.ts); this file owns what is process
 * state: -d, the pid file, the log, the live capture, privileges, signals and the exit. The
 * daemon itself (server + capture + core + timers) is InterceptDaemon.
 */
import { hostname } from 'node:os';
import {
  ErrorCode,
  LiveCapture,
  RuntimeError,
  createLogger,
  daemonize,
  ipv4ToString,
  readPackageVersion,
  writePidFile,
  defaultCaptureDevices,
  type MetricsServer,
  dropPrivileges,
} from '@tcpcopy/common';
import { describeInterceptConfig, type InterceptConfig } from './config.js';
import { InterceptDaemon, serveInterceptMetrics } from './daemon/index.js';

/** On SIGTERM, copier connections get this long to take their last responses frames. */
const CLOSE_GRACE_MS = 300;
/** Once stopped, the process exits this soon even if a native handle lingers. */
const EXIT_GRACE_MS = 100;

export async function main(config: InterceptConfig): Promise<void> {
  if (config.check) {
    process.stdout.write(`${JSON.stringify(describeInterceptConfig(config), null, 2)}\n`);
    return;
  }
  if (config.configFile !== undefined) throw new RuntimeError(ErrorCode.NOT_IMPLEMENTED, '--config files are not read yet; use flags');
  if (!daemonize(config.daemonize, process.env, process.argv, process.execPath)) return process.exit(0);

  const log = createLogger({ name: 'intercept', level: config.logLevel, file: config.logFile });
  const removePidFile = config.pidFile === undefined ? undefined : writePidFile(config.pidFile, process.pid);
  let daemon: InterceptDaemon | undefined;
  let metrics: MetricsServer | undefined;
  try {
    const devices = config.devices.length > 0 ? config.devices : defaultCaptureDevices();
    daemon = new InterceptDaemon({
      host: ipv4ToString(config.bindAddress),
      port: config.port,
      source: new LiveCapture({ devices, filter: config.filter }),
      log,
      instanceId: `${hostname()}:${process.pid}`,
      software: `intercept ${readPackageVersion(import.meta.url)}`,
      closeGraceMs: CLOSE_GRACE_MS,
    });
    const address = await daemon.start();
    if (config.metrics !== undefined) metrics = await serveInterceptMetrics(daemon, config.metrics);
    if (config.user !== undefined) dropPrivileges(config.user);
    const metricsAt = metrics === undefined ? undefined : `${metrics.address.address}:${metrics.address.port}`;
    log.info({ listen: `${address.address}:${address.port}`, devices, filter: config.filter, user: config.user, metrics: metricsAt }, 'intercept running');
  } catch (err) {
    await Promise.all([daemon?.stop(), metrics?.close()]);
    removePidFile?.();
    log.flush();
    throw err;
  }

  const reopenLog = (): void => log.reopen(); // logrotate's postrotate sends SIGHUP
  process.on('SIGHUP', reopenLog);
  const running = daemon;
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      log.info({ signal }, 'stopping');
      void Promise.all([running.stop(), metrics?.close()]).then(() => {
        log.info(running.stats(), 'final stats');
        removePidFile?.();
        log.flush();
        resolve();
      });
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  process.off('SIGHUP', reopenLog);
  // The capture handles are closed, but a native binding may still hold the loop: don't wait for it.
  setTimeout(() => process.exit(0), EXIT_GRACE_MS).unref();
}
