/**
 * TCP sequence-number arithmetic modulo 2^32 (RFC 9293 §3.4: "all arithmetic dealing with
 * sequence numbers must be performed modulo 2**32"). Values are kept as unsigned 32-bit numbers.
 */

export function seqAdd(seq: number, n: number): number {
  return (seq + n) >>> 0;
}

/** Signed distance from b to a: positive when a is after b. */
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

export function seqLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

export function seqLe(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}

export function seqGt(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}

export function seqGe(a: number, b: number): boolean {
  return ((a - b) | 0) >= 0;
}

export function seqMax(a: number, b: number): number {
  return seqGt(a, b) ? a : b;
}
