/**
 * Power-loss suite for the log store (OpenSK's store model and littlefs' re-entrant power-cycling tests).
 *
 * A seeded workload (put, patch, delete, wipe; sizes 0-4 KiB, records crossing pages and sectors) runs against a
 * reference model (Map fileId -> bytes). For every operation the flash image before it is kept; the operation is
 * run once uninterrupted (which gives the number n of programs/erases it makes and the model after it), then again
 * from the same image with a power cut at flash operation k for k = 1..n (every k on the small geometry, a seeded
 * sample on the large ones), each cut leaving a seeded subset of its bit changes. After each cut the store is
 * mounted and recovered (sometimes with a second cut during the recovery) and must hold exactly the model before
 * the operation or the model after it; then one follow-up write must succeed. Now and then the main chain goes on
 * from a cut image instead of the clean one, so garbage of earlier cuts stays in flash (re-entrancy).
 *
 * Every cut prints as a replay id `scenario:seed:operation:cutAt:flipSeed` when it fails; run
 *   STORAGE_REPLAY=<id> npx vitest run test/storage-power-loss.test.ts
 * to replay just that cut with a narrative. STORAGE_POWER_LOSS_FULL=1 makes every scenario exhaustive and longer.
 */
import { describe, expect, it } from 'vitest';
import { LogStore } from '../actors/storage/log-store.js';
import { MeasuredLogStore, type StoreStatistics } from '../actors/storage/log-store-diagnostics.js';
import { SeededEntropy } from '../hal/sim/entropy.js';
import { SimFlash, formatReplayId, mixSeed, parseReplayId, type FaultReplay } from '../hal/sim/flash.js';
import { FlashError, type FlashGeometry } from '../hal/types.js';
import { assertNever } from '../messages/schema.js';
import { MAX_FILE_BYTES } from '../messages/storage.js';

type Operation =
  | { kind: 'put'; fileId: number; data: Uint8Array }
  | { kind: 'patch'; fileId: number; offset: number; data: Uint8Array }
  | { kind: 'delete'; fileId: number }
  | { kind: 'wipe'; keep: number[] };

type Model = ReadonlyMap<number, Uint8Array>;
type Outcome = 'ok' | 'notFound' | 'badRange' | 'full' | 'tooLarge' | 'unavailable';

interface Scenario {
  readonly name: string;
  readonly geometry: FlashGeometry;
  readonly seed: number;
  readonly operations: number;
  /** Undefined: every cut point; otherwise this many seeded cut points per operation. */
  readonly cutsPerOperation: number | undefined;
  /** Puts run (without cuts) before the measured workload, to start from a well-filled region. */
  readonly prefillFiles: number;
  readonly fileIds: readonly number[];
  /** Per mille of operations that delete (the rest: 1.2% wipes, 21% patches, puts). */
  readonly deletesPerMille: number;
  /** Chance that the main chain goes on from a cut image. */
  readonly chainFromCutChance: number;
  /** Chance that a second cut interrupts the recovery after a cut. */
  readonly nestedCutChance: number;
}

const FULL = process.env.STORAGE_POWER_LOSS_FULL === '1';
const FOLLOW_UP_FILE = 0xfff0;
const PICO: FlashGeometry = { sectorSize: 4096, pageSize: 256, sectorCount: 256 };

function fileIdPool(count: number): number[] {
  const prefixes = [0x01, 0x02, 0x10, 0xc4];
  return Array.from({ length: count }, (_, index) => (prefixes[index % prefixes.length] << 8) | Math.floor(index / prefixes.length));
}

const SCENARIOS: readonly Scenario[] = [
  {
    name: 'small',
    geometry: { sectorSize: 4096, pageSize: 256, sectorCount: 16 },
    seed: 20_240_611,
    operations: FULL ? 10_000 : 2_000,
    cutsPerOperation: undefined,
    prefillFiles: 0,
    fileIds: fileIdPool(40),
    deletesPerMille: 90,
    chainFromCutChance: 0.04,
    nestedCutChance: 0.1,
  },
  {
    name: 'smallsectors',
    geometry: { sectorSize: 1024, pageSize: 128, sectorCount: 48 },
    seed: 77,
    operations: FULL ? 3_000 : 800,
    cutsPerOperation: FULL ? undefined : 8,
    prefillFiles: 0,
    fileIds: fileIdPool(32),
    deletesPerMille: 90,
    chainFromCutChance: 0.05,
    nestedCutChance: 0.1,
  },
  {
    name: 'pico',
    geometry: PICO,
    seed: 4_096,
    operations: FULL ? 2_000 : 300,
    cutsPerOperation: FULL ? undefined : 6,
    prefillFiles: 260,
    fileIds: fileIdPool(300),
    deletesPerMille: 120,
    chainFromCutChance: 0.05,
    nestedCutChance: 0.1,
  },
];

// ---------------------------------------------------------------------------------------------------------
// Workload

function randomBelow(random: SeededEntropy, bound: number): number {
  return bound <= 0 ? 0 : random.nextUint32() % bound;
}

function randomSize(random: SeededEntropy): number {
  const roll = randomBelow(random, 100);
  if (roll < 35) return randomBelow(random, 65);
  if (roll < 60) return 65 + randomBelow(random, 600);
  if (roll < 85) return 600 + randomBelow(random, 1900);
  if (roll < 99) return 2500 + randomBelow(random, MAX_FILE_BYTES - 2500 + 1);
  return MAX_FILE_BYTES + 1; // tooLarge
}

function randomBytes(random: SeededEntropy, length: number): Uint8Array {
  return random.randomBytes(length);
}

function generateOperation(scenario: Scenario, index: number, model: Model): Operation {
  const random = new SeededEntropy(mixSeed(scenario.seed, index, 0x0b));
  const present = [...model.keys()];
  const anyId = () => scenario.fileIds[randomBelow(random, scenario.fileIds.length)];
  const existingOrAny = () => (present.length > 0 && randomBelow(random, 10) < 8 ? present[randomBelow(random, present.length)] : anyId());
  const roll = randomBelow(random, 1000);
  if (roll < 12) {
    const keep = present.filter(() => randomBelow(random, 3) === 0).slice(0, 8);
    if (randomBelow(random, 2) === 0) keep.push(anyId());
    return { kind: 'wipe', keep };
  }
  if (roll < 12 + scenario.deletesPerMille) return { kind: 'delete', fileId: existingOrAny() };
  if (roll < 222 + scenario.deletesPerMille) {
    const fileId = existingOrAny();
    const size = model.get(fileId)?.length ?? 0;
    const offset = randomBelow(random, 20) === 0 ? size + 1 + randomBelow(random, 8) : randomBelow(random, size + 1);
    const length = randomBelow(random, 10) < 7 ? randomBelow(random, 300) : randomBelow(random, MAX_FILE_BYTES + 64 - Math.min(offset, MAX_FILE_BYTES));
    return { kind: 'patch', fileId, offset, data: randomBytes(random, length) };
  }
  return { kind: 'put', fileId: anyId(), data: randomBytes(random, randomSize(random)) };
}

function describeOperation(operation: Operation): string {
  switch (operation.kind) {
    case 'put':
      return `put ${hexId(operation.fileId)} ${operation.data.length} B`;
    case 'patch':
      return `patch ${hexId(operation.fileId)} @${operation.offset} ${operation.data.length} B`;
    case 'delete':
      return `delete ${hexId(operation.fileId)}`;
    case 'wipe':
      return `wipe keep [${operation.keep.map(hexId).join(', ')}]`;
    default:
      return assertNever(operation);
  }
}

function hexId(fileId: number): string {
  return `0x${fileId.toString(16).padStart(4, '0')}`;
}

/**
 * Runs an operation; a `full` answer must be an honest one (the record really does not fit the reported free
 * space), never compaction failing to find room it promised.
 */
function runOperation(store: LogStore, operation: Operation): Outcome {
  switch (operation.kind) {
    case 'put': {
      const result = store.put(operation.fileId, operation.data);
      if (!result.ok && result.error.code === 'full') requireHonestFull(store, result.error);
      return result.ok ? 'ok' : result.error.code;
    }
    case 'patch': {
      const result = store.patch(operation.fileId, operation.offset, operation.data);
      if (!result.ok && result.error.code === 'full') requireHonestFull(store, result.error);
      return result.ok ? 'ok' : result.error.code;
    }
    case 'delete': {
      const result = store.delete(operation.fileId);
      return result.ok ? 'ok' : result.error.code;
    }
    case 'wipe': {
      const result = store.wipe(operation.keep);
      return result.ok ? 'ok' : result.error.code;
    }
    default:
      return assertNever(operation);
  }
}

function requireHonestFull(store: LogStore, error: { needed: number; available: number }): void {
  const capacity = store.capacity();
  if (error.needed <= error.available || !capacity.ok || capacity.value.free !== error.available) {
    throw new Error(`dishonest full: ${JSON.stringify(error)} with capacity ${JSON.stringify(capacity)}`);
  }
}

/** What the model says an operation does: the model after it, or the error it must answer (capacity aside). */
function modelAfter(model: Model, operation: Operation): { outcome: Outcome; model: Model } {
  const next = new Map(model);
  switch (operation.kind) {
    case 'put':
      if (operation.data.length > MAX_FILE_BYTES) return { outcome: 'tooLarge', model };
      next.set(operation.fileId, operation.data);
      return { outcome: 'ok', model: next };
    case 'patch': {
      const current = model.get(operation.fileId);
      if (current === undefined) return { outcome: 'notFound', model };
      if (operation.offset > current.length) return { outcome: 'badRange', model };
      const size = Math.max(current.length, operation.offset + operation.data.length);
      if (size > MAX_FILE_BYTES) return { outcome: 'tooLarge', model };
      const updated = new Uint8Array(size);
      updated.set(current);
      updated.set(operation.data, operation.offset);
      next.set(operation.fileId, updated);
      return { outcome: 'ok', model: next };
    }
    case 'delete':
      if (!model.has(operation.fileId)) return { outcome: 'notFound', model };
      next.delete(operation.fileId);
      return { outcome: 'ok', model: next };
    case 'wipe':
      for (const fileId of model.keys()) if (!operation.keep.includes(fileId)) next.delete(fileId);
      return { outcome: 'ok', model: next };
    default:
      return assertNever(operation);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Checking

type Mounted = { ok: true; store: MeasuredLogStore; recovered: boolean } | { ok: false; problem: string };

/** Mounts and, if the mount found pending work, recovers. Flash exceptions (a nested cut) propagate. */
function mountAndRecover(flash: SimFlash): Mounted {
  const store = new MeasuredLogStore(flash);
  const mounted = store.mount();
  if (!mounted.ok) return { ok: false, problem: `mount failed: ${mounted.failure.reason}: ${mounted.failure.detail}` };
  if (!mounted.report.recoveryNeeded) return { ok: true, store, recovered: false };
  const recovered = store.recover();
  if (!recovered.ok) return { ok: false, problem: `recovery failed: ${recovered.error.detail}` };
  return { ok: true, store, recovered: true };
}

function contentsOf(store: LogStore): Map<number, Uint8Array> | string {
  const listed = store.list();
  if (!listed.ok) return `list: ${listed.error.detail}`;
  const contents = new Map<number, Uint8Array>();
  for (const fileId of listed.value.fileIds) {
    const read = store.read(fileId);
    if (!read.ok) return `read ${hexId(fileId)}: ${read.error.code}`;
    contents.set(fileId, read.value.data);
  }
  return contents;
}

function sameContents(actual: ReadonlyMap<number, Uint8Array>, expected: Model): boolean {
  if (actual.size !== expected.size) return false;
  for (const [fileId, data] of expected) {
    const other = actual.get(fileId);
    if (other === undefined || !equalBytes(other, data)) return false;
  }
  return true;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let index = 0; index < a.length; index++) if (a[index] !== b[index]) return false;
  return true;
}

function describeDifference(actual: ReadonlyMap<number, Uint8Array>, before: Model, after: Model): string {
  const lines: string[] = [];
  const ids = new Set([...actual.keys(), ...before.keys(), ...after.keys()]);
  for (const fileId of [...ids].sort((a, b) => a - b)) {
    const size = (map: ReadonlyMap<number, Uint8Array>) => {
      const data = map.get(fileId);
      return data === undefined ? '-' : `${data.length}B`;
    };
    const got = actual.get(fileId);
    const matchesBefore = got !== undefined && before.get(fileId) !== undefined && equalBytes(got, before.get(fileId) ?? new Uint8Array());
    const matchesAfter = got !== undefined && after.get(fileId) !== undefined && equalBytes(got, after.get(fileId) ?? new Uint8Array());
    lines.push(`  ${hexId(fileId)}: store ${size(actual)} before ${size(before)} after ${size(after)}${matchesBefore ? ' =before' : ''}${matchesAfter ? ' =after' : ''}`);
  }
  return lines.join('\n');
}

/** Each physical sector as condition initial and sectorSeq, e.g. `l12 l13 b r11` (for replay narratives). */
function describeSectors(store: MeasuredLogStore): string {
  return store
    .describeSectors()
    .map((sector) => `${sector.condition[0]}${sector.sectorSeq ?? ''}`)
    .join(' ');
}

/** One follow-up write on a recovered store: a small put (or, in a full store, a delete) that must succeed. */
function followUpWrite(store: LogStore, contents: ReadonlyMap<number, Uint8Array>, seed: number): string | undefined {
  const data = new SeededEntropy(seed).randomBytes(24);
  const put = store.put(FOLLOW_UP_FILE, data);
  if (put.ok) {
    const back = store.read(FOLLOW_UP_FILE);
    if (!back.ok || !equalBytes(back.value.data, data)) return 'the follow-up put did not read back';
    return undefined;
  }
  if (put.error.code !== 'full') return `follow-up put answered ${put.error.code}`;
  if (put.error.needed <= put.error.available) return `follow-up put answered full with room: ${JSON.stringify(put.error)}`;
  const victim = [...contents.keys()][0];
  if (victim === undefined) return 'an empty store answered full';
  const removed = store.delete(victim);
  if (!removed.ok) return `follow-up delete answered ${removed.error.code}`;
  return store.stat(victim).ok ? 'the deleted file is still there' : undefined;
}

// ---------------------------------------------------------------------------------------------------------
// The runner

interface Figures {
  scenario: string;
  operations: number;
  flashOperations: number;
  cutPoints: number;
  nestedCuts: number;
  recoveries: number;
  chainFromCut: number;
  fullAnswers: number;
  mismatches: number;
  failures: string[];
  seconds: number;
  statistics: StoreStatistics | undefined;
}

interface CutRun {
  readonly replay: FaultReplay;
  readonly before: Model;
  readonly after: Model;
  readonly nested: boolean;
  readonly verbose: boolean;
}

interface CutResult {
  problem: string | undefined;
  matched: 'before' | 'after' | undefined;
  recovered: boolean;
  image: Uint8Array | undefined;
}

/** Runs one cut: from `image`, cut flash operation `replay.cutAt` of `operation`, remount, compare. */
function runCut(flash: SimFlash, image: Uint8Array, operation: Operation, run: CutRun, followUp: boolean): CutResult {
  const log = (line: string) => {
    if (run.verbose) console.log(line);
  };
  flash.restore(image);
  flash.powerOn();
  const store = new MeasuredLogStore(flash);
  const mounted = store.mount();
  if (!mounted.ok || mounted.report.recoveryNeeded) return { problem: 'the image before the operation did not mount cleanly', matched: undefined, recovered: false, image: undefined };
  if (run.verbose) log(`before: sectors ${describeSectors(store)}, ${JSON.stringify(store.capacity())}`);
  flash.armPowerCut({ atOperation: run.replay.cutAt, flipSeed: run.replay.flipSeed });
  try {
    const outcome = runOperation(store, operation);
    flash.disarmPowerCut();
    return { problem: `the operation finished (${outcome}) before flash operation ${run.replay.cutAt}`, matched: undefined, recovered: false, image: undefined };
  } catch (error) {
    if (!(error instanceof FlashError) || error.reason !== 'powerCut') throw error;
  }
  log(`cut: ${JSON.stringify(flash.lastPowerCut)}`);
  flash.powerOn();
  let recovered = mountAndRecoverWithNestedCut(flash, run, log);
  if (!recovered.ok) return { problem: recovered.problem, matched: undefined, recovered: false, image: undefined };
  const didRecover = recovered.recovered;
  const contents = contentsOf(recovered.store);
  if (typeof contents === 'string') return { problem: `reading after recovery: ${contents}`, matched: undefined, recovered: recovered.recovered, image: undefined };
  const matched = sameContents(contents, run.before) ? 'before' : sameContents(contents, run.after) ? 'after' : undefined;
  if (matched === undefined) {
    return { problem: `the store is neither the model before nor after:\n${describeDifference(contents, run.before, run.after)}`, matched, recovered: recovered.recovered, image: undefined };
  }
  log(`recovered store equals the model ${matched} the operation`);
  if (run.verbose) log(`after: sectors ${describeSectors(recovered.store)}, ${JSON.stringify(recovered.store.capacity())}`);
  const imageAfterRecovery = flash.snapshot();
  if (followUp) {
    const problem = followUpWrite(recovered.store, contents, run.replay.flipSeed);
    if (problem !== undefined) return { problem: `follow-up write: ${problem}`, matched, recovered: recovered.recovered, image: undefined };
    // The follow-up must survive a remount too, and the remount must account exactly what the running store did.
    const runningCapacity = JSON.stringify(recovered.store.capacity());
    const runningContents = contentsOf(recovered.store);
    recovered = mountAndRecover(flash);
    if (!recovered.ok) return { problem: `remount after the follow-up: ${recovered.problem}`, matched, recovered: didRecover, image: undefined };
    if (JSON.stringify(recovered.store.capacity()) !== runningCapacity) {
      return { problem: `capacity after a remount ${JSON.stringify(recovered.store.capacity())} differs from the running store's ${runningCapacity}`, matched, recovered: didRecover, image: undefined };
    }
    const remountedContents = contentsOf(recovered.store);
    if (typeof runningContents === 'string' || typeof remountedContents === 'string' || !sameContents(remountedContents, runningContents)) {
      return { problem: 'the remount after the follow-up reads different files', matched, recovered: didRecover, image: undefined };
    }
  }
  if (flash.overwrittenBytes !== 0) return { problem: `${flash.overwrittenBytes} bytes were programmed over non-erased bytes`, matched, recovered: didRecover, image: undefined };
  return { problem: undefined, matched, recovered: didRecover, image: imageAfterRecovery };
}

function mountAndRecoverWithNestedCut(flash: SimFlash, run: CutRun, log: (line: string) => void): Mounted {
  if (run.nested) {
    const nestedPlan = { atOperation: 1 + (mixSeed(run.replay.flipSeed, 0x4e) % 3), flipSeed: mixSeed(run.replay.flipSeed, 0x4f) };
    flash.armPowerCut(nestedPlan);
    try {
      const first = mountAndRecover(flash);
      flash.disarmPowerCut();
      if (!first.ok) return first;
      log('no second cut: the recovery made fewer flash operations');
      return first;
    } catch (error) {
      if (!(error instanceof FlashError) || error.reason !== 'powerCut') throw error;
      log(`second cut during recovery: ${JSON.stringify(flash.lastPowerCut)}`);
      flash.powerOn();
    }
  }
  return mountAndRecover(flash);
}

function cutPointsFor(scenario: Scenario, operationIndex: number, flashOperations: number): number[] {
  if (flashOperations === 0) return [];
  const all = Array.from({ length: flashOperations }, (_, index) => index + 1);
  if (scenario.cutsPerOperation === undefined || scenario.cutsPerOperation >= flashOperations) return all;
  const random = new SeededEntropy(mixSeed(scenario.seed, operationIndex, 0x5a));
  const chosen = new Set<number>();
  while (chosen.size < scenario.cutsPerOperation) chosen.add(1 + randomBelow(random, flashOperations));
  return [...chosen].sort((a, b) => a - b);
}

function flashOperationCount(flash: SimFlash): number {
  return flash.programCalls + flash.eraseCalls;
}

/**
 * Runs a scenario. With `replay`, runs the main chain up to the replayed operation (continuing from the same cut
 * images as the full run) and then only the replayed cut, with a narrative.
 */
function runScenario(scenario: Scenario, replay?: FaultReplay): Figures {
  const started = performance.now();
  const figures: Figures = {
    scenario: scenario.name,
    operations: 0,
    flashOperations: 0,
    cutPoints: 0,
    nestedCuts: 0,
    recoveries: 0,
    chainFromCut: 0,
    fullAnswers: 0,
    mismatches: 0,
    failures: [],
    seconds: 0,
    statistics: undefined,
  };
  const main = new SimFlash(scenario.geometry);
  const work = new SimFlash(scenario.geometry);
  let store = new MeasuredLogStore(main);
  expect(store.mount().ok).toBe(true);
  let model: Model = new Map();

  const prefill = new SeededEntropy(mixSeed(scenario.seed, 0x9f));
  for (let index = 0; index < scenario.prefillFiles; index++) {
    const fileId = scenario.fileIds[index % scenario.fileIds.length];
    const data = prefill.randomBytes(1500 + randomBelow(prefill, 2596));
    const put = store.put(fileId, data);
    if (put.ok) model = new Map(model).set(fileId, data);
  }

  const lastOperation = replay === undefined ? scenario.operations : replay.operation + 1;
  for (let index = 0; index < lastOperation; index++) {
    const operation = generateOperation(scenario, index, model);
    const before = model;
    const expected = modelAfter(before, operation);
    const image = main.snapshot();

    // The uninterrupted run: how many flash operations, and what the store answers.
    const operationsBefore = flashOperationCount(main);
    const outcome = runOperation(store, operation);
    const flashOperations = flashOperationCount(main) - operationsBefore;
    figures.flashOperations += flashOperations;
    if (outcome === 'full') figures.fullAnswers += 1;
    const capacityAllowsFull = operation.kind === 'put' || operation.kind === 'patch';
    if (outcome !== expected.outcome && !(outcome === 'full' && expected.outcome === 'ok' && capacityAllowsFull)) {
      throw new Error(`${scenario.name} operation ${index} (${describeOperation(operation)}): store answered ${outcome}, model expects ${expected.outcome}`);
    }
    const after = outcome === 'ok' ? expected.model : before;
    const contents = contentsOf(store);
    if (typeof contents === 'string' || !sameContents(contents, after)) {
      throw new Error(`${scenario.name} operation ${index} (${describeOperation(operation)}): the store differs from the model without any cut:\n${typeof contents === "string" ? contents : describeDifference(contents, before, after)}`);
    }
    const imageAfter = main.snapshot();

    const replaying = replay !== undefined && index === replay.operation;
    const cutPoints = replay === undefined ? cutPointsFor(scenario, index, flashOperations) : replaying ? [replay.cutAt] : [];
    if (replaying) console.log(`replaying ${formatReplayId(replay)}: operation ${index} = ${describeOperation(operation)}, ${flashOperations} flash operations uninterrupted`);
    for (const cutAt of cutPoints) {
      const id: FaultReplay = { scenario: scenario.name, seed: scenario.seed, operation: index, cutAt, flipSeed: mixSeed(scenario.seed, index, cutAt, 0xf1) };
      const nested = new SeededEntropy(mixSeed(id.flipSeed, 0x4d)).nextUint32() / 0x1_0000_0000 < scenario.nestedCutChance;
      const result = runCut(work, image, operation, { replay: id, before, after, nested, verbose: replaying }, true);
      figures.cutPoints += 1;
      if (nested) figures.nestedCuts += 1;
      if (result.recovered) figures.recoveries += 1;
      if (result.problem !== undefined) {
        figures.mismatches += 1;
        const line = `${formatReplayId(id)} (${describeOperation(operation)}): ${result.problem}`;
        if (figures.failures.length < 10) figures.failures.push(line);
        console.log(`FAILED ${line}`);
      }
    }

    // The main chain goes on from the clean image, or now and then from a cut image (re-entrancy).
    const chainRandom = new SeededEntropy(mixSeed(scenario.seed, index, 0xc4));
    const fromCut = flashOperations > 0 && chainRandom.nextUint32() / 0x1_0000_0000 < scenario.chainFromCutChance;
    if (fromCut) {
      const cutAt = 1 + randomBelow(chainRandom, flashOperations);
      const id: FaultReplay = { scenario: scenario.name, seed: scenario.seed, operation: index, cutAt, flipSeed: mixSeed(scenario.seed, index, cutAt, 0xf1) };
      const result = runCut(work, image, operation, { replay: id, before, after, nested: false, verbose: false }, false);
      if (result.problem !== undefined || result.image === undefined) {
        figures.mismatches += 1;
        figures.failures.push(`${formatReplayId(id)} (chain): ${result.problem ?? 'no image'}`);
        main.restore(imageAfter);
        model = after;
      } else {
        figures.chainFromCut += 1;
        main.restore(result.image);
        model = result.matched === 'before' ? before : after;
      }
      store = new MeasuredLogStore(main);
      const remounted = store.mount();
      if (!remounted.ok || remounted.report.recoveryNeeded) throw new Error(`${scenario.name} operation ${index}: the recovered cut image does not mount cleanly`);
    } else {
      model = after;
    }
    if (!fromCut && index % 97 === 0) {
      // A periodic clean remount: what the running store believes must be what a fresh mount reads.
      const running = store.capacity();
      store = new MeasuredLogStore(main);
      const remounted = store.mount();
      if (!remounted.ok || remounted.report.recoveryNeeded) throw new Error(`${scenario.name} operation ${index}: clean image needs recovery`);
      expect(store.capacity()).toEqual(running);
    }
    figures.operations += 1;
  }
  figures.statistics = store.statistics();
  expect(main.overwrittenBytes).toBe(0);
  expect(work.overwrittenBytes).toBe(0);
  figures.seconds = (performance.now() - started) / 1000;
  return figures;
}

function printFigures(figures: Figures): void {
  console.log(
    [
      `power-loss ${figures.scenario}: ${figures.operations} operations, ${figures.flashOperations} flash operations,`,
      `${figures.cutPoints} cut points exercised (${figures.nestedCuts} with a second cut during recovery, ${figures.recoveries} recoveries with flash work),`,
      `${figures.chainFromCut} chain continuations from cut images, ${figures.fullAnswers} full answers, mismatches: ${figures.mismatches}, ${figures.seconds.toFixed(1)} s`,
    ].join(' '),
  );
}

const replayId = process.env.STORAGE_REPLAY;

describe('log store power-loss suite', () => {
  if (replayId !== undefined) {
    it(`replays ${replayId}`, () => {
      const replay = parseReplayId(replayId);
      const scenario = SCENARIOS.find((candidate) => candidate.name === replay.scenario);
      if (scenario === undefined) throw new Error(`no scenario ${replay.scenario}`);
      const figures = runScenario(scenario, replay);
      printFigures(figures);
      expect(figures.failures).toEqual([]);
    });
    return;
  }

  for (const scenario of SCENARIOS) {
    const cuts = scenario.cutsPerOperation === undefined ? 'every cut point' : `${scenario.cutsPerOperation} sampled cut points per operation`;
    it(`${scenario.name}: ${scenario.geometry.sectorCount} sectors of ${scenario.geometry.sectorSize} B, ${scenario.operations} operations, ${cuts}`, () => {
      const figures = runScenario(scenario);
      printFigures(figures);
      if (scenario.name === 'small') {
        expect(figures.operations).toBeGreaterThanOrEqual(2_000);
        expect(figures.cutPoints).toBe(figures.flashOperations);
      }
      expect(figures.cutPoints).toBeGreaterThan(0);
      expect(figures.failures).toEqual([]);
      expect(figures.mismatches).toBe(0);
    }, FULL ? 3_600_000 : 120_000);
  }
});
