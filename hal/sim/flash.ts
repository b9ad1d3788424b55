/**
 * A strict in-memory NOR flash for tests, with wear counters and power-cut injection (in the spirit of OpenSK's
 * strict test flash and littlefs' power-cycling block device).
 *
 *   const flash = new SimFlash({ sectorSize: 4096, pageSize: 256, sectorCount: 16 });
 *   flash.armPowerCut({ atOperation: 3, flipSeed: 42 });  // the 3rd program/erase from now is interrupted
 *   try { store.put(...) } catch (error) { ... FlashError 'powerCut' ... }
 *   flash.powerOn();                                      // the image keeps whatever the cut left
 *
 * Strictness: `program` must lie inside one page and is refused (FlashError 'zeroToOne', nothing written) when any
 * bit would have to go from 0 to 1; `erase` takes one whole sector back to 0xFF. Out-of-range or malformed
 * arguments are refused before they count as an operation.
 *
 * Power cut: the n-th program or erase after `armPowerCut` (both kinds counted, 1-based) applies only a subset of
 * the bit changes it would have made, chosen deterministically from `flipSeed` (the subset may be empty or all of
 * them), then throws FlashError('powerCut'). From then on every operation, reads included, throws 'powerCut' until
 * `powerOn()`. The four subset shapes: nothing, everything, each bit with a random probability, or the first k
 * changing bits in address order (a program or erase that stopped part-way).
 *
 * Counters (public, reset with `resetCounters`): erases per sector, bytes programmed, program and erase calls, and
 * `overwrittenBytes`: bytes programmed where the old value was not 0xFF. A log-structured writer that never
 * programs onto used bytes keeps it at 0, which the tests assert.
 *
 * A fault run is named by a replay id, `formatReplayId({ scenario, seed, operation, cutAt, flipSeed })`, e.g.
 * `small:7:1234:5:2891733`, that a failing test prints and that `parseReplayId` turns back into the run.
 */
import { FlashError, validateGeometry, type Flash, type FlashGeometry } from '../types.js';

export { validateGeometry };
import { SeededEntropy } from './entropy.js';

export interface PowerCutPlan {
  /** Which program/erase from now is interrupted (1 = the next one). */
  readonly atOperation: number;
  /** Chooses the subset of bit changes the interrupted operation still makes. */
  readonly flipSeed: number;
}

/** What the last power cut interrupted (for test diagnostics). */
export interface PowerCutRecord {
  readonly operation: 'program' | 'erase';
  readonly address: number;
  readonly length: number;
  readonly changedBits: number;
  readonly appliedBits: number;
}


export class SimFlash implements Flash {
  readonly geometry: FlashGeometry;
  private readonly image: Uint8Array;
  /** Erases started per sector (an interrupted erase wears the sector too). */
  readonly erasesBySector: Uint32Array;
  bytesProgrammed = 0;
  programCalls = 0;
  eraseCalls = 0;
  /** Bytes programmed whose previous value was not 0xFF (0 for a writer that only programs erased bytes). */
  overwrittenBytes = 0;
  private cutCountdown: number | undefined;
  private cutFlipSeed = 0;
  private poweredOff = false;
  private lastCutRecord: PowerCutRecord | undefined;

  /** An erased flash, or one holding a copy of `image` (e.g. a snapshot). */
  constructor(geometry: FlashGeometry, image?: Uint8Array) {
    validateGeometry(geometry);
    this.geometry = { sectorSize: geometry.sectorSize, pageSize: geometry.pageSize, sectorCount: geometry.sectorCount };
    const size = geometry.sectorSize * geometry.sectorCount;
    this.image = new Uint8Array(size).fill(0xff);
    if (image !== undefined) this.restore(image);
    this.erasesBySector = new Uint32Array(geometry.sectorCount);
  }

  static fromImage(geometry: FlashGeometry, image: Uint8Array): SimFlash {
    return new SimFlash(geometry, image);
  }

  get size(): number {
    return this.image.length;
  }

  read(address: number, length: number): Uint8Array {
    this.requirePower();
    this.requireRange(address, length);
    return this.image.slice(address, address + length);
  }

  program(address: number, data: Uint8Array): void {
    this.requirePower();
    this.requireRange(address, data.length);
    const { pageSize } = this.geometry;
    if (data.length > 0 && Math.floor(address / pageSize) !== Math.floor((address + data.length - 1) / pageSize)) {
      throw new FlashError('misaligned', `program of ${data.length} bytes at ${address} crosses a ${pageSize}-byte page boundary`);
    }
    for (let index = 0; index < data.length; index++) {
      const old = this.image[address + index];
      if ((old & data[index]) !== data[index]) {
        throw new FlashError('zeroToOne', `program at ${address + index} needs a 0 bit to become 1 (0x${hex(old)} -> 0x${hex(data[index])})`);
      }
    }
    this.programCalls += 1;
    this.bytesProgrammed += data.length;
    for (let index = 0; index < data.length; index++) if (this.image[address + index] !== 0xff) this.overwrittenBytes += 1;
    if (this.cutsNow()) {
      const target = new Uint8Array(data.length);
      for (let index = 0; index < data.length; index++) target[index] = this.image[address + index] & data[index];
      this.interrupt('program', address, target);
    }
    for (let index = 0; index < data.length; index++) this.image[address + index] &= data[index];
  }

  erase(sector: number): void {
    this.requirePower();
    if (!Number.isInteger(sector) || sector < 0 || sector >= this.geometry.sectorCount) {
      throw new FlashError('outOfRange', `no sector ${sector} (the region has ${this.geometry.sectorCount})`);
    }
    const { sectorSize } = this.geometry;
    this.eraseCalls += 1;
    this.erasesBySector[sector] += 1;
    if (this.cutsNow()) this.interrupt('erase', sector * sectorSize, new Uint8Array(sectorSize).fill(0xff));
    this.image.fill(0xff, sector * sectorSize, (sector + 1) * sectorSize);
  }

  sync(): void {
    this.requirePower();
  }

  /** Interrupts the `atOperation`-th program or erase from now (replacing any earlier plan). */
  armPowerCut(plan: PowerCutPlan): void {
    if (!Number.isInteger(plan.atOperation) || plan.atOperation < 1) throw new RangeError(`atOperation must be 1 or more, got ${plan.atOperation}`);
    this.cutCountdown = plan.atOperation;
    this.cutFlipSeed = plan.flipSeed >>> 0;
  }

  /** Cancels a pending cut; returns how many operations were still to go before it (undefined if none armed). */
  disarmPowerCut(): number | undefined {
    const remaining = this.cutCountdown;
    this.cutCountdown = undefined;
    return remaining;
  }

  /** True while a cut is armed and has not happened yet. */
  get powerCutPending(): boolean {
    return this.cutCountdown !== undefined;
  }

  get isPoweredOff(): boolean {
    return this.poweredOff;
  }

  get lastPowerCut(): PowerCutRecord | undefined {
    return this.lastCutRecord;
  }

  /** Ends the power-off state that a cut left (the image is kept as the cut left it). */
  powerOn(): void {
    this.poweredOff = false;
  }

  /** A copy of the whole image. */
  snapshot(): Uint8Array {
    return this.image.slice();
  }

  /** Replaces the whole image with a copy of `image` (same size); counters and power state are kept. */
  restore(image: Uint8Array): void {
    if (image.length !== this.image.length) throw new RangeError(`image of ${image.length} bytes, expected ${this.image.length}`);
    this.image.set(image);
  }

  resetCounters(): void {
    this.erasesBySector.fill(0);
    this.bytesProgrammed = 0;
    this.programCalls = 0;
    this.eraseCalls = 0;
    this.overwrittenBytes = 0;
  }

  private cutsNow(): boolean {
    if (this.cutCountdown === undefined) return false;
    this.cutCountdown -= 1;
    if (this.cutCountdown > 0) return false;
    this.cutCountdown = undefined;
    return true;
  }

  /** Applies a seeded subset of the changes from the current bytes at `address` to `target`, then cuts power. */
  private interrupt(operation: 'program' | 'erase', address: number, target: Uint8Array): never {
    const current = this.image.subarray(address, address + target.length);
    const applied = applyBitSubset(current, target, this.cutFlipSeed);
    this.lastCutRecord = { operation, address, length: target.length, changedBits: applied.changedBits, appliedBits: applied.appliedBits };
    this.poweredOff = true;
    throw new FlashError('powerCut', `power cut during ${operation} at ${address} (${applied.appliedBits} of ${applied.changedBits} bit changes made)`);
  }

  private requirePower(): void {
    if (this.poweredOff) throw new FlashError('powerCut', 'the flash is without power (call powerOn)');
  }

  private requireRange(address: number, length: number): void {
    if (!Number.isInteger(address) || !Number.isInteger(length) || address < 0 || length < 0 || address + length > this.image.length) {
      throw new FlashError('outOfRange', `range ${address}+${length} outside the ${this.image.length}-byte region`);
    }
  }
}

/** The shapes of subsets an interrupted operation may leave. */
export type FlipShape = 'none' | 'all' | 'random' | 'prefix';

/**
 * Moves `current` towards `target` (in place), changing only a seeded subset of the differing bits.
 * Deterministic: the same bytes and seed always give the same result.
 */
export function applyBitSubset(current: Uint8Array, target: Uint8Array, flipSeed: number): { shape: FlipShape; changedBits: number; appliedBits: number } {
  const random = new SeededEntropy(flipSeed);
  const shapes: readonly FlipShape[] = ['none', 'all', 'random', 'prefix'];
  const shape = shapes[random.nextUint32() % shapes.length];
  let changedBits = 0;
  for (let index = 0; index < current.length; index++) changedBits += popcount(current[index] ^ target[index]);
  const density = random.nextUint32() / 0x1_0000_0000;
  const prefixBits = changedBits === 0 ? 0 : random.nextUint32() % (changedBits + 1);
  let seenBits = 0;
  let appliedBits = 0;
  for (let index = 0; index < current.length; index++) {
    const differing = current[index] ^ target[index];
    if (differing === 0) continue;
    let mask = 0;
    for (let bit = 0; bit < 8; bit++) {
      const bitMask = 1 << bit;
      if ((differing & bitMask) === 0) continue;
      let take: boolean;
      switch (shape) {
        case 'none':
          take = false;
          break;
        case 'all':
          take = true;
          break;
        case 'random':
          take = random.nextUint32() / 0x1_0000_0000 < density;
          break;
        case 'prefix':
          take = seenBits < prefixBits;
          break;
        default:
          return assertNeverShape(shape);
      }
      seenBits += 1;
      if (take) {
        mask |= bitMask;
        appliedBits += 1;
      }
    }
    current[index] = (current[index] & ~mask) | (target[index] & mask);
  }
  return { shape, changedBits, appliedBits };
}

function assertNeverShape(shape: never): never {
  throw new Error(`unknown flip shape ${String(shape)}`);
}

function popcount(value: number): number {
  let count = 0;
  for (let bits = value; bits !== 0; bits &= bits - 1) count += 1;
  return count;
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, '0');
}

// ---------------------------------------------------------------------------------------------------------
// Replay ids: `scenario:seed:operation:cutAt:flipSeed`.

export interface FaultReplay {
  /** Which workload and geometry (a name the test defines, without ':'). */
  readonly scenario: string;
  readonly seed: number;
  /** Index of the interrupted operation in the workload. */
  readonly operation: number;
  /** Which flash operation of it was cut (1-based). */
  readonly cutAt: number;
  readonly flipSeed: number;
}

export function formatReplayId(replay: FaultReplay): string {
  if (replay.scenario.includes(':')) throw new RangeError('a scenario name cannot contain ":"');
  return `${replay.scenario}:${replay.seed}:${replay.operation}:${replay.cutAt}:${replay.flipSeed >>> 0}`;
}

export function parseReplayId(text: string): FaultReplay {
  const parts = text.trim().split(':');
  if (parts.length !== 5) throw new RangeError(`replay id "${text}" is not scenario:seed:operation:cutAt:flipSeed`);
  const [scenario, ...numbers] = parts;
  const values = numbers.map((part) => {
    if (!/^\d+$/.test(part)) throw new RangeError(`replay id "${text}": "${part}" is not an unsigned integer`);
    return Number(part);
  });
  return { scenario, seed: values[0], operation: values[1], cutAt: values[2], flipSeed: values[3] };
}

/** A 32-bit seed mixed from several integers (for per-cut flip seeds that depend on seed, operation and cut). */
export function mixSeed(...parts: readonly number[]): number {
  let hash = 0x811c9dc5;
  for (const part of parts) {
    hash = Math.imul(hash ^ (part >>> 0), 0x01000193) >>> 0;
    hash ^= hash >>> 15;
    hash = Math.imul(hash, 0x2c1b3c6d) >>> 0;
    hash ^= hash >>> 12;
  }
  return hash >>> 0;
}
