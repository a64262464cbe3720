import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseProcNetDev } from '@tcpcopy/common';

describe('interfaces of the namespace', () => {
  const PROC_NET_DEV = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0
  eth0: 1234 5 0 0 0 0 0 0 99 1 0 0 0 0 0 0
tc-x1y2-aux: 1 1 0 0 0 0 0 0 1 1 0 0 0 0 0 0
`;

  test('/proc/net/dev lists the kernel interfaces (no libpcap pseudo-devices, no "any")', () => {
    assert.deepEqual(parseProcNetDev(PROC_NET_DEV), ['lo', 'eth0', 'tc-x1y2-aux']);
  });
});
