/**
 * Differential tests: for every algorithm both engines implement, one engine's output goes into the other
 * (sign with one, verify with the other; encrypt with one, decrypt with the other; equal KDF/MAC outputs), on
 * every curve, with edge-case sizes. ECDSA is also checked against node:crypto's own sign/verify over the
 * message (a path that does not go through either engine). RSA exists only in the node engine; it is checked
 * against node:crypto's own padding code (sign/verify/encrypt/decrypt with KeyObjects) and against BigInt
 * arithmetic for the raw private operation.
 */
import {
  constants,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  sign as nativeSign,
  verify as nativeVerify,
  type KeyObject,
} from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { nodeEngine } from '../hal/crypto/node.js';
import { portableEngine } from '../hal/crypto/portable.js';
import { EC_CURVES, curveByteLength, ecSeedLength, type AesEngine, type CryptoEngine, type CurveName, type HashName, type RsaEngine } from '../hal/crypto/types.js';

const node = nodeEngine;
const portable = portableEngine;
/** Ordered pairs of distinct engines: one signs (or produces), the other verifies (or consumes). */
const PAIRS: readonly { readonly signer: CryptoEngine; readonly verifier: CryptoEngine }[] = [
  { signer: node, verifier: portable },
  { signer: portable, verifier: node },
];
const HASHES: readonly HashName[] = ['sha1', 'sha224', 'sha256', 'sha384', 'sha512'];
const HASH_LENGTH: Readonly<Record<HashName, number>> = { sha1: 20, sha224: 28, sha256: 32, sha384: 48, sha512: 64 };

function hex(bytes: Uint8Array | undefined): string | undefined {
  return bytes === undefined ? undefined : Buffer.from(bytes).toString('hex');
}

function random(length: number): Uint8Array {
  return new Uint8Array(randomBytes(length));
}

/** A copy of `bytes` with one bit flipped at `index`. */
function flip(bytes: Uint8Array, index: number): Uint8Array {
  const copy = Uint8Array.from(bytes);
  copy[index] = (copy[index] ?? 0) ^ 1;
  return copy;
}

function aesOf(engine: CryptoEngine): AesEngine {
  if (!engine.aes) throw new Error(`${engine.name} has no AES`);
  return engine.aes;
}

// ---------------------------------------------------------------------------------------------------------
// DER for node:crypto key objects (SEC1 private keys and SPKI public keys on any named curve)

function derTlv(tag: number, content: Uint8Array): Uint8Array {
  const length = content.length;
  const header = length < 0x80 ? [tag, length] : length < 0x100 ? [tag, 0x81, length] : [tag, 0x82, length >> 8, length & 0xff];
  return Uint8Array.from([...header, ...content]);
}

function join(...parts: readonly Uint8Array[]): Uint8Array {
  return Uint8Array.from(parts.flatMap((part) => [...part]));
}

const CURVE_OID: Readonly<Record<CurveName, string>> = {
  secp256r1: '2a8648ce3d030107',
  secp384r1: '2b81040022',
  secp521r1: '2b81040023',
  secp256k1: '2b8104000a',
  brainpoolP256r1: '2b2403030208010107',
  brainpoolP384r1: '2b240303020801010b',
  brainpoolP512r1: '2b240303020801010d',
};

const curveOid = (curve: CurveName): Uint8Array => derTlv(0x06, Buffer.from(CURVE_OID[curve], 'hex'));

function nativePublicKey(curve: CurveName, point: Uint8Array): KeyObject {
  const algorithm = derTlv(0x30, join(derTlv(0x06, Buffer.from('2a8648ce3d0201', 'hex')), curveOid(curve)));
  const spki = derTlv(0x30, join(algorithm, derTlv(0x03, join(Uint8Array.of(0), point))));
  return createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
}

/** SEC1 ECPrivateKey (RFC 5915) with the curve and public key, imported into OpenSSL. */
function nativePrivateKey(curve: CurveName, scalar: Uint8Array, point: Uint8Array): KeyObject {
  const sec1 = derTlv(
    0x30,
    join(derTlv(0x02, Uint8Array.of(1)), derTlv(0x04, scalar), derTlv(0xa0, curveOid(curve)), derTlv(0xa1, derTlv(0x03, join(Uint8Array.of(0), point)))),
  );
  return createPrivateKey({ key: Buffer.from(sec1), format: 'der', type: 'sec1' });
}

/** The hash node:crypto signs with for a curve in the native cross-check. */
const NATIVE_HASH: Readonly<Record<CurveName, HashName>> = {
  secp256r1: 'sha256',
  secp384r1: 'sha384',
  secp521r1: 'sha512',
  secp256k1: 'sha256',
  brainpoolP256r1: 'sha256',
  brainpoolP384r1: 'sha384',
  brainpoolP512r1: 'sha512',
};

// ---------------------------------------------------------------------------------------------------------
// Elliptic curves

const SHARED_CURVES = EC_CURVES.filter((curve) => node.curves.includes(curve) && portable.curves.includes(curve));

describe.each(SHARED_CURVES)('%s: node and portable engines agree', (curve) => {
  const length = curveByteLength(curve);

  it('derive the same key pair from the same randomness, and the same public key from a scalar', () => {
    for (let round = 0; round < 5; round++) {
      const seed = random(ecSeedLength(curve));
      const fromNode = node.ecGenerate(curve, seed);
      const fromPortable = portable.ecGenerate(curve, seed);
      expect(hex(fromNode.privateKey)).toBe(hex(fromPortable.privateKey));
      expect(hex(fromNode.publicKey)).toBe(hex(fromPortable.publicKey));
      expect(hex(node.ecPublicKey(curve, fromPortable.privateKey))).toBe(hex(portable.ecPublicKey(curve, fromNode.privateKey)));
    }
    // The extremes of the reduction: all-zero randomness gives d = 1, all-ones the largest reachable scalars.
    for (const fill of [0x00, 0xff]) {
      const seed = new Uint8Array(ecSeedLength(curve)).fill(fill);
      expect(hex(node.ecGenerate(curve, seed).publicKey)).toBe(hex(portable.ecGenerate(curve, seed).publicKey));
    }
    expect(() => node.ecGenerate(curve, random(ecSeedLength(curve) - 1))).toThrow();
    expect(() => node.ecPublicKey(curve, new Uint8Array(length))).toThrow();
  });

  it.each(PAIRS)('ECDSA: $signer.name signs, $verifier.name verifies (hashes shorter, equal, longer than the order)', ({ signer, verifier }) => {
    const pair = signer.ecGenerate(curve, random(ecSeedLength(curve)));
    for (const hashLength of [1, 20, 32, 48, 64, length, 80]) {
      const hash = random(hashLength);
      const signature = signer.ecSign(curve, pair.privateKey, hash);
      expect(signature.length).toBe(2 * length);
      expect(verifier.ecVerify(curve, pair.publicKey, hash, signature)).toBe(true);
      // Both engines take RFC 6979 nonces with the curve's hash: byte-identical signatures.
      expect(hex(verifier.ecSign(curve, pair.privateKey, hash))).toBe(hex(signature));
      expect(verifier.ecVerify(curve, pair.publicKey, flip(hash, 0), signature)).toBe(false);
      expect(verifier.ecVerify(curve, pair.publicKey, hash, flip(signature, length - 1))).toBe(false);
      expect(verifier.ecVerify(curve, pair.publicKey, hash, flip(signature, 2 * length - 1))).toBe(false);
    }
  });

  it("ECDSA against node:crypto's own sign and verify over the message", () => {
    const pair = node.ecGenerate(curve, random(ecSeedLength(curve)));
    const publicKey = nativePublicKey(curve, pair.publicKey);
    const privateKey = nativePrivateKey(curve, pair.privateKey, pair.publicKey);
    const hash = NATIVE_HASH[curve];
    for (let round = 0; round < 4; round++) {
      const message = random(round * 50);
      const digest = node.digest(hash, message);
      for (const engine of [node, portable]) {
        const signature = engine.ecSign(curve, pair.privateKey, digest);
        expect(nativeVerify(hash, message, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature)).toBe(true);
      }
      const native = nativeSign(hash, message, { key: privateKey, dsaEncoding: 'ieee-p1363' });
      expect(node.ecVerify(curve, pair.publicKey, digest, native)).toBe(true);
      expect(portable.ecVerify(curve, pair.publicKey, digest, native)).toBe(true);
    }
  });

  it('ECDH: both sides agree across engines; invalid, off-curve and compressed points are refused by both', () => {
    const alice = node.ecGenerate(curve, random(ecSeedLength(curve)));
    const bob = portable.ecGenerate(curve, random(ecSeedLength(curve)));
    const secrets = [
      node.ecdh(curve, alice.privateKey, bob.publicKey),
      portable.ecdh(curve, alice.privateKey, bob.publicKey),
      node.ecdh(curve, bob.privateKey, alice.publicKey),
      portable.ecdh(curve, bob.privateKey, alice.publicKey),
    ].map(hex);
    expect(new Set(secrets).size).toBe(1);
    expect(secrets[0]?.length).toBe(2 * length);
    const offCurve = flip(bob.publicKey, 2 * length);
    const compressed = Uint8Array.from([2 + ((bob.publicKey[2 * length] ?? 0) & 1), ...bob.publicKey.subarray(1, 1 + length)]);
    const badPoints = [offCurve, Uint8Array.of(0), new Uint8Array(1 + 2 * length), compressed, bob.publicKey.subarray(0, 2 * length)];
    for (const engine of [node, portable]) {
      for (const point of badPoints) expect(() => engine.ecdh(curve, alice.privateKey, point)).toThrow();
    }
  });
});

// ---------------------------------------------------------------------------------------------------------
// Symmetric primitives

const KEY_SIZES = [16, 24, 32] as const;

describe('AES: node and portable engines agree', () => {
  const [nodeAes, portableAes] = [aesOf(node), aesOf(portable)];
  const both: readonly (readonly [AesEngine, AesEngine])[] = [
    [nodeAes, portableAes],
    [portableAes, nodeAes],
  ];

  it.each(KEY_SIZES)('CBC without padding, %i-byte keys', (keySize) => {
    for (const [encryptor, decryptor] of both) {
      for (const size of [0, 16, 48, 1024]) {
        const [key, iv, data] = [random(keySize), random(16), random(size)];
        const ciphertext = encryptor.cbcEncrypt(key, iv, data);
        expect(hex(ciphertext)).toBe(hex(decryptor.cbcEncrypt(key, iv, data)));
        expect(hex(decryptor.cbcDecrypt(key, iv, ciphertext))).toBe(hex(data));
      }
      expect(() => encryptor.cbcEncrypt(random(keySize), random(16), random(15))).toThrow();
      expect(() => encryptor.cbcDecrypt(random(keySize), random(16), random(17))).toThrow();
    }
  });

  it.each(KEY_SIZES)('CTR over the full 128-bit counter, including wrap-around, %i-byte keys', (keySize) => {
    const counters = ['ff'.repeat(16), `${'00'.repeat(12)}ffffffff`, `${'00'.repeat(8)}ffffffffffffffff`, hex(random(16)) ?? ''];
    for (const counterHex of counters) {
      const counter = Uint8Array.from(Buffer.from(counterHex, 'hex'));
      for (const size of [0, 1, 15, 16, 33, 100]) {
        const [key, data] = [random(keySize), random(size)];
        const fromNode = nodeAes.ctr(key, counter, data);
        expect(hex(portableAes.ctr(key, counter, data))).toBe(hex(fromNode));
        expect(hex(portableAes.ctr(key, counter, fromNode))).toBe(hex(data));
      }
    }
  });

  it.each(KEY_SIZES)('GCM with IVs of 8 to 200 bytes (node hands IVs over 128 bytes to noble), %i-byte keys', (keySize) => {
    for (const ivLength of [8, 12, 16, 60, 128, 129, 200]) {
      for (const [plaintextLength, aadLength] of [
        [0, 0],
        [1, 5],
        [17, 32],
        [256, 0],
      ] as const) {
        const [key, iv, plaintext, aad] = [random(keySize), random(ivLength), random(plaintextLength), random(aadLength)];
        const sealed = nodeAes.gcmSeal(key, iv, plaintext, aad);
        expect(hex(portableAes.gcmSeal(key, iv, plaintext, aad))).toBe(hex(sealed));
        for (const [, opener] of both) {
          expect(hex(opener.gcmOpen(key, iv, sealed, aad))).toBe(hex(plaintext));
          expect(opener.gcmOpen(key, iv, flip(sealed, sealed.length - 1), aad)).toBeUndefined();
          expect(opener.gcmOpen(key, iv, sealed, flip(new Uint8Array(aadLength + 1), 0))).toBeUndefined();
          expect(opener.gcmOpen(key, iv, sealed.subarray(0, 15), aad)).toBeUndefined();
        }
      }
    }
    for (const aes of [nodeAes, portableAes]) {
      expect(() => aes.gcmSeal(random(keySize), random(7), random(4), random(0))).toThrow();
      expect(() => aes.gcmOpen(random(keySize), random(0), random(20), random(0))).toThrow();
    }
  });

  it.each(KEY_SIZES)('CMAC over 0 to 70 bytes, %i-byte keys', (keySize) => {
    const key = random(keySize);
    for (let size = 0; size <= 70; size++) {
      const data = random(size);
      expect(hex(nodeAes.cmac(key, data))).toBe(hex(portableAes.cmac(key, data)));
    }
  });

  it('both refuse AES keys that are not 16, 24 or 32 bytes', () => {
    for (const aes of [nodeAes, portableAes]) {
      for (const keySize of [0, 8, 20, 40]) {
        const key = random(keySize);
        expect(() => aes.cbcEncrypt(key, random(16), random(16))).toThrow();
        expect(() => aes.ctr(key, random(16), random(16))).toThrow();
        expect(() => aes.gcmSeal(key, random(12), random(16), random(0))).toThrow();
        expect(() => aes.cmac(key, random(16))).toThrow();
      }
    }
  });
});

describe('ChaCha20-Poly1305, HKDF, PBKDF2, HMAC, digests: node and portable engines agree', () => {
  it('ChaCha20-Poly1305 seals identically and each engine opens the other', () => {
    for (const [plaintextLength, aadLength] of [
      [0, 0],
      [1, 0],
      [63, 12],
      [64, 64],
      [1000, 3],
    ] as const) {
      const [key, nonce, plaintext, aad] = [random(32), random(12), random(plaintextLength), random(aadLength)];
      const sealed = node.aeadSeal(key, nonce, plaintext, aad);
      expect(hex(portable.aeadSeal(key, nonce, plaintext, aad))).toBe(hex(sealed));
      for (const engine of [node, portable]) {
        expect(hex(engine.aeadOpen(key, nonce, sealed, aad))).toBe(hex(plaintext));
        expect(engine.aeadOpen(key, nonce, flip(sealed, 0), aad)).toBeUndefined();
        expect(engine.aeadOpen(key, flip(nonce, 11), sealed, aad)).toBeUndefined();
        expect(engine.aeadOpen(key, nonce, sealed.subarray(0, 15), aad)).toBeUndefined();
      }
    }
    for (const engine of [node, portable]) {
      expect(() => engine.aeadSeal(random(32), random(8), random(4), random(0))).toThrow();
      expect(() => engine.aeadSeal(random(16), random(12), random(4), random(0))).toThrow();
    }
  });

  it('HKDF-SHA256, including empty salt, info past hkdfSync limit of 1024 bytes, and the 8160-byte maximum', () => {
    for (const [saltLength, infoLength, length] of [
      [0, 0, 32],
      [16, 10, 1],
      [32, 1024, 33],
      [13, 1025, 64],
      [80, 3000, 8160],
      [0, 0, 8160],
    ] as const) {
      const [inputKey, salt, info] = [random(22), random(saltLength), random(infoLength)];
      expect(hex(node.hkdfSha256(inputKey, salt, info, length))).toBe(hex(portable.hkdfSha256(inputKey, salt, info, length)));
    }
    for (const engine of [node, portable]) {
      expect(() => engine.hkdfSha256(random(16), random(0), random(0), 8161)).toThrow();
      expect(() => engine.hkdfSha256(random(16), random(0), random(2000), 8161)).toThrow();
    }
  });

  it('PBKDF2-HMAC-SHA256', () => {
    for (const [iterations, length] of [
      [1, 1],
      [2, 32],
      [1000, 33],
      [3, 100],
    ] as const) {
      const [password, salt] = [random(iterations % 40), random(16)];
      expect(hex(node.pbkdf2Sha256(password, salt, iterations, length))).toBe(hex(portable.pbkdf2Sha256(password, salt, iterations, length)));
    }
  });

  it.each(HASHES)('HMAC and digest with %s, keys shorter and longer than the block', (hash) => {
    for (const keyLength of [0, 1, 64, 65, 129, 200]) {
      const [key, data] = [random(keyLength), random(keyLength * 3)];
      expect(hex(node.hmac(hash, key, data))).toBe(hex(portable.hmac(hash, key, data)));
      expect(hex(node.digest(hash, data))).toBe(hex(portable.digest(hash, data)));
    }
  });
});

// ---------------------------------------------------------------------------------------------------------
// RSA (node engine only) against independent paths

function bytesToBigInt(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${Buffer.from(bytes).toString('hex')}`);
}

function bigIntToBytes(value: bigint, length: number): Uint8Array {
  return Uint8Array.from(Buffer.from(value.toString(16).padStart(length * 2, '0'), 'hex'));
}

/** base^exponent mod modulus by square-and-multiply: no OpenSSL involved. */
function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n;
  let square = base % modulus;
  for (let e = exponent; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * square) % modulus;
    square = (square * square) % modulus;
  }
  return result;
}

interface RsaFixture {
  readonly bits: number;
  readonly bytes: number;
  readonly modulus: Uint8Array;
  readonly publicExponent: Uint8Array;
  readonly privateKey: Uint8Array;
  readonly nativePrivate: KeyObject;
  readonly nativePublic: KeyObject;
}

/** Generates through the engine, then reopens the PKCS#8 with node:crypto for the independent checks. */
async function rsaFixture(rsa: RsaEngine, bits: number, exponent: number): Promise<RsaFixture> {
  const pair = await rsa.generate(bits, exponent);
  const nativePrivate = createPrivateKey({ key: Buffer.from(pair.privateKey), format: 'der', type: 'pkcs8' });
  return { bits, bytes: Math.ceil(bits / 8), ...pair, nativePrivate, nativePublic: createPublicKey(nativePrivate) };
}

/** The private exponent from node:crypto's JWK export of the key. */
function privateExponent(fixture: RsaFixture): bigint {
  const jwk = fixture.nativePrivate.export({ format: 'jwk' });
  return bytesToBigInt(Buffer.from(jwk.d ?? '', 'base64url'));
}

/** A PKCS#1 v1.5 type-2 block, optionally damaged, raised to e by node:crypto's raw public operation. */
function encryptBlock(fixture: RsaFixture, block: Uint8Array): Uint8Array {
  return new Uint8Array(publicEncrypt({ key: fixture.nativePublic, padding: constants.RSA_NO_PADDING }, block));
}

function typeTwoBlock(bytes: number, message: Uint8Array, paddingLength: number): Uint8Array {
  const block = new Uint8Array(bytes);
  block[1] = 0x02;
  block.set(
    random(paddingLength).map((byte) => byte || 1),
    2,
  );
  block.set(message, 3 + paddingLength);
  return block;
}

/** The node engine's RSA part (the describe below only runs when it exists). */
function nodeRsa(): RsaEngine {
  if (!node.rsa) throw new Error('the node engine has no RSA');
  return node.rsa;
}

describe.runIf(node.rsa !== undefined)('RSA (node engine) against node:crypto padding code and BigInt arithmetic', () => {
  const engine = nodeRsa();
  let fixtures: RsaFixture[] = [];

  beforeAll(async () => {
    // 2049 bits: modBits - 1 is a multiple of 8, so the PSS encoding is one byte shorter than the modulus.
    fixtures = await Promise.all([rsaFixture(engine, 2048, 65537), rsaFixture(engine, 2049, 3)]);
  }, 60_000);

  it('generates 2048- and 2049-bit keys whose modulus and exponent match the PKCS#8', () => {
    expect(fixtures).toHaveLength(2);
    for (const fixture of fixtures) {
      const jwk = fixture.nativePublic.export({ format: 'jwk' });
      expect(hex(fixture.modulus)).toBe(Buffer.from(jwk.n ?? '', 'base64url').toString('hex'));
      expect(hex(fixture.publicExponent)).toBe(Buffer.from(jwk.e ?? '', 'base64url').toString('hex'));
      expect(fixture.nativePrivate.asymmetricKeyDetails?.modulusLength).toBe(fixture.bits);
    }
  });

  it('rawPrivate equals m^d mod n computed with BigInt; refuses inputs not below n or of the wrong length', () => {
    for (const fixture of fixtures) {
      const [n, d] = [bytesToBigInt(fixture.modulus), privateExponent(fixture)];
      for (let round = 0; round < 3; round++) {
        const input = bigIntToBytes(bytesToBigInt(random(fixture.bytes)) % n, fixture.bytes);
        expect(hex(engine.rawPrivate(fixture.privateKey, input))).toBe(hex(bigIntToBytes(modPow(bytesToBigInt(input), d, n), fixture.bytes)));
      }
      expect(() => engine.rawPrivate(fixture.privateKey, bigIntToBytes(n, fixture.bytes))).toThrow();
      expect(() => engine.rawPrivate(fixture.privateKey, random(fixture.bytes - 1))).toThrow();
    }
  });

  it.each(HASHES)('PKCS#1 v1.5 signatures over a %s digest equal node:crypto.sign over the message, and verify both ways', (hash) => {
    for (const fixture of fixtures) {
      const message = random(77);
      const digest = node.digest(hash, message);
      const signature = engine.signPkcs1(fixture.privateKey, hash, digest);
      expect(hex(signature)).toBe(hex(nativeSign(hash, message, fixture.nativePrivate)));
      expect(nativeVerify(hash, message, fixture.nativePublic, signature)).toBe(true);
      expect(engine.verifyPkcs1(fixture.modulus, fixture.publicExponent, hash, digest, signature)).toBe(true);
      expect(engine.verifyPkcs1(fixture.modulus, fixture.publicExponent, hash, flip(digest, 0), signature)).toBe(false);
      expect(engine.verifyPkcs1(fixture.modulus, fixture.publicExponent, hash, digest, flip(signature, 5))).toBe(false);
      expect(engine.verifyPkcs1(fixture.modulus, fixture.publicExponent, hash, digest, signature.subarray(1))).toBe(false);
      expect(() => engine.signPkcs1(fixture.privateKey, hash, digest.subarray(1))).toThrow();
    }
  });

  it.each(HASHES)('PSS over a %s digest: node:crypto verifies ours, we verify node:crypto, emBits edge (2049-bit key)', (hash) => {
    for (const fixture of fixtures) {
      for (const saltLength of [0, 20, HASH_LENGTH[hash]]) {
        const message = random(40);
        const digest = node.digest(hash, message);
        const pss = { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength };
        const ours = engine.signPss(fixture.privateKey, hash, digest, saltLength);
        expect(nativeVerify(hash, message, { key: fixture.nativePublic, ...pss }, ours)).toBe(true);
        const theirs = nativeSign(hash, message, { key: fixture.nativePrivate, ...pss });
        expect(engine.verifyPss(fixture.modulus, fixture.publicExponent, hash, digest, theirs, saltLength)).toBe(true);
        expect(engine.verifyPss(fixture.modulus, fixture.publicExponent, hash, digest, ours, saltLength)).toBe(true);
        expect(engine.verifyPss(fixture.modulus, fixture.publicExponent, hash, flip(digest, 3), ours, saltLength)).toBe(false);
        expect(engine.verifyPss(fixture.modulus, fixture.publicExponent, hash, digest, flip(ours, 100), saltLength)).toBe(false);
        expect(engine.verifyPss(fixture.modulus, fixture.publicExponent, hash, digest, ours, saltLength + 1)).toBe(false);
      }
    }
  });

  it.each(HASHES)('OAEP with %s: each side decrypts the other, with and without a label; tampering gives undefined', (hash) => {
    for (const fixture of fixtures) {
      for (const label of [undefined, random(9)]) {
        const plaintext = random(fixture.bytes - 2 * HASH_LENGTH[hash] - 2);
        const oaep = { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash, ...(label ? { oaepLabel: label } : {}) };
        const ours = engine.encryptOaep(fixture.modulus, fixture.publicExponent, hash, plaintext, label);
        expect(hex(new Uint8Array(privateDecrypt({ key: fixture.nativePrivate, ...oaep }, ours)))).toBe(hex(plaintext));
        const theirs = new Uint8Array(publicEncrypt({ key: fixture.nativePublic, ...oaep }, plaintext));
        expect(hex(engine.decryptOaep(fixture.privateKey, hash, theirs, label))).toBe(hex(plaintext));
        expect(engine.decryptOaep(fixture.privateKey, hash, flip(theirs, 10), label)).toBeUndefined();
        expect(engine.decryptOaep(fixture.privateKey, hash, theirs, random(3))).toBeUndefined();
        expect(engine.decryptOaep(fixture.privateKey, hash, theirs.subarray(1), label)).toBeUndefined();
      }
    }
  });

  it('PKCS#1 v1.5 decryption: node:crypto ciphertexts decrypt, hand-damaged padding gives undefined', () => {
    for (const fixture of fixtures) {
      for (const length of [0, 1, 32, fixture.bytes - 11]) {
        const plaintext = random(length);
        const native = new Uint8Array(publicEncrypt({ key: fixture.nativePublic, padding: constants.RSA_PKCS1_PADDING }, plaintext));
        expect(hex(engine.decryptPkcs1(fixture.privateKey, native))).toBe(hex(plaintext));
        const ours = engine.encryptPkcs1(fixture.modulus, fixture.publicExponent, plaintext);
        expect(hex(engine.decryptPkcs1(fixture.privateKey, ours))).toBe(hex(plaintext));
      }
      const message = random(20).map((byte) => byte || 1); // no zero byte that could act as a separator
      const good = typeTwoBlock(fixture.bytes, message, fixture.bytes - 3 - message.length);
      expect(hex(engine.decryptPkcs1(fixture.privateKey, encryptBlock(fixture, good)))).toBe(hex(message));
      const shortestPadding = typeTwoBlock(fixture.bytes, random(fixture.bytes - 11), 8);
      expect(engine.decryptPkcs1(fixture.privateKey, encryptBlock(fixture, shortestPadding))).toBeDefined();
      const damaged = [
        typeTwoBlock(fixture.bytes, random(fixture.bytes - 10), 7), // padding string of 7 bytes
        Uint8Array.from(good).fill(0x01, 2, 3 + good.length - 3 - message.length), // no zero separator
        Uint8Array.from(good).fill(0x01, 1, 2), // block type 1
      ];
      if (fixture.bits % 8 === 0) damaged.push(Uint8Array.from(good).fill(0x01, 0, 1)); // first byte not zero (still below n)
      for (const block of damaged) expect(engine.decryptPkcs1(fixture.privateKey, encryptBlock(fixture, block))).toBeUndefined();
      expect(engine.decryptPkcs1(fixture.privateKey, random(fixture.bytes - 1))).toBeUndefined();
    }
  });
});
