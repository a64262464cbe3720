/**
 * Real servers inside lab hosts: nginx (static files, JSON access log), redis-server, and our
 * echo server (records request bodies' SHA-256, which nginx cannot do with a static config).
 * Each is started in the foreground under lab.spawn and awaited until its port listens.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Lab } from './lab.js';
import { parseJsonLines, type LabProcess } from './process.js';

export const HTTP_PORT = 80;
export const REDIS_PORT = 6379;
export const ECHO_PORT = 8080;

export interface NginxOptions {
  port?: number;
  /** Document root; default DEFAULT_FILES (plus `files`, if given). */
  root?: string;
  /** Files to create in the document root (path relative to the root). */
  files?: Readonly<Record<string, string | Buffer>>;
  keepaliveTimeoutS?: number;
  keepaliveRequests?: number;
  /** Addresses to listen on besides the host's own (127.0.0.1 for clients on the host itself). */
  alsoListen?: readonly string[];
  /** Extra directives for the `http` block (e.g. a `limit_req_zone`), verbatim. */
  httpConfig?: string;
  /** Extra directives for the `server` block (e.g. `location` blocks), verbatim. */
  serverConfig?: string;
}

/** One line of nginx's access log as configured here. */
export interface AccessLogEntry {
  method: string;
  path: string;
  /** Request line, headers and body, in bytes. */
  requestLength: number;
  /** `ip:port` of the connection as nginx saw it. */
  client: string;
  status: number;
  bodyBytesSent: number;
  /** nginx's connection serial number and the request's position on that connection. */
  connection: number;
  connectionRequests: number;
  /** When the request was logged (its answer sent or abandoned) and how long it took, in seconds. */
  loggedAt: number;
  requestTime: number;
}

export interface NginxServer {
  readonly process: LabProcess;
  readonly host: string;
  readonly port: number;
  readonly root: string;
  readonly accessLogPath: string;
  url(path?: string): string;
  readAccessLog(): AccessLogEntry[];
}

/** Deterministic bodies of a few sizes, so a test can request a response of known length. */
export const DEFAULT_FILES: Readonly<Record<string, string | Buffer>> = {
  'index.html': 'hello from the lab\n',
  '1k.bin': patternBytes(1024),
  '64k.bin': patternBytes(64 * 1024),
  '1m.bin': patternBytes(1024 * 1024),
};

export function patternBytes(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + (i >> 8)) & 0xff;
  return b;
}

/** Bump when DEFAULT_FILES change: the shared default root is written once per version. */
const DEFAULT_ROOT_NAME = '.www-default-v1';

/**
 * Without a root or extra files, every run shares one default root (1 MiB of files written
 * once under the log root), which keeps each run's log directory small.
 */
function documentRoot(lab: Lab, dir: string, opts: NginxOptions): string {
  if (opts.root !== undefined) {
    writeFiles(opts.root, opts.files ?? {});
    return opts.root;
  }
  if (opts.files !== undefined) {
    writeFiles(join(dir, 'www'), { ...DEFAULT_FILES, ...opts.files });
    return join(dir, 'www');
  }
  const shared = join(dirname(lab.logDir), DEFAULT_ROOT_NAME);
  if (!existsSync(shared)) {
    // Written aside and renamed into place, so a parallel run never serves half a file.
    const tmp = `${shared}.${lab.prefix}`;
    writeFiles(tmp, DEFAULT_FILES);
    try {
      renameSync(tmp, shared);
    } catch {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  return shared;
}

/**
 * Every file the lab writes has this modification time: nginx derives Last-Modified and ETag from
 * it, so production and the test server serving the same file answer alike (--compare).
 */
export const LAB_FILE_MTIME = new Date('2024-01-02T03:04:05Z');

function writeFiles(root: string, files: Readonly<Record<string, string | Buffer>>): void {
  for (const [file, body] of Object.entries(files)) {
    mkdirSync(dirname(join(root, file)), { recursive: true });
    writeFileSync(join(root, file), body);
    utimesSync(join(root, file), LAB_FILE_MTIME, LAB_FILE_MTIME);
  }
  mkdirSync(root, { recursive: true });
}

const ACCESS_LOG_FORMAT =
  `'{"method":"$request_method","path":"$request_uri","requestLength":$request_length,` +
  `"client":"$remote_addr:$remote_port","status":$status,"bodyBytesSent":$body_bytes_sent,` +
  `"connection":$connection,"connectionRequests":$connection_requests,"loggedAt":$msec,` +
  `"requestTime":$request_time}'`;

export async function startNginx(lab: Lab, host: string, opts: NginxOptions = {}): Promise<NginxServer> {
  const h = lab.host(host);
  const port = opts.port ?? HTTP_PORT;
  const dir = join(lab.logDir, `nginx-${host}-${port}`);
  mkdirSync(dir, { recursive: true });
  const root = documentRoot(lab, dir, opts);
  const accessLogPath = join(dir, 'access.log');
  writeFileSync(accessLogPath, '');
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `daemon off;
worker_processes 1;
user root;
pid ${dir}/nginx.pid;
error_log stderr info;
events { worker_connections 4096; }
http {
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  default_type application/octet-stream;
  types { text/html html; }
  log_format lab escape=json ${ACCESS_LOG_FORMAT};
  access_log ${accessLogPath} lab;
  keepalive_timeout ${opts.keepaliveTimeoutS ?? 65}s;
  keepalive_requests ${opts.keepaliveRequests ?? 1000};${opts.httpConfig === undefined ? '' : `\n  ${opts.httpConfig}`}
  server {
    listen ${h.ip}:${port};${(opts.alsoListen ?? []).map((ip) => `\n    listen ${ip}:${port};`).join('')}
    root ${root};${opts.serverConfig === undefined ? '' : `\n    ${opts.serverConfig}`}
  }
}
`,
  );
  // -e: the error log before the config is read goes to stderr too, not /var/log/nginx.
  const proc = lab.spawn(host, 'nginx', ['-e', 'stderr', '-p', dir, '-c', conf], { name: 'nginx' });
  await lab.waitForPort(host, port, 10_000, proc);
  return {
    process: proc,
    host,
    port,
    root,
    accessLogPath,
    url: (path = '/') => `http://${h.ip}:${port}${path}`,
    readAccessLog: () => readJsonLines<AccessLogEntry>(accessLogPath),
  };
}

export interface RedisServer {
  readonly process: LabProcess;
  readonly host: string;
  readonly port: number;
}

export async function startRedis(lab: Lab, host: string, opts: { port?: number } = {}): Promise<RedisServer> {
  const port = opts.port ?? REDIS_PORT;
  const dir = join(lab.logDir, `redis-${host}-${port}`);
  mkdirSync(dir, { recursive: true });
  const args = [
    '--port',
    String(port),
    '--bind',
    lab.host(host).ip,
    '--protected-mode',
    'no',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
    '--daemonize',
    'no',
  ];
  const proc = lab.spawn(host, 'redis-server', args, { name: 'redis' });
  await lab.waitForPort(host, port, 10_000, proc);
  return { process: proc, host, port };
}

/** One request as test/lab/servers/echo-server.ts records it. */
export interface EchoRecord {
  method: string;
  path: string;
  /** Body length in bytes and its SHA-256 (hex). */
  length: number;
  sha256: string;
  /** `ip:port` of the connection. */
  client: string;
}

export interface EchoServer {
  readonly process: LabProcess;
  readonly host: string;
  readonly port: number;
  readonly logPath: string;
  url(path?: string): string;
  readRequests(): EchoRecord[];
}

const ECHO_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'servers', 'echo-server.js');

export async function startEchoServer(lab: Lab, host: string, opts: { port?: number } = {}): Promise<EchoServer> {
  const h = lab.host(host);
  const port = opts.port ?? ECHO_PORT;
  const logPath = join(lab.logDir, `echo-${host}-${port}.jsonl`);
  const proc = lab.spawnNode(host, ECHO_SCRIPT, [JSON.stringify({ host: h.ip, port, log: logPath })], {
    name: 'echo-server',
  });
  await lab.waitForPort(host, port, 10_000, proc);
  return {
    process: proc,
    host,
    port,
    logPath,
    url: (path = '/') => `http://${h.ip}:${port}${path}`,
    readRequests: () => readJsonLines<EchoRecord>(logPath),
  };
}

/**
 * A log file of JSON lines; none yet when the server has not logged anything. The server may be
 * writing as we read, so a last line without its newline is not complete yet and is left for the
 * next read.
 */
function readJsonLines<T>(path: string): T[] {
  if (!existsSync(path)) return [];
  const text = readFileSync(path, 'utf8');
  return parseJsonLines<T>(text.slice(0, text.lastIndexOf('\n') + 1));
}
