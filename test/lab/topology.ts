/**
 * Builds the lab network: one switch namespace holding a bridge, one namespace per host with a
 * veth leg to the bridge. Veth pairs are created from inside the switch namespace with the peer
 * placed straight into the host namespace, so no interface ever exists in the root namespace.
 */
import { cpus } from 'node:os';
import {
  BRIDGE_NAME,
  HOST_INTERFACE,
  SWITCH_ROLE,
  fakeSubnet,
  hostIp,
  hostMac,
  labSubnet,
  namespaceName,
  switchPortName,
} from './names.js';
import { ipBatch, type CommandRunner } from './shell.js';

export interface LabHost {
  /** Role name: client, prod, aux, target, or an extra host. */
  readonly name: string;
  /** Network namespace the host lives in. */
  readonly ns: string;
  readonly ip: string;
  /** The host's interface (inside its namespace). */
  readonly iface: string;
  readonly mac: string;
  /** The host's port on the bridge (inside the switch namespace). */
  readonly switchPort: string;
}

export interface Topology {
  readonly switchNs: string;
  readonly offloads: OffloadProfile;
  readonly subnet: string;
  readonly fakeSubnet: string;
  readonly hosts: readonly LabHost[];
}

const PREFIX_LENGTH = 24;
/**
 * The queueing discipline of every veth leg, as behind a NIC (a veth's own default is none).
 * With a queue, a veth whose peer cannot take more frames stops it and the sender's TCP waits,
 * as behind a busy NIC; without, every frame of a burst beyond the peer's 256-frame ring was
 * dropped: in the `nic` profile the test server lost 9 % of its answers' segments and recovered
 * them one retransmission timeout at a time. pfifo_fast: the kernel's own default.
 */
export const LAB_QDISC = 'pfifo_fast';
/**
 * How the lab's veths treat segments, as the hosts users run do (`--offloads` of the lab):
 * - `off`: every offload off: each frame on a veth is a wire-sized packet with a checksum the
 *   sender computed, verified by the receiver (a corrupted one is dropped: lab-smoke proves it).
 * - `nic`: a physical NIC's receive defaults: GRO on, so the receiving host (and every capture
 *   on it) sees consecutive segments merged into packets of up to 64 KiB whose checksum field
 *   is the first segment's; checksum offload and TSO/GSO off, so what leaves a host is
 *   wire-sized and checksummed.
 * - `host`: the kernel's veth defaults (containers, VMs, clients on the same host): checksum
 *   offload and TSO/GSO on, so a local socket's segments cross the veth as super-segments of up
 *   to 64 KiB with the checksum left unfinished for "hardware" that never fills it.
 */
export type OffloadProfile = 'off' | 'nic' | 'host';
export const OFFLOAD_PROFILES: readonly OffloadProfile[] = ['off', 'nic', 'host'];
/** ethtool -K settings per profile; `host` changes nothing (the kernel's defaults). */
const ETHTOOL_SETTINGS: Readonly<Record<OffloadProfile, readonly string[]>> = {
  off: ['rx', 'off', 'tx', 'off', 'tso', 'off', 'gso', 'off', 'gro', 'off'],
  nic: ['tx', 'off', 'tso', 'off', 'gso', 'off', 'gro', 'on'],
  host: [],
};

/** Every lab namespace: no IPv6 (no router solicitations or MLD reports in captures). */
const COMMON_SYSCTLS = ['net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1'];
/** Hosts: reverse-path filtering off. target receives segments from fake-subnet sources and prod
 *  sends them; with strict rp_filter they would only pass while the fake-subnet route and the
 *  arrival interface agree, which a test that moves routes around must not depend on. */
const HOST_SYSCTLS = ['net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0'];
/** aux must never forward: the test server's replies to fake clients end their life there. */
const AUX_SYSCTLS = ['net.ipv4.ip_forward=0'];

export function planTopology(
  prefix: string,
  slot: number,
  hostNames: readonly string[],
  offloads: OffloadProfile,
): Topology {
  return {
    switchNs: namespaceName(prefix, SWITCH_ROLE),
    offloads,
    subnet: labSubnet(slot),
    fakeSubnet: fakeSubnet(slot),
    hosts: hostNames.map((name, i) => ({
      name,
      ns: namespaceName(prefix, name),
      ip: hostIp(slot, i),
      iface: HOST_INTERFACE,
      mac: hostMac(slot, i),
      switchPort: switchPortName(name),
    })),
  };
}

/** All namespaces of the topology, switch first. */
export function namespacesOf(topo: Topology): string[] {
  return [topo.switchNs, ...topo.hosts.map((h) => h.ns)];
}

export async function buildTopology(run: CommandRunner, topo: Topology): Promise<void> {
  await ipBatch(
    run,
    namespacesOf(topo).map((ns) => `netns add ${ns}`),
  );

  await Promise.all([
    sysctl(run, topo.switchNs, COMMON_SYSCTLS),
    ...topo.hosts.map((h) =>
      sysctl(run, h.ns, [...COMMON_SYSCTLS, ...HOST_SYSCTLS, ...(h.name === 'aux' ? AUX_SYSCTLS : [])]),
    ),
  ]);

  await run.run('ip', ['-n', topo.switchNs, '-batch', '-'], {
    input:
      [
        'link set lo up',
        `link add ${BRIDGE_NAME} type bridge stp_state 0 mcast_snooping 0`,
        ...topo.hosts.flatMap((h) => [
          `link add ${h.switchPort} type veth peer name ${h.iface} netns ${h.ns}`,
          `link set ${h.switchPort} master ${BRIDGE_NAME}`,
          `link set ${h.switchPort} up`,
        ]),
        `link set ${BRIDGE_NAME} up`,
      ].join('\n') + '\n',
  });

  const aux = topo.hosts.find((h) => h.name === 'aux');
  await Promise.all(
    topo.hosts.map((h) =>
      run.run('ip', ['-n', h.ns, '-batch', '-'], {
        input:
          [
            'link set lo up',
            `link set ${h.iface} address ${h.mac}`,
            `addr add ${h.ip}/${PREFIX_LENGTH} dev ${h.iface}`,
            `link set ${h.iface} up`,
            // The test server answers fake clients through aux, which drops what it cannot forward.
            ...(h.name === 'target' && aux ? [`route add ${topo.fakeSubnet} via ${aux.ip} dev ${h.iface}`] : []),
          ].join('\n') + '\n',
      }),
    ),
  );

  await Promise.all([
    qdisc(
      run,
      topo.switchNs,
      topo.hosts.map((h) => h.switchPort),
    ),
    ...topo.hosts.map((h) => qdisc(run, h.ns, [h.iface])),
  ]);
  await spreadReceiveOverCpus(run, topo);
  const settings = ETHTOOL_SETTINGS[topo.offloads];
  if (settings.length === 0) return;
  await Promise.all([
    ...topo.hosts.map((h) => ethtool(run, topo.switchNs, h.switchPort, settings)),
    ...topo.hosts.map((h) => ethtool(run, h.ns, h.iface, settings)),
  ]);
}

/**
 * On real hosts a sender's system call ends at its NIC; the switch and the receiving host handle
 * the frame on their own CPUs. A veth instead carries it through the bridge and the receiving
 * namespace's whole stack inside the sender's system call, so every host's receive path (and
 * whatever it triggers: the test server's answers to the copier's ACKs) was charged to the
 * process that sent, and one busy sender serialised the lab on one core. Receive packet steering
 * on the switch ports hands each flow's frames to a CPU chosen by the flow's hash, as a wire and
 * a multi-queue NIC would.
 */
function spreadReceiveOverCpus(run: CommandRunner, topo: Topology): Promise<unknown> {
  const everyCpu = ((1 << Math.min(cpus().length, 31)) - 1).toString(16);
  const writes = topo.hosts.map((h) => `echo ${everyCpu} > /sys/class/net/${h.switchPort}/queues/rx-0/rps_cpus`);
  return run.run('ip', ['netns', 'exec', topo.switchNs, 'sh', '-c', writes.join(' && ')]);
}

function qdisc(run: CommandRunner, ns: string, devs: readonly string[]): Promise<unknown> {
  return run.run('ip', ['netns', 'exec', ns, 'tc', '-batch', '-'], {
    input: devs.map((dev) => `qdisc replace dev ${dev} root ${LAB_QDISC}\n`).join(''),
  });
}

function sysctl(run: CommandRunner, ns: string, settings: readonly string[]): Promise<unknown> {
  return run.run('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', ...settings]);
}

function ethtool(run: CommandRunner, ns: string, dev: string, settings: readonly string[]): Promise<unknown> {
  return run.run('ip', ['netns', 'exec', ns, 'ethtool', '-K', dev, ...settings]);
}
