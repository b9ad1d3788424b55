/**
 * The management applet (AID A0 58 3F C1 9B 7E 4F 21, the "rescue" applet of the original firmware): device
 * information for the management tool, encoded as CBOR with this schema (the client validates it the same way).
 */
import * as t from './fields.js';

export const MANAGEMENT_AID = Uint8Array.of(0xa0, 0x58, 0x3f, 0xc1, 0x9b, 0x7e, 0x4f, 0x21);
/** INS of GET DEVICE INFO in the management applet (CLA 80, P1 P2 00 00, Le 00 00). */
export const INS_DEVICE_INFO = 0x01;

const pinStatus = t.struct({ state: t.enumOf('unset', 'ready', 'blocked'), retriesLeft: t.uint(255), limit: t.uint(255) });

export const deviceInfo = t.struct({
  serial: t.text({ max: 16 }),
  firmware: t.text({ max: 16 }),
  stage: t.text({ max: 32 }),
  problem: t.optional(t.text()),
  label: t.optional(t.text({ max: 64 })),
  options: t.uint(0xffff),
  userPin: pinStatus,
  soPin: pinStatus,
  storage: t.struct({ total: t.uint(), used: t.uint(), free: t.uint(), largestWritable: t.uint(), files: t.uint() }),
  engine: t.text({ max: 32 }),
  curves: t.list(t.text({ max: 32 }), 16),
  rsaBits: t.list(t.uint(8192), 8),
  aesBits: t.list(t.uint(256), 4),
  selfTestsPassed: t.list(t.text({ max: 64 }), 64),
  selfTestsFailed: t.list(t.struct({ algorithm: t.text({ max: 64 }), detail: t.text() }), 64),
});
