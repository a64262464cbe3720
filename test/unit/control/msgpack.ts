/**
 * A minimal, independent msgpack writer (spec: github.com/msgpack/msgpack/blob/master/spec.md) for
 * crafting payloads our encoder would never produce. Being a second implementation, it also shows
 * that the decoder reads standard msgpack, not just msgpackr's own output.
 */

function head(marker: number, width: 1 | 2 | 4, n: number): Buffer {
  const b = Buffer.alloc(1 + width);
  b[0] = marker;
  b.writeUIntBE(n, 1, width);
  return b;
}

function sized(n: number, fix: number | null, fixMax: number, m8: number | null, m16: number, m32: number): Buffer {
  if (fix !== null && n <= fixMax) return Buffer.from([fix | n]);
  if (m8 !== null && n <= 0xff) return head(m8, 1, n);
  return n <= 0xffff ? head(m16, 2, n) : head(m32, 4, n);
}

export function msgpack(value: unknown): Buffer {
  if (value === null || value === undefined) return Buffer.from([0xc0]);
  if (value === false) return Buffer.from([0xc2]);
  if (value === true) return Buffer.from([0xc3]);
  if (typeof value === 'bigint') {
    const b = Buffer.alloc(9);
    b[0] = 0xcf;
    b.writeBigUInt64BE(value, 1);
    return b;
  }
  if (typeof value === 'number') {
    if (Number.isInteger(value) && value >= 0 && value <= 0xffffffff) {
      return value < 0x80 ? Buffer.from([value]) : head(0xce, 4, value);
    }
    const b = Buffer.alloc(9);
    b[0] = 0xcb;
    b.writeDoubleBE(value, 1);
    return b;
  }
  if (typeof value === 'string') {
    const utf8 = Buffer.from(value, 'utf8');
    return Buffer.concat([sized(utf8.length, 0xa0, 31, 0xd9, 0xda, 0xdb), utf8]);
  }
  if (value instanceof Uint8Array) return Buffer.concat([sized(value.length, null, 0, 0xc4, 0xc5, 0xc6), value]);
  if (Array.isArray(value))
    return Buffer.concat([sized(value.length, 0x90, 15, null, 0xdc, 0xdd), ...value.map(msgpack)]);
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  return Buffer.concat([
    sized(entries.length, 0x80, 15, null, 0xde, 0xdf),
    ...entries.flatMap(([k, v]) => [msgpack(k), msgpack(v)]),
  ]);
}
