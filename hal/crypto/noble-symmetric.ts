/**
 * The symmetric half of the noble-based engines (portable and device): digests, HMAC, PBKDF2, HKDF and
 * ChaCha20-Poly1305 from @noble/hashes and @noble/ciphers. No @noble/curves here, so the device engine can use it
 * on Kaluma (see hal/crypto/device.ts for what these libraries need from the runtime).
 */
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha1 } from '@noble/hashes/legacy.js';
import { pbkdf2 } from '@noble/hashes/pbkdf2.js';
import { sha224, sha256, sha384, sha512 } from '@noble/hashes/sha2.js';
import type { CryptoEngine, HashName } from './types.js';

const hashes = { sha1, sha224, sha256, sha384, sha512 } as const;

function hashOf(name: HashName): (typeof hashes)[HashName] {
  const hash = hashes[name];
  if (hash === undefined) throw new Error(`unknown hash ${String(name)}`);
  return hash;
}

export const nobleSymmetric: Pick<CryptoEngine, 'digest' | 'hmac' | 'pbkdf2Sha256' | 'hkdfSha256' | 'aeadSeal' | 'aeadOpen'> = {
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
