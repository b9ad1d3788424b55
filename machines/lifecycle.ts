/**
 * The device lifecycle machine (the firmware lifecycle of the original device), pure.
 *
 *   booting -> installing (first boot: device key pair + self-signed CV certificate) -> installed
 *   installed --INITIALIZE--> initializing -> commissioned (PINs, retry limit, options set)
 *   commissioned --first successful user PIN verification--> operational
 *   commissioned|operational --INITIALIZE with the current SO-PIN--> wiping -> initializing -> commissioned
 *   booting --unknown storage format--> needsRecommissioning --FORMATTED--> booting
 *
 * Stages only move forward, except through `wiping`, which erases every key, certificate, data object and PIN.
 */
import { assign, setup } from 'xstate';

export const LIFECYCLE_STAGES = ['installed', 'commissioned', 'operational'] as const;
export type LifecycleStage = (typeof LIFECYCLE_STAGES)[number];

export interface LifecycleContext {
  /** Every key, certificate, data object and PIN was erased since the last commissioning began. */
  wipedSinceCommissioning: boolean;
  /** Number of completed wipes (for the model checker's invariants). */
  wipes: number;
}

export type LifecycleEvent =
  | { type: 'FORMAT_UNSUPPORTED' }
  | { type: 'DEVICE_KEY_MISSING' }
  | { type: 'DEVICE_KEY_CREATED' }
  | { type: 'LOADED'; stage: LifecycleStage }
  | { type: 'INITIALIZE_REQUESTED' }
  | { type: 'SO_PIN_ACCEPTED' }
  | { type: 'SO_PIN_REJECTED' }
  | { type: 'WIPE_DONE' }
  | { type: 'PROVISIONED' }
  | { type: 'PROVISION_FAILED' }
  | { type: 'USER_VERIFIED' }
  | { type: 'FORMATTED' };

export const lifecycleMachine = setup({
  types: { context: {} as LifecycleContext, events: {} as LifecycleEvent },
  guards: {
    loadedInstalled: ({ event }) => event.type === 'LOADED' && event.stage === 'installed',
    loadedCommissioned: ({ event }) => event.type === 'LOADED' && event.stage === 'commissioned',
    loadedOperational: ({ event }) => event.type === 'LOADED' && event.stage === 'operational',
  },
  actions: {
    markWiped: assign(({ context }) => ({ wipedSinceCommissioning: true, wipes: context.wipes + 1 })),
    clearWiped: assign({ wipedSinceCommissioning: false }),
  },
}).createMachine({
  id: 'lifecycle',
  context: { wipedSinceCommissioning: false, wipes: 0 },
  initial: 'booting',
  states: {
    booting: {
      on: {
        FORMAT_UNSUPPORTED: 'needsRecommissioning',
        DEVICE_KEY_MISSING: 'installing',
        LOADED: [
          { guard: 'loadedInstalled', target: 'installed' },
          { guard: 'loadedCommissioned', target: 'inUse.commissioned' },
          { guard: 'loadedOperational', target: 'inUse.operational' },
        ],
      },
    },
    needsRecommissioning: { on: { FORMATTED: 'booting' } },
    installing: { on: { DEVICE_KEY_CREATED: 'installed' } },
    installed: { on: { INITIALIZE_REQUESTED: { target: 'initializing', actions: 'markWiped' } } },
    /** Setting PINs on a device that holds no keys (fresh, or just wiped). */
    initializing: {
      on: {
        PROVISIONED: { target: 'inUse.commissioned', actions: 'clearWiped' },
        PROVISION_FAILED: 'installed',
      },
    },
    /** Commissioned and in use; `history` returns here after a refused re-initialisation. */
    inUse: {
      initial: 'commissioned',
      on: { INITIALIZE_REQUESTED: 'checkingSoPin' },
      states: {
        commissioned: { on: { USER_VERIFIED: 'operational' } },
        operational: {},
        previous: { type: 'history' },
      },
    },
    /** Re-initialisation of a commissioned device: the current SO-PIN is required. */
    checkingSoPin: {
      on: {
        SO_PIN_ACCEPTED: 'wiping',
        SO_PIN_REJECTED: 'inUse.previous',
      },
    },
    wiping: { on: { WIPE_DONE: { target: 'initializing', actions: 'markWiped' } } },
  },
});
