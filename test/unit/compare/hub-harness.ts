/**
 * Builds the segments of one connection, as a capture sees them, and feeds them to a comparison
 * hub as production's or as a copy's; collects what the hub reports.
 */
import { TcpFlag } from '@tcpcopy/common/packet';
import { toAddress } from '@tcpcopy/common/testing';
import {
  ComparisonHub,
  httpCompareRules,
  type ComparisonOutcome,
  type CopyRef,
  type DiffRecord,
  type HubOptions,
} from '@tcpcopy/copier/compare';

export const { ACK, PSH, SYN, FIN, RST } = TcpFlag;
export const CLIENT = toAddress('10.0.0.9');
export const TARGET = toAddress('10.0.0.3');
export const CLIENT_PORT = 5000;
export const EMPTY = Buffer.alloc(0);

export function hubOptions(overrides: Partial<HubOptions> = {}): HubOptions {
  return {
    compareBytes: 64,
    requestBytes: 64,
    holdBytes: 1 << 16,
    maxConnections: 4,
    mode: 'bytes',
    http: httpCompareRules(),
    ...overrides,
  };
}

export interface Segment {
  readonly fromClient: boolean;
  readonly seq: number;
  readonly flags: number;
  readonly payload: Buffer;
}

export interface Turn {
  readonly request: string | Buffer;
  /** The answer, or its pieces, each sent as its own segment. */
  readonly answer: string | Buffer | readonly (string | Buffer)[];
}

export interface ConversationOptions {
  readonly clientIsn?: number;
  readonly serverIsn?: number;
  /** False: the capture joins after the handshake (no SYN, no SYN-ACK). */
  readonly handshake?: boolean;
  /** How the connection ends: both FINs (the default), a reset from the server, or nothing. */
  readonly ending?: 'fin' | 'server-reset' | 'none';
  /** Bytes per client segment (a request split over several), default whole. */
  readonly requestPieces?: number;
}

const bytesOf = (b: string | Buffer): Buffer => (typeof b === 'string' ? Buffer.from(b, 'latin1') : b);

/** One connection's segments in capture order: each turn, then its answer. */
export function conversation(turns: readonly Turn[], options: ConversationOptions = {}): Segment[] {
  const out: Segment[] = [];
  let c = options.clientIsn ?? 100;
  let s = options.serverIsn ?? 9000;
  if (options.handshake !== false) {
    out.push({ fromClient: true, seq: c++, flags: SYN, payload: EMPTY });
    out.push({ fromClient: false, seq: s++, flags: SYN | ACK, payload: EMPTY });
  }
  for (const turn of turns) {
    const request = bytesOf(turn.request);
    const piece = options.requestPieces ?? Math.max(1, request.length);
    for (let at = 0; at < request.length; at += piece) {
      const payload = request.subarray(at, at + piece);
      out.push({ fromClient: true, seq: (c + at) >>> 0, flags: ACK | PSH, payload });
    }
    c = (c + request.length) >>> 0;
    const answers = Array.isArray(turn.answer) ? turn.answer : [turn.answer as string | Buffer];
    for (const answer of answers.map(bytesOf)) {
      out.push({ fromClient: false, seq: s, flags: ACK | PSH, payload: answer });
      s = (s + answer.length) >>> 0;
    }
  }
  if (options.ending === 'server-reset') out.push({ fromClient: false, seq: s, flags: RST, payload: EMPTY });
  else if (options.ending !== 'none') {
    out.push({ fromClient: true, seq: c, flags: ACK | FIN, payload: EMPTY });
    out.push({ fromClient: false, seq: s, flags: ACK | FIN, payload: EMPTY });
  }
  return out;
}

export type Reported = [copy: number, outcome: ComparisonOutcome, record: DiffRecord | undefined];

export class Harness {
  readonly reported: Reported[] = [];
  readonly hub: ComparisonHub;
  at = 0;

  constructor(options: HubOptions = hubOptions()) {
    this.hub = new ComparisonHub(options, (ref, outcome, record) => this.reported.push([ref.copy, outcome, record]));
  }

  ref(copy: number, clientPort = CLIENT_PORT): CopyRef {
    return { clientIp: CLIENT, clientPort, targetIp: TARGET, targetPort: 80, copy };
  }

  /** Starts copy `copy` of the connection from CLIENT:clientPort, its fake client at 10.9.0.<copy + 1>. */
  start(copy: number, clientPort = CLIENT_PORT): boolean {
    return this.hub.copyStarted(this.ref(copy, clientPort), fakeIp(copy), clientPort);
  }

  production(segments: readonly Segment[], clientPort = CLIENT_PORT): void {
    for (const s of segments) {
      this.hub.productionSegment(s.fromClient, CLIENT, clientPort, s.seq, s.flags, s.payload, this.at++);
    }
  }

  copy(copy: number, segments: readonly Segment[], clientPort = CLIENT_PORT): void {
    for (const s of segments) {
      if (s.fromClient) this.hub.copyClient(fakeIp(copy), clientPort, s.seq, s.flags, s.payload, this.at++);
      else this.hub.copyServer(fakeIp(copy), clientPort, s.seq, s.flags, s.payload, this.at++);
    }
  }

  end(copy: number, clientPort = CLIENT_PORT): void {
    this.hub.copyEnded(fakeIp(copy), clientPort, this.at++);
  }

  /** What was reported, short: copy, outcome, kind. */
  get summary(): [number, ComparisonOutcome, string | undefined][] {
    return this.reported.map(([copy, outcome, record]) => [copy, outcome, record?.kind]);
  }
}

export const fakeIp = (copy: number): number => toAddress(`10.9.0.${copy + 1}`);
