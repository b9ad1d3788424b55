/**
 * The node:crypto engine (OpenSSL underneath): the host's fast engine. Same contract as the portable engine
 * (types.ts), with RSA on top. Where Node has no primitive for what the interface asks, this file says so:
 *
 * - ECDSA over a precomputed hash: Node only signs messages it hashes itself (crypto.sign(null, ...) on an EC
 *   key still hashes with SHA-256), so ecSign is a hybrid: the nonce comes from RFC 6979 (HMAC-DRBG on node's
 *   HMAC, hash per curve as @noble/curves uses, so both engines produce byte-identical signatures), k*G is
 *   OpenSSL's constant-time fixed-base multiplication (ECDH.setPrivateKey computes it), and s = k^-1 (z + r d)
 *   is BigInt arithmetic with the inversion blinded by a random factor. ecVerify has the same problem and
 *   no such shortcut (it needs u1*G + u2*Q; OpenSSL's ECDH only returns an x coordinate), so it delegates to
 *   the portable engine: verification handles public data only.
 * - Key generation reduces the randomness exactly as @noble/curves' keygen does ((seed mod (n - 1)) + 1), so
 *   both engines derive the same key from the same randomness.
 * - RSA private keys are PKCS#8 DER; each operation imports the inner PKCS#1 RSAPrivateKey (the PKCS#8
 *   decoder of OpenSSL 3 costs ~0.35 ms per import, PKCS#1 ~0.1 ms; JWK would be faster still but turns the
 *   secret into immutable JS strings). Keys are never cached: one unsealed key, one operation.
 * - PKCS#1 v1.5 decryption: Node 20 refuses RSA_PKCS1_PADDING in privateDecrypt (CVE-2023-46809, Marvin), and
 *   newer OpenSSL answers bad padding with implicit rejection instead of an error; the interface wants
 *   undefined on bad padding, so this engine does the raw operation and unpads in branch-free JS.
 * - Signatures over a digest (PKCS#1 v1.5 via privateEncrypt of DigestInfo, PSS via our EMSA-PSS encoding and
 *   the raw operation), since Node's sign() insists on hashing the message itself.
 * - AES-GCM: OpenSSL takes IVs of 1..128 bytes; the contract is 8 bytes and up, so shorter IVs throw and
 *   longer ones (which Wycheproof lists as valid) go to the portable engine. CMAC: hal/crypto/cmac.ts on AES-ECB.
 * - HKDF: hkdfSync, which caps `info` at 1024 bytes; longer info runs RFC 5869 on node's HMAC.
 *
 * Secrets the engine copies out of Node buffers are zeroized (BigInts, JS strings and OpenSSL's own copies
 * cannot be; the portable engine has the same limit for its BigInts).
 */
import { concatBytes as concat } from '@noble/hashes/utils.js';
import {
  constants,
  createCipheriv,
  createDecipheriv,
  createECDH,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  getCurves,
  hkdfSync,
  pbkdf2Sync,
  privateDecrypt,
  privateEncrypt,
  publicEncrypt,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import { promisify } from 'node:util';
import { aesCmac } from './cmac.js';
import { portableEngine } from './portable.js';
import { EXTENDED_KNOWN_ANSWER_TESTS } from './self-test-extended.js';
import {
  EC_CURVES,
  HASH_NAMES,
  constantTimeEqual,
  curveByteLength,
  ecSeedLength,
  zeroize,
  type AesEngine,
  type CryptoEngine,
  type CurveName,
  type HashName,
  type RsaEngine,
  type RsaKeyPair,
} from './types.js';

// ---------------------------------------------------------------------------------------------------------
// Bytes and integers

/** Copies a Node buffer into a plain Uint8Array the caller owns, and zeroizes the Node buffer. */
function take(buffer: Uint8Array): Uint8Array {
  const copy = new Uint8Array(buffer);
  zeroize(buffer);
  return copy;
}


/** A Buffer view over the same memory (no copy), for node:crypto calls that want a Buffer. */
function view(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function bytesToBigInt(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')}`);
}

/** Big-endian, left-padded to `length` bytes; throws if the value does not fit. */
function bigIntToBytes(value: bigint, length: number): Uint8Array {
  const hex = value.toString(16).padStart(length * 2, '0');
  if (hex.length > length * 2) throw new Error(`integer does not fit in ${length} bytes`);
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

/** a mod m in [0, m). */
function mod(a: bigint, m: bigint): bigint {
  const r = a % m;
  return r < 0n ? r + m : r;
}

/** Modular inverse by the extended Euclidean algorithm (variable time: callers blind secret inputs). */
function invert(a: bigint, m: bigint): bigint {
  let [oldR, r] = [mod(a, m), m];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const quotient = oldR / r;
    [oldR, r] = [r, oldR - quotient * r];
    [oldS, s] = [s, oldS - quotient * s];
  }
  if (oldR !== 1n) throw new Error('not invertible');
  return mod(oldS, m);
}

/** Bytes with leading zero bytes removed (at least one byte kept). */
function stripLeadingZeros(bytes: Uint8Array): Uint8Array {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  return bytes.subarray(start);
}

// ---------------------------------------------------------------------------------------------------------
// Hashes, MACs, KDFs, ChaCha20-Poly1305

const HASH_LENGTH: Readonly<Record<HashName, number>> = { sha1: 20, sha224: 28, sha256: 32, sha384: 48, sha512: 64 };

function digest(hash: HashName, ...parts: readonly Uint8Array[]): Uint8Array {
  const hasher = createHash(hash);
  for (const part of parts) hasher.update(part);
  return new Uint8Array(hasher.digest());
}

/** HMAC; the Node output buffer is zeroized after copying (HMAC outputs are usually keys here). */
function hmac(hash: HashName, key: Uint8Array, ...parts: readonly Uint8Array[]): Uint8Array {
  const mac = createHmac(hash, key);
  for (const part of parts) mac.update(part);
  return take(mac.digest());
}

/** RFC 5869 on node's HMAC, for `info` longer than hkdfSync accepts. */
function hkdfFromHmac(inputKey: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  if (length > 255 * 32) throw new Error('HKDF-SHA256 output is limited to 8160 bytes');
  const prk = hmac('sha256', salt.length > 0 ? salt : new Uint8Array(32), inputKey);
  const output = new Uint8Array(length);
  let block: Uint8Array = new Uint8Array(0);
  for (let counter = 1, offset = 0; offset < length; counter++) {
    const next = hmac('sha256', prk, block, info, Uint8Array.of(counter));
    zeroize(block);
    block = next;
    output.set(block.subarray(0, Math.min(block.length, length - offset)), offset);
    offset += block.length;
  }
  zeroize(prk, block);
  return output;
}

function hkdfSha256(inputKey: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  if (info.length > 1024) return hkdfFromHmac(inputKey, salt, info, length);
  return take(new Uint8Array(hkdfSync('sha256', inputKey, salt, info, length)));
}

const CHACHA_KEY = 32;
const CHACHA_NONCE = 12;
const TAG = 16;

function checkChaChaParameters(key: Uint8Array, nonce: Uint8Array): void {
  if (key.length !== CHACHA_KEY) throw new Error('ChaCha20-Poly1305 needs a 32-byte key');
  if (nonce.length !== CHACHA_NONCE) throw new Error('ChaCha20-Poly1305 needs a 12-byte nonce');
}

function aeadSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, associatedData: Uint8Array): Uint8Array {
  checkChaChaParameters(key, nonce);
  const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG });
  cipher.setAAD(associatedData, { plaintextLength: plaintext.length });
  return concat(cipher.update(plaintext), cipher.final(), cipher.getAuthTag());
}

function aeadOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, associatedData: Uint8Array): Uint8Array | undefined {
  checkChaChaParameters(key, nonce);
  if (sealed.length < TAG) return undefined;
  const ciphertext = sealed.subarray(0, sealed.length - TAG);
  const decipher = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG });
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG));
  decipher.setAAD(associatedData, { plaintextLength: ciphertext.length });
  return finishAuthenticated(decipher.update(ciphertext), () => decipher.final());
}

/** Releases AEAD plaintext only when final() authenticates it; otherwise zeroizes it and returns undefined. */
function finishAuthenticated(plaintext: Buffer, final: () => Buffer): Uint8Array | undefined {
  try {
    const rest = final();
    const result = concat(plaintext, rest);
    zeroize(plaintext, rest);
    return result;
  } catch {
    zeroize(plaintext);
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Elliptic curves

interface CurveInfo {
  /** OpenSSL's name for the curve. */
  readonly openssl: string;
  /** The group order n. */
  readonly order: bigint;
  /** Bits of n (qlen in RFC 6979). */
  readonly orderBits: number;
  /** The RFC 6979 HMAC hash: the one @noble/curves pairs with the curve. */
  readonly nonceHash: HashName;
}

const CURVE_INFO: Readonly<Record<CurveName, CurveInfo>> = {
  secp256r1: { openssl: 'prime256v1', order: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n, orderBits: 256, nonceHash: 'sha256' },
  secp384r1: {
    openssl: 'secp384r1',
    order: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
    orderBits: 384,
    nonceHash: 'sha384',
  },
  secp521r1: {
    openssl: 'secp521r1',
    order:
      0x1fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409n,
    orderBits: 521,
    nonceHash: 'sha512',
  },
  secp256k1: { openssl: 'secp256k1', order: 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n, orderBits: 256, nonceHash: 'sha256' },
  brainpoolP256r1: {
    openssl: 'brainpoolP256r1',
    order: 0xa9fb57dba1eea9bc3e660a909d838d718c397aa3b561a6f7901e0e82974856a7n,
    orderBits: 256,
    nonceHash: 'sha256',
  },
  brainpoolP384r1: {
    openssl: 'brainpoolP384r1',
    order: 0x8cb91e82a3386d280f5d6f7e50e641df152f7109ed5456b31f166e6cac0425a7cf3ab6af6b7fc3103b883202e9046565n,
    orderBits: 384,
    nonceHash: 'sha384',
  },
  brainpoolP512r1: {
    openssl: 'brainpoolP512r1',
    order:
      0xaadd9db8dbe9c48b3fd4e6ae33c9fc07cb308db3b3c9d20ed6639cca70330870553e5c414ca92619418661197fac10471db1d381085ddaddb58796829ca90069n,
    orderBits: 512,
    nonceHash: 'sha512',
  },
};

/** The curves this Node build's OpenSSL offers (all seven on Node 20 with its bundled OpenSSL 3). */
const SUPPORTED_CURVES: readonly CurveName[] = ((): CurveName[] => {
  const available = new Set(getCurves());
  return EC_CURVES.filter((curve) => available.has(CURVE_INFO[curve].openssl));
})();

function curveInfo(curve: CurveName): CurveInfo {
  if (!SUPPORTED_CURVES.includes(curve)) throw new Error(`curve ${curve} is not available in this Node build`);
  return CURVE_INFO[curve];
}

/** The private scalar as a BigInt, checked to be exactly the curve's length and in [1, n - 1]. */
function privateScalar(curve: CurveName, privateKey: Uint8Array): bigint {
  const info = curveInfo(curve);
  if (privateKey.length !== curveByteLength(curve)) throw new Error(`${curve} private key must be ${curveByteLength(curve)} bytes`);
  const d = bytesToBigInt(privateKey);
  if (d < 1n || d >= info.order) throw new Error(`${curve} private key out of range`);
  return d;
}

/** scalar * G, uncompressed, by OpenSSL (ECDH.setPrivateKey computes the public point). */
function multiplyBase(curve: CurveName, scalar: Uint8Array): Uint8Array {
  const ecdh = createECDH(curveInfo(curve).openssl);
  ecdh.setPrivateKey(scalar);
  return new Uint8Array(ecdh.getPublicKey(null, 'uncompressed'));
}

function ecGenerate(curve: CurveName, randomness: Uint8Array): { privateKey: Uint8Array; publicKey: Uint8Array } {
  const needed = ecSeedLength(curve);
  if (randomness.length < needed) throw new Error(`${curve} key generation needs ${needed} random bytes`);
  // (seed mod (n - 1)) + 1: uniform enough over [1, n - 1] with 1.5x the scalar length, and what noble does.
  const d = mod(bytesToBigInt(randomness.subarray(0, needed)), curveInfo(curve).order - 1n) + 1n;
  const privateKey = bigIntToBytes(d, curveByteLength(curve));
  return { privateKey, publicKey: multiplyBase(curve, privateKey) };
}

function ecPublicKey(curve: CurveName, privateKey: Uint8Array): Uint8Array {
  privateScalar(curve, privateKey);
  return multiplyBase(curve, privateKey);
}

/** RFC 6979 bits2int: the leftmost qlen bits of `bytes` as an integer. */
function bits2int(info: CurveInfo, bytes: Uint8Array): bigint {
  const value = bytesToBigInt(bytes);
  const excess = bytes.length * 8 - info.orderBits;
  return excess > 0 ? value >> BigInt(excess) : value;
}

/**
 * RFC 6979 section 3.2: deterministic nonces from HMAC-DRBG seeded with int2octets(d) || bits2octets(h1).
 * Each call of next() returns the next candidate in [1, n - 1] (step h.3 reseeds between candidates).
 */
function rfc6979(curve: CurveName, privateKey: Uint8Array, z: bigint): { next(): bigint; wipe(): void } {
  const info = curveInfo(curve);
  const hash = info.nonceHash;
  const length = curveByteLength(curve);
  let v: Uint8Array = new Uint8Array(HASH_LENGTH[hash]).fill(1);
  let k: Uint8Array = new Uint8Array(HASH_LENGTH[hash]);
  /** V = HMAC_K(V), wiping the old V. */
  const stepV = (): void => {
    const next = hmac(hash, k, v);
    zeroize(v);
    v = next;
  };
  /** K = HMAC_K(V || parts), then V = HMAC_K(V), wiping the old values (steps d-g and h.3). */
  const rekey = (...parts: Uint8Array[]): void => {
    const next = hmac(hash, k, v, ...parts);
    zeroize(k);
    k = next;
    stepV();
  };
  const seedHash = bigIntToBytes(z, length); // bits2octets(h1)
  rekey(Uint8Array.of(0), privateKey, seedHash);
  rekey(Uint8Array.of(1), privateKey, seedHash);
  let first = true;
  return {
    next(): bigint {
      for (;;) {
        if (!first) rekey(Uint8Array.of(0));
        first = false;
        // T = V1 || V2 || ... until it has at least qlen bits (ceil(qlen / 8) bytes, hlen being whole bytes).
        const blocks: Uint8Array[] = [];
        for (let have = 0; have < length; have += v.length) {
          stepV();
          blocks.push(new Uint8Array(v));
        }
        const t = concat(...blocks);
        const candidate = bits2int(info, t);
        zeroize(t, ...blocks);
        if (candidate >= 1n && candidate < info.order) return candidate;
      }
    },
    wipe: () => zeroize(v, k),
  };
}

/** A random scalar in [1, n - 1] from node's CSPRNG, for blinding. */
function randomScalar(curve: CurveName): bigint {
  const seed = randomBytes(ecSeedLength(curve));
  const value = mod(bytesToBigInt(seed), curveInfo(curve).order - 1n) + 1n;
  zeroize(seed);
  return value;
}

/**
 * One ECDSA attempt with nonce k: r = x(kG) mod n, s = k^-1 (z + r d) mod n, computed as
 * (bk)^-1 (bz + b d r) with a random b so the variable-time inversion never sees k. Undefined if r or s is 0.
 */
function signWithNonce(curve: CurveName, d: bigint, z: bigint, k: bigint): { r: bigint; s: bigint } | undefined {
  const info = curveInfo(curve);
  const n = info.order;
  const length = curveByteLength(curve);
  const kBytes = bigIntToBytes(k, length);
  const point = multiplyBase(curve, kBytes);
  zeroize(kBytes);
  const r = mod(bytesToBigInt(point.subarray(1, 1 + length)), n);
  if (r === 0n) return undefined;
  const b = randomScalar(curve);
  const s = mod(invert(mod(b * k, n), n) * mod(b * z + mod(b * d, n) * r, n), n);
  return s === 0n ? undefined : { r, s };
}

function ecSign(curve: CurveName, privateKey: Uint8Array, hash: Uint8Array): Uint8Array {
  const info = curveInfo(curve);
  const d = privateScalar(curve, privateKey);
  const z = mod(bits2int(info, hash), info.order);
  const nonces = rfc6979(curve, privateKey, z);
  try {
    for (;;) {
      const signature = signWithNonce(curve, d, z, nonces.next());
      if (signature) return concat(bigIntToBytes(signature.r, curveByteLength(curve)), bigIntToBytes(signature.s, curveByteLength(curve)));
    }
  } finally {
    nonces.wipe();
  }
}

function ecdh(curve: CurveName, privateKey: Uint8Array, peerPublicKey: Uint8Array): Uint8Array {
  const length = curveByteLength(curve);
  privateScalar(curve, privateKey);
  // The contract's encoding only: uncompressed 04 || X || Y. OpenSSL then checks that the point is on the curve.
  if (peerPublicKey.length !== 1 + 2 * length || peerPublicKey[0] !== 0x04) throw new Error('peer public key is not an uncompressed point');
  const exchange = createECDH(curveInfo(curve).openssl);
  exchange.setPrivateKey(privateKey);
  let shared: Buffer;
  try {
    shared = exchange.computeSecret(peerPublicKey);
  } catch {
    throw new Error('peer public key is not a valid point on the curve');
  }
  if (shared.length !== length) throw new Error('unexpected shared secret length');
  return take(shared);
}

// ---------------------------------------------------------------------------------------------------------
// RSA: key handling

/** A DER element: its tag, and where its contents start and end within the input. */
interface DerElement {
  readonly tag: number;
  readonly start: number;
  readonly end: number;
}

/** Reads one DER element at `offset` (definite, minimal lengths only); throws on anything else. */
function readDer(bytes: Uint8Array, offset: number): DerElement {
  const tag = bytes[offset];
  const first = bytes[offset + 1];
  if (tag === undefined || first === undefined) throw new Error('DER: truncated');
  let length = first;
  let start = offset + 2;
  if (first & 0x80) {
    const count = first & 0x7f;
    if (count === 0 || count > 3) throw new Error('DER: unsupported length');
    length = 0;
    for (let index = 0; index < count; index++) length = length * 256 + (bytes[start + index] ?? 0);
    start += count;
    if (length < 0x80 || bytes[offset + 2] === 0) throw new Error('DER: non-minimal length');
  }
  if (start + length > bytes.length) throw new Error('DER: truncated');
  return { tag, start, end: start + length };
}

/** rsaEncryption, 1.2.840.113549.1.1.1, as a DER OBJECT IDENTIFIER element. */
const RSA_ENCRYPTION_OID = Uint8Array.of(0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01);

/**
 * The RSAPrivateKey (PKCS#1) inside a PKCS#8 PrivateKeyInfo, as a view into `pkcs8` (no copy), or undefined
 * when the structure is not plain rsaEncryption PKCS#8 (the caller then lets OpenSSL parse the whole thing).
 */
function innerPkcs1(pkcs8: Uint8Array): Uint8Array | undefined {
  try {
    const outer = readDer(pkcs8, 0);
    if (outer.tag !== 0x30 || outer.end !== pkcs8.length) return undefined;
    const version = readDer(pkcs8, outer.start);
    if (version.tag !== 0x02) return undefined;
    const algorithm = readDer(pkcs8, version.end);
    const oid = pkcs8.subarray(algorithm.start, algorithm.start + RSA_ENCRYPTION_OID.length);
    if (algorithm.tag !== 0x30 || !constantTimeEqual(oid, RSA_ENCRYPTION_OID)) return undefined;
    const key = readDer(pkcs8, algorithm.end);
    return key.tag === 0x04 ? pkcs8.subarray(key.start, key.end) : undefined;
  } catch {
    return undefined;
  }
}

/** An OpenSSL key object for a PKCS#8 RSA private key, and the modulus length in bytes and bits. */
function rsaPrivateKey(pkcs8: Uint8Array): { key: KeyObject; bytes: number; bits: number } {
  const pkcs1 = innerPkcs1(pkcs8);
  const key = pkcs1
    ? createPrivateKey({ key: view(pkcs1), format: 'der', type: 'pkcs1' })
    : createPrivateKey({ key: view(pkcs8), format: 'der', type: 'pkcs8' });
  const bits = key.asymmetricKeyType === 'rsa' ? key.asymmetricKeyDetails?.modulusLength : undefined;
  if (bits === undefined) throw new Error('not an RSA private key');
  return { key, bytes: Math.ceil(bits / 8), bits };
}

/** A public key object from the big-endian modulus and exponent (JWK import: public values only). */
function rsaPublicKey(modulus: Uint8Array, publicExponent: Uint8Array): { key: KeyObject; bytes: number; bits: number } {
  const n = stripLeadingZeros(modulus);
  const e = stripLeadingZeros(publicExponent);
  const key = createPublicKey({ key: { kty: 'RSA', n: view(n).toString('base64url'), e: view(e).toString('base64url') }, format: 'jwk' });
  const bits = n.length * 8 - Math.clz32(n[0] ?? 0) + 24;
  return { key, bytes: n.length, bits };
}

/** m^d mod n for a k-byte input below n (OpenSSL checks the range, with CRT and blinding). */
function rawPrivateWith(key: KeyObject, bytes: number, input: Uint8Array): Uint8Array {
  if (input.length !== bytes) throw new Error(`RSA input must be ${bytes} bytes`);
  return take(privateDecrypt({ key, padding: constants.RSA_NO_PADDING }, input));
}

/** s^e mod n for a k-byte input, or undefined when the input is not below n. */
function rawPublicWith(key: KeyObject, bytes: number, input: Uint8Array): Uint8Array | undefined {
  if (input.length !== bytes) return undefined;
  try {
    return new Uint8Array(publicEncrypt({ key, padding: constants.RSA_NO_PADDING }, input));
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------------
// RSA: encodings (RFC 8017)

/** The DER DigestInfo prefix for each hash (RFC 8017 9.2, note 1): prefix || digest is the encoded T. */
const DIGEST_INFO_PREFIX: Readonly<Record<HashName, string>> = {
  sha1: '3021300906052b0e03021a05000414',
  sha224: '302d300d06096086480165030402040500041c',
  sha256: '3031300d060960864801650304020105000420',
  sha384: '3041300d060960864801650304020205000430',
  sha512: '3051300d060960864801650304020305000440',
};

function checkDigest(hash: HashName, value: Uint8Array): void {
  if (value.length !== HASH_LENGTH[hash]) throw new Error(`a ${hash} digest is ${HASH_LENGTH[hash]} bytes`);
}

/** EMSA-PKCS1-v1_5 (RFC 8017 9.2) of a digest: 00 01 FF.. 00 || DigestInfo, `length` bytes. */
function emsaPkcs1(hash: HashName, value: Uint8Array, length: number): Uint8Array {
  const t = concat(Buffer.from(DIGEST_INFO_PREFIX[hash], 'hex'), value);
  if (length < t.length + 11) throw new Error('RSA modulus too short for this digest');
  const encoded = new Uint8Array(length).fill(0xff);
  encoded[0] = 0x00;
  encoded[1] = 0x01;
  encoded[length - t.length - 1] = 0x00;
  encoded.set(t, length - t.length);
  return encoded;
}

/** MGF1 (RFC 8017 B.2.1) with `hash`. */
function mgf1(hash: HashName, seed: Uint8Array, length: number): Uint8Array {
  const blocks: Uint8Array[] = [];
  const counter = new Uint8Array(4);
  for (let produced = 0, index = 0; produced < length; index++, produced += HASH_LENGTH[hash]) {
    new DataView(counter.buffer).setUint32(0, index);
    blocks.push(digest(hash, seed, counter));
  }
  return concat(...blocks).subarray(0, length);
}

/** H = Hash(0x00 * 8 || mHash || salt), the PSS commitment. */
function pssHash(hash: HashName, messageHash: Uint8Array, salt: Uint8Array): Uint8Array {
  return digest(hash, new Uint8Array(8), messageHash, salt);
}

/** EMSA-PSS-ENCODE (RFC 8017 9.1.1) for emBits = modBits - 1. */
function emsaPssEncode(hash: HashName, messageHash: Uint8Array, salt: Uint8Array, emBits: number): Uint8Array {
  const hashLength = HASH_LENGTH[hash];
  const emLength = Math.ceil(emBits / 8);
  if (emLength < hashLength + salt.length + 2) throw new Error('RSA modulus too short for this PSS salt');
  const h = pssHash(hash, messageHash, salt);
  const db = new Uint8Array(emLength - hashLength - 1);
  db[db.length - salt.length - 1] = 0x01;
  db.set(salt, db.length - salt.length);
  const mask = mgf1(hash, h, db.length);
  for (let index = 0; index < db.length; index++) db[index] = (db[index] ?? 0) ^ (mask[index] ?? 0);
  db[0] = (db[0] ?? 0) & (0xff >>> (8 * emLength - emBits));
  return concat(db, h, Uint8Array.of(0xbc));
}

/** EMSA-PSS-VERIFY (RFC 8017 9.1.2) with a fixed salt length. */
function emsaPssVerify(hash: HashName, messageHash: Uint8Array, encoded: Uint8Array, emBits: number, saltLength: number): boolean {
  const hashLength = HASH_LENGTH[hash];
  const emLength = Math.ceil(emBits / 8);
  const topMask = 0xff >>> (8 * emLength - emBits);
  if (messageHash.length !== hashLength || encoded.length !== emLength) return false;
  if (emLength < hashLength + saltLength + 2 || encoded[emLength - 1] !== 0xbc) return false;
  const maskedDb = encoded.subarray(0, emLength - hashLength - 1);
  const h = encoded.subarray(emLength - hashLength - 1, emLength - 1);
  if (((maskedDb[0] ?? 0) & ~topMask) !== 0) return false;
  const db = mgf1(hash, h, maskedDb.length);
  for (let index = 0; index < db.length; index++) db[index] = (db[index] ?? 0) ^ (maskedDb[index] ?? 0);
  db[0] = (db[0] ?? 0) & topMask;
  const separator = db.length - saltLength - 1;
  for (let index = 0; index < separator; index++) if (db[index] !== 0) return false;
  if (db[separator] !== 0x01) return false;
  return constantTimeEqual(h, pssHash(hash, messageHash, db.subarray(separator + 1)));
}

/**
 * EME-PKCS1-v1_5 decoding (RFC 8017 7.2.2 step 3) without branches on the padding bytes: 00 02, at least
 * eight nonzero bytes, 00, message. Only the final verdict branches (the interface returns undefined), so
 * callers must answer a padding failure the same way, in the same time, as any other decryption failure.
 */
function emePkcs1Decode(encoded: Uint8Array): Uint8Array | undefined {
  let bad = (encoded[0] ?? 1) | ((encoded[1] ?? 0) ^ 0x02);
  let found = 0;
  let separator = 0;
  for (let index = 2; index < encoded.length; index++) {
    const isZero = (((encoded[index] ?? 0) - 1) >>> 31) & 1; // 1 exactly when the byte is 0
    const first = isZero & ~found & 1;
    separator |= -first & index;
    found |= isZero;
  }
  bad |= found ^ 1;
  bad |= ((separator - 10) >>> 31) & 1; // the separator must come after 2 + 8 padding bytes
  if (bad !== 0) return undefined;
  return encoded.slice(separator + 1);
}

// ---------------------------------------------------------------------------------------------------------
// RSA: the engine part

const generateRsaKeyPair = promisify(generateKeyPair);

async function rsaGenerate(bits: number, publicExponent: number): Promise<RsaKeyPair> {
  const { publicKey, privateKey } = await generateRsaKeyPair('rsa', { modulusLength: bits, publicExponent });
  const jwk = publicKey.export({ format: 'jwk' });
  if (typeof jwk.n !== 'string' || typeof jwk.e !== 'string') throw new Error('RSA public key export failed');
  return {
    modulus: new Uint8Array(Buffer.from(jwk.n, 'base64url')),
    publicExponent: new Uint8Array(Buffer.from(jwk.e, 'base64url')),
    privateKey: take(privateKey.export({ format: 'der', type: 'pkcs8' })),
  };
}

function rsaOaepOptions(hash: HashName, label: Uint8Array | undefined): { oaepHash: string; oaepLabel?: Buffer } {
  return label && label.length > 0 ? { oaepHash: hash, oaepLabel: view(label) } : { oaepHash: hash };
}

const nodeRsa: RsaEngine = {
  generate: rsaGenerate,
  rawPrivate(privateKey, input) {
    const { key, bytes } = rsaPrivateKey(privateKey);
    return rawPrivateWith(key, bytes, input);
  },
  signPkcs1(privateKey, hash, value) {
    checkDigest(hash, value);
    const { key, bytes } = rsaPrivateKey(privateKey);
    const encoded = emsaPkcs1(hash, value, bytes);
    const signature = rawPrivateWith(key, bytes, encoded);
    zeroize(encoded);
    return signature;
  },
  signPss(privateKey, hash, value, saltLength) {
    checkDigest(hash, value);
    const { key, bytes, bits } = rsaPrivateKey(privateKey);
    const salt = randomBytes(saltLength);
    const encoded = emsaPssEncode(hash, value, salt, bits - 1);
    const input = new Uint8Array(bytes);
    input.set(encoded, bytes - encoded.length);
    const signature = rawPrivateWith(key, bytes, input);
    zeroize(salt, encoded, input);
    return signature;
  },
  decryptPkcs1(privateKey, ciphertext) {
    const { key, bytes } = rsaPrivateKey(privateKey);
    if (ciphertext.length !== bytes) return undefined;
    let encoded: Uint8Array;
    try {
      encoded = rawPrivateWith(key, bytes, ciphertext);
    } catch {
      return undefined; // ciphertext not below the modulus
    }
    const message = emePkcs1Decode(encoded);
    zeroize(encoded);
    return message;
  },
  decryptOaep(privateKey, hash, ciphertext, label) {
    const { key, bytes } = rsaPrivateKey(privateKey);
    if (ciphertext.length !== bytes) return undefined;
    try {
      return take(privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, ...rsaOaepOptions(hash, label) }, ciphertext));
    } catch {
      return undefined;
    }
  },
  verifyPkcs1(modulus, publicExponent, hash, value, signature) {
    if (value.length !== HASH_LENGTH[hash]) return false;
    const { key, bytes } = rsaPublicKey(modulus, publicExponent);
    const recovered = rawPublicWith(key, bytes, signature);
    if (!recovered || bytes < HASH_LENGTH[hash] + DIGEST_INFO_PREFIX[hash].length / 2 + 11) return false;
    // Encode-and-compare (RFC 8017 8.2.2): no parsing of the recovered DigestInfo, so no BER leniency.
    return constantTimeEqual(recovered, emsaPkcs1(hash, value, bytes));
  },
  verifyPss(modulus, publicExponent, hash, value, signature, saltLength) {
    const { key, bytes, bits } = rsaPublicKey(modulus, publicExponent);
    const recovered = rawPublicWith(key, bytes, signature);
    if (!recovered) return false;
    const emBits = bits - 1;
    const emLength = Math.ceil(emBits / 8);
    // When modBits - 1 is a multiple of 8 the encoding is one byte shorter than k and the top byte is 0.
    if (recovered.subarray(0, bytes - emLength).some((byte) => byte !== 0)) return false;
    return emsaPssVerify(hash, value, recovered.subarray(bytes - emLength), emBits, saltLength);
  },
  encryptOaep(modulus, publicExponent, hash, plaintext, label) {
    const { key } = rsaPublicKey(modulus, publicExponent);
    return new Uint8Array(publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, ...rsaOaepOptions(hash, label) }, plaintext));
  },
  encryptPkcs1(modulus, publicExponent, plaintext) {
    const { key } = rsaPublicKey(modulus, publicExponent);
    return new Uint8Array(publicEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, plaintext));
  },
};

// ---------------------------------------------------------------------------------------------------------
// AES

type AesBits = 128 | 192 | 256;

/** The AES key size in bits; throws for anything but 16, 24 or 32 bytes. */
function aesBits(key: Uint8Array): AesBits {
  switch (key.length) {
    case 16:
      return 128;
    case 24:
      return 192;
    case 32:
      return 256;
    default:
      throw new Error('AES keys are 16, 24 or 32 bytes');
  }
}

const BLOCK = 16;
const GCM_MIN_IV = 8;
/** OpenSSL's largest GCM IV; longer (legal but unusual) IVs go to the portable engine. */
const GCM_MAX_NATIVE_IV = 128;

function checkBlock(name: string, value: Uint8Array, multiple: boolean): void {
  if (multiple ? value.length % BLOCK !== 0 : value.length !== BLOCK) {
    throw new Error(multiple ? `${name} must be a multiple of 16 bytes` : `${name} must be 16 bytes`);
  }
}

/** One pass through a cipher or decipher: update then final, concatenated; the parts are zeroized. */
function run(cipher: { update(data: Uint8Array): Buffer; final(): Buffer }, data: Uint8Array): Uint8Array {
  const head = cipher.update(data);
  const tail = cipher.final();
  const result = concat(head, tail);
  zeroize(head, tail);
  return result;
}

function cbcEncrypt(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array {
  checkBlock('CBC IV', iv, false);
  checkBlock('CBC data', data, true);
  return run(createCipheriv(`aes-${aesBits(key)}-cbc`, key, iv).setAutoPadding(false), data);
}

function cbcDecrypt(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array {
  checkBlock('CBC IV', iv, false);
  checkBlock('CBC data', data, true);
  return run(createDecipheriv(`aes-${aesBits(key)}-cbc`, key, iv).setAutoPadding(false), data);
}

/** CTR over the full 128-bit counter block (OpenSSL increments all 16 bytes, as noble does). */
function ctr(key: Uint8Array, counter: Uint8Array, data: Uint8Array): Uint8Array {
  checkBlock('CTR counter block', counter, false);
  return run(createCipheriv(`aes-${aesBits(key)}-ctr`, key, counter), data);
}

/** Checks the GCM parameters; true when OpenSSL takes this IV, false when the portable engine must. */
function gcmNative(key: Uint8Array, iv: Uint8Array): boolean {
  aesBits(key);
  if (iv.length < GCM_MIN_IV) throw new Error('GCM IVs are at least 8 bytes');
  return iv.length <= GCM_MAX_NATIVE_IV;
}

/** The portable AES part, for the IVs OpenSSL does not take. */
function portableAes(): AesEngine {
  const aes = portableEngine.aes;
  if (!aes) throw new Error('the portable engine has no AES');
  return aes;
}

function gcmSeal(key: Uint8Array, iv: Uint8Array, plaintext: Uint8Array, associatedData: Uint8Array): Uint8Array {
  if (!gcmNative(key, iv)) return portableAes().gcmSeal(key, iv, plaintext, associatedData);
  const cipher = createCipheriv(`aes-${aesBits(key)}-gcm`, key, iv, { authTagLength: TAG });
  cipher.setAAD(associatedData);
  return concat(cipher.update(plaintext), cipher.final(), cipher.getAuthTag());
}

function gcmOpen(key: Uint8Array, iv: Uint8Array, sealed: Uint8Array, associatedData: Uint8Array): Uint8Array | undefined {
  if (!gcmNative(key, iv)) return portableAes().gcmOpen(key, iv, sealed, associatedData);
  if (sealed.length < TAG) return undefined;
  const decipher = createDecipheriv(`aes-${aesBits(key)}-gcm`, key, iv, { authTagLength: TAG });
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG));
  decipher.setAAD(associatedData);
  return finishAuthenticated(decipher.update(sealed.subarray(0, sealed.length - TAG)), () => decipher.final());
}

/** AES-CMAC (cmac.ts) over one AES-ECB cipher object, fed one block at a time. */
function cmac(key: Uint8Array, data: Uint8Array): Uint8Array {
  const ecb = createCipheriv(`aes-${aesBits(key)}-ecb`, key, null).setAutoPadding(false);
  try {
    return aesCmac((block) => ecb.update(block), data);
  } finally {
    ecb.final();
  }
}

const nodeAes: AesEngine = { cbcEncrypt, cbcDecrypt, ctr, gcmSeal, gcmOpen, cmac };

// ---------------------------------------------------------------------------------------------------------

export const nodeEngine: CryptoEngine = {
  name: 'node',
  rsa: nodeRsa,
  aes: nodeAes,
  curves: SUPPORTED_CURVES,
  hashes: HASH_NAMES,
  knownAnswerTests: EXTENDED_KNOWN_ANSWER_TESTS,
  digest: (hash, data) => digest(hash, data),
  hmac: (hash, key, data) => hmac(hash, key, data),
  pbkdf2Sha256: (password, salt, iterations, length) => take(pbkdf2Sync(password, salt, iterations, length, 'sha256')),
  hkdfSha256,
  aeadSeal,
  aeadOpen,
  ecGenerate,
  ecPublicKey,
  ecSign,
  /** Delegated: Node cannot verify ECDSA over a precomputed hash (see the file comment). */
  ecVerify: (curve, publicKey, hash, signature) => portableEngine.ecVerify(curve, publicKey, hash, signature),
  ecdh,
};
