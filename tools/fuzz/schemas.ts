/**
 * Every protocol and every schema the firmware decodes, by name: "pin.verify.request", "pin.verify.reply",
 * "pin.verify.error.wrongPin", "system.busy", "records.pinRecord", ...
 */
import { appletProtocol } from '../../messages/applet.js';
import { cryptoProtocol } from '../../messages/crypto.js';
import { keystoreProtocol } from '../../messages/keystore.js';
import { lifecycleProtocol } from '../../messages/lifecycle.js';
import { pinProtocol } from '../../messages/pin.js';
import { SYSTEM_ERRORS, type Protocol } from '../../messages/protocol.js';
import { deviceConfigRecord, deviceKeyRecord, keyRecord, pinRecord } from '../../messages/records.js';
import type { Field } from '../../messages/schema.js';
import { storageProtocol } from '../../messages/storage.js';
import { transportProtocol } from '../../messages/transport.js';
import * as management from '../../messages/management.js';

export const PROTOCOLS: readonly Protocol[] = [transportProtocol, appletProtocol, pinProtocol, keystoreProtocol, cryptoProtocol, lifecycleProtocol, storageProtocol];

export function protocolNamed(name: string): Protocol | undefined {
  return PROTOCOLS.find((protocol) => protocol.name === name);
}

export interface NamedSchema {
  readonly name: string;
  readonly field: Field;
}

function collect(): NamedSchema[] {
  const out: NamedSchema[] = [];
  for (const protocol of PROTOCOLS) {
    for (const [op, spec] of Object.entries(protocol.operations)) {
      out.push({ name: `${protocol.name}.${op}.request`, field: spec.request });
      out.push({ name: `${protocol.name}.${op}.reply`, field: spec.reply });
      for (const [code, payload] of Object.entries(spec.errors)) out.push({ name: `${protocol.name}.${op}.error.${code}`, field: payload });
    }
  }
  for (const [code, payload] of Object.entries(SYSTEM_ERRORS)) out.push({ name: `system.${code}`, field: payload });
  out.push({ name: 'records.pinRecord', field: pinRecord });
  out.push({ name: 'records.deviceKeyRecord', field: deviceKeyRecord });
  out.push({ name: 'records.deviceConfigRecord', field: deviceConfigRecord });
  out.push({ name: 'records.keyRecord', field: keyRecord });
  // The management applet's device information (decoded by the management tool), when this tree has it.
  const deviceInfo = (management as Record<string, unknown>).deviceInfo;
  if (isField(deviceInfo)) out.push({ name: 'management.deviceInfo', field: deviceInfo });
  return out;
}

function isField(value: unknown): value is Field {
  return typeof value === 'object' && value !== null && typeof (value as { kind?: unknown }).kind === 'string';
}

export const SCHEMAS: readonly NamedSchema[] = collect();

export function schemaNamed(name: string): Field {
  const found = SCHEMAS.find((schema) => schema.name === name);
  if (!found) throw new Error(`no schema ${name}`);
  return found.field;
}
