/**
 * Part 4 of `npm run bench`: what key generation and counted signatures cost the flash, and how mount time grows
 * with the number of stored objects.
 *
 * Flash cost: the whole device on the simulated board (boards/sim.ts, portable engine) over a SimFlash of the
 * Pico's geometry (256 sectors of 4 KiB, 256-byte pages), whose counters give bytes programmed, program calls and
 * sector erases. Deltas are taken around each command:
 * - key generation: GENERATE ASYMMETRIC KEY PAIR P-256 (the sealed key CCxx and its CV request CExx; OpenSC then
 *   writes the description C4xx with a separate UPDATE BINARY, not counted here);
 * - signature with a usage counter (tag 90): each use is spent durably before the key is handed out, i.e. the key
 *   record is rewritten; and a signature without a counter for comparison (it should program nothing).
 * Erases come from compaction, which happens only once the log has gone around the region, so the signature run
 * is long enough to wrap it (per-operation erase figures are averages over the run, with the run's length).
 *
 * Mount time: the log store (actors/storage/log-store.ts) on a SimFlash holding N files of FILE_BYTES bytes
 * (about a sealed P-256 key record), median of several mounts of a fresh LogStore. 5,000 such files do not fit
 * the Pico's 1 MiB region (the report prints its capacity), so the series 100 / 1,000 / 5,000 runs on a 4 MiB
 * region (1,024 sectors) for every N, so only the number of objects varies; 100 and 1,000 are also given on the
 * 1 MiB region.
 */
import { loadavg } from 'node:os';
import { createSimBoard } from '../../boards/sim.js';
import { portableEngine } from '../../hal/crypto/portable.js';
import { LogStore, layoutFor } from '../../actors/storage/log-store.js';
import { SeededEntropy } from '../../hal/sim/entropy.js';
import { SimFlash } from '../../hal/sim/flash.js';
import type { FlashGeometry } from '../../hal/types.js';
import { tlv } from '../../actors/card/tlv.js';
import { ecGenerateApdu, INITIALIZE, SELECT_HSM, signApdu, VERIFY } from './in-process.js';

export const PICO_GEOMETRY: FlashGeometry = { sectorSize: 4096, pageSize: 256, sectorCount: 256 };
export const LARGE_GEOMETRY: FlashGeometry = { sectorSize: 4096, pageSize: 256, sectorCount: 1024 };
export const FILE_BYTES = 192;
export const MOUNT_COUNTS = [100, 1_000, 5_000] as const;

export interface PerOperation {
  readonly operations: number;
  readonly bytesProgrammedPerOp: number;
  readonly programCallsPerOp: number;
  readonly sectorsErasedPerOp: number;
  readonly sectorsErasedTotal: number;
}

export interface MountPoint {
  readonly objects: number;
  readonly region: string;
  readonly usedBytes: number;
  readonly capacityBytes: number;
  readonly mountMedianMs: number;
  readonly mounts: number;
}

export interface StorageCostResult {
  readonly geometry: FlashGeometry;
  readonly keyGeneration: PerOperation;
  readonly countedSignature: PerOperation;
  readonly uncountedSignature: PerOperation;
  readonly mount: readonly MountPoint[];
  readonly picoCapacityBytes: number;
  readonly fitsInPico: Record<string, boolean>;
  readonly load1: number;
}

interface Counters {
  bytes: number;
  programs: number;
  erases: number;
}

function counters(flash: SimFlash): Counters {
  return { bytes: flash.bytesProgrammed, programs: flash.programCalls, erases: flash.eraseCalls };
}

function perOperation(before: Counters, after: Counters, operations: number): PerOperation {
  return {
    operations,
    bytesProgrammedPerOp: round((after.bytes - before.bytes) / operations),
    programCallsPerOp: round((after.programs - before.programs) / operations),
    sectorsErasedPerOp: round((after.erases - before.erases) / operations, 4),
    sectorsErasedTotal: after.erases - before.erases,
  };
}

function round(value: number, digits = 2): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

export async function runStorageCost(options: { quick: boolean; log?: (line: string) => void }): Promise<StorageCostResult> {
  const log = options.log ?? (() => undefined);
  const flash = new SimFlash(PICO_GEOMETRY);
  const board = await createSimBoard({ flash, engine: portableEngine });
  const expect = async (apdu: Uint8Array, what: string): Promise<void> => {
    const answer = await board.transmit(apdu);
    if (answer.statusWord !== 0x9000) throw new Error(`${what}: status ${answer.statusWord.toString(16)}`);
  };
  await expect(SELECT_HSM, 'SELECT');
  await expect(INITIALIZE, 'INITIALIZE');
  await expect(VERIFY, 'VERIFY');

  const keys = options.quick ? 10 : 60;
  let before = counters(flash);
  for (let keyId = 1; keyId <= keys; keyId++) await expect(ecGenerateApdu(keyId, 'secp256r1'), `generate key ${keyId}`);
  const keyGeneration = perOperation(before, counters(flash), keys);
  log(`  key generation P-256: ${keyGeneration.bytesProgrammedPerOp} B programmed, ${keyGeneration.sectorsErasedPerOp} sectors erased per key (${keys} keys)`);

  const countedId = 0xf0;
  await expect(ecGenerateApdu(countedId, 'secp256r1', [tlv(0x90, Uint8Array.of(0x00, 0xff, 0xff, 0xff))]), 'generate counted key');
  const hash = new Uint8Array(32).fill(7);
  // Long enough for the log to wrap the region at least once (compaction erases included).
  const signatures = options.quick ? 300 : 6_000;
  before = counters(flash);
  for (let index = 0; index < signatures; index++) await expect(signApdu(countedId, 0x70, hash), 'counted signature');
  const countedSignature = perOperation(before, counters(flash), signatures);
  log(`  counted signature: ${countedSignature.bytesProgrammedPerOp} B programmed, ${countedSignature.sectorsErasedPerOp} sectors erased per signature (${signatures} signatures)`);

  const plain = options.quick ? 50 : 500;
  before = counters(flash);
  for (let index = 0; index < plain; index++) await expect(signApdu(1, 0x70, hash), 'signature');
  const uncountedSignature = perOperation(before, counters(flash), plain);
  await board.device.stop();

  const mount: MountPoint[] = [];
  const mounts = options.quick ? 3 : 9;
  const picoCapacity = layoutFor(PICO_GEOMETRY).capacityBytes;
  const fitsInPico: Record<string, boolean> = {};
  for (const objects of MOUNT_COUNTS) {
    fitsInPico[String(objects)] = objects * (FILE_BYTES + 18) <= picoCapacity;
    mount.push(measureMount(LARGE_GEOMETRY, objects, mounts));
    if (fitsInPico[String(objects)]) mount.push(measureMount(PICO_GEOMETRY, objects, mounts));
    log(`  mount ${objects} objects: ${mount.filter((point) => point.objects === objects).map((point) => `${point.mountMedianMs} ms (${point.region})`).join(', ')}`);
  }
  return {
    geometry: PICO_GEOMETRY,
    keyGeneration,
    countedSignature,
    uncountedSignature,
    mount,
    picoCapacityBytes: picoCapacity,
    fitsInPico,
    load1: round(loadavg()[0] ?? 0),
  };
}

function measureMount(geometry: FlashGeometry, objects: number, mounts: number): MountPoint {
  const flash = new SimFlash(geometry);
  const store = new LogStore(flash);
  const first = store.mount();
  if (!first.ok) throw new Error(`mount: ${first.failure.detail}`);
  const random = new SeededEntropy(objects);
  for (let index = 0; index < objects; index++) {
    const put = store.put(0x2000 + index, random.randomBytes(FILE_BYTES));
    if (!put.ok) throw new Error(`storing object ${index} of ${objects} on ${geometry.sectorCount} sectors: ${put.error.code}`);
  }
  const capacity = store.capacity();
  const times: number[] = [];
  for (let round = 0; round < mounts + 1; round++) {
    const started = performance.now();
    const outcome = new LogStore(flash).mount();
    const elapsed = performance.now() - started;
    if (!outcome.ok || outcome.report.files !== objects) throw new Error(`remount found ${outcome.ok ? outcome.report.files : 'nothing'} of ${objects} files`);
    if (round > 0) times.push(elapsed); // the first mount warms the JIT
  }
  times.sort((a, b) => a - b);
  return {
    objects,
    region: `${geometry.sectorCount} x ${geometry.sectorSize / 1024} KiB`,
    usedBytes: capacity.ok ? capacity.value.used : 0,
    capacityBytes: capacity.ok ? capacity.value.total : 0,
    mountMedianMs: round(times[Math.floor(times.length / 2)] ?? 0, 3),
    mounts,
  };
}
