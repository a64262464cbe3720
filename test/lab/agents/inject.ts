/**
 * Agent: sends IPv4 packets through RawSocketSink from inside a lab host.
 *   node inject.js '{"packets":[{"hex":"4500...","dst":"10.231.7.40"}],"repeat":1}'
 * Sends the list `repeat` times (default once), waiting for the sink's queue when it is full.
 * Prints one line: {"event":"done","stats":SinkStats}.
 */
import { RawSocketSink } from '@tcpcopy/common';
import { agentArgs, assertInsideLab, assertLabAddress, emit } from './guard.js';

export interface InjectArgs {
  packets: { hex: string; dst: string }[];
  repeat?: number;
}

assertInsideLab();
const args = agentArgs<InjectArgs>();
for (const p of args.packets) assertLabAddress(p.dst);
const packets = args.packets.map((p) => ({ buf: Buffer.from(p.hex, 'hex'), dst: p.dst }));
const sink = new RawSocketSink();
for (let i = 0; i < (args.repeat ?? 1); i++) {
  for (const { buf, dst } of packets) {
    // A refusal with packets queued means the queue is full: wait for room and try again.
    // With nothing queued it was a permanent error, already counted in the stats.
    while (!sink.send(buf, 0, buf.length, dst) && sink.stats().queued > 0) await sink.flush();
  }
}
await sink.close();
emit({ event: 'done', stats: sink.stats() });
