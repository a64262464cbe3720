/**
 * The BPF filter the copier captures with. `inbound` keeps only packets the host received, so the
 * copier never sees its own injected packets, even when the target port equals the production
 * port (upstream's raw socket has the same property; its pcap mode refuses that case instead).
 */
import { ipv4ToString } from '@tcpcopy/common';
import type { EngineTarget } from '../engine/index.js';

export function buildCaptureFilter(targets: readonly EngineTarget[], extra: string | undefined): string {
  const matches = targets.map((t) =>
    t.matchIp === 0 ? `dst port ${t.matchPort}` : `(dst host ${ipv4ToString(t.matchIp)} and dst port ${t.matchPort})`,
  );
  const unique = [...new Set(matches)];
  const base = `inbound and tcp and (${unique.join(' or ')})`;
  return extra === undefined || extra.trim() === '' ? base : `${base} and (${extra})`;
}
