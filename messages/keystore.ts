/**
 * The key store's protocol: the SmartCard-HSM file namespace (keys CCxx, descriptors C4xx/C8xx/C9xx, certificates
 * CAxx/CExx, data objects CDxx (PIN-protected) and CFxx (public), TokenInfo 2F03, the device certificate 2F02)
 * with its access rules. Key material never leaves through this protocol: key files are never readable.
 */
import { defineProtocol, empty, op } from './protocol.js';
import * as t from './fields.js';
import { MAX_FILE_BYTES } from './storage.js';
import { session } from './transport.js';

const fileId = t.uint(0xffff);
const notFound = empty;
/** pinRequired: the user PIN must be verified first; forbidden: no PIN ever allows it (key files, 2F02). */
const denied = t.struct({ reason: t.enumOf('pinRequired', 'forbidden') });
const badOffset = t.struct({ offset: t.uint(), size: t.uint() });
const full = t.struct({ needed: t.uint(), available: t.uint() });
const tooLarge = t.struct({ size: t.uint(), max: t.uint() });
const storageFailure = t.struct({ detail: t.text() });

const keyFields = {
  kind: t.enumOf('ec', 'rsa', 'aes'),
  curve: t.optional(t.enumOf('secp256r1', 'secp384r1', 'secp521r1', 'secp256k1', 'brainpoolP256r1', 'brainpoolP384r1', 'brainpoolP512r1')),
  bits: t.uint(8192),
  publicKey: t.optional(t.bytes({ max: 1024 })),
  publicExponent: t.optional(t.bytes({ max: 8 })),
};
const notVerified = empty;

export const keystoreProtocol = defineProtocol('keystore', {
  /**
   * Seals new key material under the master key and stores it as CCxx (crypto actor only). `reserveBytes` must
   * stay free afterwards (for the request and descriptors the client writes next), else nothing is stored: full.
   */
  storeKey: op(
    t.struct({
      fileId,
      ...keyFields,
      material: t.bytes({ max: 4096, sensitive: true }),
      usesLeft: t.optional(t.uint(0xffffffff)),
      allowedAlgorithms: t.optional(t.list(t.uint(0xff), 64)),
      reserveBytes: t.uint(65_536),
      session,
      /** Written together with the key (e.g. the key's certificate request as CExx). */
      companion: t.optional(t.struct({ fileId, data: t.bytes({ max: MAX_FILE_BYTES }) })),
    }),
    empty,
    { exists: empty, full, notVerified, storageFailure },
  ),
  /**
   * Unseals a key for one operation with `algorithm` (crypto actor only): checks the allowed algorithms, spends
   * and persists one use BEFORE answering, and needs the user PIN verified in this session.
   */
  loadKey: op(
    t.struct({ fileId, algorithm: t.uint(0xff), session }),
    t.struct({ ...keyFields, material: t.bytes({ max: 4096, sensitive: true }) }),
    { notFound, notVerified, exhausted: empty, algorithmNotAllowed: empty, storageFailure },
  ),
  /** Public metadata of a key (no material). */
  keyInfo: op(
    t.struct({ fileId }),
    t.struct({ ...keyFields, usesLeft: t.optional(t.uint(0xffffffff)), allowedAlgorithms: t.optional(t.list(t.uint(0xff), 64)) }),
    { notFound, storageFailure },
  ),
  /** File ids present in the card namespace, ascending. */
  list: op(empty, t.struct({ fileIds: t.list(fileId) }), { storageFailure }),
  stat: op(t.struct({ fileId }), t.struct({ size: t.uint() }), { notFound, storageFailure }),
  read: op(
    t.struct({ fileId, offset: t.uint(), length: t.uint(65_536), session }),
    t.struct({ data: t.bytes({ max: MAX_FILE_BYTES, sensitive: true }), size: t.uint() }),
    { notFound, denied, badOffset, storageFailure },
  ),
  /** UPDATE BINARY: writes at `offset`; offset 0 replaces the file; a missing file is created (when allowed). */
  write: op(
    t.struct({ fileId, offset: t.uint(), data: t.bytes({ max: 65_536, sensitive: true }), session }),
    t.struct({ size: t.uint() }),
    { denied, badOffset, full, tooLarge, storageFailure },
  ),
  delete: op(t.struct({ fileId, session }), empty, { notFound, denied, storageFailure }),
});
