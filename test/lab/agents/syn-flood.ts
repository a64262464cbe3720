/**
 * Agent: a SYN flood from spoofed lab addresses, as a lab host would see one.
 *   node syn-flood.js '{"dst":"10.231.7.20","dstPort":80,"sourcePrefix":"10.231.7","count":30000,"perSecond":5000}'
 * Sources are hosts .100 to .249 of `sourcePrefix` (no lab host has them, so production's
 * SYN-ACKs go nowhere), each SYN from a port of its own and with a random ISN, like a flood tool
 * that spoofs. Prints one line when done: {"event":"done","sent":n,"stats":SinkStats}.
 */
import { randomInt } from 'node:crypto';
import { RawSocketSink, TcpFlag } from '@tcpcopy/common';
import { buildTcpPacket } from '@tcpcopy/common/testing';
import { agentArgs, assertInsideLab, assertLabAddress, emit } from './guard.js';

export interface SynFloodArgs {
  dst: string;
  dstPort: number;
  /** First three octets of the spoofed sources: a lab network. */
  sourcePrefix: string;
  count: number;
  perSecond: number;
}

const FIRST_SOURCE_HOST = 100;
const SOURCE_HOSTS = 150;
const FIRST_SOURCE_PORT = 1024;
const TICK_MS = 10;
const MS_PER_SECOND = 1000;

assertInsideLab();
const args = agentArgs<SynFloodArgs>();
assertLabAddress(args.dst);
assertLabAddress(`${args.sourcePrefix}.${FIRST_SOURCE_HOST}`);
const sink = new RawSocketSink();
const perTick = Math.max(1, Math.round((args.perSecond * TICK_MS) / MS_PER_SECOND));
const started = Date.now();
let sent = 0;
while (sent < args.count) {
  for (const end = Math.min(args.count, sent + perTick); sent < end; sent++) {
    const syn = buildTcpPacket({
      src: `${args.sourcePrefix}.${FIRST_SOURCE_HOST + (sent % SOURCE_HOSTS)}`,
      dst: args.dst,
      srcPort: FIRST_SOURCE_PORT + Math.floor(sent / SOURCE_HOSTS),
      dstPort: args.dstPort,
      seq: randomInt(2 ** 32),
      ack: 0,
      flags: TcpFlag.SYN,
      window: 64240,
      options: { mss: 1460 },
    });
    while (!sink.send(syn, 0, syn.length, args.dst) && sink.stats().queued > 0) await sink.flush();
  }
  // Paced against the start, so a slow tick is made up for, not added up.
  const due = started + (sent / args.perSecond) * MS_PER_SECOND;
  await new Promise((r) => setTimeout(r, Math.max(0, due - Date.now())));
}
await sink.close();
emit({ event: 'done', sent, stats: sink.stats() });
