/** The engine's only way out: everything it sends goes through its host (the daemon, or a test). */
import type { SessionEndReason } from './counters.js';
import type { Tuple } from './wire.js';

/** Where the engine's output goes: the raw socket and the intercept control channels. */
export interface EngineHost {
  /** Sends packet[0, length) to dstIp. The buffer is reused right after the call: copy it. */
  inject(packet: Buffer, length: number, dstIp: number): void;
  /** Tells every intercept to route the test server's replies for this tuple to us. */
  routeAdd(tuple: Tuple): void;
  routeDel(tuple: Tuple): void;
  /** Optional observer (--compare): the engine is about to copy the client connection from
   *  clientIp:clientPort. Any earlier connection from that endpoint is over. */
  flowStarted?(clientIp: number, clientPort: number): void;
  /** Optional observer: copy `replica` (0-based, under -n) of that connection starts on `tuple`. */
  sessionStarted?(tuple: Tuple, clientIp: number, clientPort: number, replica: number): void;
  /** Optional observer: the copy on `tuple` closed; its tuple lingers (routeDel comes later). */
  sessionClosed?(tuple: Tuple, reason: SessionEndReason): void;
  /** Optional observer: every copy of the connection ended and their tuples were freed. */
  flowEnded?(clientIp: number, clientPort: number): void;
  /** Optional: bytes held for the engine's sessions outside it (comparisons), counted against -m. */
  memoryHeld?(): number;
}
