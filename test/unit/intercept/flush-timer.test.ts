import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { systemClock } from '@tcpcopy/common';
import { FlushTimer } from '@tcpcopy/intercept';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('FlushTimer', () => {
  test('wakes once the oldest record is due, keeps waking while younger ones wait, then sleeps', async () => {
    const maxDelayMs = 5;
    const calls: number[] = [];
    const timer = new FlushTimer(systemClock, maxDelayMs, (now) => calls.push(now));
    assert.equal(timer.armed, false, 'idle: no timer at all');
    const first = systemClock.now();
    timer.poke(first);
    await sleep(3);
    const second = systemClock.now();
    timer.poke(second); // already armed: no second timer
    await sleep(40);
    assert.equal(timer.armed, false, 'asleep again once nothing waits');
    assert.ok(calls.length >= 1 && calls.length <= 4, `woke ${calls.length} times`);
    // Node timers may fire up to ~1 ms early; the re-arm catches the rest.
    assert.ok(
      calls.some((now) => now - first >= maxDelayMs - 1),
      'a wake-up when the first record was due',
    );
    assert.ok(calls.at(-1)! - second >= maxDelayMs, 'the last wake-up after the second record was due');
    timer.stop();
  });

  test('stop() cancels a pending wake-up and ignores later pokes', async () => {
    let calls = 0;
    const timer = new FlushTimer(systemClock, 2, () => calls++);
    timer.poke(systemClock.now());
    timer.stop();
    timer.poke(systemClock.now());
    await sleep(20);
    assert.equal(calls, 0);
    assert.equal(timer.armed, false);
  });
});
