/**
 * The key proof of the hello exchange (docs/protocol.md §2.1), without sockets: the documented
 * test vector (computed with Python's hmac module), both sides with the same key, wrong keys,
 * one side without a key, replays and reflections, old versions and bad nonces.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CONTROL_AUTH_NONCE_BYTES,
  CONTROL_PROTOCOL_VERSION,
  ControlAuthKey,
  ControlError,
  ControlMessageType,
  CopierAuth,
  ErrorCode,
  answerCopierHello,
  type HelloMessage,
} from '@tcpcopy/common';

const KEY = new ControlAuthKey(Buffer.from(Array.from({ length: 32 }, (_, i) => i)));
const OTHER_KEY = new ControlAuthKey(Buffer.alloc(32, 0x5a));
const COPIER_NONCE = Buffer.alloc(CONTROL_AUTH_NONCE_BYTES, 0x11);
const INTERCEPT_NONCE = Buffer.alloc(CONTROL_AUTH_NONCE_BYTES, 0x22);
// docs/protocol.md §2.1's vector: python3 -c "import hmac,hashlib; print(hmac.new(bytes(range(32)),
// b'tcpcopy intercept proof\x00' + b'\x11'*32 + b'\x22'*32, hashlib.sha256).hexdigest())"
const INTERCEPT_PROOF = 'e3652c259fca60d4ed53248fb3b3481c6a33cdab2aa98b192a8960826890d1f2';
const COPIER_PROOF = 'c1d97ddd76a7cc6ca41e991b8cf3f0ea6a19d3a794dd5566a25e6e6b92d4e461';

function hello(
  role: 'copier' | 'intercept',
  auth: Buffer | undefined,
  version = CONTROL_PROTOCOL_VERSION,
): HelloMessage {
  return { type: ControlMessageType.Hello, version, role, instanceId: 'test', software: 'test', auth };
}

/** The intercept's hello answering `copierHello`, as the copier receives it. */
function interceptHello(answer: { auth: Buffer | undefined }): HelloMessage {
  return hello('intercept', answer.auth);
}

function assertAuthError(value: unknown, pattern: RegExp): void {
  assert.ok(value instanceof ControlError, `expected a ControlError, got ${String(value)}`);
  assert.equal(value.code, ErrorCode.CONTROL_AUTH);
  assert.match(value.message, pattern);
}

/** Runs the three messages between a copier holding `copierKey` and an intercept holding `interceptKey`. */
function exchange(copierKey: ControlAuthKey | undefined, interceptKey: ControlAuthKey | undefined) {
  const copier = new CopierAuth(copierKey);
  const answer = answerCopierHello(interceptKey, hello('copier', copier.helloAuth));
  const proof = copier.onInterceptHello(interceptHello(answer));
  return { copier, answer, proof };
}

describe('control authentication', () => {
  test('the documented vector: both proofs over the same nonces, each with its label', () => {
    assert.equal(KEY.proof('intercept', COPIER_NONCE, INTERCEPT_NONCE).toString('hex'), INTERCEPT_PROOF);
    assert.equal(KEY.proof('copier', COPIER_NONCE, INTERCEPT_NONCE).toString('hex'), COPIER_PROOF);
    const answer = answerCopierHello(KEY, hello('copier', COPIER_NONCE), INTERCEPT_NONCE);
    assert.deepEqual(answer.auth, Buffer.concat([INTERCEPT_NONCE, Buffer.from(INTERCEPT_PROOF, 'hex')]));
    const copier = new CopierAuth(KEY, COPIER_NONCE);
    assert.deepEqual(copier.helloAuth, COPIER_NONCE);
    assert.deepEqual(copier.onInterceptHello(interceptHello(answer)), Buffer.from(COPIER_PROOF, 'hex'));
    assert.equal(answer.checkProof?.(Buffer.from(COPIER_PROOF, 'hex')), undefined);
  });

  test('the same key: both proofs hold, with fresh nonces on every connection', () => {
    const first = exchange(KEY, KEY);
    const second = exchange(KEY, KEY);
    for (const { answer, proof } of [first, second]) {
      assert.equal(answer.refusal, undefined);
      assert.ok(Buffer.isBuffer(proof));
      assert.equal(answer.checkProof?.(proof), undefined);
    }
    assert.notDeepEqual(first.copier.helloAuth, second.copier.helloAuth, 'copier nonces differ');
    assert.notDeepEqual(first.answer.auth, second.answer.auth, 'intercept nonces differ');
  });

  test('neither side holding a key: hellos without auth, nothing to prove (as version 1)', () => {
    const { copier, answer, proof } = exchange(undefined, undefined);
    assert.equal(copier.helloAuth, undefined);
    assert.deepEqual(answer, { auth: undefined, refusal: undefined, checkProof: undefined });
    assert.equal(proof, undefined);
  });

  test('a wrong key: the copier refuses the intercept, and a forged copier proof is refused too', () => {
    const { proof } = exchange(OTHER_KEY, KEY);
    assertAuthError(proof, /does not match our key/);
    // A copier that proved itself anyway, with its own key, is refused by the intercept.
    const copier = new CopierAuth(OTHER_KEY, COPIER_NONCE);
    const answer = answerCopierHello(KEY, hello('copier', copier.helloAuth), INTERCEPT_NONCE);
    assertAuthError(answer.checkProof?.(OTHER_KEY.proof('copier', COPIER_NONCE, INTERCEPT_NONCE)), /copier's proof/);
  });

  test('a key on one side only is refused by both', () => {
    const copierOnly = exchange(KEY, undefined);
    assertAuthError(copierOnly.answer.refusal, /this intercept has no --auth-file/);
    assert.equal(copierOnly.answer.auth, undefined, 'our hello says we do not authenticate');
    assertAuthError(copierOnly.proof, /does not authenticate/);

    const interceptOnly = exchange(undefined, KEY);
    assertAuthError(interceptOnly.answer.refusal, /copier does not authenticate/);
    assert.deepEqual(interceptOnly.answer.auth, Buffer.alloc(0), 'our hello says authentication is required');
    assertAuthError(interceptOnly.proof, /requires authentication/);
  });

  test('a replayed copier proof fails: the intercept nonce is fresh', () => {
    const recorded = exchange(KEY, KEY);
    assert.ok(Buffer.isBuffer(recorded.proof));
    // A stranger replays the copier's hello (same nonce) and its recorded proof on a new connection.
    const replay = answerCopierHello(KEY, hello('copier', recorded.copier.helloAuth));
    assertAuthError(replay.checkProof?.(recorded.proof), /copier's proof/);
  });

  test("an intercept's proof is no copier proof (reflection), nor valid with another intercept nonce", () => {
    const answer = answerCopierHello(KEY, hello('copier', COPIER_NONCE), INTERCEPT_NONCE);
    const interceptProof = answer.auth!.subarray(CONTROL_AUTH_NONCE_BYTES);
    assertAuthError(answer.checkProof?.(interceptProof), /copier's proof/);
    // A stranger posing as an intercept replays another connection's nonce and proof.
    const copier = new CopierAuth(KEY);
    assertAuthError(copier.onInterceptHello(interceptHello(answer)), /does not match/);
  });

  test('malformed proofs and nonces are refused, never thrown on', () => {
    const answer = answerCopierHello(KEY, hello('copier', COPIER_NONCE));
    for (const proof of [Buffer.alloc(0), Buffer.alloc(31), Buffer.alloc(33), Buffer.alloc(256)]) {
      assertAuthError(answer.checkProof?.(proof), /copier's proof/);
    }
    for (const nonce of [Buffer.alloc(0), Buffer.alloc(16), Buffer.alloc(64)]) {
      assertAuthError(answerCopierHello(KEY, hello('copier', nonce)).refusal, /nonce is \d+ bytes/);
    }
    const copier = new CopierAuth(KEY);
    for (const auth of [Buffer.alloc(0), Buffer.alloc(32), Buffer.alloc(65)]) {
      assertAuthError(copier.onInterceptHello(hello('intercept', auth)), /auth bytes/);
    }
  });

  test('version 1 peers cannot authenticate: refused by a side that holds a key', () => {
    assertAuthError(answerCopierHello(KEY, hello('copier', COPIER_NONCE, 1)).refusal, /version 1/);
    const copier = new CopierAuth(KEY);
    const answer = answerCopierHello(KEY, hello('copier', copier.helloAuth));
    assertAuthError(copier.onInterceptHello(hello('intercept', answer.auth, 1)), /version 1/);
  });

  test('a key shorter than 16 bytes is no key', () => {
    assert.throws(() => new ControlAuthKey(Buffer.alloc(15)), RangeError);
    assert.doesNotThrow(() => new ControlAuthKey(Buffer.alloc(16)));
  });

  test('the secret does not show when the key is logged', () => {
    const secret = Buffer.from('0123456789abcdef-very-secret');
    const key = new ControlAuthKey(secret);
    assert.doesNotMatch(JSON.stringify({ key }), /very-secret|30313233/);
  });
});
