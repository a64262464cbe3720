/**
 * The copiers under comparison, each started inside a lab as an operator would: intercept on aux
 * (capturing the test server's replies to the fake clients, which target routes via aux), tcpcopy
 * on prod (copying what arrives at prod:80 to target:80 from the lab's fake-client /24).
 *
 * - ours: packages/*\/bin, started by the e2e harness (test/e2e/copy-harness.ts);
 * - c: the upstream tcpcopy 1.3 and intercept 1.0 named by $UPSTREAM_TCPCOPY and
 *   $UPSTREAM_INTERCEPT, with the same flags. Their -h (run inside the lab) tells which build
 *   they are: a tcpcopy built with --pcap-capture needs -i, the default raw-socket one has none;
 *   intercept must be its default "advanced" (pcap) build, the one with -i and -F.
 */
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Lab, LabProcess } from '../../lab/index.js';
import { CONTROL_PORT, fakeRange, sleep, startIntercept, startTcpcopy } from '../../e2e/copy-harness.js';
import { commandLineOf, resolveDaemonPid } from './proc.js';

/** `ours-compare`: ours with --compare (the comparison's cost: docs/benchmarks.md). */
export type CopierName = 'ours' | 'ours-compare' | 'c';
export const HTTP_PORT = 80;
/** Upstream tcpcopy logs nothing when it is ready; it connects to intercept and opens its raw
 *  socket within milliseconds of starting. */
const UPSTREAM_TCPCOPY_START_MS = 1000;
const PORT_WAIT_MS = 10_000;
const HELP_TIMEOUT_MS = 5000;

export interface RunningCopier {
  readonly name: CopierName;
  readonly tcpcopy: LabProcess;
  readonly intercept: LabProcess;
  /** The processes whose CPU and memory are measured. */
  readonly tcpcopyPid: number;
  readonly interceptPid: number;
  /** As read back from /proc/<pid>/cmdline. */
  readonly commandLines: { readonly tcpcopy: string; readonly intercept: string };
  /** Files the daemons log to besides stdout/stderr (upstream's -l), shown when something fails. */
  readonly logFiles: readonly string[];
}

export interface UpstreamBinaries {
  readonly tcpcopy: string;
  readonly intercept: string;
}

/** The upstream binaries from the environment, or why the C copier is left out. */
export function upstreamFromEnv(env: NodeJS.ProcessEnv): { binaries: UpstreamBinaries } | { skipped: string } {
  const tcpcopy = env['UPSTREAM_TCPCOPY'];
  const intercept = env['UPSTREAM_INTERCEPT'];
  if (!tcpcopy && !intercept) return { skipped: 'UPSTREAM_TCPCOPY and UPSTREAM_INTERCEPT are not set' };
  for (const [name, value] of [
    ['UPSTREAM_TCPCOPY', tcpcopy],
    ['UPSTREAM_INTERCEPT', intercept],
  ] as const) {
    if (!value) return { skipped: `${name} is not set` };
    try {
      accessSync(value, constants.X_OK);
    } catch {
      return { skipped: `${name}=${value} is not an executable file` };
    }
  }
  return { binaries: { tcpcopy: tcpcopy!, intercept: intercept! } };
}

/** Both copiers take `copies` as tcpcopy's -n. */
/** Ours; with --compare when `diffLog` names the diff log (the `ours-compare` copier). */
export async function startOurs(lab: Lab, copies = 1, diffLog?: string): Promise<RunningCopier> {
  const intercept = await startIntercept(lab, HTTP_PORT);
  // BENCH_TCPCOPY_ARGS='-m 128' adds flags to ours; BENCH_TCPCOPY_NODE_ARGS='--trace-gc' runs it
  // under those node options (for profiling).
  const words = (name: string) => process.env[name]?.split(' ').filter((a) => a !== '');
  const extra = [
    ...(words('BENCH_TCPCOPY_ARGS') ?? []),
    ...(diffLog === undefined ? [] : ['--compare', '--diff-log', diffLog]),
  ];
  const nodeArgs = words('BENCH_TCPCOPY_NODE_ARGS');
  const tcpcopy = await startTcpcopy(lab, { port: HTTP_PORT, copies, extra, nodeArgs });
  const name = diffLog === undefined ? 'ours' : 'ours-compare';
  return described(name, tcpcopy, intercept, /^(node|tcpcopy|intercept)$/, diffLog === undefined ? [] : [diffLog]);
}

export async function startUpstream(lab: Lab, bins: UpstreamBinaries, copies = 1): Promise<RunningCopier> {
  const aux = lab.host('aux');
  const prod = lab.host('prod');
  const interceptHelp = await helpOf(lab, 'aux', bins.intercept);
  if (!/-i <device/.test(interceptHelp) || !/-F <filter/.test(interceptHelp)) {
    throw new Error(
      `${bins.intercept} is not intercept's default (advanced, pcap) build: its -h lists no -i/-F, so it would need ` +
        `iptables/NFQUEUE set-up this benchmark does not do. Its -h said:\n${interceptHelp}`,
    );
  }
  const tcpcopyHelp = await helpOf(lab, 'prod', bins.tcpcopy);
  if (!/-x <transfer/.test(tcpcopyHelp))
    throw new Error(`${bins.tcpcopy} -h does not look like tcpcopy's:\n${tcpcopyHelp}`);

  const interceptLog = join(lab.logDir, 'upstream-intercept.log');
  const tcpcopyLog = join(lab.logDir, 'upstream-tcpcopy.log');
  const intercept = lab.spawn(
    'aux',
    bins.intercept,
    ['-i', aux.iface, '-F', `tcp and src port ${HTTP_PORT}`, '-l', interceptLog],
    { name: 'c-intercept' },
  );
  await lab.waitForPort('aux', CONTROL_PORT, PORT_WAIT_MS, intercept).catch((err: unknown) => {
    throw new Error(`C intercept did not listen on ${CONTROL_PORT}: ${(err as Error).message}\n${tail(interceptLog)}`);
  });

  const target = lab.host('target');
  const args = ['-x', `${HTTP_PORT}-${target.ip}:${HTTP_PORT}`, '-s', aux.ip, '-c', fakeRange(lab)];
  // A --pcap-capture build captures on the devices given (the client-facing one here); the
  // default build reads a raw socket that sees every TCP packet prod receives and has no -i.
  if (/-i <device/.test(tcpcopyHelp)) args.push('-i', prod.iface);
  if (copies > 1) args.push('-n', String(copies));
  args.push('-l', tcpcopyLog);
  const tcpcopy = lab.spawn('prod', bins.tcpcopy, args, { name: 'c-tcpcopy' });
  await sleep(UPSTREAM_TCPCOPY_START_MS);
  if (!tcpcopy.running) {
    const exit = await tcpcopy.exited;
    throw new Error(
      `C tcpcopy exited (${exit.code ?? exit.signal}) right after starting:\n${tcpcopy.stderr.slice(-2000)}\n${tail(tcpcopyLog)}`,
    );
  }
  return described('c', tcpcopy, intercept, /^(tcpcopy|intercept)$/, [tcpcopyLog, interceptLog]);
}

async function described(
  name: CopierName,
  tcpcopy: LabProcess,
  intercept: LabProcess,
  comm: RegExp,
  logFiles: readonly string[],
): Promise<RunningCopier> {
  const tcpcopyPid = await resolveDaemonPid(pidOf(tcpcopy), comm);
  const interceptPid = await resolveDaemonPid(pidOf(intercept), comm);
  return {
    name,
    tcpcopy,
    intercept,
    tcpcopyPid,
    interceptPid,
    commandLines: { tcpcopy: commandLineOf(tcpcopyPid), intercept: commandLineOf(interceptPid) },
    logFiles,
  };
}

function pidOf(proc: LabProcess): number {
  if (proc.pid === undefined) throw new Error(`${proc.name} did not start:\n${proc.stderr.slice(-2000)}`);
  return proc.pid;
}

/** `<bin> -h` inside `host` (never outside the lab). Upstream prints usage on stdout and exits
 *  with a non-zero status. */
async function helpOf(lab: Lab, host: string, bin: string): Promise<string> {
  const { stdout, stderr } = await lab.exec(host, bin, ['-h'], { check: false, timeoutMs: HELP_TIMEOUT_MS });
  return `${stdout}${stderr}`;
}

/** The end of a daemon's own log file, for error messages. */
export function tail(path: string, lines = 20): string {
  if (!existsSync(path)) return `(no ${path})`;
  return `--- ${path}\n${readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')}`;
}
