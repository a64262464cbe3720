import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { systemClock } from '@tcpcopy/common';
import { DeadlineTimer } from '@tcpcopy/copier/daemon';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('DeadlineTimer', () => {
  test('fires at the earliest deadline, re-arms from the engine, and only moves earlier on poke', async () => {
    const deadlines = [systemClock.now() + 30];
    const fired: number[] = [];
    const timer = new DeadlineTimer(
      systemClock,
      () => deadlines[0] ?? Infinity,
      (now) => {
        fired.push(now);
        deadlines.shift();
      },
    );
    timer.poke();
    deadlines.unshift(systemClock.now() + 5); // an earlier deadline appears
    timer.poke();
    deadlines.push(systemClock.now() + 60);
    await sleep(120);
    timer.stop();
    assert.equal(fired.length, 3, 'each deadline fired once, the earliest first');
    assert.ok(fired[0]! < fired[1]! && fired[1]! < fired[2]!);
  });

  test('stop: nothing fires afterwards', async () => {
    let fired = 0;
    const timer = new DeadlineTimer(
      systemClock,
      () => systemClock.now() + 5,
      () => fired++,
    );
    timer.poke();
    timer.stop();
    await sleep(30);
    assert.equal(fired, 0);
  });
});
