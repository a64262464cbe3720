/**
 * Agent: sends IPv4 packets through RawSocketSink from inside a lab host.
 *   node inject.js '{"packets":[{"hex":"4500...","dst":"10.231.7.40"}]}'
 * Prints one line: {"event":"done","stats":SinkStats}.
 */
import { RawSocketSink } from '@tcpcopy/common';
import { agentArgs, assertInsideLab, assertLabAddress, emit } from './guard.js';

export interface InjectArgs {
  packets: { hex: string; dst: string }[];
}

assertInsideLab();
const { packets } = agentArgs<InjectArgs>();
for (const p of packets) assertLabAddress(p.dst);
const sink = new RawSocketSink();
for (const p of packets) {
  const buf = Buffer.from(p.hex, 'hex');
  sink.send(buf, 0, buf.length, p.dst);
}
await sink.close();
emit({ event: 'done', stats: sink.stats() });
