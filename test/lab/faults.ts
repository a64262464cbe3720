/**
 * Network faults without netem (this kernel has none): nftables netdev hooks drop or duplicate
 * a random share of TCP frames, tbf shapes a link. 'from' means frames the host sends, 'to'
 * frames delivered to it. Each (fault, host, direction) has its own chain, so setting one fault
 * again replaces it and never disturbs the others.
 */
import type { CommandRunner } from './shell.js';
import { LAB_QDISC, type LabHost } from './topology.js';

export type FaultDirection = 'from' | 'to';

const TABLE = 'lab_faults';
const PERMILLE = 1000;
/** skb mark on frames already duplicated, so the copy (which passes the egress hook again on
 *  its way out) is not duplicated once more. */
const DUPLICATED_MARK = '0x4c';
/** tbf bucket and queue limits: a bucket of ten full frames, at most 200 ms of queueing. */
const TBF_BURST = '15kb';
const TBF_LATENCY = '200ms';

export class FaultTable {
  constructor(
    private readonly run: CommandRunner,
    private readonly switchNs: string,
  ) {}

  /** Drops at the switch port: ingress for frames from the host, egress for frames to it. */
  async drop(host: LabHost, permille: number, direction: FaultDirection): Promise<void> {
    checkPermille(permille);
    const hook = direction === 'from' ? 'ingress' : 'egress';
    const rule = `ip protocol tcp ${share(permille)}drop`;
    await this.setChain(
      this.switchNs,
      `drop_${direction}_${host.name}`,
      hook,
      host.switchPort,
      permille > 0 ? rule : undefined,
    );
  }

  /** Duplicates on an egress hook (the copy is transmitted on the same device): the host's own
   *  interface for frames it sends, its switch port for frames delivered to it. */
  async duplicate(host: LabHost, permille: number, direction: FaultDirection): Promise<void> {
    checkPermille(permille);
    const [ns, dev] = direction === 'from' ? [host.ns, host.iface] : [this.switchNs, host.switchPort];
    const rule =
      `ip protocol tcp meta mark != ${DUPLICATED_MARK} ${share(permille)}` +
      `meta mark set ${DUPLICATED_MARK} dup to "${dev}"`;
    await this.setChain(ns, `dup_${direction}_${host.name}`, 'egress', dev, permille > 0 ? rule : undefined);
  }

  /** tbf as the root qdisc of the host's interface ('from') or its switch port ('to'); null puts the lab's back. */
  async rateLimit(host: LabHost, rate: string | null, direction: FaultDirection): Promise<void> {
    const [ns, dev] = direction === 'from' ? [host.ns, host.iface] : [this.switchNs, host.switchPort];
    const tc = ['netns', 'exec', ns, 'tc', 'qdisc'];
    if (rate === null) {
      await this.run.run('ip', [...tc, 'replace', 'dev', dev, 'root', LAB_QDISC]);
      return;
    }
    await this.run.run('ip', [
      ...tc,
      'replace',
      'dev',
      dev,
      'root',
      'tbf',
      'rate',
      rate,
      'burst',
      TBF_BURST,
      'latency',
      TBF_LATENCY,
    ]);
  }

  /** `add` is idempotent in nft: the table and chain are made the first time, reused after. */
  private async setChain(
    ns: string,
    chain: string,
    hook: string,
    dev: string,
    rule: string | undefined,
  ): Promise<void> {
    const lines = [
      `add table netdev ${TABLE}`,
      `add chain netdev ${TABLE} ${chain} { type filter hook ${hook} device "${dev}" priority 0; }`,
      `flush chain netdev ${TABLE} ${chain}`,
    ];
    if (rule !== undefined) lines.push(`add rule netdev ${TABLE} ${chain} ${rule}`);
    await this.run.run('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: lines.join('\n') + '\n' });
  }
}

/** The nft expression matching `permille`/1000 of packets (every packet at 1000: numgen's
 *  range is 0..999, so `< 1000` is rejected). */
function share(permille: number): string {
  return permille === PERMILLE ? '' : `numgen random mod ${PERMILLE} < ${permille} `;
}

function checkPermille(permille: number): void {
  if (!Number.isInteger(permille) || permille < 0 || permille > PERMILLE) {
    throw new RangeError(`permille ${permille} not an integer in 0..${PERMILLE}`);
  }
}
