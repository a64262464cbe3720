/**
 * Thin I/O adapter: a net.Socket carrying native control frames. Decoding stays in codec.ts; this
 * file only wires bytes in and frames out, and exposes the socket's pending output so callers can
 * shed load (the intercept's batcher drops records above a high-water mark) instead of buffering.
 */
import type { Socket } from 'node:net';
import { CONTROL_MAX_FRAME_BYTES } from './constants.js';
import { FrameDecoder, encodeFrame, type FrameDecoderHandlers } from './codec.js';
import type { ControlMessage } from './messages.js';

export class ControlConnection {
  private readonly decoder: FrameDecoder;

  /** On a decode error the handler runs first, then the socket is destroyed. */
  constructor(
    readonly socket: Socket,
    handlers: FrameDecoderHandlers,
    maxFrameBytes = CONTROL_MAX_FRAME_BYTES,
  ) {
    this.decoder = new FrameDecoder(
      {
        onMessage: (msg) => handlers.onMessage(msg),
        onError: (err) => {
          handlers.onError(err);
          socket.destroy();
        },
      },
      maxFrameBytes,
    );
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.decoder.push(chunk));
    socket.on('end', () => this.decoder.end());
  }

  /** Decodes bytes read from the socket before this connection took it over. */
  pushOpening(opening: Buffer): void {
    this.decoder.push(opening);
  }

  /** See FrameDecoder.setMaxFrameBytes. */
  setMaxFrameBytes(max: number): void {
    this.decoder.setMaxFrameBytes(max);
  }

  /** Bytes written but not yet handed to the kernel. */
  get pendingBytes(): number {
    return this.socket.writableLength;
  }

  send(msg: ControlMessage): boolean {
    return this.sendFrame(encodeFrame(msg));
  }

  /** Writes an already encoded frame; false when the socket is gone or above its high-water mark. */
  sendFrame(frame: Buffer): boolean {
    if (this.socket.destroyed) return false;
    return this.socket.write(frame);
  }
}
