/**
 * The BPF filter the copier captures with: packets to the -x ports addressed to this host, or
 * to the -x address when one is given (a mirror port's host receives production's traffic); -F
 * replaces it, as upstream.
 *
 * The capture already sees only what this host receives (common/src/io/live-capture.ts), so
 * the copier's own packets never come back. Matching the destination address guards that twice
 * over (they go to the test server, never to one of this host's addresses, even when the test
 * port equals the production port), and keeps packets merely passing through this host (a
 * router, a mirror port) out of the copy. With --compare the capture sees both directions, for
 * production's answers; the pipeline never copies what this host sends.
 */
import { ipv4ToString } from '@tcpcopy/common';
import type { EngineTarget } from '../engine/index.js';

export function buildCaptureFilter(
  targets: readonly EngineTarget[],
  localAddresses: readonly number[],
  replacement: string | undefined,
  answers = false,
): string {
  if (replacement !== undefined && replacement.trim() !== '') return replacement;
  const local = localAddresses.map(ipv4ToString).join(' or ');
  const matches = targets.flatMap((t) => {
    const host = t.matchIp === 0 ? local : ipv4ToString(t.matchIp);
    const request = `(dst port ${t.matchPort} and dst host (${host}))`;
    // --compare: production's answers, from the same port and address to the clients.
    return answers ? [request, `(src port ${t.matchPort} and src host (${host}))`] : [request];
  });
  return `tcp and (${[...new Set(matches)].join(' or ')})`;
}

/** True when the built filter names this host's addresses: it must follow them as they change. */
export function filterNamesHostAddresses(targets: readonly EngineTarget[], replacement: string | undefined): boolean {
  return (replacement === undefined || replacement.trim() === '') && targets.some((t) => t.matchIp === 0);
}
