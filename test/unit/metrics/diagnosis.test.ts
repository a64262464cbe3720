/** The no-reply diagnosis (copier/src/daemon/diagnosis.ts): when it warns, how often, what it says. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createLogger, parseIpv4 } from '@tcpcopy/common';
import { InterceptLinks } from '@tcpcopy/copier/daemon';
import { Pipeline } from '@tcpcopy/copier/daemon';
import { Client, Sim } from '../engine/harness.js';
import {
  NO_REPLY_DELAY_MS,
  NO_REPLY_REPEAT_MS,
  NoReplyDetector,
  NoReplyWatch,
  fakeNetworks,
  noReplyCauses,
  noReplyWarning,
  type DiagnosisEvent,
  type ReplySample,
} from '@tcpcopy/copier/daemon';

const SAMPLE_MS = 1000;
const ip = (s: string): number => parseIpv4(s)!;

/** Feeds one sample a second for `seconds`, `tick(t)` changing the counters before each. */
function drive(
  d: NoReplyDetector,
  from: number,
  seconds: number,
  counters: { sessionsStarted: number; sessionsEstablished: number; replies: number },
  tick: (t: number) => void = () => {},
): { at: number; e: DiagnosisEvent }[] {
  const out: { at: number; e: DiagnosisEvent }[] = [];
  for (let t = from; t < from + seconds * SAMPLE_MS; t += SAMPLE_MS) {
    tick(t);
    const e = d.update({ ...counters }, t);
    if (e !== undefined) out.push({ at: t, e });
  }
  return out;
}

describe('NoReplyDetector', () => {
  test('sessions that start and never hear back: one warning after the delay, then one a minute', () => {
    const d = new NoReplyDetector();
    const c = { sessionsStarted: 0, sessionsEstablished: 0, replies: 0 };
    const events = drive(d, 0, 200, c, (t) => {
      if (t > 0) c.sessionsStarted += 3; // a steady stream of SYNs from t = 1 s
    });
    assert.deepEqual(
      events.map(({ at }) => at),
      [
        1000 + NO_REPLY_DELAY_MS,
        1000 + NO_REPLY_DELAY_MS + NO_REPLY_REPEAT_MS,
        1000 + NO_REPLY_DELAY_MS + 2 * NO_REPLY_REPEAT_MS,
        1000 + NO_REPLY_DELAY_MS + 3 * NO_REPLY_REPEAT_MS,
      ],
    );
    assert.deepEqual(events[0]!.e, { kind: 'no_replies', silentMs: NO_REPLY_DELAY_MS, sessionsWithoutReply: 18 });
    assert.ok(events[0]!.at <= 10_000, 'within 10 s of the first SYN');
  });

  test('a healthy copier never warns: replies keep coming', () => {
    const d = new NoReplyDetector();
    const c = { sessionsStarted: 0, sessionsEstablished: 0, replies: 0 };
    const events = drive(d, 0, 600, c, (t) => {
      c.sessionsStarted += 5;
      if (t % 3000 === 0) c.replies += 40; // replies in bursts, every 3 s
    });
    assert.deepEqual(events, []);
  });

  test('no traffic, no warning; a long-lived session with a silent test server is no failure', () => {
    const d = new NoReplyDetector();
    const c = { sessionsStarted: 1, sessionsEstablished: 1, replies: 10 };
    assert.deepEqual(drive(d, 0, 300, c), []);
  });

  test('silence that begins after healthy traffic is caught; replies coming back are reported once', () => {
    const d = new NoReplyDetector();
    const c = { sessionsStarted: 0, sessionsEstablished: 0, replies: 0 };
    // 30 s healthy, then the route breaks at 30 s, then it is fixed at 100 s.
    const events = drive(d, 0, 130, c, (t) => {
      c.sessionsStarted++;
      if (t < 30_000 || t >= 100_000) {
        c.sessionsEstablished++;
        c.replies += 4;
      }
    });
    assert.deepEqual(
      events.map(({ at, e }) => [at, e.kind]),
      [
        [30_000 + NO_REPLY_DELAY_MS, 'no_replies'],
        [30_000 + NO_REPLY_DELAY_MS + NO_REPLY_REPEAT_MS, 'no_replies'],
        [100_000, 'replies_back'],
      ],
    );
    assert.deepEqual(events[2]!.e, { kind: 'replies_back', silentMs: 70_000 });
  });

  test('after replies came back, a new silence warns after the delay, not after the repeat interval', () => {
    const d = new NoReplyDetector();
    const c = { sessionsStarted: 0, sessionsEstablished: 0, replies: 0 };
    const events = drive(d, 0, 40, c, (t) => {
      c.sessionsStarted++;
      if (t === 10_000) c.replies++;
    });
    assert.deepEqual(
      events.map(({ at, e }) => [at, e.kind]),
      [
        [NO_REPLY_DELAY_MS, 'no_replies'],
        [10_000, 'replies_back'],
        [11_000 + NO_REPLY_DELAY_MS, 'no_replies'],
      ],
    );
  });

  test('property: warnings only after `delay` of unanswered starts, at most one per `repeat`, never missed', () => {
    const step = fc.record({ started: fc.nat({ max: 3 }), reply: fc.boolean(), dt: fc.integer({ min: 1, max: 2000 }) });
    fc.assert(
      fc.property(
        fc.array(step, { minLength: 1, maxLength: 400 }),
        fc.integer({ min: 1000, max: 8000 }),
        fc.integer({ min: 5000, max: 70_000 }),
        (steps, delay, repeat) => {
          const d = new NoReplyDetector(delay, repeat);
          const c: { sessionsStarted: number; sessionsEstablished: number; replies: number } = {
            sessionsStarted: 0,
            sessionsEstablished: 0,
            replies: 0,
          };
          let now = 0;
          let lastReplyAt = 0;
          let firstUnanswered: number | undefined;
          let lastWarn: number | undefined;
          d.update({ ...c }, now);
          for (const s of steps) {
            now += s.dt;
            c.sessionsStarted += s.started;
            if (s.reply) c.replies++;
            const sample: ReplySample = { ...c };
            const e = d.update(sample, now);
            if (s.reply) {
              lastReplyAt = now;
              firstUnanswered = undefined;
              assert.ok(e === undefined || e.kind === 'replies_back');
              if (e?.kind === 'replies_back') assert.ok(lastWarn !== undefined);
              lastWarn = undefined;
              continue;
            }
            if (s.started > 0 && firstUnanswered === undefined) firstUnanswered = now;
            const due =
              firstUnanswered !== undefined &&
              now - firstUnanswered >= delay &&
              (lastWarn === undefined || now - lastWarn >= repeat);
            assert.equal(e?.kind, due ? 'no_replies' : undefined, `at ${now} (last reply ${lastReplyAt})`);
            if (due) lastWarn = now;
          }
        },
      ),
    );
  });
});

describe('the warning text', () => {
  const ctx = {
    fakeIps: [ip('10.232.7.1'), ip('10.232.7.2'), ip('10.232.8.9')],
    intercepts: [{ ip: ip('10.231.7.30'), port: 36524 }],
    targetPorts: [8080],
  };

  test('names the route to add, ip_forward, the -F filter and rp_filter, and the counters', () => {
    const { msg, causes } = noReplyWarning({ kind: 'no_replies', silentMs: 5200, sessionsWithoutReply: 12 }, ctx);
    assert.equal(causes.length, 4);
    assert.match(msg, /^no replies from the test server: 12 sessions started in the last 5 s/);
    assert.ok(
      msg.includes('ip route add 10.232.7.0/24 via 10.231.7.30; ip route add 10.232.8.0/24 via 10.231.7.30'),
      msg,
    );
    assert.ok(msg.includes('net.ipv4.ip_forward=0'), msg);
    assert.ok(msg.includes("-F 'tcp and src port 8080'"), msg);
    assert.ok(msg.includes('rp_filter'), msg);
    assert.ok(msg.includes('tcpcopy_sessions_started_total') && msg.includes('tcpcopy_intercept_replies_total'), msg);
    assert.ok(!msg.includes('\n'), 'one line');
  });

  test('without -c the fake clients are the real ones', () => {
    assert.match(noReplyCauses({ ...ctx, fakeIps: [] })[0]!, /real clients' subnet/);
  });

  test('fakeNetworks: the distinct /24s, high addresses included', () => {
    assert.deepEqual(fakeNetworks([ip('200.1.2.3'), ip('200.1.2.250'), ip('10.0.0.1')]), [
      '200.1.2.0/24',
      '10.0.0.0/24',
    ]);
    assert.deepEqual(fakeNetworks([]), []);
  });
});

describe('NoReplyWatch (the daemon wiring)', () => {
  test('reads the engine, pipeline and link counters and logs one warning with the evidence, then the recovery', () => {
    const sim = new Sim();
    sim.toEngine = () => []; // the test server's replies never reach intercept
    const lines: Record<string, unknown>[] = [];
    const log = createLogger({
      name: 'tcpcopy',
      level: 'info',
      stderr: { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) },
    });
    const pipeline = new Pipeline(sim.engine, []);
    const links = new InterceptLinks({
      intercepts: [{ ip: ip('10.231.7.30'), port: 36524 }],
      connectionsPerIntercept: 2,
      protocol: 'auto',
      instanceId: 'test:1',
      software: 'test',
      log,
      onRecords: () => 0,
    });
    const watch = new NoReplyWatch(
      { engine: sim.engine, pipeline, links },
      { fakeIps: [], intercepts: [{ ip: ip('10.231.7.30'), port: 36524 }], targetPorts: [8080] },
      log,
    );
    for (let second = 0; second < 20; second++) {
      if (second < 8) {
        const c = new Client(sim, { port: 50000 + second });
        c.feed(c.syn());
      }
      sim.run(1000);
      watch.check(sim.now);
    }
    const warnings = lines.filter((l) => l['level'] === 40);
    assert.equal(warnings.length, 1, 'one warning, not one per session');
    const w = warnings[0]!;
    assert.match(String(w['msg']), /^no replies from the test server/);
    assert.equal(w['diagnosis'], 'no_replies');
    assert.deepEqual(w['intercepts'], [{ intercept: '10.231.7.30:36524', connectionsReady: 0, replies: 0 }]);
    assert.deepEqual(w['targets'], [{ target: '203.0.113.5:8080', sessionsStarted: 6, sessionsEstablished: 0 }]);
    assert.equal((w['causes'] as string[]).length, 4);

    // Replies return: one notice.
    sim.toEngine = () => [0];
    const c = new Client(sim, { port: 51000 });
    c.feed(c.syn());
    sim.run(1000);
    watch.check(sim.now);
    assert.equal(lines.at(-1)?.['msg'], 'replies from the test server arrive again');
  });
});
