import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { ControlConnection, ControlMessageType, type ControlMessage } from '@tcpcopy/common';
import type { ControlError } from '@tcpcopy/common/errors';
import { ErrorCode } from '@tcpcopy/common/errors';
import { SAMPLE_MESSAGES, comparable } from './fixtures.js';

/** A loopback server on port 0 and one client socket to it, both closed when the test ends. */
async function socketPair(t: { after(fn: () => void): void }): Promise<[net.Socket, net.Socket]> {
  const server = net.createServer();
  t.after(() => server.close());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const accepted = once(server, 'connection') as Promise<[net.Socket]>;
  const client = net.connect(port, '127.0.0.1');
  t.after(() => client.destroy());
  const [serverSide] = await accepted;
  t.after(() => serverSide.destroy());
  await once(client, 'connect');
  return [client, serverSide];
}

function inbox(): {
  messages: ControlMessage[];
  errors: ControlError[];
  onMessage(m: ControlMessage): void;
  onError(e: ControlError): void;
} {
  const messages: ControlMessage[] = [];
  const errors: ControlError[] = [];
  return { messages, errors, onMessage: (m) => messages.push(m), onError: (e) => errors.push(e) };
}

test('control connection: messages both ways over loopback', async (t) => {
  const [clientSocket, serverSocket] = await socketPair(t);
  const atServer = inbox();
  const atClient = inbox();
  const server = new ControlConnection(serverSocket, atServer);
  const client = new ControlConnection(clientSocket, atClient);
  for (const msg of SAMPLE_MESSAGES) assert.equal(client.send(msg), true);
  server.send({ type: ControlMessageType.Heartbeat, timeMs: 42 });
  while (atServer.messages.length < SAMPLE_MESSAGES.length || atClient.messages.length < 1) {
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.deepEqual(atServer.messages.map(comparable), SAMPLE_MESSAGES.map(comparable));
  assert.deepEqual(atClient.messages, [{ type: ControlMessageType.Heartbeat, timeMs: 42 }]);
  assert.equal(client.pendingBytes, 0);
});

test('control connection: a bad frame reports the error and closes the socket', async (t) => {
  const [clientSocket, serverSocket] = await socketPair(t);
  const atServer = inbox();
  new ControlConnection(serverSocket, atServer);
  const closed = once(clientSocket, 'close');
  clientSocket.write(Buffer.from([0x7f, 0, 0, 0]));
  await closed;
  assert.equal(atServer.errors.length, 1);
  assert.equal(atServer.errors[0]!.code, ErrorCode.CONTROL_FRAME_TOO_LARGE);
  assert.equal(serverSocket.destroyed, true);
});

test('control connection: the peer closing inside a frame is reported as truncated', async (t) => {
  const [clientSocket, serverSocket] = await socketPair(t);
  const atServer = inbox();
  new ControlConnection(serverSocket, atServer);
  clientSocket.end(Buffer.from([0, 0, 0, 9, 0x81]));
  await once(serverSocket, 'close');
  assert.equal(atServer.errors[0]?.code, ErrorCode.CONTROL_MALFORMED);
  assert.equal(new ControlConnection(serverSocket, inbox()).sendFrame(Buffer.alloc(1)), false);
});
