/**
 * The network-namespace lab (test/lab/README.md): a switch namespace with a bridge and the hosts
 * client, prod, aux and target on a private /24, a fake-client /24 that target routes via aux,
 * and the means to run programs, add faults, watch guards and capture inside them. Every lab is
 * torn down by destroy(), by the test's after-hook, and by the process's exit/signal handlers.
 */
import { randomInt } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FAKE_NET_BASE, HOST_NAME_PATTERN, NET_SLOTS, newPrefix, processStartTime } from './names.js';
import { LabProcess, type ExitInfo } from './process.js';
import {
  CLAIMS_DIR,
  RECORD_FILE,
  deleteNamespaceSync,
  listNamespaces,
  registerLab,
  sweepStaleLabs as sweep,
  unregisterLab,
  type LabRecord,
} from './registry.js';
import { CommandRunner, type ExecOptions, type ExecResult } from './shell.js';
import {
  OFFLOAD_PROFILES,
  buildTopology,
  namespacesOf,
  planTopology,
  type LabHost,
  type OffloadProfile,
  type Topology,
} from './topology.js';
import { installGuards, readGuardCounters, type GuardCounters } from './guards.js';
import { FaultTable, type FaultDirection } from './faults.js';
import {
  startNginx,
  startRedis,
  startEchoServer,
  type NginxOptions,
  type NginxServer,
  type RedisServer,
  type EchoServer,
} from './servers.js';
import { startCapture, type CaptureOptions, type PacketCapture } from './capture.js';

export const CORE_HOSTS = ['client', 'prod', 'aux', 'target'] as const;
export type CoreHost = (typeof CORE_HOSTS)[number];
export const DEFAULT_LOG_ROOT = '/tmp/tcpcopy-lab';

export interface LabOptions {
  /** More hosts on the same switch (e.g. a second intercept host), after the core four. */
  extraHosts?: readonly string[];
  /** Where each run's directory of logs goes; default /tmp/tcpcopy-lab. */
  logRoot?: string;
  /** How the veths offload (topology.ts); default $LAB_OFFLOADS, else `nic`, as real hosts run. */
  offloads?: OffloadProfile;
}

/** The profile a lab gets when its test names none: LAB_OFFLOADS=off|nic|host, default `nic`. */
export function defaultOffloadProfile(env: NodeJS.ProcessEnv = process.env): OffloadProfile {
  const wanted = env['LAB_OFFLOADS'];
  if (wanted === undefined || wanted === '') return 'nic';
  const profile = OFFLOAD_PROFILES.find((p) => p === wanted);
  if (profile === undefined) throw new Error(`LAB_OFFLOADS=${wanted}: expected one of ${OFFLOAD_PROFILES.join(', ')}`);
  return profile;
}

export interface SpawnOptions {
  /** Used in log file names; default the program's base name. */
  name?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** spawnNode/spawnAgent only: options for node itself (e.g. --expose-gc). */
  nodeArgs?: readonly string[];
}

export type AgentName = 'inject' | 'capture' | 'syn-flood';
const AGENTS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'agents');
const PREFIX_ATTEMPTS = 20;
const CLAIM_ATTEMPTS = 2 * NET_SLOTS;
const PORT_POLL_MS = 25;
const MAX_FAKE_HOST = 254;

export class Lab {
  readonly hosts: Readonly<Record<CoreHost, LabHost>> & Readonly<Record<string, LabHost | undefined>>;
  readonly subnet: string;
  readonly fakeSubnet: string;
  readonly offloads: OffloadProfile;
  readonly namespaces: readonly string[];
  readonly run: CommandRunner;
  private readonly processes = new Set<LabProcess>();
  private readonly faults: FaultTable;
  private spawnCount = 0;
  private destroying: Promise<void> | undefined;
  private destroyedSync = false;

  constructor(
    readonly prefix: string,
    readonly slot: number,
    readonly logDir: string,
    private readonly claimPath: string,
    readonly topology: Topology,
  ) {
    this.run = new CommandRunner(join(logDir, 'commands.log'));
    this.hosts = Object.fromEntries(topology.hosts.map((h) => [h.name, h])) as Lab['hosts'];
    this.subnet = topology.subnet;
    this.fakeSubnet = topology.fakeSubnet;
    this.offloads = topology.offloads;
    this.namespaces = namespacesOf(topology);
    this.faults = new FaultTable(this.run, topology.switchNs);
  }

  /** Address n (1..254) of the fake-client subnet: sources the copier may impersonate. */
  fakeIp(n: number): string {
    if (!Number.isInteger(n) || n < 1 || n > MAX_FAKE_HOST)
      throw new RangeError(`fake host ${n} not in 1..${MAX_FAKE_HOST}`);
    return `${FAKE_NET_BASE}.${this.slot}.${n}`;
  }

  host(name: string): LabHost {
    const h = this.hosts[name];
    if (!h) throw new Error(`no host ${name} in lab ${this.prefix}`);
    return h;
  }

  /** Runs a program inside `host`'s namespace and waits for it. */
  exec(host: string, cmd: string, args: readonly string[] = [], opts?: ExecOptions): Promise<ExecResult> {
    return this.run.run('ip', ['netns', 'exec', this.host(host).ns, cmd, ...args], opts);
  }

  /** Starts a program inside `host`'s namespace; it is killed at teardown at the latest. */
  spawn(host: string, cmd: string, args: readonly string[] = [], opts: SpawnOptions = {}): LabProcess {
    if (this.destroying || this.destroyedSync) throw new Error(`lab ${this.prefix} is torn down`);
    const ns = this.host(host).ns;
    const label = `${String(++this.spawnCount).padStart(2, '0')}-${host}-${opts.name ?? basename(cmd)}`;
    const argv = ['ip', 'netns', 'exec', ns, cmd, ...args];
    this.run.note(`spawn ${label}: ${argv.join(' ')}`);
    const proc = new LabProcess(label, argv, join(this.logDir, `${label}.out`), join(this.logDir, `${label}.err`), {
      env: opts.env,
      cwd: opts.cwd,
    });
    this.processes.add(proc);
    void proc.exited.then(() => this.processes.delete(proc));
    return proc;
  }

  /** Runs a Node script (e.g. a compiled agent) inside `host`, with this process's node. */
  spawnNode(host: string, script: string, args: readonly string[] = [], opts: SpawnOptions = {}): LabProcess {
    return this.spawn(host, process.execPath, [...(opts.nodeArgs ?? []), script, ...args], {
      name: basename(script, '.js'),
      ...opts,
    });
  }

  /** Starts one of the agents in test/lab/agents (inject, capture) in `host`; each takes one
   *  JSON argument and prints JSON lines (read them with proc.jsonLines()). */
  spawnAgent(host: string, agent: AgentName, args: object, opts: SpawnOptions = {}): LabProcess {
    return this.spawnNode(host, join(AGENTS_DIR, `${agent}.js`), [JSON.stringify(args)], { name: agent, ...opts });
  }

  /** Resolves once something in `host` listens on TCP `port` (checked with `ss -ltn`). */
  async waitForPort(host: string, port: number, timeoutMs = 10_000, proc?: LabProcess): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { stdout } = await this.exec(host, 'ss', ['-Hltn', `sport = :${port}`]);
      if (stdout.trim() !== '') return;
      if (proc && !proc.running)
        throw new Error(`${proc.name} exited before listening on ${port}:\n${proc.stderr.slice(-2000)}`);
      if (Date.now() > deadline) throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, PORT_POLL_MS));
    }
  }

  startNginx(host: string, opts?: NginxOptions): Promise<NginxServer> {
    return startNginx(this, host, opts);
  }

  startRedis(host: string, opts?: { port?: number }): Promise<RedisServer> {
    return startRedis(this, host, opts);
  }

  /** A Node HTTP server recording every request's method, path, body length and SHA-256. */
  startEchoServer(host: string, opts?: { port?: number }): Promise<EchoServer> {
    return startEchoServer(this, host, opts);
  }

  /** Drops `permille`/1000 of the TCP frames `host` sends (or receives, direction 'to') at its
   *  switch port; 0 removes the rule. */
  dropFrames(host: string, permille: number, direction: FaultDirection = 'from'): Promise<void> {
    return this.faults.drop(this.host(host), permille, direction);
  }

  /** Sends `permille`/1000 of the TCP frames `host` sends (or receives) twice; 0 removes it. */
  duplicateFrames(host: string, permille: number, direction: FaultDirection = 'from'): Promise<void> {
    return this.faults.duplicate(this.host(host), permille, direction);
  }

  /** Shapes `host`'s link with tbf (`rate` in tc syntax, e.g. '2mbit'); null removes it. */
  rateLimit(host: string, rate: string | null, direction: FaultDirection = 'from'): Promise<void> {
    return this.faults.rateLimit(this.host(host), rate, direction);
  }

  /** Counters of packets that must never be seen; all zero when the copier leaks nothing. */
  guardCounters(): Promise<GuardCounters> {
    return readGuardCounters(this.run, this.topology.switchNs);
  }

  /** tcpdump -w inside `host`; resolves once tcpdump is listening. */
  captureOn(host: string, filter: string, opts?: CaptureOptions): Promise<PacketCapture> {
    return startCapture(this, host, filter, opts);
  }

  /** The last lines of every log of this run, for printing when a test fails. */
  logTail(lines = 30): string {
    const parts: string[] = [];
    for (const file of readdirSync(this.logDir).sort()) {
      if (file === RECORD_FILE) continue;
      let text: string;
      try {
        text = readFileSync(join(this.logDir, file), 'utf8');
      } catch {
        continue;
      }
      if (text.trim() === '') continue;
      const tail = text.trimEnd().split('\n').slice(-lines).join('\n');
      parts.push(`--- ${join(this.logDir, file)} (last ${lines} lines)\n${tail}`);
    }
    return parts.join('\n');
  }

  /** Stops every process (SIGTERM, then SIGKILL) and deletes every namespace. Idempotent. */
  destroy(opts: { keepLogs?: boolean } = {}): Promise<void> {
    this.destroying ??= (async () => {
      await Promise.all([...this.processes].map((p): Promise<ExitInfo> => p.stop('SIGTERM', 1000)));
      this.destroySync();
      if (opts.keepLogs === false) rmSync(this.logDir, { recursive: true, force: true });
    })();
    return this.destroying;
  }

  /** Teardown for exit and signal handlers: SIGKILL everything, delete namespaces. */
  destroySync(): void {
    if (this.destroyedSync) return;
    this.destroyedSync = true;
    for (const p of this.processes) p.killNow();
    for (const ns of [...this.namespaces].reverse()) deleteNamespaceSync(this.run, ns);
    try {
      unlinkSync(this.claimPath);
    } catch {
      // Swept already.
    }
    unregisterLab(this);
  }
}

/** Creates a lab with a fresh prefix and subnet; if building it fails, nothing is left behind. */
export async function createLab(options: LabOptions = {}): Promise<Lab> {
  const hostNames = [...CORE_HOSTS, ...(options.extraHosts ?? [])];
  for (const h of hostNames) {
    if (!HOST_NAME_PATTERN.test(h)) throw new Error(`bad lab host name ${JSON.stringify(h)}`);
  }
  if (new Set(hostNames).size !== hostNames.length) throw new Error(`duplicate lab host in ${hostNames.join(',')}`);
  const logRoot = options.logRoot ?? DEFAULT_LOG_ROOT;
  mkdirSync(join(logRoot, CLAIMS_DIR), { recursive: true });
  const runner = new CommandRunner();
  sweep(runner, logRoot);

  const prefix = reservePrefix(runner, logRoot);
  const logDir = join(logRoot, prefix);
  const record: LabRecord = { prefix, pid: process.pid, startTime: processStartTime(process.pid)!, slot: -1 };
  const { slot, claimPath } = claimSlot(logRoot, record);
  record.slot = slot;
  writeFileSync(join(logDir, RECORD_FILE), JSON.stringify(record) + '\n');

  const lab = new Lab(
    prefix,
    slot,
    logDir,
    claimPath,
    planTopology(prefix, slot, hostNames, options.offloads ?? defaultOffloadProfile()),
  );
  registerLab(lab);
  try {
    await buildTopology(lab.run, lab.topology);
    await installGuards(lab.run, lab.topology);
  } catch (err) {
    await lab.destroy();
    throw err;
  }
  return lab;
}

/** Removes namespaces left by lab runs whose process has died; returns their names. Only names
 *  matching the lab pattern are ever considered. createLab calls it first. */
export function sweepStaleLabs(logRoot: string = DEFAULT_LOG_ROOT): string[] {
  return sweep(new CommandRunner(), logRoot);
}

/** The log directory doubles as the name lock: mkdir fails if another run holds the prefix. */
function reservePrefix(runner: CommandRunner, logRoot: string): string {
  const existing = listNamespaces(runner);
  for (let i = 0; i < PREFIX_ATTEMPTS; i++) {
    const prefix = newPrefix();
    if (existing.some((ns) => ns.startsWith(`${prefix}-`))) continue;
    try {
      mkdirSync(join(logRoot, prefix));
      return prefix;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  throw new Error(`could not reserve a lab prefix under ${logRoot}`);
}

/** Claims a subnet octet no other live lab uses: link(2) of a complete file is atomic and
 *  fails if the claim exists, so a sweeper never reads a half-written claim. */
function claimSlot(logRoot: string, record: LabRecord): { slot: number; claimPath: string } {
  const dir = join(logRoot, CLAIMS_DIR);
  const tmp = join(dir, `tmp-${record.prefix}`);
  for (let i = 0; i < CLAIM_ATTEMPTS; i++) {
    const slot = randomInt(NET_SLOTS);
    writeFileSync(tmp, JSON.stringify({ ...record, slot }) + '\n');
    const claimPath = join(dir, `net-${slot}`);
    try {
      linkSync(tmp, claimPath);
      unlinkSync(tmp);
      return { slot, claimPath };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  unlinkSync(tmp);
  throw new Error('every lab subnet is claimed');
}
