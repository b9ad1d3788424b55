/**
 * A whole simulated device for the fuzzer, deterministic for one seed, with the harness's eyes in it:
 * - every boot gets a fresh HAL generation (entropy seeded from seed and boot number, its own manual clock) over
 *   the same SimFlash; a power loss abandons the running actors and fences their flash access, as a real power
 *   cut stops the old CPU;
 * - the crypto engine and the entropy source are wrapped so the harness knows every private key (EC keys from
 *   ecGenerate, AES keys and the master key from the random bytes drawn while GENERATE SYMMETRIC KEY or
 *   INITIALIZE runs);
 * - every message between actors is observed as bytes (the scheduler's mailbox and answer queue), so messages
 *   that involve neither the crypto actor nor key loading can be scanned for key bytes;
 * - `transmit` never hangs the harness: if the device does not answer, the clock is moved past the call timeouts
 *   and, failing that, the step is reported as a hang.
 */
import { assembleDevice, type Device } from '../../boards/device.js';
import { SIM_OPERATION_FAMILIES } from '../../boards/sim.js';
import { portableEngine } from '../../hal/crypto/portable.js';
import type { CryptoEngine } from '../../hal/crypto/types.js';
import { SeededEntropy } from '../../hal/sim/entropy.js';
import { mixSeed, SimFlash } from '../../hal/sim/flash.js';
import { ManualTime } from '../../hal/sim/time.js';
import { FlashError, type Entropy, type Flash, type FlashGeometry, type Hal } from '../../hal/types.js';
import { decodeEnvelope, redactBody } from '../../messages/protocol.js';
import { transportProtocol } from '../../messages/transport.js';
import { check, Finding, KnownSecrets, tick, toHex } from './common.js';

export const ACTOR_NAMES = ['storage', 'pin', 'crypto', 'keystore', 'lifecycle', 'applet', 'transport'] as const;
export const EXTERNAL_NAMES = ['link', 'board', 'scheduler'] as const;
export const FUZZ_GEOMETRY: FlashGeometry = { sectorSize: 4096, pageSize: 256, sectorCount: 64 };

/**
 * xoshiro128** seeded from (seed, boot): the harness's entropy. Not the sim HAL's mulberry32, whose streams for
 * different seeds are shifts of one 2^32 cycle: a long GET CHALLENGE of one boot could replay the key bytes of
 * another boot, a false leak.
 */
class FuzzEntropy implements Entropy {
  private readonly state: Uint32Array;
  constructor(...seeds: number[]) {
    this.state = Uint32Array.from([0, 1, 2, 3], (lane) => mixSeed(...seeds, lane) || 1);
  }
  private next(): number {
    const s = this.state;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0;
    const t = (s[1]! << 9) >>> 0;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  }
  randomBytes(length: number): Uint8Array {
    const bytes = new Uint8Array(length);
    for (let index = 0; index < length; index += 4) {
      const word = this.next();
      for (let lane = 0; lane < 4 && index + lane < length; lane++) bytes[index + lane] = (word >>> (8 * lane)) & 0xff;
    }
    return bytes;
  }
}

function rotl(value: number, bits: number): number {
  return ((value << bits) | (value >>> (32 - bits))) >>> 0;
}

/** The device whose keys the shared engine reports (inputs run one at a time). */
let activeDevice: FuzzDevice | undefined;

/**
 * One wrapped engine for every fuzzed device: boards/device.ts runs the power-on self-tests once per engine
 * object, and a fresh wrapper per input would pay them (about a second) on every input.
 */
const SHARED_ENGINE: CryptoEngine = {
  ...portableEngine,
  ecGenerate: (curve, randomness) => {
    const pair = portableEngine.ecGenerate(curve, randomness);
    activeDevice?.keyGenerated(curve, pair.privateKey, pair.publicKey);
    return pair;
  },
};

/** True when a function named `name` of the product code is on the stack (handlers are named by their key). */
function callerIs(name: string): boolean {
  const stack = new Error().stack ?? '';
  return stack.split('\n').some((line) => line.includes(`at ${name} (`) || line.includes(`.${name} (`));
}

/** Fences a generation's flash access: once a newer boot starts, the old actors see a dead flash. */
class GatedFlash implements Flash {
  constructor(
    private readonly inner: SimFlash,
    private readonly alive: () => boolean,
  ) {}
  get geometry(): FlashGeometry {
    return this.inner.geometry;
  }
  private gate(): void {
    if (!this.alive()) throw new FlashError('powerCut', 'this device generation lost power');
  }
  read(address: number, length: number): Uint8Array {
    this.gate();
    return this.inner.read(address, length);
  }
  program(address: number, data: Uint8Array): void {
    this.gate();
    this.inner.program(address, data);
  }
  erase(sector: number): void {
    this.gate();
    this.inner.erase(sector);
  }
  sync(): void {
    this.gate();
    this.inner.sync();
  }
}

/** What the harness is doing right now, so the wrappers can label the keys they see. */
export type Phase = 'boot' | 'generateKeyPair' | 'generateSecretKey' | 'initialize' | 'other';

export interface ObservedMessage {
  readonly from: string;
  readonly to: string;
  readonly op: string;
  readonly kind: string;
  readonly hex: string;
}

export interface FuzzDeviceOptions {
  readonly seed: number;
  readonly flash?: SimFlash;
  readonly traceBodies?: boolean;
  /** Scheduler delivery order: seeded pick among ready deliveries (default) or first-in first-out. */
  readonly fifo?: boolean;
  /** The handlers target's template device (its entropy never coincides with a fuzzed device's). */
  readonly template?: boolean;
}

export class FuzzDevice {
  readonly flash: SimFlash;
  readonly secrets = new KnownSecrets();
  /** Public halves of the keys generated by GENERATE ASYMMETRIC KEY PAIR (hex), for the re-initialisation check. */
  readonly userPublicKeys = new Set<string>();
  phase: Phase = 'other';
  observed: ObservedMessage[] = [];
  boots = 0;
  device!: Device;
  time!: ManualTime;
  readonly logs: string[] = [];
  private generation = 0;
  private readonly secret: Uint8Array;
  private readonly engine: CryptoEngine;

  constructor(private readonly options: FuzzDeviceOptions) {
    this.flash = options.flash ?? new SimFlash(FUZZ_GEOMETRY);
    this.secret = new SeededEntropy(0x5eed5eed).randomBytes(32);
    this.engine = SHARED_ENGINE;
  }

  /** Told by the shared engine wrapper about every EC key generated while this device is the active one. */
  keyGenerated(curve: string, privateKey: Uint8Array, publicKey: Uint8Array): void {
    // Labelled by who is asking (the stack), not by the harness's phase: a timed-out command may still run.
    const role = callerIs('createDeviceIdentity') ? 'device' : callerIs('generateKeyPair') ? 'generated' : 'other (self-test)';
    // Self-test keys come from fixed, published seeds (hal/crypto/self-test.ts): not secrets.
    if (role === 'other (self-test)') return;
    this.secrets.add(privateKey, `${role} ${curve} private key`);
    if (role === 'generated') this.userPublicKeys.add(toHex(publicKey));
  }

  get scheduler(): Device['scheduler'] {
    return this.device.scheduler;
  }

  /** Starts a new device generation on the flash (after a power loss or a clean stop). */
  async boot(): Promise<void> {
    activeDevice = this;
    this.generation += 1;
    this.boots += 1;
    const generation = this.generation;
    if (this.flash.isPoweredOff) this.flash.powerOn();
    this.time = new ManualTime();
    const base = new FuzzEntropy(this.options.seed, this.boots, this.options.template ? 0x7e4d : 0x5eed);
    const entropy: Entropy = {
      randomBytes: (length) => {
        const bytes = base.randomBytes(length);
        if ([16, 24, 32].includes(length) && callerIs('generateSecretKey')) this.secrets.add(bytes, `AES key of ${length} bytes`);
        else if (length === 32 && callerIs('provision')) this.secrets.add(bytes, 'master key');
        return bytes;
      },
    };
    const hal: Hal = {
      flash: new GatedFlash(this.flash, () => this.generation === generation),
      entropy,
      clock: this.time.clock,
      timers: this.time.timers,
      deviceSecret: { get: () => this.secret },
      watchdog: { feed: () => undefined },
      led: { show: () => undefined },
      button: { isPressed: () => true },
    };
    const previousPhase = this.phase;
    this.phase = 'boot';
    try {
      this.device = await assembleDevice({
        hal,
        engine: this.engine,
        families: SIM_OPERATION_FAMILIES,
        pinIterations: 4,
        seed: this.options.fifo ? undefined : mixSeed(this.options.seed, 0x5c4ed, this.boots),
        log: (line) => {
          if (this.logs.length < 2000) this.logs.push(line);
        },
        traceBody: (this.options.traceBodies ?? true) ? redactBody : undefined,
      });
    } finally {
      this.phase = previousPhase;
    }
    this.observe();
  }

  /** Power loss: the running actors are abandoned (their flash is fenced), the flash powers on, a new boot. */
  async powerLoss(): Promise<void> {
    await this.boot();
  }

  /** A clean power cycle: the device stops (flash synced) and boots again. */
  async restart(): Promise<void> {
    await this.settle(this.device.stop(), 'stop');
    await this.boot();
  }

  /** Every message crossing a mailbox or coming back as an answer, as bytes. */
  private observe(): void {
    const internals = this.device.scheduler as unknown as {
      pushMailbox(slot: unknown, bytes: Uint8Array): void;
      queueAnswer(id: number, bytes: Uint8Array): void;
    };
    const push = internals.pushMailbox.bind(internals);
    const answer = internals.queueAnswer.bind(internals);
    const record = (bytes: Uint8Array): void => {
      try {
        const envelope = decodeEnvelope(bytes);
        if (this.observed.length < 5000) this.observed.push({ from: envelope.from, to: envelope.to, op: envelope.op, kind: envelope.kind, hex: toHex(bytes) });
      } catch {
        // Undecodable bytes in a mailbox are the scheduler's to drop (deliverRaw never enqueues them).
      }
    };
    internals.pushMailbox = (slot, bytes) => {
      record(bytes);
      push(slot, bytes);
    };
    internals.queueAnswer = (id, bytes) => {
      record(bytes);
      answer(id, bytes);
    };
  }

  /** Mailboxes within their bounds (oracle). */
  checkMailboxes(): void {
    for (const name of ACTOR_NAMES) {
      const status = this.device.scheduler.status(name);
      check(status !== undefined && status.mailbox <= status.capacity, 'mailbox-bound', () => `${name} holds ${status?.mailbox} messages, capacity ${status?.capacity}`);
    }
  }

  /** No actor restarted since boot (oracle: nothing a peer sends may crash an actor). */
  checkNoRestarts(): void {
    for (const name of ACTOR_NAMES) {
      const status = this.device.scheduler.status(name);
      check(status !== undefined && status.restarts === 0 && status.state === 'running', 'actor-restarted', () => {
        const trace = this.device.scheduler.trace(name).filter((entry) => entry.event === 'restarted');
        return `${name} is ${status?.state} after ${status?.restarts} restart(s): ${trace.map((entry) => entry.detail).join(' | ')}`;
      });
    }
  }

  /** Waits for `promise`, ticking the scheduler; moves the clock past call timeouts if it stalls; else a hang. */
  async settle<T>(promise: Promise<T>, what: string): Promise<T> {
    let done = false;
    let value: T | undefined;
    let failure: { error: unknown } | undefined;
    promise.then(
      (result) => {
        done = true;
        value = result;
      },
      (error: unknown) => {
        done = true;
        failure = { error };
      },
    );
    for (let round = 0; round < 4 && !done; round++) {
      for (let index = 0; index < 4000 && !done; index++) {
        await tick();
        if ((index & 15) === 0) this.checkMailboxes();
      }
      if (!done) this.time.advance(31_000);
    }
    if (!done) throw new Finding('hang', `${what} did not complete, even after the clock passed every call timeout`);
    if (failure) throw failure.error;
    return value as T;
  }

  /** One command APDU from the link, as the vpcd and socket links send it. */
  async transmit(bytes: Uint8Array): Promise<Uint8Array> {
    const answered = await this.transmitAllowingTimeout(bytes);
    check(answered !== undefined, 'transport-failed', () => 'the transport did not answer within the link timeout');
    return answered;
  }

  /** As `transmit`, but a link-level timeout (the clock was moved past it on purpose) answers undefined. */
  async transmitAllowingTimeout(bytes: Uint8Array): Promise<Uint8Array | undefined> {
    const answered = await this.settle(this.device.scheduler.call('link', transportProtocol, 'apdu', { bytes }), 'APDU');
    if (!answered.ok && answered.error.code === 'timeout') return undefined;
    check(answered.ok, 'transport-failed', () => `the transport answered ${answered.ok ? '' : answered.error.code}: ${'error' in answered ? JSON.stringify(answered.error) : ''}`);
    return answered.value.bytes;
  }

  async power(event: 'on' | 'off' | 'reset'): Promise<void> {
    const answered = await this.settle(this.device.scheduler.call('link', transportProtocol, 'power', { event }), `power ${event}`);
    check(answered.ok, 'transport-failed', () => `power ${event}: ${answered.ok ? '' : answered.error.code}`);
  }

  /** Traces of every actor and external caller, as text (bodies redacted by the scheduler). */
  tracesText(): string {
    return [...ACTOR_NAMES, ...EXTERNAL_NAMES].map((name) => JSON.stringify(this.device.scheduler.trace(name))).join('\n');
  }

  /** Oracle: no known secret in traces or logs; no private key in a message that involves neither crypto nor key loading. */
  checkNoLeaks(where: string): void {
    const inTraces = this.secrets.findInText(this.tracesText());
    check(inTraces === undefined, 'key-leak-trace', () => `${where}: ${inTraces} in an actor trace`);
    const inLogs = this.secrets.findInText(this.logs.join('\n'));
    check(inLogs === undefined, 'key-leak-log', () => `${where}: ${inLogs} in a log line`);
    for (const message of this.observed) {
      if (message.from === 'crypto' || message.to === 'crypto') continue;
      // The master key travels from the PIN actor to the key store by design (pin.masterKey).
      const found = this.secrets.findIn(message.hex);
      if (found !== undefined && !(message.op === 'masterKey' && found === 'master key')) {
        throw new Finding('key-leak-message', `${where}: ${found} in ${message.kind} ${message.from} -> ${message.to} ${message.op}`);
      }
    }
    this.observed = [];
  }

  checkFlash(where: string): void {
    const found = this.secrets.findIn(toHex(this.flash.snapshot()));
    check(found === undefined, 'key-leak-flash', () => `${where}: ${found} in the flash image`);
  }
}
