/**
 * The registry of everything the firmware persists: internal file ids (outside the SmartCard-HSM ranges of
 * protocol.md section 5) and the CBOR schema of each record. Retired ids are never reused.
 */
import * as t from './fields.js';

export enum INTERNAL_FILES {
  /** Device configuration: lifecycle stage, options, format version (lifecycle actor). */
  deviceConfig = 0x1000,
  /** User PIN record (PIN actor). */
  userPin = 0x1001,
  /** SO-PIN record (PIN actor). */
  soPin = 0x1002,
  /** The device key pair's private half, sealed under the device secret (lifecycle / crypto). */
  deviceKey = 0x1003,
}

/** SmartCard-HSM fixed files. */
export enum CARD_FILES {
  efDir = 0x2f00,
  deviceCertificate = 0x2f02,
  tokenInfo = 0x2f03,
}

export const pinRecord = t.struct({
  /** Iterations of PBKDF2-HMAC-SHA256 used for this record (the board's setting when it was written). */
  iterations: t.uint(10_000_000),
  salt: t.bytes({ min: 16, max: 16 }),
  /** HKDF(PBKDF2(pin, salt), device secret, "pin-verifier:<reference>"): a keyed verifier, never the PIN. */
  verifier: t.bytes({ min: 32, max: 32, sensitive: true }),
  /** Length of the PIN in bytes (CHANGE REFERENCE DATA splits old || new with it). */
  length: t.uint(64),
  limit: t.uint(15),
  retries: t.uint(15),
  /** The master key sealed with ChaCha20-Poly1305 under HKDF(PBKDF2(pin, salt), device secret, "pin-wrap:<reference>"). */
  wrappedMasterKey: t.bytes({ min: 48, max: 48, sensitive: true }),
  nonce: t.bytes({ min: 12, max: 12 }),
});

/** The device key's private half, sealed with ChaCha20-Poly1305 under HKDF(device secret, "device-key-seal"). */
export const deviceKeyRecord = t.struct({
  curve: t.enumOf('secp256r1'),
  nonce: t.bytes({ min: 12, max: 12 }),
  sealed: t.bytes({ max: 256, sensitive: true }),
  publicKey: t.bytes({ max: 133 }),
});

/** Lifecycle stage and options set by INITIALIZE (internal file 0x1000). */
export const deviceConfigRecord = t.struct({
  stage: t.enumOf('commissioned', 'operational'),
  /** INITIALIZE tag 80: the options word. */
  options: t.uint(0xffff),
  /** Serial number (also the device certificate's holder reference minus its sequence number). */
  serial: t.text({ max: 16 }),
  label: t.optional(t.text({ max: 64 })),
});

export const KEY_KINDS = ['ec', 'rsa', 'aes'] as const;

/**
 * A key object (file CCxx): public metadata in the clear, the private material sealed with ChaCha20-Poly1305 under
 * the master key-encryption key (AAD = "key:" || file id || kind), so a flash dump without the PIN yields nothing.
 */
export const keyRecord = t.struct({
  kind: t.enumOf(...KEY_KINDS),
  /** EC keys: the curve. */
  curve: t.optional(t.enumOf('secp256r1', 'secp384r1', 'secp521r1', 'secp256k1', 'brainpoolP256r1', 'brainpoolP384r1', 'brainpoolP512r1')),
  /** Key size in bits (RSA modulus, AES key, EC field). */
  bits: t.uint(8192),
  /** EC: the public point; RSA: the modulus. */
  publicKey: t.optional(t.bytes({ max: 1024 })),
  /** RSA: the public exponent. */
  publicExponent: t.optional(t.bytes({ max: 8 })),
  nonce: t.bytes({ min: 12, max: 12 }),
  sealed: t.bytes({ max: 4096, sensitive: true }),
  /** Uses left (tag 90); absent = unlimited. Spent and persisted before each use. */
  usesLeft: t.optional(t.uint(0xffffffff)),
  /** Allowed algorithm identifiers (tag 91); absent = every algorithm of the key's kind. */
  allowedAlgorithms: t.optional(t.list(t.uint(0xff), 64)),
});
