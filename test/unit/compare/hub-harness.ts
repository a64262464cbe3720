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

  /** Copy 0 of a production connection, fed whole: production's segments, then the copy's, then its end. */
  run(production: readonly Segment[], copy: readonly Segment[]): this {
    this.start(0);
    this.production(production);
    this.copy(0, copy);
    this.end(0);
    return this;
  }

  /** What was reported, short: copy, outcome, kind. */
  get summary(): [number, ComparisonOutcome, string | undefined][] {
    return this.reported.map(([copy, outcome, record]) => [copy, outcome, record?.kind]);
  }
}

export const fakeIp = (copy: number): number => toAddress(`10.9.0.${copy + 1}`);

/**
 * The same connection as another capture might see it: each segment's payload cut into pieces
 * (each piece its own segment), the pieces of each run of one direction's segments reordered, and
 * some pieces seen again later (retransmitted). Turns stay where they were: only capture order
 * within a direction's run changes, and a duplicate is only ever seen after its original.
 */
export function perturbed(segments: readonly Segment[], random: () => number): Segment[] {
  const pieces: Segment[] = [];
  for (const s of segments) {
    if (s.payload.length < 2 || s.flags & (SYN | FIN | RST)) {
      pieces.push(s);
      continue;
    }
    let at = 0;
    while (at < s.payload.length) {
      const n = 1 + Math.floor(random() * Math.min(s.payload.length - at, 1 + s.payload.length / 2));
      pieces.push({ ...s, seq: (s.seq + at) >>> 0, payload: s.payload.subarray(at, at + n) });
      at += n;
    }
  }
  const out: Segment[] = [];
  let i = 0;
  while (i < pieces.length) {
    let j = i;
    const control = (s: Segment): boolean => (s.flags & (SYN | FIN | RST)) !== 0;
    while (j < pieces.length && pieces[j]!.fromClient === pieces[i]!.fromClient && !control(pieces[j]!)) j++;
    const run = pieces.slice(i, Math.max(j, i + 1));
    for (let k = run.length - 1; k > 0; k--) {
      const r = Math.floor(random() * (k + 1));
      [run[k], run[r]] = [run[r]!, run[k]!];
    }
    for (const s of run) {
      out.push(s);
      if (random() < 0.2) out.push(s);
    }
    // Late retransmissions: a piece of this run seen again after it.
    if (run.length > 0 && random() < 0.3) out.push(run[Math.floor(random() * run.length)]!);
    i = Math.max(j, i + 1);
  }
  return out;
}
