/**
 * Live capture on our own TPACKET_V3 ring (@tcpcopy/capture): one ring per named device (or one
 * for every interface, on "any"), all feeding one handler, a block of packets per call from the
 * event loop. Packets arrive as raw IPv4 (the kernel strips the link header and VLAN tags),
 * straight from the ring memory: nothing is copied or allocated per packet. Unlike libpcap's
 * immediate mode, whose ring slots are all as large as the largest frame the device can deliver
 * (64 KiB with any offload on, so ~500 frames in 32 MiB), the ring holds as many packets as fit
 * in its bytes; and it reports the kernel's drops.
 */
import { createRequire } from 'node:module';
import type * as CaptureAddon from '@tcpcopy/capture';
import { ErrorCode, PacketIoError, type PacketIoErrorCode } from '../errors.js';
import { LinkType } from '../packet/link.js';
import type { PacketHandler, PacketSource, SourceStats } from './source.js';

let addon: typeof CaptureAddon | undefined;
/** Loaded on first use: importing @tcpcopy/common must not load a native addon. */
function loadAddon(): typeof CaptureAddon {
  try {
    addon ??= createRequire(import.meta.url)('@tcpcopy/capture') as typeof CaptureAddon;
  } catch (err) {
    const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new PacketIoError(
      ErrorCode.CAPTURE_OPEN,
      `the capture addon @tcpcopy/capture cannot be loaded (${why}): reinstall`,
      { cause: err },
    );
  }
  return addon;
}

/** What -v says of the runtime: Node.js, and the libpcap the capture addon compiles filters with. */
export function runtimeVersions(): string[] {
  let libpcap: string;
  try {
    libpcap = loadAddon().libpcapVersion();
  } catch (err) {
    libpcap = `libpcap: unknown (${(err as Error).message})`;
  }
  return [`Node.js ${process.version}`, libpcap];
}

/**
 * Kernel ring per capture, at its largest (intercept's; tcpcopy's is -B). Its pages are mapped
 * into the process and count in its resident memory. It holds whole blocks, each with as many
 * packets as fit or as arrived before it was handed over (see blockTimeoutMs). What it must hold
 * is what arrives while the event loop is busy elsewhere: intercept's work per packet is small.
 * tcpcopy's is not, and uploads arriving at veth speed (1 MiB bodies, GRO on or off) overflowed
 * 16 MiB in the lab but not 64 MiB: its -B defaults to 64.
 */
export const DEFAULT_CAPTURE_RING_BYTES = 16 * 1024 * 1024;
/**
 * Where intercept's rings start (see LiveCaptureOptions.initialRingBytes): an idle intercept
 * holds 4 MiB of ring, not 16.
 */
export const INITIAL_CAPTURE_RING_BYTES = 4 * 1024 * 1024;
/** The smallest block that holds any IPv4 packet (a GRO-merged one reaches 64 KiB). */
const RING_BLOCK_BYTES = 128 * 1024;
/** tpacket_block_desc: version, offset_to_priv, then the block_status word (linux/if_packet.h). */
const BLOCK_STATUS_OFFSET = 8;
const TP_STATUS_USER = 1;
/** A ring replaced by a larger one is read this many block timeouts longer, then closed. */
const RETIRE_AFTER_BLOCK_TIMEOUTS = 3;
/** Default for LiveCaptureOptions.blockTimeoutMs. */
export const DEFAULT_BLOCK_TIMEOUT_MS = 2;
/** The pseudo-device for every interface of the namespace. */
export const ANY_DEVICE = 'any';

/** Which packets a capture sees: what the host receives, or what it sends as well. */
export type CaptureDirection = 'in' | 'both';

export interface LiveCaptureOptions {
  /** Interface names; 'any' captures on all of them. */
  devices: readonly string[];
  /** pcap-filter(7) expression over IPv4 packets (no link-level primitives), run in the kernel. */
  filter: string;
  /** `in` (default): only packets this host receives, so its own output is never seen. */
  direction?: CaptureDirection;
  /** Kernel ring per device at its largest; default DEFAULT_CAPTURE_RING_BYTES. */
  ringBytes?: number;
  /**
   * Where each ring starts (default: ringBytes, no growth). A ring smaller than ringBytes
   * doubles while half of it waits to be read, which follows a rising load but not a burst at
   * wire speed: tcpcopy, whose bursts are client uploads arriving faster than it copies them,
   * lost 7,250 of 15,800 packets of 20 uploads of 1 MiB with a ring that started at 4 MiB
   * (docs/benchmarks.md), so it starts at -B.
   */
  initialRingBytes?: number;
  /**
   * With spill, a thread of the capture addon copies every block out of the kernel ring as soon
   * as it is retired into a spill area of up to this many bytes, which JavaScript then reads: the
   * ring only has to hold what arrives while that thread copies, so it can be small, and the
   * spill area is resident only as far as the backlog reaches (its pages are given back when
   * JavaScript has read everything). For tcpcopy, whose bursts (uploads at wire speed) arrive
   * faster than it sends the copies. Not with initialRingBytes: the ring does not grow then.
   */
  spillBytes?: number;
  /** Bytes kept of each packet, when the headers are all that is needed; default whole packets.
   *  A ring slot then holds only that much, so the same ring holds many more packets. */
  snapLength?: number;
  /**
   * A block that is not full is handed over after this long: the most a quiet capture delays a
   * packet. Between two pauses of the event loop the kernel fills at least one block per
   * timeout, so the ring outlasts a pause of (ringBytes / 128 KiB) x this even when packets are
   * few. Default DEFAULT_BLOCK_TIMEOUT_MS.
   */
  blockTimeoutMs?: number;
}

interface DeviceRing {
  readonly device: string;
  readonly ring: CaptureAddon.PacketRing;
  readonly bytes: number;
  /** Set once a larger ring replaced this one: its kernel drops from then on are not losses
   *  (the larger ring holds the same packets), so its drop count stays what it was. */
  droppedWhenReplaced?: number;
}

export interface LiveCaptureStats extends SourceStats {
  kernelDropped: number;
  checksumPartial: number;
  /** Bytes of the rings being read now (they grow with the traffic, up to ringBytes each). */
  ringBytes: number;
  /** Times a ring was replaced by one twice its size. */
  ringGrowths: number;
  /** With spill: the most bytes waiting in the spill area at once, and how often it was full. */
  spillPeakBytes: number;
  spillFull: number;
  /** With spill: bytes waiting in the spill area now, captured but not read yet. */
  spillHeldBytes: number;
}

/** Blocks of the ring held for us (read, or waiting to be): how far behind the reader is. */
function blocksHeld(opened: CaptureAddon.OpenedRing): number {
  let held = 0;
  for (let i = 0, at = BLOCK_STATUS_OFFSET; i < opened.blockCount; i++, at += RING_BLOCK_BYTES) {
    if (opened.buffer.readUInt32LE(at) & TP_STATUS_USER) held++;
  }
  return held;
}

/** Opens one ring; a PacketIoError (DEVICE, FILTER or CAPTURE_OPEN) when it cannot. */
export function openRing(
  device: string,
  filter: string,
  options: Pick<LiveCaptureOptions, 'direction' | 'ringBytes' | 'blockTimeoutMs' | 'snapLength' | 'spillBytes'>,
  onBlock: (ring: CaptureAddon.OpenedRing, count: number) => void,
): DeviceRing & { opened: CaptureAddon.OpenedRing } {
  const { PacketRing } = loadAddon();
  const ring = new PacketRing();
  let opened: CaptureAddon.OpenedRing | undefined;
  try {
    opened = ring.open(
      device,
      filter,
      {
        ringBytes: options.ringBytes ?? DEFAULT_CAPTURE_RING_BYTES,
        blockBytes: RING_BLOCK_BYTES,
        blockTimeoutMs: options.blockTimeoutMs ?? DEFAULT_BLOCK_TIMEOUT_MS,
        direction: options.direction ?? 'in',
        promiscuous: true,
        ...(options.snapLength === undefined ? {} : { snapLength: options.snapLength }),
        ...(options.spillBytes === undefined ? {} : { spillBytes: options.spillBytes }),
      },
      (count) => onBlock(opened!, count),
    );
  } catch (err) {
    throw captureError(device, filter, err);
  }
  return { device, ring, bytes: options.ringBytes ?? DEFAULT_CAPTURE_RING_BYTES, opened: opened! };
}

const CODE_OF: Readonly<Record<string, PacketIoErrorCode>> = {
  ENODEV: ErrorCode.DEVICE,
  FILTER: ErrorCode.FILTER,
};

function captureError(device: string, filter: string, err: unknown): PacketIoError {
  if (err instanceof PacketIoError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const code = CODE_OF[(err as { code?: string }).code ?? ''] ?? ErrorCode.CAPTURE_OPEN;
  // The addon's ENODEV message names the device already.
  const what =
    code === ErrorCode.FILTER
      ? `bad capture filter "${filter}": ${message}`
      : code === ErrorCode.DEVICE
        ? `cannot capture: ${message}`
        : `cannot capture on ${device}: ${message}`;
  return new PacketIoError(code, what, { cause: err });
}

/** Compiles `filter` as the rings will; throws a PacketIoError (FILTER) naming the problem. */
export function checkCaptureFilter(filter: string): void {
  try {
    loadAddon().compileFilter(filter);
  } catch (err) {
    throw captureError(ANY_DEVICE, filter, err);
  }
}

export class LiveCapture implements PacketSource {
  /** Every ring ever opened, closed ones too: their counts are part of the final stats. */
  private readonly rings: DeviceRing[] = [];
  /** The ring being read per device (its predecessor may still be draining). */
  private readonly current = new Map<string, DeviceRing & { opened: CaptureAddon.OpenedRing }>();
  private readonly retireTimers = new Set<NodeJS.Timeout>();
  private started = false;
  private received = 0;
  private truncated = 0;
  private growths = 0;
  private outgoingSeen = true;
  /** options.filter, until setFilter replaces it. */
  private filter: string;
  /** options.snapLength, until setSnapLength replaces it; undefined: whole packets. */
  private snapLength: number | undefined;

  constructor(private readonly options: LiveCaptureOptions) {
    if (options.devices.length === 0) throw new PacketIoError(ErrorCode.DEVICE, 'no capture device given');
    this.filter = options.filter;
    this.snapLength = options.snapLength;
  }

  /**
   * Keeps the first `snapLength` bytes of each packet on every ring being read, and on the rings
   * opened later: the compiled filter's return value is the snap length, so the filter is
   * replaced by itself compiled anew. A PacketIoError when a ring refuses it.
   */
  setSnapLength(snapLength: number): void {
    try {
      for (const { ring } of this.current.values()) ring.setFilter(this.filter, snapLength);
    } catch (err) {
      throw captureError(ANY_DEVICE, this.filter, err);
    }
    this.snapLength = snapLength;
  }

  /**
   * Replaces the filter of every ring being read, and of the rings opened later; a PacketIoError
   * (FILTER) when it does not compile, and nothing changes then.
   */
  setFilter(filter: string): void {
    checkCaptureFilter(filter);
    for (const { ring } of this.current.values()) ring.setFilter(filter);
    this.filter = filter;
  }

  /**
   * A capture of both directions: whether what this host sends is shown, on every ring being
   * read and the rings opened later. Each packet the host sends costs the kernel a copy for a
   * ring shown them, matched by the filter or not; one not shown skips it (tcpcopy --compare
   * while saturated).
   */
  setOutgoing(seen: boolean): void {
    if (this.options.direction !== 'both') return;
    for (const { ring } of this.current.values()) ring.setOutgoing(seen);
    this.outgoingSeen = seen;
  }

  /** Opens every device; throws a PacketIoError and opens none if any of them fails. */
  start(onPacket: PacketHandler): void {
    if (this.started) throw new PacketIoError(ErrorCode.CAPTURE_OPEN, 'capture already started');
    this.started = true;
    checkCaptureFilter(this.filter);
    const { FIELDS, FLAG_OUTGOING } = loadAddon();
    const largest = this.options.ringBytes ?? DEFAULT_CAPTURE_RING_BYTES;
    const deliver =
      (device: string) =>
      (opened: CaptureAddon.OpenedRing, count: number): void => {
        const { buffer, descriptors } = opened;
        this.received += count;
        for (let i = 0, at = 0; i < count; i++, at += FIELDS) {
          const captured = descriptors[at + 1]!;
          // Cut shorter than asked: only those count as truncated.
          if (captured < descriptors[at + 2]! && captured < (this.snapLength ?? Infinity)) this.truncated++;
          const outgoing = (descriptors[at + 3]! & FLAG_OUTGOING) !== 0;
          onPacket(buffer, descriptors[at]!, captured, LinkType.Ipv4, undefined, outgoing);
        }
        const now = this.current.get(device);
        if (now?.opened === opened && now.bytes < largest && 2 * blocksHeld(opened) >= opened.blockCount)
          this.grow(device, deliver(device));
      };
    try {
      for (const device of this.options.devices) {
        const ring = openRing(
          device,
          this.filter,
          { ...this.ringOptions(), ringBytes: Math.min(largest, this.options.initialRingBytes ?? largest) },
          deliver(device),
        );
        this.rings.push(ring);
        this.current.set(device, ring);
      }
    } catch (err) {
      this.stop();
      throw err;
    }
  }

  /**
   * Replaces a device's ring with one twice its size. Both capture every packet until the old
   * one is closed, so nothing is lost in between: the old ring is read a few block timeouts more
   * (every block holding a packet from before the swap is retired by then), drained and closed.
   * The packets both rings hold reach the handler twice; to the copier they are retransmissions.
   */
  private grow(device: string, onBlock: (ring: CaptureAddon.OpenedRing, count: number) => void): void {
    const old = this.current.get(device)!;
    const largest = this.options.ringBytes ?? DEFAULT_CAPTURE_RING_BYTES;
    let bigger;
    try {
      bigger = openRing(
        device,
        this.filter,
        { ...this.ringOptions(), ringBytes: Math.min(largest, 2 * old.bytes) },
        onBlock,
      );
    } catch {
      return; // no memory for a larger ring: the old one goes on, and its drops are counted
    }
    this.growths++;
    if (!this.outgoingSeen) bigger.ring.setOutgoing(false);
    this.rings.push(bigger);
    this.current.set(device, bigger);
    old.droppedWhenReplaced = old.ring.stats().kernelDropped;
    const timer = setTimeout(
      () => {
        this.retireTimers.delete(timer);
        old.ring.drain();
        old.ring.close();
      },
      RETIRE_AFTER_BLOCK_TIMEOUTS * (this.options.blockTimeoutMs ?? DEFAULT_BLOCK_TIMEOUT_MS),
    );
    this.retireTimers.add(timer);
  }

  /** The options a ring opens with: the current snap length, not the one the capture started with. */
  private ringOptions(): LiveCaptureOptions {
    return { ...this.options, snapLength: this.snapLength };
  }

  stop(): void {
    for (const timer of this.retireTimers) clearTimeout(timer);
    this.retireTimers.clear();
    for (const r of this.rings) r.ring.close();
  }

  stats(): LiveCaptureStats {
    let kernelDropped = 0;
    let checksumPartial = 0;
    let spillPeakBytes = 0;
    let spillHeldBytes = 0;
    let spillFull = 0;
    for (const r of this.rings) {
      const s = r.ring.stats();
      kernelDropped += r.droppedWhenReplaced ?? s.kernelDropped;
      checksumPartial += s.checksumPartial;
      spillPeakBytes = Math.max(spillPeakBytes, s.spillPeakBytes);
      spillHeldBytes += s.spillHeldBytes;
      spillFull += s.spillFull;
    }
    let ringBytes = 0;
    for (const r of this.current.values()) ringBytes += r.bytes;
    return {
      received: this.received,
      truncated: this.truncated,
      kernelDropped,
      checksumPartial,
      ringBytes,
      ringGrowths: this.growths,
      spillPeakBytes,
      spillHeldBytes,
      spillFull,
    };
  }
}
