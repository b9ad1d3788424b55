/**
 * The transport actor's protocol: what a link (vpcd, the local socket, the Pico's serial framing) hands over.
 * One `apdu` carries one command APDU as received and answers with one response APDU (data || SW1 SW2).
 */
import { defineProtocol, empty, op } from './protocol.js';
import * as t from './fields.js';

/** Largest command APDU accepted from a link: extended Lc (65535) plus header and Le. */
export const MAX_COMMAND_APDU_BYTES = 65_535 + 9;

/**
 * A card session: one per client of a link (vpcd's reader is session 0, each local-socket client its own), so
 * one client's SELECT, chain or verified PIN never leaks into another's.
 */
export const session = t.optional(t.uint(0xffff));

export const transportProtocol = defineProtocol('transport', {
  /** Command APDUs may carry PINs: their bytes are sensitive in traces. */
  apdu: op(
    t.struct({ bytes: t.bytes({ max: MAX_COMMAND_APDU_BYTES, sensitive: true }), session }),
    t.struct({ bytes: t.bytes({ min: 2, max: 65_538, sensitive: true }) }),
    {},
  ),
  /** Power events from the reader: all volatile session state is reset; `on` and `reset` answer the ATR. */
  power: op(t.struct({ event: t.enumOf('on', 'off', 'reset'), session }), t.struct({ atr: t.bytes({ max: 33 }) }), {}),
  /** The ATR, without touching the session. */
  atr: op(empty, t.struct({ atr: t.bytes({ max: 33 }) }), {}),
});
