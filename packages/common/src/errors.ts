/**
 * The one registry of error codes (undici `UND_ERR_*` style). Every error either daemon raises
 * on purpose is a TcpcopyError with a stable `code` listed here; docs/errors.md documents each
 * one (test/unit/errors.test.ts enforces that, and that no source file uses an unlisted code).
 *
 * Per-packet decoders never throw (they return a status); these errors are for configuration,
 * connection-level and start-up faults.
 */

/** Bad command line or configuration: reported as one line on stderr, exit status 2. */
const CONFIG_CODES = {
  BAD_FLAG: 'TCPCOPY_ERR_BAD_FLAG',
  MISSING_FLAG: 'TCPCOPY_ERR_MISSING_FLAG',
  BAD_ADDRESS: 'TCPCOPY_ERR_BAD_ADDRESS',
  UNKNOWN_FLAG: 'TCPCOPY_ERR_UNKNOWN_FLAG',
  UNSUPPORTED_FLAG: 'TCPCOPY_ERR_UNSUPPORTED_FLAG',
  FLAG_CONFLICT: 'TCPCOPY_ERR_FLAG_CONFLICT',
  UNEXPECTED_ARGUMENT: 'TCPCOPY_ERR_UNEXPECTED_ARGUMENT',
  CONFIG_FILE: 'TCPCOPY_ERR_CONFIG_FILE',
} as const;

/** Faults of one control-channel connection: the connection is closed, the daemon goes on. */
const CONTROL_CODES = {
  CONTROL_FRAME_TOO_LARGE: 'TCPCOPY_ERR_CONTROL_FRAME_TOO_LARGE',
  CONTROL_MALFORMED: 'TCPCOPY_ERR_CONTROL_MALFORMED',
  CONTROL_VERSION: 'TCPCOPY_ERR_CONTROL_VERSION',
  CONTROL_AUTH: 'TCPCOPY_ERR_CONTROL_AUTH',
  CONTROL_UNEXPECTED: 'TCPCOPY_ERR_CONTROL_UNEXPECTED',
  CONTROL_LEGACY_DENIED: 'TCPCOPY_ERR_CONTROL_LEGACY_DENIED',
} as const;

/** Opening or using the packet capture and injection handles. */
const PACKET_IO_CODES = {
  CAPTURE_OPEN: 'TCPCOPY_ERR_CAPTURE_OPEN',
  FILTER: 'TCPCOPY_ERR_FILTER',
  DEVICE: 'TCPCOPY_ERR_DEVICE',
  RAW_SOCKET: 'TCPCOPY_ERR_RAW_SOCKET',
  PCAP_FILE: 'TCPCOPY_ERR_PCAP_FILE',
} as const;

/** Start-up and process-level failures of a daemon: logged, exit status 1. */
const RUNTIME_CODES = {
  NO_INTERCEPT: 'TCPCOPY_ERR_NO_INTERCEPT',
  LISTEN: 'TCPCOPY_ERR_LISTEN',
  PIDFILE: 'TCPCOPY_ERR_PIDFILE',
  LOG_FILE: 'TCPCOPY_ERR_LOG_FILE',
  USER: 'TCPCOPY_ERR_USER',
  DAEMONIZE: 'TCPCOPY_ERR_DAEMONIZE',
  /** A failure no check anticipated (a bug): its start-up line asks for the stack. */
  UNEXPECTED: 'TCPCOPY_ERR_UNEXPECTED',
} as const;

/** Every code, by short name: `ErrorCode.BAD_FLAG === 'TCPCOPY_ERR_BAD_FLAG'`. */
export const ErrorCode = {
  ...CONFIG_CODES,
  ...CONTROL_CODES,
  ...PACKET_IO_CODES,
  ...RUNTIME_CODES,
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export type ConfigErrorCode = (typeof CONFIG_CODES)[keyof typeof CONFIG_CODES];
export type ControlErrorCode = (typeof CONTROL_CODES)[keyof typeof CONTROL_CODES];
export type PacketIoErrorCode = (typeof PACKET_IO_CODES)[keyof typeof PACKET_IO_CODES];
export type RuntimeErrorCode = (typeof RUNTIME_CODES)[keyof typeof RUNTIME_CODES];

/** Base of every error we raise on purpose; `code` is stable across releases, `message` is not. */
export class TcpcopyError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    // The subclass name ("ConfigError", ...) in stack traces and logs.
    this.name = new.target.name;
  }
}

/** A flag or configuration value is wrong; `flag` names it (e.g. "-x") when one flag is at fault. */
export class ConfigError extends TcpcopyError {
  declare readonly code: ConfigErrorCode;
  readonly flag: string | undefined;
  constructor(code: ConfigErrorCode, message: string, flag?: string, options?: ErrorOptions) {
    super(code, message, options);
    this.flag = flag;
  }
}

export class ControlError extends TcpcopyError {
  declare readonly code: ControlErrorCode;
  constructor(code: ControlErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}

export class PacketIoError extends TcpcopyError {
  declare readonly code: PacketIoErrorCode;
  constructor(code: PacketIoErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}

export class RuntimeError extends TcpcopyError {
  declare readonly code: RuntimeErrorCode;
  constructor(code: RuntimeErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}

function hasCode<T extends string>(codes: Record<string, T>, code: string): code is T {
  return (Object.values(codes) as string[]).includes(code);
}

/** Builds the error of the right family for `code`, e.g. `createError(ErrorCode.CONTROL_MALFORMED, 'bad length')`. */
export function createError(code: ErrorCode, message: string, options?: ErrorOptions): TcpcopyError {
  if (hasCode(CONFIG_CODES, code)) return new ConfigError(code, message, undefined, options);
  if (hasCode(CONTROL_CODES, code)) return new ControlError(code, message, options);
  if (hasCode(PACKET_IO_CODES, code)) return new PacketIoError(code, message, options);
  if (hasCode(RUNTIME_CODES, code)) return new RuntimeError(code, message, options);
  throw new TypeError(`unregistered error code ${String(code)}`);
}

/** True when `err` is one of ours (optionally with exactly this code). */
export function isTcpcopyError(err: unknown, code?: ErrorCode): err is TcpcopyError {
  return err instanceof TcpcopyError && (code === undefined || err.code === code);
}
