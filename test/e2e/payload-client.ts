/**
 * A copier that asks intercept for the test server's payload, as a lab program (run inside a lab
 * host with lab.spawnNode), playing one TCP session from a fake client by hand:
 *   node payload-client.js @args.json   ({"intercept","port","fake","clientPort","target","targetPort","request"})
 * It connects with InterceptLinks (wantPayloads), routes its flow, sends the SYN, then the
 * request with the third handshake packet, acknowledges every answer segment that intercept's
 * payload records bring, and ends on the server's FIN. Prints one JSON line:
 * {"event":"done","answerHex","payloadRecords","headerRecords"} (or "error"). Lab addresses only.
 */
import {
  PayloadBatchCursor,
  RawSocketSink,
  TcpFlag,
  createLogger,
  decodeIpv4,
  decodeTcp,
  newIpv4View,
  newTcpView,
  parseIpv4,
} from '@tcpcopy/common';
import { buildTcpPacket } from '@tcpcopy/common/testing';
import { InterceptLinks } from '@tcpcopy/copier/daemon';
import { assertInsideLab, assertLabAddress, emit } from '../lab/agents/guard.js';
import { programArgs } from './program-args.js';

export interface PayloadClientArgs {
  intercept: string;
  port: number;
  fake: string;
  clientPort: number;
  target: string;
  targetPort: number;
  request: string;
}

const GIVE_UP_MS = 15_000;
const CLIENT_ISN = 1_000_000;

assertInsideLab();
const args = programArgs<PayloadClientArgs>();
for (const ip of [args.intercept, args.fake, args.target]) assertLabAddress(ip);

const sink = new RawSocketSink();
const request = Buffer.from(args.request);
const answer: Buffer[] = [];
let answerNext = 0;
let payloadRecords = 0;
let headerRecords = 0;
let finished = false;
const send = (seq: number, ack: number, flags: number, payload?: Buffer): void => {
  const packet = buildTcpPacket({
    src: args.fake,
    dst: args.target,
    srcPort: args.clientPort,
    dstPort: args.targetPort,
    seq,
    ack,
    flags,
    window: 65535,
    ...(payload === undefined ? {} : { payload }),
  });
  sink.send(packet, 0, packet.length, args.target);
};

const ip = newIpv4View();
const tcp = newTcpView();
const cursor = new PayloadBatchCursor();
let done: (outcome: object) => void = () => {};
const outcome = new Promise<object>((resolve) => (done = resolve));

const links = new InterceptLinks({
  intercepts: [{ ip: parseIpv4(args.intercept)!, port: args.port }],
  connectionsPerIntercept: 1,
  protocol: 'native',
  wantPayloads: true,
  instanceId: 'payload-client',
  software: 'lab',
  log: createLogger({ name: 'payload-client', level: 'warn' }),
  onRecords: (records) => {
    headerRecords++;
    return records.length > 0 ? 1 : 0;
  },
  onPayloadRecords: (records) => {
    let n = 0;
    for (cursor.reset(records); cursor.next(); n++) {
      payloadRecords++;
      if (decodeIpv4(cursor.buffer, cursor.offset, cursor.length + cursor.payloadLength, ip) !== 0) continue;
      if (decodeTcp(cursor.buffer, ip, tcp) !== 0 || tcp.dstPort !== args.clientPort) continue;
      onAnswerSegment(cursor.buffer.subarray(cursor.payloadOffset, cursor.payloadOffset + cursor.payloadLength));
    }
    return n;
  },
});

let serverNext = 0;
function onAnswerSegment(payload: Buffer): void {
  if (finished) return;
  if (tcp.flags & TcpFlag.SYN) {
    serverNext = (tcp.seq + 1) >>> 0;
    send(CLIENT_ISN + 1, serverNext, TcpFlag.ACK | TcpFlag.PSH, request);
    return;
  }
  if (tcp.seq === serverNext && payload.length > 0) {
    answer.push(Buffer.from(payload));
    answerNext += payload.length;
    serverNext = (serverNext + payload.length) >>> 0;
  }
  if (tcp.flags & TcpFlag.FIN) {
    serverNext = (serverNext + 1) >>> 0;
    send(CLIENT_ISN + 1 + request.length, serverNext, TcpFlag.ACK | TcpFlag.FIN);
    finished = true;
    done({ event: 'done' });
    return;
  }
  if (payload.length > 0) send(CLIENT_ISN + 1 + request.length, serverNext, TcpFlag.ACK);
}

links.start();
const started = Date.now();
while (links.readyCount === 0 && Date.now() - started < GIVE_UP_MS) await new Promise((r) => setTimeout(r, 20));
links.routeAdd({
  srcIp: parseIpv4(args.fake)!,
  srcPort: args.clientPort,
  dstIp: parseIpv4(args.target)!,
  dstPort: args.targetPort,
});
links.flush();
await new Promise((r) => setTimeout(r, 100));
send(CLIENT_ISN, 0, TcpFlag.SYN);
const timeout = setTimeout(() => done({ event: 'error', error: `no FIN within ${GIVE_UP_MS} ms` }), GIVE_UP_MS);
const result = await outcome;
clearTimeout(timeout);
emit({
  ...result,
  answerHex: Buffer.concat(answer).toString('hex'),
  answerLength: answerNext,
  payloadRecords,
  headerRecords,
});
links.close();
await sink.close();
process.exit(0);
