/**
 * Control-channel authentication (version 2, docs/protocol.md §2.1): both sides prove a shared
 * secret K with HMAC-SHA256 over two fresh nonces and a label naming the prover, within the hello
 * exchange and before any route or record flows:
 *
 *   copier    -> hello  auth  = Nc                                        (32 random bytes)
 *   intercept -> hello  auth  = Ni || HMAC(K, "tcpcopy intercept proof" 0x00 || Nc || Ni)
 *   copier    -> auth   proof = HMAC(K, "tcpcopy copier proof" 0x00 || Nc || Ni)
 *
 * The copier proves itself only once the intercept's proof checked out, so a stranger posing as
 * an intercept collects no copier proof. A stranger posing as a copier collects an intercept
 * proof, which is worth nothing as a copier's (another label) nor on another connection (another
 * Ni). Pure but for the random nonces: no sockets, no timers.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { ControlError, ErrorCode } from '../errors.js';
import {
  CONTROL_AUTH_MIN_KEY_BYTES,
  CONTROL_AUTH_MIN_VERSION,
  CONTROL_AUTH_NONCE_BYTES,
  CONTROL_AUTH_PROOF_BYTES,
} from './constants.js';
import type { HelloMessage, PeerRole } from './messages.js';

/** What each prover's HMAC input starts with: a proof made by one role never passes as the other's. */
const PROOF_LABELS: Readonly<Record<PeerRole, Buffer>> = {
  copier: Buffer.from('tcpcopy copier proof\0', 'latin1'),
  intercept: Buffer.from('tcpcopy intercept proof\0', 'latin1'),
};
/** The intercept's hello.auth when it proves itself: its nonce, then its proof. */
const INTERCEPT_HELLO_AUTH_BYTES = CONTROL_AUTH_NONCE_BYTES + CONTROL_AUTH_PROOF_BYTES;
/** The intercept's hello.auth when the copier offered no usable nonce: "authentication required". */
const AUTH_REQUIRED = Buffer.alloc(0);
const SAME_KEY_HINT = 'give both daemons the same --auth-file';

/** The shared secret (--auth-file). Held privately: logging the object shows nothing of it. */
export class ControlAuthKey {
  readonly #secret: Buffer;

  constructor(secret: Buffer) {
    if (secret.length < CONTROL_AUTH_MIN_KEY_BYTES) {
      throw new RangeError(`a control key needs at least ${CONTROL_AUTH_MIN_KEY_BYTES} bytes, got ${secret.length}`);
    }
    this.#secret = Buffer.from(secret);
  }

  /** HMAC-SHA256(K, label of `prover` || Nc || Ni). */
  proof(prover: PeerRole, copierNonce: Buffer, interceptNonce: Buffer): Buffer {
    return createHmac('sha256', this.#secret)
      .update(PROOF_LABELS[prover])
      .update(copierNonce)
      .update(interceptNonce)
      .digest();
  }

  /** Whether `proof` is `prover`'s for these nonces, compared in constant time. */
  verifies(prover: PeerRole, copierNonce: Buffer, interceptNonce: Buffer, proof: Buffer): boolean {
    const expected = this.proof(prover, copierNonce, interceptNonce);
    return proof.length === expected.length && timingSafeEqual(proof, expected);
  }
}

export function newAuthNonce(): Buffer {
  return randomBytes(CONTROL_AUTH_NONCE_BYTES);
}

function authError(message: string): ControlError {
  return new ControlError(ErrorCode.CONTROL_AUTH, message);
}

/** One copier connection's side of the exchange. */
export class CopierAuth {
  /** Our hello's auth field: our nonce, or nothing when we hold no key. */
  readonly helloAuth: Buffer | undefined;

  constructor(
    private readonly key: ControlAuthKey | undefined,
    nonce: Buffer = newAuthNonce(),
  ) {
    this.helloAuth = key === undefined ? undefined : nonce;
  }

  /**
   * The intercept's hello: the proof to send next (undefined when neither side authenticates),
   * or why this intercept is refused, said of it ("does not authenticate ...") for the caller to
   * name it first.
   */
  onInterceptHello(hello: HelloMessage): Buffer | undefined | ControlError {
    const { auth } = hello;
    if (this.key === undefined || this.helloAuth === undefined) {
      if (auth === undefined) return undefined;
      return authError(`requires authentication and tcpcopy has no --auth-file: ${SAME_KEY_HINT}`);
    }
    if (auth === undefined || hello.version < CONTROL_AUTH_MIN_VERSION) {
      return authError(
        `does not authenticate (no --auth-file there, or a build speaking protocol version ${hello.version}): ${SAME_KEY_HINT}`,
      );
    }
    if (auth.length !== INTERCEPT_HELLO_AUTH_BYTES) {
      return authError(`sent a hello with ${auth.length} auth bytes, not its nonce and proof`);
    }
    const interceptNonce = auth.subarray(0, CONTROL_AUTH_NONCE_BYTES);
    const proof = auth.subarray(CONTROL_AUTH_NONCE_BYTES);
    if (!this.key.verifies('intercept', this.helloAuth, interceptNonce, proof)) {
      return authError('sent a proof that does not match our key: the two --auth-file keys differ');
    }
    return this.key.proof('copier', this.helloAuth, interceptNonce);
  }
}

/** What the intercept answers a copier's hello with. */
export interface InterceptHelloAnswer {
  /** Our hello's auth field. */
  readonly auth: Buffer | undefined;
  /** Set when the copier is refused: our hello still goes out (it tells the copier why), then the connection closes. */
  readonly refusal: ControlError | undefined;
  /**
   * Set when the copier must prove itself next, with nothing else before: checks its auth
   * message's proof, returning why it fails (undefined when it holds).
   */
  readonly checkProof: ((proof: Buffer) => ControlError | undefined) | undefined;
}

/** The intercept's side of the exchange, for one copier's hello; `nonce` is fresh per connection. */
export function answerCopierHello(
  key: ControlAuthKey | undefined,
  hello: HelloMessage,
  nonce: Buffer = newAuthNonce(),
): InterceptHelloAnswer {
  const { auth } = hello;
  if (key === undefined) {
    const refusal =
      auth === undefined
        ? undefined
        : authError(`copier authenticates and this intercept has no --auth-file: ${SAME_KEY_HINT}`);
    return { auth: undefined, refusal, checkProof: undefined };
  }
  const refuse = (why: string): InterceptHelloAnswer => ({
    auth: AUTH_REQUIRED,
    refusal: authError(why),
    checkProof: undefined,
  });
  if (auth === undefined) return refuse(`copier does not authenticate (no --auth-file there): ${SAME_KEY_HINT}`);
  if (hello.version < CONTROL_AUTH_MIN_VERSION) {
    return refuse(`copier speaks protocol version ${hello.version}, which cannot authenticate: upgrade it`);
  }
  if (auth.length !== CONTROL_AUTH_NONCE_BYTES) {
    return refuse(`copier's nonce is ${auth.length} bytes, not ${CONTROL_AUTH_NONCE_BYTES}`);
  }
  return {
    auth: Buffer.concat([nonce, key.proof('intercept', auth, nonce)]),
    refusal: undefined,
    checkProof: (proof) =>
      key.verifies('copier', auth, nonce, proof)
        ? undefined
        : authError("copier's proof does not match our key: the two --auth-file keys differ"),
  };
}
