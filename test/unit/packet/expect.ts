/** Assertions shared by the packet tests. */
import assert from 'node:assert/strict';
import type { TcpOptionsSpec, TcpOptionsView } from '@tcpcopy/common';

/** Number of options in a well-formed option byte string without NOP/EOL. */
function countOptions(raw: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += raw[i + 1]!) n++;
  return n;
}

/** The decoded options are exactly what the spec asked the encoder for. */
export function assertOptionsMatchSpec(out: TcpOptionsView, spec: TcpOptionsSpec): void {
  assert.equal(out.mss, spec.mss ?? -1);
  assert.equal(out.windowScale, spec.windowScale ?? -1);
  assert.equal(out.sackPermitted, spec.sackPermitted === true);
  assert.equal(out.hasTimestamps, spec.timestamps !== undefined);
  if (spec.timestamps !== undefined)
    assert.deepEqual([out.tsVal, out.tsEcr], [spec.timestamps.val, spec.timestamps.ecr]);
  const sack = spec.sack ?? [];
  assert.equal(out.sackBlockCount, sack.length);
  assert.deepEqual(out.sackBlocks.slice(0, sack.length * 2), sack.flat());
  assert.equal(out.unknownCount, spec.raw === undefined ? 0 : countOptions(spec.raw));
}
