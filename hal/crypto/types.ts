/**
 * The crypto engine interface: every primitive the firmware uses, behind one interface so a board can choose
 * an implementation. The portable engine (@noble/*, hal/crypto/portable.ts) runs everywhere and is the
 * reference; the host may declare a faster engine (node:crypto, hal/crypto/node.ts) for what it supports.
 * Every engine passes the same known-answer tests, and engines are cross-checked against each other.
 *
 * Conventions: EC public keys are uncompressed SEC1 points (04 || X || Y); EC private keys are big-endian
 * scalars of the curve's byte length; ECDSA signatures are raw r || s (the applet DER-encodes for OpenSC).
 */

export const EC_CURVES = ['secp256r1', 'secp384r1', 'secp521r1', 'secp256k1', 'brainpoolP256r1', 'brainpoolP384r1', 'brainpoolP512r1'] as const;
export type CurveName = (typeof EC_CURVES)[number];

export const HASH_NAMES = ['sha1', 'sha224', 'sha256', 'sha384', 'sha512'] as const;
export type HashName = (typeof HASH_NAMES)[number];

/**
 * One algorithm's power-on known-answer test (hal/crypto/self-test.ts runs them): `run` throws when the engine
 * gives a wrong answer. `algorithm` names what a failure disables: a hash (`sha384`), `hmac-<hash>`, a curve,
 * `rsa` or `aes`.
 */
export interface KnownAnswerTest {
  readonly algorithm: string;
  run(engine: CryptoEngine): void;
}

export interface EcKeyPair {
  readonly privateKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

/** RSA key pair; the private key is an opaque engine encoding (PKCS#8 DER for the engines we have). */
export interface RsaKeyPair {
  readonly modulus: Uint8Array;
  readonly publicExponent: Uint8Array;
  readonly privateKey: Uint8Array;
}

/** RSA, where an engine offers it (node:crypto on the host; not the portable engine, not the Pico). */
export interface RsaEngine {
  /** Asynchronous: RSA-4096 takes seconds, and the actors must stay responsive meanwhile. */
  generate(bits: number, publicExponent: number): Promise<RsaKeyPair>;
  /** Raw private-key operation m^d mod n on a k-byte big-endian input below the modulus (algorithms 20, 21). */
  rawPrivate(privateKey: Uint8Array, input: Uint8Array): Uint8Array;
  /** PKCS#1 v1.5 signature over a digest of `hash`. */
  signPkcs1(privateKey: Uint8Array, hash: HashName, digest: Uint8Array): Uint8Array;
  /** PSS signature over a digest of `hash`, MGF1 with the same hash, salt length `saltLength`. */
  signPss(privateKey: Uint8Array, hash: HashName, digest: Uint8Array, saltLength: number): Uint8Array;
  /** PKCS#1 v1.5 decryption; undefined when the padding is invalid. */
  decryptPkcs1(privateKey: Uint8Array, ciphertext: Uint8Array): Uint8Array | undefined;
  /** OAEP decryption with `hash` for OAEP and MGF1; undefined when the padding is invalid. */
  decryptOaep(privateKey: Uint8Array, hash: HashName, ciphertext: Uint8Array, label?: Uint8Array): Uint8Array | undefined;
  /** Public-key operations, for verification in tests and attestation. */
  verifyPkcs1(modulus: Uint8Array, publicExponent: Uint8Array, hash: HashName, digest: Uint8Array, signature: Uint8Array): boolean;
  verifyPss(modulus: Uint8Array, publicExponent: Uint8Array, hash: HashName, digest: Uint8Array, signature: Uint8Array, saltLength: number): boolean;
  encryptOaep(modulus: Uint8Array, publicExponent: Uint8Array, hash: HashName, plaintext: Uint8Array, label?: Uint8Array): Uint8Array;
  encryptPkcs1(modulus: Uint8Array, publicExponent: Uint8Array, plaintext: Uint8Array): Uint8Array;
}

/** AES, where an engine offers it (both host engines; not the Pico). Keys of 16, 24 or 32 bytes. */
export interface AesEngine {
  /** CBC without padding: the data must be a multiple of 16 bytes. */
  cbcEncrypt(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array;
  cbcDecrypt(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array;
  /** CTR with a 16-byte initial counter block. */
  ctr(key: Uint8Array, counter: Uint8Array, data: Uint8Array): Uint8Array;
  /**
   * GCM; the output carries the 16-byte tag. The IV is at least 8 bytes (12 recommended; other lengths go
   * through GHASH as SP 800-38D says): every engine throws for a shorter IV, as @noble/ciphers does.
   */
  gcmSeal(key: Uint8Array, iv: Uint8Array, plaintext: Uint8Array, associatedData: Uint8Array): Uint8Array;
  /** Undefined when the tag does not verify; throws for a bad key or IV length like gcmSeal. */
  gcmOpen(key: Uint8Array, iv: Uint8Array, sealed: Uint8Array, associatedData: Uint8Array): Uint8Array | undefined;
  cmac(key: Uint8Array, data: Uint8Array): Uint8Array;
}

export interface CryptoEngine {
  readonly name: string;
  readonly rsa?: RsaEngine;
  readonly aes?: AesEngine;
  /** Curves this engine implements. */
  readonly curves: readonly CurveName[];
  /** Digests this engine implements (digest and hmac throw for any other); SHA-256 is required. */
  readonly hashes: readonly HashName[];
  /**
   * Known-answer tests for what the engine offers beyond the device profile (self-test.ts carries SHA-256,
   * HMAC-SHA256, PBKDF2, HKDF, ChaCha20-Poly1305 and P-256). An offered algorithm without a test fails its
   * self-test and is disabled, so every algorithm in use has been checked at power-on.
   */
  readonly knownAnswerTests?: readonly KnownAnswerTest[];
  digest(hash: HashName, data: Uint8Array): Uint8Array;
  hmac(hash: HashName, key: Uint8Array, data: Uint8Array): Uint8Array;
  pbkdf2Sha256(password: Uint8Array, salt: Uint8Array, iterations: number, length: number): Uint8Array;
  hkdfSha256(inputKey: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array;
  /** ChaCha20-Poly1305 (RFC 8439): 32-byte key, 12-byte nonce; the output carries the 16-byte tag. */
  aeadSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, associatedData: Uint8Array): Uint8Array;
  /** Undefined when the tag does not verify. */
  aeadOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, associatedData: Uint8Array): Uint8Array | undefined;
  /** `randomness`: ecSeedLength(curve) bytes from the board's entropy source (reduced modulo the order without bias). */
  ecGenerate(curve: CurveName, randomness: Uint8Array): EcKeyPair;
  ecPublicKey(curve: CurveName, privateKey: Uint8Array): Uint8Array;
  /** ECDSA over a precomputed hash (truncated/padded per the curve order as usual); returns r || s. */
  ecSign(curve: CurveName, privateKey: Uint8Array, hash: Uint8Array): Uint8Array;
  ecVerify(curve: CurveName, publicKey: Uint8Array, hash: Uint8Array, signature: Uint8Array): boolean;
  /** The shared X coordinate; throws for an invalid or off-curve peer point. */
  ecdh(curve: CurveName, privateKey: Uint8Array, peerPublicKey: Uint8Array): Uint8Array;
}

/** The byte length of a curve's field/scalars. */
export function curveByteLength(curve: CurveName): number {
  switch (curve) {
    case 'secp256r1':
    case 'secp256k1':
    case 'brainpoolP256r1':
      return 32;
    case 'secp384r1':
    case 'brainpoolP384r1':
      return 48;
    case 'secp521r1':
      return 66;
    case 'brainpoolP512r1':
      return 64;
  }
}

/** Random bytes key generation needs: 1.5 x the scalar length (FIPS 186-5 A.4.1 style extra bits). */
export function ecSeedLength(curve: CurveName): number {
  const length = curveByteLength(curve);
  return length + Math.ceil(length / 2);
}

/** Overwrites a buffer holding secret material. */
export function zeroize(...buffers: (Uint8Array | undefined)[]): void {
  for (const buffer of buffers) buffer?.fill(0);
}

/** Constant-time equality of two byte strings (length is not secret). */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let index = 0; index < a.length; index++) difference |= (a[index] ?? 0) ^ (b[index] ?? 0);
  return difference === 0;
}
