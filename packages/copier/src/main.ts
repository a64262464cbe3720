/**
 * STUB: the daemon wiring (capture -> engine -> inject, control clients) is written separately.
 * It logs the validated configuration and returns, so the CLI can be exercised end to end.
 */
import { createLogger } from '@tcpcopy/common';
import { describeCopierConfig, type CopierConfig } from './config.js';

export async function main(config: CopierConfig): Promise<void> {
  const log = createLogger({ name: 'tcpcopy', level: config.logLevel, file: config.logFile });
  log.info({ config: describeCopierConfig(config) }, 'configuration accepted (daemon wiring not implemented yet)');
  log.flush();
}
