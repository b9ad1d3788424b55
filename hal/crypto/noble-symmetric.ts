/**
 * The symmetric half of the noble-based engines (portable and device): digests, HMAC, PBKDF2, HKDF and
 * ChaCha20-Poly1305 from @noble/hashes and @noble/ciphers. No @noble/curves here, so the device engine can use it
 * on Kaluma (see hal/crypto/device.ts for what these libraries need from the runtime).
 *
 * The caller names the digests it offers, so the device engine bundles SHA-256 alone (SHA-512's 64-bit code and
 * SHA-1 stay out of the Pico build) while the portable engine offers all five.
 */
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { pbkdf2 } from '@noble/hashes/pbkdf2.js';
import { sha256 } from '@noble/hashes/sha2.js';
import type { CHash } from '@noble/hashes/utils.js';
import type { CryptoEngine, HashName } from './types.js';

export type NobleSymmetric = Pick<CryptoEngine, 'hashes' | 'digest' | 'hmac' | 'pbkdf2Sha256' | 'hkdfSha256' | 'aeadSeal' | 'aeadOpen'>;

/** The symmetric primitives over `digests` (which must include SHA-256, used by PBKDF2 and HKDF). */
export function nobleSymmetric(digests: Partial<Record<HashName, CHash>>): NobleSymmetric {
  const hashes = (Object.keys(digests) as HashName[]).filter((name) => digests[name] !== undefined);
  const hashOf = (name: HashName): CHash => {
    const hash = digests[name];
    if (hash === undefined) throw new Error(`this engine does not implement ${String(name)}`);
    return hash;
  };
  return {
    hashes,
    digest: (hash, data) => hashOf(hash)(data),
    hmac: (hash, key, data) => hmac(hashOf(hash), key, data),
    pbkdf2Sha256: (password, salt, iterations, length) => pbkdf2(sha256, password, salt, { c: iterations, dkLen: length }),
    hkdfSha256: (inputKey, salt, info, length) => hkdf(sha256, inputKey, salt, info, length),
    aeadSeal: (key, nonce, plaintext, associatedData) => chacha20poly1305(key, nonce, associatedData).encrypt(plaintext),
    aeadOpen(key, nonce, sealed, associatedData) {
      try {
        return chacha20poly1305(key, nonce, associatedData).decrypt(sealed);
      } catch {
        return undefined;
      }
    },
  };
}
