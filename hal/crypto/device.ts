/**
 * The device engine: what the Pico profile offers, with implementations that are correct on Kaluma's
 * JerryScript (docs: rp2040-kaluma.md).
 *
 * - EC: secp256r1 only, on hal/crypto/p256-safe.ts (no BigInt division: Kaluma's BigInt `/` and `%` are
 *   wrong for small remainders). Same key generation, signatures and ECDH bytes as the portable engine.
 * - SHA-256, HMAC, PBKDF2, HKDF and ChaCha20-Poly1305 (data at rest): hal/crypto/compact-symmetric.ts, written
 *   for the Pico's heap (~4 KB of bundle where @noble/hashes and @noble/ciphers took ~20 KB), 32-bit arithmetic
 *   only, checked against node:crypto and @noble in test/compact-symmetric.test.ts. SHA-256 is the only digest:
 *   what the firmware itself uses; OpenSC hashes on the host and sends ECDSA the digest (algorithm 0x70), so
 *   ECDSA-SHA1/224/384/512 (0x71-0x75) answer `unsupported` on the Pico.
 * - No RSA, no AES: the Pico does not offer them (@noble/ciphers' AES builds 64K-entry tables at import,
 *   larger than the 180 KB heap). This file's dependency tree must not reach @noble/curves either.
 */
import { compactSymmetric } from './compact-symmetric.js';
import { P256_SEED_BYTES, p256Ecdh, p256GenerateKey, p256PublicKey, p256Sign, p256Verify } from './p256-safe.js';
import type { CryptoEngine, CurveName } from './types.js';

function p256Only(curve: CurveName): void {
  if (curve !== 'secp256r1') throw new Error(`the device engine does not implement ${curve}`);
}

export const deviceEngine: CryptoEngine = {
  name: 'device',
  curves: ['secp256r1'],
  ...compactSymmetric,
  ecGenerate(curve, randomness) {
    p256Only(curve);
    if (randomness.length < P256_SEED_BYTES) throw new Error(`${curve} key generation needs ${P256_SEED_BYTES} random bytes`);
    return p256GenerateKey(randomness.subarray(0, P256_SEED_BYTES));
  },
  ecPublicKey(curve, privateKey) {
    p256Only(curve);
    return p256PublicKey(privateKey);
  },
  ecSign(curve, privateKey, hash) {
    p256Only(curve);
    return p256Sign(privateKey, hash);
  },
  ecVerify(curve, publicKey, hash, signature) {
    p256Only(curve);
    return p256Verify(publicKey, hash, signature);
  },
  ecdh(curve, privateKey, peerPublicKey) {
    p256Only(curve);
    return p256Ecdh(privateKey, peerPublicKey);
  },
};
