/**
 * Per-packet glue between the wire and the engine: decode captured frames and intercept's header
 * records into reusable views, count what is refused and why, and drop anything that looks like
 * the copier's own output. No I/O here: buffers in, engine calls out.
 */
import {
  DECODE_STATUS_NAMES,
  DecodeStatus,
  PayloadBatchCursor,
  ResponseBatchCursor,
  decodeFrame,
  decodeIpv4,
  decodeTcp,
  newPacketViews,
  type Ipv4View,
  type TcpView,
} from '@tcpcopy/common';
import type { Engine } from '../engine/index.js';

/**
 * Who also sees production's connections and the test server's answers (--compare,
 * daemon/comparison.ts). Each call's buffers are only valid during it.
 */
export interface TrafficObserver {
  /** A client segment the engine took for copying. */
  clientSegment(ip: Ipv4View, tcp: TcpView, buf: Buffer, now: number): void;
  /** Any other captured segment: true when it was production's answer to a client. */
  serverSegment(ip: Ipv4View, tcp: TcpView, buf: Buffer, now: number): boolean;
  /** A test server's segment to a copy, its payload at buf[payloadOffset, +payloadLength). */
  targetSegment(
    ip: Ipv4View,
    tcp: TcpView,
    buf: Buffer,
    payloadOffset: number,
    payloadLength: number,
    now: number,
  ): void;
}

export interface PipelineCounters {
  framesCaptured: number;
  /** Frames refused by the decoders, by reason (see DECODE_STATUS_NAMES). */
  framesDropped: Record<string, number>;
  /** Captured packets whose source is one of our fake client addresses, or that this host sent
   *  and are no answer of production's: our own output, or nothing we copy. */
  ownPacketsIgnored: number;
  /** Production's answers captured for --compare. */
  answersCaptured: number;
  framesNotMatched: number;
  recordsReceived: number;
  recordsDropped: Record<string, number>;
  /** Times the host's addresses changed and the capture filter followed (address-watch.ts). */
  hostAddressChanges: number;
}

function reasonTable(): Record<string, number> {
  const table: Record<string, number> = {};
  for (const name of DECODE_STATUS_NAMES.slice(1)) table[name] = 0;
  return table;
}

export class Pipeline {
  readonly counters: PipelineCounters = {
    framesCaptured: 0,
    framesDropped: reasonTable(),
    ownPacketsIgnored: 0,
    answersCaptured: 0,
    framesNotMatched: 0,
    recordsReceived: 0,
    recordsDropped: reasonTable(),
    hostAddressChanges: 0,
  };
  private readonly views = newPacketViews();
  private readonly recordViews = newPacketViews();
  private readonly cursor = new ResponseBatchCursor();
  private readonly payloadCursor = new PayloadBatchCursor();
  /** -c addresses, as int32 (`| 0`): a uint32 of 2^31 and above would be a heap number per lookup. */
  private readonly ownAddresses: ReadonlySet<number>;
  /** Where our own copies go: per test-server port, its addresses (int32). */
  private readonly targetAddressesByPort = new Map<number, Set<number>>();

  constructor(
    private readonly engine: Engine,
    fakeIps: readonly number[],
    targets: readonly { readonly targetIp: number; readonly targetPort: number }[] = [],
    private readonly observer?: TrafficObserver,
  ) {
    this.ownAddresses = new Set(fakeIps.map((ip) => ip | 0));
    for (const t of targets) {
      let ips = this.targetAddressesByPort.get(t.targetPort);
      if (ips === undefined) this.targetAddressesByPort.set(t.targetPort, (ips = new Set()));
      ips.add(t.targetIp | 0);
    }
  }

  /**
   * One captured frame; `buf` is overwritten by later captures, so nothing keeps it. `outgoing`:
   * this host sent it (a capture of both directions, for --compare): never copied.
   */
  onFrame(linkType: number, buf: Buffer, offset: number, length: number, now: number, outgoing = false): void {
    const c = this.counters;
    c.framesCaptured++;
    const v = this.views;
    const status = decodeFrame(linkType, buf, offset, length, v);
    if (status !== DecodeStatus.Ok) {
      c.framesDropped[DECODE_STATUS_NAMES[status]!]!++;
      return;
    }
    // Our own copies never reach the engine: a capture of what this host receives does not see
    // them, and one of both directions flags them outgoing; a filter that -F replaced may let a
    // loopback target's in: either way they are never copied again.
    if (
      outgoing ||
      this.ownAddresses.has(v.ip.src | 0) ||
      this.targetAddressesByPort.get(v.tcp.dstPort)?.has(v.ip.dst | 0) === true
    ) {
      if (this.observer?.serverSegment(v.ip, v.tcp, buf, now) === true) c.answersCaptured++;
      else c.ownPacketsIgnored++;
      return;
    }
    if (this.engine.onClientPacket(buf, v.ip, v.tcp, now)) this.observer?.clientSegment(v.ip, v.tcp, buf, now);
    else if (this.observer?.serverSegment(v.ip, v.tcp, buf, now) === true) c.answersCaptured++;
    else c.framesNotMatched++;
  }

  /** One batch of intercept header records, then the ACKs they call for. Returns how many records it held. */
  onRecords(records: Buffer, now: number): number {
    return this.walkRecords(this.cursor.reset(records), now);
  }

  /** One batch of intercept payload records (--compare): header records with the payload after. */
  onPayloadRecords(records: Buffer, now: number): number {
    return this.walkRecords(this.payloadCursor.reset(records), now);
  }

  private walkRecords(cursor: ResponseBatchCursor | PayloadBatchCursor, now: number): number {
    const c = this.counters;
    const { ip, tcp } = this.recordViews;
    const before = c.recordsReceived;
    while (cursor.next()) {
      c.recordsReceived++;
      let status = decodeIpv4(cursor.buffer, cursor.offset, cursor.length, ip);
      if (status === DecodeStatus.Ok) status = decodeTcp(cursor.buffer, ip, tcp);
      if (status !== DecodeStatus.Ok) {
        c.recordsDropped[DECODE_STATUS_NAMES[status]!]!++;
        continue;
      }
      if (cursor instanceof PayloadBatchCursor) {
        this.observer?.targetSegment(ip, tcp, cursor.buffer, cursor.payloadOffset, cursor.payloadLength, now);
      }
      this.engine.onTargetPacket(ip, tcp, now);
    }
    this.engine.flush();
    return c.recordsReceived - before;
  }
}
