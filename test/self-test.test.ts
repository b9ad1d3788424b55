/**
 * Power-on self-tests (hal/crypto/self-test.ts): they pass for every engine we have (portable, device, and
 * node when hal/crypto/node.ts exists), their expected values agree with an independent implementation
 * (node:crypto, i.e. OpenSSL), and deliberately broken engines are caught, the broken algorithm disappearing
 * from the narrowed engine while the rest keeps working. Timings per engine are printed.
 */
import {
  constants,
  createCipheriv,
  createECDH,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  hkdfSync,
  pbkdf2Sync,
  privateDecrypt,
  publicEncrypt,
  verify as nodeVerify,
} from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import { brainpoolP256r1, brainpoolP384r1, brainpoolP512r1 } from '@noble/curves/misc.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { afterAll, describe, expect, it } from 'vitest';
import { deviceEngine } from '../hal/crypto/device.js';
import { portableEngine } from '../hal/crypto/portable.js';
import {
  ecSelfTestSeed,
  narrowEngine,
  runSelfTestStep,
  runSelfTests,
  selfTestedEngine,
  selfTestSteps,
  type SelfTestReport,
} from '../hal/crypto/self-test.js';
import { SELF_TEST_VECTORS } from '../hal/crypto/self-test-extended.js';
import { EC_CURVES, curveByteLength, type CryptoEngine, type CurveName, type HashName } from '../hal/crypto/types.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const NODE_ENGINE_FILE = resolve(ROOT, 'hal/crypto/node.ts');

/** hal/crypto/node.ts's nodeEngine, when that file exists and exports it (another engineer's file). */
async function loadNodeEngine(): Promise<CryptoEngine | undefined> {
  if (!existsSync(NODE_ENGINE_FILE)) return undefined;
  const module = (await import(/* @vite-ignore */ pathToFileURL(NODE_ENGINE_FILE).href)) as { nodeEngine?: CryptoEngine };
  return module.nodeEngine;
}

const nodeEngine = await loadNodeEngine();
if (nodeEngine === undefined) console.warn('self-test: hal/crypto/node.ts (nodeEngine) absent: node engine SKIPPED');

function hex(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text, 'hex'));
}

function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

const HASHES: readonly HashName[] = ['sha1', 'sha224', 'sha256', 'sha384', 'sha512'];
const KDF_AND_AEAD = ['pbkdf2-sha256', 'hkdf-sha256', 'chacha20-poly1305'];
/** The device profile: SHA-256 alone (OpenSC hashes on the host), its HMAC, the KDFs and the AEAD. */
const DEVICE_SYMMETRIC = ['sha256', 'hmac-sha256', ...KDF_AND_AEAD];

function expectedAlgorithms(engine: CryptoEngine): string[] {
  const hashes = engine.hashes;
  return [...hashes, ...hashes.map((hash) => `hmac-${hash}`), ...KDF_AND_AEAD, ...engine.curves, ...(engine.rsa ? ['rsa'] : []), ...(engine.aes ? ['aes'] : [])];
}

it('the host engines offer all five digests', () => {
  expect(portableEngine.hashes).toEqual(HASHES);
  if (nodeEngine) expect(nodeEngine.hashes).toEqual(HASHES);
});

const timings: string[] = [];

function timed(engine: CryptoEngine): { report: SelfTestReport; ms: number } {
  const start = performance.now();
  const report = runSelfTests(engine);
  return { report, ms: performance.now() - start };
}

afterAll(() => {
  console.log(`Power-on self-test timings on Node (first run includes lazy table building, e.g. noble's base-point tables):\n${timings.join('\n')}`);
});

// ---------------------------------------------------------------------------------------------------------
// Every engine passes

const ENGINES: readonly CryptoEngine[] = [portableEngine, deviceEngine, ...(nodeEngine ? [nodeEngine] : [])];

describe.each(ENGINES)('self-tests pass: $name engine', (engine) => {
  it('every algorithm it offers passes, and the narrowed engine is the engine itself', () => {
    const first = timed(engine);
    const runs: number[] = [];
    for (let round = 0; round < 3; round++) runs.push(timed(engine).ms);
    const warm = Math.min(...runs);
    const parts = selfTestSteps(engine).map((step) => {
      const start = performance.now();
      step.run();
      return `${step.algorithm} ${(performance.now() - start).toFixed(1)}`;
    });
    timings.push(
      `  ${engine.name}: first run ${first.ms.toFixed(1)} ms, warm ${warm.toFixed(1)} ms (best of 3), ${first.report.passed.length} algorithms\n` +
        `    warm, ms per step: ${parts.join(', ')}`,
    );
    expect(first.report.failed).toEqual([]);
    expect(first.report.engine).toBe(engine.name);
    expect(first.report.passed).toEqual(expectedAlgorithms(engine));
    const { engine: narrowed, report } = selfTestedEngine(engine);
    expect(report.failed).toEqual([]);
    expect(narrowed).toBe(engine);
  });
});

it('step by step (for a board that feeds its watchdog between steps) gives the same report', () => {
  const report: SelfTestReport = { engine: deviceEngine.name, passed: [], failed: [] };
  const steps = selfTestSteps(deviceEngine);
  expect(steps.map((step) => step.algorithm)).toEqual([...DEVICE_SYMMETRIC, 'secp256r1']);
  for (const step of steps) runSelfTestStep(report, step);
  expect(report).toEqual(runSelfTests(deviceEngine));
});

it('the device engine offers SHA-256 and secp256r1 only, no RSA, no AES', () => {
  expect(deviceEngine.curves).toEqual(['secp256r1']);
  expect(deviceEngine.hashes).toEqual(['sha256']);
  expect(deviceEngine.rsa).toBeUndefined();
  expect(deviceEngine.aes).toBeUndefined();
  expect(deviceEngine.knownAnswerTests).toBeUndefined();
  expect(runSelfTests(deviceEngine).passed).toEqual([...DEVICE_SYMMETRIC, 'secp256r1']);
  expect(() => deviceEngine.digest('sha384', new Uint8Array(3))).toThrow(/does not implement sha384/);
  expect(() => deviceEngine.hmac('sha1', new Uint8Array(3), new Uint8Array(3))).toThrow(/does not implement sha1/);
  expect(() => deviceEngine.ecSign('secp384r1', new Uint8Array(48), new Uint8Array(32))).toThrow(/does not implement/);
});

// ---------------------------------------------------------------------------------------------------------
// The expected values agree with OpenSSL

const OPENSSL_CURVE: Readonly<Record<CurveName, { name: string; oid: string }>> = {
  secp256r1: { name: 'prime256v1', oid: '06082a8648ce3d030107' },
  secp384r1: { name: 'secp384r1', oid: '06052b81040022' },
  secp521r1: { name: 'secp521r1', oid: '06052b81040023' },
  secp256k1: { name: 'secp256k1', oid: '06052b8104000a' },
  brainpoolP256r1: { name: 'brainpoolP256r1', oid: '06092b2403030208010107' },
  brainpoolP384r1: { name: 'brainpoolP384r1', oid: '06092b240303020801010b' },
  brainpoolP512r1: { name: 'brainpoolP512r1', oid: '06092b240303020801010d' },
};

const ORDER: Readonly<Record<CurveName, bigint>> = {
  secp256r1: p256.Point.Fn.ORDER,
  secp384r1: p384.Point.Fn.ORDER,
  secp521r1: p521.Point.Fn.ORDER,
  secp256k1: secp256k1.Point.Fn.ORDER,
  brainpoolP256r1: brainpoolP256r1.Point.Fn.ORDER,
  brainpoolP384r1: brainpoolP384r1.Point.Fn.ORDER,
  brainpoolP512r1: brainpoolP512r1.Point.Fn.ORDER,
};

/** A DER TLV with a definite length (short or long form). */
function tlv(tag: number, content: Uint8Array): Uint8Array {
  const length = content.length;
  const header = length < 0x80 ? [tag, length] : length < 0x100 ? [tag, 0x81, length] : [tag, 0x82, length >> 8, length & 0xff];
  return Uint8Array.from([...header, ...content]);
}

/** SubjectPublicKeyInfo of an EC point, for node:crypto (JWK has no brainpool curves). */
function ecSpki(curve: CurveName, point: Uint8Array): Uint8Array {
  const algorithm = tlv(0x30, Uint8Array.from([...hex('06072a8648ce3d0201'), ...hex(OPENSSL_CURVE[curve].oid)]));
  return tlv(0x30, Uint8Array.from([...algorithm, ...tlv(0x03, Uint8Array.from([0, ...point]))]));
}

describe('the expected values agree with OpenSSL (node:crypto)', () => {
  const vectors = SELF_TEST_VECTORS;

  it('digests, HMAC, PBKDF2, HKDF, ChaCha20-Poly1305', () => {
    for (const hash of HASHES) {
      expect(vectors.digestAbc[hash]).toBe(createHash(hash).update('abc').digest('hex'));
      expect(vectors.hmacJefe[hash]).toBe(createHmac(hash, 'Jefe').update('what do ya want for nothing?').digest('hex'));
    }
    expect(vectors.pbkdf2PasswordSalt2).toBe(pbkdf2Sync('password', 'salt', 2, 32, 'sha256').toString('hex'));
    const okm = hkdfSync('sha256', Buffer.alloc(22, 0x0b), hex('000102030405060708090a0b0c'), hex('f0f1f2f3f4f5f6f7f8f9'), 42);
    expect(vectors.hkdfRfc5869Case1).toBe(Buffer.from(okm).toString('hex'));
    const key = Buffer.from(Array.from({ length: 32 }, (_, index) => 0x80 + index));
    const cipher = createCipheriv('chacha20-poly1305', key, hex('070000004041424344454647'), { authTagLength: 16 });
    cipher.setAAD(hex('50515253c0c1c2c3c4c5c6c7'), { plaintextLength: vectors.chacha.plaintext.length });
    const sealed = Buffer.concat([cipher.update(vectors.chacha.plaintext, 'latin1'), cipher.final(), cipher.getAuthTag()]);
    expect(vectors.chacha.sealed).toBe(sealed.toString('hex'));
  });

  it.each(EC_CURVES)('%s: key from the seed, public key, signature and ECDH', (curve) => {
    const vector = vectors.ec[curve];
    const length = curveByteLength(curve);
    // The key-generation convention computed independently: (seed mod (n - 1)) + 1.
    const seed = BigInt(`0x${toHex(ecSelfTestSeed(curve))}`);
    const privateKey = hex(((seed % (ORDER[curve] - 1n)) + 1n).toString(16).padStart(length * 2, '0'));
    const ecdh = createECDH(OPENSSL_CURVE[curve].name);
    ecdh.setPrivateKey(privateKey);
    expect(vector.publicKey).toBe(ecdh.getPublicKey('hex', 'uncompressed'));
    expect(vector.shared).toBe(ecdh.computeSecret(hex(vector.publicKey)).toString('hex'));
    // The signature of SHA-256("sample") verifies with OpenSSL (hashing "sample" itself).
    expect(vectors.ecHash).toBe(createHash('sha256').update('sample').digest('hex'));
    const publicKey = createPublicKey({ key: Buffer.from(ecSpki(curve, hex(vector.publicKey))), format: 'der', type: 'spki' });
    expect(nodeVerify('sha256', Buffer.from('sample'), { key: publicKey, dsaEncoding: 'ieee-p1363' }, hex(vector.signature))).toBe(true);
  });

  it('RSA: the 512-bit test key, its signatures and ciphertexts', () => {
    const rsa = vectors.rsa;
    const privateKey = createPrivateKey({ key: Buffer.from(hex(rsa.privateKey)), format: 'der', type: 'pkcs8' });
    const publicKey = createPublicKey(privateKey);
    const jwk = publicKey.export({ format: 'jwk' });
    expect(Buffer.from(jwk.n as string, 'base64url').toString('hex')).toBe(rsa.modulus);
    expect(jwk.e).toBe('AQAB');
    const input = Buffer.from(Array.from({ length: 64 }, (_, index) => index));
    expect(publicEncrypt({ key: publicKey, padding: constants.RSA_NO_PADDING }, hex(rsa.raw)).equals(input)).toBe(true);
    expect(nodeVerify('sha256', Buffer.from('abc'), publicKey, hex(rsa.pkcs1Signature))).toBe(true);
    expect(nodeVerify('sha256', Buffer.from('abc'), { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 0 }, hex(rsa.pssSignature))).toBe(true);
    expect(privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, hex(rsa.oaepCiphertext)).toString()).toBe('self-test');
    // PKCS#1 v1.5 decryption: Node 20 refuses RSA_PKCS1_PADDING in privateDecrypt, so unpad the raw result.
    const raw = privateDecrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, hex(rsa.pkcs1Ciphertext));
    expect(raw[0]).toBe(0);
    expect(raw[1]).toBe(2);
    expect(raw.subarray(raw.indexOf(0, 2) + 1).toString()).toBe('self-test');
  });
});

// ---------------------------------------------------------------------------------------------------------
// Broken engines are caught and narrowed

/** The portable engine with some methods replaced. */
function broken(overrides: Partial<CryptoEngine>): CryptoEngine {
  return { ...portableEngine, name: 'broken', ...overrides };
}

function failedAlgorithms(report: SelfTestReport): string[] {
  return report.failed.map((failure) => failure.algorithm);
}

describe('broken engines are caught and narrowed', () => {
  it('a wrong signature on one curve removes that curve only', () => {
    const engine = broken({
      ecSign(curve, privateKey, hash) {
        const signature = portableEngine.ecSign(curve, privateKey, hash);
        if (curve === 'secp384r1') signature[5] ^= 0x40;
        return signature;
      },
    });
    const { engine: narrowed, report } = selfTestedEngine(engine);
    expect(report.failed).toEqual([{ algorithm: 'secp384r1', detail: 'sign: wrong result' }]);
    expect(narrowed.curves).toEqual(EC_CURVES.filter((curve) => curve !== 'secp384r1'));
    expect(() => narrowed.ecSign('secp384r1', new Uint8Array(48).fill(1), new Uint8Array(48))).toThrow(/secp384r1 is disabled/);
    expect(() => narrowed.ecGenerate('secp384r1', new Uint8Array(72))).toThrow(/disabled/);
    const key = narrowed.ecGenerate('secp256r1', ecSelfTestSeed('secp256r1'));
    expect(narrowed.ecVerify('secp256r1', key.publicKey, new Uint8Array(32), narrowed.ecSign('secp256r1', key.privateKey, new Uint8Array(32)))).toBe(true);
    expect(narrowed.aes).toBe(portableEngine.aes);
  });

  it('a broken SHA-512 disables SHA-512 and nothing else', () => {
    const engine = broken({
      digest: (hash, data) => (hash === 'sha512' ? new Uint8Array(64) : portableEngine.digest(hash, data)),
    });
    const { engine: narrowed, report } = selfTestedEngine(engine);
    expect(failedAlgorithms(report)).toEqual(['sha512']);
    expect(narrowed.hashes).toEqual(['sha1', 'sha224', 'sha256', 'sha384']);
    expect(() => narrowed.digest('sha512', new Uint8Array(1))).toThrow(/sha512 is disabled/);
    expect(toHex(narrowed.digest('sha256', new TextEncoder().encode('abc')))).toBe(SELF_TEST_VECTORS.digestAbc.sha256);
    expect(narrowed.hmac('sha512', new Uint8Array(1), new Uint8Array(1))).toHaveLength(64); // HMAC-SHA512 passed its own test
    expect(narrowed.curves).toEqual(EC_CURVES);
  });

  it('a throwing HMAC, an AEAD accepting forgeries, a KDF off by a byte, each caught with a detail', () => {
    const engine = broken({
      hmac(hash, key, data) {
        if (hash === 'sha1') throw new Error('no SHA-1 here');
        return portableEngine.hmac(hash, key, data);
      },
      aeadOpen(key, nonce, sealed, associatedData) {
        return portableEngine.aeadOpen(key, nonce, sealed, associatedData) ?? sealed.subarray(0, sealed.length - 16);
      },
      hkdfSha256: (inputKey, salt, info, length) => {
        const okm = portableEngine.hkdfSha256(inputKey, salt, info, length);
        okm[length - 1] ^= 1;
        return okm;
      },
    });
    const { engine: narrowed, report } = selfTestedEngine(engine);
    expect(report.failed).toEqual([
      { algorithm: 'hmac-sha1', detail: 'no SHA-1 here' },
      { algorithm: 'hkdf-sha256', detail: 'hkdf: wrong result' },
      { algorithm: 'chacha20-poly1305', detail: 'open: forged tag accepted' },
    ]);
    expect(() => narrowed.aeadSeal(new Uint8Array(32), new Uint8Array(12), new Uint8Array(1), new Uint8Array(0))).toThrow(/disabled/);
    expect(() => narrowed.aeadOpen(new Uint8Array(32), new Uint8Array(12), new Uint8Array(17), new Uint8Array(0))).toThrow(/disabled/);
    expect(() => narrowed.hkdfSha256(new Uint8Array(1), new Uint8Array(0), new Uint8Array(0), 32)).toThrow(/disabled/);
    expect(() => narrowed.hmac('sha1', new Uint8Array(1), new Uint8Array(1))).toThrow(/disabled/);
    expect(narrowed.pbkdf2Sha256(new Uint8Array(1), new Uint8Array(1), 1, 32)).toHaveLength(32);
  });

  it('a verifier that accepts anything and an ECDH that skips the curve check are caught', () => {
    const engine = broken({
      curves: ['secp256r1', 'secp256k1'],
      ecVerify: (curve, publicKey, hash, signature) => (curve === 'secp256r1' ? true : portableEngine.ecVerify(curve, publicKey, hash, signature)),
      ecdh(curve, privateKey, peerPublicKey) {
        if (curve !== 'secp256k1') return portableEngine.ecdh(curve, privateKey, peerPublicKey);
        try {
          return portableEngine.ecdh(curve, privateKey, peerPublicKey);
        } catch {
          return new Uint8Array(32); // "works" with any point
        }
      },
    });
    const { engine: narrowed, report } = selfTestedEngine(engine);
    expect(report.failed).toEqual([
      { algorithm: 'secp256r1', detail: 'verify: zero signature accepted' },
      { algorithm: 'secp256k1', detail: 'ecdh: off-curve point accepted' },
    ]);
    expect(narrowed.curves).toEqual([]);
  });

  it('a broken AES or RSA part is removed from the narrowed engine', () => {
    const aes = portableEngine.aes;
    if (!aes) throw new Error('the portable engine has AES');
    const engine = broken({ aes: { ...aes, cmac: (key, data) => aes.cmac(key, data).reverse() } });
    const { engine: narrowed, report } = selfTestedEngine(engine);
    expect(report.failed).toEqual([{ algorithm: 'aes', detail: 'CMAC (RFC 4493 example 2): wrong result' }]);
    expect(narrowed.aes).toBeUndefined();
    expect('aes' in narrowed).toBe(false);
    expect(narrowed.curves).toEqual(EC_CURVES);
  });

  it.skipIf(nodeEngine === undefined)('node engine: broken PSS removes RSA, the rest stays', () => {
    const engine = nodeEngine as CryptoEngine;
    const rsa = engine.rsa;
    if (!rsa) throw new Error('the node engine has RSA');
    const brokenEngine: CryptoEngine = { ...engine, name: 'broken-node', rsa: { ...rsa, verifyPss: () => true } };
    const { engine: narrowed, report } = selfTestedEngine(brokenEngine);
    expect(report.failed).toEqual([{ algorithm: 'rsa', detail: 'PSS verify: modified signature accepted' }]);
    expect(narrowed.rsa).toBeUndefined();
    expect(narrowed.aes).toBe(engine.aes);
    expect(narrowed.curves).toEqual(engine.curves);
  });

  it('an offered algorithm without a known-answer test in the build fails and is disabled', () => {
    // The portable engine's curves and digests on an engine that carries no extended tests (as on the Pico).
    const engine: CryptoEngine = { ...portableEngine, name: 'untested', knownAnswerTests: undefined };
    const { engine: narrowed, report } = selfTestedEngine(engine);
    const untested = [...HASHES.filter((hash) => hash !== 'sha256')];
    expect(failedAlgorithms(report)).toEqual([
      ...untested,
      ...untested.map((hash) => `hmac-${hash}`),
      ...EC_CURVES.filter((curve) => curve !== 'secp256r1'),
      'aes',
    ]);
    expect(report.failed[0]?.detail).toBe('no known-answer test for sha1 in this build');
    expect(narrowed.hashes).toEqual(['sha256']);
    expect(narrowed.curves).toEqual(['secp256r1']);
    expect(narrowed.aes).toBeUndefined();
    expect(() => narrowed.digest('sha384', new Uint8Array(1))).toThrow(/sha384 is disabled/);
    expect(toHex(narrowed.digest('sha256', new TextEncoder().encode('abc')))).toBe(SELF_TEST_VECTORS.digestAbc.sha256);
  });

  it('narrowEngine keeps the report as the single source: an empty report changes nothing', () => {
    expect(narrowEngine(deviceEngine, { engine: 'device', passed: [], failed: [] })).toBe(deviceEngine);
    const narrowed = narrowEngine(deviceEngine, { engine: 'device', passed: [], failed: [{ algorithm: 'secp256r1', detail: 'x' }] });
    expect(narrowed.curves).toEqual([]);
    expect(narrowed.name).toBe('device');
  });
});
