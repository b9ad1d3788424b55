/**
 * Planted bugs: broken variants of the real machines (changed implementations through xstate's `.provide()`, or
 * changed configs rebuilt with the real implementations) and of the real actors (wrapped), each with the
 * invariants that must catch it. test/model-check-mutants.test.ts runs them all; docs/invariants.md lists them.
 */
import { assign, StateMachine, type AnyStateMachine } from 'xstate';
import type { RegisteredActor } from '../../actors/scheduler.js';
import { lifecycleMachine } from '../../machines/lifecycle.js';
import { pinMachine } from '../../machines/pin.js';
import { storageMachine } from '../../machines/storage.js';
import { cbor } from '../../messages/protocol.js';
import { INTERNAL_FILES, pinRecord } from '../../messages/records.js';
import { validate } from '../../messages/schema.js';
import type { CompositionRoot } from './composition.js';
import type { Model } from './explore.js';
import { lifecycleModel, pinModel, storageModel } from './models.js';

type Config = Record<string, unknown>;

/** A deep copy of a machine config (plain data and named references; functions kept by reference). */
function cloneConfig<T>(value: T): T {
  if (Array.isArray(value)) return value.map((item) => cloneConfig(item)) as T;
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const copy: Record<string, unknown> = {};
    for (const [name, item] of Object.entries(value as Record<string, unknown>)) copy[name] = cloneConfig(item);
    return copy as T;
  }
  return value;
}

/** The node at a dotted path of state names in a config ('active.user.checking'). */
function nodeAt(config: Config, path: string): Config {
  let node = config;
  for (const name of path.split('.')) node = (node.states as Record<string, Config>)[name];
  return node;
}

/** A variant of a machine with an edited config and the original machine's implementations. */
function variant<TMachine extends AnyStateMachine>(machine: TMachine, edit: (config: Config) => void): TMachine {
  const config = cloneConfig(machine.config as unknown as Config);
  edit(config);
  return new StateMachine(config as never, machine.implementations as never) as unknown as TMachine;
}

export interface MachineMutant {
  readonly id: string;
  readonly description: string;
  /** At least one of these invariants must report a counterexample. */
  readonly caughtBy: readonly string[];
  model(): Model<AnyStateMachine, never, never, never>;
}

const m = <T>(model: T): Model<AnyStateMachine, never, never, never> => model as unknown as Model<AnyStateMachine, never, never, never>;

export const MACHINE_MUTANTS: readonly MachineMutant[] = [
  // PIN
  {
    id: 'pin: counter restored on failure',
    description: 'USER_MISMATCHED gives the spent try back (resetUserBySo on a wrong PIN).',
    caughtBy: ['retry-counter-rises-only-by-match-reset-reinit'],
    model: () =>
      m(pinModel({ machine: variant(pinMachine, (config) => void (nodeAt(config, 'active.user.checking').on = { USER_MATCHED: { target: 'ready', actions: 'userMatched' }, USER_MISMATCHED: { target: 'ready', actions: 'resetUserBySo' } })) })),
  },
  {
    id: 'pin: SO counter restored on failure',
    description: 'SO_MISMATCHED restores the SO counter (soMatched on a wrong SO-PIN).',
    caughtBy: ['retry-counter-rises-only-by-match-reset-reinit'],
    model: () => m(pinModel({ machine: variant(pinMachine, (config) => void (nodeAt(config, 'active.so.checking').on = { SO_MATCHED: { target: 'ready', actions: 'soMatched' }, SO_MISMATCHED: { target: 'ready', actions: 'soMatched' } })) })),
  },
  {
    id: 'pin: verify without spending',
    description: 'spendUserTry no longer lowers the counter (provide).',
    caughtBy: ['try-spent-before-comparison'],
    model: () => m(pinModel({ machine: pinMachine.provide({ actions: { spendUserTry: assign({ userVerified: false }) } }) })),
  },
  {
    id: 'pin: match without an attempt',
    description: 'USER_MATCHED is accepted in user.ready: a verification that never spent a try.',
    caughtBy: ['try-spent-before-comparison', 'key-operation-needs-verified-session'],
    model: () =>
      m(pinModel({ machine: variant(pinMachine, (config) => void ((nodeAt(config, 'active.user.ready').on as Config).USER_MATCHED = { target: 'ready', actions: 'userMatched' })) })),
  },
  {
    id: 'pin: session survives SELECT',
    description: 'endSession keeps userVerified (provide): a key operation after SELECT would be accepted.',
    caughtBy: ['key-operation-needs-verified-session'],
    model: () => m(pinModel({ machine: pinMachine.provide({ actions: { endSession: assign({}) } }) })),
  },
  {
    id: 'pin: blocked PIN can still be tried',
    description: 'user.blocked accepts USER_ATTEMPT_STARTED.',
    caughtBy: ['blocked-left-only-by-so-reset-or-reinit', 'pin-state-consistent'],
    model: () => m(pinModel({ machine: variant(pinMachine, (config) => void (nodeAt(config, 'active.user.blocked').on = { USER_ATTEMPT_STARTED: { target: 'checking', actions: 'spendUserTry' } })) })),
  },
  {
    id: 'pin: SO reset does not reset',
    description: 'resetUserBySo leaves the counter at 0 (provide): a blocked user PIN is a trap short of re-initialisation.',
    caughtBy: ['always-recoverable'],
    model: () => m(pinModel({ machine: pinMachine.provide({ actions: { resetUserBySo: assign({}) } }) })),
  },
  // Lifecycle
  {
    id: 'lifecycle: wipe skipped on re-initialisation',
    description: 'SO_PIN_ACCEPTED goes straight to initializing, past wiping.',
    caughtBy: ['reinit-wipes-everything'],
    model: () => m(lifecycleModel({ machine: variant(lifecycleMachine, (config) => void ((nodeAt(config, 'checkingSoPin').on as Config).SO_PIN_ACCEPTED = 'initializing')) })),
  },
  {
    id: 'lifecycle: wipe not recorded',
    description: 'markWiped does nothing (provide).',
    caughtBy: ['reinit-wipes-everything'],
    model: () => m(lifecycleModel({ machine: lifecycleMachine.provide({ actions: { markWiped: assign({}) } }) })),
  },
  {
    id: 'lifecycle: re-initialisation without the SO-PIN',
    description: 'INITIALIZE_REQUESTED on a commissioned device goes straight to wiping.',
    caughtBy: ['reinit-requires-so-pin'],
    model: () => m(lifecycleModel({ machine: variant(lifecycleMachine, (config) => void ((nodeAt(config, 'inUse').on as Config).INITIALIZE_REQUESTED = 'wiping')) })),
  },
  {
    id: 'lifecycle: refused re-initialisation forgets the stage',
    description: 'SO_PIN_REJECTED returns to inUse.commissioned instead of the history state.',
    caughtBy: ['stage-never-regresses-without-wipe'],
    model: () => m(lifecycleModel({ machine: variant(lifecycleMachine, (config) => void ((nodeAt(config, 'checkingSoPin').on as Config).SO_PIN_REJECTED = 'inUse.commissioned')) })),
  },
  {
    id: 'lifecycle: failed provisioning commissions',
    description: 'PROVISION_FAILED enters inUse.commissioned.',
    caughtBy: ['operational-only-after-user-verification', 'reinit-wipes-everything'],
    model: () => m(lifecycleModel({ machine: variant(lifecycleMachine, (config) => void ((nodeAt(config, 'initializing').on as Config).PROVISION_FAILED = 'inUse.commissioned')) })),
  },
  {
    id: 'lifecycle: re-commissioning impossible',
    description: 'needsRecommissioning has no way out (FORMATTED removed).',
    caughtBy: ['always-recoverable'],
    model: () => m(lifecycleModel({ machine: variant(lifecycleMachine, (config) => void (nodeAt(config, 'needsRecommissioning').on = {})) })),
  },
  // Storage
  {
    id: 'storage: ready before recovery',
    description: 'mustRecover ignores recoveryPending (provide): a mount after a power loss goes ready unrecovered.',
    caughtBy: ['storage-ready-only-when-recovered'],
    model: () => m(storageModel({ machine: storageMachine.provide({ guards: { mustRecover: ({ event }) => event.type === 'MOUNTED' && event.recoveryNeeded } }) })),
  },
  {
    id: 'storage: power loss not recorded',
    description: 'markRecoveryPending does nothing (provide).',
    caughtBy: ['storage-ready-only-when-recovered', 'storage-recovery-flag-honest'],
    model: () => m(storageModel({ machine: storageMachine.provide({ actions: { markRecoveryPending: assign({}) } }) })),
  },
  {
    id: 'storage: recovery skipped',
    description: 'MOUNTED always goes to ready, whatever the scan found.',
    caughtBy: ['storage-ready-only-when-recovered'],
    model: () => m(storageModel({ machine: variant(storageMachine, (config) => void ((nodeAt(config, 'mounting.scanning').on as Config).MOUNTED = { target: '#storage.ready' })) })),
  },
  {
    id: 'storage: format keeps the pending recovery',
    description: 'formatted clears the failure but not recoveryPending (provide).',
    caughtBy: ['storage-ready-only-when-recovered'],
    model: () => m(storageModel({ machine: storageMachine.provide({ actions: { formatted: assign({ failure: undefined }) } }) })),
  },
  {
    id: 'storage: failed is a trap',
    description: 'failed has no transitions left.',
    caughtBy: ['always-recoverable'],
    model: () => m(storageModel({ machine: variant(storageMachine, (config) => void (nodeAt(config, 'failed').on = {})) })),
  },
];

// -------------------------------------------------------------------------------------------------------------
// System-level mutants: the real actors, one of them wrapped

type Instance = Awaited<ReturnType<RegisteredActor['start']>>;
type Hook = (operation: string, request: unknown, forward: (replacement?: unknown) => ReturnType<Instance['handle']>) => ReturnType<Instance['handle']>;

/** The actor with every request first offered to `hook`, which may forward it (or a replacement) or answer itself. */
export function intercept(actor: RegisteredActor, hook: Hook): RegisteredActor {
  return {
    ...actor,
    async start(context) {
      const inner = await actor.start(context);
      return { ...inner, handle: (operation, request, handlerContext) => hook(operation, request, (replacement) => inner.handle(operation, replacement ?? request, handlerContext)) };
    },
  };
}

export interface SystemMutant {
  readonly id: string;
  readonly description: string;
  readonly caughtBy: readonly string[];
  readonly roots: readonly CompositionRoot[];
  /** Wraps one actor of the real device (by protocol name). */
  wrap(name: string, actor: RegisteredActor): RegisteredActor;
}

export const SYSTEM_MUTANTS: readonly SystemMutant[] = [
  {
    id: 'system: storage wipe skipped',
    description: 'The storage actor answers `wipe` with success and erases nothing.',
    caughtBy: ['reinit-wipes-everything'],
    roots: [{ name: 'holding data', commands: ['INITIALIZE', 'VERIFY', 'UPDATE BINARY'], depth: 1 }],
    wrap: (name, actor) => (name === 'storage' ? intercept(actor, (operation, _request, forward) => (operation === 'wipe' ? Promise.resolve({ ok: true, value: {} }) : forward())) : actor),
  },
  {
    id: 'system: spent try never reaches the flash',
    description: 'The storage actor stores a user PIN record with a lowered counter as if the counter were full.',
    caughtBy: ['retry-counter-rises-only-by-match-reset-reinit', 'durable-state-matches-live-state', 'try-spent-before-comparison'],
    roots: [{ name: 'one wrong PIN', commands: ['INITIALIZE', 'VERIFY(wrong)'], depth: 1 }],
    wrap: (name, actor) =>
      name === 'storage'
        ? intercept(actor, (operation, request, forward) => {
            const put = request as { fileId?: number; data?: Uint8Array };
            if (operation === 'put' && put.fileId === INTERNAL_FILES.userPin && put.data) {
              const record = validate(pinRecord, cbor.decode(put.data));
              if (record.retries < record.limit) return forward({ fileId: put.fileId, data: cbor.encode({ ...record, retries: record.limit }) });
            }
            return forward();
          })
        : actor,
  },
  {
    id: 'system: session survives SELECT',
    description: 'The PIN actor answers `endSession` without ending the session.',
    caughtBy: ['key-operation-needs-verified-session'],
    roots: [{ name: 'verified, then SELECT', commands: ['INITIALIZE', 'VERIFY', 'SELECT'], depth: 1 }],
    wrap: (name, actor) => (name === 'pin' ? intercept(actor, (operation, _request, forward) => (operation === 'endSession' ? Promise.resolve({ ok: true, value: {} }) : forward())) : actor),
  },
];
