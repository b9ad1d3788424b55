/**
 * The crypto actor's protocol: the only actor that holds private key material in the clear, and only for the
 * duration of one operation.
 */
import { defineProtocol, empty, op } from './protocol.js';
import { t } from './schema.js';

const failed = t.struct({ detail: t.text() });

export const cryptoProtocol = defineProtocol('crypto', {
  /** Random bytes from the board's entropy source (GET CHALLENGE). */
  random: op(t.struct({ length: t.uint(65_536) }), t.struct({ bytes: t.bytes({ max: 65_536 }) }), {}),
  /**
   * First boot: generates the device key pair, seals its private half under the device secret (internal file
   * 0x1003) and writes the self-signed device CV certificate to 2F02.
   */
  createDeviceIdentity: op(t.struct({ serial: t.text({ max: 11 }) }), t.struct({ certificate: t.bytes({ max: 1024 }) }), { failed }),
  /** Signs with the device key (outer signature of authenticated requests, attestation). Returns r || s. */
  deviceSign: op(t.struct({ data: t.bytes({ max: 8192 }) }), t.struct({ signature: t.bytes({ max: 132 }) }), { failed, noDeviceKey: empty }),
});
