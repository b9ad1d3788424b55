/**
 * Authentication and lifecycle commands of the SmartCard-HSM applet: VERIFY (20), CHANGE REFERENCE DATA (24),
 * RESET RETRY COUNTER (2C), INITIALIZE DEVICE (50) and GET CHALLENGE (84).
 */
import { cryptoProtocol } from '../../messages/crypto.js';
import { lifecycleProtocol } from '../../messages/lifecycle.js';
import { pinProtocol, type PinReference } from '../../messages/pin.js';
import { storageProtocol } from '../../messages/storage.js';
import { findTlv, parseTlvList, readUint, uintBytes, concat } from '../card/tlv.js';
import { reply, status, type CommandHandler, type Response } from './context.js';
import { FIRMWARE_VERSION } from './files.js';
import { SW, wrongPinStatus } from '../card/status-words.js';

/** INITIALIZE option bit: the SO-PIN may reset the user PIN (RESET RETRY COUNTER with P1=00). */
export const OPTION_RESET_RETRY_COUNTER = 0x0001;

const REFERENCES: Record<number, PinReference> = { 0x81: 'user', 0x88: 'so' };

type PinFailure = { code: 'wrongPin'; retriesLeft: number } | { code: 'blocked' } | { code: 'notSet' } | { code: string };

function pinFailureStatus(error: PinFailure): Response {
  switch (error.code) {
    case 'wrongPin':
      return status(wrongPinStatus('retriesLeft' in error ? error.retriesLeft : 0));
    case 'blocked':
      return status(SW.authenticationBlocked);
    case 'notSet':
      return status(SW.referenceDataNotFound);
    case 'badLength':
      return status(SW.wrongLength);
    case 'storageFailure':
      return status(SW.memoryFailure);
    default:
      return status(SW.executionError);
  }
}

export const verify: CommandHandler = async (command, session, context) => {
  if (command.p1 !== 0x00) return status(SW.incorrectP1P2);
  const reference = REFERENCES[command.p2];
  // Any other reference (OpenSC probes 85 and 86 for a PIN pad) has no PIN: 6A88.
  if (reference === undefined) return status(SW.referenceDataNotFound);
  if (command.data.length === 0) {
    const pin = await context.call(pinProtocol, 'status', { reference, session: session.id });
    if (!pin.ok) return status(SW.executionError);
    switch (pin.value.state) {
      case 'unset':
        return status(SW.referenceDataNotFound);
      case 'blocked':
        return status(SW.authenticationBlocked);
      case 'ready':
        return status(pin.value.verified ? SW.ok : wrongPinStatus(pin.value.retriesLeft));
    }
  }
  if (reference === 'so') {
    const checked = await context.call(pinProtocol, 'checkSo', { soPin: command.data });
    return checked.ok ? status(SW.ok) : pinFailureStatus(checked.error);
  }
  const verified = await context.call(pinProtocol, 'verify', { reference, value: command.data, session: session.id });
  if (!verified.ok) return pinFailureStatus(verified.error);
  await context.call(lifecycleProtocol, 'userVerified', {});
  return status(SW.ok);
};

export const changeReferenceData: CommandHandler = async (command, session, context) => {
  if (command.p1 !== 0x00) return status(SW.incorrectP1P2);
  const reference = REFERENCES[command.p2];
  if (reference === undefined) return status(SW.referenceDataNotFound);
  const pin = await context.call(pinProtocol, 'status', { reference });
  if (!pin.ok) return status(SW.executionError);
  if (pin.value.state === 'unset') return status(SW.referenceDataNotFound);
  if (pin.value.state === 'blocked') return status(SW.authenticationBlocked);
  // The card knows the current PIN's length and splits old || new with it.
  const oldLength = pin.value.length;
  if (command.data.length <= oldLength) return status(SW.wrongLength);
  const changed = await context.call(pinProtocol, 'change', {
    reference,
    old: command.data.subarray(0, oldLength),
    new: command.data.subarray(oldLength),
    session: session.id,
  });
  return changed.ok ? status(SW.ok) : pinFailureStatus(changed.error);
};

const SO_PIN_BYTES = 8;

export const resetRetryCounter: CommandHandler = async (command, _session, context) => {
  if (command.p2 !== 0x81) return status(SW.incorrectP1P2);
  if (command.p1 !== 0x00 && command.p1 !== 0x01) return status(SW.incorrectP1P2);
  if (command.p1 === 0x00 && command.data.length <= SO_PIN_BYTES) return status(SW.wrongLength);
  if (command.p1 === 0x01 && command.data.length !== SO_PIN_BYTES) return status(SW.wrongLength);
  const info = await context.call(lifecycleProtocol, 'info', {});
  if (!info.ok) return status(SW.executionError);
  if (command.p1 === 0x00 && (info.value.options & OPTION_RESET_RETRY_COUNTER) === 0) return status(SW.commandNotAllowed);
  const soPin = command.data.subarray(0, SO_PIN_BYTES);
  const newPin = command.p1 === 0x00 ? command.data.subarray(SO_PIN_BYTES) : undefined;
  const reset = await context.call(pinProtocol, 'resetUser', newPin ? { soPin, newPin } : { soPin });
  return reset.ok ? status(SW.ok) : pinFailureStatus(reset.error);
};

export const initializeDevice: CommandHandler = async (command, _session, context) => {
  if (command.p1 !== 0x00 || command.p2 !== 0x00) return status(SW.incorrectP1P2);
  if (command.data.length === 0) {
    // Device information: free storage (4 bytes), 00, firmware major, minor.
    const capacity = await context.call(storageProtocol, 'capacity', {});
    const free = capacity.ok ? capacity.value.free : 0;
    return reply(concat(uintBytes(Math.min(free, 0xffffffff), 4), Uint8Array.of(0x00, FIRMWARE_VERSION.major, FIRMWARE_VERSION.minor)));
  }
  const items = parseTlvList(command.data);
  if (!items) return status(SW.wrongData);
  const knownTags = [0x80, 0x81, 0x82, 0x91, 0x92, 0x93, 0x97];
  if (items.some((item) => !knownTags.includes(item.tag))) return status(SW.wrongData);
  // Key export and import (DKEK shares), public-key authentication and key domains are not offered.
  if (findTlv(items, 0x92) || findTlv(items, 0x93) || findTlv(items, 0x97)) return status(SW.functionNotSupported);
  const options = findTlv(items, 0x80);
  const userPin = findTlv(items, 0x81);
  const soPin = findTlv(items, 0x82);
  const retries = findTlv(items, 0x91);
  if (!userPin || !soPin) return status(SW.wrongData);
  if (options && options.length !== 2) return status(SW.wrongData);
  if (retries && retries.length !== 1) return status(SW.wrongData);
  if (soPin.length !== SO_PIN_BYTES) return status(SW.wrongLength);
  const userLimit = retries ? readUint(retries) : 3;
  if (userLimit < 1 || userLimit > 15) return status(SW.wrongData);
  const initialized = await context.call(lifecycleProtocol, 'initialize', {
    userPin,
    soPin,
    userLimit,
    options: options ? readUint(options) : OPTION_RESET_RETRY_COUNTER,
  });
  if (initialized.ok) return status(SW.ok);
  switch (initialized.error.code) {
    case 'wrongSoPin':
      return status(wrongPinStatus(initialized.error.retriesLeft));
    case 'soBlocked':
      return status(SW.authenticationBlocked);
    case 'badRequest':
      return status(SW.wrongData);
    case 'notReady':
      return status(SW.conditionsNotSatisfied);
    default:
      return status(SW.memoryFailure);
  }
};

export const getChallenge: CommandHandler = async (command, _session, context) => {
  if (command.p1 !== 0x00 || command.p2 !== 0x00) return status(SW.incorrectP1P2);
  if (command.data.length !== 0) return status(SW.wrongLength);
  const length = command.le === 0 ? 256 : command.le;
  const random = await context.call(cryptoProtocol, 'random', { length });
  return random.ok ? reply(random.value.bytes) : status(SW.executionError);
};
