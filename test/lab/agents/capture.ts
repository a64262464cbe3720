/**
 * Agent: captures with LiveCapture (cap) inside a lab host and prints each frame.
 *   node capture.js '{"devices":["lab0"],"filter":"tcp","count":1,"timeoutMs":5000}'
 * Prints {"event":"ready","linkTypes":{...}} once capturing, {"event":"packet","linkType":N,
 * "hex":"..."} per frame, and {"event":"done","stats":SourceStats,"timedOut":bool} at the end
 * (after `count` frames, the timeout, or SIGTERM).
 */
import { LiveCapture } from '@tcpcopy/common';
import { agentArgs, assertInsideLab, emit } from './guard.js';

export interface CaptureArgs {
  devices: string[];
  filter: string;
  /** Stop after this many frames (default: only the timeout or a signal stops it). */
  count?: number;
  timeoutMs?: number;
}

assertInsideLab();
const args = agentArgs<CaptureArgs>();
const capture = new LiveCapture({ devices: args.devices, filter: args.filter });
let seen = 0;

function finish(timedOut: boolean): void {
  capture.stop();
  emit({ event: 'done', stats: capture.stats(), timedOut });
  process.exit(0);
}

capture.start((buf, length, linkType) => {
  // The buffer is reused for the next frame: encode it now.
  emit({ event: 'packet', linkType, hex: buf.toString('hex', 0, length) });
  if (args.count !== undefined && ++seen >= args.count) finish(false);
});
emit({ event: 'ready', linkTypes: Object.fromEntries(capture.linkTypes) });
const timer = setTimeout(() => finish(true), args.timeoutMs ?? 10_000);
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    clearTimeout(timer);
    finish(false);
  });
}
