/**
 * Diagnosis of the most common deployment failure: SYNs go out to the test server but no reply
 * ever comes back through intercept, because the test server's route for the fake client subnet
 * does not point at the aux host (or aux forwards, or intercept's -F filter misses the replies,
 * or rp_filter drops the spoofed sources). Every session then dies of establish_timeout, one by
 * one, and nothing else says why.
 *
 * NoReplyDetector is pure: a small state machine fed with counter samples and the time. One
 * warning when the silence has lasted NO_REPLY_DELAY_MS, repeated at most every
 * NO_REPLY_REPEAT_MS while it lasts, and one notice when replies return. NoReplyWatch feeds it
 * from the counters and logs; the daemon calls its check() every DIAGNOSIS_SAMPLE_MS.
 */
import { ipv4ToString, type Logger } from '@tcpcopy/common';
import type { CopierConfig } from '../config.js';
import type { Engine } from '../engine/index.js';
import type { InterceptLinks } from './intercept-links.js';
import type { Pipeline } from './pipeline.js';

/** How long sessions may start without any reply before we warn (under the 5 s establishment timeout + one sample). */
export const NO_REPLY_DELAY_MS = 5000;
/** While the silence lasts, the warning is repeated this rarely. */
export const NO_REPLY_REPEAT_MS = 60_000;
/** How often the daemon samples the counters for the diagnosis. */
export const DIAGNOSIS_SAMPLE_MS = 1000;

/** What the detector reads from the counters. */
export interface ReplySample {
  readonly sessionsStarted: number;
  readonly sessionsEstablished: number;
  /** Header records received from every intercept (SYN-ACKs included). */
  readonly replies: number;
}

export type DiagnosisEvent =
  /** Sessions have been starting for `silentMs` and not one reply arrived since. */
  | { readonly kind: 'no_replies'; readonly silentMs: number; readonly sessionsWithoutReply: number }
  /** A reply (or an established session) after a warning. */
  | { readonly kind: 'replies_back'; readonly silentMs: number };

export class NoReplyDetector {
  /** The daemon's counters start at zero: so does the detector. */
  private last: ReplySample = { sessionsStarted: 0, sessionsEstablished: 0, replies: 0 };
  /** sessionsStarted when the last reply was seen. */
  private startedAtLastReply = 0;
  /** When the first session started after the last reply (undefined: none has). */
  private unansweredSince: number | undefined;
  /** When we last warned; undefined while healthy. */
  private warnedAt: number | undefined;

  constructor(
    private readonly delayMs = NO_REPLY_DELAY_MS,
    private readonly repeatMs = NO_REPLY_REPEAT_MS,
  ) {}

  update(sample: ReplySample, now: number): DiagnosisEvent | undefined {
    const last = this.last;
    this.last = sample;
    if (sample.replies !== last.replies || sample.sessionsEstablished !== last.sessionsEstablished) {
      const silentMs = this.unansweredSince === undefined ? 0 : now - this.unansweredSince;
      const warned = this.warnedAt !== undefined;
      this.startedAtLastReply = sample.sessionsStarted;
      this.unansweredSince = undefined;
      this.warnedAt = undefined;
      return warned ? { kind: 'replies_back', silentMs } : undefined;
    }
    if (this.unansweredSince === undefined) {
      if (sample.sessionsStarted === this.startedAtLastReply) return undefined;
      this.unansweredSince = now;
    }
    const silentMs = now - this.unansweredSince;
    if (silentMs < this.delayMs) return undefined;
    if (this.warnedAt !== undefined && now - this.warnedAt < this.repeatMs) return undefined;
    this.warnedAt = now;
    return { kind: 'no_replies', silentMs, sessionsWithoutReply: sample.sessionsStarted - this.startedAtLastReply };
  }
}

export interface NoReplyContext {
  /** -c addresses (empty: the fake clients are the real client addresses). */
  readonly fakeIps: readonly number[];
  /** -s intercepts: the aux hosts the test server should route the fake clients through. */
  readonly intercepts: readonly { readonly ip: number; readonly port: number }[];
  /** -x target ports, for the -F example. */
  readonly targetPorts: readonly number[];
}

export function noReplyContext(config: CopierConfig): NoReplyContext {
  return {
    fakeIps: config.fakeClientIps,
    intercepts: config.intercepts,
    targetPorts: config.transfers.map((t) => t.targetPort),
  };
}

/** The /24 networks of the fake client addresses, as `ip route` wants them. */
export function fakeNetworks(fakeIps: readonly number[]): string[] {
  const nets = new Set<number>();
  for (const ip of fakeIps) nets.add((ip & 0xffffff00) >>> 0);
  return [...nets].map((n) => `${ipv4ToString(n)}/24`);
}

/** The likely causes, most likely first, each with what to run or check. */
export function noReplyCauses(ctx: NoReplyContext): string[] {
  const nets = ctx.fakeIps.length === 0 ? ["<the real clients' subnet, as no -c is given>"] : fakeNetworks(ctx.fakeIps);
  const aux =
    ctx.intercepts.length === 0 ? ['<the aux host>'] : [...new Set(ctx.intercepts.map((i) => ipv4ToString(i.ip)))];
  const routes = nets.map((net) => `ip route add ${net} via ${aux[0]!}`).join('; ');
  const port = ctx.targetPorts[0] ?? 80;
  return [
    `the test server has no route for the fake client subnet through the aux host: on the test server run \`${routes}\` (check with \`ip route get ${ctx.fakeIps.length === 0 ? '<a client address>' : ipv4ToString(ctx.fakeIps[0]!)}\`)`,
    `ip_forward on the aux host must be 0 (\`sysctl -w net.ipv4.ip_forward=0\`), so the test server's replies end there instead of being routed on`,
    `intercept's -F filter must match the test server's replies (e.g. -F 'tcp and src port ${port}') on the interface they arrive on (-i)`,
    `rp_filter or anti-spoofing on the test server or on the path drops packets from the fake addresses (\`sysctl -w net.ipv4.conf.all.rp_filter=0\` and on the interface), or a firewall drops them`,
  ];
}

/** The one log line: a message that reads on its own, and the causes as a field too. */
export function noReplyWarning(
  event: Extract<DiagnosisEvent, { kind: 'no_replies' }>,
  ctx: NoReplyContext,
): { msg: string; causes: string[] } {
  const causes = noReplyCauses(ctx);
  const seconds = Math.round(event.silentMs / 1000);
  const msg =
    `no replies from the test server: ${event.sessionsWithoutReply} sessions started in the last ${seconds} s and not one SYN-ACK or other reply came back through intercept. ` +
    `Likely causes: ${causes.map((c, i) => `(${i + 1}) ${c}`).join('; ')}. ` +
    'Counters: tcpcopy_sessions_started_total vs tcpcopy_sessions_established_total, tcpcopy_intercept_replies_total per intercept (and intercept_replies_captured_total on the aux host).';
  return { msg, causes };
}

/** Feeds the detector from the daemon's counters and logs its findings with the counters that show them. */
export class NoReplyWatch {
  private readonly detector = new NoReplyDetector();

  constructor(
    private readonly parts: { readonly engine: Engine; readonly pipeline: Pipeline; readonly links: InterceptLinks },
    private readonly ctx: NoReplyContext,
    private readonly log: Logger,
  ) {}

  check(now: number): void {
    const { engine, pipeline, links } = this.parts;
    const e = engine.counters;
    const event = this.detector.update(
      {
        sessionsStarted: e.sessionsStarted,
        sessionsEstablished: e.sessionsEstablished,
        replies: pipeline.counters.recordsReceived,
      },
      now,
    );
    if (event === undefined) return;
    const evidence = {
      silentS: Math.round(event.silentMs / 1000),
      targets: engine.targetCounters.map((t) => ({
        target: t.target,
        sessionsStarted: t.sessionsStarted,
        sessionsEstablished: t.sessionsEstablished,
      })),
      intercepts: links.perIntercept.map((i, n) => ({
        intercept: i.intercept,
        connectionsReady: links.readyCountOf(n),
        replies: i.records,
      })),
    };
    if (event.kind === 'replies_back') {
      this.log.info(evidence, 'replies from the test server arrive again');
      return;
    }
    const { msg, causes } = noReplyWarning(event, this.ctx);
    this.log.warn(
      { diagnosis: 'no_replies', sessionsWithoutReply: event.sessionsWithoutReply, ...evidence, causes },
      msg,
    );
  }
}
