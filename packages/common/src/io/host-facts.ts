/**
 * The I/O half of `--check`: small probes that gather the facts preflight.ts judges. Each probe
 * catches its own failure and reports it as data, and closes what it opened.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createConnection, createServer } from 'node:net';
import { networkInterfaces } from 'node:os';
import { getSystemErrorMap } from 'node:util';
import type * as CaptureAddon from '@tcpcopy/capture';
import { ErrorCode } from '../errors.js';
import { parseIpv4 } from '../packet/ipv4.js';
import { rpFilterSysctl, type CaptureProbe, type HostFacts, type OffloadProbe } from '../preflight.js';
import { isUp, parseProcNetDev } from './devices.js';
import { ANY_DEVICE, checkCaptureFilter, openRing } from './live-capture.js';

/** sysctls every check may look at. */
export const IP_FORWARD_SYSCTL = 'net.ipv4.ip_forward';

function readOrUndefined(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** `net.ipv4.ip_forward` -> its value in /proc/sys (for this process's network namespace). */
function readSysctl(name: string): string | undefined {
  return readOrUndefined(`/proc/sys/${name.replaceAll('.', '/')}`)?.trim();
}

/** The effective capability set from the text of /proc/self/status. */
export function parseEffectiveCaps(status: string): bigint | undefined {
  const hex = /^CapEff:\s*([0-9a-f]+)$/im.exec(status)?.[1];
  return hex === undefined ? undefined : BigInt(`0x${hex}`);
}

export function gatherHostFacts(): HostFacts {
  const names = parseProcNetDev(readOrUndefined('/proc/net/dev') ?? '');
  const sysctls: Record<string, string | undefined> = { [IP_FORWARD_SYSCTL]: readSysctl(IP_FORWARD_SYSCTL) };
  for (const iface of ['all', ...names]) sysctls[rpFilterSysctl(iface)] = readSysctl(rpFilterSysctl(iface));
  return {
    uid: process.getuid?.() ?? -1,
    effectiveCaps: parseEffectiveCaps(readOrUndefined('/proc/self/status') ?? ''),
    interfaces: names.map((name) => ({ name, up: isUp(name) })),
    sysctls,
  };
}

/** A small ring (two blocks): the probe captures nothing. */
const PROBE_RING_BYTES = 512 * 1024;

/** Why `probe` threw, or undefined. */
function problemOf(probe: () => void): string | undefined {
  try {
    probe();
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/**
 * Per device: opens a capture and closes it at once (does the device capture at all?), after
 * compiling `filter` once for every device (all of them capture raw IPv4).
 */
export function probeCaptures(devices: readonly string[], filter: string): CaptureProbe[] {
  const filterProblem = problemOf(() => checkCaptureFilter(filter));
  return devices.map((device) => {
    const openProblem = problemOf(() =>
      openRing(device, '', { ringBytes: PROBE_RING_BYTES }, () => undefined).ring.close(),
    );
    if (openProblem !== undefined) return { device, error: { code: ErrorCode.CAPTURE_OPEN, message: openProblem } };
    return filterProblem === undefined
      ? { device }
      : { device, error: { code: ErrorCode.FILTER, message: filterProblem } };
  });
}

/** Reads a device's offloads through the capture addon, loaded on first use (as live-capture does). */
function readOffloads(device: string): CaptureAddon.DeviceOffloads {
  return (createRequire(import.meta.url)('@tcpcopy/capture') as typeof CaptureAddon).offloads(device);
}

/**
 * Per device: its offload features (one ioctl each; no privilege needed), or why they could not
 * be read, the addon failing to load included. `any` is skipped: it is no device of its own.
 */
export function probeOffloads(devices: readonly string[]): OffloadProbe[] {
  return devices
    .filter((device) => device !== ANY_DEVICE)
    .map((device) => {
      try {
        return { device, features: readOffloads(device) };
      } catch (err) {
        return { device, error: err instanceof Error ? err.message : String(err) };
      }
    });
}

/** How a socket call failed, for a check line: `connection refused (ECONNREFUSED)`. */
function socketFailure(err: NodeJS.ErrnoException): string {
  const text = typeof err.errno === 'number' ? getSystemErrorMap().get(err.errno)?.[1] : undefined;
  return text === undefined || err.code === undefined ? err.message : `${text} (${err.code})`;
}

/** Connects to host:port and hangs up; resolves with why it failed, or undefined. */
export function probeTcpConnect(host: string, port: number, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (problem: string | undefined): void => {
      socket.destroy();
      resolve(problem);
    };
    socket.setTimeout(timeoutMs, () => done(`no answer within ${timeoutMs} ms`));
    socket.once('connect', () => done(undefined));
    socket.once('error', (err: NodeJS.ErrnoException) => done(socketFailure(err)));
  });
}

/** Binds a TCP listener on host:port and closes it; resolves with why it failed, or undefined. */
export function probeListen(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(socketFailure(err)));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}

/** This host's IPv4 addresses: client traffic is what arrives addressed to one of them. */
export function localIpv4Addresses(): number[] {
  const addresses: number[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      const ip = a.family === 'IPv4' ? parseIpv4(a.address) : undefined;
      if (ip !== undefined) addresses.push(ip);
    }
  }
  return addresses;
}
