/** node:test glue: a lab per test, torn down in the test's after-hook, logs shown on failure. */
import type { TestContext } from 'node:test';
import { createLab, type Lab, type LabOptions } from './lab.js';

/**
 * Runs `fn` with a fresh lab. Teardown is registered with the test before `fn` runs (and the
 * process-wide exit/signal handlers back it up); a failing test prints the tail of every log
 * and keeps the run's log directory, a passing one removes it.
 */
export async function withLab<T>(t: TestContext, fn: (lab: Lab) => Promise<T>, options?: LabOptions): Promise<T> {
  const lab = await createLab(options);
  let failed = false;
  t.after(() => lab.destroy({ keepLogs: failed }));
  try {
    return await fn(lab);
  } catch (err) {
    failed = true;
    process.stderr.write(`\nlab ${lab.prefix} failed; logs in ${lab.logDir}\n${lab.logTail()}\n`);
    throw err;
  }
}
