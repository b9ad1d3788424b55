/**
 * The portable crypto engine: @noble/curves, @noble/ciphers and @noble/hashes, the reference on every board (the
 * Pico runs hal/crypto/device.ts: the same symmetric half, P-256 on an engine-safe implementation).
 * No RSA (noble has none).
 */
import { cbc, cmac, ctr, gcm } from '@noble/ciphers/aes.js';
import { brainpoolP256r1, brainpoolP384r1, brainpoolP512r1 } from '@noble/curves/misc.js';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha1 } from '@noble/hashes/legacy.js';
import { sha224, sha256, sha384, sha512 } from '@noble/hashes/sha2.js';
import { nobleSymmetric } from './noble-symmetric.js';
import { EXTENDED_KNOWN_ANSWER_TESTS } from './self-test-extended.js';
import { EC_CURVES, ecSeedLength, type AesEngine, type CryptoEngine, type CurveName } from './types.js';

const curves = {
  secp256r1: p256,
  secp384r1: p384,
  secp521r1: p521,
  secp256k1,
  brainpoolP256r1,
  brainpoolP384r1,
  brainpoolP512r1,
} as const;

function curveOf(name: CurveName): (typeof curves)[CurveName] {
  return curves[name];
}

/**
 * AES on @noble/ciphers. CBC runs with `disablePadding` (whole blocks only; noble throws otherwise); CTR
 * increments the full 16-byte counter block; GCM refuses IVs under 8 bytes (noble's floor, part of the
 * AesEngine contract) and takes any longer length; CMAC is noble's RFC 4493 implementation.
 */
const portableAes: AesEngine = {
  cbcEncrypt: (key, iv, data) => cbc(key, iv, { disablePadding: true }).encrypt(data),
  cbcDecrypt: (key, iv, data) => cbc(key, iv, { disablePadding: true }).decrypt(data),
  ctr: (key, counter, data) => ctr(key, counter).encrypt(data),
  gcmSeal: (key, iv, plaintext, associatedData) => gcm(key, iv, associatedData).encrypt(plaintext),
  gcmOpen(key, iv, sealed, associatedData) {
    // Parameter errors (key or IV length) throw; only a failed tag check yields undefined.
    const cipher = gcm(key, iv, associatedData);
    try {
      return cipher.decrypt(sealed);
    } catch {
      return undefined;
    }
  },
  cmac: (key, data) => cmac(data, key),
};

export const portableEngine: CryptoEngine = {
  name: 'portable',
  aes: portableAes,
  curves: EC_CURVES,
  ...nobleSymmetric({ sha1, sha224, sha256, sha384, sha512 }),
  knownAnswerTests: EXTENDED_KNOWN_ANSWER_TESTS,
  ecGenerate(curve, randomness) {
    const implementation = curveOf(curve);
    const needed = ecSeedLength(curve);
    if (randomness.length < needed) throw new Error(`${curve} key generation needs ${needed} random bytes`);
    // The same reduction keygen() does ((seed mod (n-1)) + 1), without its compressed public key: one scalar
    // multiplication instead of two.
    const secretKey = implementation.utils.randomSecretKey(randomness.subarray(0, needed));
    return { privateKey: secretKey, publicKey: implementation.getPublicKey(secretKey, false) };
  },
  ecPublicKey: (curve, privateKey) => curveOf(curve).getPublicKey(privateKey, false),
  ecSign: (curve, privateKey, hash) => curveOf(curve).sign(hash, privateKey, { prehash: false, lowS: false, format: 'compact' }),
  ecVerify(curve, publicKey, hash, signature) {
    try {
      return curveOf(curve).verify(signature, hash, publicKey, { prehash: false, lowS: false, format: 'compact' });
    } catch {
      return false;
    }
  },
  ecdh(curve, privateKey, peerPublicKey) {
    const implementation = curveOf(curve);
    if (!implementation.utils.isValidPublicKey(peerPublicKey, false)) throw new Error('peer public key is not a valid point on the curve');
    return implementation.getSharedSecret(privateKey, peerPublicKey, true).subarray(1);
  },
};
