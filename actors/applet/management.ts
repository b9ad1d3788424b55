/**
 * The management applet (AID A0 58 3F C1 9B 7E 4F 21): what the management tool reads about the device.
 * SELECT answers `80 02 major minor, 81 L serial`; GET DEVICE INFO (CLA 80, INS 01, P1 P2 00 00) answers the
 * deviceInfo record of messages/management.ts as CBOR. Nothing here needs a PIN and nothing here is secret.
 */
import { cryptoProtocol } from '../../messages/crypto.js';
import { lifecycleProtocol } from '../../messages/lifecycle.js';
import { deviceInfo, INS_DEVICE_INFO } from '../../messages/management.js';
import { pinProtocol, type PinReference } from '../../messages/pin.js';
import { cbor } from '../../messages/protocol.js';
import { validate } from '../../messages/schema.js';
import { storageProtocol } from '../../messages/storage.js';
import { SW } from '../card/status-words.js';
import { concat, tlv } from '../card/tlv.js';
import type { ActorContext } from '../actor.js';
import { reply, status, type CommandHandler } from './context.js';
import { FIRMWARE_VERSION } from './files.js';

const ascii = new TextEncoder();

export async function managementSelectResponse(context: ActorContext): Promise<Uint8Array> {
  const info = await context.call(lifecycleProtocol, 'info', {});
  return concat(tlv(0x80, Uint8Array.of(FIRMWARE_VERSION.major, FIRMWARE_VERSION.minor)), tlv(0x81, ascii.encode(info.ok ? info.value.serial : '')));
}

async function pinSummary(context: ActorContext, reference: PinReference) {
  const pin = await context.call(pinProtocol, 'status', { reference });
  return pin.ok ? { state: pin.value.state, retriesLeft: pin.value.retriesLeft, limit: pin.value.limit } : { state: 'unset' as const, retriesLeft: 0, limit: 0 };
}

export const managementCommand: CommandHandler = async (command, _session, context) => {
  if (command.ins !== INS_DEVICE_INFO) return status(SW.insNotSupported);
  if (command.p1 !== 0 || command.p2 !== 0) return status(SW.incorrectP1P2);
  const [lifecycle, capacity, crypto, userPin, soPin] = [
    await context.call(lifecycleProtocol, 'info', {}),
    await context.call(storageProtocol, 'capacity', {}),
    await context.call(cryptoProtocol, 'capabilities', {}),
    await pinSummary(context, 'user'),
    await pinSummary(context, 'so'),
  ];
  if (!lifecycle.ok || !crypto.ok) return status(SW.executionError);
  const storage = capacity.ok ? capacity.value : { total: 0, used: 0, free: 0, largestWritable: 0, files: 0 };
  const info = validate(deviceInfo, {
    serial: lifecycle.value.serial,
    firmware: `${FIRMWARE_VERSION.major}.${FIRMWARE_VERSION.minor}`,
    stage: lifecycle.value.stage,
    ...(lifecycle.value.problem !== undefined ? { problem: lifecycle.value.problem } : {}),
    ...(lifecycle.value.label !== undefined ? { label: lifecycle.value.label } : {}),
    options: lifecycle.value.options,
    userPin,
    soPin,
    storage,
    engine: crypto.value.engine,
    curves: crypto.value.curves,
    rsaBits: crypto.value.rsaBits,
    aesBits: crypto.value.aesBits,
    selfTestsPassed: crypto.value.selfTestsPassed,
    selfTestsFailed: crypto.value.selfTestsFailed,
  });
  return reply(cbor.encode(info));
};
