/**
 * A keep-alive HTTP/1.1 client for lab hosts: holds `connections` connections open and sends
 * `GET <path>?c=<connection>&r=<request>` on each every `intervalMs`, one request at a time.
 * Prints one JSON line per request sent ({ c, r, at }) and per failure; on SIGTERM it lets the
 * requests in flight finish, closes every connection with a FIN and prints { done: true }.
 *   node keepalive-client.js '{"host":"10.231.7.20","port":80,"connections":8,"intervalMs":100,"path":"/index.html"}'
 */
import { connect, type Socket } from 'node:net';

interface ClientArgs {
  host: string;
  port: number;
  connections: number;
  intervalMs: number;
  path: string;
}

/** One request sent on connection `c` (its `r`-th, from 0) at wall-clock time `at` (ms). */
export interface SentRequest {
  c: number;
  r: number;
  at: number;
}

const HEADER_END = '\r\n\r\n';
const CONTENT_LENGTH = /\r\ncontent-length:\s*(\d+)/i;

const args = JSON.parse(process.argv[2] ?? '{}') as ClientArgs;
let stopping = false;
let open = 0;

function print(line: object): void {
  process.stdout.write(JSON.stringify(line) + '\n');
}

function run(c: number): void {
  const socket: Socket = connect({ host: args.host, port: args.port });
  let r = 0;
  let pending = Buffer.alloc(0);
  let inFlight = false;
  let timer: NodeJS.Timeout | undefined;
  open++;

  const send = (): void => {
    timer = undefined;
    if (stopping) {
      socket.end();
      return;
    }
    inFlight = true;
    print({ c, r, at: Date.now() } satisfies SentRequest);
    socket.write(`GET ${args.path}?c=${c}&r=${r} HTTP/1.1\r\nHost: ${args.host}\r\n\r\n`);
    r++;
  };

  socket.on('connect', send);
  socket.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    // One response at a time: headers, then exactly content-length body bytes.
    const end = pending.indexOf(HEADER_END);
    if (end < 0) return;
    const length = CONTENT_LENGTH.exec(pending.subarray(0, end).toString('latin1'));
    if (length === null) {
      print({ c, error: 'response without content-length' });
      socket.destroy();
      return;
    }
    const total = end + HEADER_END.length + Number(length[1]);
    if (pending.length < total) return;
    pending = pending.subarray(total);
    inFlight = false;
    if (stopping) socket.end();
    else timer = setTimeout(send, args.intervalMs);
  });
  socket.on('error', (err) => print({ c, error: err.message }));
  socket.on('close', () => {
    if (timer !== undefined) clearTimeout(timer);
    if (!stopping || inFlight) print({ c, error: 'connection closed early' });
    if (--open === 0) {
      print({ done: true });
      process.exit(0);
    }
  });

  process.once('SIGTERM', () => {
    if (timer !== undefined) {
      clearTimeout(timer);
      timer = undefined;
      socket.end();
    }
  });
}

process.setMaxListeners(args.connections + 10);
process.once('SIGTERM', () => {
  stopping = true;
});
for (let c = 0; c < args.connections; c++) run(c);
