/**
 * Power-on self-tests: known-answer tests (KATs) for every algorithm a crypto engine offers, on every board.
 * A failed algorithm is taken out of the engine (narrowEngine) and listed in the report the device info
 * carries, so a broken runtime (Kaluma's BigInt division bug, docs: rp2040-kaluma.md) disables what it
 * breaks instead of producing wrong signatures or ciphertexts.
 *
 * Every algorithm the engine offers (offeredAlgorithms) gets one step. The tests of the device profile are here;
 * an engine that offers more carries the tests for the rest in `knownAnswerTests` (the host engines use
 * hal/crypto/self-test-extended.ts), so the Pico bundle holds no vectors it never runs. An offered algorithm with
 * no test fails ("no known-answer test") and is disabled like any other failure.
 *
 * Algorithms and their tests (each independent; one failure disables only that algorithm):
 * - `sha1` ... `sha512`: the FIPS 180 "abc" digests (sha256 here, the rest in self-test-extended.ts).
 * - `hmac-sha1` ... `hmac-sha512`: RFC 2202 / RFC 4231 test case 2 ("Jefe").
 * - `pbkdf2-sha256`: "password" / "salt", 2 iterations, 32 bytes (the RFC 7914 / RFC 6070-style vector).
 * - `hkdf-sha256`: RFC 5869 test case 1.
 * - `chacha20-poly1305`: RFC 8439 2.8.2 seal; open; a forged tag refused.
 * - each curve in `engine.curves` (named by the curve): key generation from a fixed seed (the reduction of
 *   the seed modulo the order included) and its public key, an RFC 6979 deterministic ECDSA signature of
 *   SHA-256("sample"), verification of it and refusal of r = s = 0, ECDH of the key with its own public
 *   key (x of d^2 G), and refusal of an off-curve peer point. Expected values were computed with the portable
 *   engine (@noble/curves) and are cross-checked against OpenSSL in test/self-test.test.ts; for secp256r1
 *   the RFC 6979 A.2.5 vector itself is checked in test/p256-safe.test.ts. secp256r1 is here, the other
 *   curves in self-test-extended.ts.
 * - `rsa` (where offered): a fixed 512-bit key (small on purpose: a test key, not a secret) - raw private
 *   operation, PKCS#1 v1.5 and PSS (salt 0, deterministic) signatures and their verification, PKCS#1 v1.5
 *   and OAEP-SHA1 decryption of fixed ciphertexts, encryption round trips. Key generation is not tested
 *   (asynchronous, seconds). Expected values come from node:crypto, cross-checked in the test.
 * - `aes` (where offered): FIPS-197 C.1 and C.3 (one block through CBC with a zero IV, both directions),
 *   SP 800-38A F.5.1 (CTR), GCM test case 2 of McGrew-Viega (seal, open, forged tag), RFC 4493 example 2.
 *
 * Runs on Kaluma too: no Buffer, no TextEncoder, no `?.`, no logical assignment, no `.at()`.
 */
import { ecSeedLength, type CryptoEngine, type CurveName, type HashName, type KnownAnswerTest } from './types.js';

export interface SelfTestFailure {
  readonly algorithm: string;
  readonly detail: string;
}

export interface SelfTestReport {
  readonly engine: string;
  /** Algorithms whose known-answer tests passed, in test order. */
  readonly passed: string[];
  readonly failed: SelfTestFailure[];
}

// ---------------------------------------------------------------------------------------------------------
// Helpers

export function fromHex(text: string): Uint8Array {
  const out = new Uint8Array(text.length >> 1);
  for (let index = 0; index < out.length; index++) out[index] = parseInt(text.substr(index * 2, 2), 16);
  return out;
}

export function ascii(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let index = 0; index < text.length; index++) out[index] = text.charCodeAt(index);
  return out;
}

export function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  if (a === undefined || a.length !== b.length) return false;
  let difference = 0;
  for (let index = 0; index < a.length; index++) difference |= (a[index] as number) ^ (b[index] as number);
  return difference === 0;
}

/** Throws `label` unless `actual` equals the expected hex. */
export function expectBytes(label: string, actual: Uint8Array | undefined, expectedHex: string): void {
  if (!(actual instanceof Uint8Array)) throw new Error(`${label}: no result`);
  if (!sameBytes(actual, fromHex(expectedHex))) throw new Error(`${label}: wrong result`);
}

export function expectTrue(label: string, value: boolean): void {
  if (value !== true) throw new Error(label);
}

export function expectThrows(label: string, operation: () => unknown): void {
  let threw = false;
  try {
    operation();
  } catch {
    threw = true;
  }
  if (!threw) throw new Error(label);
}

/** A copy with one bit flipped. */
export function flipped(bytes: Uint8Array, index: number): Uint8Array {
  const copy = new Uint8Array(bytes);
  copy[index] = (copy[index] as number) ^ 1;
  return copy;
}


// ---------------------------------------------------------------------------------------------------------
// The device profile's vectors

/** FIPS 180-4 example: SHA-256 of "abc". */
export const SHA256_ABC = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';
/** RFC 4231 test case 2: HMAC-SHA256 with key "Jefe" of "what do ya want for nothing?". */
export const HMAC_SHA256_JEFE = '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843';
export const PBKDF2_PASSWORD_SALT_2 = 'ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43';
export const HKDF_RFC5869_1 = '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865';

export const CHACHA_PLAINTEXT = "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
export const CHACHA_SEALED =
  'd31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36' +
  '92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116' +
  '1ae10b594f09e26a7e902ecbd0600691';

/** SHA-256("sample"), the RFC 6979 A.2 message hash: every curve signs it. */
export const EC_HASH = 'af2bdbe1aa9b6ec1e2ade1d694f41fc71a831d0268e9891562113d8a62add1bf';

export interface EcVector {
  /** The public key of the key generated from the fixed seed (ecSelfTestSeed). */
  readonly publicKey: string;
  /** r || s over EC_HASH. */
  readonly signature: string;
  /** x of d * publicKey. */
  readonly shared: string;
}

export const P256_VECTOR: EcVector = {
  publicKey: '04238707ac97fd88ef31673f52031717e9d7097c586ef3d630adb554c3ecbe226fe33f6107817c2f4c1e41a5ee032cbf210d05088c2068da0a5dbc31dd273eb30a',
  signature: 'cae7839b938e581e181c4132549471cc2f127270f350a5b5394a11340fe550fd715ac3433c6e416ee07bc154ce89ae621eb46062eb5348fce1c8f90285c9e433',
  shared: '9f48a512f08caff8708a0a31c7ab649a9a97f1789ca26fdaaa92af1b6a43a62f',
};

/** The fixed key-generation seed of a curve: ecSeedLength(curve) bytes 0xa5 ^ (29 i). */
export function ecSelfTestSeed(curve: CurveName): Uint8Array {
  const seed = new Uint8Array(ecSeedLength(curve));
  for (let index = 0; index < seed.length; index++) seed[index] = (0xa5 ^ (index * 29)) & 0xff;
  return seed;
}

// ---------------------------------------------------------------------------------------------------------
// Tests shared by every profile

/** The digest of "abc" with `hash`. */
export function digestTest(hash: HashName, expectedHex: string): KnownAnswerTest {
  return { algorithm: hash, run: (engine) => expectBytes('digest', engine.digest(hash, ascii('abc')), expectedHex) };
}

/** HMAC with key "Jefe" of "what do ya want for nothing?" (RFC 2202 / RFC 4231 test case 2). */
export function hmacTest(hash: HashName, expectedHex: string): KnownAnswerTest {
  return {
    algorithm: `hmac-${hash}`,
    run: (engine) => expectBytes('hmac', engine.hmac(hash, ascii('Jefe'), ascii('what do ya want for nothing?')), expectedHex),
  };
}

/** Key generation from the fixed seed, RFC 6979 signature, verification (and refusal of r = s = 0), ECDH. */
export function curveTest(curve: CurveName, vector: EcVector): KnownAnswerTest {
  return {
    algorithm: curve,
    run(engine) {
      const { privateKey, publicKey } = engine.ecGenerate(curve, ecSelfTestSeed(curve));
      expectBytes('key generation', publicKey, vector.publicKey);
      const hash = fromHex(EC_HASH);
      const signature = engine.ecSign(curve, privateKey, hash);
      expectBytes('sign', signature, vector.signature);
      expectTrue('verify: valid signature refused', engine.ecVerify(curve, publicKey, hash, signature));
      // r = s = 0 (CVE-2022-21449): refused by the range checks, so it costs no scalar multiplication.
      expectTrue('verify: zero signature accepted', !engine.ecVerify(curve, publicKey, hash, new Uint8Array(signature.length)));
      expectBytes('ecdh', engine.ecdh(curve, privateKey, publicKey), vector.shared);
      expectThrows('ecdh: off-curve point accepted', () => engine.ecdh(curve, privateKey, flipped(publicKey, publicKey.length - 1)));
    },
  };
}

const DEVICE_PROFILE_TESTS: readonly KnownAnswerTest[] = [
  digestTest('sha256', SHA256_ABC),
  hmacTest('sha256', HMAC_SHA256_JEFE),
  {
    algorithm: 'pbkdf2-sha256',
    run: (engine) => expectBytes('pbkdf2', engine.pbkdf2Sha256(ascii('password'), ascii('salt'), 2, 32), PBKDF2_PASSWORD_SALT_2),
  },
  {
    algorithm: 'hkdf-sha256',
    run(engine) {
      const inputKey = new Uint8Array(22).fill(0x0b);
      expectBytes('hkdf', engine.hkdfSha256(inputKey, fromHex('000102030405060708090a0b0c'), fromHex('f0f1f2f3f4f5f6f7f8f9'), 42), HKDF_RFC5869_1);
    },
  },
  {
    algorithm: 'chacha20-poly1305',
    run(engine) {
      const key = new Uint8Array(32);
      for (let index = 0; index < 32; index++) key[index] = 0x80 + index;
      const nonce = fromHex('070000004041424344454647');
      const associatedData = fromHex('50515253c0c1c2c3c4c5c6c7');
      const plaintext = ascii(CHACHA_PLAINTEXT);
      const sealed = engine.aeadSeal(key, nonce, plaintext, associatedData);
      expectBytes('seal', sealed, CHACHA_SEALED);
      expectTrue('open: wrong plaintext', sameBytes(engine.aeadOpen(key, nonce, sealed, associatedData), plaintext));
      expectTrue('open: forged tag accepted', engine.aeadOpen(key, nonce, flipped(sealed, sealed.length - 1), associatedData) === undefined);
    },
  },
  curveTest('secp256r1', P256_VECTOR),
];

/** One algorithm's known-answer test: `run` throws (the engine's error, or a mismatch) when it fails. */
export interface SelfTestStep {
  readonly algorithm: string;
  run(): void;
}

/**
 * What the engine offers, in test order: its digests, their HMACs, PBKDF2, HKDF, ChaCha20-Poly1305, its curves,
 * then RSA and AES where present.
 */
export function offeredAlgorithms(engine: CryptoEngine): string[] {
  const algorithms: string[] = [...engine.hashes];
  for (const hash of engine.hashes) algorithms.push(`hmac-${hash}`);
  algorithms.push('pbkdf2-sha256', 'hkdf-sha256', 'chacha20-poly1305', ...engine.curves);
  if (engine.rsa !== undefined) algorithms.push('rsa');
  if (engine.aes !== undefined) algorithms.push('aes');
  return algorithms;
}

/**
 * One step per offered algorithm: its test from this file or from `engine.knownAnswerTests`, or a failing step
 * when neither has one. A board that must stay responsive (the Pico's watchdog, the host waiting) runs them one
 * at a time with runSelfTestStep.
 */
export function selfTestSteps(engine: CryptoEngine): SelfTestStep[] {
  const tests = new Map<string, KnownAnswerTest>();
  for (const test of [...DEVICE_PROFILE_TESTS, ...(engine.knownAnswerTests ?? [])]) tests.set(test.algorithm, test);
  return offeredAlgorithms(engine).map((algorithm) => {
    const test = tests.get(algorithm);
    return {
      algorithm,
      run() {
        if (test === undefined) throw new Error(`no known-answer test for ${algorithm} in this build`);
        test.run(engine);
      },
    };
  });
}

/** Runs one step into the report: passed, or failed with the thrown message as the detail. */
export function runSelfTestStep(report: SelfTestReport, step: SelfTestStep): void {
  try {
    step.run();
    report.passed.push(step.algorithm);
  } catch (error) {
    report.failed.push({ algorithm: step.algorithm, detail: error instanceof Error ? error.message : String(error) });
  }
}

/** Runs every step of selfTestSteps(engine) at once (synchronously). */
export function runSelfTests(engine: CryptoEngine): SelfTestReport {
  const report: SelfTestReport = { engine: engine.name, passed: [], failed: [] };
  for (const step of selfTestSteps(engine)) runSelfTestStep(report, step);
  return report;
}

function disabled(algorithm: string): never {
  throw new Error(`${algorithm} is disabled: its power-on self-test failed`);
}

/**
 * The engine without the algorithms that failed: failed curves and digests leave `curves` and `hashes` and
 * their operations throw, `rsa` / `aes` are absent, and a failed digest, HMAC, KDF or AEAD throws when called.
 * The same engine when nothing failed.
 */
export function narrowEngine(engine: CryptoEngine, report: SelfTestReport): CryptoEngine {
  const failed = new Set<string>();
  for (const failure of report.failed) failed.add(failure.algorithm);
  if (failed.size === 0) return engine;
  /** `method` of the engine, refusing when the algorithm its arguments need (`algorithmOf`) failed. */
  const guarded =
    <A extends unknown[], R>(method: (...args: A) => R, algorithmOf: (...args: A) => string) =>
    (...args: A): R => {
      const algorithm = algorithmOf(...args);
      if (failed.has(algorithm)) disabled(algorithm);
      return method.apply(engine, args);
    };
  const byCurve = (curve: CurveName): string => curve;
  const aead = (): string => 'chacha20-poly1305';
  const narrowed: CryptoEngine = {
    name: engine.name,
    curves: engine.curves.filter((curve) => !failed.has(curve)),
    hashes: engine.hashes.filter((hash) => !failed.has(hash)),
    digest: guarded(engine.digest, (hash) => hash),
    hmac: guarded(engine.hmac, (hash) => `hmac-${hash}`),
    pbkdf2Sha256: guarded(engine.pbkdf2Sha256, () => 'pbkdf2-sha256'),
    hkdfSha256: guarded(engine.hkdfSha256, () => 'hkdf-sha256'),
    aeadSeal: guarded(engine.aeadSeal, aead),
    aeadOpen: guarded(engine.aeadOpen, aead),
    ecGenerate: guarded(engine.ecGenerate, byCurve),
    ecPublicKey: guarded(engine.ecPublicKey, byCurve),
    ecSign: guarded(engine.ecSign, byCurve),
    ecVerify: guarded(engine.ecVerify, byCurve),
    ecdh: guarded(engine.ecdh, byCurve),
  };
  const withOptional = narrowed as { rsa?: CryptoEngine['rsa']; aes?: CryptoEngine['aes'] };
  if (engine.rsa !== undefined && !failed.has('rsa')) withOptional.rsa = engine.rsa;
  if (engine.aes !== undefined && !failed.has('aes')) withOptional.aes = engine.aes;
  return narrowed;
}

/** Power-on: the self-tests, then the engine narrowed to what passed. */
export function selfTestedEngine(engine: CryptoEngine): { engine: CryptoEngine; report: SelfTestReport } {
  const report = runSelfTests(engine);
  return { engine: narrowEngine(engine, report), report };
}
