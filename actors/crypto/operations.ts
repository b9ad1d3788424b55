/**
 * The cryptographic operations behind COMPUTE SIGNATURE, DECIPHER and CIPHER SYMMETRIC, as pure functions of an
 * unsealed key and the engine. The crypto actor calls them and zeroes the key material afterwards.
 *
 * Algorithm identifiers (shared/docs/protocol.md section 4):
 *   RSA sign    20 raw, 30 PKCS#1 v1.5 over a given DigestInfo, 31..35 PKCS#1 v1.5 hashing SHA-1/224/256/384/512,
 *               40 PSS over a given digest (hash chosen by its length) or DigestInfo, 41..45 PSS hashing SHA-1..512
 *   EC sign     70 ECDSA over a given hash, 71..75 ECDSA hashing SHA-1..512 (answers are DER)
 *   Decipher    21 RSA raw, 22 RSA PKCS#1 v1.5 (implicit rejection: a bad padding answers a pseudo-random message,
 *               never an error), 23 RSA OAEP with SHA-256, 80 ECDH (answer 04 || X)
 *   Symmetric   10/11 AES-CBC encrypt/decrypt with a zero IV, 18 AES-CMAC, 51/52 extended encrypt/decrypt
 *               (GCM or CTR with a caller IV), 99 HKDF-SHA256 with the key as input keying material
 */
import type { CryptoEngine, CurveName, HashName } from '../../hal/crypto/types.js';
import { digestFromDigestInfo, ecdsaRawToDer, hashForDigestLength, pkcs1SignatureBlock } from '../card/signature-formats.js';

export type OperationResult = { ok: true; data: Uint8Array } | { ok: false; code: 'wrongKeyType' | 'badInput' | 'unsupported'; detail: string };

export interface UnsealedKey {
  readonly kind: 'ec' | 'rsa' | 'aes';
  readonly curve?: CurveName;
  readonly bits: number;
  readonly publicKey?: Uint8Array;
  readonly material: Uint8Array;
}

const HASH_BY_INDEX: readonly HashName[] = ['sha1', 'sha224', 'sha256', 'sha384', 'sha512'];
const IMPLICIT_REJECTION_INFO = new TextEncoder().encode('pkcs1-implicit-rejection');

function success(data: Uint8Array): OperationResult {
  return { ok: true, data };
}
function refuse(code: 'wrongKeyType' | 'badInput' | 'unsupported', detail: string): OperationResult {
  return { ok: false, code, detail };
}

/** The algorithm family an identifier belongs to, used to check it against the key's kind. */
export function algorithmKind(algorithm: number): 'rsa' | 'ec' | 'aes' | undefined {
  if (algorithm === 0x20 || algorithm === 0x21 || algorithm === 0x22 || algorithm === 0x23) return 'rsa';
  if (algorithm >= 0x30 && algorithm <= 0x35) return 'rsa';
  if (algorithm >= 0x40 && algorithm <= 0x45) return 'rsa';
  if ((algorithm >= 0x70 && algorithm <= 0x75) || algorithm === 0x80) return 'ec';
  if ([0x10, 0x11, 0x18, 0x51, 0x52, 0x99].includes(algorithm)) return 'aes';
  return undefined;
}

function bigEndianLessThan(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return a.length < b.length;
  for (let index = 0; index < a.length; index++) {
    if ((a[index] ?? 0) !== (b[index] ?? 0)) return (a[index] ?? 0) < (b[index] ?? 0);
  }
  return false;
}

export function sign(engine: CryptoEngine, key: UnsealedKey, algorithm: number, data: Uint8Array): OperationResult {
  if (key.kind === 'ec') {
    if (algorithm < 0x70 || algorithm > 0x75) return refuse('wrongKeyType', `algorithm ${algorithm.toString(16)} is not for EC keys`);
    if (key.curve === undefined) return refuse('badInput', 'EC key without a curve');
    if (!engine.curves.includes(key.curve)) return refuse('unsupported', `the ${engine.name} engine has no ${key.curve}`);
    const hash = algorithm === 0x70 ? data : engine.digest(HASH_BY_INDEX[algorithm - 0x71] ?? 'sha256', data);
    if (algorithm === 0x70 && (data.length === 0 || data.length > 64)) return refuse('badInput', `a hash of ${data.length} bytes`);
    return success(ecdsaRawToDer(engine.ecSign(key.curve, key.material, hash), key.curve === 'secp521r1'));
  }
  if (key.kind === 'rsa') {
    const rsa = engine.rsa;
    if (!rsa) return refuse('unsupported', `the ${engine.name} engine has no RSA`);
    const modulusBytes = key.bits / 8;
    switch (true) {
      case algorithm === 0x20: {
        if (data.length !== modulusBytes || !key.publicKey || !bigEndianLessThan(data, key.publicKey)) {
          return refuse('badInput', `raw RSA needs a ${modulusBytes}-byte block below the modulus`);
        }
        return success(rsa.rawPrivate(key.material, data));
      }
      case algorithm === 0x30: {
        const block = pkcs1SignatureBlock(data, modulusBytes);
        if (!block) return refuse('badInput', 'DigestInfo too long for the modulus');
        return success(rsa.rawPrivate(key.material, block));
      }
      case algorithm >= 0x31 && algorithm <= 0x35: {
        const hash = HASH_BY_INDEX[algorithm - 0x31] ?? 'sha256';
        return success(rsa.signPkcs1(key.material, hash, engine.digest(hash, data)));
      }
      case algorithm === 0x40: {
        // A bare digest (the hash chosen by its length), or a DigestInfo, which OpenSC 0.23 sends.
        const fromDigestInfo = digestFromDigestInfo(data);
        const digest = fromDigestInfo ? fromDigestInfo.digest : data;
        const hash = fromDigestInfo ? fromDigestInfo.hash : hashForDigestLength(data.length);
        if (!hash) return refuse('badInput', `no hash has a ${data.length}-byte digest and the data is no DigestInfo`);
        return success(rsa.signPss(key.material, hash, digest, digest.length));
      }
      case algorithm >= 0x41 && algorithm <= 0x45: {
        const hash = HASH_BY_INDEX[algorithm - 0x41] ?? 'sha256';
        const digest = engine.digest(hash, data);
        return success(rsa.signPss(key.material, hash, digest, digest.length));
      }
      default:
        return refuse('wrongKeyType', `algorithm ${algorithm.toString(16)} is not an RSA signature`);
    }
  }
  return refuse('wrongKeyType', 'an AES key cannot sign (use CMAC, algorithm 18)');
}

export function decipher(engine: CryptoEngine, key: UnsealedKey, algorithm: number, data: Uint8Array): OperationResult {
  if (algorithm === 0x80) {
    if (key.kind !== 'ec' || key.curve === undefined) return refuse('wrongKeyType', 'ECDH needs an EC key');
    try {
      const shared = engine.ecdh(key.curve, key.material, data);
      const answer = new Uint8Array(shared.length + 1);
      answer[0] = 0x04;
      answer.set(shared, 1);
      shared.fill(0);
      return success(answer);
    } catch (error) {
      return refuse('badInput', `the peer point is not on ${key.curve}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  if (key.kind !== 'rsa') return refuse('wrongKeyType', `algorithm ${algorithm.toString(16)} needs an RSA key`);
  const rsa = engine.rsa;
  if (!rsa) return refuse('unsupported', `the ${engine.name} engine has no RSA`);
  const modulusBytes = key.bits / 8;
  if (data.length !== modulusBytes || !key.publicKey || !bigEndianLessThan(data, key.publicKey)) {
    return refuse('badInput', `a ciphertext must be ${modulusBytes} bytes below the modulus`);
  }
  switch (algorithm) {
    case 0x21:
      return success(rsa.rawPrivate(key.material, data));
    case 0x22: {
      const plain = rsa.decryptPkcs1(key.material, data);
      if (plain) return success(plain);
      // Implicit rejection: a bad padding answers a pseudo-random message derived from the key and the ciphertext
      // instead of an error, so the status word is no padding oracle (Bleichenbacher, Marvin).
      const seed = engine.hmac('sha256', engine.digest('sha256', key.material), data);
      const length = (((seed[0] ?? 0) << 8) | (seed[1] ?? 0)) % (modulusBytes - 10);
      return success(length === 0 ? new Uint8Array(0) : engine.hkdfSha256(seed, new Uint8Array(0), IMPLICIT_REJECTION_INFO, length));
    }
    case 0x23: {
      const plain = rsa.decryptOaep(key.material, 'sha256', data);
      return plain ? success(plain) : refuse('badInput', 'OAEP padding is invalid');
    }
    default:
      return refuse('wrongKeyType', `algorithm ${algorithm.toString(16)} is not a decipher algorithm`);
  }
}

export interface CipherRequest {
  readonly algorithm: number;
  readonly data: Uint8Array;
  readonly mode?: 'gcm' | 'ctr';
  readonly iv?: Uint8Array;
  readonly associatedData?: Uint8Array;
  readonly salt?: Uint8Array;
  readonly outputLength?: number;
}

export function cipher(engine: CryptoEngine, key: UnsealedKey, request: CipherRequest): OperationResult {
  if (key.kind !== 'aes') return refuse('wrongKeyType', 'symmetric operations need an AES key');
  const aes = engine.aes;
  const { algorithm, data } = request;
  if (algorithm === 0x99) {
    const length = request.outputLength ?? 32;
    if (length < 1 || length > 255 * 32) return refuse('badInput', 'HKDF output must be 1 to 8160 bytes');
    return success(engine.hkdfSha256(key.material, request.salt ?? new Uint8Array(0), data, length));
  }
  if (!aes) return refuse('unsupported', `the ${engine.name} engine has no AES`);
  switch (algorithm) {
    case 0x10:
    case 0x11: {
      if (data.length === 0 || data.length % 16 !== 0) return refuse('badInput', 'AES-CBC data must be a non-empty multiple of 16 bytes');
      const zeroIv = new Uint8Array(16);
      return success(algorithm === 0x10 ? aes.cbcEncrypt(key.material, zeroIv, data) : aes.cbcDecrypt(key.material, zeroIv, data));
    }
    case 0x18:
      return success(aes.cmac(key.material, data));
    case 0x51:
    case 0x52: {
      const iv = request.iv;
      if (request.mode === 'gcm') {
        if (!iv || iv.length < 12) return refuse('badInput', 'AES-GCM needs an IV of at least 12 bytes');
        if (algorithm === 0x51) return success(aes.gcmSeal(key.material, iv, data, request.associatedData ?? new Uint8Array(0)));
        const opened = aes.gcmOpen(key.material, iv, data, request.associatedData ?? new Uint8Array(0));
        return opened ? success(opened) : refuse('badInput', 'the GCM tag does not verify');
      }
      if (request.mode === 'ctr') {
        if (!iv || iv.length !== 16) return refuse('badInput', 'AES-CTR needs a 16-byte counter block');
        return success(aes.ctr(key.material, iv, data));
      }
      return refuse('badInput', 'the extended form needs a mode (GCM or CTR)');
    }
    default:
      return refuse('wrongKeyType', `algorithm ${algorithm.toString(16)} is not a symmetric algorithm`);
  }
}
