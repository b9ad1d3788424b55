/**
 * The HSM client library: talks to a pico-hsm over the host board's local socket (or a pluggable transport, e.g.
 * the simulated board in tests) with typed methods; every device error is an HsmError carrying the status word and
 * a plain explanation.
 *
 *   import { HsmClient, HsmError } from 'pico-hsm-ts';
 *   const hsm = await HsmClient.connect({ socketPath: '/home/me/.local/share/pico-hsm-ts/hsm.sock' });
 *   const info = await hsm.info();                      // serial, firmware, stage, PIN retries, storage, algorithms
 *   await hsm.verifyPin('my-pin');
 *   const key = await hsm.generateKey({ kind: 'ec', curve: 'secp256r1' }, { label: 'signing' });
 *   const signature = await hsm.sign(key.id, message, 'ecdsa-sha256');   // DER, verifiable with openssl
 *   hsm.close();
 *
 * APDU handling: short APDUs when they fit, extended ones otherwise (and always for the instructions OpenSC sends
 * extended); 61xx is followed with GET RESPONSE until 9000; 6Cxx is re-sent with the length the card asked for.
 * Applets: each call selects the applet it needs (SmartCard-HSM or management). Selecting the SmartCard-HSM applet
 * ends the PIN session, so the client selects it only when switching back from the management applet: call
 * `info()` before `verifyPin()`, or verify again afterwards.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { concat, readUint, tlv, uintBytes } from '../actors/card/tlv.js';
import { minimalEcdsaDer } from '../actors/card/signature-formats.js';
import { SMARTCARD_HSM_AID } from '../actors/keystore.js';
import { deviceInfo, INS_DEVICE_INFO, MANAGEMENT_AID } from '../messages/management.js';
import { cbor } from '../messages/protocol.js';
import { validate, type Infer } from '../messages/schema.js';
import { SocketLinkClient, SocketLinkError } from '../hal/host/socket-link.js';
import { createHash } from 'node:crypto';
import { buildPrkd, curveBits, describeKey, ecGenerateBody, parseKeyRequest, rsaGenerateBody, type KeyDescription, type KeySpec } from './keys.js';

export type DeviceInfo = Infer<typeof deviceInfo>;

// ---------------------------------------------------------------------------------------------------------------
// Errors

/** Plain explanations of every status word the device answers (docs/status-words.md). */
export const STATUS_EXPLANATIONS: Readonly<Record<number, string>> = {
  0x9000: 'success',
  0x6700: 'wrong length: the command or its data has a length the device does not accept',
  0x6e00: 'instruction class not supported',
  0x6882: 'secure messaging is not supported',
  0x6881: 'logical channels are not supported',
  0x6883: 'a command chain was interrupted by a different command; the chain was dropped',
  0x6985: 'conditions not satisfied: the key does not allow this algorithm, or there is nothing to read or fetch',
  0x6f00: 'the device failed internally (the applet was restarted); try again',
  0x6d00: 'instruction not supported (no key import or export on this device)',
  0x6986: 'not allowed: this device does not export keys, protects this file, or does not allow a user PIN reset with the SO-PIN',
  0x6a86: 'the algorithm does not fit this key or is not offered by the device',
  0x6a80: 'malformed data (bad encoding, missing fields, or a point that is not on the curve, or bad padding)',
  0x6a81: 'feature not offered by this device',
  0x6a82: 'not found: no such key, file or applet',
  0x6a84: 'not enough memory: the device storage is full (or the key\'s usage counter is exhausted)',
  0x6a88: 'PIN not set: the device is not initialised (run `pico-hsm init`)',
  0x6a89: 'a key with this id already exists',
  0x6b00: 'offset beyond the end of the file',
  0x6982: 'the user PIN is not verified in this session',
  0x6983: 'the PIN is blocked (no tries left): unblock it with the SO-PIN, or re-initialise',
  0x6581: 'storage failure: the flash failed or holds a format this firmware does not understand',
  0x6400: 'internal failure during a key operation',
};

/** A plain explanation of a status word (63Cx and 61xx included). */
export function explainStatusWord(statusWord: number): string {
  if ((statusWord & 0xfff0) === 0x63c0) {
    const left = statusWord & 0x0f;
    return `wrong PIN, ${left} ${left === 1 ? 'try' : 'tries'} left`;
  }
  if ((statusWord & 0xff00) === 0x6100) return 'more response data is waiting (GET RESPONSE)';
  return STATUS_EXPLANATIONS[statusWord] ?? 'unknown status word';
}

export function statusWordHex(statusWord: number): string {
  return statusWord.toString(16).toUpperCase().padStart(4, '0');
}

/** The device answered a command with an error status word. */
export class HsmError extends Error {
  override readonly name = 'HsmError';
  readonly explanation: string;
  constructor(
    readonly statusWord: number,
    readonly operation: string,
    explanation?: string,
  ) {
    const text = explanation ?? explainStatusWord(statusWord);
    super(`${operation}: ${text} (SW ${statusWordHex(statusWord)})`);
    this.explanation = text;
  }
  /** Tries left when the status word is 63Cx, else undefined. */
  get retriesLeft(): number | undefined {
    return (this.statusWord & 0xfff0) === 0x63c0 ? this.statusWord & 0x0f : this.statusWord === 0x6983 ? 0 : undefined;
  }
}

/** No device at the given address (nothing listening on the socket, no such serial port). */
export class DeviceAbsentError extends Error {
  override readonly name = 'DeviceAbsentError';
}

/** The link to the device failed during a command (connection lost, protocol error, serial unavailable). */
export class TransportError extends Error {
  override readonly name = 'TransportError';
}

// ---------------------------------------------------------------------------------------------------------------
// Transports

/** Moves APDUs to a device and back. The client owns it once handed over. */
export interface ApduTransport {
  /** Sends a C-APDU; resolves with data ‖ SW1 SW2. */
  transmit(command: Uint8Array): Promise<Uint8Array>;
  /** Starts a fresh card session (like a reset: logged out, nothing selected), if the link can. */
  resetSession?(): Promise<void>;
  close(): void;
}

/** The host board's unix socket (hal/host/socket-link.ts). */
export async function socketTransport(socketPath: string): Promise<ApduTransport> {
  let link: SocketLinkClient;
  try {
    link = await SocketLinkClient.connect(socketPath);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'ENOTSOCK') {
      throw new DeviceAbsentError(`no HSM is listening on ${socketPath} (${code}); start one with \`pico-hsm start\``);
    }
    if (code === 'EACCES') throw new DeviceAbsentError(`cannot open ${socketPath}: permission denied (the socket belongs to another user)`);
    throw new DeviceAbsentError(`cannot connect to ${socketPath}: ${error instanceof Error ? error.message : String(error)}`);
  }
  return {
    async transmit(command) {
      try {
        return await link.transmit(command);
      } catch (error) {
        throw new TransportError(`link to the HSM lost: ${error instanceof SocketLinkError ? error.message : String(error)}`);
      }
    },
    async resetSession() {
      try {
        await link.resetSession();
      } catch (error) {
        throw new TransportError(`link to the HSM lost: ${error instanceof Error ? error.message : String(error)}`);
      }
    },
    close: () => link.close(),
  };
}

/** The shape we expect from hal/serial-framing.ts (written for the Pico board's USB serial link). */
interface SerialFramingModule {
  openSerialTransport?: (port: string, options?: { baudRate?: number }) => Promise<ApduTransport>;
}

/**
 * A Pico board on a serial port. The framing lives in hal/serial-framing.ts; until that module exists (and exports
 * `openSerialTransport(port)`), this throws a TransportError saying so.
 */
export async function serialTransport(port: string, options: { baudRate?: number } = {}): Promise<ApduTransport> {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, '..', 'hal', 'serial-framing.ts'), join(here, '..', 'hal', 'serial-framing.js')];
  const found = candidates.find((path) => existsSync(path));
  if (!found) throw new TransportError('the serial link to a Pico board is not available yet (hal/serial-framing.ts is missing); use the host board\'s socket');
  const module = (await import(pathToFileURL(found).href)) as SerialFramingModule;
  if (typeof module.openSerialTransport !== 'function') {
    throw new TransportError('the serial link is not usable from the client yet: hal/serial-framing.ts provides the framing but no openSerialTransport(port); use `pico-hsm bridge` (the board through pcscd/vpcd) or the host board\'s socket');
  }
  if (!existsSync(port)) throw new DeviceAbsentError(`no serial port ${port}`);
  return module.openSerialTransport(port, options);
}

export type ConnectOptions =
  | { readonly socketPath: string; readonly freshSession?: boolean }
  | { readonly serialPort: string; readonly baudRate?: number; readonly freshSession?: boolean }
  | { readonly transport: ApduTransport; readonly freshSession?: boolean };

// ---------------------------------------------------------------------------------------------------------------
// The client

export interface Response {
  readonly data: Uint8Array;
  readonly statusWord: number;
}

export type SignAlgorithm = 'ecdsa-sha1' | 'ecdsa-sha224' | 'ecdsa-sha256' | 'ecdsa-sha384' | 'ecdsa-sha512' | 'rsa-pkcs1-sha256' | 'rsa-pkcs1-sha384' | 'rsa-pkcs1-sha512' | 'rsa-pss-sha256' | 'rsa-pss-sha384' | 'rsa-pss-sha512';
export const SIGN_ALGORITHMS: readonly SignAlgorithm[] = ['ecdsa-sha1', 'ecdsa-sha224', 'ecdsa-sha256', 'ecdsa-sha384', 'ecdsa-sha512', 'rsa-pkcs1-sha256', 'rsa-pkcs1-sha384', 'rsa-pkcs1-sha512', 'rsa-pss-sha256', 'rsa-pss-sha384', 'rsa-pss-sha512'];

export type DecipherAlgorithm = 'rsa-pkcs1' | 'rsa-oaep-sha256' | 'rsa-raw' | 'aes-cbc' | 'aes-gcm' | 'aes-ctr';
export const DECIPHER_ALGORITHMS: readonly DecipherAlgorithm[] = ['rsa-pkcs1', 'rsa-oaep-sha256', 'rsa-raw', 'aes-cbc', 'aes-gcm', 'aes-ctr'];

const DIGEST_INFO_PREFIX: Readonly<Record<string, string>> = {
  sha256: '3031300d060960864801650304020105000420',
  sha384: '3041300d060960864801650304020205000430',
  sha512: '3051300d060960864801650304020305000440',
};

/** The hash of a signature algorithm (for hashing on the host). */
export function hashOf(algorithm: SignAlgorithm): 'sha1' | 'sha224' | 'sha256' | 'sha384' | 'sha512' {
  return algorithm.slice(algorithm.lastIndexOf('-') + 1) as 'sha1' | 'sha224' | 'sha256' | 'sha384' | 'sha512';
}

export type PinStatus = { readonly state: 'unset' } | { readonly state: 'blocked' } | { readonly state: 'ready'; readonly verified: boolean; readonly retriesLeft: number };

/** INITIALIZE option: the SO-PIN may reset the user PIN. */
export const OPTION_RESET_RETRY_COUNTER = 0x0001;
const CLA = 0x00;
const CLA_PROPRIETARY = 0x80;
const MAX_SHORT_DATA = 255;
const encoder = new TextEncoder();

/** The SO-PIN as 8 bytes: 16 hex digits (the form sc-hsm-tool takes) or 8 raw bytes. */
export function soPinBytes(soPin: string | Uint8Array): Uint8Array {
  if (soPin instanceof Uint8Array) {
    if (soPin.length !== 8) throw new RangeError('the SO-PIN is 8 bytes');
    return soPin;
  }
  if (!/^[0-9a-fA-F]{16}$/.test(soPin)) throw new RangeError('the SO-PIN is 16 hex digits (8 bytes), e.g. 0123456789abcdef');
  return new Uint8Array(Buffer.from(soPin, 'hex'));
}

function pinBytes(pin: string | Uint8Array): Uint8Array {
  return pin instanceof Uint8Array ? pin : encoder.encode(pin);
}

/** Encodes a command APDU, short when it fits, else extended (or extended when `forceExtended`). */
export function encodeApdu(cla: number, ins: number, p1: number, p2: number, data: Uint8Array = new Uint8Array(0), le?: number, forceExtended = false): Uint8Array {
  const header = Uint8Array.of(cla, ins, p1, p2);
  const extended = forceExtended || data.length > MAX_SHORT_DATA || (le !== undefined && le > 256);
  if (data.length > 65535) throw new RangeError(`command data of ${data.length} bytes is above 65535`);
  if (!extended) {
    const parts: Uint8Array[] = [header];
    if (data.length > 0) parts.push(Uint8Array.of(data.length), data);
    if (le !== undefined) parts.push(Uint8Array.of(le === 256 ? 0 : le));
    return concat(...parts);
  }
  const parts: Uint8Array[] = [header];
  if (data.length > 0) parts.push(Uint8Array.of(0, data.length >> 8, data.length & 0xff), data);
  if (le !== undefined) {
    const encoded = le >= 65536 ? 0 : le;
    parts.push(data.length > 0 ? Uint8Array.of(encoded >> 8, encoded & 0xff) : Uint8Array.of(0, encoded >> 8, encoded & 0xff));
  }
  return concat(...parts);
}

type Applet = 'hsm' | 'management';

export class HsmClient {
  private selected: Applet | undefined;
  private closed = false;

  private constructor(private readonly transport: ApduTransport) {}

  /** Connects over the local socket, a serial port, or a given transport; starts a fresh session by default. */
  static async connect(options: ConnectOptions): Promise<HsmClient> {
    let transport: ApduTransport;
    if ('transport' in options) transport = options.transport;
    else if ('socketPath' in options) transport = await socketTransport(options.socketPath);
    else transport = await serialTransport(options.serialPort, options.baudRate !== undefined ? { baudRate: options.baudRate } : {});
    const client = new HsmClient(transport);
    if (options.freshSession !== false && transport.resetSession) await transport.resetSession();
    return client;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.transport.close();
  }

  // -- APDU level ---------------------------------------------------------------------------------------------

  /** Sends one APDU as it is and returns data and status word (no GET RESPONSE handling). */
  async transmitRaw(apdu: Uint8Array): Promise<Response> {
    if (this.closed) throw new TransportError('the client is closed');
    const raw = await this.transport.transmit(apdu);
    if (raw.length < 2) throw new TransportError(`a response of ${raw.length} bytes (no status word)`);
    return { data: raw.subarray(0, raw.length - 2), statusWord: ((raw[raw.length - 2] ?? 0) << 8) | (raw[raw.length - 1] ?? 0) };
  }

  /** Sends a command, follows 61xx with GET RESPONSE and 6Cxx with a resend; returns the final answer. */
  async transmit(cla: number, ins: number, p1: number, p2: number, data?: Uint8Array, le?: number, forceExtended = false): Promise<Response> {
    let response = await this.transmitRaw(encodeApdu(cla, ins, p1, p2, data, le, forceExtended));
    if ((response.statusWord & 0xff00) === 0x6c00) response = await this.transmitRaw(encodeApdu(cla, ins, p1, p2, data, response.statusWord & 0xff || 256));
    const chunks = [response.data];
    while ((response.statusWord & 0xff00) === 0x6100) {
      const left = response.statusWord & 0xff;
      response = await this.transmitRaw(encodeApdu(0x00, 0xc0, 0x00, 0x00, undefined, left === 0 ? 256 : left));
      chunks.push(response.data);
    }
    return { data: concat(...chunks), statusWord: response.statusWord };
  }

  /** Like transmit, in the given applet; throws HsmError unless 9000. */
  private async call(applet: Applet, operation: string, apdu: { cla?: number; ins: number; p1?: number; p2?: number; data?: Uint8Array; le?: number; extended?: boolean }, explain?: (statusWord: number) => string | undefined): Promise<Uint8Array> {
    await this.select(applet);
    const response = await this.transmit(apdu.cla ?? CLA, apdu.ins, apdu.p1 ?? 0, apdu.p2 ?? 0, apdu.data, apdu.le, apdu.extended ?? false);
    if (response.statusWord !== 0x9000) throw new HsmError(response.statusWord, operation, explain?.(response.statusWord));
    return response.data;
  }

  private async select(applet: Applet): Promise<void> {
    if (this.selected === applet) return;
    const aid = applet === 'hsm' ? SMARTCARD_HSM_AID : MANAGEMENT_AID;
    const response = await this.transmit(0x00, 0xa4, 0x04, 0x00, aid, 256);
    if (response.statusWord !== 0x9000) throw new HsmError(response.statusWord, `select the ${applet === 'hsm' ? 'SmartCard-HSM' : 'management'} applet`);
    this.selected = applet;
  }

  // -- Device ---------------------------------------------------------------------------------------------------

  /** Serial, firmware, lifecycle stage, PIN counters, storage, algorithms and self-test results. Ends a PIN session. */
  async info(): Promise<DeviceInfo> {
    const data = await this.call('management', 'get device info', { cla: CLA_PROPRIETARY, ins: INS_DEVICE_INFO, le: 65536, extended: true });
    try {
      return validate(deviceInfo, cbor.decode(data));
    } catch (error) {
      throw new TransportError(`the device info does not match the expected schema: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  /** Free storage and firmware version, as INITIALIZE without data answers them (what OpenSC-era tools read). */
  async freeStorage(): Promise<{ free: number; firmware: string }> {
    const data = await this.call('hsm', 'device information', { cla: CLA_PROPRIETARY, ins: 0x50 });
    return { free: readUint(data.subarray(0, 4)), firmware: `${data[5] ?? 0}.${data[6] ?? 0}` };
  }

  /** The device certificate (2F02, a self-signed CV certificate of the device key). */
  deviceCertificate(): Promise<Uint8Array> {
    return this.readFile(0x2f02);
  }

  /**
   * Commissions the device: sets the user PIN (6..15 characters), the SO-PIN (16 hex digits) and the number of
   * user PIN tries. On an initialised device `soPin` must be the CURRENT SO-PIN and everything is erased; use
   * `changeSoPin` afterwards for a new one. Leaves the user PIN verified when `label` is given (to write 2F03).
   */
  async initialize(options: { pin: string | Uint8Array; soPin: string | Uint8Array; retries?: number; options?: number; label?: string }): Promise<void> {
    const data = concat(
      tlv(0x80, uintBytes(options.options ?? OPTION_RESET_RETRY_COUNTER, 2)),
      tlv(0x81, pinBytes(options.pin)),
      tlv(0x82, soPinBytes(options.soPin)),
      tlv(0x91, Uint8Array.of(options.retries ?? 3)),
    );
    await this.call('hsm', 'initialise', { cla: CLA_PROPRIETARY, ins: 0x50, data }, (statusWord) =>
      (statusWord & 0xfff0) === 0x63c0 ? `wrong SO-PIN (the device is initialised: re-initialising needs the current SO-PIN), ${statusWord & 0x0f} tries left` : undefined,
    );
    if (options.label !== undefined) {
      await this.verifyPin(options.pin);
      // PKCS#15 TokenInfo as OpenSC writes it: version 0, [0] label, token flags.
      const label = encoder.encode(options.label);
      const tokenInfo = tlv(0x30, tlv(0x02, Uint8Array.of(0)), tlv(0x80, label), tlv(0x03, Uint8Array.of(0x05, 0x20)));
      await this.writeFile(0x2f03, tokenInfo);
    }
  }

  // -- PINs -----------------------------------------------------------------------------------------------------

  async verifyPin(pin: string | Uint8Array): Promise<void> {
    await this.call('hsm', 'verify PIN', { ins: 0x20, p2: 0x81, data: pinBytes(pin) });
  }

  /** Checks the SO-PIN (spends a try when wrong). */
  async verifySoPin(soPin: string | Uint8Array): Promise<void> {
    await this.call('hsm', 'verify SO-PIN', { ins: 0x20, p2: 0x88, data: soPinBytes(soPin) }, (statusWord) => ((statusWord & 0xfff0) === 0x63c0 ? `wrong SO-PIN, ${statusWord & 0x0f} tries left` : undefined));
  }

  async pinStatus(which: 'user' | 'so' = 'user'): Promise<PinStatus> {
    await this.select('hsm');
    const response = await this.transmit(CLA, 0x20, 0x00, which === 'user' ? 0x81 : 0x88);
    if (response.statusWord === 0x9000) return { state: 'ready', verified: true, retriesLeft: -1 };
    if ((response.statusWord & 0xfff0) === 0x63c0) return { state: 'ready', verified: false, retriesLeft: response.statusWord & 0x0f };
    if (response.statusWord === 0x6983) return { state: 'blocked' };
    if (response.statusWord === 0x6a88) return { state: 'unset' };
    throw new HsmError(response.statusWord, 'PIN status');
  }

  async changePin(oldPin: string | Uint8Array, newPin: string | Uint8Array): Promise<void> {
    await this.call('hsm', 'change PIN', { ins: 0x24, p2: 0x81, data: concat(pinBytes(oldPin), pinBytes(newPin)) });
  }

  async changeSoPin(oldSoPin: string | Uint8Array, newSoPin: string | Uint8Array): Promise<void> {
    await this.call('hsm', 'change SO-PIN', { ins: 0x24, p2: 0x88, data: concat(soPinBytes(oldSoPin), soPinBytes(newSoPin)) }, (statusWord) =>
      (statusWord & 0xfff0) === 0x63c0 ? `wrong SO-PIN, ${statusWord & 0x0f} tries left` : undefined,
    );
  }

  /** Unblocks the user PIN with the SO-PIN and sets a new one (RESET RETRY COUNTER). */
  async unblockPin(soPin: string | Uint8Array, newPin: string | Uint8Array): Promise<void> {
    await this.call('hsm', 'unblock PIN', { ins: 0x2c, p2: 0x81, data: concat(soPinBytes(soPin), pinBytes(newPin)) }, (statusWord) =>
      (statusWord & 0xfff0) === 0x63c0 ? `wrong SO-PIN, ${statusWord & 0x0f} tries left` : statusWord === 0x6983 ? 'the SO-PIN is blocked' : undefined,
    );
  }

  // -- Files ----------------------------------------------------------------------------------------------------

  /** ENUMERATE OBJECTS: the file ids of keys (CCxx) and descriptions (C4xx, C8xx, C9xx). */
  async enumerate(): Promise<number[]> {
    const data = await this.call('hsm', 'list objects', { cla: CLA_PROPRIETARY, ins: 0x58, le: 65536, extended: true });
    const ids: number[] = [];
    for (let offset = 0; offset + 1 < data.length; offset += 2) ids.push(((data[offset] ?? 0) << 8) | (data[offset + 1] ?? 0));
    return ids;
  }

  /** Reads a whole file (SELECT + READ BINARY until the end). */
  async readFile(fileId: number): Promise<Uint8Array> {
    const name = `read file ${fileId.toString(16).toUpperCase().padStart(4, '0')}`;
    await this.call('hsm', name, { ins: 0xa4, p1: 0x00, p2: 0x00, data: uintBytes(fileId, 2), le: 256 });
    const chunks: Uint8Array[] = [];
    let offset = 0;
    for (;;) {
      const chunk = await this.call('hsm', name, { ins: 0xb1, data: tlv(0x54, uintBytes(offset, 2)), le: 65536, extended: true });
      if (chunk.length === 0) break;
      chunks.push(chunk);
      offset += chunk.length;
      if (offset > 0xffff) break;
    }
    return concat(...chunks);
  }

  /** Reads a file, or undefined when it does not exist (6A82). */
  async readFileIfExists(fileId: number): Promise<Uint8Array | undefined> {
    try {
      return await this.readFile(fileId);
    } catch (error) {
      if (error instanceof HsmError && error.statusWord === 0x6a82) return undefined;
      throw error;
    }
  }

  /** Creates or replaces a file (needs the user PIN). */
  async writeFile(fileId: number, content: Uint8Array): Promise<void> {
    await this.call('hsm', `write file ${fileId.toString(16).toUpperCase().padStart(4, '0')}`, { ins: 0xd7, p1: fileId >> 8, p2: fileId & 0xff, data: concat(tlv(0x54, uintBytes(0, 2)), tlv(0x53, content)) });
  }

  async deleteFile(fileId: number): Promise<void> {
    await this.call('hsm', `delete file ${fileId.toString(16).toUpperCase().padStart(4, '0')}`, { ins: 0xe4, p1: 0x02, data: uintBytes(fileId, 2) });
  }

  // -- Keys -----------------------------------------------------------------------------------------------------

  /** Every key (except the device key CC00) with its type, label and public key. */
  async listKeys(): Promise<KeyDescription[]> {
    const ids = (await this.enumerate()).filter((fileId) => fileId >> 8 === 0xcc && (fileId & 0xff) !== 0).map((fileId) => fileId & 0xff);
    const keys: KeyDescription[] = [];
    for (const id of ids) keys.push(await this.describeKey(id));
    return keys;
  }

  async describeKey(id: number): Promise<KeyDescription> {
    const request = await this.readFileIfExists(0xce00 | id);
    const descriptor = await this.readFileIfExists(0xc400 | id);
    return describeKey(id, { ...(request ? { request } : {}), ...(descriptor ? { descriptor } : {}) });
  }

  /** A key's description, or an HsmError 6A82 naming the id when there is no such key. */
  async getKey(id: number): Promise<KeyDescription> {
    const ids = await this.enumerate();
    if (!ids.includes(0xcc00 | id) || id === 0) throw new HsmError(0x6a82, `key ${id}`, `no key with id ${id} on the device`);
    return this.describeKey(id);
  }

  /** The lowest key id (1..255) not in use. */
  async freeKeyId(): Promise<number> {
    const used = new Set((await this.enumerate()).filter((fileId) => fileId >> 8 === 0xcc).map((fileId) => fileId & 0xff));
    for (let id = 1; id <= 255; id++) if (!used.has(id)) return id;
    throw new HsmError(0x6a84, 'generate key', 'all 255 key ids are in use');
  }

  /**
   * Generates a key on the device (needs the user PIN). Asymmetric keys also get a PKCS#15 description (C4xx) with
   * the label, so OpenSC's PKCS#11 module lists them with ID = the key id. Returns the key's description.
   */
  async generateKey(spec: KeySpec, options: { id?: number; label?: string; usesLeft?: number } = {}): Promise<KeyDescription> {
    const id = options.id ?? (await this.freeKeyId());
    if (!Number.isInteger(id) || id < 1 || id > 255) throw new RangeError('a key id is 1..255');
    const policy = options.usesLeft !== undefined ? tlv(0x90, uintBytes(options.usesLeft, 4)) : new Uint8Array(0);
    if (spec.kind === 'aes') {
      const p2 = { 128: 0xb0, 192: 0xb1, 256: 0xb2 }[spec.bits];
      if (p2 === undefined) throw new RangeError('AES keys are 128, 192 or 256 bits');
      await this.call('hsm', 'generate key', { ins: 0x48, p1: id, p2, data: policy });
      return { id, kind: 'secret', bits: spec.bits, description: 'absent' };
    }
    const serial = await this.deviceSerial();
    const chr = `${serial}${String(id).padStart(5, '0')}`;
    const body = concat(spec.kind === 'ec' ? ecGenerateBody(spec.curve, chr) : rsaGenerateBody(spec.bits, chr), policy);
    const answer = await this.call('hsm', 'generate key', { ins: 0x46, p1: id, data: body, le: 65536, extended: true }, (statusWord) =>
      statusWord === 0x6a89 ? `a key with id ${id} already exists` : statusWord === 0x6a80 && spec.kind === 'ec' ? `the curve ${spec.curve} is not offered by this device` : undefined,
    );
    const request = parseKeyRequest(answer);
    if (!request) throw new TransportError('the device answered key generation with a request this client cannot parse');
    const bits = request.publicKey.kind === 'rsa' ? request.publicKey.modulus.length * 8 : spec.kind === 'rsa' ? spec.bits : 0;
    const descriptor = buildPrkd(spec.kind, id, options.label ?? '', spec.kind === 'ec' ? curveBits(spec.curve) : bits);
    await this.writeFile(0xc400 | id, descriptor);
    return describeKey(id, { request: answer, descriptor });
  }

  /** Deletes a key and its request and description files. */
  async deleteKey(id: number): Promise<void> {
    if (id === 0) throw new HsmError(0x6986, 'delete key 0', 'key 0 is the device key; it cannot be deleted');
    await this.call('hsm', `delete key ${id}`, { ins: 0xe4, p1: 0x02, data: uintBytes(0xcc00 | id, 2) }, (statusWord) => (statusWord === 0x6a82 ? `no key with id ${id} on the device` : undefined));
    for (const fileId of [0xc400 | id, 0xce00 | id]) {
      try {
        await this.deleteFile(fileId);
      } catch (error) {
        if (!(error instanceof HsmError && error.statusWord === 0x6a82)) throw error;
      }
    }
  }

  /**
   * Signs with a key. `input` is the message (hashed here, on the host) unless `prehashed` is set, then it is the
   * digest. ECDSA answers DER (SEQUENCE { r, s }); RSA answers the k-byte signature.
   */
  async sign(id: number, input: Uint8Array, algorithm: SignAlgorithm, options: { prehashed?: boolean } = {}): Promise<Uint8Array> {
    const hash = hashOf(algorithm);
    const digest = options.prehashed ? input : new Uint8Array(createHash(hash).update(input).digest());
    let p2: number;
    let data: Uint8Array;
    if (algorithm.startsWith('ecdsa')) {
      p2 = 0x70;
      data = digest;
    } else if (algorithm.startsWith('rsa-pkcs1')) {
      p2 = 0x30;
      const prefix = DIGEST_INFO_PREFIX[hash];
      if (!prefix) throw new RangeError(`${algorithm} is not offered`);
      data = concat(new Uint8Array(Buffer.from(prefix, 'hex')), digest);
    } else {
      p2 = 0x40;
      data = digest;
    }
    const signature = await this.call('hsm', `sign with key ${id}`, { cla: CLA_PROPRIETARY, ins: 0x68, p1: id, p2, data, le: 65536, extended: true }, (statusWord) => keyExplanation(id, statusWord));
    // The device keeps P-521 integers at full width (for OpenSC's length heuristic); hand out strict DER.
    return p2 === 0x70 ? (minimalEcdsaDer(signature) ?? signature) : signature;
  }

  /** Deciphers with an RSA key (PKCS#1 v1.5, OAEP-SHA256, raw) or an AES key (CBC zero IV, GCM or CTR with `iv`). */
  async decipher(id: number, data: Uint8Array, algorithm: DecipherAlgorithm, options: { iv?: Uint8Array; associatedData?: Uint8Array } = {}): Promise<Uint8Array> {
    const operation = `decipher with key ${id}`;
    const explain = (statusWord: number): string | undefined => keyExplanation(id, statusWord);
    switch (algorithm) {
      case 'rsa-raw':
      case 'rsa-pkcs1':
      case 'rsa-oaep-sha256': {
        const p2 = { 'rsa-raw': 0x21, 'rsa-pkcs1': 0x22, 'rsa-oaep-sha256': 0x23 }[algorithm];
        return this.call('hsm', operation, { cla: CLA_PROPRIETARY, ins: 0x62, p1: id, p2, data, le: 65536, extended: true }, explain);
      }
      case 'aes-cbc':
        return this.call('hsm', operation, { cla: CLA_PROPRIETARY, ins: 0x78, p1: id, p2: 0x11, data, le: 65536, extended: true }, explain);
      case 'aes-gcm':
      case 'aes-ctr': {
        const body = concat(tlv(0x80, Uint8Array.of(algorithm === 'aes-gcm' ? 1 : 2)), tlv(0x81, data), ...(options.iv ? [tlv(0x82, options.iv)] : []), ...(options.associatedData ? [tlv(0x83, options.associatedData)] : []));
        return this.call('hsm', operation, { cla: CLA_PROPRIETARY, ins: 0x78, p1: id, p2: 0x52, data: body, le: 65536, extended: true }, explain);
      }
    }
  }

  /** Encrypts with an AES key (CBC zero IV, or GCM/CTR with `iv`); GCM output carries the 16-byte tag. */
  async encrypt(id: number, data: Uint8Array, algorithm: 'aes-cbc' | 'aes-gcm' | 'aes-ctr', options: { iv?: Uint8Array; associatedData?: Uint8Array } = {}): Promise<Uint8Array> {
    const explain = (statusWord: number): string | undefined => keyExplanation(id, statusWord);
    if (algorithm === 'aes-cbc') return this.call('hsm', `encrypt with key ${id}`, { cla: CLA_PROPRIETARY, ins: 0x78, p1: id, p2: 0x10, data, le: 65536, extended: true }, explain);
    const body = concat(tlv(0x80, Uint8Array.of(algorithm === 'aes-gcm' ? 1 : 2)), tlv(0x81, data), ...(options.iv ? [tlv(0x82, options.iv)] : []), ...(options.associatedData ? [tlv(0x83, options.associatedData)] : []));
    return this.call('hsm', `encrypt with key ${id}`, { cla: CLA_PROPRIETARY, ins: 0x78, p1: id, p2: 0x51, data: body, le: 65536, extended: true }, explain);
  }

  /** ECDH with an EC key and a peer's uncompressed point (04 ‖ X ‖ Y); returns the shared X coordinate. */
  async deriveEcdh(id: number, peerPoint: Uint8Array): Promise<Uint8Array> {
    const answer = await this.call('hsm', `derive with key ${id}`, { cla: CLA_PROPRIETARY, ins: 0x62, p1: id, p2: 0x80, data: peerPoint, le: 65536, extended: true }, (statusWord) =>
      statusWord === 0x6a80 ? 'the peer public key is not a point on this key\'s curve' : keyExplanation(id, statusWord),
    );
    return answer[0] === 0x04 ? answer.subarray(1) : answer;
  }

  /** HKDF-SHA256 with an AES key as input keying material. */
  async deriveHkdf(id: number, options: { info?: Uint8Array; salt?: Uint8Array; length: number }): Promise<Uint8Array> {
    const body = concat(tlv(0x81, options.info ?? new Uint8Array(0)), ...(options.salt ? [tlv(0x82, options.salt)] : []), tlv(0x84, uintBytes(options.length, 2)));
    return this.call('hsm', `derive with key ${id}`, { cla: CLA_PROPRIETARY, ins: 0x78, p1: id, p2: 0x99, data: body, le: 65536, extended: true }, (statusWord) => keyExplanation(id, statusWord));
  }

  /** Random bytes from the device (GET CHALLENGE, at most 256 per command; longer requests loop). */
  async random(length: number): Promise<Uint8Array> {
    const chunks: Uint8Array[] = [];
    for (let left = length; left > 0; ) {
      const size = Math.min(left, 256);
      const chunk = await this.call('hsm', 'random', { ins: 0x84, le: size });
      chunks.push(chunk.subarray(0, size));
      left -= size;
    }
    return concat(...chunks);
  }

  /** The device serial from the device certificate's holder reference (minus the 5-digit sequence). */
  async deviceSerial(): Promise<string> {
    const certificate = parseKeyRequest(await this.deviceCertificate());
    return certificate ? certificate.chr.slice(0, Math.max(certificate.chr.length - 5, 0)).slice(0, 15) : 'PICOHSM';
  }
}

function keyExplanation(id: number, statusWord: number): string | undefined {
  switch (statusWord) {
    case 0x6a82:
      return `no key with id ${id} on the device`;
    case 0x6a86:
      return `the algorithm does not fit key ${id} (wrong key type) or is not offered`;
    case 0x6985:
      return `key ${id} does not allow this algorithm`;
    case 0x6a84:
      return `the usage counter of key ${id} is exhausted`;
    default:
      return undefined;
  }
}

