/** Host facts for preflight tests: a root process on a host with lo and eth0 up, eth1 down. */
import type { CheckResult, HostFacts, OffloadFeatures } from '@tcpcopy/common';

export function hostFacts(overrides: Partial<HostFacts> = {}): HostFacts {
  return {
    uid: 0,
    effectiveCaps: 0x1ffffffffffn,
    interfaces: [
      { name: 'lo', up: true },
      { name: 'eth0', up: true },
      { name: 'eth1', up: false },
    ],
    sysctls: {
      'net.ipv4.ip_forward': '0',
      'net.ipv4.conf.all.rp_filter': '0',
      'net.ipv4.conf.eth0.rp_filter': '1',
      'net.ipv4.conf.lo.rp_filter': '0',
    },
    ...overrides,
  };
}

/** A check as --check prints it (without the newline). */
export const line = (r: CheckResult): string => `${r.status} ${r.text}`;

/** Offloads as the lab's `nic` profile sets them: GRO and receive checksums on, the rest off. */
export function offloadFeatures(overrides: Partial<OffloadFeatures> = {}): OffloadFeatures {
  return { rxChecksum: true, txChecksum: false, tso: false, gso: false, gro: true, lro: false, ...overrides };
}
