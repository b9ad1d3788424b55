/**
 * Target `storage-mount`: the log store's mount and reads over damaged flash (actors/storage/log-store.ts).
 *
 * Images come from three generators:
 *   history: a store written through put/delete/wipe (the harness remembers every version of every file), with
 *            an optional power cut at the n-th flash operation of one of the writes (seeded bit subset), then bit
 *            flips and garbage sectors on top;
 *   forged:  sectors with valid headers (random seqs, floors, first-record offsets, retired flags) whose
 *            payloads are valid records (correct CRCs) interleaved with garbage: what a confused writer leaves;
 *   random:  erased flash with random bytes here and there.
 * Oracles: mount never throws (its outcome is typed); recover, list, read, stat, capacity throw nothing; every
 * listed file was written at some time (no phantom files) and every successful read returns exactly one of the
 * versions written for that file (never a mix, never bytes that fail their integrity check); after a power cut
 * with no decay, every file is at its version before or after the interrupted operation (atomicity) and the
 * others are exactly as written; a mounted store accepts a write and reads it back.
 */
import fc from 'fast-check';
import { encodeRecordBytes, encodeSectorHeader, LogStore, SECTOR_HEADER_BYTES } from '../../actors/storage/log-store.js';
import { SimFlash } from '../../hal/sim/flash.js';
import { FlashError, type FlashGeometry } from '../../hal/types.js';
import { check, toHex, type FuzzTarget } from './common.js';

export const MOUNT_GEOMETRY: FlashGeometry = { sectorSize: 4096, pageSize: 256, sectorCount: 8 };
const FILE_IDS = [0x1001, 0x1002, 0xcc01, 0xcd01, 0xcf01, 0x2f02];

export type StorageOperation =
  | { readonly op: 'put'; readonly file: number; readonly size: number; readonly fill: number }
  | { readonly op: 'delete'; readonly file: number }
  | { readonly op: 'wipe'; readonly keep: readonly number[] };

export interface Damage {
  readonly flips: readonly { readonly at: number; readonly bit: number }[];
  readonly garbage: readonly { readonly sector: number; readonly offset: number; readonly bytes: Uint8Array }[];
}

export type StorageMountInput =
  | { readonly kind: 'history'; readonly operations: readonly StorageOperation[]; readonly cut?: { readonly operation: number; readonly at: number; readonly flip: number }; readonly damage: Damage }
  | {
      readonly kind: 'forged';
      readonly sectors: readonly {
        readonly physical: number;
        readonly seq: number;
        readonly floor: number;
        readonly first: number;
        readonly retired: boolean;
        readonly records: readonly { readonly file: number; readonly seq: number; readonly size: number; readonly fill: number; readonly tombstone: boolean; readonly gap: number }[];
      }[];
      readonly damage: Damage;
    }
  | { readonly kind: 'random'; readonly damage: Damage };

function contentOf(file: number, size: number, fill: number): Uint8Array {
  const data = new Uint8Array(size);
  for (let index = 0; index < size; index++) data[index] = (fill + file + index * 31) & 0xff;
  return data;
}

const fileArbitrary = fc.constantFrom(...FILE_IDS.keys());
const sizeArbitrary = fc.oneof(fc.integer({ min: 0, max: 64 }), fc.constantFrom(0, 1, 237, 238, 4072, 4096), fc.integer({ min: 0, max: 4096 }));

function damageArbitrary(maxFlips: number): fc.Arbitrary<Damage> {
  const size = MOUNT_GEOMETRY.sectorSize * MOUNT_GEOMETRY.sectorCount;
  return fc.record({
    flips: fc.array(fc.record({ at: fc.integer({ min: 0, max: size - 1 }), bit: fc.integer({ min: 0, max: 7 }) }), { maxLength: maxFlips }),
    garbage: fc.array(
      fc.record({ sector: fc.integer({ min: 0, max: MOUNT_GEOMETRY.sectorCount - 1 }), offset: fc.oneof(fc.constantFrom(0, 20, 24), fc.integer({ min: 0, max: 4095 })), bytes: fc.uint8Array({ minLength: 1, maxLength: 48 }) }),
      { maxLength: maxFlips > 0 ? 2 : 0 },
    ),
  });
}

function operationArbitrary(): fc.Arbitrary<StorageOperation> {
  return fc.oneof(
    { arbitrary: fc.record({ op: fc.constant('put' as const), file: fileArbitrary, size: sizeArbitrary, fill: fc.integer({ min: 0, max: 255 }) }), weight: 8 },
    { arbitrary: fc.record({ op: fc.constant('delete' as const), file: fileArbitrary }), weight: 2 },
    { arbitrary: fc.record({ op: fc.constant('wipe' as const), keep: fc.subarray([...FILE_IDS.keys()], { maxLength: 3 }) }), weight: 1 },
  );
}

export function storageMountArbitrary(): fc.Arbitrary<StorageMountInput> {
  const history = fc.record(
    {
      kind: fc.constant('history' as const),
      operations: fc.array(operationArbitrary(), { minLength: 1, maxLength: 30 }),
      cut: fc.record({ operation: fc.nat(), at: fc.integer({ min: 1, max: 12 }), flip: fc.nat() }),
      damage: fc.oneof({ arbitrary: damageArbitrary(0), weight: 2 }, { arbitrary: damageArbitrary(6), weight: 1 }),
    },
    { requiredKeys: ['kind', 'operations', 'damage'] },
  );
  const record = fc.record({ file: fileArbitrary, seq: fc.integer({ min: 0, max: 40 }), size: fc.oneof(fc.integer({ min: 0, max: 80 }), fc.constantFrom(4072, 4096, 5000)), fill: fc.integer({ min: 0, max: 255 }), tombstone: fc.boolean(), gap: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 300 })) });
  const forged = fc.record({
    kind: fc.constant('forged' as const),
    sectors: fc.array(
      fc.record({
        physical: fc.integer({ min: 0, max: MOUNT_GEOMETRY.sectorCount - 1 }),
        seq: fc.oneof(fc.integer({ min: 0, max: 10 }), fc.constantFrom(0xfffffffe, 0xffffffff)),
        floor: fc.integer({ min: 0, max: 10 }),
        first: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 4072 }), fc.constant(4073)),
        retired: fc.boolean(),
        records: fc.array(record, { maxLength: 6 }),
      }),
      { minLength: 1, maxLength: 8 },
    ),
    damage: damageArbitrary(3),
  });
  const random = fc.record({ kind: fc.constant('random' as const), damage: damageArbitrary(40) });
  return fc.oneof({ arbitrary: history, weight: 4 }, { arbitrary: forged, weight: 3 }, { arbitrary: random, weight: 1 });
}

// ---------------------------------------------------------------------------------------------------------

type Versions = Map<number, Set<string>>;

function remember(versions: Versions, file: number, data: Uint8Array): void {
  const set = versions.get(file) ?? new Set<string>();
  set.add(toHex(data));
  versions.set(file, set);
}

function applyDamage(flash: SimFlash, damage: Damage): boolean {
  if (damage.flips.length === 0 && damage.garbage.length === 0) return false;
  const image = flash.snapshot();
  for (const { at, bit } of damage.flips) image[at % image.length] = image[at % image.length]! ^ (1 << bit);
  for (const { sector, offset, bytes } of damage.garbage) {
    const start = sector * MOUNT_GEOMETRY.sectorSize + offset;
    image.set(bytes.subarray(0, Math.max(0, Math.min(bytes.length, image.length - start))), start);
  }
  flash.restore(image);
  return true;
}

/** Mounts, recovers and reads everything; checks reads against the versions written. */
function checkMount(flash: SimFlash, versions: Versions | undefined, exact: Map<number, string | undefined>[] | undefined): void {
  const store = new LogStore(flash);
  const outcome = store.mount();
  if (!outcome.ok) {
    check(outcome.failure.reason === 'unsupportedFormat' || outcome.failure.reason === 'flashFault', 'mount-outcome', () => `mount failed with ${JSON.stringify(outcome.failure)}`);
    check(exact === undefined, 'mount-after-power-cut', () => `the store no longer mounts after a power cut: ${outcome.failure.detail}`);
    return;
  }
  const recovered = store.recover();
  check(recovered.ok || exact === undefined, 'recover-after-power-cut', () => `recovery after a power cut failed: ${JSON.stringify(recovered)}`);
  if (!recovered.ok) return;
  const listed = store.list();
  check(listed.ok, 'list', () => JSON.stringify(listed));
  const contents = new Map<number, string>();
  for (const file of listed.value.fileIds) {
    if (versions) check(versions.has(file), 'phantom-file', () => `file ${file.toString(16)} was never written`);
    const read = store.read(file);
    const stat = store.stat(file);
    check(stat.ok, 'stat-listed', () => `listed file ${file.toString(16)}: ${JSON.stringify(stat)}`);
    if (!read.ok) {
      check(read.error.code === 'unavailable', 'read-listed', () => `listed file ${file.toString(16)}: ${JSON.stringify(read.error)}`);
      check(exact === undefined, 'read-after-power-cut', () => `file ${file.toString(16)} unreadable after a power cut: ${JSON.stringify(read.error)}`);
      continue;
    }
    check(read.value.size === read.value.data.length && read.value.size === stat.value.size, 'read-size', () => `file ${file.toString(16)}: size ${read.value.size}, data ${read.value.data.length}, stat ${stat.ok ? stat.value.size : '?'}`);
    const hex = toHex(read.value.data);
    if (versions) check(versions.get(file)?.has(hex) === true, 'read-integrity', () => `file ${file.toString(16)} read ${read.value.data.length} bytes that were never written as one version`);
    contents.set(file, hex);
  }
  if (exact) {
    const matches = exact.some((expected) => [...new Set([...expected.keys(), ...contents.keys()])].every((file) => expected.get(file) === contents.get(file)));
    check(matches, 'power-cut-atomicity', () => `after the cut the store holds ${describeFiles(contents)}; allowed: ${exact.map(describeFiles).join(' or ')}`);
  }
  store.capacity();
  const probe = Uint8Array.of(1, 2, 3, 4);
  const put = store.put(0x7777, probe);
  if (put.ok) {
    const back = store.read(0x7777);
    check(back.ok && toHex(back.value.data) === toHex(probe), 'write-after-mount', () => `wrote 01020304, read back ${JSON.stringify(back)}`);
  }
}

function describeFiles(files: Map<number, string | undefined>): string {
  const parts = [...files.entries()].filter(([, value]) => value !== undefined).map(([file, value]) => `${file.toString(16)}:${(value ?? '').length / 2}B/${(value ?? '').slice(0, 8)}`);
  return `{${parts.join(' ')}}`;
}

function runHistory(input: Extract<StorageMountInput, { kind: 'history' }>): void {
  const flash = new SimFlash(MOUNT_GEOMETRY);
  const store = new LogStore(flash);
  check(store.format().ok, 'format', () => 'format of a blank region failed');
  const versions: Versions = new Map();
  let model = new Map<number, string | undefined>();
  let exact: Map<number, string | undefined>[] | undefined;
  const cutOperation = input.cut === undefined ? -1 : input.cut.operation % input.operations.length;
  for (const [index, operation] of input.operations.entries()) {
    const before = new Map(model);
    const after = new Map(model);
    if (operation.op === 'put') {
      const file = FILE_IDS[operation.file]!;
      const data = contentOf(file, operation.size, operation.fill);
      remember(versions, file, data);
      after.set(file, toHex(data));
    } else if (operation.op === 'delete') {
      after.delete(FILE_IDS[operation.op === 'delete' ? operation.file : 0]!);
    } else {
      const keep = new Set(operation.keep.map((index) => FILE_IDS[index]!));
      for (const file of [...after.keys()]) if (!keep.has(file)) after.delete(file);
    }
    if (index === cutOperation && input.cut) flash.armPowerCut({ atOperation: input.cut.at, flipSeed: input.cut.flip });
    try {
      const result =
        operation.op === 'put'
          ? store.put(FILE_IDS[operation.file]!, contentOf(FILE_IDS[operation.file]!, operation.size, operation.fill))
          : operation.op === 'delete'
            ? store.delete(FILE_IDS[operation.file]!)
            : store.wipe(operation.keep.map((index) => FILE_IDS[index]!));
      if (result.ok) model = after;
      else check(result.error.code === 'full' || result.error.code === 'notFound', 'store-refusal', () => `operation ${index} ${JSON.stringify(operation)}: ${JSON.stringify(result.error)}`);
    } catch (error) {
      check(error instanceof FlashError && error.reason === 'powerCut' && index === cutOperation, 'store-throws', () => `operation ${index} threw ${String(error)}`);
      exact = [before, after];
      break;
    }
    if (index === cutOperation) flash.disarmPowerCut();
  }
  if (flash.isPoweredOff) flash.powerOn();
  const decayed = applyDamage(flash, input.damage);
  checkMount(flash, versions, decayed ? undefined : (exact ?? [model]));
}

function runForged(input: Extract<StorageMountInput, { kind: 'forged' }>): void {
  const { sectorSize, sectorCount } = MOUNT_GEOMETRY;
  const image = new Uint8Array(sectorSize * sectorCount).fill(0xff);
  const versions: Versions = new Map();
  for (const sector of input.sectors) {
    const base = sector.physical * sectorSize;
    image.set(encodeSectorHeader(sector.seq, sector.floor, Math.min(sector.first, 0xffff)), base);
    if (sector.retired) image[base + 20] = 0;
    let offset = base + SECTOR_HEADER_BYTES + Math.min(sector.first, sectorSize - SECTOR_HEADER_BYTES);
    for (const record of sector.records) {
      const file = FILE_IDS[record.file]!;
      const data = record.tombstone ? new Uint8Array(0) : contentOf(file, Math.min(record.size, 0xffff), record.fill);
      const bytes = encodeRecordBytes(record.tombstone ? 'tombstone' : 'data', file, record.seq, data);
      if (!record.tombstone) remember(versions, file, data);
      offset += record.gap;
      const room = Math.max(0, image.length - offset);
      image.set(bytes.subarray(0, Math.min(bytes.length, room)), Math.min(offset, image.length));
      offset += bytes.length;
    }
  }
  const flash = SimFlash.fromImage(MOUNT_GEOMETRY, image);
  applyDamage(flash, input.damage);
  checkMount(flash, versions, undefined);
}

function runRandom(input: Extract<StorageMountInput, { kind: 'random' }>): void {
  const flash = new SimFlash(MOUNT_GEOMETRY);
  applyDamage(flash, input.damage);
  checkMount(flash, new Map(), undefined);
}

export const storageMountTarget: FuzzTarget<StorageMountInput> = {
  name: 'storage-mount',
  description: 'log store mount, recovery and reads over written-then-damaged, forged and random flash images',
  arbitrary: storageMountArbitrary,
  run(input) {
    switch (input.kind) {
      case 'history':
        return runHistory(input);
      case 'forged':
        return runForged(input);
      case 'random':
        return runRandom(input);
    }
  },
};
