/**
 * A copier's control connection, as a lab program (run inside a lab host with lab.spawnNode):
 *   node intercept-peer.js '{"host":"10.x.y.3","port":36524,"routes":[["10.z.y.7",20001,"10.x.y.4",8000]],"records":1}'
 * Says hello, registers the routes, and once a heartbeat came back (so the intercept has acted
 * on them) prints {"event":"ready"}; then prints each response record as {"event":"record","hex"}
 * and exits 0 after `records` of them, or 1 after `timeoutMs`. It only opens a TCP connection, to
 * a lab address, from inside a lab namespace.
 */
import { connect } from 'node:net';
import {
  CONTROL_PROTOCOL_VERSION,
  ControlMessageType,
  FrameDecoder,
  ResponseBatchCursor,
  encodeFrame,
  type ControlMessage,
} from '@tcpcopy/common';
import { agentArgs, assertInsideLab, assertLabAddress, emit } from '../lab/agents/guard.js';
import { routeBatchOf, type RouteList } from './route-list.js';

export interface PeerArgs {
  host: string;
  port: number;
  routes: RouteList;
  records: number;
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;

assertInsideLab();
const args = agentArgs<PeerArgs>();
assertLabAddress(args.host);

const routes = routeBatchOf(args.routes);
const socket = connect({ host: args.host, port: args.port });
let received = 0;
let ready = false;
const cursor = new ResponseBatchCursor();
const timer = setTimeout(() => {
  emit({ event: 'timeout', received });
  process.exit(1);
}, args.timeoutMs ?? DEFAULT_TIMEOUT_MS);

const onMessage = (msg: ControlMessage): void => {
  switch (msg.type) {
    case ControlMessageType.Hello:
      emit({ event: 'hello', role: msg.role, version: msg.version, instanceId: msg.instanceId });
      socket.write(encodeFrame({ type: ControlMessageType.RouteAdd, routes: routes.view() }));
      socket.write(encodeFrame({ type: ControlMessageType.Heartbeat, timeMs: Date.now() }));
      return;
    case ControlMessageType.Heartbeat:
      if (!ready) emit({ event: 'ready' });
      ready = true;
      return;
    case ControlMessageType.Responses:
      cursor.reset(msg.records);
      while (cursor.next() && received < args.records) {
        emit({ event: 'record', hex: cursor.buffer.toString('hex', cursor.offset, cursor.offset + cursor.length) });
        received++;
      }
      if (received >= args.records) {
        clearTimeout(timer);
        socket.end();
      }
      return;
    default:
      return;
  }
};

const decoder = new FrameDecoder({
  onMessage,
  onError: (err) => {
    emit({ event: 'error', code: err.code, message: err.message });
    process.exit(1);
  },
});
socket.on('connect', () => {
  socket.write(
    encodeFrame({
      type: ControlMessageType.Hello,
      version: CONTROL_PROTOCOL_VERSION,
      role: 'copier',
      instanceId: `peer:${process.pid}`,
      software: 'test peer',
    }),
  );
});
socket.on('data', (chunk: Buffer) => decoder.push(chunk));
socket.on('error', (err) => {
  emit({ event: 'error', message: err.message });
  process.exit(1);
});
