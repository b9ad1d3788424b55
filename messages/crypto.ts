/**
 * The crypto actor's protocol: the only actor that holds private key material in the clear, and only for the
 * duration of one operation.
 */
import { defineProtocol, empty, op } from './protocol.js';
import * as t from './fields.js';
import { session } from './transport.js';

const failed = t.struct({ detail: t.text() });
const fileId = t.uint(0xffff);
const curve = t.enumOf('secp256r1', 'secp384r1', 'secp521r1', 'secp256k1', 'brainpoolP256r1', 'brainpoolP384r1', 'brainpoolP512r1');
const policy = {
  session,
  usesLeft: t.optional(t.uint(0xffffffff)),
  allowedAlgorithms: t.optional(t.list(t.uint(0xff), 64)),
};
/** Why a key operation was refused (each maps to one status word in the applet). */
const keyErrors = {
  notFound: empty,
  notVerified: empty,
  exhausted: empty,
  algorithmNotAllowed: empty,
  wrongKeyType: t.struct({ detail: t.text() }),
  badInput: t.struct({ detail: t.text() }),
  unsupported: t.struct({ detail: t.text() }),
  failed,
};

export const cryptoProtocol = defineProtocol('crypto', {
  /** Random bytes from the board's entropy source (GET CHALLENGE). */
  random: op(t.struct({ length: t.uint(65_536) }), t.struct({ bytes: t.bytes({ max: 65_536 }) }), {}),
  /**
   * First boot: generates the device key pair, seals its private half under the device secret (internal file
   * 0x1003) and writes the self-signed device CV certificate to 2F02.
   */
  createDeviceIdentity: op(t.struct({ serial: t.text({ max: 11 }) }), t.struct({ certificate: t.bytes({ max: 1024 }) }), { failed }),
  /** The algorithms this board's engine offers (for the device information and the management tool). */
  capabilities: op(
    empty,
    t.struct({
      engine: t.text(),
      curves: t.list(curve, 16),
      rsaBits: t.list(t.uint(8192), 8),
      aesBits: t.list(t.uint(256), 4),
      /** Power-on known-answer tests: what passed, and what failed (and is therefore disabled). */
      selfTestsPassed: t.list(t.text({ max: 64 }), 64),
      selfTestsFailed: t.list(t.struct({ algorithm: t.text({ max: 64 }), detail: t.text() }), 64),
    }),
    {},
  ),
  /**
   * GENERATE ASYMMETRIC KEY PAIR: the key is sealed into CCxx and its authenticated CV request (self-signed by the
   * new key, outer signature by the device key) is returned and stored as CExx.
   */
  generateKeyPair: op(
    t.struct({
      fileId,
      kind: t.enumOf('ec', 'rsa'),
      curve: t.optional(curve),
      bits: t.optional(t.uint(8192)),
      publicExponent: t.optional(t.uint(0xffffffff)),
      car: t.text({ max: 16 }),
      chr: t.text({ max: 20 }),
      ...policy,
    }),
    t.struct({ request: t.bytes({ max: 2048 }) }),
    { exists: empty, full: t.struct({ needed: t.uint(), available: t.uint() }), notVerified: empty, unsupported: t.struct({ detail: t.text() }), failed },
  ),
  /** GENERATE SYMMETRIC KEY: an AES key of `bits` sealed into CCxx. */
  generateSecretKey: op(
    t.struct({ fileId, bits: t.uint(256), ...policy }),
    empty,
    { exists: empty, full: t.struct({ needed: t.uint(), available: t.uint() }), notVerified: empty, unsupported: t.struct({ detail: t.text() }), failed },
  ),
  /** COMPUTE SIGNATURE with algorithm identifier `algorithm` (protocol.md section 4). */
  sign: op(t.struct({ fileId, algorithm: t.uint(0xff), data: t.bytes({ max: 65_535 }), session }), t.struct({ signature: t.bytes({ max: 1024 }) }), keyErrors),
  /** DECIPHER (RSA 21/22/23) and ECDH (80). The output is what the client asked the key to reveal. */
  decipher: op(t.struct({ fileId, algorithm: t.uint(0xff), data: t.bytes({ max: 4096 }), session }), t.struct({ data: t.bytes({ max: 4096 }) }), keyErrors),
  /** CIPHER SYMMETRIC: AES-CBC (10/11), CMAC (18), extended encrypt/decrypt (51/52: GCM, CTR), HKDF (99). */
  cipher: op(
    t.struct({
      fileId,
      algorithm: t.uint(0xff),
      data: t.bytes({ max: 65_535 }),
      mode: t.optional(t.enumOf('gcm', 'ctr')),
      iv: t.optional(t.bytes({ max: 64 })),
      associatedData: t.optional(t.bytes({ max: 65_535 })),
      salt: t.optional(t.bytes({ max: 1024 })),
      outputLength: t.optional(t.uint(8160)),
      session,
    }),
    t.struct({ data: t.bytes({ max: 65_551 }) }),
    keyErrors,
  ),
  /** Signs with the device key (outer signature of authenticated requests, attestation). Returns r || s. */
  deviceSign: op(t.struct({ data: t.bytes({ max: 8192 }) }), t.struct({ signature: t.bytes({ max: 132 }) }), { failed, noDeviceKey: empty }),
});
