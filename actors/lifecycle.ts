/**
 * The lifecycle actor.
 *
 * Owns: the device lifecycle machine (machines/lifecycle.ts), the device configuration record (internal file
 * 0x1000: stage, options, serial, label), and the boot sequence (first boot creates the device identity).
 * Accepts: lifecycleProtocol (info, initialize, userVerified, recommission).
 * Calls: storage (configuration, wipe, format), crypto (device identity), pin (SO-PIN check, provisioning).
 *
 * Re-initialising a commissioned device requires its current SO-PIN (the original firmware does not check it;
 * we do), then wipes every key, certificate, data object and PIN (physically: the storage wipe erases every
 * sector that held them) and keeps only the device key and its certificate.
 */
import { createActor, type Actor } from 'xstate';
import type { Entropy } from '../hal/types.js';
import { lifecycleMachine, type LifecycleEvent } from '../machines/lifecycle.js';
import { cryptoProtocol } from '../messages/crypto.js';
import { lifecycleProtocol, DEVICE_STAGES } from '../messages/lifecycle.js';
import { pinProtocol } from '../messages/pin.js';
import { cbor, fail, ok } from '../messages/protocol.js';
import { CARD_FILES, INTERNAL_FILES, deviceConfigRecord } from '../messages/records.js';
import { errorMessage, toHex, validate, type Infer } from '../messages/schema.js';
import { storageProtocol } from '../messages/storage.js';
import { parseCvCertificate } from './card/cvc.js';
import { DEVICE_CHR_SEQUENCE } from './crypto.js';
import { defineActor, type RegisteredActor } from './scheduler.js';
import type { ActorContext } from './actor.js';

type DeviceConfig = Infer<typeof deviceConfigRecord>;
type DeviceStage = (typeof DEVICE_STAGES)[number];

export interface LifecycleActorOptions {
  readonly entropy: Entropy;
  /** Serial prefix (country code + mnemonic, 5 characters); 6 random hex digits follow. */
  readonly serialPrefix?: string;
}

/** Files that survive re-initialisation: the device identity. */
export const DEVICE_IDENTITY_FILES = [INTERNAL_FILES.deviceKey, CARD_FILES.deviceCertificate] as const;

export function createLifecycleActor(options: LifecycleActorOptions): RegisteredActor {
  const serialPrefix = options.serialPrefix ?? 'TSHSM';

  return defineActor({
    protocol: lifecycleProtocol,
    async start(context) {
      let machine: Actor<typeof lifecycleMachine> = createActor(lifecycleMachine).start();
      let serial = '';
      let config: DeviceConfig | undefined;
      let problem: string | undefined;

      const send = (event: LifecycleEvent): void => {
        machine.send(event);
      };

      function stage(): DeviceStage {
        const value = machine.getSnapshot().value;
        if (typeof value === 'string') {
          return (DEVICE_STAGES as readonly string[]).includes(value) ? (value as DeviceStage) : 'booting';
        }
        return machine.getSnapshot().matches({ inUse: 'operational' }) ? 'operational' : 'commissioned';
      }

      async function readSerial(context: ActorContext): Promise<string | undefined> {
        const certificate = await context.call(storageProtocol, 'read', { fileId: CARD_FILES.deviceCertificate });
        const key = await context.call(storageProtocol, 'stat', { fileId: INTERNAL_FILES.deviceKey });
        if (!certificate.ok || !key.ok) return undefined;
        const parsed = parseCvCertificate(certificate.value.data);
        if (!parsed || !parsed.chr.endsWith(DEVICE_CHR_SEQUENCE)) return undefined;
        return parsed.chr.slice(0, -DEVICE_CHR_SEQUENCE.length);
      }

      async function boot(): Promise<void> {
        const storage = await context.call(storageProtocol, 'info', {});
        if (!storage.ok || storage.value.state === 'failed') {
          problem = storage.ok ? (storage.value.failure ?? 'storage failed') : storage.error.code;
          send({ type: 'FORMAT_UNSUPPORTED' });
          context.log(`storage unusable: ${problem}; the device needs re-commissioning`);
          return;
        }
        const existing = await readSerial(context);
        if (existing === undefined) {
          send({ type: 'DEVICE_KEY_MISSING' });
          const fresh = `${serialPrefix}${toHex(options.entropy.randomBytes(3)).toUpperCase()}`;
          const created = await context.call(cryptoProtocol, 'createDeviceIdentity', { serial: fresh });
          if (!created.ok) {
            problem = `creating the device identity: ${created.error.code}${'detail' in created.error ? ` (${String(created.error.detail)})` : ''}`;
            context.log(problem);
            return;
          }
          serial = fresh;
          send({ type: 'DEVICE_KEY_CREATED' });
          context.log(`first boot: device identity ${serial} created`);
          return;
        }
        serial = existing;
        const read = await context.call(storageProtocol, 'read', { fileId: INTERNAL_FILES.deviceConfig });
        const pins = await context.call(pinProtocol, 'status', { reference: 'user' });
        config = undefined;
        if (read.ok) {
          try {
            config = validate(deviceConfigRecord, cbor.decode(read.value.data));
          } catch (error) {
            context.log(`device configuration unreadable, treated as not commissioned: ${errorMessage(error)}`);
          }
        }
        // Commissioned only when both the configuration and the PINs exist (a cut during INITIALIZE leaves
        // the device "installed", ready to be initialised again).
        const commissioned = config !== undefined && pins.ok && pins.value.state !== 'unset';
        send({ type: 'LOADED', stage: commissioned && config ? config.stage : 'installed' });
      }

      /** Rebuilds the machine from what storage holds (after a failed multi-step operation). */
      async function reboot(): Promise<void> {
        machine.stop();
        machine = createActor(lifecycleMachine).start();
        await boot();
      }

      await boot();

      return {
        handlers: {
          info: () =>
            ok({
              stage: stage(),
              serial,
              options: config?.options ?? 0,
              ...(config?.label !== undefined ? { label: config.label } : {}),
              ...(problem !== undefined ? { problem } : {}),
            }),

          initialize: async ({ userPin, soPin, userLimit, options: deviceOptions, label }) => {
            const before = stage();
            if (before !== 'installed' && before !== 'commissioned' && before !== 'operational') {
              return fail({ code: 'notReady' as const, stage: before });
            }
            if (userLimit < 1 || userLimit > 15) return fail({ code: 'badRequest' as const, detail: 'retry limit must be 1 to 15' });
            send({ type: 'INITIALIZE_REQUESTED' });
            if (before !== 'installed') {
              const checked = await context.call(pinProtocol, 'checkSo', { soPin });
              if (!checked.ok) {
                send({ type: 'SO_PIN_REJECTED' });
                switch (checked.error.code) {
                  case 'wrongPin':
                    return fail({ code: 'wrongSoPin' as const, retriesLeft: checked.error.retriesLeft });
                  case 'blocked':
                    return fail({ code: 'soBlocked' as const });
                  default:
                    return fail({ code: 'failed' as const, detail: `checking the SO-PIN: ${checked.error.code}` });
                }
              }
              send({ type: 'SO_PIN_ACCEPTED' });
            }
            // Wipe always, also on an "installed" device: nothing from before commissioning may survive it.
            const wiped = await context.call(storageProtocol, 'wipe', { keep: [...DEVICE_IDENTITY_FILES] });
            if (!wiped.ok) {
              await reboot();
              return fail({ code: 'failed' as const, detail: `wiping: ${wiped.error.code}` });
            }
            if (before !== 'installed') send({ type: 'WIPE_DONE' });
            config = undefined;
            await context.call(pinProtocol, 'reload', {});
            // Commit order (model-check finding F1): the configuration first, then the user PIN record, then the
            // SO-PIN record. The device counts as commissioned only when all three exist, so the last write is
            // the commit: a power cut anywhere before it leaves a device without a complete set of PINs (VERIFY
            // answers 6A88, no key can be made) that INITIALIZE may set up again; never a device with PINs that
            // reads as "installed" and would accept a re-initialisation without its SO-PIN.
            const fresh: DeviceConfig = { stage: 'commissioned', options: deviceOptions, serial, ...(label !== undefined ? { label } : {}) };
            const stored = await context.call(storageProtocol, 'put', { fileId: INTERNAL_FILES.deviceConfig, data: cbor.encode(validate(deviceConfigRecord, fresh)) });
            if (!stored.ok) {
              send({ type: 'PROVISION_FAILED' });
              return fail({ code: 'failed' as const, detail: `storing the configuration: ${stored.error.code}` });
            }
            const provisioned = await context.call(pinProtocol, 'provision', { userPin, soPin, userLimit, soLimit: 15 });
            if (!provisioned.ok) {
              // Take the configuration back (best effort: without PINs it could not make the device commissioned).
              await context.call(storageProtocol, 'delete', { fileId: INTERNAL_FILES.deviceConfig });
              send({ type: 'PROVISION_FAILED' });
              return provisioned.error.code === 'badLength'
                ? fail({ code: 'badRequest' as const, detail: provisioned.error.detail })
                : fail({ code: 'failed' as const, detail: `setting the PINs: ${provisioned.error.code}` });
            }
            config = fresh;
            send({ type: 'PROVISIONED' });
            context.log(`commissioned (retry limit ${userLimit}, options ${deviceOptions.toString(16).padStart(4, '0')})`);
            return ok({});
          },

          userVerified: async () => {
            if (stage() !== 'commissioned' || !config) return ok({});
            const advanced: DeviceConfig = { ...config, stage: 'operational' };
            const stored = await context.call(storageProtocol, 'put', { fileId: INTERNAL_FILES.deviceConfig, data: cbor.encode(validate(deviceConfigRecord, advanced)) });
            if (!stored.ok) return fail({ code: 'failed' as const, detail: stored.error.code });
            config = advanced;
            send({ type: 'USER_VERIFIED' });
            return ok({});
          },

          recommission: async () => {
            if (stage() !== 'needsRecommissioning') return fail({ code: 'failed' as const, detail: `the device is ${stage()}, not in need of re-commissioning` });
            const formatted = await context.call(storageProtocol, 'format', {});
            if (!formatted.ok) return fail({ code: 'failed' as const, detail: formatted.error.code });
            problem = undefined;
            await context.call(pinProtocol, 'reload', {});
            await reboot();
            return ok({});
          },
        },
      };
    },
  });
}
