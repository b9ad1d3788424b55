/**
 * The whole device on the simulated HAL, for the composition explorer and the model-based tests.
 *
 * Like boards/sim.ts, but the scheduler runs in its deterministic (seeded) mode and every message body is traced,
 * so a run can be replayed exactly and its delivery order read back. A system exposes what the checker observes
 * (lifecycle stage, PIN states and counters, storage state, stored files and records, the raw flash) through the
 * `board` capability, which reads without changing anything.
 *
 *   const system = await SimSystem.boot(image, { seed: 7 });
 *   const { statusWord } = await system.transmit('00200081 06 363438323139');
 *   const seen = await system.observe();
 */
import { assembleDevice, type Device } from '../../boards/device.js';
import { fromHex, SIM_GEOMETRY, SIM_OPERATION_FAMILIES } from '../../boards/sim.js';
import { Scheduler, type RegisteredActor, type TraceEntry } from '../../actors/scheduler.js';
import { portableEngine } from '../../hal/crypto/portable.js';
import type { CryptoEngine } from '../../hal/crypto/types.js';
import { SimFlash } from '../../hal/sim/flash.js';
import { createSimHal, type SimHal } from '../../hal/sim/hal.js';
import { lifecycleProtocol } from '../../messages/lifecycle.js';
import { pinProtocol } from '../../messages/pin.js';
import { cbor, redactBody, type CallResult, type OperationName, type Protocol, type RequestOf } from '../../messages/protocol.js';
import { deviceConfigRecord, INTERNAL_FILES, pinRecord } from '../../messages/records.js';
import { toHex, validate } from '../../messages/schema.js';
import { storageProtocol } from '../../messages/storage.js';
import { transportProtocol } from '../../messages/transport.js';

export const ACTOR_NAMES = ['storage', 'pin', 'crypto', 'keystore', 'lifecycle', 'applet', 'transport'] as const;

/** What the checker sees of one PIN. */
export interface PinView {
  readonly state: 'unset' | 'ready' | 'blocked' | 'unavailable';
  readonly retries: number;
  readonly limit: number;
}

/** The card sessions the checker drives (vpcd's reader is session 0; session 1 is a second link client). */
export const SESSIONS = [0, 1] as const;

export interface StoredCounter {
  readonly retries: number;
  readonly limit: number;
}

/** Everything the checker observes of a device between two commands. */
export interface Observation {
  readonly stage: string;
  readonly storage: string;
  readonly user: PinView;
  readonly so: PinView;
  /** pin.status `verified` of the user PIN, per card session (SESSIONS). */
  readonly verified: readonly boolean[];
  /** Files other than the internal records (0x10xx) and the device certificate: data objects, keys, token info. */
  readonly userFiles: readonly number[];
  /** Stage in the stored configuration record, or 'none'. */
  readonly configStage: string;
  /** Counters in the stored PIN records (undefined: no record). */
  readonly stored: { readonly user: StoredCounter | undefined; readonly so: StoredCounter | undefined };
  /** Salt of the stored user PIN record (changes exactly when the record is re-sealed under a new PIN). */
  readonly userPinSalt: string | undefined;
  /** Salt of the stored SO-PIN record. */
  readonly soPinSalt: string | undefined;
}

export interface SystemOptions {
  /** Scheduler seed (deterministic delivery order). */
  readonly seed?: number;
  /**
   * Bytes of the HAL's entropy stream to skip before booting, so that a device restored from an image draws other
   * salts and keys than the run that wrote it. (The HAL's seed must stay 1: the device secret derives from it.)
   */
  readonly entropySkip?: number;
  readonly engine?: CryptoEngine;
  /** Wraps actors of the device boards/device.ts assembles (mutants), by protocol name. */
  readonly wrap?: (name: string, actor: RegisteredActor) => RegisteredActor;
}

export interface Answer {
  readonly statusWord: number;
  readonly data: string;
}

/** A small seeded generator (xorshift32 over a mixed seed), to reseed the scheduler's pick before a step. */
export function seededPicker(seed: number): () => number {
  let state = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) >>> 0) || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 4294967296;
  };
}

export class SimSystem {
  readonly logs: string[] = [];
  device!: Device;
  /** Number of reboots since `boot` (power cycles, cuts). */
  reboots = 0;

  private constructor(
    readonly flash: SimFlash,
    readonly hal: SimHal,
    private readonly options: SystemOptions,
  ) {}

  /** Boots a device on a copy of `image` (or on erased flash: a first boot creates the device identity). */
  static async boot(image: Uint8Array | undefined, options: SystemOptions = {}): Promise<SimSystem> {
    const flash = new SimFlash(SIM_GEOMETRY, image);
    const hal = createSimHal(flash, 1);
    if (options.entropySkip) hal.entropy.randomBytes(options.entropySkip);
    const system = new SimSystem(flash, hal, options);
    await system.assemble();
    return system;
  }

  get scheduler(): Scheduler {
    return this.device.scheduler;
  }

  private async assemble(): Promise<void> {
    const engine = this.options.engine ?? portableEngine;
    const log = (line: string): void => void this.logs.push(line);
    const seed = this.options.seed ?? 1;
    const wrap = this.options.wrap;
    if (!wrap) {
      this.device = await assembleDevice({ hal: this.hal, engine, families: SIM_OPERATION_FAMILIES, pinIterations: 16, seed, log, traceBody: redactBody });
      return;
    }
    // Mutants: wrap the very actors boards/device.ts builds. `assembleDevice` hands them to `Scheduler.start`
    // before its first await, so the patched `start` is in place only during that synchronous call.
    const original = Scheduler.prototype.start;
    let wrapped = 0;
    Scheduler.prototype.start = function (this: Scheduler, actors: readonly RegisteredActor[]) {
      wrapped++;
      return original.call(this, actors.map((actor) => wrap(actor.protocol.name, actor)));
    };
    let assembling: Promise<Device>;
    try {
      assembling = assembleDevice({ hal: this.hal, engine, families: SIM_OPERATION_FAMILIES, pinIterations: 16, seed, log, traceBody: redactBody });
    } finally {
      Scheduler.prototype.start = original;
    }
    if (wrapped !== 1) throw new Error('assembleDevice no longer starts its scheduler synchronously: the mutant was not planted');
    this.device = await assembling;
  }

  /**
   * Sets the seed of the scheduler's next picks. The scheduler takes its seed only at construction and has no
   * public way to reseed; a step of the composition needs its own seed without a reboot, so this replaces the
   * scheduler's private generator, and fails loudly if the scheduler no longer has one.
   */
  reseed(seed: number): void {
    const scheduler = this.scheduler as unknown as { random?: unknown };
    if (typeof scheduler.random !== 'function') throw new Error('the scheduler has no seeded generator to reseed (was it built without a seed, or renamed?)');
    scheduler.random = seededPicker(seed);
  }

  /** One command APDU through the transport, as a link client (card session) sends it. */
  async transmit(apdu: string, session = 0): Promise<Answer> {
    const answered = await this.scheduler.call('link', transportProtocol, 'apdu', { bytes: fromHex(apdu), session });
    if (!answered.ok) return { statusWord: -1, data: answered.error.code };
    const raw = answered.value.bytes;
    const statusWord = ((raw[raw.length - 2] ?? 0) << 8) | (raw[raw.length - 1] ?? 0);
    return { statusWord, data: toHex(raw.subarray(0, raw.length - 2)) };
  }

  /** A request from the board's own supervision code (capability `board`). */
  board<P extends Protocol, K extends OperationName<P>>(protocol: P, operation: K, request: RequestOf<P, K>): Promise<CallResult<P, K>> {
    return this.scheduler.call('board', protocol, operation, request);
  }

  /** A power cycle: the flash keeps its image (power returns if a cut left it off), every actor starts afresh. */
  async reboot(): Promise<void> {
    if (this.flash.isPoweredOff) this.flash.powerOn();
    this.flash.disarmPowerCut();
    await this.device.stop();
    this.reboots++;
    await this.assemble();
  }

  /** Flash programs and erases so far (the unit of power-cut points). */
  get flashOperations(): number {
    return this.flash.programCalls + this.flash.eraseCalls;
  }

  /** The highest trace sequence number so far (steps read the entries after it). */
  lastSequence(): number {
    let last = -1;
    for (const name of [...ACTOR_NAMES, 'board', 'link']) for (const entry of this.scheduler.trace(name)) last = Math.max(last, entry.sequence);
    return last;
  }

  /** Every actor's and external caller's trace entries after `sequence`, in order. */
  traceAfter(sequence: number): (TraceEntry & { readonly owner: string })[] {
    const entries: (TraceEntry & { owner: string })[] = [];
    for (const name of [...ACTOR_NAMES, 'board', 'link']) {
      for (const entry of this.scheduler.trace(name)) if (entry.sequence > sequence) entries.push({ ...entry, owner: name });
    }
    return entries.sort((a, b) => a.sequence - b.sequence);
  }

  /** Reads the observation through the board capability (nothing here writes). */
  observe(): Promise<Observation> {
    return observeDevice(this.scheduler);
  }

  /** Whether the raw flash image holds these bytes anywhere (a wipe must leave no copy). */
  flashContains(bytes: Uint8Array): boolean {
    return Buffer.from(this.flash.snapshot()).indexOf(Buffer.from(bytes)) >= 0;
  }
}

/** What the checker observes of a running device, read through the `board` capability (nothing here writes). */
export async function observeDevice(scheduler: Scheduler): Promise<Observation> {
  const board = <P extends Protocol, K extends OperationName<P>>(protocol: P, operation: K, request: RequestOf<P, K>): Promise<CallResult<P, K>> => scheduler.call('board', protocol, operation, request);
  const info = await board(lifecycleProtocol, 'info', {});
  const storage = await board(storageProtocol, 'info', {});
  const pin = async (reference: 'user' | 'so'): Promise<PinView> => {
    const status = await board(pinProtocol, 'status', { reference });
    if (!status.ok) return { state: 'unavailable', retries: 0, limit: 0 };
    return { state: status.value.state, retries: status.value.retriesLeft, limit: status.value.limit };
  };
  const user = await pin('user');
  const so = await pin('so');
  const verified: boolean[] = [];
  for (const session of SESSIONS) {
    const status = await board(pinProtocol, 'status', { reference: 'user', session });
    verified.push(status.ok && status.value.verified);
  }
  const listed = await board(storageProtocol, 'list', {});
  const userFiles = listed.ok ? listed.value.fileIds.filter((fileId) => fileId >> 8 !== 0x10 && fileId !== 0x2f02) : [-1];
  const record = async (fileId: number): Promise<{ salt: string; retries: number; limit: number } | undefined> => {
    const read = await board(storageProtocol, 'read', { fileId });
    if (!read.ok) return undefined;
    try {
      const decoded = validate(pinRecord, cbor.decode(read.value.data));
      return { salt: toHex(decoded.salt), retries: decoded.retries, limit: decoded.limit };
    } catch {
      return { salt: 'corrupt', retries: -1, limit: -1 };
    }
  };
  const userRecord = await record(INTERNAL_FILES.userPin);
  const soRecord = await record(INTERNAL_FILES.soPin);
  const config = await board(storageProtocol, 'read', { fileId: INTERNAL_FILES.deviceConfig });
  let configStage = 'none';
  if (config.ok) {
    try {
      configStage = validate(deviceConfigRecord, cbor.decode(config.value.data)).stage;
    } catch {
      configStage = 'corrupt';
    }
  }
  return {
    stage: info.ok ? info.value.stage : `unavailable:${info.error.code}`,
    storage: storage.ok ? storage.value.state : `unavailable:${storage.error.code}`,
    user,
    so,
    verified,
    userFiles,
    configStage,
    stored: {
      user: userRecord && { retries: userRecord.retries, limit: userRecord.limit },
      so: soRecord && { retries: soRecord.retries, limit: soRecord.limit },
    },
    userPinSalt: userRecord?.salt,
    soPinSalt: soRecord?.salt,
  };
}

/** The image of a device after its first boot (device identity created), shared by every run. */
let firstBootImage: Uint8Array | undefined;
export async function installedImage(): Promise<Uint8Array> {
  if (!firstBootImage) {
    const system = await SimSystem.boot(undefined);
    await system.device.stop();
    firstBootImage = system.flash.snapshot();
  }
  return firstBootImage;
}
