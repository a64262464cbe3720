/**
 * A start-up failure as the one line both daemons print on stderr, terminal or not, and -d's
 * parent prints for its background process: `tcpcopy: TCPCOPY_ERR_FILTER: what happened (what to
 * do)`. The raise site says what happened (and what to do, where only it knows); the advice that
 * depends on the failed system call's errno or on the code alone is chosen here, so every path to
 * the same problem reads the same.
 */
import { ErrorCode, isTcpcopyError, type TcpcopyError } from './errors.js';
import { errnoName } from './io/raw-socket-sink.js';

/** Packet sockets (capture, raw IP, link layer) need CAP_NET_RAW, which root has. */
export const PRIVILEGE_ADVICE = 'run as root, or give the program CAP_NET_RAW; CAP_NET_ADMIN is not needed';
const PRIVILEGE_ERRNOS: ReadonlySet<string> = new Set(['EPERM', 'EACCES']);
const FILE_ADVICE = 'create the directory or fix its permissions, or choose another path';

/** Advice that depends on the code alone. */
const ADVICE_BY_CODE: Partial<Record<ErrorCode, string>> = {
  [ErrorCode.FILTER]: 'check -F: pcap-filter(7) syntax for IPv4 packets, no link-level primitives',
  [ErrorCode.DEVICE]: "check -i: `ip link` lists this host's devices",
  [ErrorCode.NO_INTERCEPT]: 'start intercept first, check -s and -p, or use -L to keep trying',
  [ErrorCode.UNEXPECTED]: 'run with --log-level debug for the stack, and report it',
};

/** The errno of the system call under `cause`: its code, or the strerror() text raw-socket throws. */
function errnoOf(cause: unknown): string | undefined {
  if (!(cause instanceof Error)) return undefined;
  const code = (cause as NodeJS.ErrnoException).code;
  // The capture addon names the errnos it knows and calls the others ESYSCALL.
  if (typeof code === 'string' && code !== 'ESYSCALL') return code;
  const name = errnoName(cause);
  return name === 'UNKNOWN' ? undefined : name;
}

function adviceFor(err: TcpcopyError): string | undefined {
  const errno = errnoOf(err.cause);
  switch (err.code) {
    case ErrorCode.CAPTURE_OPEN:
    case ErrorCode.RAW_SOCKET:
      return errno !== undefined && PRIVILEGE_ERRNOS.has(errno) ? PRIVILEGE_ADVICE : undefined;
    case ErrorCode.LISTEN:
      if (errno === 'EADDRINUSE') return 'another process listens there: stop it, or choose another port';
      return errno === 'EADDRNOTAVAIL' ? "the address is not one of this host's" : undefined;
    case ErrorCode.LOG_FILE:
    case ErrorCode.PIDFILE:
      return errno === undefined ? undefined : FILE_ADVICE;
    default:
      return ADVICE_BY_CODE[err.code];
  }
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ');
}

/** `name: CODE: message (advice)`; an error that is none of ours is TCPCOPY_ERR_UNEXPECTED. */
export function startupErrorLine(name: string, err: unknown): string {
  const message = oneLine(err instanceof Error ? err.message : String(err));
  const code = isTcpcopyError(err) ? err.code : ErrorCode.UNEXPECTED;
  const advice = isTcpcopyError(err) ? adviceFor(err) : ADVICE_BY_CODE[ErrorCode.UNEXPECTED];
  return `${name}: ${code}: ${message}${advice === undefined ? '' : ` (${advice})`}`;
}
