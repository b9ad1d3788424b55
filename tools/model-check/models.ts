/**
 * The machine models: each machine of machines/ with its event alphabet over bounded data, its state-key
 * abstraction, its monitor, and its checks from the catalogue (tools/model-check/invariants.ts).
 *
 * Data domains:
 * - PIN: PROVISIONED with userLimit 1..3 and soLimit 1..2; RESTORED with every (userLimit 1..3, userRetries
 *   0..userLimit, soLimit 1..2, soRetries 0..soLimit); every other event as is.
 * - lifecycle: LOADED with each stage; the wipe counter (read by no guard, compared by the invariants only across
 *   one step) is saturated at 2 in the state key, which makes the graph finite.
 * - storage: MOUNTED with recoveryNeeded false and true; MOUNT_FAILED with both reasons; one detail text.
 */
import type { AnyStateMachine } from 'xstate';
import { LIFECYCLE_STAGES, lifecycleMachine, type LifecycleEvent } from '../../machines/lifecycle.js';
import { pinMachine, type PinEvent } from '../../machines/pin.js';
import { storageMachine, type StorageEvent } from '../../machines/storage.js';
import type { Invariant, Model, Monitor, Reachability } from './explore.js';
import {
  LIFECYCLE_INVARIANTS,
  LIFECYCLE_REACHABILITY,
  lifecycleMonitor,
  PIN_INVARIANTS,
  PIN_REACHABILITY,
  pinMonitor,
  STORAGE_INVARIANTS,
  STORAGE_REACHABILITY,
  storageMonitor,
  type LifecycleMonitor,
  type LifecycleSnapshot,
  type PinMonitor,
  type PinSnapshot,
  type StorageMonitor,
  type StorageSnapshot,
} from './invariants.js';

export const PIN_LIMITS = { user: [1, 2, 3], so: [1, 2] } as const;

export function pinAlphabet(): PinEvent[] {
  const events: PinEvent[] = [];
  for (const userLimit of PIN_LIMITS.user) {
    for (const soLimit of PIN_LIMITS.so) {
      events.push({ type: 'PROVISIONED', userLimit, soLimit });
      for (let userRetries = 0; userRetries <= userLimit; userRetries++) {
        for (let soRetries = 0; soRetries <= soLimit; soRetries++) events.push({ type: 'RESTORED', userLimit, userRetries, soLimit, soRetries });
      }
    }
  }
  for (const type of ['USER_ATTEMPT_STARTED', 'USER_MATCHED', 'USER_MISMATCHED', 'SO_ATTEMPT_STARTED', 'SO_MATCHED', 'SO_MISMATCHED', 'USER_RESET_BY_SO', 'SESSION_RESET', 'WIPED'] as const) {
    events.push({ type });
  }
  return events;
}

export function lifecycleAlphabet(): LifecycleEvent[] {
  const events: LifecycleEvent[] = LIFECYCLE_STAGES.map((stage) => ({ type: 'LOADED', stage }));
  for (const type of ['FORMAT_UNSUPPORTED', 'DEVICE_KEY_MISSING', 'DEVICE_KEY_CREATED', 'INITIALIZE_REQUESTED', 'SO_PIN_ACCEPTED', 'SO_PIN_REJECTED', 'WIPE_DONE', 'PROVISIONED', 'PROVISION_FAILED', 'USER_VERIFIED', 'FORMATTED'] as const) {
    events.push({ type });
  }
  return events;
}

export function storageAlphabet(): StorageEvent[] {
  return [
    { type: 'MOUNT' },
    { type: 'MOUNTED', recoveryNeeded: false },
    { type: 'MOUNTED', recoveryNeeded: true },
    { type: 'MOUNT_FAILED', reason: 'unsupportedFormat', detail: 'x' },
    { type: 'MOUNT_FAILED', reason: 'flashFault', detail: 'x' },
    { type: 'RECOVERY_DONE' },
    { type: 'COMPACT_STARTED' },
    { type: 'COMPACT_DONE' },
    { type: 'POWER_LOST' },
    { type: 'FLASH_FAULT', detail: 'x' },
    { type: 'FORMATTED' },
  ];
}

/** What a model needs from outside: the machine (the real one, or a mutant) and optionally other checks. */
export interface ModelOptions<TMachine extends AnyStateMachine, S, E extends { type: string }, M> {
  readonly machine?: TMachine;
  readonly invariants?: readonly Invariant<S, E, M>[];
  readonly reachability?: readonly Reachability<S, M>[];
  readonly monitor?: Monitor<S, E, M>;
}

export function pinModel(options: ModelOptions<typeof pinMachine, PinSnapshot, PinEvent, PinMonitor> = {}): Model<typeof pinMachine, PinSnapshot, PinEvent, PinMonitor> {
  const alphabet = pinAlphabet();
  return {
    name: 'pin',
    machine: options.machine ?? pinMachine,
    alphabet: () => alphabet,
    monitor: options.monitor ?? pinMonitor,
    invariants: options.invariants ?? PIN_INVARIANTS,
    reachability: options.reachability ?? PIN_REACHABILITY,
    trapInvariant: 'always-recoverable',
    domains: [`PROVISIONED userLimit ${PIN_LIMITS.user.join('|')} x soLimit ${PIN_LIMITS.so.join('|')}`, 'RESTORED every counter combination within those limits', `${alphabet.length} events`],
  };
}

export function lifecycleModel(options: ModelOptions<typeof lifecycleMachine, LifecycleSnapshot, LifecycleEvent, LifecycleMonitor> = {}): Model<typeof lifecycleMachine, LifecycleSnapshot, LifecycleEvent, LifecycleMonitor> {
  const alphabet = lifecycleAlphabet();
  return {
    name: 'lifecycle',
    machine: options.machine ?? lifecycleMachine,
    alphabet: () => alphabet,
    abstraction: (snapshot) => ({ ...snapshot.context, wipes: Math.min(snapshot.context.wipes, 2) }),
    monitor: options.monitor ?? lifecycleMonitor,
    invariants: options.invariants ?? LIFECYCLE_INVARIANTS,
    reachability: options.reachability ?? LIFECYCLE_REACHABILITY,
    trapInvariant: 'always-recoverable',
    domains: [`LOADED stage ${LIFECYCLE_STAGES.join('|')}`, 'wipes saturated at 2 in the state key', `${alphabet.length} events`],
  };
}

export function storageModel(options: ModelOptions<typeof storageMachine, StorageSnapshot, StorageEvent, StorageMonitor> = {}): Model<typeof storageMachine, StorageSnapshot, StorageEvent, StorageMonitor> {
  const alphabet = storageAlphabet();
  return {
    name: 'storage',
    machine: options.machine ?? storageMachine,
    alphabet: () => alphabet,
    monitor: options.monitor ?? storageMonitor,
    invariants: options.invariants ?? STORAGE_INVARIANTS,
    reachability: options.reachability ?? STORAGE_REACHABILITY,
    trapInvariant: 'always-recoverable',
    domains: ['MOUNTED recoveryNeeded false|true', 'MOUNT_FAILED reason unsupportedFormat|flashFault', `${alphabet.length} events`],
  };
}

/** Every machine of machines/, as checked by `npm run model-check`. */
export const MACHINE_MODELS = [pinModel, lifecycleModel, storageModel] as const;
