/**
 * PKCS#1 formats at the card interface (RFC 8017): the DER DigestInfo prefixes OpenSC sends for RSA signatures,
 * and EMSA-PKCS1-v1_5 block formatting (9.2). Imported by the RSA operations only (actors/crypto/rsa.ts).
 */
import type { HashName } from '../../hal/crypto/types.js';

/** DER DigestInfo prefixes (RFC 8017 9.2 note 1): prefix || digest is the DigestInfo. */
export const DIGEST_INFO_PREFIX: Readonly<Record<HashName, Uint8Array>> = {
  sha1: Uint8Array.of(0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14),
  sha224: Uint8Array.of(0x30, 0x2d, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x04, 0x05, 0x00, 0x04, 0x1c),
  sha256: Uint8Array.of(0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20),
  sha384: Uint8Array.of(0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30),
  sha512: Uint8Array.of(0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40),
};

export const HASH_LENGTH: Readonly<Record<HashName, number>> = { sha1: 20, sha224: 28, sha256: 32, sha384: 48, sha512: 64 };

/** The hash whose digest has this length (PSS with an external hash picks it this way). */
export function hashForDigestLength(length: number): HashName | undefined {
  for (const [name, size] of Object.entries(HASH_LENGTH) as [HashName, number][]) if (size === length) return name;
  return undefined;
}

/** EMSA-PKCS1-v1_5 block 00 01 FF..FF 00 || T for a k-byte modulus; undefined when T is too long. */
export function pkcs1SignatureBlock(digestInfo: Uint8Array, modulusBytes: number): Uint8Array | undefined {
  const padding = modulusBytes - digestInfo.length - 3;
  if (padding < 8) return undefined;
  const block = new Uint8Array(modulusBytes).fill(0xff);
  block[0] = 0x00;
  block[1] = 0x01;
  block[2 + padding] = 0x00;
  block.set(digestInfo, 3 + padding);
  return block;
}

/** The hash and digest inside a DER DigestInfo with one of the prefixes above, or undefined. */
export function digestFromDigestInfo(data: Uint8Array): { hash: HashName; digest: Uint8Array } | undefined {
  for (const [hash, prefix] of Object.entries(DIGEST_INFO_PREFIX) as [HashName, Uint8Array][]) {
    if (data.length === prefix.length + HASH_LENGTH[hash] && prefix.every((byte, index) => data[index] === byte)) {
      return { hash, digest: data.subarray(prefix.length) };
    }
  }
  return undefined;
}
