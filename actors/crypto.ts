/**
 * The crypto actor.
 *
 * Owns: every use of private key material (it receives a key unsealed from the key store, uses it for one
 * operation and zeroes its copy), key generation, the device key pair (internal file 0x1003, sealed under the
 * device secret) and the randomness it hands out. The algorithms are the families the board passes
 * (actors/crypto/ec.ts always; rsa.ts and aes.ts on the host boards): what the board leaves out is refused as
 * `unsupported` and not reported in `capabilities`.
 * Accepts: cryptoProtocol (random, capabilities, createDeviceIdentity, deviceSign, generateKeyPair,
 * generateSecretKey, sign, decipher, cipher).
 * Calls: storage (the sealed device key, the device certificate 2F02), keystore (storeKey, loadKey: only this
 * actor may call them, the board's operation capabilities say so).
 */
import type { DeviceSecret, Entropy } from '../hal/types.js';
import { ecSeedLength, zeroize, type CryptoEngine } from '../hal/crypto/types.js';
import { keystoreProtocol } from '../messages/keystore.js';
import type { ErrorOf, RequestOf } from '../messages/protocol.js';
import { cryptoProtocol } from '../messages/crypto.js';
import { cbor, fail, ok } from '../messages/protocol.js';
import { CARD_FILES, INTERNAL_FILES, deviceKeyRecord } from '../messages/records.js';
import { errorMessage, validate } from '../messages/schema.js';
import { storageProtocol } from '../messages/storage.js';
import { authenticatedRequest, cvBody, cvCertificate, ecPublicKeyTlv, outerSignedPart, parseCvCertificate } from './card/cvc.js';
import type { ActorContext } from './actor.js';
import {
  cipher,
  decipher,
  hasAes,
  hasRsa,
  noAes,
  noRsa,
  sign,
  type KeyPairGeneration,
  type OperationFamilies,
  type OperationResult,
  type UnsealedKey,
} from './crypto/operations.js';
import { defineActor, type RegisteredActor } from './scheduler.js';

export interface CryptoActorOptions {
  readonly engine: CryptoEngine;
  /** The algorithm families this board offers (EC always; RSA and AES where the board carries them). */
  readonly families: OperationFamilies;
  readonly entropy: Entropy;
  readonly deviceSecret: DeviceSecret;
  /** Clock for certificate dates (wall time). */
  readonly today?: () => Date;
  /** The board's power-on self-test results (the engine given is already narrowed to what passed). */
  readonly selfTests?: { readonly passed: readonly string[]; readonly failed: readonly { algorithm: string; detail: string }[] };
}

const encoder = new TextEncoder();
const DEVICE_CURVE = 'secp256r1';

/** Room left for the private-key description (C4xx) OpenSC writes after generating a key. */
const DESCRIPTOR_RESERVE_BYTES = 1024;

type KeyFailure =
  | { code: 'notFound' }
  | { code: 'notVerified' }
  | { code: 'exhausted' }
  | { code: 'algorithmNotAllowed' }
  | { code: 'failed'; detail: string };

/** Fetches a key from the key store for one operation; the caller zeroes `material` when done. */
async function unsealKey(context: ActorContext, fileId: number, algorithm: number, session: number): Promise<{ ok: true; key: UnsealedKey } | { ok: false; error: KeyFailure }> {
  const loaded = await context.call(keystoreProtocol, 'loadKey', { fileId, algorithm, session });
  if (loaded.ok) return { ok: true, key: loaded.value };
  switch (loaded.error.code) {
    case 'notFound':
    case 'notVerified':
    case 'exhausted':
    case 'algorithmNotAllowed':
      return { ok: false, error: { code: loaded.error.code } };
    default:
      return { ok: false, error: { code: 'failed', detail: `${loaded.error.code}: ${loaded.error.detail}` } };
  }
}

/** What a refused keystore.storeKey means to the caller of a key generation. */
function storeKeyFailure(error: ErrorOf<typeof keystoreProtocol, 'storeKey'>):
  | { code: 'exists' | 'notVerified' }
  | { code: 'full'; needed: number; available: number }
  | { code: 'failed'; detail: string } {
  switch (error.code) {
    case 'exists':
    case 'notVerified':
      return { code: error.code };
    case 'full':
      return { code: 'full', needed: error.needed, available: error.available };
    default:
      return { code: 'failed', detail: `${error.code}: ${error.detail}` };
  }
}

/** A new key as keystore.storeKey takes it, without the policy and session (they come from the request). */
type NewKey = Omit<RequestOf<typeof keystoreProtocol, 'storeKey'>, 'fileId' | 'usesLeft' | 'allowedAlgorithms' | 'reserveBytes' | 'session'>;
type KeyGenerationRequest = { readonly fileId: number; readonly usesLeft?: number; readonly allowedAlgorithms?: number[]; readonly session?: number };

/** Stores a newly generated key (EC, RSA or AES) under the file id and policy of the request that generated it. */
function storeNewKey(context: ActorContext, request: KeyGenerationRequest, key: NewKey) {
  const { companion, ...fields } = key;
  return context.call(keystoreProtocol, 'storeKey', {
    fileId: request.fileId,
    ...fields,
    ...(request.usesLeft !== undefined ? { usesLeft: request.usesLeft } : {}),
    ...(request.allowedAlgorithms !== undefined ? { allowedAlgorithms: request.allowedAlgorithms } : {}),
    reserveBytes: DESCRIPTOR_RESERVE_BYTES,
    session: request.session ?? 0,
    ...(companion ? { companion } : {}),
  });
}

function operationAnswer<K extends string>(result: OperationResult, field: K): { ok: true; value: Record<K, Uint8Array> } | { ok: false; error: { code: 'wrongKeyType' | 'badInput' | 'unsupported'; detail: string } } {
  if (result.ok) return { ok: true, value: { [field]: result.data } as Record<K, Uint8Array> };
  return { ok: false, error: { code: result.code, detail: result.detail } };
}

/** The sequence number appended to the serial in the device certificate's holder reference. */
export const DEVICE_CHR_SEQUENCE = '00001';

export function createCryptoActor(options: CryptoActorOptions): RegisteredActor {
  const { engine, families, entropy, deviceSecret } = options;
  const sealKey = (): Uint8Array => engine.hkdfSha256(deviceSecret.get(), new Uint8Array(0), encoder.encode('device-key-seal'), 32);

  /** Signs SHA-256(data) with the device key (unsealed for this one signature, then zeroed). Returns r || s. */
  async function signWithDeviceKey(context: ActorContext, data: Uint8Array) {
    const read = await context.call(storageProtocol, 'read', { fileId: INTERNAL_FILES.deviceKey });
    if (!read.ok) return read.error.code === 'notFound' ? fail({ code: 'noDeviceKey' as const }) : fail({ code: 'failed' as const, detail: read.error.code });
    let record;
    try {
      record = validate(deviceKeyRecord, cbor.decode(read.value.data));
    } catch (error) {
      return fail({ code: 'failed' as const, detail: `device key record corrupt: ${errorMessage(error)}` });
    }
    const key = sealKey();
    const privateKey = engine.aeadOpen(key, record.nonce, record.sealed, encoder.encode('device-key'));
    zeroize(key);
    if (!privateKey) return fail({ code: 'failed' as const, detail: 'the device key does not open under this device secret' });
    try {
      return ok({ signature: engine.ecSign(record.curve, privateKey, engine.digest('sha256', data)) });
    } finally {
      zeroize(privateKey);
    }
  }

  return defineActor({
    protocol: cryptoProtocol,
    start: (context) => ({
      handlers: {
        random: ({ length }) => ok({ bytes: entropy.randomBytes(length) }),

        capabilities: () =>
          ok({
            engine: engine.name,
            curves: [...engine.curves],
            rsaBits: families.rsa && hasRsa(engine) ? [...families.rsa.bits] : [],
            aesBits: families.aes && hasAes(engine) ? [...families.aes.bits] : [],
            selfTestsPassed: [...(options.selfTests?.passed ?? [])],
            selfTestsFailed: (options.selfTests?.failed ?? []).map((failure) => ({ algorithm: failure.algorithm, detail: failure.detail })),
          }),

        generateKeyPair: async (request) => {
          const deviceCertificate = await context.call(storageProtocol, 'read', { fileId: CARD_FILES.deviceCertificate });
          const device = deviceCertificate.ok ? parseCvCertificate(deviceCertificate.value.data) : undefined;
          if (!device) return fail({ code: 'failed' as const, detail: 'no device certificate to sign the request with' });
          // EC generation is synchronous (no await: the scheduler's delivery order stays what it was).
          let generated: KeyPairGeneration;
          switch (request.kind) {
            case 'ec':
              generated = families.ec.generateKeyPair(engine, request.curve, entropy);
              break;
            case 'rsa':
              generated = families.rsa && hasRsa(engine) ? await families.rsa.generateKeyPair(engine, request.bits, request.publicExponent) : { ok: false, detail: noRsa(engine) };
              break;
          }
          if (!generated.ok) return fail({ code: 'unsupported' as const, detail: generated.detail });
          const { material, publicKeyTlv, signBody, stored } = generated.pair;
          try {
            const body = cvBody({ car: request.car, chr: request.chr, publicKey: publicKeyTlv });
            const certificate = cvCertificate(body, signBody(body));
            const outer = await signWithDeviceKey(context, outerSignedPart(certificate, device.chr));
            if (!outer.ok) return fail({ code: 'failed' as const, detail: `device signature: ${outer.error.code}` });
            const cvRequest = authenticatedRequest(certificate, device.chr, outer.value.signature);
            const saved = await storeNewKey(context, request, { ...stored, material, companion: { fileId: 0xce00 | (request.fileId & 0xff), data: cvRequest } });
            return saved.ok ? ok({ request: cvRequest }) : fail(storeKeyFailure(saved.error));
          } finally {
            zeroize(material);
          }
        },

        generateSecretKey: async (request) => {
          if (!families.aes || !hasAes(engine)) return fail({ code: 'unsupported' as const, detail: noAes(engine) });
          if (!families.aes.bits.includes(request.bits)) return fail({ code: 'unsupported' as const, detail: `AES-${request.bits} is not offered` });
          const material = entropy.randomBytes(request.bits / 8);
          const saved = await storeNewKey(context, request, { kind: 'aes', bits: request.bits, material });
          zeroize(material);
          return saved.ok ? ok({}) : fail(storeKeyFailure(saved.error));
        },

        sign: async ({ fileId, algorithm, data, session = 0 }) => {
          const unsealed = await unsealKey(context, fileId, algorithm, session);
          if (!unsealed.ok) return fail(unsealed.error);
          try {
            return operationAnswer(sign(engine, families, unsealed.key, algorithm, data), 'signature');
          } finally {
            zeroize(unsealed.key.material);
          }
        },

        decipher: async ({ fileId, algorithm, data, session = 0 }) => {
          const unsealed = await unsealKey(context, fileId, algorithm, session);
          if (!unsealed.ok) return fail(unsealed.error);
          try {
            return operationAnswer(decipher(engine, families, unsealed.key, algorithm, data), 'data');
          } finally {
            zeroize(unsealed.key.material);
          }
        },

        cipher: async (request) => {
          const unsealed = await unsealKey(context, request.fileId, request.algorithm, request.session ?? 0);
          if (!unsealed.ok) return fail(unsealed.error);
          try {
            return operationAnswer(cipher(engine, families, unsealed.key, request), 'data');
          } finally {
            zeroize(unsealed.key.material);
          }
        },

        createDeviceIdentity: async ({ serial }) => {
          const pair = engine.ecGenerate(DEVICE_CURVE, entropy.randomBytes(ecSeedLength(DEVICE_CURVE)));
          const nonce = entropy.randomBytes(12);
          const key = sealKey();
          const sealed = engine.aeadSeal(key, nonce, pair.privateKey, encoder.encode('device-key'));
          zeroize(key);
          const holder = `${serial}${DEVICE_CHR_SEQUENCE}`;
          const today = options.today ? options.today() : new Date();
          const expiry = new Date(Date.UTC(today.getUTCFullYear() + 20, today.getUTCMonth(), today.getUTCDate()));
          const body = cvBody({ car: holder, chr: holder, publicKey: ecPublicKeyTlv(DEVICE_CURVE, pair.publicKey), effective: today, expiry });
          const signature = engine.ecSign(DEVICE_CURVE, pair.privateKey, engine.digest('sha256', body));
          zeroize(pair.privateKey);
          const certificate = cvCertificate(body, signature);
          const record = cbor.encode(validate(deviceKeyRecord, { curve: DEVICE_CURVE, nonce, sealed, publicKey: pair.publicKey }));
          // The key first, then the certificate: a device whose 2F02 exists always has its key.
          const storedKey = await context.call(storageProtocol, 'put', { fileId: INTERNAL_FILES.deviceKey, data: record });
          if (!storedKey.ok) return fail({ code: 'failed' as const, detail: `storing the device key: ${storedKey.error.code}` });
          const storedCertificate = await context.call(storageProtocol, 'put', { fileId: CARD_FILES.deviceCertificate, data: certificate });
          if (!storedCertificate.ok) return fail({ code: 'failed' as const, detail: `storing the device certificate: ${storedCertificate.error.code}` });
          return ok({ certificate });
        },

        deviceSign: ({ data }) => signWithDeviceKey(context, data),
      },
    }),
  });
}
