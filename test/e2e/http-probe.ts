/**
 * An HTTP client as a lab program (run inside a lab host with lab.spawnNode):
 *   node http-probe.js '{"base":"http://10.231.7.20:80","requests":[{"method":"GET","path":"/"}],"rounds":3,"keepAlive":true}'
 * Sends the request list `rounds` times, one request at a time (on one keep-alive connection, or a
 * new connection each with keepAlive false), and prints one JSON line per response: what the
 * client saw, minus what legitimately changes between runs (Date, connection details).
 * Exits 0 once all are done; a failed request is printed as {"error"} and also exits 0. Runs only
 * inside a lab namespace, toward a lab address.
 */
import { createHash } from 'node:crypto';
import { Agent, request } from 'node:http';
import { assertInsideLab, assertLabAddress } from '../lab/agents/guard.js';

export interface ProbeRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface ProbeArgs {
  base: string;
  requests: ProbeRequest[];
  rounds: number;
  keepAlive: boolean;
}

/** One response as the client saw it. */
export interface ProbeResult {
  round: number;
  index: number;
  status?: number;
  contentType?: string;
  contentLength?: string;
  length?: number;
  sha256?: string;
  error?: string;
}

const REQUEST_TIMEOUT_MS = 10_000;

function send(agent: Agent, base: string, r: ProbeRequest): Promise<Omit<ProbeResult, 'round' | 'index'>> {
  return new Promise((resolve) => {
    const req = request(
      new URL(r.path, base),
      { method: r.method, headers: r.headers, agent, timeout: REQUEST_TIMEOUT_MS },
      (res) => {
        const hash = createHash('sha256');
        let length = 0;
        res.on('data', (chunk: Buffer) => {
          hash.update(chunk);
          length += chunk.length;
        });
        res.on('end', () =>
          resolve({
            status: res.statusCode,
            contentType: res.headers['content-type'],
            contentLength: res.headers['content-length'],
            length,
            sha256: hash.digest('hex'),
          }),
        );
        res.on('error', (err) => resolve({ error: err.message }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve({ error: err.message }));
    req.end(r.body);
  });
}

assertInsideLab();
const args = JSON.parse(process.argv[2] ?? '{}') as ProbeArgs;
assertLabAddress(new URL(args.base).hostname);
const agent = new Agent({ keepAlive: args.keepAlive, maxSockets: 1 });
for (let round = 0; round < args.rounds; round++) {
  for (const [index, r] of args.requests.entries()) {
    const result: ProbeResult = { round, index, ...(await send(agent, args.base, r)) };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  }
}
agent.destroy();
