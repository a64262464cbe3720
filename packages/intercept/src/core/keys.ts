/**
 * Flow keys without strings or bigints: an IPv4 address (u32) and a port (u16) fit exactly in one
 * JS number (48 bits < 2^53), so a flow is two numbers, (client endpoint, target endpoint).
 */

/** Identifies a copier control connection; the daemon assigns them (any distinct numbers). */
export type ConnectionId = number;

const PORT_SPAN = 0x10000;

export function endpointKey(ip: number, port: number): number {
  return ip * PORT_SPAN + port;
}
