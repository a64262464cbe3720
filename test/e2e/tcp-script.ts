/**
 * A scripted TCP peer as a lab program (run inside a lab host with lab.spawnNode), for feeding a
 * server bytes no well-behaved client would send:
 *   node tcp-script.js '{"host":"10.231.7.30","port":36524,"cases":[{"name":"x","chunks":["00000000"],"then":"end"}]}' (or @args.json)
 * Each case opens `connections` connections (default 1), writes its chunks (hex) in order, then
 * half-closes ("end"), resets ("reset") or just waits ("wait"), and waits up to `waitMs` for the
 * server to close the connection. Cases run one after another; prints one JSON line per
 * connection: {"name","closedByServer","error"?}. Only ever connects to lab addresses.
 */
import { connect, type Socket } from 'node:net';
import { assertInsideLab, assertLabAddress } from '../lab/agents/guard.js';
import { programArgs } from './program-args.js';

export interface ScriptCase {
  name: string;
  chunks: string[];
  then: 'end' | 'reset' | 'wait';
  connections?: number;
  /** How long to wait for the server's close after the last chunk; default 5000 ms. */
  waitMs?: number;
}

export interface ScriptArgs {
  host: string;
  port: number;
  cases: ScriptCase[];
}

export interface ScriptResult {
  name: string;
  /** The server closed (FIN or RST) before we did and before waitMs. */
  closedByServer: boolean;
  error?: string;
}

const DEFAULT_WAIT_MS = 5000;

function runOne(args: ScriptArgs, c: ScriptCase): Promise<ScriptResult> {
  return new Promise((resolve) => {
    const socket: Socket = connect({ host: args.host, port: args.port });
    let error: string | undefined;
    let done = false;
    const finish = (closedByServer: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ name: c.name, closedByServer, ...(error === undefined ? {} : { error }) });
    };
    const timer = setTimeout(() => finish(false), c.waitMs ?? DEFAULT_WAIT_MS);
    socket.on('error', (err: NodeJS.ErrnoException) => {
      error = err.code ?? err.message;
    });
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(c.then !== 'reset'));
    socket.on('data', () => {
      // A server hello (answering a valid one of ours) or anything else: read and ignore.
    });
    socket.once('connect', () => {
      for (const hex of c.chunks) socket.write(Buffer.from(hex, 'hex'));
      if (c.then === 'end') socket.end();
      if (c.then === 'reset') {
        // Let the chunks leave first, then abort with a RST.
        setTimeout(() => {
          socket.resetAndDestroy();
          finish(false);
        }, 50);
      }
    });
  });
}

assertInsideLab();
const args = programArgs<ScriptArgs>();
assertLabAddress(args.host);
for (const c of args.cases) {
  const results = await Promise.all(Array.from({ length: c.connections ?? 1 }, () => runOne(args, c)));
  for (const r of results) process.stdout.write(`${JSON.stringify(r)}\n`);
}
