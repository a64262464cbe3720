/**
 * Who may use intercept's control port (docs/security.md): with --allow, connections from its
 * sources only; with --auth-file, native copiers that prove the key (docs/protocol.md §2.1), and
 * upstream's C tcpcopy, whose protocol cannot authenticate, only from --allow's sources. Decides,
 * never touches a socket: control-server.ts sends, counts and closes.
 */
import {
  CONTROL_FEATURE_PAYLOAD,
  CONTROL_PROTOCOL_VERSION,
  ControlError,
  ControlMessageType,
  ErrorCode,
  answerCopierHello,
  negotiateControlVersion,
  parseIpv4,
  type ControlAuthKey,
  type ControlMessage,
  type HelloMessage,
} from '@tcpcopy/common';
import { networksContain, type Ipv4Network } from '../allow-list.js';

export interface ControlAdmissionOptions {
  /** --auth-file: copiers must prove this key. */
  readonly key?: ControlAuthKey | undefined;
  /** --allow: control connections from these sources only. */
  readonly allow?: readonly Ipv4Network[] | undefined;
}

/** Our hello's identity, for the copier's logs. */
export interface InterceptIdentity {
  readonly instanceId: string;
  readonly software: string;
}

export type HelloOutcome =
  | {
      readonly accepted: false;
      readonly error: ControlError;
      /** Our hello, sent before the connection closes when it tells the copier why. */
      readonly answer: HelloMessage | undefined;
    }
  | {
      readonly accepted: true;
      readonly hello: HelloMessage;
      readonly version: number;
      readonly answer: HelloMessage;
      /** The copier asked for payload records, and our hello grants them (docs/protocol.md §2.2). */
      readonly payloads: boolean;
      /** Set when the copier must prove the key before anything else (see answerCopierHello). */
      readonly checkProof: ((proof: Buffer) => ControlError | undefined) | undefined;
    };

export class ControlAdmission {
  constructor(
    private readonly options: ControlAdmissionOptions,
    private readonly identity: InterceptIdentity,
  ) {}

  get authenticates(): boolean {
    return this.options.key !== undefined;
  }

  /** --allow: whether a connection from `remoteAddress` may stay open at all. */
  admits(remoteAddress: string | undefined): boolean {
    const allow = this.options.allow;
    return allow === undefined || this.listed(allow, remoteAddress);
  }

  /** Why a legacy copier from `remoteAddress` is not served, or undefined when it is. */
  legacyRefusal(remoteAddress: string | undefined): ControlError | undefined {
    const { key, allow } = this.options;
    if (key === undefined || (allow !== undefined && this.listed(allow, remoteAddress))) return undefined;
    return new ControlError(
      ErrorCode.CONTROL_LEGACY_DENIED,
      "upstream's C tcpcopy cannot authenticate, and with --auth-file its legacy protocol is served only to --allow's sources: " +
        (allow === undefined ? 'give --allow its address' : 'add its address to --allow'),
    );
  }

  /** A native copier's first message: our answer, and whether it goes on (docs/protocol.md §2). */
  hello(msg: ControlMessage): HelloOutcome {
    const refuse = (code: typeof ErrorCode.CONTROL_UNEXPECTED | typeof ErrorCode.CONTROL_VERSION, why: string) =>
      ({ accepted: false, error: new ControlError(code, why), answer: undefined }) as const;
    if (msg.type !== ControlMessageType.Hello)
      return refuse(ErrorCode.CONTROL_UNEXPECTED, `message type ${msg.type} before hello`);
    if (msg.role !== 'copier') {
      return refuse(ErrorCode.CONTROL_UNEXPECTED, `hello from a peer with role ${msg.role}, expected copier`);
    }
    const version = negotiateControlVersion(msg.version);
    if (version === null) {
      return refuse(
        ErrorCode.CONTROL_VERSION,
        `copier speaks control protocol version ${msg.version} at most, below what this intercept accepts`,
      );
    }
    const { auth, refusal, checkProof } = answerCopierHello(this.options.key, msg);
    // Granted whenever asked: the capture then keeps whole packets while such a copier is connected.
    const payloads = msg.features?.includes(CONTROL_FEATURE_PAYLOAD) === true;
    const answer: HelloMessage = {
      type: ControlMessageType.Hello,
      version: CONTROL_PROTOCOL_VERSION,
      role: 'intercept',
      instanceId: this.identity.instanceId,
      software: this.identity.software,
      ...(auth === undefined ? {} : { auth }),
      ...(payloads ? { features: [CONTROL_FEATURE_PAYLOAD] } : {}),
    };
    if (refusal !== undefined) return { accepted: false, error: refusal, answer };
    return { accepted: true, hello: msg, version, answer, payloads, checkProof };
  }

  private listed(allow: readonly Ipv4Network[], remoteAddress: string | undefined): boolean {
    const ip = parseIpv4(remoteAddress ?? '');
    return ip !== undefined && networksContain(allow, ip);
  }
}
