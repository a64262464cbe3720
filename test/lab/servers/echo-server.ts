/**
 * HTTP server for lab hosts: answers every request with 200 and a small JSON body, and appends
 * one JSON line per request (method, path, body length and SHA-256, client ip:port) to a log,
 * so a test can prove that request bodies arrived intact. Run inside a namespace:
 *   node echo-server.js '{"host":"10.231.7.40","port":8080,"log":"/tmp/.../echo.jsonl"}'
 * Prints `listening <port>` once ready.
 */
import { createHash } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { EchoRecord } from '../servers.js';

interface EchoArgs {
  host: string;
  port: number;
  log: string;
}

const args = JSON.parse(process.argv[2] ?? '{}') as EchoArgs;

const server = createServer((req, res) => {
  const hash = createHash('sha256');
  let length = 0;
  req.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    length += chunk.length;
  });
  req.on('end', () => {
    const record: EchoRecord = {
      method: req.method ?? '',
      path: req.url ?? '',
      length,
      sha256: hash.digest('hex'),
      client: `${req.socket.remoteAddress}:${req.socket.remotePort}`,
    };
    // Synchronous, so the record is on disk before the client sees the response.
    appendFileSync(args.log, JSON.stringify(record) + '\n');
    const body = JSON.stringify({ length: record.length, sha256: record.sha256 }) + '\n';
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
});

server.keepAliveTimeout = 65_000;
server.listen(args.port, args.host, () => {
  process.stdout.write(`listening ${args.port}\n`);
});

// Records are written synchronously, so nothing is lost by leaving at once.
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => process.exit(0));
