/**
 * The storage lifecycle machine, pure: what the storage actor may do with its log store right now.
 *
 *   unmounted --MOUNT--> mounting.scanning --MOUNTED{recoveryNeeded: false}--> ready
 *                                          --MOUNTED{recoveryNeeded: true}---> mounting.recovering --RECOVERY_DONE--> ready
 *                                          --MOUNT_FAILED-------------------> failed (unsupportedFormat | flashFault)
 *   ready --COMPACT_STARTED--> compacting --COMPACT_DONE--> ready
 *   any powered state --POWER_LOST--> unmounted (recoveryPending := true)
 *   ready | compacting | mounting --FLASH_FAULT--> failed
 *   unmounted | ready | failed --FORMATTED--> ready (a freshly formatted region needs no recovery)
 *   failed --MOUNT--> mounting (retry)
 *
 * `recoveryPending` says an operation on flash was interrupted and its recovery has not run. It is set by
 * POWER_LOST and by a mount that found pending work, and cleared only by RECOVERY_DONE or FORMATTED; `ready` is
 * entered only while it is false (the invariant the tests check in every reachable state).
 */
import { assign, setup } from 'xstate';

export type StorageFailureReason = 'unsupportedFormat' | 'flashFault';

export interface StorageContext {
  recoveryPending: boolean;
  failure: { reason: StorageFailureReason; detail: string } | undefined;
}

export type StorageEvent =
  | { type: 'MOUNT' }
  | { type: 'MOUNTED'; recoveryNeeded: boolean }
  | { type: 'MOUNT_FAILED'; reason: StorageFailureReason; detail: string }
  | { type: 'RECOVERY_DONE' }
  | { type: 'COMPACT_STARTED' }
  | { type: 'COMPACT_DONE' }
  | { type: 'POWER_LOST' }
  | { type: 'FLASH_FAULT'; detail: string }
  | { type: 'FORMATTED' };

/** The top-level state names, as the storage protocol's `info` reports them. */
export const STORAGE_STATES = ['unmounted', 'mounting', 'ready', 'compacting', 'failed'] as const;
export type StorageState = (typeof STORAGE_STATES)[number];

export const storageMachine = setup({
  types: { context: {} as StorageContext, events: {} as StorageEvent },
  guards: {
    mustRecover: ({ context, event }) => event.type === 'MOUNTED' && (event.recoveryNeeded || context.recoveryPending),
  },
  actions: {
    markRecoveryPending: assign({ recoveryPending: true }),
    clearRecoveryPending: assign({ recoveryPending: false }),
    clearFailure: assign({ failure: undefined }),
    recordMountFailure: assign(({ event }) => (event.type === 'MOUNT_FAILED' ? { failure: { reason: event.reason, detail: event.detail } } : {})),
    recordFlashFault: assign(({ event }) => (event.type === 'FLASH_FAULT' ? { failure: { reason: 'flashFault' as const, detail: event.detail } } : {})),
    formatted: assign({ recoveryPending: false, failure: undefined }),
  },
}).createMachine({
  id: 'storage',
  context: { recoveryPending: false, failure: undefined },
  initial: 'unmounted',
  states: {
    unmounted: {
      on: {
        MOUNT: { target: 'mounting', actions: 'clearFailure' },
        FORMATTED: { target: 'ready', actions: 'formatted' },
      },
    },
    mounting: {
      initial: 'scanning',
      on: {
        POWER_LOST: { target: 'unmounted', actions: 'markRecoveryPending' },
        FLASH_FAULT: { target: 'failed', actions: 'recordFlashFault' },
      },
      states: {
        scanning: {
          on: {
            MOUNTED: [{ guard: 'mustRecover', target: 'recovering', actions: 'markRecoveryPending' }, { target: '#storage.ready' }],
            MOUNT_FAILED: { target: '#storage.failed', actions: 'recordMountFailure' },
          },
        },
        /** The region was read; interrupted work (an erase, a wipe) is being finished before anything else. */
        recovering: {
          on: { RECOVERY_DONE: { target: '#storage.ready', actions: 'clearRecoveryPending' } },
        },
      },
    },
    ready: {
      on: {
        COMPACT_STARTED: 'compacting',
        POWER_LOST: { target: 'unmounted', actions: 'markRecoveryPending' },
        FLASH_FAULT: { target: 'failed', actions: 'recordFlashFault' },
        FORMATTED: { target: 'ready', actions: 'formatted' },
      },
    },
    compacting: {
      on: {
        COMPACT_DONE: 'ready',
        POWER_LOST: { target: 'unmounted', actions: 'markRecoveryPending' },
        FLASH_FAULT: { target: 'failed', actions: 'recordFlashFault' },
      },
    },
    failed: {
      on: {
        MOUNT: { target: 'mounting', actions: 'clearFailure' },
        FORMATTED: { target: 'ready', actions: 'formatted' },
        POWER_LOST: { target: 'unmounted', actions: 'markRecoveryPending' },
      },
    },
  },
});
