/**
 * The cryptographic operations behind COMPUTE SIGNATURE, DECIPHER and CIPHER SYMMETRIC, as pure functions of an
 * unsealed key, the engine and the algorithm families the board provides. The crypto actor calls them and zeroes
 * the key material afterwards.
 *
 * This file dispatches by key kind and algorithm; the work is in the families (actors/crypto/ec.ts, rsa.ts,
 * aes.ts). The board passes the families it offers (boards/device.ts, `OperationFamilies`): a family it does not
 * pass is not in its bundle, and its keys and algorithms are refused exactly as an engine without that family
 * refuses them (code `unsupported`, which the applet answers with 6A86).
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
import type { Entropy } from '../../hal/types.js';
import type { AesEngine, CryptoEngine, CurveName, HashName, RsaEngine } from '../../hal/crypto/types.js';

export type RefusalCode = 'wrongKeyType' | 'badInput' | 'unsupported';
export type OperationResult = { ok: true; data: Uint8Array } | { ok: false; code: RefusalCode; detail: string };

export interface UnsealedKey {
  readonly kind: 'ec' | 'rsa' | 'aes';
  readonly curve?: CurveName;
  readonly bits: number;
  readonly publicKey?: Uint8Array;
  readonly material: Uint8Array;
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

/** A new key pair, ready for its CV request and the key store. */
export interface GeneratedKeyPair {
  /** The private key (the caller zeroes it when the key is stored). */
  readonly material: Uint8Array;
  /** The 7F49 public key object of the CV body. */
  readonly publicKeyTlv: Uint8Array;
  /** The new key's own signature over the CV body (the inner signature of the request). */
  signBody(body: Uint8Array): Uint8Array;
  /** The key's public description for the key store. */
  readonly stored: { readonly kind: 'ec' | 'rsa'; readonly bits: number; readonly curve?: CurveName; readonly publicKey: Uint8Array; readonly publicExponent?: Uint8Array };
}

export type KeyPairGeneration = { ok: true; pair: GeneratedKeyPair } | { ok: false; detail: string };

/** An engine that has RSA (what the RSA family works on). */
export type RsaCapableEngine = CryptoEngine & { readonly rsa: RsaEngine };
/** An engine that has AES (what the AES family works on). */
export type AesCapableEngine = CryptoEngine & { readonly aes: AesEngine };

/** EC keys: every board has them (the device key is P-256). */
export interface EcOperations {
  generateKeyPair(engine: CryptoEngine, curve: CurveName | undefined, entropy: Entropy): KeyPairGeneration;
  sign(engine: CryptoEngine, key: UnsealedKey, algorithm: number, data: Uint8Array): OperationResult;
  /** ECDH (DECIPHER 80) with any key: a key that is not EC is refused. */
  agree(engine: CryptoEngine, key: UnsealedKey, peerPoint: Uint8Array): OperationResult;
}

/** RSA keys (host boards). */
export interface RsaOperations {
  /** Modulus sizes offered. */
  readonly bits: readonly number[];
  generateKeyPair(engine: RsaCapableEngine, bits: number | undefined, publicExponent: number | undefined): Promise<KeyPairGeneration>;
  sign(engine: RsaCapableEngine, key: UnsealedKey, algorithm: number, data: Uint8Array): OperationResult;
  /** DECIPHER 21, 22, 23 with an RSA key. */
  decipher(engine: RsaCapableEngine, key: UnsealedKey, algorithm: number, data: Uint8Array): OperationResult;
}

/** AES keys (host boards). */
export interface AesOperations {
  /** Key sizes offered. */
  readonly bits: readonly number[];
  /** CIPHER SYMMETRIC with an AES key, every algorithm but HKDF (99, which needs no AES). */
  cipher(engine: AesCapableEngine, key: UnsealedKey, request: CipherRequest): OperationResult;
}

/** The algorithm families a board offers: EC always, RSA and AES where the board carries them. */
export interface OperationFamilies {
  readonly ec: EcOperations;
  readonly rsa?: RsaOperations;
  readonly aes?: AesOperations;
}

export const HASH_BY_INDEX: readonly HashName[] = ['sha1', 'sha224', 'sha256', 'sha384', 'sha512'];

/**
 * The hash of a hashing algorithm (71..75, 31..35, 41..45 from its `first` identifier), or a refusal when the engine
 * does not offer it (the Pico's engine has SHA-256 alone; a failed self-test disables a hash): `unsupported`, as for
 * any algorithm the device does not offer, instead of the engine throwing inside the crypto actor.
 */
export function offeredHash(engine: CryptoEngine, algorithm: number, first: number): { ok: true; hash: HashName } | { ok: false; refusal: OperationResult } {
  const hash = HASH_BY_INDEX[algorithm - first] ?? 'sha256';
  return engine.hashes.includes(hash) ? { ok: true, hash } : { ok: false, refusal: refuse('unsupported', `the ${engine.name} engine has no ${hash}`) };
}

export function success(data: Uint8Array): OperationResult {
  return { ok: true, data };
}
export function refuse(code: RefusalCode, detail: string): OperationResult {
  return { ok: false, code, detail };
}

export function hasRsa(engine: CryptoEngine): engine is RsaCapableEngine {
  return engine.rsa !== undefined;
}
export function hasAes(engine: CryptoEngine): engine is AesCapableEngine {
  return engine.aes !== undefined;
}

/** Why an RSA request is refused where RSA is not offered (the same words whether the board or the engine lacks it). */
export function noRsa(engine: CryptoEngine): string {
  return `the ${engine.name} engine has no RSA`;
}
export function noAes(engine: CryptoEngine): string {
  return `the ${engine.name} engine has no AES`;
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

export function sign(engine: CryptoEngine, families: OperationFamilies, key: UnsealedKey, algorithm: number, data: Uint8Array): OperationResult {
  switch (key.kind) {
    case 'ec':
      return families.ec.sign(engine, key, algorithm, data);
    case 'rsa':
      return families.rsa && hasRsa(engine) ? families.rsa.sign(engine, key, algorithm, data) : refuse('unsupported', noRsa(engine));
    case 'aes':
      return refuse('wrongKeyType', 'an AES key cannot sign (use CMAC, algorithm 18)');
  }
}

export function decipher(engine: CryptoEngine, families: OperationFamilies, key: UnsealedKey, algorithm: number, data: Uint8Array): OperationResult {
  if (algorithm === 0x80) return families.ec.agree(engine, key, data);
  if (key.kind !== 'rsa') return refuse('wrongKeyType', `algorithm ${algorithm.toString(16)} needs an RSA key`);
  return families.rsa && hasRsa(engine) ? families.rsa.decipher(engine, key, algorithm, data) : refuse('unsupported', noRsa(engine));
}

export function cipher(engine: CryptoEngine, families: OperationFamilies, key: UnsealedKey, request: CipherRequest): OperationResult {
  if (key.kind !== 'aes') return refuse('wrongKeyType', 'symmetric operations need an AES key');
  if (request.algorithm === 0x99) {
    const length = request.outputLength ?? 32;
    if (length < 1 || length > 255 * 32) return refuse('badInput', 'HKDF output must be 1 to 8160 bytes');
    return success(engine.hkdfSha256(key.material, request.salt ?? new Uint8Array(0), request.data, length));
  }
  return families.aes && hasAes(engine) ? families.aes.cipher(engine, key, request) : refuse('unsupported', noAes(engine));
}
