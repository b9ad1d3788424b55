/**
 * The lifecycle actor's protocol: device identity, commissioning (INITIALIZE DEVICE) and the stage.
 */
import { defineProtocol, empty, op } from './protocol.js';
import * as t from './fields.js';

export const DEVICE_STAGES = ['booting', 'needsRecommissioning', 'installing', 'installed', 'initializing', 'commissioned', 'operational', 'checkingSoPin', 'wiping'] as const;

const pinValue = t.bytes({ max: 64, sensitive: true });

export const lifecycleProtocol = defineProtocol('lifecycle', {
  info: op(
    empty,
    t.struct({
      stage: t.enumOf(...DEVICE_STAGES),
      serial: t.text({ max: 16 }),
      options: t.uint(0xffff),
      label: t.optional(t.text({ max: 64 })),
      /** Why the device needs re-commissioning or failed to boot. */
      problem: t.optional(t.text()),
    }),
    {},
  ),
  /**
   * INITIALIZE DEVICE. On a commissioned device `soPin` must be the CURRENT SO-PIN (one SO try is spent before
   * checking); then every key, certificate, data object and PIN is erased before the new PINs are set.
   */
  initialize: op(
    t.struct({ userPin: pinValue, soPin: pinValue, userLimit: t.uint(15), options: t.uint(0xffff), label: t.optional(t.text({ max: 64 })) }),
    empty,
    {
      wrongSoPin: t.struct({ retriesLeft: t.uint(255) }),
      soBlocked: empty,
      badRequest: t.struct({ detail: t.text() }),
      notReady: t.struct({ stage: t.text() }),
      failed: t.struct({ detail: t.text() }),
    },
  ),
  /** The applet tells the lifecycle that the user PIN was verified (commissioned -> operational). */
  userVerified: op(empty, empty, { failed: t.struct({ detail: t.text() }) }),
  /** Erases a region whose storage format this firmware does not understand, then boots afresh. */
  recommission: op(empty, empty, { failed: t.struct({ detail: t.text() }) }),
});
