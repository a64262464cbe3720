import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DECODE_STATUS_NAMES, DecodeStatus, MAX_SACK_EDGES, newPacketViews } from '@tcpcopy/common';

test('every decode status has a distinct name, indexed by its value', () => {
  const values = Object.values(DecodeStatus);
  assert.deepEqual(
    [...values].sort((a, b) => a - b),
    values.map((_, i) => i),
  );
  assert.equal(DECODE_STATUS_NAMES.length, values.length);
  assert.equal(new Set(DECODE_STATUS_NAMES).size, values.length);
  assert.equal(DECODE_STATUS_NAMES[DecodeStatus.Ok], 'ok');
  assert.equal(DECODE_STATUS_NAMES[DecodeStatus.BadOptionLength], 'bad option length');
});

test('fresh views: absent options are -1, SACK storage preallocated', () => {
  const { link, tcp } = newPacketViews();
  assert.equal(link.packetType, -1);
  assert.equal(tcp.options.mss, -1);
  assert.equal(tcp.options.windowScale, -1);
  assert.equal(tcp.options.tsValOffset, -1);
  assert.equal(tcp.options.sackBlocks.length, MAX_SACK_EDGES);
});
