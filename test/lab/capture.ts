/** tcpdump inside a lab host, writing a pcap file into the run's log directory. */
import { join } from 'node:path';
import type { Lab } from './lab.js';
import type { LabProcess } from './process.js';

export interface CaptureOptions {
  /** Interface to capture on; default the host's lab interface. 'any' gives LINUX_SLL2 frames. */
  iface?: string;
  /** File name inside the log directory; default `<host>-<n>.pcap`. */
  file?: string;
  /** Bytes kept per packet; default a whole IPv4 packet (65535). Headers only make the ring hold ~500x more. */
  snapLength?: number;
}

export interface PacketCapture {
  readonly path: string;
  readonly process: LabProcess;
  /** Stops tcpdump (SIGINT, so it flushes) and resolves with the pcap path. */
  stop(): Promise<string>;
  /** tcpdump's closing statistics, once stopped. */
  stats(): CaptureStats | undefined;
}

export interface CaptureStats {
  captured: number;
  droppedByKernel: number;
}

let captureCount = 0;
const WHOLE_PACKET = 65535;
const RING_KIB = '65536';

export async function startCapture(
  lab: Lab,
  host: string,
  filter: string,
  opts: CaptureOptions = {},
): Promise<PacketCapture> {
  const path = join(lab.logDir, opts.file ?? `${host}-${++captureCount}.pcap`);
  const iface = opts.iface ?? lab.host(host).iface;
  // --immediate-mode: without it libpcap (TPACKET_V3) hands packets over a block at a time,
  // and what is still in the ring when SIGINT arrives is never written. In immediate mode each
  // ring slot is as large as the snapshot length, and for `any` (MTU unknown) that is the full
  // 256 KiB: the default 2 MiB ring then holds 8 packets and drops under the smallest burst.
  // Hence a 64 KiB snapshot (a whole IPv4 packet) and a 64 MiB ring, about 1000 slots.
  // -U writes each packet as it arrives; -Z root keeps tcpdump allowed to write into the
  // root-owned log directory (Debian's tcpdump otherwise drops to its own user first).
  const args = [
    '-i',
    iface,
    '-n',
    '--immediate-mode',
    '-s',
    String(opts.snapLength ?? WHOLE_PACKET),
    '-B',
    RING_KIB,
    '-U',
    '-Z',
    'root',
    '-w',
    path,
    filter,
  ];
  const proc = lab.spawn(host, 'tcpdump', args, { name: 'tcpdump' });
  await proc.waitFor(/listening on/, { stream: 'stderr' });
  return {
    path,
    process: proc,
    async stop(): Promise<string> {
      const info = await proc.stop('SIGINT');
      if (info.code !== 0) throw new Error(`tcpdump in ${host} failed (${info.code ?? info.signal}):\n${proc.stderr}`);
      return path;
    },
    stats(): CaptureStats | undefined {
      const captured = /(\d+) packets? captured/.exec(proc.stderr);
      const dropped = /(\d+) packets? dropped by kernel/.exec(proc.stderr);
      if (!captured || !dropped) return undefined;
      return { captured: Number(captured[1]), droppedByKernel: Number(dropped[1]) };
    },
  };
}
