/** The engine's only way out: everything it sends goes through its host (the daemon, or a test). */
import type { Tuple } from './wire.js';

/** Where the engine's output goes: the raw socket and the intercept control channels. */
export interface EngineHost {
  /** Sends packet[0, length) to dstIp. The buffer is reused right after the call: copy it. */
  inject(packet: Buffer, length: number, dstIp: number): void;
  /** Tells every intercept to route the test server's replies for this tuple to us. */
  routeAdd(tuple: Tuple): void;
  routeDel(tuple: Tuple): void;
}
