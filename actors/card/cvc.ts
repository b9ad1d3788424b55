/**
 * Card-verifiable certificates (BSI TR-03110 CVCs) as the SmartCard-HSM uses them: the device certificate in
 * 2F02 and the authenticated certificate requests returned by GENERATE ASYMMETRIC KEY PAIR.
 *
 *   certificate = 7F21 { 7F4E body, 5F37 signature }
 *   body        = 5F29 CPI, 42 CAR, 7F49 public key, 5F20 CHR [, 5F25 effective date, 5F24 expiry date]
 *   public key  = 7F49 { 06 algorithm OID, 81 p, 82 a, 83 b, 84 G, 85 n, 86 point, 87 cofactor }   (EC)
 *               = 7F49 { 06 algorithm OID, 81 modulus, 82 public exponent }                        (RSA)
 *   request     = 67 { 7F21 { 7F4E body, 5F37 self-signature }, 42 outer CAR, 5F37 outer signature }
 *
 * Signatures are ECDSA r || s ("plain" format) over the encoded body TLV (inner) or over 7F21 || 42 (outer).
 */
import { brainpoolP256r1, brainpoolP384r1, brainpoolP512r1 } from '@noble/curves/misc.js';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { curveByteLength, type CurveName } from '../../hal/crypto/types.js';
import { concat, findTlv, parseTlvList, readTlv, tlv } from './tlv.js';

const ascii = new TextEncoder();
const fromAscii = new TextDecoder();

/** id-TA (BSI TR-03110, 0.4.0.127.0.7.2.2.2) followed by the family (1 RSA, 2 ECDSA) and the variant arc. */
function taOid(family: number, variant: number): Uint8Array {
  return Uint8Array.of(0x04, 0x00, 0x7f, 0x00, 0x07, 0x02, 0x02, 0x02, family, variant);
}

/** id-TA-ECDSA-SHA-256 (0.4.0.127.0.7.2.2.2.2.3) and friends. */
export const OID = {
  ecdsaSha1: taOid(2, 1),
  ecdsaSha224: taOid(2, 2),
  ecdsaSha256: taOid(2, 3),
  ecdsaSha384: taOid(2, 4),
  ecdsaSha512: taOid(2, 5),
  rsaV15Sha256: taOid(1, 2),
  rsaPssSha256: taOid(1, 5),
} as const;

export interface EcDomain {
  readonly prime: Uint8Array;
  readonly a: Uint8Array;
  readonly b: Uint8Array;
  readonly generator: Uint8Array;
  readonly order: Uint8Array;
  readonly cofactor: Uint8Array;
}

const implementations = {
  secp256r1: p256,
  secp384r1: p384,
  secp521r1: p521,
  secp256k1,
  brainpoolP256r1,
  brainpoolP384r1,
  brainpoolP512r1,
} as const;

function bigToBytes(value: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let rest = value;
  for (let index = length - 1; index >= 0; index--) {
    out[index] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  return out;
}

const domainCache = new Map<CurveName, EcDomain>();

/** The curve's domain parameters as fixed-length big-endian byte strings (computed once per curve). */
export function ecDomain(curve: CurveName): EcDomain {
  const cached = domainCache.get(curve);
  if (cached) return cached;
  const parameters = implementations[curve].Point.CURVE();
  const length = curveByteLength(curve);
  const domain: EcDomain = {
    prime: bigToBytes(parameters.p, length),
    a: bigToBytes(parameters.a, length),
    b: bigToBytes(parameters.b, length),
    generator: concat(Uint8Array.of(0x04), bigToBytes(parameters.Gx, length), bigToBytes(parameters.Gy, length)),
    order: bigToBytes(parameters.n, length),
    cofactor: Uint8Array.of(Number(parameters.h)),
  };
  domainCache.set(curve, domain);
  return domain;
}

function stripLeadingZeros(bytes: Uint8Array): Uint8Array {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  return bytes.subarray(start);
}

function sameMagnitude(a: Uint8Array, b: Uint8Array): boolean {
  const left = stripLeadingZeros(a);
  const right = stripLeadingZeros(b);
  return left.length === right.length && left.every((byte, index) => byte === right[index]);
}

/** Identifies a curve from the domain parameters a client sent (prime, a, b; leading zeros ignored). */
export function curveFromDomain(prime: Uint8Array, a: Uint8Array | undefined, b: Uint8Array | undefined, allowed: readonly CurveName[]): CurveName | undefined {
  for (const curve of allowed) {
    const domain = ecDomain(curve);
    if (!sameMagnitude(domain.prime, prime)) continue;
    if (a && !sameMagnitude(domain.a, a)) continue;
    if (b && !sameMagnitude(domain.b, b)) continue;
    return curve;
  }
  return undefined;
}

export function ecPublicKeyTlv(curve: CurveName, point: Uint8Array, algorithm: Uint8Array = OID.ecdsaSha256): Uint8Array {
  const domain = ecDomain(curve);
  return tlv(
    0x7f49,
    tlv(0x06, algorithm),
    tlv(0x81, domain.prime),
    tlv(0x82, domain.a),
    tlv(0x83, domain.b),
    tlv(0x84, domain.generator),
    tlv(0x85, domain.order),
    tlv(0x86, point),
    tlv(0x87, domain.cofactor),
  );
}

export function rsaPublicKeyTlv(modulus: Uint8Array, exponent: Uint8Array, algorithm: Uint8Array = OID.rsaV15Sha256): Uint8Array {
  return tlv(0x7f49, tlv(0x06, algorithm), tlv(0x81, modulus), tlv(0x82, exponent));
}

/** YYMMDD as six bytes of decimal digits 0..9 (the CVC date format). */
export function cvcDate(date: Date): Uint8Array {
  const digits = `${String(date.getUTCFullYear() % 100).padStart(2, '0')}${String(date.getUTCMonth() + 1).padStart(2, '0')}${String(date.getUTCDate()).padStart(2, '0')}`;
  return Uint8Array.from(digits, (digit) => Number(digit));
}

export interface CvBodyFields {
  readonly car: string;
  readonly chr: string;
  readonly publicKey: Uint8Array;
  readonly effective?: Date;
  readonly expiry?: Date;
}

export function cvBody(fields: CvBodyFields): Uint8Array {
  const parts = [tlv(0x5f29, Uint8Array.of(0x00)), tlv(0x42, ascii.encode(fields.car)), fields.publicKey, tlv(0x5f20, ascii.encode(fields.chr))];
  if (fields.effective) parts.push(tlv(0x5f25, cvcDate(fields.effective)));
  if (fields.expiry) parts.push(tlv(0x5f24, cvcDate(fields.expiry)));
  return tlv(0x7f4e, ...parts);
}

export function cvCertificate(body: Uint8Array, signature: Uint8Array): Uint8Array {
  return tlv(0x7f21, body, tlv(0x5f37, signature));
}

/** The bytes the outer signature of an authenticated request covers. */
export function outerSignedPart(certificate: Uint8Array, outerCar: string): Uint8Array {
  return concat(certificate, tlv(0x42, ascii.encode(outerCar)));
}

export function authenticatedRequest(certificate: Uint8Array, outerCar: string, outerSignature: Uint8Array): Uint8Array {
  return tlv(0x67, outerSignedPart(certificate, outerCar), tlv(0x5f37, outerSignature));
}

export interface ParsedCv {
  readonly body: Uint8Array;
  readonly car: string;
  readonly chr: string;
  readonly publicKey: Uint8Array;
  readonly signature: Uint8Array;
  /** The 86 point of an EC key, or undefined for RSA. */
  readonly point: Uint8Array | undefined;
}

/** Parses a 7F21 certificate (or the one inside a 67 request); undefined when malformed. */
export function parseCvCertificate(bytes: Uint8Array): ParsedCv | undefined {
  const outer = readTlv(bytes);
  if (!outer) return undefined;
  let certificate = outer.item;
  if (certificate.tag === 0x67) {
    const inner = readTlv(certificate.value);
    if (!inner || inner.item.tag !== 0x7f21) return undefined;
    certificate = inner.item;
  }
  if (certificate.tag !== 0x7f21) return undefined;
  const parts = parseTlvList(certificate.value);
  if (!parts) return undefined;
  const bodyValue = findTlv(parts, 0x7f4e);
  const signature = findTlv(parts, 0x5f37);
  if (!bodyValue || !signature) return undefined;
  const fields = parseTlvList(bodyValue);
  if (!fields) return undefined;
  const car = findTlv(fields, 0x42);
  const chr = findTlv(fields, 0x5f20);
  const publicKeyValue = findTlv(fields, 0x7f49);
  if (!chr || !publicKeyValue) return undefined;
  const keyFields = parseTlvList(publicKeyValue);
  if (!keyFields) return undefined;
  return {
    body: tlv(0x7f4e, bodyValue),
    car: car ? fromAscii.decode(car) : '',
    chr: fromAscii.decode(chr),
    publicKey: tlv(0x7f49, publicKeyValue),
    signature,
    point: findTlv(keyFields, 0x86),
  };
}

/** The CAR OpenSC puts in every key-generation request (fixed). */
export const REQUEST_CAR = 'UTCA00001';

/**
 * The data of GENERATE ASYMMETRIC KEY PAIR for an EC key, as OpenSC sends it: the CV body's contents with the full
 * domain parameters and no point; `extra` appends policy objects (90 usage counter, 91 allowed algorithms).
 */
export function ecGenerateBody(curve: CurveName, chr: string, extra: readonly Uint8Array[] = []): Uint8Array {
  const domain = ecDomain(curve);
  return concat(
    tlv(0x5f29, Uint8Array.of(0)),
    tlv(0x42, ascii.encode(REQUEST_CAR)),
    tlv(0x7f49, tlv(0x06, OID.ecdsaSha256), tlv(0x81, domain.prime), tlv(0x82, domain.a), tlv(0x83, domain.b), tlv(0x84, domain.generator), tlv(0x85, domain.order), tlv(0x87, domain.cofactor)),
    tlv(0x5f20, ascii.encode(chr)),
    ...extra,
  );
}

/** The same for an RSA key: public exponent 65537 and the modulus size in bits. */
export function rsaGenerateBody(bits: number, chr: string, extra: readonly Uint8Array[] = []): Uint8Array {
  return concat(
    tlv(0x5f29, Uint8Array.of(0)),
    tlv(0x42, ascii.encode(REQUEST_CAR)),
    tlv(0x7f49, tlv(0x06, OID.rsaV15Sha256), tlv(0x82, Uint8Array.of(0x01, 0x00, 0x01)), tlv(0x02, Uint8Array.of(bits >> 8, bits & 0xff))),
    tlv(0x5f20, ascii.encode(chr)),
    ...extra,
  );
}
