/** intercept --allow: the IPv4 networks control connections may come from (RFC 4632 prefixes). */
import { ipv4ToString, parseIpv4 } from '@tcpcopy/common';

const IPV4_BITS = 32;

export interface Ipv4Network {
  /** Host-order address with every bit past the prefix zero. */
  readonly address: number;
  readonly prefixLength: number;
}

function maskOf(prefixLength: number): number {
  // A shift by 32 is a shift by 0 in JavaScript: /0 needs its own case.
  return prefixLength === 0 ? 0 : (0xffffffff << (IPV4_BITS - prefixLength)) >>> 0;
}

/** `a.b.c.d/n`, or `a.b.c.d` alone for that one address; why not, as a string. */
export function parseIpv4Network(text: string): Ipv4Network | string {
  const [addressText = '', prefixText, ...more] = text.split('/');
  const address = parseIpv4(addressText);
  if (address === undefined || more.length > 0) return 'an IPv4 address or network, e.g. 10.0.0.5 or 10.0.0.0/24';
  if (prefixText === undefined) return { address, prefixLength: IPV4_BITS };
  const prefixLength = /^\d{1,2}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!(prefixLength <= IPV4_BITS)) return `a prefix length from 0 to ${IPV4_BITS} after the /`;
  const network = (address & maskOf(prefixLength)) >>> 0;
  if (network !== address)
    return `a network address: bits past /${prefixLength} are set (${ipv4ToString(network)}/${prefixLength}?)`;
  return { address, prefixLength };
}

export function ipv4NetworkToString(network: Ipv4Network): string {
  const address = ipv4ToString(network.address);
  return network.prefixLength === IPV4_BITS ? address : `${address}/${network.prefixLength}`;
}

/** Whether the host-order address `ip` lies in one of `networks`. */
export function networksContain(networks: readonly Ipv4Network[], ip: number): boolean {
  return networks.some((n) => (ip & maskOf(n.prefixLength)) >>> 0 === n.address);
}
