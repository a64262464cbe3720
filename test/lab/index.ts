/** The network-namespace lab: see lab.ts. */
export {
  createLab,
  defaultOffloadProfile,
  sweepStaleLabs,
  Lab,
  CORE_HOSTS,
  DEFAULT_LOG_ROOT,
  type AgentName,
  type CoreHost,
  type LabOptions,
  type SpawnOptions,
} from './lab.js';
export { withLab } from './with-lab.js';

export { OFFLOAD_PROFILES, type LabHost, type OffloadProfile } from './topology.js';
export type { GuardCounters } from './guards.js';
export type { FaultDirection } from './faults.js';
export type { PacketCapture, CaptureOptions, CaptureStats } from './capture.js';
export { LabProcess, type ExitInfo } from './process.js';
export { CommandError, type ExecOptions, type ExecResult } from './shell.js';
export {
  patternBytes,
  DEFAULT_FILES,
  type NginxOptions,
  type NginxServer,
  type AccessLogEntry,
  type RedisServer,
  type EchoServer,
  type EchoRecord,
} from './servers.js';
