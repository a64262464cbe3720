/**
 * Big-endian (network order) field access on plain byte arrays; no DataView, so no byteOffset traps.
 *
 * Allocation note: V8 keeps int32 values in small integers but uint32 values >= 2^31 in heap
 * numbers, which are allocated whenever such a value crosses a call that was not inlined. Hot
 * code therefore moves 32-bit fields around as int32 (readI32, `| 0`) and converts to uint32
 * (`>>> 0`) only where it stores them into a view, whose number fields are updated in place.
 */

export function readU16(buf: Uint8Array, i: number): number {
  return (buf[i]! << 8) | buf[i + 1]!;
}

/** The 32 bits as a signed int32: what hot code passes around (see the note above). */
export function readI32(buf: Uint8Array, i: number): number {
  return (buf[i]! << 24) | (buf[i + 1]! << 16) | (buf[i + 2]! << 8) | buf[i + 3]!;
}

/** Unsigned: the `>>> 0` keeps values >= 2^31 positive. */
export function readU32(buf: Uint8Array, i: number): number {
  return readI32(buf, i) >>> 0;
}

/** Writes the low 16 bits of v (typed-array stores truncate to a byte). */
export function writeU16(buf: Uint8Array, i: number, v: number): void {
  buf[i] = v >>> 8;
  buf[i + 1] = v;
}

/** Writes the 32 bits of v, given as uint32 or int32. */
export function writeU32(buf: Uint8Array, i: number, v: number): void {
  buf[i] = v >>> 24;
  buf[i + 1] = v >>> 16;
  buf[i + 2] = v >>> 8;
  buf[i + 3] = v;
}
