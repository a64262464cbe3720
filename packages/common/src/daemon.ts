/**
 * Process chores both daemons share: -d (daemonize) and -P (pid file). Node cannot fork, so -d
 * re-executes the same command detached from the terminal with its stdio on /dev/null; the
 * parent exits 0 once the child runs, as a forking daemon's parent does.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { ErrorCode, RuntimeError } from './errors.js';

/** Set in the re-executed child so it does not daemonize again. */
export const DAEMON_CHILD_ENV = 'TCPCOPY_DAEMON_CHILD';

/**
 * Returns true in the process that should go on running (the child, or the only process when
 * -d is off); false in the parent, which should exit 0.
 */
export function daemonize(
  enabled: boolean,
  env: NodeJS.ProcessEnv,
  argv: readonly string[],
  execPath: string,
): boolean {
  if (!enabled || env[DAEMON_CHILD_ENV] === '1') return true;
  try {
    const child = spawn(execPath, argv.slice(1), {
      detached: true,
      stdio: 'ignore',
      env: { ...env, [DAEMON_CHILD_ENV]: '1' },
    });
    child.unref();
  } catch (err) {
    throw new RuntimeError(ErrorCode.DAEMONIZE, `cannot start the background process: ${(err as Error).message}`);
  }
  return false;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Writes our pid to `path`, refusing when it names another live process (upstream parses -P and
 * never writes it). Returns a function that removes the file if it is still ours.
 */
export function writePidFile(path: string, pid: number): () => void {
  let existing: number | undefined;
  try {
    existing = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
  } catch {
    existing = undefined;
  }
  if (existing !== undefined && Number.isInteger(existing) && existing !== pid && isAlive(existing)) {
    throw new RuntimeError(ErrorCode.PIDFILE, `pid file ${path} belongs to running process ${existing}`);
  }
  try {
    writeFileSync(path, `${pid}\n`);
  } catch (err) {
    throw new RuntimeError(ErrorCode.PIDFILE, `cannot write pid file ${path}: ${(err as Error).message}`);
  }
  return () => {
    try {
      if (readFileSync(path, 'utf8').trim() === String(pid)) unlinkSync(path);
    } catch {
      // Already gone.
    }
  };
}

/**
 * -u: once the capture handles and sockets are open, root is no longer needed; the process
 * switches to the given user (and that user's groups) for good. Open sockets keep working.
 */
const NUMERIC_ID = /^\d+$/;

/** The user's groups, primary first, as the system resolves them through NSS (`id -G`). */
function groupsOf(user: string): number[] {
  let out: string;
  try {
    out = execFileSync('id', ['-G', user], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch {
    throw new RuntimeError(ErrorCode.USER, `-u ${user}: no such user`);
  }
  return out.trim().split(/\s+/).map(Number);
}

/** Switches supplementary groups, gid and uid to `user` (a name or a numeric uid). */
export function dropPrivileges(user: string): void {
  const { setgroups, setgid, setuid } = process;
  if (setgroups === undefined || setgid === undefined || setuid === undefined) {
    throw new RuntimeError(ErrorCode.USER, `-u ${user}: this platform cannot switch users`);
  }
  if (process.getuid?.() !== 0) {
    throw new RuntimeError(
      ErrorCode.USER,
      `-u ${user}: only root can switch users (running as uid ${process.getuid?.() ?? '?'})`,
    );
  }
  const groups = groupsOf(user);
  try {
    // Groups first: once the uid is dropped, changing them is no longer allowed.
    setgroups(groups);
    setgid(groups[0]!);
    setuid(NUMERIC_ID.test(user) ? Number(user) : user);
  } catch (err) {
    throw new RuntimeError(ErrorCode.USER, `-u ${user}: cannot switch user: ${(err as Error).message}`, { cause: err });
  }
}
