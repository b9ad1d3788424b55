/**
 * The key store's protocol: the SmartCard-HSM file namespace (keys CCxx, descriptors C4xx/C8xx/C9xx, certificates
 * CAxx/CExx, data objects CDxx (PIN-protected) and CFxx (public), TokenInfo 2F03, the device certificate 2F02)
 * with its access rules. Key material never leaves through this protocol: key files are never readable.
 */
import { defineProtocol, empty, op } from './protocol.js';
import { t } from './schema.js';
import { MAX_FILE_BYTES } from './storage.js';

const fileId = t.uint(0xffff);
const notFound = empty;
/** pinRequired: the user PIN must be verified first; forbidden: no PIN ever allows it (key files, 2F02). */
const denied = t.struct({ reason: t.enumOf('pinRequired', 'forbidden') });
const badOffset = t.struct({ offset: t.uint(), size: t.uint() });
const full = t.struct({ needed: t.uint(), available: t.uint() });
const tooLarge = t.struct({ size: t.uint(), max: t.uint() });
const storageFailure = t.struct({ detail: t.text() });

export const keystoreProtocol = defineProtocol('keystore', {
  /** File ids present in the card namespace, ascending. */
  list: op(empty, t.struct({ fileIds: t.list(fileId) }), { storageFailure }),
  stat: op(t.struct({ fileId }), t.struct({ size: t.uint() }), { notFound, storageFailure }),
  read: op(
    t.struct({ fileId, offset: t.uint(), length: t.uint(65_536) }),
    t.struct({ data: t.bytes({ max: MAX_FILE_BYTES, sensitive: true }), size: t.uint() }),
    { notFound, denied, badOffset, storageFailure },
  ),
  /** UPDATE BINARY: writes at `offset`; offset 0 replaces the file; a missing file is created (when allowed). */
  write: op(
    t.struct({ fileId, offset: t.uint(), data: t.bytes({ max: 65_536, sensitive: true }) }),
    t.struct({ size: t.uint() }),
    { denied, badOffset, full, tooLarge, storageFailure },
  ),
  delete: op(t.struct({ fileId }), empty, { notFound, denied, storageFailure }),
});
