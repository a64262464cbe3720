/**
 * Leak guards: nftables counters on the switch (bridge family) for packets that must never be
 * seen when the copier behaves. A copier that leaked would show up as a real client receiving
 * packets from the test side, or production receiving the test server's or fake clients' traffic.
 */
import type { CommandRunner } from './shell.js';
import type { Topology } from './topology.js';

const TABLE = 'lab_guard';

export interface GuardCounters {
  /** IPv4 packets delivered to client whose source is not prod. */
  clientFromOthers: number;
  /** IPv4 packets delivered to prod whose source is target. */
  prodFromTarget: number;
  /** IPv4 packets delivered to prod whose source is in the fake-client subnet. */
  prodFromFakeSubnet: number;
  /** IPv4 packets prod put on the wire addressed to prod itself. */
  prodToSelf: number;
}

const COUNTER_NAMES: Readonly<Record<keyof GuardCounters, string>> = {
  clientFromOthers: 'client_from_others',
  prodFromTarget: 'prod_from_target',
  prodFromFakeSubnet: 'prod_from_fake',
  prodToSelf: 'prod_to_self',
};

export async function installGuards(run: CommandRunner, topo: Topology): Promise<void> {
  const byName = new Map(topo.hosts.map((h) => [h.name, h]));
  const client = byName.get('client')!;
  const prod = byName.get('prod')!;
  const target = byName.get('target')!;
  const c = COUNTER_NAMES;
  const script = `
table bridge ${TABLE} {
  ${Object.values(c)
    .map((n) => `counter ${n} {}`)
    .join('\n  ')}
  chain prerouting {
    type filter hook prerouting priority 0; policy accept;
    iifname "${prod.switchPort}" ip daddr ${prod.ip} counter name ${c.prodToSelf}
  }
  chain forward {
    type filter hook forward priority 0; policy accept;
    oifname "${client.switchPort}" ip saddr != ${prod.ip} counter name ${c.clientFromOthers}
    oifname "${prod.switchPort}" ip saddr ${target.ip} counter name ${c.prodFromTarget}
    oifname "${prod.switchPort}" ip saddr ${topo.fakeSubnet} counter name ${c.prodFromFakeSubnet}
  }
}
`;
  await run.run('ip', ['netns', 'exec', topo.switchNs, 'nft', '-f', '-'], { input: script });
}

interface NftCounterJson {
  counter?: { name: string; packets: number };
}

export async function readGuardCounters(run: CommandRunner, switchNs: string): Promise<GuardCounters> {
  const { stdout } = await run.run('ip', [
    'netns',
    'exec',
    switchNs,
    'nft',
    '-j',
    'list',
    'counters',
    'table',
    'bridge',
    TABLE,
  ]);
  const packets = new Map<string, number>();
  for (const item of (JSON.parse(stdout) as { nftables: NftCounterJson[] }).nftables) {
    if (item.counter) packets.set(item.counter.name, item.counter.packets);
  }
  const out = {} as GuardCounters;
  for (const [key, name] of Object.entries(COUNTER_NAMES) as [keyof GuardCounters, string][]) {
    const n = packets.get(name);
    if (n === undefined) throw new Error(`guard counter ${name} missing in ${switchNs}`);
    out[key] = n;
  }
  return out;
}
