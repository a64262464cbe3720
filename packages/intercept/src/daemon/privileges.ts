/**
 * -u: once the capture handles and the control socket are open, root is no longer needed; the
 * process switches to the given user (and that user's groups) for good.
 */
import { execFileSync } from 'node:child_process';
import { ErrorCode, RuntimeError } from '@tcpcopy/common';

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
    throw new RuntimeError(ErrorCode.USER, `-u ${user}: only root can switch users (running as uid ${process.getuid?.() ?? '?'})`);
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
