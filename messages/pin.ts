/**
 * The PIN actor's protocol: user PIN and SO-PIN, retry counters, the session's authentication, and the master
 * key-encryption key that a verified user PIN unlocks (handed only to the key store).
 */
import { defineProtocol, empty, op } from './protocol.js';
import * as t from './fields.js';
import { session } from './transport.js';

export const PIN_REFERENCES = ['user', 'so'] as const;
export type PinReference = (typeof PIN_REFERENCES)[number];

const reference = t.enumOf(...PIN_REFERENCES);
const pinValue = t.bytes({ max: 64, sensitive: true });
const wrongPin = t.struct({ retriesLeft: t.uint(255) });
const blocked = empty;
const notSet = empty;
const badLength = t.struct({ detail: t.text() });
const storageFailure = t.struct({ detail: t.text() });

export const pinProtocol = defineProtocol('pin', {
  status: op(
    t.struct({ reference, session }),
    t.struct({
      state: t.enumOf('unset', 'ready', 'blocked'),
      retriesLeft: t.uint(255),
      limit: t.uint(255),
      verified: t.bool(),
      /** Length of the current PIN: CHANGE REFERENCE DATA splits old || new with it, as the card always has. */
      length: t.uint(64),
    }),
    {},
  ),
  /** Spends one try (persisted) before comparing; a match restores the counter and opens the session. */
  verify: op(t.struct({ reference, value: pinValue, session }), empty, { wrongPin, blocked, notSet, badLength, storageFailure }),
  /** CHANGE REFERENCE DATA: the old value is verified like `verify`, then replaced. */
  change: op(t.struct({ reference, old: pinValue, new: pinValue, session }), empty, { wrongPin, blocked, notSet, badLength, storageFailure }),
  /** RESET RETRY COUNTER: the SO-PIN resets the user PIN's counter and optionally sets a new user PIN. */
  resetUser: op(t.struct({ soPin: pinValue, newPin: t.optional(pinValue) }), empty, { wrongPin, blocked, notSet, badLength, storageFailure }),
  /** Verifies the SO-PIN (spending one SO try first) without opening a user session: re-initialisation uses it. */
  checkSo: op(t.struct({ soPin: pinValue }), empty, { wrongPin, blocked, notSet, badLength, storageFailure }),
  /** Sets both PINs and a fresh master key (after the lifecycle wiped the device). */
  provision: op(
    t.struct({ userPin: pinValue, soPin: pinValue, userLimit: t.uint(15), soLimit: t.uint(15) }),
    empty,
    { badLength, storageFailure },
  ),
  /** Logs out (SELECT, power off/on, reset). */
  endSession: op(t.struct({ session }), empty, {}),
  /** Re-reads the PIN records from storage (after a wipe). */
  reload: op(empty, empty, { storageFailure }),
  /** The master key-encryption key; only while the user PIN is verified in this session. */
  masterKey: op(t.struct({ session }), t.struct({ key: t.bytes({ min: 32, max: 32, sensitive: true }) }), { notVerified: empty }),
});
