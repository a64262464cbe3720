/**
 * --auth-file: the control channel's shared secret, read once at start. Refused, as ssh refuses a
 * private key, unless it is a regular file only its owner may access: a key others can read is
 * no secret. The file's bytes are the key as they are (a trailing newline included), so both
 * hosts must hold copies of one file, not retyped ones.
 */
import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';
import { flagLabel } from './cli.js';
import { DAEMON_FLAGS } from './cli-daemon.js';
import { CONTROL_AUTH_MIN_KEY_BYTES } from './control/constants.js';
import { ControlAuthKey } from './control/auth.js';
import { ConfigError, ErrorCode } from './errors.js';

/** Permission bits for the file's group and everyone else (chmod's g and o). */
const GROUP_AND_OTHER_BITS = 0o077;
const PERMISSION_BITS = 0o777;
/** Far above any sensible key: a larger file is the wrong file, and is not read whole. */
export const MAX_AUTH_FILE_BYTES = 4096;

/** The key in the file at `path`, or undefined without one; a ConfigError (BAD_FLAG) naming the file otherwise. */
export function readAuthFile(path: string | undefined): ControlAuthKey | undefined {
  if (path === undefined) return undefined;
  const label = flagLabel(DAEMON_FLAGS.authFile);
  const refuse = (why: string): ConfigError =>
    new ConfigError(ErrorCode.BAD_FLAG, `${label} ${JSON.stringify(path)}: ${why}`, label);
  let fd: number;
  try {
    // Non-blocking: a FIFO given by mistake is refused below instead of waiting for a writer.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    // "ENOENT: no such file or directory, open '/x'": the path is already in our message.
    throw refuse(`cannot read it: ${(err as Error).message.replace(/, \w+(?: '.*')?$/, '')}`);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw refuse('not a regular file');
    if ((stat.mode & GROUP_AND_OTHER_BITS) !== 0) {
      const mode = (stat.mode & PERMISSION_BITS).toString(8).padStart(4, '0');
      throw refuse(`its group or others may access it (mode ${mode}): a shared secret must be private (chmod 600 it)`);
    }
    if (stat.size > MAX_AUTH_FILE_BYTES)
      throw refuse(`${stat.size} bytes: not a key file (at most ${MAX_AUTH_FILE_BYTES})`);
    const secret = readFileSync(fd);
    if (secret.length < CONTROL_AUTH_MIN_KEY_BYTES) {
      throw refuse(
        `${secret.length} bytes: the secret needs at least ${CONTROL_AUTH_MIN_KEY_BYTES} (head -c 32 /dev/urandom > FILE)`,
      );
    }
    return new ControlAuthKey(secret);
  } finally {
    closeSync(fd);
  }
}
