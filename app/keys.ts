/**
 * Key descriptions for the management tool and the client library, from the files the SmartCard-HSM keeps:
 *
 *   CCxx  the key itself (never readable)
 *   CExx  the authenticated certificate request GENERATE ASYMMETRIC KEY PAIR returned: 67 { 7F21 {...}, 42, 5F37 }
 *         (the public key, the key's self-signature, the device's outer signature)
 *   C4xx  the PKCS#15 private-key description (PrKD) OpenSC or this tool wrote: label and ID; opaque otherwise
 *
 * and the conversions scripts need: public keys as SubjectPublicKeyInfo (DER, PEM) that openssl reads, the CV body
 * GENERATE ASYMMETRIC KEY PAIR takes, and the signature checks of a request (inner by the key, outer by the device).
 */
import { createPublicKey, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { curveFromDomain, OID, parseCvCertificate } from '../actors/card/cvc.js';
import { concat, findTlv, parseTlvList, readTlv, readUint, tlv } from '../actors/card/tlv.js';
import { EC_CURVES, type CurveName } from '../hal/crypto/types.js';
import { der, derChildren, readDer, toPem } from './pem.js';

export type { CurveName };
export { EC_CURVES };

/** Named-curve OIDs for SubjectPublicKeyInfo (RFC 5480, RFC 5639). */
export const CURVE_OIDS: Readonly<Record<CurveName, string>> = {
  secp256r1: '1.2.840.10045.3.1.7',
  secp384r1: '1.3.132.0.34',
  secp521r1: '1.3.132.0.35',
  secp256k1: '1.3.132.0.10',
  brainpoolP256r1: '1.3.36.3.3.2.8.1.1.7',
  brainpoolP384r1: '1.3.36.3.3.2.8.1.1.11',
  brainpoolP512r1: '1.3.36.3.3.2.8.1.1.13',
};

const CURVE_ALIASES: Readonly<Record<string, CurveName>> = {
  p256: 'secp256r1', 'p-256': 'secp256r1', prime256v1: 'secp256r1', secp256r1: 'secp256r1', nistp256: 'secp256r1',
  p384: 'secp384r1', 'p-384': 'secp384r1', secp384r1: 'secp384r1', nistp384: 'secp384r1',
  p521: 'secp521r1', 'p-521': 'secp521r1', secp521r1: 'secp521r1', nistp521: 'secp521r1',
  secp256k1: 'secp256k1', k256: 'secp256k1',
  brainpoolp256r1: 'brainpoolP256r1', brainpoolp384r1: 'brainpoolP384r1', brainpoolp512r1: 'brainpoolP512r1',
};

/** A curve from a user's spelling (p256, P-256, prime256v1, secp256r1, brainpoolP256r1, ...). */
export function curveFromName(name: string): CurveName | undefined {
  return CURVE_ALIASES[name.toLowerCase()];
}

export function curveBits(curve: CurveName): number {
  return { secp256r1: 256, secp384r1: 384, secp521r1: 521, secp256k1: 256, brainpoolP256r1: 256, brainpoolP384r1: 384, brainpoolP512r1: 512 }[curve];
}

export type KeySpec = { readonly kind: 'ec'; readonly curve: CurveName } | { readonly kind: 'rsa'; readonly bits: number } | { readonly kind: 'aes'; readonly bits: number };

/** Parses `ec:p256`, `ec:secp384r1`, `rsa:2048`, `aes:256` (also `p256`, `rsa2048`, `aes128`). */
export function parseKeySpec(text: string): KeySpec | undefined {
  const match = /^(ec|rsa|aes)?[:-]?(.+)$/i.exec(text.trim());
  if (!match) return undefined;
  const family = (match[1] ?? '').toLowerCase();
  const rest = match[2] ?? '';
  if (family === 'rsa' || family === 'aes') {
    const bits = Number(rest);
    if (!Number.isInteger(bits)) return undefined;
    return family === 'rsa' ? { kind: 'rsa', bits } : { kind: 'aes', bits };
  }
  const curve = curveFromName(rest);
  return curve ? { kind: 'ec', curve } : undefined;
}

export function describeSpec(spec: KeySpec): string {
  return spec.kind === 'ec' ? `EC ${spec.curve}` : `${spec.kind.toUpperCase()}-${spec.bits}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Public keys

export type PublicKey = { readonly kind: 'ec'; readonly curve: CurveName; readonly point: Uint8Array } | { readonly kind: 'rsa'; readonly modulus: Uint8Array; readonly exponent: Uint8Array };

/** SubjectPublicKeyInfo DER: id-ecPublicKey with the named curve, or rsaEncryption with an RSAPublicKey. */
export function spkiDer(key: PublicKey): Uint8Array {
  if (key.kind === 'ec') {
    return der.sequence(der.sequence(der.oid('1.2.840.10045.2.1'), der.oid(CURVE_OIDS[key.curve])), der.bitString(key.point));
  }
  return der.sequence(der.sequence(der.oid('1.2.840.113549.1.1.1'), der.null()), der.bitString(der.sequence(der.integer(key.modulus), der.integer(key.exponent))));
}

export function spkiPem(key: PublicKey): string {
  return toPem('PUBLIC KEY', spkiDer(key));
}

export function publicKeyObject(key: PublicKey): KeyObject {
  return createPublicKey({ key: Buffer.from(spkiDer(key)), format: 'der', type: 'spki' });
}

/** Reads a public key from SPKI DER (EC named curves we know, RSA); undefined otherwise. */
export function publicKeyFromSpki(spki: Uint8Array): PublicKey | undefined {
  const top = readDer(spki);
  const parts = top && top.node.tag === 0x30 ? derChildren(top.node.value) : undefined;
  const algorithm = parts?.[0] && parts[0].tag === 0x30 ? derChildren(parts[0].value) : undefined;
  const bits = parts?.[1];
  if (!algorithm || !bits || bits.tag !== 0x03 || algorithm[0]?.tag !== 0x06) return undefined;
  const keyBytes = bits.value.subarray(1);
  const oid = Buffer.from(algorithm[0].value).toString('hex');
  if (oid === '2a8648ce3d0201' && algorithm[1]?.tag === 0x06) {
    const curveOid = Buffer.from(algorithm[1].value).toString('hex');
    for (const curve of EC_CURVES) {
      if (Buffer.from(der.oid(CURVE_OIDS[curve]).subarray(2)).toString('hex') === curveOid) return { kind: 'ec', curve, point: keyBytes };
    }
    return undefined;
  }
  if (oid === '2a864886f70d010101') {
    const sequence = readDer(keyBytes);
    const integers = sequence ? derChildren(sequence.node.value) : undefined;
    if (!integers || integers.length !== 2) return undefined;
    const strip = (value: Uint8Array): Uint8Array => (value[0] === 0 ? value.subarray(1) : value);
    return { kind: 'rsa', modulus: strip(integers[0]!.value), exponent: strip(integers[1]!.value) };
  }
  return undefined;
}

function stripZeros(bytes: Uint8Array): Uint8Array {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  return bytes.subarray(start);
}

// ---------------------------------------------------------------------------------------------------------------
// Certificate requests (CExx) and the device certificate (2F02)

export interface KeyRequest {
  readonly publicKey: PublicKey;
  readonly car: string;
  readonly chr: string;
  /** The encoded 7F4E body the inner signature covers. */
  readonly body: Uint8Array;
  readonly innerSignature: Uint8Array;
  /** Present for an authenticated request (67): the outer CAR (the device's CHR), what it signs, and the signature. */
  readonly outer?: { readonly car: string; readonly signedPart: Uint8Array; readonly signature: Uint8Array };
}

const fromAscii = new TextDecoder();

/** Parses a CV certificate (7F21) or authenticated request (67) with an EC or RSA public key; undefined when not. */
export function parseKeyRequest(bytes: Uint8Array): KeyRequest | undefined {
  const parsed = parseCvCertificate(bytes);
  if (!parsed) return undefined;
  const keyFields = parseTlvList(readTlv(parsed.publicKey)?.item.value ?? new Uint8Array(0));
  if (!keyFields) return undefined;
  const oid = findTlv(keyFields, 0x06);
  if (!oid) return undefined;
  let publicKey: PublicKey;
  const isRsa = oid.length === OID.rsaV15Sha256.length && oid.subarray(0, 9).every((byte, index) => byte === OID.rsaV15Sha256[index]);
  if (isRsa) {
    const modulus = findTlv(keyFields, 0x81);
    const exponent = findTlv(keyFields, 0x82);
    if (!modulus || !exponent) return undefined;
    publicKey = { kind: 'rsa', modulus: stripZeros(modulus), exponent: stripZeros(exponent) };
  } else {
    const prime = findTlv(keyFields, 0x81);
    const point = findTlv(keyFields, 0x86);
    if (!point) return undefined;
    // The device certificate carries only the point: the device key is P-256; otherwise the prime says the curve.
    const curve = prime ? curveFromDomain(prime, findTlv(keyFields, 0x82), findTlv(keyFields, 0x83), EC_CURVES) : curveFromPointLength(point.length);
    if (!curve) return undefined;
    publicKey = { kind: 'ec', curve, point };
  }
  const request: KeyRequest = { publicKey, car: parsed.car, chr: parsed.chr, body: parsed.body, innerSignature: parsed.signature };
  const top = readTlv(bytes);
  if (top && top.item.tag === 0x67) {
    const parts = parseTlvList(top.item.value);
    const certificate = parts?.find((item) => item.tag === 0x7f21);
    const outerCar = parts ? findTlv(parts, 0x42) : undefined;
    const outerSignature = parts ? findTlv(parts, 0x5f37) : undefined;
    if (certificate && outerCar && outerSignature) {
      return { ...request, outer: { car: fromAscii.decode(outerCar), signedPart: concat(tlv(0x7f21, certificate.value), tlv(0x42, outerCar)), signature: outerSignature } };
    }
  }
  return request;
}

function curveFromPointLength(length: number): CurveName | undefined {
  return length === 65 ? 'secp256r1' : length === 97 ? 'secp384r1' : length === 133 ? 'secp521r1' : undefined;
}

/**
 * Verifies a CV signature: ECDSA with SHA-256 in plain r || s format, or RSA PKCS#1 v1.5 with SHA-256 (the formats
 * the device produces for requests and its own certificate).
 */
export function verifyCvSignature(signer: PublicKey, signed: Uint8Array, signature: Uint8Array): boolean {
  try {
    const key = publicKeyObject(signer);
    if (signer.kind === 'ec') return nodeVerify('sha256', signed, { key, dsaEncoding: 'ieee-p1363' }, signature);
    return nodeVerify('sha256', signed, key, signature);
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// GENERATE ASYMMETRIC KEY PAIR bodies

export { REQUEST_CAR, ecGenerateBody, rsaGenerateBody } from '../actors/card/cvc.js';

// ---------------------------------------------------------------------------------------------------------------
// PKCS#15 private-key descriptions (C4xx)

/**
 * A PrKD like the one OpenSC and the original firmware write: label, ID = the key id byte (what `pkcs11-tool --id
 * 01` means), usage sign+derive (EC) or decrypt+sign+signRecover+unwrap (RSA), empty path, key size.
 */
export function buildPrkd(kind: 'ec' | 'rsa', keyId: number, label: string, bits: number): Uint8Array {
  const common = der.sequence(der.utf8(label), der.bitString(Uint8Array.of(0xc0), 6), der.octetString(Uint8Array.of(0x01)));
  const usage = kind === 'ec' ? der.bitString(Uint8Array.of(0x20, 0x80), 7) : der.bitString(Uint8Array.of(0x74), 2);
  const keyAttributes = der.sequence(der.octetString(Uint8Array.of(keyId)), usage);
  const typeAttributes = der.tlv(0xa1, der.sequence(der.sequence(der.octetString(new Uint8Array(0))), der.integer(bits)));
  return der.tlv(kind === 'ec' ? 0xa0 : 0x30, common, keyAttributes, typeAttributes);
}

/** Label and ID of a PrKD; undefined when the bytes are not one (the caller then treats them as opaque). */
export function parsePrkd(bytes: Uint8Array): { label?: string; id?: Uint8Array; kind: 'ec' | 'rsa' } | undefined {
  const top = readDer(bytes);
  if (!top || (top.node.tag !== 0xa0 && top.node.tag !== 0x30)) return undefined;
  const parts = derChildren(top.node.value);
  if (!parts || parts.length < 2 || parts[0]?.tag !== 0x30 || parts[1]?.tag !== 0x30) return undefined;
  const common = derChildren(parts[0].value);
  const keyAttributes = derChildren(parts[1].value);
  if (!common || !keyAttributes) return undefined;
  const label = common.find((node) => node.tag === 0x0c);
  const id = keyAttributes.find((node) => node.tag === 0x04);
  return {
    kind: top.node.tag === 0xa0 ? 'ec' : 'rsa',
    ...(label ? { label: new TextDecoder().decode(label.value) } : {}),
    ...(id ? { id: new Uint8Array(id.value) } : {}),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Key descriptions

export interface KeyDescription {
  /** The key id (xx of CCxx), 1..255. */
  readonly id: number;
  /** 'secret' = a key without a public part (AES); 'unknown' = no request and no usable description. */
  readonly kind: 'ec' | 'rsa' | 'secret' | 'unknown';
  readonly curve?: CurveName;
  readonly bits?: number;
  readonly label?: string;
  /** The PKCS#15 ID in the description (OpenSC's --id), hex. */
  readonly pkcs15Id?: string;
  /** Whether C4xx exists and could be parsed ('opaque': present, not understood). */
  readonly description: 'parsed' | 'opaque' | 'absent';
  readonly publicKey?: PublicKey;
  /** The certificate holder reference of the request. */
  readonly chr?: string;
}

/** Builds a description from the files of one key (any of them may be absent). */
export function describeKey(id: number, files: { request?: Uint8Array; descriptor?: Uint8Array }): KeyDescription {
  const request = files.request ? parseKeyRequest(files.request) : undefined;
  const prkd = files.descriptor ? parsePrkd(files.descriptor) : undefined;
  const description = files.descriptor === undefined ? 'absent' : prkd ? 'parsed' : 'opaque';
  const base = {
    id,
    description,
    ...(prkd?.label ? { label: prkd.label } : {}),
    ...(prkd?.id ? { pkcs15Id: Buffer.from(prkd.id).toString('hex') } : {}),
  } as const;
  if (request) {
    const key = request.publicKey;
    if (key.kind === 'ec') return { ...base, kind: 'ec', curve: key.curve, bits: curveBits(key.curve), publicKey: key, chr: request.chr };
    return { ...base, kind: 'rsa', bits: stripZeros(key.modulus).length * 8, publicKey: key, chr: request.chr };
  }
  if (prkd) return { ...base, kind: prkd.kind };
  return { ...base, kind: files.request === undefined && files.descriptor === undefined ? 'secret' : 'unknown' };
}

export function keyTypeText(key: KeyDescription): string {
  switch (key.kind) {
    case 'ec':
      return `EC ${key.curve ?? '?'}`;
    case 'rsa':
      return `RSA-${key.bits ?? '?'}`;
    case 'secret':
      return 'secret (AES)';
    default:
      return 'unknown';
  }
}

/** The JSON form of a key description (`keys list --json`). */
export function keyToJson(key: KeyDescription): Record<string, unknown> {
  return {
    id: key.id,
    type: key.kind,
    ...(key.curve ? { curve: key.curve } : {}),
    ...(key.bits ? { bits: key.bits } : {}),
    ...(key.label !== undefined ? { label: key.label } : {}),
    ...(key.pkcs15Id ? { pkcs15Id: key.pkcs15Id } : {}),
    description: key.description,
    ...(key.chr ? { chr: key.chr } : {}),
    ...(key.publicKey ? { publicKeyPem: spkiPem(key.publicKey) } : {}),
  };
}

export { readUint };
