// An offline replay's progress: the bar's figures, the time left, and where it is shown.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '@tcpcopy/common';
import { formatProgressBar, showProgress, timeLeftMs, type ProgressFigures } from '@tcpcopy/copier/offline';

const HALF: ProgressFigures = { done: 0.5, packets: 12_345, sessions: 678, sent: 20_000, elapsedMs: 10_000 };

describe('offline replay progress', () => {
  test('the bar: share done, packets, sessions, copy rate, time left at the pace so far', () => {
    assert.equal(formatProgressBar(HALF), '[#####     ]  50% 12,345 pkts 678 sess 2,000 out/s 0:10 left');
    assert.equal(formatProgressBar({ ...HALF, done: 0, elapsedMs: 0 }).endsWith('? left'), true);
    assert.equal(timeLeftMs({ ...HALF, done: 0.25, elapsedMs: 3_600_000 }), 10_800_000);
    assert.match(formatProgressBar({ ...HALF, done: 0.25, elapsedMs: 3_600_000 }), / 3:00:00 left$/);
    const busiest = { done: 1, packets: 999_999_999, sessions: 999_999_999, sent: 999_999_999, elapsedMs: 1000 };
    assert.ok(formatProgressBar(busiest).length <= 80, formatProgressBar(busiest));
  });

  test('on a terminal the bar is redrawn in place and its line ended at the stop; elsewhere a log line', async () => {
    let written = '';
    const terminal = { isTTY: true, write: (s: string) => (written += s) };
    const logs: string[] = [];
    const log = createLogger({ name: 'tcpcopy', level: 'info', stderr: { write: (s: string) => logs.push(s) } });
    const bar = showProgress(() => HALF, terminal, log);
    await new Promise((r) => setTimeout(r, 300));
    bar.stop();
    assert.match(written, /^\r\[#{5} {5}\]  50% .*\u001b\[K/);
    assert.ok(written.endsWith('\n'));
    assert.deepEqual(logs, [], 'no log line while a bar is shown');

    const piped = showProgress(() => HALF, { write: () => assert.fail('nothing is drawn off a terminal') }, log);
    piped.stop();
  });
});
