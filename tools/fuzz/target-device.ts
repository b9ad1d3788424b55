/**
 * Target `device`: the whole simulated device driven like a card reader would, with faults. One input = one
 * seed (entropy, the scheduler's delivery order, the fault subsets) and a script of steps: APDUs (valid
 * commands, mutated ones, raw bytes, chains), power events from the reader, link drops in the middle of an
 * APDU, clock skew in the middle of an APDU (call timeouts fire), power cuts at the n-th flash operation (with a
 * seeded subset of the interrupted operation's bit changes), abrupt power losses, clean restarts and flash bit
 * flips (decay).
 *
 * Oracles after every step (the harness knows every key the device generated, see sim-device.ts):
 *   - no actor restarted, every APDU is answered by the transport with a documented status word, mailboxes
 *     stay within their bounds, nothing hangs (even across call timeouts);
 *   - no private key (nor AES key, nor the master key) in any response, trace, log line, message that involves
 *     neither the crypto actor nor key loading, or the flash image;
 *   - model invariants (skipped once the flash has decayed under a bit flip):
 *     * a key operation (46, 48, 68, 62, 78) never succeeds while the user is certainly not verified (after a
 *       boot, a power event, SELECT of the applet, a failed VERIFY, INITIALIZE);
 *     * VERIFY never accepts a PIN that is not (possibly) the current one; CHANGE REFERENCE DATA and RESET RETRY
 *       COUNTER never succeed with a wrong old PIN or SO-PIN;
 *     * a wrong VERIFY (63Cx / 6983) left the retry counter at x durably: the PIN record read from a copy of the
 *       flash says so;
 *     * after a successful re-INITIALIZE only the device identity, the PINs and the configuration are stored, and
 *       no public key of an earlier key is left anywhere in the flash;
 *     * after a power loss (cut or not) the storage mounts ready and the device is not asking to be
 *       re-commissioned.
 */
import fc from 'fast-check';
import { APDU_SW, parseCommandApdu } from '../../actors/transport/apdu.js';
import { LogStore } from '../../actors/storage/log-store.js';
import { SW } from '../../actors/card/status-words.js';
import { findTlv, parseTlvList } from '../../actors/card/tlv.js';
import { SimFlash } from '../../hal/sim/flash.js';
import { lifecycleProtocol } from '../../messages/lifecycle.js';
import { cbor } from '../../messages/protocol.js';
import { INTERNAL_FILES, pinRecord } from '../../messages/records.js';
import { validate } from '../../messages/schema.js';
import { storageProtocol } from '../../messages/storage.js';
import { apduArbitrary, SELECT_APPLET } from './apdus.js';
import { check, exercise, Finding, fromHexString, tick, toHex, type FuzzTarget } from './common.js';
import { FUZZ_GEOMETRY, FuzzDevice, type Phase } from './sim-device.js';

export type DeviceStep =
  | { readonly do: 'apdu'; readonly apdus: readonly Uint8Array[]; readonly cut?: { readonly at: number; readonly flip: number }; readonly skew?: { readonly ticks: number; readonly ms: number } }
  | { readonly do: 'power'; readonly event: 'on' | 'off' | 'reset' }
  | { readonly do: 'linkDrop'; readonly apdus: readonly Uint8Array[]; readonly ticks: number }
  | { readonly do: 'powerLoss' }
  | { readonly do: 'restart' }
  | { readonly do: 'flip'; readonly at: number; readonly bit: number };

export interface DeviceInput {
  readonly seed: number;
  /** Start commissioned (INITIALIZE with the default PINs and VERIFY done) rather than from a blank flash. */
  readonly commissioned: boolean;
  readonly steps: readonly DeviceStep[];
}

function stepArbitrary(): fc.Arbitrary<DeviceStep> {
  const apdus = apduArbitrary();
  return fc.oneof(
    { arbitrary: apdus.map((list): DeviceStep => ({ do: 'apdu', apdus: list })), weight: 30 },
    { arbitrary: fc.tuple(apdus, fc.integer({ min: 1, max: 40 }), fc.nat()).map(([list, at, flip]): DeviceStep => ({ do: 'apdu', apdus: list, cut: { at, flip } })), weight: 5 },
    { arbitrary: fc.tuple(apdus, fc.integer({ min: 0, max: 40 }), fc.oneof(fc.constantFrom(1, 29_999, 30_000, 31_000), fc.integer({ min: 1, max: 90_000 }))).map(([list, ticks, ms]): DeviceStep => ({ do: 'apdu', apdus: list, skew: { ticks, ms } })), weight: 2 },
    { arbitrary: fc.constantFrom('on', 'off', 'reset').map((event): DeviceStep => ({ do: 'power', event: event as 'on' | 'off' | 'reset' })), weight: 2 },
    { arbitrary: fc.tuple(apdus, fc.integer({ min: 0, max: 30 })).map(([list, ticks]): DeviceStep => ({ do: 'linkDrop', apdus: list, ticks })), weight: 2 },
    { arbitrary: fc.constant<DeviceStep>({ do: 'powerLoss' }), weight: 1 },
    { arbitrary: fc.constant<DeviceStep>({ do: 'restart' }), weight: 1 },
    { arbitrary: fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })).map(([at, bit]): DeviceStep => ({ do: 'flip', at, bit })), weight: 1 },
  );
}

export function deviceArbitrary(maxSteps = 24): fc.Arbitrary<DeviceInput> {
  return fc.record({ seed: fc.nat({ max: 0xffffff }), commissioned: fc.boolean(), steps: fc.array(stepArbitrary(), { minLength: 1, maxLength: maxSteps }) });
}

// ---------------------------------------------------------------------------------------------------------

/** The enums' numbers (Object.values of a numeric enum also yields its member names). */
const DOCUMENTED = new Set<number>([...Object.values(SW), ...Object.values(APDU_SW)].filter((value): value is number => typeof value === 'number'));
function documentedStatusWord(sw: number): boolean {
  return DOCUMENTED.has(sw) || (sw & 0xff00) === 0x6100 || (sw & 0xfff0) === 0x63c0;
}

const KEY_OPERATIONS = new Set([0x46, 0x48, 0x68, 0x62, 0x78]);
const IDENTITY_AND_CONFIG = new Set([INTERNAL_FILES.deviceConfig, INTERNAL_FILES.userPin, INTERNAL_FILES.soPin, INTERNAL_FILES.deviceKey, 0x2f02]);

/** What the harness believes about the device (sets of possibilities where a fault leaves it unsure). */
class Model {
  /** The user is certainly not verified in the session. */
  notVerified = true;
  /** The flash decayed (bit flips): durability and PIN invariants no longer hold by design. */
  decayed = false;
  userPins = new Set<string>();
  soPins = new Set<string>();
}

function statusWordOf(response: Uint8Array): number {
  return ((response[response.length - 2] ?? 0) << 8) | (response[response.length - 1] ?? 0);
}

/** The durable PIN record of `reference`, read from a copy of the flash (never disturbs the device). */
function durablePinRetries(flash: SimFlash, reference: 'user' | 'so'): number | undefined {
  if (flash.isPoweredOff) return undefined;
  const copy = SimFlash.fromImage(flash.geometry, flash.snapshot());
  const store = new LogStore(copy);
  if (!store.mount().ok) return undefined;
  store.recover();
  const read = store.read(reference === 'user' ? INTERNAL_FILES.userPin : INTERNAL_FILES.soPin);
  if (!read.ok) return undefined;
  return validate(pinRecord, cbor.decode(read.value.data)).retries;
}

function durableFiles(flash: SimFlash): number[] | undefined {
  const store = new LogStore(SimFlash.fromImage(flash.geometry, flash.snapshot()));
  if (!store.mount().ok) return undefined;
  store.recover();
  const listed = store.list();
  return listed.ok ? listed.value.fileIds : undefined;
}

function phaseOf(ins: number | undefined): Phase {
  switch (ins) {
    case 0x46:
      return 'generateKeyPair';
    case 0x48:
      return 'generateSecretKey';
    case 0x50:
      return 'initialize';
    default:
      return 'other';
  }
}

async function commission(device: FuzzDevice, model: Model): Promise<void> {
  const user = toHex(new TextEncoder().encode('648219'));
  for (const [hex, phase] of [
    [SELECT_APPLET, 'other'],
    [`8050000019800200018106${user}82083537363231383830910103`, 'initialize'],
    [`0020008106${user}`, 'other'],
  ] as const) {
    device.phase = phase;
    const answer = await device.transmit(fromHexString(hex));
    device.phase = 'other';
    if (statusWordOf(answer) !== 0x9000) throw new Error(`commissioning: ${hex} answered ${statusWordOf(answer).toString(16)}`);
  }
  model.userPins = new Set([user]);
  model.soPins = new Set(['3537363231383830']);
  model.notVerified = false;
}

/** Updates the model from one answered command and checks the invariants that command concerns. */
function observeCommand(device: FuzzDevice, model: Model, apdu: Uint8Array, response: Uint8Array, certain: boolean): void {
  const sw = statusWordOf(response);
  const parsed = parseCommandApdu(apdu);
  if (!parsed.ok) return;
  const { cla, ins, p1, p2, data } = parsed.apdu;
  if ((cla & 0x10) !== 0) return; // a chained part: the command completes later
  const success = sw === 0x9000 || (sw & 0xff00) === 0x6100;
  const hex = toHex(data);
  if (KEY_OPERATIONS.has(ins) && !model.decayed) {
    if (model.notVerified) exercise('key operation while certainly not verified');
    check(!(success && model.notVerified), 'key-op-without-pin', () => `INS ${ins.toString(16)} answered ${sw.toString(16)} while the user PIN was not verified`);
  }
  switch (ins) {
    case 0xa4:
      if (toHex(apdu).toUpperCase() === SELECT_APPLET && sw === 0x9000) model.notVerified = true;
      break;
    case 0x20:
      if (p1 !== 0 || data.length === 0) break;
      if (p2 === 0x81) {
        if (success && !model.decayed) exercise('successful VERIFY checked against the possible PINs');
        if (success && !model.decayed) check(model.userPins.has(hex), 'verify-accepts-wrong-pin', () => `VERIFY accepted ${hex}; possible PINs: ${[...model.userPins].join(', ') || 'none'}`);
        if (success) model.notVerified = false;
        else if (!certain) model.notVerified = false; // a timed-out VERIFY may still complete: unknown
        else {
          // VERIFY of the user PIN ends the session first, whatever follows.
          model.notVerified = true;
          if (((sw & 0xfff0) === 0x63c0 || sw === 0x6983) && !model.decayed) {
            const expected = sw === 0x6983 ? 0 : sw & 0x0f;
            const durable = durablePinRetries(device.flash, 'user');
            if (durable !== undefined) exercise('durable retry counter after a wrong VERIFY');
            check(durable === undefined || durable === expected, 'retry-counter-durable', () => `VERIFY answered ${sw.toString(16)} but the stored retry counter is ${durable}`);
          }
        }
      } else if (p2 === 0x88 && success && !model.decayed) {
        check(model.soPins.has(hex), 'verify-accepts-wrong-so-pin', () => `VERIFY SO accepted ${hex}`);
      }
      break;
    case 0x24: {
      if (p1 !== 0 || (p2 !== 0x81 && p2 !== 0x88)) break;
      const pins = p2 === 0x81 ? model.userPins : model.soPins;
      const news = [...pins].filter((pin) => hex.startsWith(pin) && hex.length > pin.length).map((pin) => hex.slice(pin.length));
      if (success && !model.decayed) check(news.length > 0, 'change-with-wrong-pin', () => `CHANGE REFERENCE DATA ${p2.toString(16)} succeeded with ${hex}; possible PINs: ${[...pins].join(', ')}`);
      if (success) {
        if (p2 === 0x81) {
          model.userPins = new Set(news);
          model.notVerified = false;
        } else model.soPins = new Set(news);
      } else if (!certain || sw === 0x6581 || sw === 0x6f00) {
        for (const pin of news) pins.add(pin);
        if (p2 === 0x81) model.notVerified = false;
      }
      break;
    }
    case 0x2c: {
      if (p2 !== 0x81 || data.length < 8) break;
      const so = hex.slice(0, 16);
      if (success && !model.decayed) check(model.soPins.has(so), 'reset-with-wrong-so-pin', () => `RESET RETRY COUNTER succeeded with SO-PIN ${so}`);
      if (p1 === 0 && data.length > 8) {
        if (success) model.userPins = new Set([hex.slice(16)]);
        else if (!certain || sw === 0x6581 || sw === 0x6f00) model.userPins.add(hex.slice(16));
      }
      break;
    }
    case 0x50: {
      if (data.length === 0) break;
      const items = parseTlvList(data);
      const user = items ? findTlv(items, 0x81) : undefined;
      const so = items ? findTlv(items, 0x82) : undefined;
      if (!user || !so) break;
      if (success) {
        model.userPins = new Set([toHex(user)]);
        model.soPins = new Set([toHex(so)]);
        model.notVerified = true;
        if (!model.decayed) checkWiped(device);
      } else if (!certain || sw === 0x6581 || sw === 0x6f00) {
        model.userPins.add(toHex(user));
        model.soPins.add(toHex(so));
        model.notVerified = model.notVerified && certain;
      }
      break;
    }
  }
}

function checkWiped(device: FuzzDevice): void {
  exercise(`re-INITIALIZE wipe (${device.userPublicKeys.size} earlier public keys looked for)`.replace(/\(\d+ /, device.userPublicKeys.size > 0 ? '(some ' : '(no '));
  const files = durableFiles(device.flash);
  if (files !== undefined) {
    const extra = files.filter((fileId) => !IDENTITY_AND_CONFIG.has(fileId));
    check(extra.length === 0, 'reinitialize-leftovers', () => `after INITIALIZE the store still holds ${extra.map((id) => id.toString(16)).join(', ')}`);
  }
  const image = toHex(device.flash.snapshot());
  for (const publicKey of device.userPublicKeys) {
    check(!image.includes(publicKey), 'reinitialize-key-in-flash', () => `after INITIALIZE the public key ${publicKey.slice(0, 16)}... of an earlier key is still in flash`);
  }
  device.userPublicKeys.clear();
}

async function checkHealthyAfterPowerLoss(device: FuzzDevice, model: Model): Promise<void> {
  if (model.decayed) return;
  exercise('storage and lifecycle healthy after a power loss');
  const storage = await device.settle(device.scheduler.call('board', storageProtocol, 'info', {}), 'storage info');
  check(storage.ok && storage.value.state === 'ready', 'storage-not-ready-after-power-loss', () => `storage after a power loss: ${JSON.stringify(storage)}`);
  const lifecycle = await device.settle(device.scheduler.call('board', lifecycleProtocol, 'info', {}), 'lifecycle info');
  check(lifecycle.ok && lifecycle.value.stage !== 'needsRecommissioning' && lifecycle.value.stage !== 'booting', 'device-unusable-after-power-loss', () => `lifecycle after a power loss: ${JSON.stringify(lifecycle)}`);
}

/** Sends the step's APDUs; returns each answer (undefined for one lost to a link drop). */
async function sendAll(device: FuzzDevice, model: Model, apdus: readonly Uint8Array[], certain: boolean, where: string): Promise<void> {
  for (const apdu of apdus) {
    const parsed = parseCommandApdu(apdu);
    device.phase = phaseOf(parsed.ok ? parsed.apdu.ins : undefined);
    let response: Uint8Array;
    try {
      response = await device.transmit(apdu);
    } finally {
      device.phase = 'other';
    }
    checkResponse(device, apdu, response, where);
    observeCommand(device, model, apdu, response, certain);
  }
}

function checkResponse(device: FuzzDevice, apdu: Uint8Array, response: Uint8Array, where: string): void {
  check(response.length >= 2, 'response-too-short', () => `${where}: ${toHex(apdu)} answered ${toHex(response)}`);
  const sw = statusWordOf(response);
  check(documentedStatusWord(sw), 'undocumented-status-word', () => `${where}: ${toHex(apdu)} answered ${sw.toString(16)}`);
  const found = device.secrets.findIn(toHex(response));
  check(found === undefined, 'key-leak-response', () => `${where}: ${found} in the response to ${toHex(apdu)}`);
}

async function runDevice(input: DeviceInput): Promise<void> {
  const device = new FuzzDevice({ seed: input.seed });
  const model = new Model();
  await device.boot();
  if (input.commissioned) await commission(device, model);
  for (const [index, step] of input.steps.entries()) {
    const where = `step ${index} (${step.do})`;
    switch (step.do) {
      case 'apdu': {
        if (step.cut) device.flash.armPowerCut({ atOperation: step.cut.at, flipSeed: step.cut.flip });
        if (step.skew) {
          const skew = step.skew;
          const [first, ...rest] = step.apdus;
          if (first) {
            const parsed = parseCommandApdu(first);
            device.phase = phaseOf(parsed.ok ? parsed.apdu.ins : undefined);
            const pending = device.transmitAllowingTimeout(first);
            for (let count = 0; count < skew.ticks; count++) await tick();
            device.time.advance(skew.ms);
            const response = await pending;
            device.phase = 'other';
            if (response) {
              checkResponse(device, first, response, where);
              observeCommand(device, model, first, response, false);
            }
            // The command may still be running inside the device: its effect on the session is unknown.
            model.notVerified = false;
          }
          await sendAll(device, model, rest, false, where);
        } else {
          await sendAll(device, model, step.apdus, step.cut === undefined, where);
        }
        if (step.cut) {
          device.flash.disarmPowerCut();
          if (device.flash.isPoweredOff) {
            // The cut took the device down: a new boot on what the flash holds.
            await device.powerLoss();
            model.notVerified = true;
            device.checkNoRestarts();
            await checkHealthyAfterPowerLoss(device, model);
          }
        }
        break;
      }
      case 'power':
        await device.power(step.event);
        model.notVerified = true;
        break;
      case 'linkDrop': {
        // The link goes away in the middle of an APDU: the link adapter sends power off, concurrently.
        const [first] = step.apdus;
        if (!first) break;
        const parsed = parseCommandApdu(first);
        device.phase = phaseOf(parsed.ok ? parsed.apdu.ins : undefined);
        const pending = device.transmit(first);
        for (let count = 0; count < step.ticks; count++) await tick();
        const off = device.power('off');
        const response = await pending;
        await off;
        device.phase = 'other';
        checkResponse(device, first, response, where);
        observeCommand(device, model, first, response, false);
        // Whichever ran last decides the session; the harness no longer knows.
        model.notVerified = false;
        break;
      }
      case 'powerLoss':
        await device.powerLoss();
        model.notVerified = true;
        await checkHealthyAfterPowerLoss(device, model);
        break;
      case 'restart':
        await device.restart();
        model.notVerified = true;
        break;
      case 'flip': {
        const image = device.flash.snapshot();
        const at = step.at % image.length;
        image[at] = image[at]! ^ (1 << step.bit);
        device.flash.restore(image);
        model.decayed = true;
        break;
      }
    }
    device.checkNoRestarts();
    device.checkMailboxes();
    device.checkNoLeaks(where);
  }
  await device.settle(device.scheduler.idle(), 'idle at the end');
  device.checkNoRestarts();
  device.checkNoLeaks('at the end');
  device.checkFlash('at the end');
}

export const deviceTarget: FuzzTarget<DeviceInput> = {
  name: 'device',
  description: 'the whole sim device: APDU scripts with mutations, power events, link drops, clock skew, power cuts at any flash operation, bit flips',
  arbitrary: () => deviceArbitrary(),
  run: runDevice,
};

