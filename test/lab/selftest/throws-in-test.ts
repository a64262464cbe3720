/**
 * Child test file for lab-teardown.test (run with plain `node FILE OUT`): a test whose body
 * throws while its lab runs nginx. Writes the lab's prefix to OUT first.
 */
import { test } from 'node:test';
import { writeFileSync } from 'node:fs';
import { withLab } from '../with-lab.js';

const outFile = process.argv[2]!;

test('a test that throws inside its lab', (t) =>
  withLab(t, async (lab) => {
    writeFileSync(outFile, lab.prefix);
    await lab.startNginx('prod');
    throw new Error('deliberate failure inside the lab');
  }));
