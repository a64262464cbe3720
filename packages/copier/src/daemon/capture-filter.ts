/**
 * The BPF filter the copier captures with: packets to the -x ports addressed to this host.
 *
 * Why not libpcap's `inbound`: on a live Ethernet capture it drops the first matching frame
 * (libpcap filters the frames already in the ring in user space after setting a filter, and
 * its user-space BPF cannot read the packet direction), so the first SYN after start-up was
 * lost. Matching the destination address does the same job: the copier's own packets go to
 * the test server, never to one of this host's addresses, so they are never re-captured, even
 * when the test port equals the production port; and connections this host makes to other
 * servers on the same port are not mistaken for client traffic.
 */
import { ipv4ToString } from '@tcpcopy/common';
import type { EngineTarget } from '../engine/index.js';

export function buildCaptureFilter(targets: readonly EngineTarget[], localAddresses: readonly number[], extra: string | undefined): string {
  const local = localAddresses.map(ipv4ToString).join(' or ');
  const matches = targets.map((t) => {
    const host = t.matchIp === 0 ? local : ipv4ToString(t.matchIp);
    return `(dst port ${t.matchPort} and dst host (${host}))`;
  });
  const base = `tcp and (${[...new Set(matches)].join(' or ')})`;
  return extra === undefined || extra.trim() === '' ? base : `${base} and (${extra})`;
}
