import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PARKING_TTL_MS, ParkingLot } from '@tcpcopy/intercept';

const CLIENT = [0x0a090001, 40000] as const;
const TARGET = [0x0a000002, 8000] as const;

function park(lot: ParkingLot, tag: number, nowMs: number, targetPort: number = TARGET[1]): number {
  const buf = Buffer.from([0xee, tag, tag, 0xee]);
  return lot.park(...CLIENT, TARGET[0], targetPort, buf, 1, 2, nowMs);
}

const tags = (records: readonly Buffer[]): number[] => records.map((r) => r[0]!);

describe('ParkingLot', () => {
  test('parked copies come back in arrival order, for their flow only, once', () => {
    const lot = new ParkingLot();
    const source = Buffer.from([0, 1, 1, 0]);
    lot.park(...CLIENT, ...TARGET, source, 1, 2, 0);
    source[1] = 9; // the capture buffer is reused: the lot must hold a copy
    park(lot, 2, 1);
    park(lot, 3, 2, 9999);
    park(lot, 4, 3);
    assert.equal(lot.size, 4);
    assert.deepEqual(tags(lot.take(...CLIENT, TARGET[0], 1234)), []);
    assert.deepEqual(tags(lot.take(...CLIENT, ...TARGET)), [1, 2, 4]);
    assert.deepEqual(tags(lot.take(...CLIENT, ...TARGET)), []);
    assert.equal(lot.size, 1);
    assert.deepEqual(tags(lot.take(...CLIENT, TARGET[0], 9999)), [3]);
    assert.equal(lot.size, 0);
  });

  test('replies expire after 30 s, not before', () => {
    const lot = new ParkingLot();
    assert.equal(lot.ttlMs, PARKING_TTL_MS);
    assert.equal(PARKING_TTL_MS, 30_000);
    park(lot, 1, 0);
    park(lot, 2, 10_000);
    assert.equal(lot.expire(29_999), 0);
    assert.equal(lot.expire(30_000), 1);
    assert.deepEqual(tags(lot.take(...CLIENT, ...TARGET)), [2]);
    park(lot, 3, 40_000);
    assert.equal(lot.expire(70_000), 1);
    assert.equal(lot.size, 0);
    assert.deepEqual(tags(lot.take(...CLIENT, ...TARGET)), []);
  });

  test('bounded: the oldest reply makes room and is counted', () => {
    const lot = new ParkingLot(3);
    assert.equal(park(lot, 1, 0), 0);
    assert.equal(park(lot, 2, 0, 1), 0);
    assert.equal(park(lot, 3, 0), 0);
    assert.equal(park(lot, 4, 0), 1);
    assert.equal(park(lot, 5, 0), 1);
    assert.equal(lot.size, 3);
    assert.deepEqual(tags(lot.take(...CLIENT, ...TARGET)), [3, 4, 5]);
    assert.deepEqual(tags(lot.take(...CLIENT, TARGET[0], 1)), []);
  });

  test('expiry after a partial take keeps the remaining order intact', () => {
    const lot = new ParkingLot();
    park(lot, 1, 0, 1);
    park(lot, 2, 1, 2);
    park(lot, 3, 2, 1);
    assert.deepEqual(tags(lot.take(...CLIENT, TARGET[0], 2)), [2]);
    assert.equal(lot.expire(PARKING_TTL_MS), 1);
    assert.deepEqual(tags(lot.take(...CLIENT, TARGET[0], 1)), [3]);
    assert.equal(lot.expire(PARKING_TTL_MS + 2), 0);
    assert.equal(lot.size, 0);
  });
});
