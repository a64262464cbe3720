/** redis-cli from lab hosts: RESP and command-line workloads, and a server's whole content. */
import type { Lab } from '../lab/index.js';

export const REDIS_PORT = 6379;
const PORT = REDIS_PORT;

/** RESP encoding of SET commands, what `redis-cli --pipe` expects on stdin. */
export function resp(kv: ReadonlyMap<string, string>): string {
  const bulk = (s: string): string => `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
  let out = '';
  for (const [k, v] of kv) out += `*3\r\n${bulk('SET')}${bulk(k)}${bulk(v)}`;
  return out;
}

export function commandLines(kv: ReadonlyMap<string, string>): string {
  let out = '';
  for (const [k, v] of kv) out += `SET ${k} ${v}\n`;
  return out;
}

export function redisCli(
  lab: Lab,
  host: string,
  server: string,
  args: readonly string[],
  input?: string,
): Promise<string> {
  const opts = input === undefined ? { timeoutMs: 60_000 } : { timeoutMs: 60_000, input };
  return lab
    .exec(host, 'redis-cli', ['-h', lab.host(server).ip, '-p', String(PORT), ...args], opts)
    .then((r) => r.stdout);
}

/** Every key with its value, read in the server's own host. */
export async function snapshot(lab: Lab, host: string): Promise<Map<string, string>> {
  const keys = (await redisCli(lab, host, host, ['--scan'])).split('\n').filter((k) => k !== '');
  keys.sort();
  const out = new Map<string, string>();
  if (keys.length === 0) return out;
  const values = (await redisCli(lab, host, host, ['--raw', 'MGET', ...keys])).split('\n');
  keys.forEach((k, i) => out.set(k, values[i] ?? '<missing>'));
  return out;
}
