/**
 * Signature and padding formats at the card interface: DER-encoded ECDSA signatures (what OpenSC expects from
 * COMPUTE SIGNATURE), PKCS#1 v1.5 DigestInfo prefixes and EMSA-PKCS1-v1_5 block formatting (RFC 8017 9.2).
 */
import type { HashName } from '../../hal/crypto/types.js';
import { concat, parseTlvList, readTlv } from './tlv.js';

function derInteger(bytes: Uint8Array, keepWidth: boolean): Uint8Array {
  let start = 0;
  while (!keepWidth && start < bytes.length - 1 && bytes[start] === 0) start++;
  let value = bytes.subarray(start);
  if ((value[0] ?? 0) & 0x80) value = concat(Uint8Array.of(0), value);
  return concat(Uint8Array.of(0x02), derLength(value.length), value);
}

function derLength(length: number): Uint8Array {
  if (length < 0x80) return Uint8Array.of(length);
  if (length < 0x100) return Uint8Array.of(0x81, length);
  return Uint8Array.of(0x82, length >> 8, length & 0xff);
}

/**
 * r || s (two equal halves) as DER: SEQUENCE { INTEGER r, INTEGER s }, minimal integers, except with `keepWidth`:
 * then each integer keeps the full field width (leading zero bytes included). OpenSC's sc-hsm driver guesses the
 * field size from the DER length (card-sc-hsm.c sc_hsm_decode_ecdsa_signature: <= 137 bytes means 64-byte fields);
 * a minimal P-521 signature whose r and s both have a zero top byte (one in four) is 137 bytes and would be misread
 * as a 512-bit one, so P-521 answers keep the width. Clients that want strict DER re-encode (minimalEcdsaDer).
 */
export function ecdsaRawToDer(raw: Uint8Array, keepWidth = false): Uint8Array {
  const half = raw.length / 2;
  const body = concat(derInteger(raw.subarray(0, half), keepWidth), derInteger(raw.subarray(half), keepWidth));
  return concat(Uint8Array.of(0x30), derLength(body.length), body);
}

/** The two integers of a DER ECDSA signature as r || s of `fieldBytes` each; undefined when malformed. */
export function ecdsaDerToRaw(der: Uint8Array, fieldBytes: number): Uint8Array | undefined {
  const sequence = readTlv(der);
  if (!sequence || sequence.item.tag !== 0x30 || sequence.next !== der.length) return undefined;
  const integers = parseTlvList(sequence.item.value);
  if (!integers || integers.length !== 2 || integers.some((item) => item.tag !== 0x02)) return undefined;
  const raw = new Uint8Array(2 * fieldBytes);
  for (const [index, item] of integers.entries()) {
    let value = item.value;
    while (value.length > fieldBytes && value[0] === 0) value = value.subarray(1);
    if (value.length > fieldBytes) return undefined;
    raw.set(value, fieldBytes * (index + 1) - value.length);
  }
  return raw;
}

/** The strict (minimal) DER form of an ECDSA signature, whatever integer widths it came with. */
export function minimalEcdsaDer(der: Uint8Array): Uint8Array | undefined {
  const sequence = readTlv(der);
  const integers = sequence && sequence.item.tag === 0x30 ? parseTlvList(sequence.item.value) : undefined;
  if (!integers || integers.length !== 2) return undefined;
  const width = Math.max(...integers.map((item) => item.value.length));
  const raw = ecdsaDerToRaw(der, width);
  return raw ? ecdsaRawToDer(raw) : undefined;
}

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
