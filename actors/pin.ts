/**
 * The PIN actor.
 *
 * Owns: the user PIN and SO-PIN records (internal files 0x1001/0x1002), the PIN machine (machines/pin.ts), which
 * card sessions have verified the user PIN (one per link client; the machine models one session), and the
 * unlocked master key-encryption key while at least one session is verified.
 * Accepts: pinProtocol (status, verify, change, resetUser, checkSo, provision, endSession, reload, masterKey).
 * Calls: storage (read/put the PIN records).
 *
 * Rules: a PIN is never stored, only a salted keyed verifier; the retry counter is spent and persisted BEFORE the
 * comparison and restored only by a match (or an SO reset, or provisioning); comparison is constant time; the
 * master key is sealed under a key derived from each PIN and the device secret and exists in memory only while
 * the user PIN is verified in the current session.
 */
import { createActor, type Actor } from 'xstate';
import type { DeviceSecret, Entropy } from '../hal/types.js';
import { constantTimeEqual, zeroize, type CryptoEngine } from '../hal/crypto/types.js';
import { pinMachine } from '../machines/pin.js';
import { pinProtocol, type PinReference } from '../messages/pin.js';
import { cbor, fail, ok } from '../messages/protocol.js';
import { INTERNAL_FILES, pinRecord } from '../messages/records.js';
import { errorMessage, validate, type Infer } from '../messages/schema.js';
import { storageProtocol } from '../messages/storage.js';
import { defineActor, type RegisteredActor } from './scheduler.js';

type PinRecord = Infer<typeof pinRecord>;

export interface PinActorOptions {
  readonly engine: CryptoEngine;
  readonly entropy: Entropy;
  readonly deviceSecret: DeviceSecret;
  /** PBKDF2 iterations for new records (host: 10,000 with node:crypto; the Pico: what it can afford). */
  readonly iterations: number;
}

export const USER_PIN_LENGTH = { min: 6, max: 15 } as const;
export const SO_PIN_LENGTH = 8;

const encoder = new TextEncoder();

export function lengthProblem(reference: PinReference, value: Uint8Array): string | undefined {
  if (reference === 'so') return value.length === SO_PIN_LENGTH ? undefined : `the SO-PIN must be ${SO_PIN_LENGTH} bytes`;
  if (value.length < USER_PIN_LENGTH.min || value.length > USER_PIN_LENGTH.max) {
    return `the user PIN must be ${USER_PIN_LENGTH.min} to ${USER_PIN_LENGTH.max} bytes`;
  }
  return undefined;
}

function fileOf(reference: PinReference): number {
  return reference === 'user' ? INTERNAL_FILES.userPin : INTERNAL_FILES.soPin;
}

export function createPinActor(options: PinActorOptions): RegisteredActor {
  const { engine, entropy, deviceSecret } = options;

  function derive(record: Pick<PinRecord, 'salt' | 'iterations'>, reference: PinReference, value: Uint8Array): { verifier: Uint8Array; wrapKey: Uint8Array } {
    const stretched = engine.pbkdf2Sha256(value, record.salt, record.iterations, 32);
    const secret = deviceSecret.get();
    const verifier = engine.hkdfSha256(stretched, secret, encoder.encode(`pin-verifier:${reference}`), 32);
    const wrapKey = engine.hkdfSha256(stretched, secret, encoder.encode(`pin-wrap:${reference}`), 32);
    zeroize(stretched);
    return { verifier, wrapKey };
  }

  function sealRecord(reference: PinReference, value: Uint8Array, masterKey: Uint8Array, limit: number): PinRecord {
    const salt = entropy.randomBytes(16);
    const nonce = entropy.randomBytes(12);
    const { verifier, wrapKey } = derive({ salt, iterations: options.iterations }, reference, value);
    const wrappedMasterKey = engine.aeadSeal(wrapKey, nonce, masterKey, encoder.encode(`master-key:${reference}`));
    zeroize(wrapKey);
    return { iterations: options.iterations, salt, verifier, length: value.length, limit, retries: limit, wrappedMasterKey, nonce };
  }

  return defineActor({
    protocol: pinProtocol,
    async start(context) {
      const machine: Actor<typeof pinMachine> = createActor(pinMachine).start();
      const records = new Map<PinReference, PinRecord>();
      let masterKey: Uint8Array | undefined;
      const verifiedSessions = new Set<number>();

      /** Logs one session out (or all); the master key is dropped once no session is verified. */
      function endSession(session: number | 'all' = 'all'): void {
        if (session === 'all') verifiedSessions.clear();
        else verifiedSessions.delete(session);
        if (verifiedSessions.size > 0) return;
        zeroize(masterKey);
        masterKey = undefined;
        machine.send({ type: 'SESSION_RESET' });
      }

      async function load(): Promise<string | undefined> {
        endSession();
        records.clear();
        for (const reference of ['user', 'so'] as const) {
          const read = await context.call(storageProtocol, 'read', { fileId: fileOf(reference) });
          if (!read.ok) {
            if (read.error.code === 'notFound') continue;
            return `reading the ${reference} PIN record: ${read.error.code}`;
          }
          try {
            records.set(reference, validate(pinRecord, cbor.decode(read.value.data)));
          } catch (error) {
            return `the ${reference} PIN record is corrupt: ${errorMessage(error)}`;
          }
        }
        machine.send({ type: 'WIPED' });
        const user = records.get('user');
        const so = records.get('so');
        if (user && so) {
          machine.send({ type: 'RESTORED', userLimit: user.limit, userRetries: user.retries, soLimit: so.limit, soRetries: so.retries });
        }
        return undefined;
      }

      async function persist(reference: PinReference, record: PinRecord): Promise<string | undefined> {
        const written = await context.call(storageProtocol, 'put', { fileId: fileOf(reference), data: cbor.encode(validate(pinRecord, record)) });
        if (written.ok) {
          records.set(reference, record);
          return undefined;
        }
        return `persisting the ${reference} PIN record: ${written.error.code}`;
      }

      function stateOf(reference: PinReference): 'unset' | 'ready' | 'blocked' {
        const snapshot = machine.getSnapshot();
        if (snapshot.matches('unset')) return 'unset';
        return snapshot.matches({ active: { [reference]: 'blocked' } }) ? 'blocked' : 'ready';
      }

      type AttemptOutcome =
        | { kind: 'matched'; wrapKey: Uint8Array; record: PinRecord }
        | { kind: 'wrongPin'; retriesLeft: number }
        | { kind: 'blocked' }
        | { kind: 'notSet' }
        | { kind: 'badLength'; detail: string }
        | { kind: 'storageFailure'; detail: string };

      /** Spend one try durably, then compare in constant time; a match restores the counter durably. */
      async function attempt(reference: PinReference, value: Uint8Array): Promise<AttemptOutcome> {
        const record = records.get(reference);
        const state = stateOf(reference);
        if (!record || state === 'unset') return { kind: 'notSet' };
        if (state === 'blocked' || record.retries === 0) return { kind: 'blocked' };
        const problem = lengthProblem(reference, value);
        // A PIN of the wrong length is a wrong PIN: it costs a try like any other, so probing lengths gains nothing.
        const spent = { ...record, retries: record.retries - 1 };
        const spendFailure = await persist(reference, spent);
        if (spendFailure) return { kind: 'storageFailure', detail: spendFailure };
        machine.send({ type: reference === 'user' ? 'USER_ATTEMPT_STARTED' : 'SO_ATTEMPT_STARTED' });
        const { verifier, wrapKey } = derive(record, reference, value);
        const matched = problem === undefined && constantTimeEqual(verifier, record.verifier);
        zeroize(verifier);
        if (!matched) {
          zeroize(wrapKey);
          machine.send({ type: reference === 'user' ? 'USER_MISMATCHED' : 'SO_MISMATCHED' });
          return spent.retries === 0 ? { kind: 'blocked' } : { kind: 'wrongPin', retriesLeft: spent.retries };
        }
        const restored = { ...record, retries: record.limit };
        const restoreFailure = await persist(reference, restored);
        if (restoreFailure) {
          zeroize(wrapKey);
          machine.send({ type: reference === 'user' ? 'USER_MISMATCHED' : 'SO_MISMATCHED' });
          return { kind: 'storageFailure', detail: restoreFailure };
        }
        machine.send({ type: reference === 'user' ? 'USER_MATCHED' : 'SO_MATCHED' });
        return { kind: 'matched', wrapKey, record: restored };
      }

      function unwrapMasterKey(reference: PinReference, record: PinRecord, wrapKey: Uint8Array): Uint8Array | undefined {
        const key = engine.aeadOpen(wrapKey, record.nonce, record.wrappedMasterKey, encoder.encode(`master-key:${reference}`));
        zeroize(wrapKey);
        return key;
      }

      function failure(outcome: Exclude<AttemptOutcome, { kind: 'matched' }>) {
        switch (outcome.kind) {
          case 'wrongPin':
            return fail({ code: 'wrongPin' as const, retriesLeft: outcome.retriesLeft });
          case 'blocked':
            return fail({ code: 'blocked' as const });
          case 'notSet':
            return fail({ code: 'notSet' as const });
          case 'badLength':
            return fail({ code: 'badLength' as const, detail: outcome.detail });
          case 'storageFailure':
            return fail({ code: 'storageFailure' as const, detail: outcome.detail });
        }
      }

      const loadFailure = await load();
      if (loadFailure) context.log(loadFailure);

      return {
        stop: () => endSession(),
        handlers: {
          status: ({ reference, session = 0 }) => {
            const record = records.get(reference);
            const state = stateOf(reference);
            return ok({
              state,
              retriesLeft: state === 'unset' ? 0 : (record?.retries ?? 0),
              limit: record?.limit ?? 0,
              verified: reference === 'user' && verifiedSessions.has(session),
              length: record?.length ?? 0,
            });
          },
          verify: async ({ reference, value, session = 0 }) => {
            if (reference === 'user') endSession(session);
            const outcome = await attempt(reference, value);
            if (outcome.kind !== 'matched') return failure(outcome);
            if (reference === 'user') {
              const unwrapped = unwrapMasterKey('user', outcome.record, outcome.wrapKey);
              if (unwrapped) {
                zeroize(masterKey);
                masterKey = unwrapped;
                verifiedSessions.add(session);
              } else {
                endSession(session);
                return fail({ code: 'storageFailure' as const, detail: 'the master key does not open under the user PIN' });
              }
            } else {
              zeroize(outcome.wrapKey);
            }
            return ok({});
          },
          change: async ({ reference, old, new: replacement, session = 0 }) => {
            const problem = lengthProblem(reference, replacement);
            if (problem) return fail({ code: 'badLength' as const, detail: problem });
            const outcome = await attempt(reference, old);
            if (outcome.kind !== 'matched') return failure(outcome);
            const key = unwrapMasterKey(reference, outcome.record, outcome.wrapKey);
            if (!key) return fail({ code: 'storageFailure' as const, detail: `the master key does not open under the ${reference} PIN` });
            const failed = await persist(reference, sealRecord(reference, replacement, key, outcome.record.limit));
            if (reference === 'user') {
              zeroize(masterKey);
              masterKey = key;
              verifiedSessions.add(session);
            } else {
              zeroize(key);
            }
            return failed ? fail({ code: 'storageFailure' as const, detail: failed }) : ok({});
          },
          resetUser: async ({ soPin, newPin }) => {
            if (newPin) {
              const problem = lengthProblem('user', newPin);
              if (problem) return fail({ code: 'badLength' as const, detail: problem });
            }
            const user = records.get('user');
            if (!user) return fail({ code: 'notSet' as const });
            const outcome = await attempt('so', soPin);
            if (outcome.kind !== 'matched') return failure(outcome);
            const key = unwrapMasterKey('so', outcome.record, outcome.wrapKey);
            if (!key) return fail({ code: 'storageFailure' as const, detail: 'the master key does not open under the SO-PIN' });
            const replacement = newPin ? sealRecord('user', newPin, key, user.limit) : { ...user, retries: user.limit };
            zeroize(key);
            const failed = await persist('user', replacement);
            if (failed) return fail({ code: 'storageFailure' as const, detail: failed });
            machine.send({ type: 'USER_RESET_BY_SO' });
            return ok({});
          },
          checkSo: async ({ soPin }) => {
            const outcome = await attempt('so', soPin);
            if (outcome.kind !== 'matched') return failure(outcome);
            zeroize(outcome.wrapKey);
            return ok({});
          },
          provision: async ({ userPin, soPin, userLimit, soLimit }) => {
            const problem = lengthProblem('user', userPin) ?? lengthProblem('so', soPin);
            if (problem) return fail({ code: 'badLength' as const, detail: problem });
            if (userLimit < 1 || soLimit < 1) return fail({ code: 'badLength' as const, detail: 'retry limits must be 1 to 15' });
            endSession();
            const key = entropy.randomBytes(32);
            // The user record first, the SO record last: the SO record's write commits commissioning (see the
            // lifecycle actor). A cut between the two leaves no SO record, so the PINs read as unset.
            const userFailure = await persist('user', sealRecord('user', userPin, key, userLimit));
            const soFailure = userFailure ?? (await persist('so', sealRecord('so', soPin, key, soLimit)));
            zeroize(key);
            if (soFailure) return fail({ code: 'storageFailure' as const, detail: soFailure });
            machine.send({ type: 'WIPED' });
            machine.send({ type: 'PROVISIONED', userLimit, soLimit });
            return ok({});
          },
          endSession: ({ session = 0 }) => {
            endSession(session);
            return ok({});
          },
          reload: async () => {
            const failed = await load();
            return failed ? fail({ code: 'storageFailure' as const, detail: failed }) : ok({});
          },
          masterKey: ({ session = 0 }) => {
            if (!masterKey || !verifiedSessions.has(session)) return fail({ code: 'notVerified' as const });
            return ok({ key: new Uint8Array(masterKey) });
          },
        },
      };
    },
  });
}
