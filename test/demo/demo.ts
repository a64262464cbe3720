/**
 * The lab demo (./scripts/demo): brings up the namespace lab, serves HTTP from nginx on prod and
 * on target, starts intercept on aux and tcpcopy on prod as an operator would, drives real
 * clients (curl, ab) against prod, and prints what production served next to what the test
 * server received, and whether its answers were production's (--compare). A list of steps sharing
 * one context.
 *
 *   ./scripts/demo [--requests N] [--concurrency C]
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createLab, type Lab, type LabProcess, type NginxServer } from '../lab/index.js';
import { CONTROL_PORT, fakeRange, lastStats, settle, startIntercept, startTcpcopy } from '../e2e/copy-harness.js';

interface DemoOptions {
  requests: number;
  concurrency: number;
}

interface DemoContext {
  readonly options: DemoOptions;
  readonly lab: Lab;
  prod?: NginxServer;
  target?: NginxServer;
  tcpcopy?: LabProcess;
  /** tcpcopy's final stats line, read after it stopped. */
  copierStats?: Record<string, unknown>;
  /** Outcome of each request the client side made, as the client saw it: the status code
   *  (curl) or ab's classes 2xx, non-2xx, failed. */
  clientOutcomes: string[];
}

/** The part of the stats line's `compare` object the demo shows (docs/compare.md). */
interface CompareStats {
  compared: number;
  identical: number;
  different: number;
}

interface DemoStep {
  title: string;
  run(ctx: DemoContext): Promise<void>;
}

const CURL_PATHS = ['/', '/index.html', '/1k.bin', '/64k.bin', '/no-such-page'];
const AB_PATH = '/1k.bin';

const say = (line = ''): void => void process.stdout.write(`${line}\n`);
const indent = (text: string): string =>
  text
    .trimEnd()
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');

function countBy<T>(items: readonly T[], key: (item: T) => string | number): Map<string | number, number> {
  const counts = new Map<string | number, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
}

const formatCounts = (counts: Map<string | number, number>): string =>
  [...counts].map(([k, n]) => `${k} x${n}`).join(', ');

const steps: DemoStep[] = [
  {
    title: 'Lab',
    async run({ lab }) {
      say(
        `  prefix ${lab.prefix}, hosts on ${lab.subnet}, fake clients on ${lab.fakeSubnet} (routed by target via aux)`,
      );
      say(`  veth offloads: ${lab.offloads} (test/lab/README.md; the default, nic, has GRO on as a NIC receives)`);
      for (const h of Object.values(lab.hosts))
        if (h) say(`  ${h.name.padEnd(7)} ${h.ip.padEnd(14)} ${h.mac}  netns ${h.ns}`);
    },
  },
  {
    title: 'nginx on prod (production) and on target (test server)',
    async run(ctx) {
      ctx.prod = await ctx.lab.startNginx('prod');
      ctx.target = await ctx.lab.startNginx('target');
      say(`  production  ${ctx.prod.url()}`);
      say(`  test server ${ctx.target.url()}  (routes ${ctx.lab.fakeSubnet} via aux ${ctx.lab.host('aux').ip})`);
    },
  },
  {
    title: 'intercept on aux, tcpcopy on prod',
    async run(ctx) {
      const { lab } = ctx;
      await startIntercept(lab, 80);
      say(`  aux$  intercept -i ${lab.host('aux').iface} -F 'tcp and src port 80'      (control port ${CONTROL_PORT})`);
      // --compare: tcpcopy also tells whether the test server answered what production answered.
      const compare = ['--compare', '--diff-log', join(lab.logDir, 'diff.log')];
      ctx.tcpcopy = await startTcpcopy(lab, { port: 80, extra: compare });
      say(
        `  prod$ tcpcopy -x 80-${lab.host('target').ip}:80 -s ${lab.host('aux').ip} -c ${fakeRange(lab)} -n 1 ${compare.join(' ')}`,
      );
    },
  },
  {
    title: 'curl from client, one connection per request',
    async run(ctx) {
      const prod = ctx.prod!;
      for (const path of CURL_PATHS) {
        const { stdout } = await ctx.lab.exec('client', 'curl', [
          '-sS',
          '-o',
          '/dev/null',
          '-w',
          '%{http_code} %{size_download}',
          prod.url(path),
        ]);
        const [status, size] = stdout.split(' ');
        ctx.clientOutcomes.push(status!);
        say(`  GET ${path.padEnd(14)} -> ${status} (${size} bytes)`);
      }
    },
  },
  {
    title: 'ab from client, keep-alive',
    async run(ctx) {
      const { requests, concurrency } = ctx.options;
      const args = ['-q', '-k', '-n', String(requests), '-c', String(concurrency), ctx.prod!.url(AB_PATH)];
      const { stdout } = await ctx.lab.exec('client', 'ab', args);
      const field = (name: string): string => new RegExp(`^${name}:\\s+(.*)$`, 'm').exec(stdout)?.[1]?.trim() ?? '?';
      const complete = Number(field('Complete requests'));
      const failed = Number(field('Failed requests'));
      // ab prints the non-2xx line only when there were some.
      const non2xx = Number(/^Non-2xx responses:\s+(\d+)/m.exec(stdout)?.[1] ?? 0);
      const outcomes = { '2xx': complete - failed - non2xx, 'non-2xx': non2xx, failed };
      for (const [outcome, n] of Object.entries(outcomes)) for (let i = 0; i < n; i++) ctx.clientOutcomes.push(outcome);
      say(`  ab ${args.join(' ')}`);
      say(`  complete ${complete}, failed ${failed}, non-2xx ${non2xx}, ${field('Requests per second')}`);
    },
  },
  {
    title: "prod's access log",
    async run(ctx) {
      const log = ctx.prod!.readAccessLog();
      const connections = new Set(log.map((e) => e.connection));
      const clients = new Set(log.map((e) => e.client.split(':')[0]));
      say(`  ${log.length} requests on ${connections.size} connections, from ${[...clients].join(', ')}`);
      say(`  by status: ${formatCounts(countBy(log, (e) => e.status))}`);
      say(`  by path:   ${formatCounts(countBy(log, (e) => e.path))}`);
      say('  first entries:');
      say(
        indent(
          log
            .slice(0, 3)
            .map((e) => JSON.stringify(e))
            .join('\n'),
        ),
      );
    },
  },
  {
    title: "target's access log (what the test server received)",
    async run(ctx) {
      const expected = ctx.prod!.readAccessLog().length;
      await settle(() => ctx.target!.readAccessLog().length, expected);
      const log = ctx.target!.readAccessLog();
      const clients = new Set(log.map((e) => e.client.split(':')[0]));
      say(
        `  ${log.length} requests on ${new Set(log.map((e) => e.connection)).size} connections, from ${clients.size} fake clients`,
      );
      say(`  by status: ${formatCounts(countBy(log, (e) => e.status))}`);
      say(`  by path:   ${formatCounts(countBy(log, (e) => e.path))}`);
    },
  },
  {
    title: 'tcpcopy stops (SIGTERM) and reports',
    async run(ctx) {
      await ctx.tcpcopy!.stop();
      ctx.copierStats = lastStats(ctx.tcpcopy!);
      const stats = ctx.copierStats as
        { sessions?: object; client?: object; injected?: object; compare?: CompareStats } | undefined;
      say(`  sessions: ${JSON.stringify(stats?.sessions)}`);
      say(`  client:   ${JSON.stringify(stats?.client)}`);
      say(`  injected: ${JSON.stringify(stats?.injected)}`);
      const c = stats?.compare;
      say(`  compare:  ${JSON.stringify({ compared: c?.compared, identical: c?.identical, different: c?.different })}`);
    },
  },
  {
    title: 'Summary',
    async run(ctx) {
      const log = ctx.prod!.readAccessLog();
      const guards = await ctx.lab.guardCounters();
      const leaks = Object.entries(guards).filter(([, n]) => n > 0);
      say(
        `  client made ${ctx.clientOutcomes.length} requests: ${formatCounts(countBy(ctx.clientOutcomes, (s) => s))}`,
      );
      const copied = ctx.target!.readAccessLog();
      say(`  prod logged ${log.length} requests: ${formatCounts(countBy(log, (e) => e.status))}`);
      say(`  target logged ${copied.length} copied requests: ${formatCounts(countBy(copied, (e) => e.status))}`);
      const compare = (ctx.copierStats as { compare?: CompareStats } | undefined)?.compare;
      say(
        `  answers compared: ${compare?.compared ?? 0}, identical ${compare?.identical ?? 0}, different ${compare?.different ?? 0} (both serve the same files: none should differ)`,
      );
      say(
        `  guards: ${leaks.length === 0 ? 'no packet took a forbidden path' : leaks.map(([k, n]) => `${k}=${n}`).join(', ')}`,
      );
      if (log.length !== ctx.clientOutcomes.length) throw new Error('prod did not log every request the client made');
      if (leaks.length > 0) throw new Error('a guard counter is not zero');
      if (copied.length !== log.length)
        throw new Error(`the test server received ${copied.length} of ${log.length} requests`);
      if (compare === undefined || compare.different !== 0 || compare.compared === 0)
        throw new Error(`the comparison should find every answer identical: ${JSON.stringify(compare)}`);
    },
  },
];

function parseOptions(argv: string[]): DemoOptions {
  const { values } = parseArgs({
    args: argv,
    options: { requests: { type: 'string', default: '200' }, concurrency: { type: 'string', default: '4' } },
  });
  const requests = Number(values.requests);
  const concurrency = Number(values.concurrency);
  if (
    !Number.isInteger(requests) ||
    requests < 1 ||
    !Number.isInteger(concurrency) ||
    concurrency < 1 ||
    concurrency > requests
  ) {
    throw new Error('usage: demo [--requests N] [--concurrency C]  (1 <= C <= N)');
  }
  return { requests, concurrency };
}

async function main(): Promise<number> {
  let options: DemoOptions;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 2;
  }
  const started = Date.now();
  const lab = await createLab();
  const ctx: DemoContext = { options, lab, clientOutcomes: [] };
  let failed = true;
  try {
    for (const [i, step] of steps.entries()) {
      say(`\n== ${i + 1}. ${step.title}`);
      await step.run(ctx);
    }
    failed = false;
  } catch (err) {
    say(`\nDemo failed: ${(err as Error).message}`);
    say(`Logs: ${lab.logDir}\n${lab.logTail(10)}`);
  } finally {
    await lab.destroy({ keepLogs: failed });
  }
  say(`\nLab torn down (${((Date.now() - started) / 1000).toFixed(1)} s).`);
  return failed ? 1 : 0;
}

process.exitCode = await main();
