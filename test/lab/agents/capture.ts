/**
 * Agent: captures with LiveCapture inside a lab host.
 *   node capture.js '{"devices":["lab0"],"filter":"tcp","count":1,"timeoutMs":5000}'
 * Prints {"event":"ready","linkTypes":{...}} once capturing, {"event":"packet","linkType":N,
 * "hex":"..."} per frame (unless "quiet"), and {"event":"done","stats":SourceStats,
 * "timedOut":bool,"rssAtReady":N,"rssAtEnd":N} at the end (after `count` frames, the timeout,
 * or SIGTERM). A capture that cannot start prints {"event":"error","code","message"} and exits 2.
 */
import { LiveCapture, isTcpcopyError } from '@tcpcopy/common';
import { agentArgs, assertInsideLab, emit } from './guard.js';

export interface CaptureArgs {
  devices: string[];
  filter: string;
  /** Stop after this many frames (default: only the timeout or a signal stops it). */
  count?: number;
  timeoutMs?: number;
  /** Count frames without printing them (for bursts). */
  quiet?: boolean;
  /** Force a full garbage collection every N frames (needs node --expose-gc): memory the
   *  capture still writes into must stay alive through it. */
  gcEvery?: number;
  /** LiveCaptureOptions.ringBytes and initialRingBytes (a ring that grows), spillBytes. */
  ringBytes?: number;
  initialRingBytes?: number;
  spillBytes?: number;
  /** Busy-wait this long at the first frame, as a copier busy sending would. */
  stallMs?: number;
  /** LiveCaptureOptions.direction; with `both`, `outgoing` false hides what the host sends
   *  (setOutgoing) once capturing. */
  direction?: 'in' | 'both';
  outgoing?: boolean;
}

assertInsideLab();
const args = agentArgs<CaptureArgs>();
const capture = new LiveCapture({
  devices: args.devices,
  filter: args.filter,
  ringBytes: args.ringBytes,
  initialRingBytes: args.initialRingBytes,
  spillBytes: args.spillBytes,
  direction: args.direction,
});
const gc = (globalThis as { gc?: () => void }).gc;
let seen = 0;
let outgoingSeen = 0;
let rssAtReady = 0;

function finish(timedOut: boolean): void {
  const rssAtEnd = process.memoryUsage.rss();
  capture.stop();
  emit({ event: 'done', stats: capture.stats(), timedOut, rssAtReady, rssAtEnd, outgoingSeen });
  process.exit(0);
}

try {
  capture.start((buf, offset, length, linkType, _tsMicros, outgoing) => {
    if (outgoing === true) outgoingSeen++;
    // The memory is reused for later frames: encode it now.
    if (!args.quiet) emit({ event: 'packet', linkType, hex: buf.toString('hex', offset, offset + length) });
    if (seen === 0 && args.stallMs) {
      const until = Date.now() + args.stallMs;
      while (Date.now() < until);
    }
    seen++;
    if (gc && args.gcEvery && seen % args.gcEvery === 0) gc();
    if (args.count !== undefined && seen >= args.count) finish(false);
  });
} catch (err) {
  if (!isTcpcopyError(err)) throw err;
  emit({ event: 'error', code: err.code, message: err.message });
  process.exit(2);
}
if (args.outgoing !== undefined) capture.setOutgoing(args.outgoing);
rssAtReady = process.memoryUsage.rss();
emit({ event: 'ready' });
const timer = setTimeout(() => finish(true), args.timeoutMs ?? 10_000);
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    clearTimeout(timer);
    finish(false);
  });
}
