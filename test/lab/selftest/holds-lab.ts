/**
 * Child process for lab-teardown.test: creates a lab with a long-running program inside it,
 * writes {"prefix","sleepPid"} to the file in argv[3], prints `ready`, then ends the way
 * argv[2] says: `wait` (until a signal arrives), `uncaught` (an uncaught exception) or `exit`
 * (process.exit(5) from inside a callback).
 */
import { writeFileSync } from 'node:fs';
import { createLab } from '../lab.js';

const [mode, outFile] = process.argv.slice(2) as [string, string];
const lab = await createLab();
const sleeper = lab.spawn('client', 'sleep', ['600']);
writeFileSync(outFile, JSON.stringify({ prefix: lab.prefix, sleepPid: sleeper.pid }));
process.stdout.write('ready\n');
// Keeps the event loop alive whatever the mode.
const keepAlive = setInterval(() => undefined, 60_000);
if (mode === 'uncaught') {
  setTimeout(() => {
    throw new Error('deliberate uncaught exception');
  }, 10);
} else if (mode === 'exit') {
  setTimeout(() => process.exit(5), 10);
} else if (mode !== 'wait') {
  clearInterval(keepAlive);
  throw new Error(`unknown mode ${mode}`);
}
