/**
 * The applet actor's protocol: one parsed, de-chained command APDU in, response data and a status word out.
 */
import { defineProtocol, empty, op } from './protocol.js';
import * as t from './fields.js';
import { session } from './transport.js';

export const MAX_COMMAND_DATA_BYTES = 65_535;
export const MAX_RESPONSE_DATA_BYTES = 65_536;

export const appletProtocol = defineProtocol('applet', {
  command: op(
    t.struct({
      cla: t.uint(0xff),
      ins: t.uint(0xff),
      p1: t.uint(0xff),
      p2: t.uint(0xff),
      data: t.bytes({ max: MAX_COMMAND_DATA_BYTES, sensitive: true }),
      /** Expected response length (0 when absent; 256 or 65536 for "as much as possible"). */
      le: t.uint(65_536),
      extended: t.bool(),
      session,
    }),
    t.struct({ data: t.bytes({ max: MAX_RESPONSE_DATA_BYTES, sensitive: true }), statusWord: t.uint(0xffff) }),
    {},
  ),
  /** Power off/on/reset: forget the selection and log out. */
  reset: op(t.struct({ session }), empty, {}),
});
