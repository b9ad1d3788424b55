/**
 * ECDSA signature formats at the card interface: DER-encoded signatures (what OpenSC expects from COMPUTE
 * SIGNATURE) and back. The RSA formats (DigestInfo, EMSA-PKCS1-v1_5) are in pkcs1-formats.ts, which only the RSA
 * operations import, so a board without RSA does not carry them.
 */
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
