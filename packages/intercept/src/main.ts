/**
 * STUB: the daemon wiring (capture -> route table -> batcher, control server) is written separately.
 * It logs the validated configuration and returns, so the CLI can be exercised end to end.
 */
import { createLogger } from '@tcpcopy/common';
import { describeInterceptConfig, type InterceptConfig } from './config.js';

export async function main(config: InterceptConfig): Promise<void> {
  const log = createLogger({ name: 'intercept', level: config.logLevel, file: config.logFile });
  log.info({ config: describeInterceptConfig(config) }, 'configuration accepted (daemon wiring not implemented yet)');
  log.flush();
}
