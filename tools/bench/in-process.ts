/**
 * Part 1 and 3 of `npm run bench`: the HSM in this process, with the layer breakdown down to the crypto floor.
 *
 * The device is assembled with `assembleDevice` on the host HAL (boards/host.ts's parts: the file-backed flash
 * image with fsync, OS entropy, the monotonic clock, Node timers, a device-secret file) and a local socket link
 * (hal/host/socket-link.ts) serving it, exactly as the host board wires them. Two HAL resources are wrapped in
 * meters that only add a performance.now() pair per call: the crypto engine (every method, RSA and AES included)
 * and the flash (read, program, erase, sync).
 *
 * Per operation it measures:
 * - socket: SocketLinkClient.transmit of the command APDU over the unix socket (client library -> link -> device);
 * - direct: `scheduler.call('link', transportProtocol, 'apdu', ...)`, what a link adapter does, no I/O;
 * - floor: the raw engine call alone on the same kind of key (ecSign, ecdh, rsa.rawPrivate, aes.gcmSeal,
 *   ecGenerate, rsa.generate), no firmware around it.
 *
 * Layer breakdown (method, per direct call): the scheduler notes every sent/received/replied event with the
 * board clock (performance.now()) in its trace rings; for one command the events of every actor are merged by
 * sequence number. For each message id: request delivery = received - sent (the event-loop turn the scheduler
 * waits for with setImmediate, CBOR decode of the envelope, schema validation); the callee's exclusive time =
 * (caller's replied - callee's received) minus the spans of the calls it made itself (its own logic, the CBOR
 * encode of its requests, the encode + delivery + decode of its reply). The engine meter and the flash meter
 * then take the crypto and flash time out of the actors that spent it (the crypto, keystore and PIN actors, which
 * are reported together because a meter cannot tell which of them made an engine call; storage: flash I/O). Everything adds up to the measured direct time; the
 * "outside" share is the caller's own encode of the first request and the promise hand-back.
 * The breakdown averages the fastest half of the runs (total at or below the median), so a preemption by another
 * process does not land on whichever layer happened to be running; on a quiet machine this is close to the mean.
 * Micro-benchmarks put numbers on single layers: APDU parsing and response framing (pure functions), the CBOR
 * envelope round trip of the crypto.sign request and reply (encode, decode, validate), and one scheduler hop
 * (request + reply through a bare Scheduler with one echo actor, empty body).
 */
import { constants, createPublicKey, publicEncrypt, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ecGenerateBody, rsaGenerateBody } from '../../actors/card/cvc.js';
import { concat, tlv } from '../../actors/card/tlv.js';
import { defineActor, Scheduler, type TraceEntry } from '../../actors/scheduler.js';
import { SMARTCARD_HSM_ATR } from '../../actors/transport.js';
import { assembleChain, parseCommandApdu, startResponse } from '../../actors/transport/apdu.js';
import { assembleDevice, type Device } from '../../boards/device.js';
import { HOST_GEOMETRY, HOST_OPERATION_FAMILIES, HOST_PIN_ITERATIONS } from '../../boards/host.js';
import type { AesEngine, CryptoEngine, CurveName, RsaEngine } from '../../hal/crypto/types.js';
import { ecSeedLength } from '../../hal/crypto/types.js';
import { FileFlash } from '../../hal/host/flash.js';
import { SocketLink, SocketLinkClient } from '../../hal/host/socket-link.js';
import { FileDeviceSecret, loggingLed, monotonicClock, noWatchdog, nodeTimers, osEntropy, presenceAlwaysGranted } from '../../hal/host/system.js';
import type { Flash, FlashGeometry, Hal } from '../../hal/types.js';
import { cryptoProtocol } from '../../messages/crypto.js';
import { decodeEnvelope, defineProtocol, encodeEnvelope, lookupOperation, ok, op } from '../../messages/protocol.js';
import * as t from '../../messages/fields.js';
import { validate } from '../../messages/schema.js';
import { transportProtocol } from '../../messages/transport.js';

// ---------------------------------------------------------------------------------------------------------
// Shared shapes (main.ts prints them)

export const OPERATIONS = ['ecdsa-p256-sign', 'ecdsa-p384-sign', 'ecdh-p256', 'rsa2048-sign', 'rsa2048-decrypt', 'aes256-gcm-1k', 'keygen-ec-p256', 'keygen-rsa2048'] as const;
export type OperationId = (typeof OPERATIONS)[number];

export interface Stats {
  readonly n: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly meanUs: number;
  readonly opsPerSecond: number;
  /** 1-minute load average when the measurement finished. */
  readonly load1: number;
}
export type Measured = ({ status: 'ok' } & Stats) | { status: 'n/a'; reason: string };

export interface Layer {
  readonly layer: string;
  readonly us: number;
  readonly share: number;
}

export interface Breakdown {
  /** Mean of the direct call over the fastest half of the runs (the breakdown's basis). */
  readonly totalUs: number;
  readonly layers: readonly Layer[];
  /** Request delivery per hop (sender -> receiver operation), same runs. */
  readonly hops: readonly { hop: string; us: number }[];
  /** Everything but engine calls: actors, CBOR, scheduler, transport, storage (flash included). */
  readonly firmwareOverheadUs: number;
  /** The same plus key unsealing and hashing (every engine call but the primary operation). */
  readonly overheadWithUnsealUs: number;
  readonly primaryEngineUs: number;
  readonly messages: number;
}

export interface Micro {
  readonly apduParseUs: number;
  readonly cborSignRoundTripUs: number;
  readonly schedulerHopRoundTripUs: number;
  readonly schedulerHopRequestUs: number;
  readonly load1: number;
}

export interface InProcessResult {
  readonly engineRequested: string;
  readonly engine: string;
  readonly flash: string;
  readonly socket: Record<OperationId, Measured>;
  readonly direct: Record<OperationId, Measured>;
  readonly floor: Record<OperationId, Measured>;
  readonly breakdown: Partial<Record<OperationId, Breakdown>>;
  readonly micro: Micro;
  readonly loadBefore: number[];
  readonly loadAfter: number[];
}

export interface Budget {
  /** Milliseconds per operation and path. */
  readonly timeMs: number;
  readonly minRuns: number;
  readonly maxRuns: number;
  /** Same for key generation (RSA takes 100s of ms). */
  readonly keygenTimeMs: number;
  readonly keygenMinRuns: number;
  readonly keygenMaxRuns: number;
}

export const NORMAL_BUDGET: Budget = { timeMs: 2000, minRuns: 50, maxRuns: 5000, keygenTimeMs: 4000, keygenMinRuns: 5, keygenMaxRuns: 200 };
export const QUICK_BUDGET: Budget = { timeMs: 300, minRuns: 10, maxRuns: 300, keygenTimeMs: 600, keygenMinRuns: 2, keygenMaxRuns: 20 };

// ---------------------------------------------------------------------------------------------------------
// Statistics

export function percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(fraction * sorted.length)));
  return sorted[rank - 1] ?? 0;
}

export function summarize(timesUs: readonly number[]): Stats {
  const sorted = [...timesUs].sort((a, b) => a - b);
  const sum = sorted.reduce((total, value) => total + value, 0);
  return {
    n: sorted.length,
    p50Us: round(percentile(sorted, 0.5)),
    p99Us: round(percentile(sorted, 0.99)),
    meanUs: round(sum / Math.max(1, sorted.length)),
    opsPerSecond: round(sorted.length === 0 ? 0 : (sorted.length * 1e6) / sum),
    load1: round(loadavg()[0] ?? 0),
  };
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

function na(reason: string): Measured {
  return { status: 'n/a', reason };
}

/** Runs `once` until the budget is spent (at least minRuns, at most maxRuns), after `warmup` untimed runs. */
async function timeLoop(once: () => Promise<unknown> | unknown, keygen: boolean, budget: Budget, warmup = 3): Promise<number[]> {
  const timeMs = keygen ? budget.keygenTimeMs : budget.timeMs;
  const minRuns = keygen ? budget.keygenMinRuns : budget.minRuns;
  const maxRuns = keygen ? budget.keygenMaxRuns : budget.maxRuns;
  for (let index = 0; index < (keygen ? 1 : warmup); index++) await once();
  const times: number[] = [];
  const started = performance.now();
  while (times.length < maxRuns && (times.length < minRuns || performance.now() - started < timeMs)) {
    const before = performance.now();
    await once();
    times.push((performance.now() - before) * 1000);
  }
  return times;
}

// ---------------------------------------------------------------------------------------------------------
// Meters around the engine and the flash

export class Meter {
  readonly byName = new Map<string, number>();
  enabled = false;
  add(name: string, microseconds: number): void {
    if (!this.enabled) return;
    this.byName.set(name, (this.byName.get(name) ?? 0) + microseconds);
  }
  reset(): void {
    this.byName.clear();
  }
  total(filter: (name: string) => boolean = () => true): number {
    let sum = 0;
    for (const [name, value] of this.byName) if (filter(name)) sum += value;
    return sum;
  }
}

function meterObject<T extends object>(target: T, prefix: string, meter: Meter): T {
  const wrapped: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(target)) {
    if (typeof value !== 'function') {
      wrapped[key] = value;
      continue;
    }
    const name = `${prefix}${key}`;
    wrapped[key] = (...args: unknown[]) => {
      const before = performance.now();
      const result: unknown = (value as (...a: unknown[]) => unknown).apply(target, args);
      if (result instanceof Promise) return result.finally(() => meter.add(name, (performance.now() - before) * 1000));
      meter.add(name, (performance.now() - before) * 1000);
      return result;
    };
  }
  return wrapped as T;
}

export function meteredEngine(engine: CryptoEngine, meter: Meter): CryptoEngine {
  const base = meterObject(engine, '', meter) as CryptoEngine & { rsa?: RsaEngine; aes?: AesEngine };
  return {
    ...base,
    name: engine.name,
    curves: engine.curves,
    ...(engine.rsa ? { rsa: meterObject(engine.rsa, 'rsa.', meter) } : {}),
    ...(engine.aes ? { aes: meterObject(engine.aes, 'aes.', meter) } : {}),
  };
}

function meteredFlash(flash: Flash, meter: Meter): Flash {
  const time = <R>(name: string, work: () => R): R => {
    const before = performance.now();
    try {
      return work();
    } finally {
      meter.add(`flash.${name}`, (performance.now() - before) * 1000);
    }
  };
  return {
    geometry: flash.geometry,
    read: (address, length) => time('read', () => flash.read(address, length)),
    program: (address, data) => time('program', () => flash.program(address, data)),
    erase: (sector) => time('erase', () => flash.erase(sector)),
    sync: () => time('sync', () => flash.sync()),
  };
}

/** Engine methods that are the operation itself (the floor); everything else an engine does is support work. */
const PRIMARY: Record<OperationId, readonly string[]> = {
  'ecdsa-p256-sign': ['ecSign'],
  'ecdsa-p384-sign': ['ecSign'],
  'ecdh-p256': ['ecdh'],
  'rsa2048-sign': ['rsa.rawPrivate', 'rsa.signPkcs1'],
  'rsa2048-decrypt': ['rsa.rawPrivate', 'rsa.decryptPkcs1'],
  'aes256-gcm-1k': ['aes.gcmSeal'],
  'keygen-ec-p256': ['ecGenerate'],
  'keygen-rsa2048': ['rsa.generate'],
};

// ---------------------------------------------------------------------------------------------------------
// APDUs (protocol.md sections 3 and 4; the same bytes OpenSC sends)

export const USER_PIN = '648219';
const SO_PIN_HEX = '3537363231383830';
const KEY = { p256: 1, p384: 2, rsa: 3, aes: 4, counted: 5, scratch: 0x20 } as const;

export function hex(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text.replace(/\s/g, ''), 'hex'));
}

/** An extended case-4 APDU: header, 00 Lc(2) data, Le 00 00. */
export function extendedApdu(cla: number, ins: number, p1: number, p2: number, data: Uint8Array): Uint8Array {
  return concat(Uint8Array.of(cla, ins, p1, p2, 0, data.length >> 8, data.length & 0xff), data, Uint8Array.of(0, 0));
}

export function ecGenerateApdu(keyId: number, curve: CurveName, extra: Uint8Array[] = []): Uint8Array {
  return extendedApdu(0x00, 0x46, keyId, 0x00, ecGenerateBody(curve, 'BENCH0000000001', extra));
}

export function rsaGenerateApdu(keyId: number, bits = 2048): Uint8Array {
  return extendedApdu(0x00, 0x46, keyId, 0x00, rsaGenerateBody(bits, 'BENCH0000000001'));
}

export const SELECT_HSM = hex('00A404000BE82B0601040181C31F020100');
export const INITIALIZE = hex(`8050000019800200018106${Buffer.from(USER_PIN).toString('hex')}8208${SO_PIN_HEX}910103`);
export const VERIFY = hex(`0020008106${Buffer.from(USER_PIN).toString('hex')}`);
export const deleteApdu = (fileId: number): Uint8Array => Uint8Array.of(0x00, 0xe4, 0x00, 0x00, 0x02, fileId >> 8, fileId & 0xff);
export const signApdu = (keyId: number, algorithm: number, data: Uint8Array): Uint8Array => extendedApdu(0x80, 0x68, keyId, algorithm, data);

/** EMSA-PKCS1-v1_5 block of SHA-256 DigestInfo, as OpenSC pads on the host before sending algorithm 20. */
export function pkcs1Block(digest: Uint8Array, modulusBytes = 256): Uint8Array {
  const digestInfo = concat(hex('3031300d060960864801650304020105000420'), digest);
  const block = new Uint8Array(modulusBytes).fill(0xff);
  block[0] = 0;
  block[1] = 1;
  block[modulusBytes - digestInfo.length - 1] = 0;
  block.set(digestInfo, modulusBytes - digestInfo.length);
  return block;
}

function statusWord(response: Uint8Array): number {
  return ((response[response.length - 2] ?? 0) << 8) | (response[response.length - 1] ?? 0);
}

// ---------------------------------------------------------------------------------------------------------
// The device under test

interface BenchDevice {
  readonly device: Device;
  readonly engineMeter: Meter;
  readonly flashMeter: Meter;
  readonly socketPath: string;
  direct(apdu: Uint8Array): Promise<Uint8Array>;
  close(): Promise<void>;
}

const GEOMETRY: FlashGeometry = HOST_GEOMETRY;

async function startBenchDevice(engine: CryptoEngine, directory: string): Promise<BenchDevice> {
  const engineMeter = new Meter();
  const flashMeter = new Meter();
  const fileFlash = new FileFlash(join(directory, 'flash.img'), GEOMETRY);
  const hal: Hal = {
    flash: meteredFlash(fileFlash, flashMeter),
    entropy: osEntropy,
    clock: monotonicClock,
    timers: nodeTimers(),
    deviceSecret: new FileDeviceSecret(join(directory, 'device-secret'), osEntropy),
    watchdog: noWatchdog,
    led: loggingLed(),
    button: presenceAlwaysGranted,
  };
  const device = await assembleDevice({ hal, engine: meteredEngine(engine, engineMeter), families: HOST_OPERATION_FAMILIES, pinIterations: HOST_PIN_ITERATIONS });
  const onApdu = async (bytes: Uint8Array, session = 0): Promise<Uint8Array> => {
    const answered = await device.scheduler.call('link', transportProtocol, 'apdu', { bytes, session });
    if (!answered.ok) throw new Error(`transport: ${answered.error.code}`);
    return answered.value.bytes;
  };
  const onPower = async (change: 'powerOn' | 'powerOff' | 'reset', session = 0): Promise<void> => {
    const event = change === 'powerOff' ? 'off' : change === 'powerOn' ? 'on' : 'reset';
    await device.scheduler.call('link', transportProtocol, 'power', { event, session });
  };
  const socketPath = join(directory, 'hsm.sock');
  const socket = new SocketLink({ path: socketPath, atr: SMARTCARD_HSM_ATR, onApdu, onPower });
  await socket.start();
  return {
    device,
    engineMeter,
    flashMeter,
    socketPath,
    direct: (apdu) => onApdu(apdu, 0),
    async close() {
      await socket.close();
      await device.stop();
      fileFlash.close();
    },
  };
}

async function expectOk(send: (apdu: Uint8Array) => Promise<Uint8Array>, apdu: Uint8Array, what: string): Promise<Uint8Array> {
  const response = await send(apdu);
  const sw = statusWord(response);
  if (sw !== 0x9000) throw new Error(`${what}: status ${sw.toString(16)}`);
  return response.subarray(0, response.length - 2);
}

/** The command each operation sends, or why it cannot run on this engine. */
interface Workload {
  readonly apdu?: Uint8Array;
  /** Key generation: a fresh APDU per run and a cleanup after it (untimed). */
  readonly keygen?: { apdu: Uint8Array; cleanup: Uint8Array[] };
  readonly unavailable?: string;
}

function workloads(engine: CryptoEngine, rsaModulus: Uint8Array | undefined): Record<OperationId, Workload> {
  const hash32 = randomBytes(32);
  const hash48 = randomBytes(48);
  const peer = engine.ecGenerate('secp256r1', randomBytes(ecSeedLength('secp256r1')));
  const noRsa = engine.rsa ? undefined : `the ${engine.name} engine has no RSA`;
  const noAes = engine.aes ? undefined : `the ${engine.name} engine has no AES`;
  let ciphertext: Uint8Array | undefined;
  if (rsaModulus) {
    // A real PKCS#1 v1.5 ciphertext (OpenSC sends algorithm 21, raw, and unpads on the host).
    const key = createPublicKey({ key: { kty: 'RSA', n: Buffer.from(rsaModulus).toString('base64url'), e: 'AQAB' }, format: 'jwk' });
    ciphertext = new Uint8Array(publicEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, randomBytes(32)));
  }
  const gcm = concat(tlv(0x06, hex('60864801650304012e')), tlv(0x81, randomBytes(1024)), tlv(0x82, randomBytes(12)));
  const scratchKey = 0xcc00 | KEY.scratch;
  const scratchRequest = 0xce00 | KEY.scratch;
  return {
    'ecdsa-p256-sign': { apdu: signApdu(KEY.p256, 0x70, hash32) },
    'ecdsa-p384-sign': { apdu: signApdu(KEY.p384, 0x70, hash48) },
    'ecdh-p256': { apdu: extendedApdu(0x80, 0x62, KEY.p256, 0x80, peer.publicKey) },
    'rsa2048-sign': noRsa ? { unavailable: noRsa } : { apdu: signApdu(KEY.rsa, 0x20, pkcs1Block(hash32)) },
    'rsa2048-decrypt': noRsa || !ciphertext ? { unavailable: noRsa ?? 'no RSA key' } : { apdu: extendedApdu(0x80, 0x62, KEY.rsa, 0x21, ciphertext) },
    'aes256-gcm-1k': noAes ? { unavailable: noAes } : { apdu: extendedApdu(0x80, 0x78, KEY.aes, 0x51, gcm) },
    'keygen-ec-p256': { keygen: { apdu: ecGenerateApdu(KEY.scratch, 'secp256r1'), cleanup: [deleteApdu(scratchKey), deleteApdu(scratchRequest)] } },
    'keygen-rsa2048': noRsa ? { unavailable: noRsa } : { keygen: { apdu: rsaGenerateApdu(KEY.scratch), cleanup: [deleteApdu(scratchKey), deleteApdu(scratchRequest)] } },
  };
}

/** The RSA modulus from an authenticated request (67 { 7F21 { 7F4E { ... 7F49 { 06, 81 n, 82 e } } } }). */
function rsaModulusOf(request: Uint8Array): Uint8Array | undefined {
  // Find tag 7F49 and then 81 inside it; the request layout is fixed by actors/card/cvc.ts.
  for (let index = 0; index + 2 < request.length; index++) {
    if (request[index] !== 0x7f || request[index + 1] !== 0x49) continue;
    let offset = index + 2;
    const lengthByte = request[offset] ?? 0;
    offset += lengthByte & 0x80 ? 1 + (lengthByte & 0x7f) : 1;
    // 06 OID
    if (request[offset] !== 0x06) return undefined;
    offset += 2 + (request[offset + 1] ?? 0);
    if (request[offset] !== 0x81) return undefined;
    offset += 1;
    let length = request[offset] ?? 0;
    offset += 1;
    if (length & 0x80) {
      const count = length & 0x7f;
      length = 0;
      for (let byte = 0; byte < count; byte++) length = (length << 8) | (request[offset + byte] ?? 0);
      offset += count;
    }
    return request.slice(offset, offset + length);
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Trace decomposition

const ACTORS = ['link', 'transport', 'applet', 'crypto', 'keystore', 'storage', 'pin', 'lifecycle'];

function lastSequence(device: Device): number {
  let last = -1;
  for (const name of ACTORS) for (const entry of device.scheduler.trace(name)) last = Math.max(last, entry.sequence);
  return last;
}

interface Decomposed {
  readonly spanUs: number;
  readonly exclusiveUs: Map<string, number>;
  readonly hopsUs: Map<string, number>;
  readonly messages: number;
}

function decompose(device: Device, after: number): Decomposed | undefined {
  const entries: TraceEntry[] = [];
  for (const name of ACTORS) for (const entry of device.scheduler.trace(name)) if (entry.sequence > after) entries.push(entry);
  entries.sort((a, b) => a.sequence - b.sequence);
  interface Call {
    caller: string;
    callee: string;
    operation: string;
    sent?: number;
    received?: number;
    replied?: number;
  }
  const calls = new Map<number, Call>();
  for (const entry of entries) {
    if (entry.event === 'sent') calls.set(entry.id, { caller: entry.peer, callee: entry.detail ?? '?', operation: entry.operation, sent: entry.time });
    else if (entry.event === 'received') {
      const call = calls.get(entry.id);
      if (call) call.received = entry.time;
    } else if (entry.event === 'replied') {
      const call = calls.get(entry.id);
      if (call) call.replied = entry.time;
    }
  }
  const complete = [...calls.values()].filter((call) => call.sent !== undefined && call.received !== undefined && call.replied !== undefined);
  if (complete.length !== calls.size || complete.length === 0) return undefined; // a ring overflowed: skip this run
  const root = complete.find((call) => call.caller === 'link');
  if (!root) return undefined;
  const exclusiveUs = new Map<string, number>();
  const hopsUs = new Map<string, number>();
  for (const call of complete) {
    const span = call.replied! - call.received!;
    const children = complete.filter((child) => child.caller === call.callee && child.sent! >= call.received! && child.replied! <= call.replied!);
    const nested = children.reduce((sum, child) => sum + (child.replied! - child.sent!), 0);
    exclusiveUs.set(call.callee, (exclusiveUs.get(call.callee) ?? 0) + (span - nested) * 1000);
    const hop = `${call.caller}->${call.callee}.${call.operation}`;
    hopsUs.set(hop, (hopsUs.get(hop) ?? 0) + (call.received! - call.sent!) * 1000);
  }
  return { spanUs: (root.replied! - root.sent!) * 1000, exclusiveUs, hopsUs, messages: complete.length * 2 };
}

interface Sample {
  readonly totalUs: number;
  readonly decomposed: Decomposed;
  readonly engine: Map<string, number>;
  readonly flash: Map<string, number>;
}

function average(values: readonly number[]): number {
  if (values.length === 0) return 0;
  return values.reduce((sum, value) => sum + value, 0) / values.length;
}

function breakdownOf(operation: OperationId, samples: readonly Sample[]): Breakdown | undefined {
  if (samples.length === 0) return undefined;
  // The fastest half of the runs: on a busy machine the slower half is mostly preemption by other processes,
  // which would otherwise land on whichever layer happened to be running.
  const cutoff = percentile([...samples.map((sample) => sample.totalUs)].sort((a, b) => a - b), 0.5);
  const kept = samples.filter((sample) => sample.totalUs <= cutoff);
  const mean = (pick: (sample: Sample) => number): number => average(kept.map(pick));
  const primaryNames = PRIMARY[operation];
  const sumOf = (map: Map<string, number>, filter: (name: string) => boolean): number => [...map].reduce((sum, [name, value]) => (filter(name) ? sum + value : sum), 0);
  const totalUs = mean((sample) => sample.totalUs);
  const primary = mean((sample) => sumOf(sample.engine, (name) => primaryNames.includes(name)));
  const unseal = mean((sample) => sumOf(sample.engine, (name) => name.startsWith('aead') || name === 'hkdfSha256'));
  const hashing = mean((sample) => sumOf(sample.engine, (name) => name === 'digest' || name === 'hmac'));
  const otherEngine = mean((sample) => sumOf(sample.engine, (name) => !primaryNames.includes(name) && !name.startsWith('aead') && name !== 'hkdfSha256' && name !== 'digest' && name !== 'hmac'));
  const flashIo = mean((sample) => sumOf(sample.flash, () => true));
  const exclusive = (actor: string): number => mean((sample) => sample.decomposed.exclusiveUs.get(actor) ?? 0);
  const hopTotal = mean((sample) => [...sample.decomposed.hopsUs.values()].reduce((sum, value) => sum + value, 0));
  const outside = mean((sample) => sample.totalUs - sample.decomposed.spanUs);
  // Engine and flash time happen inside actors: take them out of the actors that spent them.
  const engineAll = primary + unseal + hashing + otherEngine;
  // Engine calls happen in the crypto actor (the operation, the device key for key generation), the key store
  // (unsealing) and possibly the PIN actor: the meter cannot tell which actor made a call, so those three actors'
  // own logic is reported together.
  const keyActorsLogic = exclusive('crypto') + exclusive('keystore') + exclusive('pin') - engineAll;
  const storageLogic = exclusive('storage') - flashIo;
  const layers: Layer[] = [
    { layer: 'engine: primary operation (the floor)', us: primary },
    { layer: 'engine: key sealing / unsealing (ChaCha20-Poly1305, HKDF)', us: unseal },
    { layer: 'engine: hashing / other', us: hashing + otherEngine },
    { layer: 'transport actor (APDU parse, chaining, response framing) + reply', us: exclusive('transport') },
    { layer: 'applet actor (command dispatch, TLV) + reply', us: exclusive('applet') },
    { layer: 'crypto, keystore, pin actors logic (DER, CV request, key record, policy, master key) + replies', us: keyActorsLogic },
    { layer: 'storage actor logic (log store) + reply', us: storageLogic },
    { layer: 'storage: flash I/O (file image, fsync)', us: flashIo },
    { layer: 'scheduler: request delivery (turn + CBOR decode + validate)', us: hopTotal },
    { layer: 'caller side (first encode, promise hand-back)', us: outside },
  ].map((layer) => ({ layer: layer.layer, us: round(layer.us), share: round((layer.us / totalUs) * 100) / 100 }));
  const hopNames = new Set<string>();
  for (const sample of kept) for (const name of sample.decomposed.hopsUs.keys()) hopNames.add(name);
  const hops = [...hopNames].map((hop) => ({ hop, us: round(mean((sample) => sample.decomposed.hopsUs.get(hop) ?? 0)) }));
  return {
    totalUs: round(totalUs),
    layers,
    hops,
    firmwareOverheadUs: round(totalUs - engineAll),
    overheadWithUnsealUs: round(totalUs - primary),
    primaryEngineUs: round(primary),
    messages: Math.round(mean((sample) => sample.decomposed.messages)),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Micro-benchmarks

function microLoop(runs: number, work: () => void): number {
  for (let index = 0; index < Math.min(1000, runs); index++) work();
  const started = performance.now();
  for (let index = 0; index < runs; index++) work();
  return ((performance.now() - started) * 1000) / runs;
}

async function micro(budget: Budget): Promise<Micro> {
  const runs = budget === QUICK_BUDGET ? 2000 : 20000;
  const apdu = signApdu(1, 0x70, randomBytes(32));
  const signature = randomBytes(72);
  const apduParseUs = microLoop(runs, () => {
    const parsed = parseCommandApdu(apdu);
    if (!parsed.ok) throw new Error('parse');
    const step = assembleChain(null, parsed.apdu);
    if (step.result.kind !== 'complete') throw new Error('chain');
    startResponse(signature, 0x9000, step.result.apdu.le);
  });
  const spec = lookupOperation(cryptoProtocol, 'sign');
  const request = { fileId: 0xcc01, algorithm: 0x70, data: randomBytes(32), session: 0 };
  const cborSignRoundTripUs = microLoop(runs, () => {
    const bytes = encodeEnvelope({ kind: 'request', id: 7, from: 'applet', to: 'crypto', op: 'sign', body: validate(spec.request, request) });
    const envelope = decodeEnvelope(bytes);
    if (envelope.kind === 'request') validate(spec.request, envelope.body);
    const replyBytes = encodeEnvelope({ kind: 'reply', id: 7, from: 'crypto', to: 'applet', op: 'sign', body: validate(spec.reply, { signature }) });
    const reply = decodeEnvelope(replyBytes);
    if (reply.kind === 'reply') validate(spec.reply, reply.body);
  });

  // One hop: a bare scheduler with an echo actor, request + reply, empty body.
  const echoProtocol = defineProtocol('echo', { ping: op(t.struct({}), t.struct({})) });
  const scheduler = new Scheduler({ capabilities: { board: ['echo'], echo: [] }, clock: monotonicClock, timers: nodeTimers() });
  await scheduler.start([defineActor({ protocol: echoProtocol, start: () => ({ handlers: { ping: () => ok({}) } }) })]);
  const hopRuns = Math.max(200, runs / 10);
  for (let index = 0; index < 200; index++) await scheduler.call('board', echoProtocol, 'ping', {});
  let requestUs = 0;
  const started = performance.now();
  for (let index = 0; index < hopRuns; index++) {
    await scheduler.call('board', echoProtocol, 'ping', {});
    const trace = scheduler.trace('echo');
    const received = trace[trace.length - 1];
    const sent = scheduler.trace('board').filter((entry) => entry.event === 'sent' && entry.id === received?.id)[0];
    if (received && sent) requestUs += (received.time - sent.time) * 1000;
  }
  const schedulerHopRoundTripUs = ((performance.now() - started) * 1000) / hopRuns;
  await scheduler.stop();
  return {
    apduParseUs: round(apduParseUs * 1000) / 1000,
    cborSignRoundTripUs: round(cborSignRoundTripUs),
    schedulerHopRoundTripUs: round(schedulerHopRoundTripUs),
    schedulerHopRequestUs: round(requestUs / hopRuns),
    load1: round(loadavg()[0] ?? 0),
  };
}

// ---------------------------------------------------------------------------------------------------------
// The run

export interface InProcessOptions {
  readonly engine: CryptoEngine;
  readonly engineRequested: string;
  readonly budget: Budget;
  readonly log?: (line: string) => void;
}

export async function runInProcess(options: InProcessOptions): Promise<InProcessResult> {
  const { engine, budget } = options;
  const log = options.log ?? (() => undefined);
  const loadBefore = loadavg().map(round);
  const directory = mkdtempSync(join(tmpdir(), 'pico-hsm-bench-'));
  const bench = await startBenchDevice(engine, directory);
  const client = await SocketLinkClient.connect(bench.socketPath);
  try {
    const direct = bench.direct;
    const viaSocket = (apdu: Uint8Array): Promise<Uint8Array> => client.transmit(apdu);
    await expectOk(direct, SELECT_HSM, 'SELECT');
    await expectOk(direct, INITIALIZE, 'INITIALIZE');
    await expectOk(direct, VERIFY, 'VERIFY');
    await client.resetSession();
    await expectOk(viaSocket, SELECT_HSM, 'SELECT (socket)');
    await expectOk(viaSocket, VERIFY, 'VERIFY (socket)');
    log(`  keys: P-256, P-384${engine.rsa ? ', RSA-2048' : ''}${engine.aes ? ', AES-256' : ''}`);
    await expectOk(direct, ecGenerateApdu(KEY.p256, 'secp256r1'), 'generate P-256');
    await expectOk(direct, ecGenerateApdu(KEY.p384, 'secp384r1'), 'generate P-384');
    let modulus: Uint8Array | undefined;
    if (engine.rsa) modulus = rsaModulusOf(await expectOk(direct, rsaGenerateApdu(KEY.rsa), 'generate RSA-2048'));
    if (engine.aes) await expectOk(direct, Uint8Array.of(0x00, 0x48, KEY.aes, 0xb2, 0x00), 'generate AES-256');
    const work = workloads(engine, modulus);

    const socket = {} as Record<OperationId, Measured>;
    const directResults = {} as Record<OperationId, Measured>;
    const floor = {} as Record<OperationId, Measured>;
    const breakdown: Partial<Record<OperationId, Breakdown>> = {};
    for (const operation of OPERATIONS) {
      const workload = work[operation];
      if (workload.unavailable) {
        socket[operation] = directResults[operation] = floor[operation] = na(workload.unavailable);
        continue;
      }
      const keygen = workload.keygen !== undefined;
      const command = workload.keygen?.apdu ?? workload.apdu!;
      const cleanup = async (send: (apdu: Uint8Array) => Promise<Uint8Array>): Promise<void> => {
        for (const apdu of workload.keygen?.cleanup ?? []) await send(apdu);
      };
      // Socket path (cleanup outside the timed window: the loop times only the command).
      const socketTimes: number[] = [];
      {
        const once = async (): Promise<void> => {
          const before = performance.now();
          await expectOk(viaSocket, command, `${operation} (socket)`);
          socketTimes.push((performance.now() - before) * 1000);
          await cleanup(viaSocket);
        };
        await timeLoop(once, keygen, budget);
        socket[operation] = { status: 'ok', ...summarize(socketTimes.slice(keygen ? 1 : 3)) };
      }
      // Direct path, with meters and traces for the breakdown.
      const samples: Sample[] = [];
      const directTimes: number[] = [];
      {
        const once = async (): Promise<void> => {
          const after = lastSequence(bench.device);
          bench.engineMeter.reset();
          bench.flashMeter.reset();
          bench.engineMeter.enabled = bench.flashMeter.enabled = true;
          const before = performance.now();
          const response = await direct(command);
          const totalUs = (performance.now() - before) * 1000;
          bench.engineMeter.enabled = bench.flashMeter.enabled = false;
          if (statusWord(response) !== 0x9000) throw new Error(`${operation}: status ${statusWord(response).toString(16)}`);
          directTimes.push(totalUs);
          const decomposed = decompose(bench.device, after);
          if (decomposed) samples.push({ totalUs, decomposed, engine: new Map(bench.engineMeter.byName), flash: new Map(bench.flashMeter.byName) });
          await cleanup(direct);
        };
        await timeLoop(once, keygen, budget);
        directResults[operation] = { status: 'ok', ...summarize(directTimes.slice(keygen ? 1 : 3)) };
        const parts = breakdownOf(operation, samples.slice(keygen ? 1 : 3));
        if (parts) breakdown[operation] = parts;
      }
      floor[operation] = { status: 'ok', ...summarize(await floorTimes(operation, engine, budget)) };
      log(`  ${operation}: socket p50 ${fmt(socket[operation])}, direct p50 ${fmt(directResults[operation])}, floor p50 ${fmt(floor[operation])} (load ${loadavg()[0]?.toFixed(2)})`);
    }
    const microResults = await micro(budget);
    return {
      engineRequested: options.engineRequested,
      engine: engine.name,
      flash: `host file image ${GEOMETRY.sectorCount} x ${GEOMETRY.sectorSize} B (fsync per write)`,
      socket,
      direct: directResults,
      floor,
      breakdown,
      micro: microResults,
      loadBefore,
      loadAfter: loadavg().map(round),
    };
  } finally {
    client.close();
    await bench.close();
    rmSync(directory, { recursive: true, force: true });
  }
}

function fmt(measured: Measured | undefined): string {
  return measured?.status === 'ok' ? `${measured.p50Us.toFixed(1)} us` : 'n/a';
}

/** The raw engine call alone, on keys made by the same engine. */
async function floorTimes(operation: OperationId, engine: CryptoEngine, budget: Budget): Promise<number[]> {
  const p256 = engine.ecGenerate('secp256r1', randomBytes(ecSeedLength('secp256r1')));
  const hash32 = randomBytes(32);
  switch (operation) {
    case 'ecdsa-p256-sign':
      return timeLoop(() => engine.ecSign('secp256r1', p256.privateKey, hash32), false, budget);
    case 'ecdsa-p384-sign': {
      const p384 = engine.ecGenerate('secp384r1', randomBytes(ecSeedLength('secp384r1')));
      const hash48 = randomBytes(48);
      return timeLoop(() => engine.ecSign('secp384r1', p384.privateKey, hash48), false, budget);
    }
    case 'ecdh-p256': {
      const peer = engine.ecGenerate('secp256r1', randomBytes(ecSeedLength('secp256r1')));
      return timeLoop(() => engine.ecdh('secp256r1', p256.privateKey, peer.publicKey), false, budget);
    }
    case 'rsa2048-sign':
    case 'rsa2048-decrypt': {
      const rsa = engine.rsa!;
      const pair = await rsa.generate(2048, 65537);
      const input = operation === 'rsa2048-sign' ? pkcs1Block(hash32) : concat(Uint8Array.of(0, 2), randomBytes(254));
      return timeLoop(() => rsa.rawPrivate(pair.privateKey, input), false, budget);
    }
    case 'aes256-gcm-1k': {
      const aes = engine.aes!;
      const key = randomBytes(32);
      const iv = randomBytes(12);
      const data = randomBytes(1024);
      const empty = new Uint8Array(0);
      return timeLoop(() => aes.gcmSeal(key, iv, data, empty), false, budget);
    }
    case 'keygen-ec-p256':
      return timeLoop(() => engine.ecGenerate('secp256r1', randomBytes(ecSeedLength('secp256r1'))), false, budget);
    case 'keygen-rsa2048':
      return timeLoop(() => engine.rsa!.generate(2048, 65537), true, budget);
  }
}
