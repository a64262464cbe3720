/**
 * The interfaces of this network namespace, as /proc/net/dev lists them, and whether they are
 * up: what --check looks at when -i names none (the daemons then capture on "any").
 */
import { readFileSync } from 'node:fs';

/** <linux/if.h>: IFF_UP, the administrative "up" bit of /sys/class/net/<if>/flags. */
const IFF_UP = 0x1;
/** /proc/net/dev opens with two header lines. */
const PROC_NET_DEV_HEADER_LINES = 2;

/** Interface names from the text of /proc/net/dev ("  eth0: 1234 5 ..."). */
export function parseProcNetDev(text: string): string[] {
  const names: string[] = [];
  for (const line of text.split('\n').slice(PROC_NET_DEV_HEADER_LINES)) {
    const colon = line.indexOf(':');
    if (colon > 0) names.push(line.slice(0, colon).trim());
  }
  return names;
}

/** Up, down, or unknown (no sysfs entry, e.g. sysfs mounted for another namespace): then let
 *  libpcap decide, it reports a down device clearly. */
export function isUp(name: string): boolean {
  try {
    return (Number.parseInt(readFileSync(`/sys/class/net/${name}/flags`, 'utf8'), 16) & IFF_UP) !== 0;
  } catch {
    return true;
  }
}
