/**
 * Safety checks every agent runs before touching the network: it must be inside a lab
 * namespace (never the root namespace), and may only address the lab's own networks.
 */
import { execFileSync } from 'node:child_process';
import { FAKE_NET_BASE, LAB_NET_BASE, parseNamespaceName } from '../names.js';

/** Exits (status 3) unless this process runs inside a namespace created by the lab. */
export function assertInsideLab(): string {
  let ns = '';
  try {
    ns = execFileSync('ip', ['netns', 'identify', String(process.pid)], { encoding: 'utf8' }).trim();
  } catch {
    // Not identifiable: treated as outside.
  }
  if (!parseNamespaceName(ns)) refuse(`not inside a lab namespace (got "${ns}")`);
  return ns;
}

/** Exits (status 3) unless `ip` is on the lab's host or fake-client networks. */
export function assertLabAddress(ip: string): void {
  if (!ip.startsWith(`${LAB_NET_BASE}.`) && !ip.startsWith(`${FAKE_NET_BASE}.`)) refuse(`${ip} is not a lab address`);
}

function refuse(why: string): never {
  process.stderr.write(`refusing to run: ${why}\n`);
  process.exit(3);
}

/** One JSON object per stdout line: the agents' whole output protocol. */
export function emit(obj: object): void {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

/** The agent's arguments: one JSON object in argv[2]. */
export function agentArgs<T>(): T {
  return JSON.parse(process.argv[2] ?? '{}') as T;
}
