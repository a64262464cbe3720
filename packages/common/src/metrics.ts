/**
 * The metrics endpoint both daemons serve with `--metrics [addr:]port`: Prometheus text format at
 * GET /metrics, rendered by prom-client.
 *
 * Nothing here is on a per-packet path. The daemons keep counting in their plain counter objects
 * (one increment of a number property per event); each metric declared here reads those objects
 * when it is scraped, through prom-client's `collect()` hook. A scrape costs one walk over the
 * counters; a packet costs nothing more than it did before metrics existed.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { ListenAddress } from './cli-values.js';
import { ErrorCode, RuntimeError } from './errors.js';
import { ipv4ToString } from './packet/index.js';

export const METRICS_PATH = '/metrics';

export type MetricKind = 'counter' | 'gauge';

/** Hands one sample to the scrape: its value and, for a labelled metric, its label values. */
export type EmitSample<L extends string> = (value: number, labels?: Readonly<Record<L, string>>) => void;

export interface MetricSpec<L extends string = string> {
  /** Full name, prefix included (`tcpcopy_`, `intercept_`); counters end in `_total`. */
  readonly name: string;
  readonly help: string;
  readonly kind: MetricKind;
  readonly labels?: readonly L[];
  /** Runs at scrape time: reads the daemon's counter objects and emits every sample. */
  readonly read: (emit: EmitSample<L>) => void;
}

export interface MetricsRegistryOptions {
  /** Also export Node's process metrics (process_*, nodejs_*: CPU, memory, event-loop lag). */
  readonly processMetrics?: boolean;
}

export class MetricsRegistry {
  readonly registry = new Registry();

  constructor(options: MetricsRegistryOptions = {}) {
    if (options.processMetrics === true) collectDefaultMetrics({ register: this.registry });
  }

  /** Declares one metric; its values come from `spec.read` at each scrape. */
  add<L extends string>(spec: MetricSpec<L>): this {
    const registers = [this.registry];
    const labelNames = spec.labels ?? [];
    if (spec.kind === 'counter') {
      new Counter<L>({
        name: spec.name,
        help: spec.help,
        labelNames,
        registers,
        collect(this: Counter<L>) {
          // A counter object is the source of truth: replace, never accumulate, what prom-client holds.
          this.reset();
          spec.read((value, labels) => (labels === undefined ? this.inc(value) : this.inc(labels, value)));
        },
      });
    } else {
      new Gauge<L>({
        name: spec.name,
        help: spec.help,
        labelNames,
        registers,
        collect(this: Gauge<L>) {
          this.reset();
          spec.read((value, labels) => (labels === undefined ? this.set(value) : this.set(labels, value)));
        },
      });
    }
    return this;
  }

  /** Declares a counter per entry of a table of counters (e.g. sessions ended by reason). */
  addTable(name: string, help: string, label: string, table: () => Readonly<Record<string, number>>): this {
    return this.add({
      name,
      help,
      kind: 'counter',
      labels: [label],
      read: (emit) => {
        for (const [key, value] of Object.entries(table())) emit(value, { [label]: key });
      },
    });
  }

  /** The exposition, as served at /metrics. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

export interface MetricsServer {
  readonly address: AddressInfo;
  close(): Promise<void>;
}

/**
 * Serves `metrics` at GET /metrics on `listen`. Rejects with a RuntimeError (LISTEN) when the
 * address cannot be bound. The server does not keep the process alive.
 */
export function serveMetrics(metrics: MetricsRegistry, listen: ListenAddress): Promise<MetricsServer> {
  const server = createServer((req, res) => void respond(metrics, req, res));
  const host = ipv4ToString(listen.host);
  return new Promise((resolve, reject) => {
    const onListenError = (err: NodeJS.ErrnoException): void => {
      reject(
        new RuntimeError(
          ErrorCode.LISTEN,
          `--metrics: cannot listen on ${host}:${listen.port}: ${err.code ?? err.message}`,
          { cause: err },
        ),
      );
    };
    server.once('error', onListenError);
    server.listen({ host, port: listen.port }, () => {
      server.off('error', onListenError);
      // A failed accept (EMFILE...) costs a scrape, never the daemon.
      server.on('error', () => {});
      server.unref();
      resolve({
        address: server.address() as AddressInfo,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}

async function respond(metrics: MetricsRegistry, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '').split('?')[0];
  if (path !== METRICS_PATH) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end(`metrics are served at ${METRICS_PATH}\n`);
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('GET only\n');
    return;
  }
  try {
    const body = await metrics.text();
    res.writeHead(200, { 'content-type': metrics.contentType });
    res.end(req.method === 'HEAD' ? undefined : body);
  } catch (err) {
    res.writeHead(500, { 'content-type': 'text/plain' }).end(`cannot collect metrics: ${(err as Error).message}\n`);
  }
}
