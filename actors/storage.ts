/**
 * The storage actor: the flash wear-leveller.
 *
 * Owns: the board's flash region, the log store engine over it (actors/storage/log-store.ts: layout, atomic
 * writes, compaction, recovery) and the storage lifecycle machine (machines/storage.ts).
 * Accepts: storageProtocol (messages/storage.ts): read, put, patch, delete, list, stat, capacity, wipe, format, info.
 * Calls: nobody.
 *
 * Rules: the store is mounted in `start` (and again on the next request after a power loss or flash error);
 * interrupted work found by the mount is finished before the store is `ready`; until then every operation but
 * `info` (and `format`, which re-commissions a failed region) answers `unavailable` with the reason. Every write
 * is atomic: after a power cut a file is as it was before the operation or as it is after.
 *
 *   const storage = createStorageActor({ flash: hal.flash });
 *   await scheduler.start([storage, ...]);
 *   await scheduler.call('board', storageProtocol, 'put', { fileId: 0x1001, data });
 */
import { createActor, type Actor, type SnapshotFrom } from 'xstate';
import { FlashError, type Flash } from '../hal/types.js';
import { fail, ok, type HandlerResult, type OperationName, type Result } from '../messages/protocol.js';
import { storageProtocol } from '../messages/storage.js';
import { assertNever } from '../messages/schema.js';
import { STORAGE_STATES, storageMachine, type StorageState } from '../machines/storage.js';
import { FORMAT_VERSION, LogStore, type UnavailableError } from './storage/log-store.js';
import { defineActor, type RegisteredActor } from './scheduler.js';
import type { ActorContext } from './actor.js';

export interface StorageActorOptions {
  readonly flash: Flash;
}

type StorageProtocol = typeof storageProtocol;
type Reply<K extends OperationName<StorageProtocol>> = HandlerResult<StorageProtocol, K>;

export function stateOf(snapshot: SnapshotFrom<typeof storageMachine>): StorageState {
  for (const state of STORAGE_STATES) if (snapshot.matches(state)) return state;
  throw new Error(`storage machine in an unknown state ${JSON.stringify(snapshot.value)}`);
}

export function createStorageActor(options: StorageActorOptions): RegisteredActor {
  const { flash } = options;

  return defineActor({
    protocol: storageProtocol,
    start(context: ActorContext) {
      const machine: Actor<typeof storageMachine> = createActor(storageMachine).start();
      const store = new LogStore(flash, {
        compactionStarted: () => machine.send({ type: 'COMPACT_STARTED' }),
        compactionFinished: () => machine.send({ type: 'COMPACT_DONE' }),
      });

      function state(): StorageState {
        return stateOf(machine.getSnapshot());
      }

      /** Reports a flash exception to the machine and turns it into the `unavailable` answer. */
      function flashFailure(error: FlashError): UnavailableError {
        if (error.reason === 'powerCut') machine.send({ type: 'POWER_LOST' });
        else machine.send({ type: 'FLASH_FAULT', detail: error.message });
        context.log(`flash ${error.reason}: ${error.message}`);
        return { code: 'unavailable', reason: 'flashFault', detail: error.message };
      }

      /** Runs engine work; flash exceptions become `unavailable`, a store that failed its own checks is reported. */
      function guarded<T>(work: () => T, onFlashError: (error: UnavailableError) => T): T {
        try {
          const result = work();
          if (store.status === 'failed' && state() !== 'failed') {
            machine.send({ type: 'FLASH_FAULT', detail: store.failure?.detail ?? 'the store failed its consistency checks' });
          }
          return result;
        } catch (error) {
          if (error instanceof FlashError) return onFlashError(flashFailure(error));
          throw error;
        }
      }

      function mount(): void {
        machine.send({ type: 'MOUNT' });
        const outcome = store.mount();
        if (!outcome.ok) {
          machine.send({ type: 'MOUNT_FAILED', reason: outcome.failure.reason, detail: outcome.failure.detail });
          context.log(`mount failed: ${outcome.failure.detail}`);
          return;
        }
        machine.send({ type: 'MOUNTED', recoveryNeeded: outcome.report.recoveryNeeded });
        if (!machine.getSnapshot().matches({ mounting: 'recovering' })) return;
        for (const reason of outcome.report.recoveryReasons) context.log(`recovery: ${reason}`);
        guarded(
          () => {
            const recovered = store.recover();
            if (recovered.ok) machine.send({ type: 'RECOVERY_DONE' });
          },
          () => undefined,
        );
      }

      /** Why the store cannot serve a request now, or undefined when it can (remounting after a power loss). */
      function notReady(): UnavailableError | undefined {
        if (state() === 'unmounted') mount();
        const current = state();
        switch (current) {
          case 'ready':
          case 'compacting':
            return undefined;
          case 'failed':
            return { code: 'unavailable', ...(machine.getSnapshot().context.failure ?? { reason: 'flashFault', detail: 'the store failed' }) };
          case 'unmounted':
          case 'mounting':
            return { code: 'unavailable', reason: 'notMounted', detail: `the store is ${current}` };
          default:
            return assertNever(current);
        }
      }

      /** The common shape of every storage operation but info and format. */
      function serve<V, E>(work: () => Result<V, E>): Result<V, E | UnavailableError> {
        const refusal = notReady();
        if (refusal !== undefined) return fail(refusal);
        return guarded<Result<V, E | UnavailableError>>(work, (error) => fail(error));
      }

      mount();

      return {
        handlers: {
          read: ({ fileId, offset, length }) => serve(() => store.read(fileId, offset, length)),
          put: ({ fileId, data }) => serve(() => store.put(fileId, data)),
          patch: ({ fileId, offset, data }) => serve(() => store.patch(fileId, offset, data)),
          delete: ({ fileId }) => serve(() => store.delete(fileId)),
          list: ({ prefix }) => serve(() => store.list(prefix)),
          stat: ({ fileId }) => serve(() => store.stat(fileId)),
          capacity: () => serve(() => store.capacity()),
          wipe: ({ keep }) => serve(() => store.wipe(keep)),
          format: (): Reply<'format'> => {
            if (state() === 'unmounted') mount();
            if (state() === 'mounting') return fail({ code: 'unavailable', reason: 'notMounted', detail: 'the store is still mounting' });
            return guarded(
              (): Reply<'format'> => {
                const formatted = store.format();
                if (!formatted.ok) return formatted;
                machine.send({ type: 'FORMATTED' });
                context.log('region formatted');
                return ok({});
              },
              (error) => fail(error),
            );
          },
          info: () => {
            const snapshot = machine.getSnapshot();
            const failure = snapshot.context.failure;
            return ok({
              state: stateOf(snapshot),
              ...(failure === undefined ? {} : { failure: `${failure.reason}: ${failure.detail}` }),
              formatVersion: FORMAT_VERSION,
              sectors: flash.geometry.sectorCount,
              sectorSize: flash.geometry.sectorSize,
            });
          },
        },
        stop: () => {
          guarded(
            () => flash.sync(),
            () => undefined,
          );
          machine.stop();
        },
      };
    },
  });
}
