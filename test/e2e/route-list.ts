/** Routes as the lab programs take them in their arguments: dotted quads and ports. */
import { RouteBatchBuilder, parseIpv4 } from '@tcpcopy/common';
import { assertLabAddress } from '../lab/agents/guard.js';

export type RouteList = [clientIp: string, clientPort: number, targetIp: string, targetPort: number][];

/** A routeAdd batch of `routes`, every address a lab one (the program exits otherwise). */
export function routeBatchOf(routes: RouteList): RouteBatchBuilder {
  const batch = new RouteBatchBuilder();
  const address = (s: string): number => {
    assertLabAddress(s);
    const ip = parseIpv4(s);
    if (ip === undefined) throw new Error(`bad address ${s}`);
    return ip;
  };
  for (const [ci, cp, ti, tp] of routes) batch.add(address(ci), cp, address(ti), tp);
  return batch;
}
