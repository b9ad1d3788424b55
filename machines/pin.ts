/**
 * The PIN machine: the user PIN and SO-PIN retry counters and the session's authentication state.
 * Pure (no I/O): the PIN actor persists what the machine says and reports back with events.
 *
 * The order of a verification is explicit: `*_ATTEMPT_STARTED` means "the actor has already spent one try and
 * persisted the lowered counter"; only then does it compare and send `*_MATCHED` or `*_MISMATCHED`. So the
 * counter can only rise through a match, an SO reset, or provisioning (re-initialisation).
 */
import { assign, setup } from 'xstate';

export interface PinContext {
  userLimit: number;
  userRetries: number;
  soLimit: number;
  soRetries: number;
  /** The user PIN was verified in the current session (cleared on SELECT and power events). */
  userVerified: boolean;
}

export type PinEvent =
  | { type: 'PROVISIONED'; userLimit: number; soLimit: number }
  | { type: 'RESTORED'; userLimit: number; userRetries: number; soLimit: number; soRetries: number }
  | { type: 'USER_ATTEMPT_STARTED' }
  | { type: 'USER_MATCHED' }
  | { type: 'USER_MISMATCHED' }
  | { type: 'SO_ATTEMPT_STARTED' }
  | { type: 'SO_MATCHED' }
  | { type: 'SO_MISMATCHED' }
  | { type: 'USER_RESET_BY_SO' }
  | { type: 'SESSION_RESET' }
  | { type: 'WIPED' };

export const pinMachine = setup({
  types: { context: {} as PinContext, events: {} as PinEvent },
  guards: {
    userHasTries: ({ context }) => context.userRetries > 0,
    soHasTries: ({ context }) => context.soRetries > 0,
    userExhausted: ({ context }) => context.userRetries === 0,
    soExhausted: ({ context }) => context.soRetries === 0,
  },
  actions: {
    provision: assign(({ event }) =>
      event.type === 'PROVISIONED'
        ? { userLimit: event.userLimit, userRetries: event.userLimit, soLimit: event.soLimit, soRetries: event.soLimit, userVerified: false }
        : {},
    ),
    restore: assign(({ event }) =>
      event.type === 'RESTORED'
        ? { userLimit: event.userLimit, userRetries: event.userRetries, soLimit: event.soLimit, soRetries: event.soRetries, userVerified: false }
        : {},
    ),
    spendUserTry: assign(({ context }) => ({ userRetries: context.userRetries - 1, userVerified: false })),
    spendSoTry: assign(({ context }) => ({ soRetries: context.soRetries - 1 })),
    userMatched: assign(({ context }) => ({ userRetries: context.userLimit, userVerified: true })),
    soMatched: assign(({ context }) => ({ soRetries: context.soLimit })),
    resetUserBySo: assign(({ context }) => ({ userRetries: context.userLimit })),
    endSession: assign({ userVerified: false }),
    wipe: assign({ userLimit: 0, userRetries: 0, soLimit: 0, soRetries: 0, userVerified: false }),
  },
}).createMachine({
  id: 'pin',
  context: { userLimit: 0, userRetries: 0, soLimit: 0, soRetries: 0, userVerified: false },
  initial: 'unset',
  states: {
    /** No PINs: the device is not commissioned. */
    unset: {
      on: {
        PROVISIONED: { target: 'active', actions: 'provision' },
        RESTORED: { target: 'active', actions: 'restore' },
      },
    },
    active: {
      type: 'parallel',
      on: {
        WIPED: { target: 'unset', actions: 'wipe' },
        SESSION_RESET: { actions: 'endSession' },
      },
      states: {
        user: {
          initial: 'ready',
          states: {
            ready: {
              always: { guard: 'userExhausted', target: 'blocked' },
              on: { USER_ATTEMPT_STARTED: { guard: 'userHasTries', target: 'checking', actions: 'spendUserTry' } },
            },
            checking: {
              on: {
                USER_MATCHED: { target: 'ready', actions: 'userMatched' },
                USER_MISMATCHED: { target: 'ready' },
              },
            },
            blocked: {},
          },
          on: { USER_RESET_BY_SO: { target: '.ready', actions: 'resetUserBySo' } },
        },
        so: {
          initial: 'ready',
          states: {
            ready: {
              always: { guard: 'soExhausted', target: 'blocked' },
              on: { SO_ATTEMPT_STARTED: { guard: 'soHasTries', target: 'checking', actions: 'spendSoTry' } },
            },
            checking: {
              on: {
                SO_MATCHED: { target: 'ready', actions: 'soMatched' },
                SO_MISMATCHED: { target: 'ready' },
              },
            },
            blocked: {},
          },
        },
      },
    },
  },
});
