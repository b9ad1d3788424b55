/**
 * The crypto actor.
 *
 * Owns: every use of private key material (it unseals a key, uses it for one operation and zeroes its copy),
 * the device key pair (internal file 0x1003, sealed under the device secret) and the randomness it hands out.
 * Accepts: cryptoProtocol (random, createDeviceIdentity, deviceSign).
 * Calls: storage (the sealed device key, the device certificate 2F02).
 */
import type { DeviceSecret, Entropy } from '../hal/types.js';
import { ecSeedLength, zeroize, type CryptoEngine } from '../hal/crypto/types.js';
import { cryptoProtocol } from '../messages/crypto.js';
import { cbor, fail, ok } from '../messages/protocol.js';
import { CARD_FILES, INTERNAL_FILES, deviceKeyRecord } from '../messages/records.js';
import { validate } from '../messages/schema.js';
import { storageProtocol } from '../messages/storage.js';
import { cvBody, cvCertificate, ecPublicKeyTlv } from './card/cvc.js';
import { defineActor, type RegisteredActor } from './scheduler.js';

export interface CryptoActorOptions {
  readonly engine: CryptoEngine;
  readonly entropy: Entropy;
  readonly deviceSecret: DeviceSecret;
  /** Clock for certificate dates (wall time). */
  readonly today?: () => Date;
}

const encoder = new TextEncoder();
const DEVICE_CURVE = 'secp256r1';

/** The sequence number appended to the serial in the device certificate's holder reference. */
export const DEVICE_CHR_SEQUENCE = '00001';

export function createCryptoActor(options: CryptoActorOptions): RegisteredActor {
  const { engine, entropy, deviceSecret } = options;
  const sealKey = (): Uint8Array => engine.hkdfSha256(deviceSecret.get(), new Uint8Array(0), encoder.encode('device-key-seal'), 32);

  return defineActor({
    protocol: cryptoProtocol,
    start: (context) => ({
      handlers: {
        random: ({ length }) => ok({ bytes: entropy.randomBytes(length) }),

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

        deviceSign: async ({ data }) => {
          const read = await context.call(storageProtocol, 'read', { fileId: INTERNAL_FILES.deviceKey });
          if (!read.ok) return read.error.code === 'notFound' ? fail({ code: 'noDeviceKey' as const }) : fail({ code: 'failed' as const, detail: read.error.code });
          let record;
          try {
            record = validate(deviceKeyRecord, cbor.decode(read.value.data));
          } catch (error) {
            return fail({ code: 'failed' as const, detail: `device key record corrupt: ${error instanceof Error ? error.message : String(error)}` });
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
        },
      },
    }),
  });
}
