/**
 * Native control framing: u32 big-endian payload length, then a msgpack payload (messages.ts).
 * Pure: Buffers in, messages out; the socket side lives in connection.ts.
 */
import { Packr, Unpackr } from 'msgpackr';
import { CONTROL_FRAME_HEADER_BYTES, CONTROL_MAX_FRAME_BYTES } from './constants.js';
import { ControlError, ErrorCode, type ControlErrorCode } from '../errors.js';
import { controlMessageFields, parseControlMessage, type ControlMessage } from './messages.js';

/**
 * Plain maps, no msgpackr records or extensions: the payload stays readable by any msgpack
 * implementation. Buffers encode as msgpack bin and decode back to Buffers.
 */
const packr = new Packr({ useRecords: false, moreTypes: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

/** One complete frame for `msg`. Throws FrameTooLarge when the payload exceeds `maxFrameBytes`. */
export function encodeFrame(msg: ControlMessage, maxFrameBytes = CONTROL_MAX_FRAME_BYTES): Buffer {
  const payload = packr.pack(controlMessageFields(msg));
  if (payload.length > maxFrameBytes) {
    throw new ControlError(
      ErrorCode.CONTROL_FRAME_TOO_LARGE,
      `message type ${msg.type} encodes to ${payload.length} bytes, above the ${maxFrameBytes}-byte frame limit`,
    );
  }
  const frame = Buffer.allocUnsafe(CONTROL_FRAME_HEADER_BYTES + payload.length);
  frame.writeUInt32BE(payload.length, 0);
  payload.copy(frame, CONTROL_FRAME_HEADER_BYTES);
  return frame;
}

export interface FrameDecoderHandlers {
  onMessage(msg: ControlMessage): void;
  /** Called once; the decoder is dead afterwards and the caller closes the connection. */
  onError(err: ControlError): void;
}

/**
 * Streaming decoder accepting any chunking. A frame wholly inside one chunk is decoded in place;
 * a frame spanning chunks is copied once into a buffer of its declared size, so every byte is
 * copied at most once whatever the split. Binary fields of delivered messages may alias the
 * pushed chunks: push() takes ownership of them (socket chunks are never reused).
 * Bad input never throws out of push(); handlers must not throw either (an exception from one
 * propagates and the rest of that chunk is lost).
 */
export class FrameDecoder {
  private readonly header = Buffer.alloc(CONTROL_FRAME_HEADER_BYTES);
  private headerFilled = 0;
  /** Payload of the frame being assembled across chunks, or null between frames. */
  private partial: Buffer | null = null;
  private partialFilled = 0;
  private dead = false;

  constructor(
    private readonly handlers: FrameDecoderHandlers,
    private maxFrameBytes = CONTROL_MAX_FRAME_BYTES,
  ) {}

  /** Changes the limit for the frames whose header is read from now on (e.g. once a peer is known). */
  setMaxFrameBytes(max: number): void {
    this.maxFrameBytes = max;
  }

  /** True once a frame was rejected; further input is ignored. */
  get failed(): boolean {
    return this.dead;
  }

  /** Bytes held for an incomplete frame (header bytes included). */
  get bufferedBytes(): number {
    return this.headerFilled + (this.partial === null ? 0 : CONTROL_FRAME_HEADER_BYTES + this.partialFilled);
  }

  /** The stream ended: a frame left incomplete is reported as Malformed (truncated). */
  end(): void {
    if (!this.dead && this.bufferedBytes > 0) {
      this.fail(ErrorCode.CONTROL_MALFORMED, `stream ended inside a frame (${this.bufferedBytes} bytes buffered)`);
    }
  }

  push(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length && !this.dead) {
      if (this.partial !== null) {
        const n = Math.min(this.partial.length - this.partialFilled, chunk.length - pos);
        chunk.copy(this.partial, this.partialFilled, pos, pos + n);
        this.partialFilled += n;
        pos += n;
        if (this.partialFilled === this.partial.length) {
          const payload = this.partial;
          this.partial = null;
          this.deliver(payload);
        }
        continue;
      }
      let length: number;
      if (this.headerFilled === 0 && chunk.length - pos >= CONTROL_FRAME_HEADER_BYTES) {
        length = chunk.readUInt32BE(pos);
        pos += CONTROL_FRAME_HEADER_BYTES;
      } else {
        const n = Math.min(CONTROL_FRAME_HEADER_BYTES - this.headerFilled, chunk.length - pos);
        chunk.copy(this.header, this.headerFilled, pos, pos + n);
        this.headerFilled += n;
        pos += n;
        if (this.headerFilled < CONTROL_FRAME_HEADER_BYTES) return;
        this.headerFilled = 0;
        length = this.header.readUInt32BE(0);
      }
      if (length > this.maxFrameBytes) {
        this.fail(
          ErrorCode.CONTROL_FRAME_TOO_LARGE,
          `frame declares ${length} bytes, above the ${this.maxFrameBytes}-byte limit`,
        );
      } else if (length === 0) {
        this.fail(ErrorCode.CONTROL_MALFORMED, 'frame declares an empty payload');
      } else if (chunk.length - pos >= length) {
        this.deliver(chunk.subarray(pos, pos + length));
        pos += length;
      } else {
        this.partial = Buffer.allocUnsafe(length);
        this.partialFilled = 0;
      }
    }
  }

  private deliver(payload: Buffer): void {
    let value: unknown;
    try {
      // Throws on bad msgpack, on truncation and on bytes left over after the value.
      value = unpackr.unpack(payload) as unknown;
    } catch (err) {
      this.fail(
        ErrorCode.CONTROL_MALFORMED,
        `payload is not msgpack: ${err instanceof Error ? err.message : String(err)}`,
      );
      return;
    }
    const msg = parseControlMessage(value);
    if (typeof msg === 'string') this.fail(ErrorCode.CONTROL_MALFORMED, msg);
    else this.handlers.onMessage(msg);
  }

  private fail(code: ControlErrorCode, message: string): void {
    this.dead = true;
    this.partial = null;
    this.headerFilled = 0;
    this.handlers.onError(new ControlError(code, message));
  }
}
