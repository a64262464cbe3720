/**
 * An HTTP message body as the comparison keeps it: the first `maxBodyBytes` of the decoded body,
 * its full length and, once it outgrows the cap, a SHA-256 of all of it, so a 1 GiB answer costs
 * a fixed amount of memory and is still compared (by length and hash).
 *
 * Content codings (RFC 9110 §8.4.1) are undone with node:zlib's synchronous functions, which need
 * the whole encoded body: it is buffered up to `maxDecodeBytes`, and decoding stops producing
 * output at the same bound, so a zip bomb costs at most that much memory and work. A body beyond
 * the bound, in a coding we do not know, or one that fails to decode is kept as received.
 */
import { createHash, type Hash } from 'node:crypto';
import { brotliDecompressSync, gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';

/** How a message's `body` relates to the content coding its Content-Encoding declared. */
export type BodyDecoding =
  /** No content coding (or `identity`): the body as framed. */
  | 'identity'
  /** gzip, deflate or br, undone. */
  | 'decoded'
  /** A coding we do not decode, or several stacked: the body as received. */
  | 'unsupported'
  /** The coding's data is invalid: the body as received. */
  | 'corrupt'
  /** Encoded or decoded, the body exceeds `maxDecodeBytes`: the body as received. */
  | 'too-large';

export interface HttpBody {
  /** The body's first `maxBodyBytes` bytes (all of it unless `truncated`). */
  body: Buffer;
  /** The whole body's length, also past the cap. */
  bodyLength: number;
  truncated: boolean;
  /** Hex SHA-256 of the whole body when `truncated`, else null (hash `body` itself if needed). */
  bodyHash: string | null;
  decoding: BodyDecoding;
}

export interface BodyLimits {
  /** Bytes of a decoded body kept for byte-by-byte comparison (issue 11's --compare-bytes). */
  maxBodyBytes: number;
  /** Bytes of an encoded body buffered for decoding, and of decoded output produced. */
  maxDecodeBytes: number;
}

export const DEFAULT_BODY_LIMITS: Readonly<BodyLimits> = Object.freeze({
  maxBodyBytes: 64 * 1024,
  maxDecodeBytes: 16 * 1024 * 1024,
});

type Decoder = (encoded: Buffer, maxOutputLength: number) => Buffer;

/** RFC 1950 §2.2: CM = 8 (deflate) in the low nibble of CMF, and CMF*256 + FLG a multiple of 31. */
function hasZlibHeader(encoded: Buffer): boolean {
  return encoded.length >= 2 && (encoded[0]! & 0x0f) === 8 && (encoded[0]! * 256 + encoded[1]!) % 31 === 0;
}

const DECODERS: ReadonlyMap<string, Decoder> = new Map<string, Decoder>([
  ['gzip', (encoded, maxOutputLength) => gunzipSync(encoded, { maxOutputLength })],
  // RFC 9110 §8.4.1.3 says zlib-wrapped, but some servers send raw deflate: accept both, as browsers do.
  [
    'deflate',
    (encoded, maxOutputLength) =>
      hasZlibHeader(encoded) ? inflateSync(encoded, { maxOutputLength }) : inflateRawSync(encoded, { maxOutputLength }),
  ],
  ['br', (encoded, maxOutputLength) => brotliDecompressSync(encoded, { maxOutputLength })],
]);
/** RFC 9110 §8.4.1.3: x-gzip is an alias of gzip. */
const CODING_ALIASES: ReadonlyMap<string, string> = new Map([['x-gzip', 'gzip']]);

/**
 * The decoder for a message's Content-Encoding field values, null for none or identity, or
 * 'unsupported'. Codings listed are applied in order, so only a single one is decoded here.
 */
export function contentDecoder(contentEncoding: readonly string[]): Decoder | null | 'unsupported' {
  const codings = contentEncoding
    .flatMap((v) => v.split(','))
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity');
  if (codings.length === 0) return null;
  if (codings.length > 1) return 'unsupported';
  const coding = codings[0]!;
  return DECODERS.get(CODING_ALIASES.get(coding) ?? coding) ?? 'unsupported';
}

/** Keeps a body's first bytes, counts the rest and hashes all of it once it outgrows the cap. */
class CappedBody {
  private readonly kept: Buffer[] = [];
  private keptLength = 0;
  private length = 0;
  private hash: Hash | null = null;

  constructor(private readonly maxBodyBytes: number) {}

  /** Bytes kept. */
  get keptBytes(): number {
    return this.keptLength;
  }

  add(bytes: Buffer): void {
    this.length += bytes.length;
    const room = this.maxBodyBytes - this.keptLength;
    if (room > 0) {
      // A copy: the caller's chunk may be a pooled buffer that is reused.
      const keep = Buffer.from(bytes.subarray(0, room));
      this.kept.push(keep);
      this.keptLength += keep.length;
    }
    if (this.length <= this.maxBodyBytes) return;
    if (this.hash === null) {
      this.hash = createHash('sha256');
      for (const part of this.kept) this.hash.update(part);
      this.hash.update(bytes.subarray(room > 0 ? room : 0));
    } else {
      this.hash.update(bytes);
    }
  }

  finish(decoding: BodyDecoding): HttpBody {
    return {
      body: this.kept.length === 1 ? this.kept[0]! : Buffer.concat(this.kept, this.keptLength),
      bodyLength: this.length,
      truncated: this.hash !== null,
      bodyHash: this.hash === null ? null : this.hash.digest('hex'),
      decoding,
    };
  }
}

/**
 * One message body fed as it is framed (`add` each piece, `finish` once): identity bodies go
 * straight to the capped store; encoded ones are buffered for their decoder.
 */
export class BodyCollector {
  private readonly capped: CappedBody;
  private readonly encoded: Buffer[] = [];
  private encodedLength = 0;
  /** Set when the encoded body outgrew maxDecodeBytes: from then on bytes are kept as received. */
  private overflowed = false;

  constructor(
    private readonly limits: BodyLimits,
    private readonly decoder: Decoder | null | 'unsupported',
  ) {
    this.capped = new CappedBody(limits.maxBodyBytes);
  }

  /** Bytes held: the kept prefix and the encoded body waiting for its decoder. */
  get memoryBytes(): number {
    return this.capped.keptBytes + this.encodedLength;
  }

  add(bytes: Buffer): void {
    if (bytes.length === 0) return;
    if (typeof this.decoder !== 'function' || this.overflowed) {
      this.capped.add(bytes);
      return;
    }
    if (this.encodedLength + bytes.length > this.limits.maxDecodeBytes) {
      this.overflowed = true;
      for (const part of this.encoded) this.capped.add(part);
      this.encoded.length = 0;
      this.capped.add(bytes);
      return;
    }
    this.encoded.push(Buffer.from(bytes));
    this.encodedLength += bytes.length;
  }

  finish(): HttpBody {
    if (this.decoder === null) return this.capped.finish('identity');
    if (this.decoder === 'unsupported') return this.capped.finish('unsupported');
    if (this.overflowed) return this.capped.finish('too-large');
    if (this.encodedLength === 0) return this.capped.finish('decoded');
    const encoded = Buffer.concat(this.encoded, this.encodedLength);
    let decoded: Buffer;
    try {
      decoded = this.decoder(encoded, this.limits.maxDecodeBytes);
    } catch (err) {
      this.capped.add(encoded);
      // zlib reports output beyond maxOutputLength as ERR_BUFFER_TOO_LARGE, bad data otherwise.
      const tooLarge = (err as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE';
      return this.capped.finish(tooLarge ? 'too-large' : 'corrupt');
    }
    this.capped.add(decoded);
    return this.capped.finish('decoded');
  }
}
