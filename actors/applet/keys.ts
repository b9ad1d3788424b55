/**
 * Key commands of the SmartCard-HSM applet: GENERATE ASYMMETRIC KEY PAIR (46), GENERATE SYMMETRIC KEY (48),
 * COMPUTE SIGNATURE (68), DECIPHER / ECDH (62) and CIPHER SYMMETRIC (78). The applet parses the card formats and
 * maps answers to status words; the crypto actor does the work, the key store enforces policy.
 *
 * Status words: 6982 the user PIN is not verified; 6A82 no such key; 6A84 usage counter exhausted or storage
 * full; 6985 algorithm not allowed for this key (tag 91); 6A86 algorithm does not fit the key or is not offered;
 * 6A80 malformed data; 6A89 the key id is taken; 6400 internal failure.
 */
import { cryptoProtocol } from '../../messages/crypto.js';
import { keystoreProtocol } from '../../messages/keystore.js';
import { pinProtocol } from '../../messages/pin.js';
import { curveFromDomain } from '../card/cvc.js';
import { SW } from '../card/status-words.js';
import { findTlv, parseTlvList, readUint, type TlvItem } from '../card/tlv.js';
import type { ActorContext } from '../actor.js';
import { reply, status, type CommandHandler, type Response } from './context.js';

const ascii = new TextDecoder();
const KEY_PREFIX = 0xcc00;

/** id-TA-RSA (0.4.0.127.0.7.2.2.2.1.x) and id-TA-ECDSA (0.4.0.127.0.7.2.2.2.2.x) without the last arc. */
const TA_RSA_PREFIX = Uint8Array.of(0x04, 0x00, 0x7f, 0x00, 0x07, 0x02, 0x02, 0x02, 0x01);
const TA_ECDSA_PREFIX = Uint8Array.of(0x04, 0x00, 0x7f, 0x00, 0x07, 0x02, 0x02, 0x02, 0x02);
/** NIST AES-GCM object identifiers (2.16.840.1.101.3.4.1.6/26/46). */
const AES_GCM_OIDS = [6, 26, 46].map((last) => Uint8Array.of(0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, last));

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  return bytes.length === prefix.length + 1 && prefix.every((byte, index) => bytes[index] === byte);
}
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, index) => byte === b[index]);
}

async function userVerified(context: ActorContext, session: number): Promise<boolean> {
  const pin = await context.call(pinProtocol, 'status', { reference: 'user', session });
  return pin.ok && pin.value.verified;
}

/** Key policy from tags 90 (uses, 1-4 bytes) and 91 (allowed algorithm identifiers, one byte each). */
function policyFrom(items: readonly TlvItem[]): { usesLeft?: number; allowedAlgorithms?: number[] } | undefined {
  const counter = findTlv(items, 0x90);
  const allowed = findTlv(items, 0x91);
  if (counter && (counter.length === 0 || counter.length > 4)) return undefined;
  if (allowed && allowed.length === 0) return undefined;
  return {
    ...(counter ? { usesLeft: readUint(counter) } : {}),
    ...(allowed ? { allowedAlgorithms: [...allowed] } : {}),
  };
}

type KeyOperationError = { code: string };

function keyErrorStatus(error: KeyOperationError): Response {
  switch (error.code) {
    case 'notFound':
      return status(SW.fileNotFound);
    case 'notVerified':
      return status(SW.securityStatusNotSatisfied);
    case 'exhausted':
    case 'full':
      return status(SW.notEnoughMemory);
    case 'algorithmNotAllowed':
      return status(SW.conditionsNotSatisfied);
    case 'wrongKeyType':
    case 'unsupported':
      return status(SW.incorrectP1P2);
    case 'badInput':
      return status(SW.wrongData);
    case 'exists':
      return status(SW.fileExists);
    default:
      return status(SW.executionError);
  }
}

export const generateKeyPair: CommandHandler = async (command, session, context) => {
  if (command.p1 === 0 || command.p2 !== 0) return status(SW.incorrectP1P2);
  const items = parseTlvList(command.data);
  if (!items) return status(SW.wrongData);
  const publicKeyTemplate = findTlv(items, 0x7f49);
  const chr = findTlv(items, 0x5f20);
  const car = findTlv(items, 0x42);
  const policy = policyFrom(items);
  if (!publicKeyTemplate || !chr || chr.length > 20 || (car && car.length > 16) || !policy) return status(SW.wrongData);
  const domain = parseTlvList(publicKeyTemplate);
  const oid = domain ? findTlv(domain, 0x06) : undefined;
  if (!domain || !oid) return status(SW.wrongData);
  if (!(await userVerified(context, session.id))) return status(SW.securityStatusNotSatisfied);
  const fileId = KEY_PREFIX | command.p1;
  if ((await context.call(keystoreProtocol, 'keyInfo', { fileId })).ok) return status(SW.fileExists);
  const names = { car: car ? ascii.decode(car) : '', chr: ascii.decode(chr), session: session.id };
  let generated;
  if (startsWith(oid, TA_RSA_PREFIX)) {
    const size = findTlv(domain, 0x02);
    const exponent = findTlv(domain, 0x82);
    if (!size || size.length > 2) return status(SW.wrongData);
    generated = await context.call(cryptoProtocol, 'generateKeyPair', {
      fileId,
      kind: 'rsa',
      bits: readUint(size),
      ...(exponent && exponent.length <= 4 ? { publicExponent: readUint(exponent) } : {}),
      ...names,
      ...policy,
    });
  } else if (startsWith(oid, TA_ECDSA_PREFIX)) {
    const prime = findTlv(domain, 0x81);
    if (!prime) return status(SW.wrongData);
    const capabilities = await context.call(cryptoProtocol, 'capabilities', {});
    const curve = capabilities.ok ? curveFromDomain(prime, findTlv(domain, 0x82), findTlv(domain, 0x83), capabilities.value.curves) : undefined;
    if (curve === undefined) return status(SW.wrongData);
    generated = await context.call(cryptoProtocol, 'generateKeyPair', { fileId, kind: 'ec', curve, ...names, ...policy });
  } else {
    return status(SW.wrongData);
  }
  if (!generated.ok) {
    context.log(`key generation refused: ${generated.error.code}`);
    return keyErrorStatus(generated.error);
  }
  return reply(generated.value.request);
};

const SYMMETRIC_BITS: Record<number, number> = { 0xb0: 128, 0xb1: 192, 0xb2: 256 };

export const generateSecretKey: CommandHandler = async (command, session, context) => {
  const bits = SYMMETRIC_BITS[command.p2];
  if (command.p1 === 0 || bits === undefined) return status(SW.incorrectP1P2);
  const items = command.data.length > 0 ? parseTlvList(command.data) : [];
  const policy = items ? policyFrom(items) : undefined;
  if (!policy) return status(SW.wrongData);
  if (!(await userVerified(context, session.id))) return status(SW.securityStatusNotSatisfied);
  const generated = await context.call(cryptoProtocol, 'generateSecretKey', { fileId: KEY_PREFIX | command.p1, bits, ...policy, session: session.id });
  return generated.ok ? status(SW.ok) : keyErrorStatus(generated.error);
};

export const computeSignature: CommandHandler = async (command, session, context) => {
  if (command.data.length === 0) return status(SW.wrongData);
  const signed = await context.call(cryptoProtocol, 'sign', { fileId: KEY_PREFIX | command.p1, algorithm: command.p2, data: command.data, session: session.id });
  if (!signed.ok) context.log(`COMPUTE SIGNATURE ${command.p2.toString(16)} with key ${command.p1} refused: ${signed.error.code}${'detail' in signed.error ? `: ${signed.error.detail}` : ''}`);
  return signed.ok ? reply(signed.value.signature) : keyErrorStatus(signed.error);
};

export const decipher: CommandHandler = async (command, session, context) => {
  if (command.data.length === 0) return status(SW.wrongData);
  const deciphered = await context.call(cryptoProtocol, 'decipher', { fileId: KEY_PREFIX | command.p1, algorithm: command.p2, data: command.data, session: session.id });
  if (!deciphered.ok) context.log(`DECIPHER ${command.p2.toString(16)} with key ${command.p1} refused: ${deciphered.error.code}${'detail' in deciphered.error ? `: ${deciphered.error.detail}` : ''}`);
  return deciphered.ok ? reply(deciphered.value.data) : keyErrorStatus(deciphered.error);
};

/**
 * CIPHER SYMMETRIC. 10/11/18: the data is the input. 51/52 (extended): `06 OID` (AES-GCM) or `80 01 mode` (01 GCM,
 * 02 CTR), `81 data`, `82 IV`, `83 associated data`. 99 (HKDF): `81 info`, `82 salt`, `84 output length`.
 */
export const cipherSymmetric: CommandHandler = async (command, session, context) => {
  const fileId = KEY_PREFIX | command.p1;
  const algorithm = command.p2;
  let request;
  if (algorithm === 0x51 || algorithm === 0x52 || algorithm === 0x99) {
    const items = parseTlvList(command.data);
    if (!items) return status(SW.wrongData);
    const data = findTlv(items, 0x81) ?? new Uint8Array(0);
    if (algorithm === 0x99) {
      const length = findTlv(items, 0x84);
      const salt = findTlv(items, 0x82);
      request = { fileId, algorithm, data, ...(salt ? { salt } : {}), ...(length && length.length <= 2 ? { outputLength: readUint(length) } : {}) };
    } else {
      const oid = findTlv(items, 0x06);
      const modeByte = findTlv(items, 0x80);
      const mode = oid && AES_GCM_OIDS.some((known) => sameBytes(known, oid)) ? 'gcm' : modeByte?.[0] === 1 ? 'gcm' : modeByte?.[0] === 2 ? 'ctr' : undefined;
      if (!mode) return status(SW.wrongData);
      const iv = findTlv(items, 0x82);
      const associatedData = findTlv(items, 0x83);
      request = { fileId, algorithm, data, mode, ...(iv ? { iv } : {}), ...(associatedData ? { associatedData } : {}) } as const;
    }
  } else {
    request = { fileId, algorithm, data: command.data };
  }
  const answered = await context.call(cryptoProtocol, 'cipher', { ...request, session: session.id });
  return answered.ok ? reply(answered.value.data) : keyErrorStatus(answered.error);
};
