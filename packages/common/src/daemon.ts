/**
 * Process chores both daemons share: the pid file (-P) and dropping root (-u). -d is in
 * background.ts.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { ErrorCode, RuntimeError } from './errors.js';

/**
 * Set in -d's background process so that it does not daemonize again; systemd's units set it too,
 * which makes -d a no-op under them.
 */
export const DAEMON_CHILD_ENV = 'TCPCOPY_DAEMON_CHILD';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The live process other than `self` whose pid `path` holds, if any. */
export function pidFileHolder(path: string, self: number): number | undefined {
  let existing: number;
  try {
    existing = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
  } catch {
    return undefined;
  }
  return Number.isInteger(existing) && existing !== self && isAlive(existing) ? existing : undefined;
}

/**
 * Writes our pid to `path`, refusing when it names another live process (upstream parses -P and
 * never writes it). Returns a function that removes the file if it is still ours.
 */
export function writePidFile(path: string, pid: number): () => void {
  const existing = pidFileHolder(path, pid);
  if (existing !== undefined) {
    throw new RuntimeError(
      ErrorCode.PIDFILE,
      `pid file ${path} belongs to running process ${existing} (stop it first, or choose another -P)`,
    );
  }
  try {
    writeFileSync(path, `${pid}\n`);
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new RuntimeError(ErrorCode.PIDFILE, `cannot write pid file ${path}: ${why}`, { cause: err });
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

/**
 * The user's groups, primary first, as the system resolves them through NSS (`id -G`); a
 * RuntimeError (USER) when there is no such user.
 */
export function groupsOf(user: string): number[] {
  let out: string;
  try {
    out = execFileSync('id', ['-G', user], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch {
    throw new RuntimeError(
      ErrorCode.USER,
      `-u ${user}: no such user (create it, e.g. useradd -r ${user}, or choose another -u)`,
    );
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
      `-u ${user}: only root can switch users, this is uid ${process.getuid?.() ?? '?'} (start as root, or leave -u out)`,
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
