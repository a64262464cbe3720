/**
 * A byte buffer that grows by doubling and is reused between batches: appending a record costs a
 * copy, not an allocation, once the buffer has reached its working size.
 */
export class GrowableBuffer {
  private bytes: Buffer;
  private used = 0;

  constructor(initialCapacity: number) {
    this.bytes = Buffer.allocUnsafe(Math.max(1, initialCapacity));
  }

  get length(): number {
    return this.used;
  }

  /** Makes room for `n` more bytes and returns the buffer to write them at `length`. */
  reserve(n: number): Buffer {
    const needed = this.used + n;
    if (needed > this.bytes.length) {
      let capacity = this.bytes.length * 2;
      while (capacity < needed) capacity *= 2;
      const grown = Buffer.allocUnsafe(capacity);
      this.bytes.copy(grown, 0, 0, this.used);
      this.bytes = grown;
    }
    return this.bytes;
  }

  /** Marks `n` reserved bytes as written. */
  commit(n: number): void {
    this.used += n;
  }

  /** The bytes written so far; valid until the next append after `clear()`. */
  view(): Buffer {
    return this.bytes.subarray(0, this.used);
  }

  clear(): void {
    this.used = 0;
  }
}
