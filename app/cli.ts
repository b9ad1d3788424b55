/**
 * `pico-hsm`: the management tool (commissioning and everyday use). See docs/cli.md for every command.
 *
 * Exit codes: 0 ok; 1 the operation failed (the device's explanation is printed); 2 usage error (bad arguments or
 * badly formatted input); 3 no device (nothing listening on the socket, no serial port); 130 interrupted (Ctrl-C).
 * Output: results on stdout, messages and progress on stderr.
 */
import { spawn } from 'node:child_process';
import { createHash, createPrivateKey, createPublicKey, randomBytes, sign as nodeSign, verify as nodeVerify, X509Certificate, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createInterface } from 'node:readline';
import { homedir } from 'node:os';
import {
  DECIPHER_ALGORITHMS,
  DeviceAbsentError,
  HsmClient,
  HsmError,
  SIGN_ALGORITHMS,
  TransportError,
  hashOf,
  type DecipherAlgorithm,
  type DeviceInfo,
  type SignAlgorithm,
} from './client.js';
import { describeSpec, keyToJson, keyTypeText, parseKeyRequest, parseKeySpec, publicKeyFromSpki, spkiDer, spkiPem, verifyCvSignature, type KeyDescription, type PublicKey } from './keys.js';
import { FormatError, INPUT_FORMATS, OUTPUT_FORMATS, allPem, decodeInput, der, derChildren, encodeOutput, fromHex, readDer, toHex, toPem, type InputFormat, type OutputFormat } from './pem.js';

const PROJECT_ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));

export const EXIT = { ok: 0, failed: 1, usage: 2, absent: 3, interrupted: 130 } as const;

/** The ecosystem's well-known default PINs (documentation, tutorials): refused unless --insecure-defaults. */
const DEFAULT_PINS = ['648219', '123456', '12345678', '000000', '111111'];
const DEFAULT_SO_PINS = ['3537363231383830', '0102030405060708', '0000000000000000', '1234567812345678'];
/** Where `register` stores the operator-issued device certificate (and its CA) on the device. */
export const REGISTRATION_FILE = 0xcaff;

/** The host board's default data directory (boards/host.ts defaultDataDirectory; not imported: it loads the whole device). */
function defaultDataDirectory(): string {
  return join(process.env.XDG_DATA_HOME ?? join(homedir(), '.local', 'share'), 'pico-hsm-ts');
}

class UsageError extends Error {
  override readonly name = 'UsageError';
}
class InterruptedError extends Error {
  override readonly name = 'InterruptedError';
}
/** A check failed (signature does not verify, attestation broken): exit 1 with this message. */
class CheckFailed extends Error {
  override readonly name = 'CheckFailed';
}

const USAGE = `usage: pico-hsm <command> [options]

Commands:
  start [--data DIR] [--no-vpcd] [...]   run the HSM on this host (what \`npm start\` runs)
  status [--json]                        serial, firmware, stage, PIN tries, storage, algorithms, self-tests
  init [--pin P --so-pin S] [--label L] [--retries N] [--yes --current-so-pin S] [--insecure-defaults]
                                         commission (or re-initialise) the device
  keys list [--json]                     the keys on the device
  keys generate [--type ec:p256|ec:p384|...|rsa:2048|aes:256] [--id N] [--label L] [--out PUB.pem]
  keys delete ID [--yes]                 delete a key (and its request and description)
  keys pubkey ID [--out FILE] [--outform pem|der]
  sign --key ID [--alg A] [--in F] [--inform raw|hex|base64] [--prehashed] [--out F] [--outform der|hex|base64|pem|raw]
  verify (--key ID | --pubkey PEM) --signature F [--sigform auto|der|hex|base64|pem] [--in F] [--alg A]
  decrypt --key ID [--alg rsa-oaep-sha256|rsa-pkcs1|aes-cbc|aes-gcm|aes-ctr] [--iv HEX] [--in F] [--out F]
  derive --key ID --peer PUB (ECDH; PEM/DER public key or hex point) | --key ID --hkdf --length N [--info HEX] [--salt HEX]
  random N [--outform hex|base64|raw]
  pin change [--so] | pin unblock        change the user PIN (or the SO-PIN); unblock the user PIN with the SO-PIN
  attest [--key ID] [--ca-cert CA.pem] [--cert DEVICE.pem]
                                         verify the device certificate (and its registration) and a key's request
  register --ca-key CA.key --ca-cert CA.pem [--out DEVICE.pem] [--days N] [--no-store]
                                         issue an X.509 certificate for the device key with your own CA (offline)
  bridge | flash                         Pico board tools

Finding the HSM: --socket PATH, --data DIR (DIR/hsm.sock), env PICO_HSM_SOCKET, else ${join(defaultDataDirectory(), 'hsm.sock')};
  --serial PORT (env PICO_HSM_SERIAL) for a Pico board.
PINs: --pin / env PICO_HSM_PIN, --so-pin / PICO_HSM_SO_PIN, --new-pin / PICO_HSM_NEW_PIN, --new-so-pin / PICO_HSM_NEW_SO_PIN,
  --current-so-pin / PICO_HSM_CURRENT_SO_PIN; otherwise a prompt without echo when stdin is a terminal.
Exit codes: 0 ok, 1 operation failed, 2 usage error or bad input, 3 no device, 130 interrupted.`;

const OPTIONS = {
  socket: { type: 'string' },
  data: { type: 'string' },
  serial: { type: 'string' },
  json: { type: 'boolean' },
  pin: { type: 'string' },
  'so-pin': { type: 'string' },
  'new-pin': { type: 'string' },
  'new-so-pin': { type: 'string' },
  'current-so-pin': { type: 'string' },
  so: { type: 'boolean' },
  retries: { type: 'string' },
  label: { type: 'string' },
  yes: { type: 'boolean', short: 'y' },
  'insecure-defaults': { type: 'boolean' },
  type: { type: 'string' },
  id: { type: 'string' },
  key: { type: 'string' },
  alg: { type: 'string' },
  in: { type: 'string' },
  out: { type: 'string' },
  inform: { type: 'string' },
  outform: { type: 'string' },
  sigform: { type: 'string' },
  signature: { type: 'string' },
  pubkey: { type: 'string' },
  prehashed: { type: 'boolean' },
  peer: { type: 'string' },
  hkdf: { type: 'boolean' },
  length: { type: 'string' },
  info: { type: 'string' },
  salt: { type: 'string' },
  iv: { type: 'string' },
  aad: { type: 'string' },
  'ca-key': { type: 'string' },
  'ca-cert': { type: 'string' },
  cert: { type: 'string' },
  days: { type: 'string' },
  'no-store': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true; strict: true }>>['values'];

interface Io {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
}
const io: Io = { stdout: process.stdout, stderr: process.stderr };

function say(line: string): void {
  io.stderr.write(`${line}\n`);
}
function out(text: string | Uint8Array): void {
  io.stdout.write(typeof text === 'string' ? text : Buffer.from(text));
}

// ---------------------------------------------------------------------------------------------------------------
// Input, secrets, prompts, progress

async function readAllStdin(): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return new Uint8Array(Buffer.concat(chunks));
}

function readFileArgument(path: string, what: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (error) {
    throw new UsageError(`cannot read ${what} ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}

async function readInput(values: Values): Promise<Uint8Array> {
  return values.in === undefined || values.in === '-' ? readAllStdin() : readFileArgument(values.in, 'input file');
}

function writeOutput(values: Values, data: Uint8Array | string): void {
  if (values.out === undefined || values.out === '-') out(data);
  else writeFileSync(values.out, data);
}

function inputFormat(value: string | undefined, fallback: InputFormat): InputFormat {
  if (value === undefined) return fallback;
  if (!(INPUT_FORMATS as readonly string[]).includes(value)) throw new UsageError(`unknown input format "${value}" (${INPUT_FORMATS.join(', ')})`);
  return value as InputFormat;
}

function outputFormat(value: string | undefined, fallback: OutputFormat): OutputFormat {
  if (value === undefined) return fallback;
  if (!(OUTPUT_FORMATS as readonly string[]).includes(value)) throw new UsageError(`unknown output format "${value}" (${OUTPUT_FORMATS.join(', ')})`);
  return value as OutputFormat;
}

function decode(bytes: Uint8Array, format: InputFormat, what: string): Uint8Array {
  try {
    return decodeInput(bytes, format);
  } catch (error) {
    if (error instanceof FormatError) throw new UsageError(`bad ${what}: ${error.message}`);
    throw error;
  }
}

function hexArgument(value: string | undefined, what: string): Uint8Array | undefined {
  if (value === undefined) return undefined;
  try {
    return fromHex(value);
  } catch {
    throw new UsageError(`${what} must be hex, got "${value}"`);
  }
}

function interactive(): boolean {
  return Boolean(process.stdin.isTTY);
}

/** Reads a line without echo from the terminal; Ctrl-C interrupts. */
function promptHidden(question: string): Promise<string> {
  return new Promise((resolvePrompt, rejectPrompt) => {
    const input = process.stdin;
    io.stderr.write(question);
    input.setRawMode(true);
    input.resume();
    let value = '';
    const finish = (): void => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      io.stderr.write('\n');
    };
    const onData = (chunk: Buffer): void => {
      for (const character of chunk.toString('utf8')) {
        if (character === '\r' || character === '\n') {
          finish();
          resolvePrompt(value);
          return;
        }
        if (character === '\u0003' || character === '\u0004') {
          finish();
          rejectPrompt(new InterruptedError('interrupted at the prompt; nothing was sent to the device'));
          return;
        }
        if (character === '\u007f' || character === '\b') value = value.slice(0, -1);
        else value += character;
      }
    };
    input.on('data', onData);
  });
}

function promptLine(question: string): Promise<string> {
  return new Promise((resolvePrompt) => {
    const reader = createInterface({ input: process.stdin, output: process.stderr });
    reader.question(question, (answer) => {
      reader.close();
      resolvePrompt(answer);
    });
  });
}

interface SecretSource {
  readonly what: string;
  readonly flag: string;
  readonly value: string | undefined;
  readonly env: string;
  readonly confirm?: boolean;
}

/** A PIN from its flag, its environment variable, or a prompt without echo (with confirmation for new ones). */
async function secret(source: SecretSource): Promise<string> {
  if (source.value !== undefined) return source.value;
  const fromEnvironment = process.env[source.env];
  if (fromEnvironment !== undefined && fromEnvironment !== '') return fromEnvironment;
  if (!interactive()) throw new UsageError(`${source.what} needed: pass --${source.flag}, set ${source.env}, or run in a terminal to be asked`);
  for (;;) {
    const first = await promptHidden(`${source.what}: `);
    if (!source.confirm) return first;
    const second = await promptHidden(`${source.what} (again): `);
    if (first === second) return first;
    say('the two entries differ; try again');
  }
}

async function confirm(question: string, values: Values, refusal: string): Promise<void> {
  if (values.yes) return;
  if (!interactive()) throw new UsageError(refusal);
  const answer = await promptLine(`${question} [y/N] `);
  if (!/^y(es)?$/i.test(answer.trim())) throw new UsageError('cancelled; nothing was changed');
}

/** Runs a device operation, showing progress on stderr when it is long (RSA on the host, everything on a Pico). */
async function withProgress<T>(label: string, long: boolean, work: Promise<T>): Promise<T> {
  if (!long) return work;
  const started = Date.now();
  const tty = Boolean((io.stderr as NodeJS.WriteStream).isTTY);
  const frames = ['|', '/', '-', '\\'];
  let tick = 0;
  say(`${label}... (this can take a while; Ctrl-C stops waiting, the device stays consistent)`);
  const timer = setInterval(() => {
    const seconds = ((Date.now() - started) / 1000).toFixed(0);
    if (tty) io.stderr.write(`\r${frames[tick++ % frames.length]} ${label}: ${seconds} s`);
    else if (tick++ % 10 === 9) say(`${label}: still working (${seconds} s)`);
  }, tty ? 250 : 1000);
  try {
    const result = await work;
    if (tty) io.stderr.write('\r\x1b[K');
    say(`${label}: done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return result;
  } finally {
    clearInterval(timer);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Connecting

function socketPath(values: Values): string {
  if (values.socket !== undefined) return resolve(values.socket);
  if (values.data !== undefined) return join(resolve(values.data), 'hsm.sock');
  if (process.env.PICO_HSM_SOCKET) return resolve(process.env.PICO_HSM_SOCKET);
  return join(defaultDataDirectory(), 'hsm.sock');
}

let onSerial = false;

async function connect(values: Values): Promise<HsmClient> {
  const serialPort = values.serial ?? process.env.PICO_HSM_SERIAL;
  if (serialPort) {
    onSerial = true;
    return HsmClient.connect({ serialPort });
  }
  return HsmClient.connect({ socketPath: socketPath(values) });
}

async function withDevice<T>(values: Values, work: (client: HsmClient) => Promise<T>): Promise<T> {
  const client = await connect(values);
  try {
    return await work(client);
  } finally {
    client.close();
  }
}

async function userPin(values: Values): Promise<string> {
  return secret({ what: 'PIN', flag: 'pin', value: values.pin, env: 'PICO_HSM_PIN' });
}

function keyId(text: string | undefined, what = 'key id'): number {
  if (text === undefined) throw new UsageError(`${what} needed (--key ID)`);
  const id = /^0x[0-9a-f]+$/i.test(text) ? parseInt(text, 16) : Number(text);
  if (!Number.isInteger(id) || id < 1 || id > 255) throw new UsageError(`${what} must be 1..255, got "${text}"`);
  return id;
}

function integerOption(text: string | undefined, name: string, min: number, max: number, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) throw new UsageError(`--${name} must be ${min}..${max}, got "${text}"`);
  return value;
}

// ---------------------------------------------------------------------------------------------------------------
// Commands

function formatBytes(value: number): string {
  return value.toLocaleString('en-US');
}

function pinLine(pin: DeviceInfo['userPin']): string {
  if (pin.state === 'unset') return 'not set';
  if (pin.state === 'blocked') return `BLOCKED (0 of ${pin.limit} tries left)`;
  return `set, ${pin.retriesLeft} of ${pin.limit} tries left`;
}

async function commandStatus(values: Values): Promise<number> {
  const info = await withDevice(values, (client) => client.info());
  if (values.json) {
    out(`${JSON.stringify(info, null, 2)}\n`);
    return EXIT.ok;
  }
  const rows: [string, string][] = [
    ['Serial', info.serial],
    ['Firmware', info.firmware],
    ['Lifecycle stage', `${info.stage}${info.problem ? ` (${info.problem})` : ''}`],
    ...(info.label !== undefined ? [['Label', info.label] as [string, string]] : []),
    ['User PIN', pinLine(info.userPin)],
    ['SO-PIN', pinLine(info.soPin)],
    ['Storage', `${formatBytes(info.storage.used)} of ${formatBytes(info.storage.total)} bytes used, ${formatBytes(info.storage.free)} free (largest file ${formatBytes(info.storage.largestWritable)}), ${info.storage.files} files`],
    ['Crypto engine', info.engine],
    ['EC curves', info.curves.join(', ') || 'none'],
    ['RSA', info.rsaBits.length ? info.rsaBits.map((bits) => `${bits}`).join(', ') : 'not offered by this engine'],
    ['AES', info.aesBits.length ? info.aesBits.join(', ') : 'not offered by this engine'],
    ['Self-tests', `${info.selfTestsPassed.length} passed${info.selfTestsPassed.length ? ` (${info.selfTestsPassed.join(', ')})` : ''}, ${info.selfTestsFailed.length} failed${info.selfTestsFailed.map((failure) => `; ${failure.algorithm}: ${failure.detail}`).join('')}`],
  ];
  const width = Math.max(...rows.map(([name]) => name.length));
  out(rows.map(([name, value]) => `${name.padEnd(width)}  ${value}\n`).join(''));
  if (info.userPin.state === 'unset') say('The device is not initialised: run `pico-hsm init`.');
  return EXIT.ok;
}

function checkPinFormats(pin: string, soPin: string | undefined, values: Values): void {
  if (pin.length < 6 || pin.length > 15) throw new UsageError('the user PIN must be 6 to 15 characters (OpenSC accepts at most 15)');
  if (soPin !== undefined && !/^[0-9a-fA-F]{16}$/.test(soPin)) throw new UsageError('the SO-PIN must be 16 hex digits (8 bytes), e.g. from `openssl rand -hex 8`');
  if (!values['insecure-defaults']) {
    if (DEFAULT_PINS.includes(pin)) throw new UsageError(`refusing the well-known default user PIN ${pin}: choose your own (or pass --insecure-defaults for a test device)`);
    if (soPin !== undefined && DEFAULT_SO_PINS.includes(soPin.toLowerCase())) throw new UsageError(`refusing the well-known default SO-PIN ${soPin}: choose your own (or pass --insecure-defaults for a test device)`);
  }
}

async function commandInit(values: Values): Promise<number> {
  const retries = integerOption(values.retries, 'retries', 1, 10, 3);
  return withDevice(values, async (client) => {
    const info = await client.info();
    const reinitialising = info.userPin.state !== 'unset' || info.soPin.state !== 'unset';
    let currentSoPin: string | undefined;
    if (reinitialising) {
      await confirm(
        `Device ${info.serial} is already initialised. Re-initialising ERASES every key, certificate and data object. Continue?`,
        values,
        `device ${info.serial} is already initialised; re-initialising erases every key: pass --yes and the current SO-PIN (--current-so-pin or PICO_HSM_CURRENT_SO_PIN)`,
      );
      currentSoPin = await secret({ what: 'Current SO-PIN', flag: 'current-so-pin', value: values['current-so-pin'], env: 'PICO_HSM_CURRENT_SO_PIN' });
      if (!/^[0-9a-fA-F]{16}$/.test(currentSoPin)) throw new UsageError('the current SO-PIN must be 16 hex digits');
    }
    const pin = await secret({ what: 'New user PIN (6-15 characters)', flag: 'pin', value: values.pin, env: 'PICO_HSM_PIN', confirm: true });
    checkPinFormats(pin, undefined, values);
    const soPin = await secret({ what: 'New SO-PIN (16 hex digits)', flag: 'so-pin', value: values['so-pin'], env: 'PICO_HSM_SO_PIN', confirm: true });
    checkPinFormats(pin, soPin, values);
    await withProgress('initialising', onSerial, client.initialize({ pin, soPin: currentSoPin ?? soPin, retries, ...(values.label !== undefined ? { label: values.label } : {}) }));
    if (currentSoPin !== undefined && currentSoPin.toLowerCase() !== soPin.toLowerCase()) await client.changeSoPin(currentSoPin, soPin);
    say(`${reinitialising ? 'Re-initialised' : 'Initialised'} device ${info.serial}: user PIN set (${retries} tries), SO-PIN set${values.label !== undefined ? `, label "${values.label}"` : ''}.`);
    say('Keep the SO-PIN safe and apart from the PIN: it unblocks the user PIN and is needed to re-initialise.');
    return EXIT.ok;
  });
}

function keysTable(keys: readonly KeyDescription[]): string {
  if (keys.length === 0) return 'no keys\n';
  const rows = keys.map((key) => [String(key.id), keyTypeText(key), key.label ?? (key.description === 'opaque' ? '(description not understood)' : ''), key.publicKey ? createHash('sha256').update(spkiDer(key.publicKey)).digest('hex').slice(0, 16) : '-']);
  const header = ['ID', 'TYPE', 'LABEL', 'PUBLIC KEY SHA-256'];
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  return [header, ...rows].map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0))).join('  ')).join('\n') + '\n';
}

async function commandKeys(action: string | undefined, positionals: string[], values: Values): Promise<number> {
  switch (action) {
    case 'list': {
      const keys = await withDevice(values, (client) => client.listKeys());
      out(values.json ? `${JSON.stringify(keys.map(keyToJson), null, 2)}\n` : keysTable(keys));
      return EXIT.ok;
    }
    case 'generate': {
      const spec = parseKeySpec(values.type ?? 'ec:p256');
      if (!spec) throw new UsageError(`unknown key type "${values.type}" (ec:p256, ec:p384, ec:p521, ec:secp256k1, ec:brainpoolP256r1, rsa:2048, rsa:3072, rsa:4096, aes:128, aes:256)`);
      const id = values.id !== undefined ? keyId(values.id) : undefined;
      const pin = await userPin(values);
      return withDevice(values, async (client) => {
        const info = await client.info();
        if (spec.kind === 'rsa' && !info.rsaBits.includes(spec.bits)) throw new CheckFailed(`RSA-${spec.bits} is not offered by this device (RSA sizes: ${info.rsaBits.join(', ') || 'none'})`);
        if (spec.kind === 'ec' && !info.curves.includes(spec.curve)) throw new CheckFailed(`the curve ${spec.curve} is not offered by this device (${info.curves.join(', ')})`);
        if (spec.kind === 'aes' && !info.aesBits.includes(spec.bits)) throw new CheckFailed(`AES-${spec.bits} is not offered by this device (AES: ${info.aesBits.join(', ') || 'none'})`);
        await client.verifyPin(pin);
        const long = onSerial || spec.kind === 'rsa';
        const key = await withProgress(`generating ${describeSpec(spec)}`, long, client.generateKey(spec, { ...(id !== undefined ? { id } : {}), ...(values.label !== undefined ? { label: values.label } : {}) }));
        if (values.out !== undefined && key.publicKey) writeFileSync(values.out, spkiPem(key.publicKey));
        if (values.json) out(`${JSON.stringify(keyToJson(key), null, 2)}\n`);
        else out(`key ${key.id}: ${keyTypeText(key)}${key.label ? ` "${key.label}"` : ''}\n`);
        return EXIT.ok;
      });
    }
    case 'delete': {
      const id = keyId(positionals[0] ?? values.key ?? values.id);
      const pin = await userPin(values);
      await confirm(`Delete key ${id}? This cannot be undone.`, values, `deleting key ${id} cannot be undone: pass --yes`);
      return withDevice(values, async (client) => {
        await client.verifyPin(pin);
        await client.deleteKey(id);
        say(`deleted key ${id}`);
        return EXIT.ok;
      });
    }
    case 'pubkey': {
      const id = keyId(positionals[0] ?? values.key ?? values.id);
      const format = outputFormat(values.outform, 'pem');
      const key = await withDevice(values, (client) => client.getKey(id));
      if (!key.publicKey) throw new CheckFailed(`key ${id} has no public key (${keyTypeText(key)})`);
      writeOutput(values, format === 'pem' ? spkiPem(key.publicKey) : encodeOutput(spkiDer(key.publicKey), format, 'PUBLIC KEY'));
      return EXIT.ok;
    }
    default:
      throw new UsageError(`keys: unknown action "${action ?? ''}" (list, generate, delete, pubkey)`);
  }
}

function defaultSignAlgorithm(key: KeyDescription): SignAlgorithm {
  if (key.kind === 'rsa') return 'rsa-pkcs1-sha256';
  if (key.kind === 'ec') return key.curve === 'secp384r1' || key.curve === 'brainpoolP384r1' ? 'ecdsa-sha384' : key.curve === 'secp521r1' || key.curve === 'brainpoolP512r1' ? 'ecdsa-sha512' : 'ecdsa-sha256';
  throw new CheckFailed(`key ${key.id} is not a signing key (${keyTypeText(key)})`);
}

function signAlgorithm(text: string | undefined): SignAlgorithm | undefined {
  if (text === undefined) return undefined;
  if (!(SIGN_ALGORITHMS as readonly string[]).includes(text)) throw new UsageError(`unknown signature algorithm "${text}" (${SIGN_ALGORITHMS.join(', ')})`);
  return text as SignAlgorithm;
}

async function commandSign(positionals: string[], values: Values): Promise<number> {
  const id = keyId(values.key ?? positionals[0]);
  const requested = signAlgorithm(values.alg);
  const format = outputFormat(values.outform, 'der');
  const input = decode(await readInput(values), inputFormat(values.inform, 'raw'), 'input');
  const pin = await userPin(values);
  return withDevice(values, async (client) => {
    const key = await client.getKey(id);
    const algorithm = requested ?? defaultSignAlgorithm(key);
    if (values.prehashed) {
      const expected = createHash(hashOf(algorithm)).digest().length;
      if (input.length !== expected) throw new UsageError(`--prehashed input for ${algorithm} must be a ${expected}-byte digest, got ${input.length} bytes`);
    }
    await client.verifyPin(pin);
    const signature = await withProgress('signing', onSerial, client.sign(id, input, algorithm, { prehashed: Boolean(values.prehashed) }));
    writeOutput(values, encodeOutput(signature, format, 'SIGNATURE'));
    return EXIT.ok;
  });
}

function loadPublicKey(path: string): PublicKey {
  const bytes = readFileArgument(path, 'public key');
  const spki = decode(bytes, 'auto', 'public key');
  let key: PublicKey | undefined = publicKeyFromSpki(spki);
  if (!key) {
    try {
      const exported = new Uint8Array(createPublicKey({ key: Buffer.from(bytes) }).export({ type: 'spki', format: 'der' }));
      key = publicKeyFromSpki(exported);
    } catch {
      // fall through
    }
  }
  if (!key) throw new UsageError(`${path} is not an EC or RSA public key (PEM or DER SubjectPublicKeyInfo, or a certificate)`);
  return key;
}

async function commandVerify(positionals: string[], values: Values): Promise<number> {
  if (values.signature === undefined) throw new UsageError('verify needs --signature FILE');
  let publicKey: PublicKey;
  let algorithm = signAlgorithm(values.alg);
  const signature = decode(readFileArgument(values.signature, 'signature'), inputFormat(values.sigform, 'auto'), 'signature');
  const message = decode(await readInput(values), inputFormat(values.inform, 'raw'), 'input');
  if (values.pubkey !== undefined) {
    publicKey = loadPublicKey(values.pubkey);
  } else {
    const id = keyId(values.key ?? positionals[0]);
    const key = await withDevice(values, (client) => client.getKey(id));
    if (!key.publicKey) throw new CheckFailed(`key ${id} has no public key (${keyTypeText(key)})`);
    publicKey = key.publicKey;
    algorithm ??= defaultSignAlgorithm(key);
  }
  algorithm ??= publicKey.kind === 'rsa' ? 'rsa-pkcs1-sha256' : 'ecdsa-sha256';
  const keyObject = createPublicKey({ key: Buffer.from(spkiDer(publicKey)), format: 'der', type: 'spki' });
  const hash = hashOf(algorithm);
  let ok: boolean;
  const data = values.prehashed ? undefined : message;
  try {
    if (publicKey.kind === 'ec') {
      const encoding = signature[0] === 0x30 && readDer(signature)?.next === signature.length ? 'der' : 'ieee-p1363';
      ok = data ? nodeVerify(hash, data, { key: keyObject, dsaEncoding: encoding }, signature) : verifyDigest(keyObject, hash, message, signature, encoding);
    } else {
      const padding = algorithm.startsWith('rsa-pss') ? { padding: 6, saltLength: createHash(hash).digest().length } : {};
      ok = data ? nodeVerify(hash, data, { key: keyObject, ...padding }, signature) : verifyDigest(keyObject, hash, message, signature, 'der', padding);
    }
  } catch {
    ok = false;
  }
  if (!ok) throw new CheckFailed('Verification failure: the signature does not match this message and key');
  out('Verified OK\n');
  return EXIT.ok;
}

/** Verifies over a given digest (node's verify hashes itself, so use a null-hash verify on the DigestInfo/ECDSA). */
function verifyDigest(key: KeyObject, hash: string, digest: Uint8Array, signature: Uint8Array, encoding: 'der' | 'ieee-p1363', padding: object = {}): boolean {
  if (key.asymmetricKeyType === 'ec') return nodeVerify(null, digest, { key, dsaEncoding: encoding }, signature);
  const prefix: Record<string, string> = { sha256: '3031300d060960864801650304020105000420', sha384: '3041300d060960864801650304020205000430', sha512: '3051300d060960864801650304020305000440' };
  if ('padding' in padding) throw new UsageError('--prehashed verification of RSA-PSS is not supported here; verify the message instead');
  const info = Buffer.concat([Buffer.from(prefix[hash] ?? '', 'hex'), Buffer.from(digest)]);
  return nodeVerify(null, info, key, signature);
}

async function commandDecrypt(positionals: string[], values: Values): Promise<number> {
  const id = keyId(values.key ?? positionals[0]);
  if (values.alg !== undefined && !(DECIPHER_ALGORITHMS as readonly string[]).includes(values.alg)) throw new UsageError(`unknown algorithm "${values.alg}" (${DECIPHER_ALGORITHMS.join(', ')})`);
  const input = decode(await readInput(values), inputFormat(values.inform, 'raw'), 'input');
  const format = outputFormat(values.outform, 'raw');
  const iv = hexArgument(values.iv, '--iv');
  const aad = hexArgument(values.aad, '--aad');
  const pin = await userPin(values);
  return withDevice(values, async (client) => {
    const key = await client.getKey(id);
    const algorithm = (values.alg as DecipherAlgorithm | undefined) ?? (key.kind === 'rsa' ? 'rsa-oaep-sha256' : key.kind === 'secret' ? 'aes-cbc' : undefined);
    if (algorithm === undefined) throw new CheckFailed(`key ${id} (${keyTypeText(key)}) cannot decrypt: EC keys derive (pico-hsm derive), RSA and AES keys decrypt`);
    await client.verifyPin(pin);
    const plain = await withProgress('decrypting', onSerial, client.decipher(id, input, algorithm, { ...(iv ? { iv } : {}), ...(aad ? { associatedData: aad } : {}) }));
    writeOutput(values, encodeOutput(plain, format, 'DATA'));
    return EXIT.ok;
  });
}

async function commandDerive(positionals: string[], values: Values): Promise<number> {
  const id = keyId(values.key ?? positionals[0]);
  const format = outputFormat(values.outform, 'raw');
  if (values.hkdf) {
    const length = integerOption(values.length, 'length', 1, 8160, 32);
    const info = hexArgument(values.info, '--info');
    const salt = hexArgument(values.salt, '--salt');
    const pin = await userPin(values);
    return withDevice(values, async (client) => {
      await client.verifyPin(pin);
      const derived = await client.deriveHkdf(id, { length, ...(info ? { info } : {}), ...(salt ? { salt } : {}) });
      writeOutput(values, encodeOutput(derived, format, 'DERIVED KEY'));
      return EXIT.ok;
    });
  }
  if (values.peer === undefined) throw new UsageError('derive needs --peer PUBLIC-KEY (ECDH) or --hkdf');
  const peerBytes = readFileArgument(values.peer, 'peer public key');
  let point: Uint8Array;
  const asText = new TextDecoder().decode(peerBytes).trim();
  if (/^(04)?[0-9a-fA-F\s]+$/.test(asText) && asText.length % 2 === 0 && !asText.includes('-----')) {
    point = fromHex(asText);
  } else {
    const peer = loadPublicKey(values.peer);
    if (peer.kind !== 'ec') throw new UsageError('the peer key must be an EC public key');
    point = peer.point;
  }
  const pin = await userPin(values);
  return withDevice(values, async (client) => {
    const key = await client.getKey(id);
    if (key.kind !== 'ec') throw new CheckFailed(`key ${id} is not an EC key (${keyTypeText(key)}); ECDH needs one`);
    await client.verifyPin(pin);
    const shared = await withProgress('deriving', onSerial, client.deriveEcdh(id, point));
    writeOutput(values, encodeOutput(shared, format, 'SHARED SECRET'));
    return EXIT.ok;
  });
}

async function commandRandom(positionals: string[], values: Values): Promise<number> {
  const length = integerOption(positionals[0], 'length (N)', 1, 65536, 32);
  const format = outputFormat(values.outform, 'hex');
  const bytes = await withDevice(values, (client) => client.random(length));
  writeOutput(values, encodeOutput(bytes, format, 'RANDOM'));
  return EXIT.ok;
}

async function commandPin(action: string | undefined, values: Values): Promise<number> {
  if (action === 'change') {
    if (values.so) {
      const current = await secret({ what: 'Current SO-PIN', flag: 'so-pin', value: values['so-pin'], env: 'PICO_HSM_SO_PIN' });
      const next = await secret({ what: 'New SO-PIN (16 hex digits)', flag: 'new-so-pin', value: values['new-so-pin'], env: 'PICO_HSM_NEW_SO_PIN', confirm: true });
      checkPinFormats('placeholder-pin', next, values);
      if (!/^[0-9a-fA-F]{16}$/.test(current)) throw new UsageError('the current SO-PIN must be 16 hex digits');
      await withDevice(values, (client) => client.changeSoPin(current, next));
      say('SO-PIN changed');
      return EXIT.ok;
    }
    const current = await userPin(values);
    const next = await secret({ what: 'New PIN (6-15 characters)', flag: 'new-pin', value: values['new-pin'], env: 'PICO_HSM_NEW_PIN', confirm: true });
    checkPinFormats(next, undefined, values);
    await withDevice(values, (client) => client.changePin(current, next));
    say('PIN changed');
    return EXIT.ok;
  }
  if (action === 'unblock') {
    const soPin = await secret({ what: 'SO-PIN', flag: 'so-pin', value: values['so-pin'], env: 'PICO_HSM_SO_PIN' });
    if (!/^[0-9a-fA-F]{16}$/.test(soPin)) throw new UsageError('the SO-PIN must be 16 hex digits');
    const next = await secret({ what: 'New PIN (6-15 characters)', flag: 'new-pin', value: values['new-pin'], env: 'PICO_HSM_NEW_PIN', confirm: true });
    checkPinFormats(next, undefined, values);
    await withDevice(values, (client) => client.unblockPin(soPin, next));
    say('PIN unblocked and set; the try counter is full again');
    return EXIT.ok;
  }
  throw new UsageError(`pin: unknown action "${action ?? ''}" (change, unblock)`);
}

// ---------------------------------------------------------------------------------------------------------------
// Registration (X.509 with the operator's CA) and attestation

/** The subject Name (DER) of an X.509 certificate: TBSCertificate field 6 (5 without the version). */
function certificateSubject(certificate: Uint8Array): Uint8Array {
  const top = readDer(certificate);
  const parts = top ? derChildren(top.node.value) : undefined;
  const tbs = parts?.[0] ? derChildren(parts[0].value) : undefined;
  if (!tbs) throw new UsageError('the CA certificate is not a DER X.509 certificate');
  const offset = tbs[0]?.tag === 0xa0 ? 1 : 0;
  const subject = tbs[offset + 4];
  if (!subject || subject.tag !== 0x30) throw new UsageError('the CA certificate has no subject');
  return subject.raw;
}

function loadCaCertificate(path: string): { der: Uint8Array; x509: X509Certificate } {
  const bytes = readFileArgument(path, 'CA certificate');
  const text = new TextDecoder().decode(bytes);
  const blocks = allPem(text).filter((block) => block.label === 'CERTIFICATE');
  const derBytes = blocks[0]?.der ?? bytes;
  try {
    return { der: derBytes, x509: new X509Certificate(Buffer.from(derBytes)) };
  } catch {
    throw new UsageError(`${path} is not an X.509 certificate (PEM or DER)`);
  }
}

function name(commonName: string): Uint8Array {
  return der.sequence(der.set(der.sequence(der.oid('2.5.4.3'), der.utf8(commonName))));
}

/** An X.509 v3 end-entity certificate for `subjectKey`, signed by the CA key (ECDSA P-256/SHA-256 or P-384/SHA-384). */
export function issueCertificate(options: { subjectKey: PublicKey; subjectName: string; issuer: Uint8Array; caKey: KeyObject; days: number; now?: Date }): Uint8Array {
  const curve = options.caKey.asymmetricKeyDetails?.namedCurve;
  const hash = curve === 'secp384r1' ? 'sha384' : 'sha256';
  const algorithm = der.sequence(der.oid(hash === 'sha384' ? '1.2.840.10045.4.3.3' : '1.2.840.10045.4.3.2'));
  const now = options.now ?? new Date();
  const notBefore = new Date(now.getTime() - 60_000);
  const notAfter = new Date(now.getTime() + options.days * 86_400_000);
  const serial = randomBytes(16);
  serial[0] = (serial[0] ?? 0) & 0x7f | 0x01;
  const spki = spkiDer(options.subjectKey);
  const keyBits = options.subjectKey.kind === 'ec' ? options.subjectKey.point : spki;
  const extensions = der.explicit(
    3,
    der.sequence(
      der.sequence(der.oid('2.5.29.19'), der.bool(true), der.octetString(der.sequence())),
      der.sequence(der.oid('2.5.29.15'), der.bool(true), der.octetString(der.bitString(Uint8Array.of(0x88), 3))),
      der.sequence(der.oid('2.5.29.14'), der.octetString(der.octetString(new Uint8Array(createHash('sha1').update(keyBits).digest())))),
    ),
  );
  const tbs = der.sequence(der.explicit(0, der.integer(2)), der.integer(new Uint8Array(serial)), algorithm, options.issuer, der.sequence(der.time(notBefore), der.time(notAfter)), name(options.subjectName), spki, extensions);
  const signature = nodeSign(hash, tbs, options.caKey);
  return der.sequence(tbs, algorithm, der.bitString(new Uint8Array(signature)));
}

async function commandRegister(values: Values): Promise<number> {
  if (values['ca-key'] === undefined || values['ca-cert'] === undefined) throw new UsageError('register needs --ca-key CA-KEY.pem and --ca-cert CA.pem (your operator CA, EC P-256 or P-384)');
  const days = integerOption(values.days, 'days', 1, 36500, 3650);
  let caKey: KeyObject;
  try {
    const passphrase = process.env.PICO_HSM_CA_PASSPHRASE;
    caKey = createPrivateKey({ key: Buffer.from(readFileArgument(values['ca-key'], 'CA key')), ...(passphrase ? { passphrase } : {}) });
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`${values['ca-key']} is not a readable private key (PEM; encrypted keys need PICO_HSM_CA_PASSPHRASE)`);
  }
  const curve = caKey.asymmetricKeyDetails?.namedCurve;
  if (caKey.asymmetricKeyType !== 'ec' || (curve !== 'prime256v1' && curve !== 'secp384r1')) throw new UsageError('the operator CA key must be EC P-256 or P-384');
  const ca = loadCaCertificate(values['ca-cert']);
  const caPublic = new Uint8Array(createPublicKey(caKey).export({ type: 'spki', format: 'der' }));
  const certPublic = new Uint8Array(ca.x509.publicKey.export({ type: 'spki', format: 'der' }));
  if (toHex(caPublic) !== toHex(certPublic)) throw new UsageError('the CA certificate does not belong to the CA key');
  const store = !values['no-store'];
  const pin = store ? await userPin(values) : undefined;
  return withDevice(values, async (client) => {
    const certificate = await client.deviceCertificate();
    const device = parseKeyRequest(certificate);
    if (!device) throw new CheckFailed('the device certificate (2F02) cannot be parsed');
    if (!verifyCvSignature(device.publicKey, device.body, device.innerSignature)) throw new CheckFailed('the device certificate\'s self-signature does not verify: refusing to register this device');
    const serial = device.chr.slice(0, Math.max(device.chr.length - 5, 0));
    const issued = issueCertificate({ subjectKey: device.publicKey, subjectName: `pico-hsm ${serial}`, issuer: certificateSubject(ca.der), caKey, days });
    const path = values.out ?? `device-${serial}.pem`;
    writeFileSync(path, toPem('CERTIFICATE', issued));
    if (store && pin !== undefined) {
      await client.verifyPin(pin);
      await client.writeFile(REGISTRATION_FILE, der.sequence(issued, ca.der));
    }
    say(`Registered device ${serial} with the CA "${ca.x509.subject.replace(/\n/g, ', ')}": certificate written to ${path}${store ? `, and stored on the device (file ${REGISTRATION_FILE.toString(16).toUpperCase()})` : ''}.`);
    say(`Check it with: openssl verify -CAfile ${values['ca-cert']} ${path}`);
    return EXIT.ok;
  });
}

async function commandAttest(values: Values): Promise<number> {
  const failures: string[] = [];
  const report = (ok: boolean, text: string): void => {
    out(`${ok ? 'OK  ' : 'FAIL'}  ${text}\n`);
    if (!ok) failures.push(text);
  };
  const caArgument = values['ca-cert'] !== undefined ? loadCaCertificate(values['ca-cert']) : undefined;
  const certArgument = values.cert !== undefined ? readFileArgument(values.cert, 'device certificate') : undefined;
  const keyArgument = values.key !== undefined ? keyId(values.key) : undefined;
  await withDevice(values, async (client) => {
    const device = parseKeyRequest(await client.deviceCertificate());
    if (!device) throw new CheckFailed('the device certificate (2F02) cannot be parsed');
    report(verifyCvSignature(device.publicKey, device.body, device.innerSignature), `device certificate ${device.chr}: self-signature by the device key`);
    // Registration: a certificate given on the command line, else the one stored on the device.
    let issued: Uint8Array | undefined;
    let storedCa: Uint8Array | undefined;
    if (certArgument) {
      const block = allPem(new TextDecoder().decode(certArgument)).find((item) => item.label === 'CERTIFICATE');
      issued = block?.der ?? certArgument;
    } else {
      const stored = await client.readFileIfExists(REGISTRATION_FILE);
      const parts = stored ? derChildren(readDer(stored)?.node.value ?? new Uint8Array(0)) : undefined;
      if (parts && parts.length === 2) {
        issued = parts[0]!.raw;
        storedCa = parts[1]!.raw;
      }
    }
    if (!issued) {
      if (caArgument) report(false, 'the device is not registered (no operator certificate on the device; pass --cert DEVICE.pem)');
      else out('      not registered with an operator CA (see `pico-hsm register`); the device certificate is self-signed\n');
    } else {
      let x509: X509Certificate | undefined;
      try {
        x509 = new X509Certificate(Buffer.from(issued));
      } catch {
        report(false, 'the operator certificate is not a valid X.509 certificate');
      }
      const caCertificate = caArgument?.x509 ?? (storedCa ? new X509Certificate(Buffer.from(storedCa)) : undefined);
      if (x509 && caCertificate) {
        const devicePublic = toHex(spkiDer(device.publicKey));
        const certPublic = toHex(new Uint8Array(x509.publicKey.export({ type: 'spki', format: 'der' })));
        report(devicePublic === certPublic, `operator certificate "${x509.subject.replace(/\n/g, ', ')}" certifies the device key`);
        report(x509.checkIssued(caCertificate) && x509.verify(caCertificate.publicKey), `signed by the CA "${caCertificate.subject.replace(/\n/g, ', ')}"${caArgument ? '' : ' (the CA stored with it; pass --ca-cert to check against your own copy)'}`);
        const now = Date.now();
        report(Date.parse(x509.validFrom) <= now && now <= Date.parse(x509.validTo), `valid from ${x509.validFrom} to ${x509.validTo}`);
      }
    }
    if (keyArgument !== undefined) {
      const request = await client.readFileIfExists(0xce00 | keyArgument);
      const ids = await client.enumerate();
      if (!ids.includes(0xcc00 | keyArgument)) throw new HsmError(0x6a82, `attest key ${keyArgument}`, `no key with id ${keyArgument} on the device`);
      const parsed = request ? parseKeyRequest(request) : undefined;
      if (!parsed) {
        report(false, `key ${keyArgument} has no certificate request (a secret key, or its request was removed)`);
      } else {
        report(verifyCvSignature(parsed.publicKey, parsed.body, parsed.innerSignature), `key ${keyArgument} request ${parsed.chr}: self-signature by the key (proof of possession)`);
        report(parsed.outer !== undefined && parsed.outer.car === device.chr && verifyCvSignature(device.publicKey, parsed.outer.signedPart, parsed.outer.signature), `key ${keyArgument} request: signed by the device key ${device.chr} (generated inside this device)`);
      }
    }
  });
  if (failures.length > 0) throw new CheckFailed(`attestation failed: ${failures.join('; ')}`);
  return EXIT.ok;
}

// ---------------------------------------------------------------------------------------------------------------
// Process-level commands

/**
 * The HSM process runs with the project root as its working directory (so it finds tsx): path options the user
 * gave relative to their own directory are made absolute first.
 */
function withAbsolutePaths(args: readonly string[], pathOptions: readonly string[]): string[] {
  const out: string[] = [];
  for (let index = 0; index < args.length; index++) {
    const argument = args[index] ?? '';
    const inline = pathOptions.find((option) => argument.startsWith(`${option}=`));
    if (inline !== undefined) {
      out.push(`${inline}=${resolve(process.cwd(), argument.slice(inline.length + 1))}`);
    } else if (pathOptions.includes(argument) && index + 1 < args.length) {
      out.push(argument, resolve(process.cwd(), args[index + 1] ?? ''));
      index++;
    } else {
      out.push(argument);
    }
  }
  return out;
}

function runChild(script: string, args: string[]): Promise<number> {
  return new Promise((resolveExit) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: PROJECT_ROOT, stdio: 'inherit' });
    const forward = (signal: NodeJS.Signals): void => {
      child.kill(signal);
    };
    // The child decides how to stop (the HSM shuts down cleanly); the launcher's early handler must not exit first.
    process.removeAllListeners('SIGINT');
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    child.on('exit', (code, signal) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolveExit(code ?? (signal ? 128 + 2 : 1));
    });
  });
}

async function commandPicoTool(command: 'bridge' | 'flash', args: string[]): Promise<number> {
  const script = join(PROJECT_ROOT, 'tools', command === 'bridge' ? 'bridge.ts' : 'flash-pico.ts');
  if (!existsSync(script)) {
    say(`pico-hsm ${command}: the Raspberry Pi Pico board is not available yet in this version (tools/${command === 'bridge' ? 'bridge.ts' : 'flash-pico.ts'} is missing). Use the host board: pico-hsm start.`);
    return EXIT.failed;
  }
  return runChild(script, args);
}

// ---------------------------------------------------------------------------------------------------------------
// Main

let deviceBusy = false;

function installInterruptHandler(): void {
  // Replaces the launcher's early handler (bin/pico-hsm.mjs), which covers the time before main() runs.
  process.removeAllListeners('SIGINT');
  process.on('SIGINT', () => {
    if (deviceBusy) {
      say('\npico-hsm: interrupted; stopped waiting for the device. The HSM finishes or discards the operation on its own (every change is atomic), so it stays consistent: check with `pico-hsm keys list` or `pico-hsm status`.');
    } else {
      say('\npico-hsm: interrupted');
    }
    process.exit(EXIT.interrupted);
  });
}

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'start') return runChild(join(PROJECT_ROOT, 'boards', 'host-main.ts'), withAbsolutePaths(rest, ['--data', '--socket']));
  if (command === 'bridge' || command === 'flash') return commandPicoTool(command, rest);
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    say(`pico-hsm: ${error instanceof Error ? error.message : String(error)}\n(run \`pico-hsm --help\` for the commands)`);
    return EXIT.usage;
  }
  const { values, positionals } = parsed;
  const [name, action, ...arguments_] = positionals;
  if (values.help || name === undefined || name === 'help') {
    (name === undefined && !values.help ? io.stderr : io.stdout).write(`${USAGE}\n`);
    return name === undefined && !values.help ? EXIT.usage : EXIT.ok;
  }
  installInterruptHandler();
  try {
    deviceBusy = true;
    switch (name) {
      case 'status':
        return await commandStatus(values);
      case 'init':
        return await commandInit(values);
      case 'keys':
        return await commandKeys(action, arguments_, values);
      case 'sign':
        return await commandSign(positionals.slice(1), values);
      case 'verify':
        return await commandVerify(positionals.slice(1), values);
      case 'decrypt':
        return await commandDecrypt(positionals.slice(1), values);
      case 'derive':
        return await commandDerive(positionals.slice(1), values);
      case 'random':
        return await commandRandom(positionals.slice(1), values);
      case 'pin':
        return await commandPin(action, values);
      case 'attest':
        return await commandAttest(values);
      case 'register':
        return await commandRegister(values);
      default:
        throw new UsageError(`unknown command "${name}"`);
    }
  } catch (error) {
    return report(error);
  } finally {
    deviceBusy = false;
  }
}

function report(error: unknown): number {
  if (error instanceof UsageError) {
    say(`pico-hsm: ${error.message}`);
    return EXIT.usage;
  }
  if (error instanceof DeviceAbsentError) {
    say(`pico-hsm: device absent: ${error.message}`);
    return EXIT.absent;
  }
  if (error instanceof HsmError) {
    say(`pico-hsm: ${error.message}`);
    return EXIT.failed;
  }
  if (error instanceof CheckFailed) {
    say(`pico-hsm: ${error.message}`);
    return EXIT.failed;
  }
  if (error instanceof TransportError) {
    say(`pico-hsm: ${error.message}`);
    return EXIT.failed;
  }
  if (error instanceof InterruptedError) {
    say(`pico-hsm: ${error.message}`);
    return EXIT.interrupted;
  }
  if (error instanceof RangeError) {
    say(`pico-hsm: ${error.message}`);
    return EXIT.usage;
  }
  say(`pico-hsm: unexpected failure: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  return EXIT.failed;
}

const invokedDirectly = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly || process.env.PICO_HSM_CLI_MAIN === '1') {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.exitCode = report(error);
    },
  );
}
