/**
 * The storage actor's protocol (the flash wear-leveller): files addressed by 2-byte SmartCard-HSM file ids.
 * Every write is atomic: after a power cut the store holds the file as it was before or as it is after.
 */
import { defineProtocol, op, empty } from './protocol.js';
import * as t from './fields.js';

/** Largest file the store accepts, in bytes. */
export const MAX_FILE_BYTES = 4096;

const fileId = t.uint(0xffff);
const notFound = t.struct({ fileId });
const full = t.struct({ needed: t.uint(), available: t.uint() });
const tooLarge = t.struct({ size: t.uint(), max: t.uint() });
const badRange = t.struct({ offset: t.uint(), size: t.uint() });
const unavailable = t.struct({ reason: t.enumOf('notMounted', 'unsupportedFormat', 'flashFault'), detail: t.text() });

export const capacityReply = t.struct({
  /** Bytes of file data (with per-record overhead) the store can hold in all. */
  total: t.uint(),
  used: t.uint(),
  free: t.uint(),
  /** The largest file that can be written now. */
  largestWritable: t.uint(),
  files: t.uint(),
});

export const storageProtocol = defineProtocol('storage', {
  /** Reads a file whole, or `length` bytes from `offset` (clipped to the file's end). */
  read: op(
    t.struct({ fileId, offset: t.optional(t.uint()), length: t.optional(t.uint()) }),
    t.struct({ data: t.bytes({ max: MAX_FILE_BYTES, sensitive: true }), size: t.uint() }),
    { notFound, badRange, unavailable },
  ),
  /** Creates or replaces a file whole. */
  put: op(
    t.struct({ fileId, data: t.bytes({ max: MAX_FILE_BYTES + 1, sensitive: true }) }),
    t.struct({ size: t.uint() }),
    { full, tooLarge, unavailable },
  ),
  /** Writes `data` at `offset` of an existing file (offset at most its size; the file grows if needed). */
  patch: op(
    t.struct({ fileId, offset: t.uint(), data: t.bytes({ max: MAX_FILE_BYTES + 1, sensitive: true }) }),
    t.struct({ size: t.uint() }),
    { notFound, badRange, full, tooLarge, unavailable },
  ),
  delete: op(t.struct({ fileId }), empty, { notFound, unavailable }),
  /** File ids present, ascending; `prefix` keeps those whose high byte equals it. */
  list: op(t.struct({ prefix: t.optional(t.uint(0xff)) }), t.struct({ fileIds: t.list(fileId) }), { unavailable }),
  stat: op(t.struct({ fileId }), t.struct({ size: t.uint() }), { notFound, unavailable }),
  capacity: op(empty, capacityReply, { unavailable }),
  /**
   * Deletes every file except `keep`, and physically erases every sector that held anything else, so no byte of
   * a deleted file remains in flash. Atomic: a power cut leaves all files or only the kept ones.
   */
  wipe: op(t.struct({ keep: t.list(fileId, 64) }), empty, { unavailable }),
  /** Erases the whole region, also when its format is not understood (re-commissioning). */
  format: op(empty, empty, { unavailable }),
  /** Lifecycle state and counters for status displays. */
  info: op(
    empty,
    t.struct({
      state: t.enumOf('unmounted', 'mounting', 'ready', 'compacting', 'failed'),
      failure: t.optional(t.text()),
      formatVersion: t.uint(),
      sectors: t.uint(),
      sectorSize: t.uint(),
    }),
    {},
  ),
});
