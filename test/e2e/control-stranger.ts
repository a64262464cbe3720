/**
 * Strangers on intercept's control port, as a lab program (run inside a lab host with lab.spawnNode):
 *   node control-stranger.js '{"host":"10.x.y.30","port":36524,"mode":"garbage","connections":20}'
 * Opens `connections` connections at once; each one, by mode:
 * - garbage: writes random bytes behind a frame length that fits a hello, and junk;
 * - silent: says nothing at all;
 * - nonce: says a hello with a nonce, then nothing (it owes a proof it cannot make);
 * - routes: says a hello without a key, then registers `routes` and sends a heartbeat.
 * Prints {"event":"closed","connection":i,"messages":[types],"records":n} for each connection the
 * other side closed, then {"event":"done"} once all are closed. It only opens TCP connections, to
 * a lab address, from inside a lab namespace.
 */
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import {
  CONTROL_AUTH_NONCE_BYTES,
  CONTROL_PROTOCOL_VERSION,
  ControlMessageType,
  FrameDecoder,
  ResponseBatchCursor,
  encodeFrame,
  type ControlMessage,
} from '@tcpcopy/common';
import { agentArgs, assertInsideLab, assertLabAddress, emit } from '../lab/agents/guard.js';
import { routeBatchOf, type RouteList } from './route-list.js';

export interface StrangerArgs {
  host: string;
  port: number;
  mode: 'garbage' | 'silent' | 'nonce' | 'routes';
  connections: number;
  routes?: RouteList;
}

const GARBAGE_BYTES = 512;

assertInsideLab();
const args = agentArgs<StrangerArgs>();
assertLabAddress(args.host);
const routes = routeBatchOf(args.routes ?? []);

function hello(auth: Buffer | undefined): Buffer {
  return encodeFrame({
    type: ControlMessageType.Hello,
    version: CONTROL_PROTOCOL_VERSION,
    role: 'copier',
    instanceId: `stranger:${process.pid}`,
    software: 'stranger',
    auth,
  });
}

/** What a connection says first, by mode. */
function opening(): Buffer {
  switch (args.mode) {
    case 'garbage': {
      const junk = randomBytes(GARBAGE_BYTES);
      junk.writeUInt32BE(GARBAGE_BYTES - 4, 0); // a length within the pre-hello limit: the junk is read
      return junk;
    }
    case 'silent':
      return Buffer.alloc(0);
    case 'nonce':
      return hello(randomBytes(CONTROL_AUTH_NONCE_BYTES));
    case 'routes':
      return Buffer.concat([
        hello(undefined),
        encodeFrame({ type: ControlMessageType.RouteAdd, routes: routes.view() }),
        encodeFrame({ type: ControlMessageType.Heartbeat, timeMs: Date.now() }),
      ]);
  }
}

function open(connection: number): Promise<void> {
  return new Promise((resolve) => {
    const messages: ControlMessage['type'][] = [];
    let records = 0;
    const cursor = new ResponseBatchCursor();
    const decoder = new FrameDecoder({
      onMessage: (msg) => {
        messages.push(msg.type);
        if (msg.type !== ControlMessageType.Responses) return;
        cursor.reset(msg.records);
        while (cursor.next()) records++;
      },
      onError: () => {},
    });
    const socket = connect({ host: args.host, port: args.port });
    socket.on('connect', () => {
      const bytes = opening();
      if (bytes.length > 0) socket.write(bytes);
    });
    socket.on('data', (chunk: Buffer) => decoder.push(chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      emit({ event: 'closed', connection, messages, records });
      resolve();
    });
  });
}

const closed: Promise<void>[] = [];
for (let i = 0; i < args.connections; i++) closed.push(open(i));
void Promise.all(closed).then(() => emit({ event: 'done' }));
