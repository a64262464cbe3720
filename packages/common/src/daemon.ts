/**
 * Process chores both daemons share: -d (daemonize) and -P (pid file). Node cannot fork, so -d
 * re-executes the same command detached from the terminal with its stdio on /dev/null; the
 * parent exits 0 once the child runs, as a forking daemon's parent does.
 */
import { spawn } from 'node:child_process';
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { ErrorCode, RuntimeError } from './errors.js';

/** Set in the re-executed child so it does not daemonize again. */
export const DAEMON_CHILD_ENV = 'TCPCOPY_DAEMON_CHILD';

/**
 * Returns true in the process that should go on running (the child, or the only process when
 * -d is off); false in the parent, which should exit 0.
 */
export function daemonize(enabled: boolean, env: NodeJS.ProcessEnv, argv: readonly string[], execPath: string): boolean {
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
 * -u: after the capture handles and the raw socket are open, run as `user` (and its primary
 * group). The open sockets keep working; nothing new needing privileges can be opened.
 */
export function dropPrivileges(user: string): void {
  try {
    const passwd = readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .map((line) => line.split(':'))
      .find((fields) => fields[0] === user || fields[2] === user);
    const gid = passwd?.[3] === undefined ? undefined : Number.parseInt(passwd[3], 10);
    if (gid !== undefined) {
      process.setgroups?.([gid]);
      process.setgid?.(gid);
    }
    process.setuid?.(/^\d+$/.test(user) ? Number(user) : user);
  } catch (err) {
    throw new RuntimeError(ErrorCode.USER, `cannot switch to user ${user}: ${(err as Error).message}`);
  }
}
