import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ReplaySchedule } from '@tcpcopy/copier/offline';

describe('offline replay schedule', () => {
  test('packets are due at their capture offsets from the first, divided by -a', () => {
    const s = new ReplaySchedule(2, 0);
    assert.equal(s.delay(10_000, 500), 0, 'the first packet is due at once');
    assert.equal(s.delay(10_400, 500), 200, '400 ms later in the file, at -a 2: 200 ms');
    assert.equal(s.delay(10_400, 700), 0);
    assert.equal(s.delay(11_000, 900), 100);
  });

  test('-I fast-forwards a gap longer than it, and only that gap', () => {
    const s = new ReplaySchedule(1, 1000);
    s.delay(0, 0);
    assert.equal(s.delay(500, 0), 500, 'a short gap is kept');
    assert.equal(s.delay(60_500, 500), 0, 'a minute of silence is skipped');
    assert.equal(s.delay(60_800, 500), 300, 'and the timeline goes on from there');
  });

  test('restart(): the next pass starts again at once', () => {
    const s = new ReplaySchedule(1, 0);
    s.delay(0, 0);
    s.delay(5000, 0);
    s.restart();
    assert.equal(s.delay(0, 9000), 0);
    assert.equal(s.delay(1000, 9000), 1000);
  });
});
