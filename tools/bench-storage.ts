/**
 * Storage benchmark: mount time and update latency of the log store on the Pico geometry (1 MiB region, 256
 * sectors of 4 KiB, 256-byte pages) holding 1,000 files, on the simulated flash and on the host's file-backed flash.
 *
 *   npx tsx tools/bench-storage.ts            # or: npm run bench:storage
 *
 * The 1,000 files: 900 of 200-1,199 bytes that stay put and 100 of 256 bytes that the updates rewrite (so the live
 * data, about two thirds of the capacity, stays constant and the log reaches its steady state). Updates start after
 * a warm-up that sends the log once and a half around the region, so compaction cost is in the figures.
 *
 * Prints a table, then one line of JSON (prefixed `BENCH_STORAGE_JSON `) for scripts.
 * Host figures include an fsync after every update (the store makes each completed operation durable).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LogStore } from '../actors/storage/log-store.js';
import { MeasuredLogStore } from '../actors/storage/log-store-diagnostics.js';
import { FileFlash } from '../hal/host/flash.js';
import { SeededEntropy } from '../hal/sim/entropy.js';
import { SimFlash } from '../hal/sim/flash.js';
import type { Flash, FlashGeometry } from '../hal/types.js';

const PICO: FlashGeometry = { sectorSize: 4096, pageSize: 256, sectorCount: 256 };
const FILES = 1_000;
const UPDATED_FILES = 100;
const WARM_UP_UPDATES = 6_000;
const MOUNTS = 9;
const UPDATE_BYTES = 256;

interface Measurement {
  readonly flash: string;
  readonly files: number;
  readonly usedBytes: number;
  readonly capacityBytes: number;
  readonly mountMedianMs: number;
  readonly updates: number;
  readonly updateMedianMs: number;
  readonly updateP99Ms: number;
  readonly updateMaxMs: number;
  readonly writeAmplification: number;
  readonly erasesPerSectorMax: number;
  readonly erasesPerSectorMin: number;
}

function percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) return 0;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1));
  return sorted[index];
}

function fillStore(store: LogStore, random: SeededEntropy): void {
  for (let fileId = 0; fileId < FILES; fileId++) {
    const size = fileId < UPDATED_FILES ? UPDATE_BYTES : 200 + (random.nextUint32() % 1000);
    const put = store.put(fileId, random.randomBytes(size));
    if (!put.ok) throw new Error(`filling file ${fileId}: ${put.error.code}`);
  }
}

function measure(name: string, flash: Flash, updates: number): Measurement {
  const random = new SeededEntropy(2024);
  const store = new MeasuredLogStore(flash);
  const first = store.mount();
  if (!first.ok) throw new Error(`mount: ${first.failure.detail}`);
  fillStore(store, random);
  const capacity = store.capacity();
  if (!capacity.ok) throw new Error('capacity');

  const mountTimes: number[] = [];
  for (let round = 0; round < MOUNTS; round++) {
    const started = performance.now();
    const fresh = new LogStore(flash);
    const outcome = fresh.mount();
    mountTimes.push(performance.now() - started);
    if (!outcome.ok || outcome.report.files !== FILES) throw new Error('remount lost files');
  }
  mountTimes.sort((a, b) => a - b);

  const update = (): void => {
    const put = store.put(random.nextUint32() % UPDATED_FILES, random.randomBytes(UPDATE_BYTES));
    if (!put.ok) throw new Error(`warm-up update: ${put.error.code}`);
  };
  for (let round = 0; round < WARM_UP_UPDATES; round++) update();

  const before = store.statistics();
  const latencies: number[] = [];
  let callerBytes = 0;
  for (let update = 0; update < updates; update++) {
    const fileId = random.nextUint32() % UPDATED_FILES;
    const data = random.randomBytes(UPDATE_BYTES);
    const started = performance.now();
    const put = store.put(fileId, data);
    latencies.push(performance.now() - started);
    if (!put.ok) throw new Error(`update ${update}: ${put.error.code}`);
    callerBytes += UPDATE_BYTES;
  }
  const after = store.statistics();
  latencies.sort((a, b) => a - b);
  const erases = after.erasesBySector.map((count, sector) => count - before.erasesBySector[sector]);
  return {
    flash: name,
    files: FILES,
    usedBytes: capacity.value.used,
    capacityBytes: capacity.value.total,
    mountMedianMs: round3(percentile(mountTimes, 0.5)),
    updates,
    updateMedianMs: round3(percentile(latencies, 0.5)),
    updateP99Ms: round3(percentile(latencies, 0.99)),
    updateMaxMs: round3(latencies[latencies.length - 1] ?? 0),
    writeAmplification: round3((after.bytesProgrammed - before.bytesProgrammed) / callerBytes),
    erasesPerSectorMax: Math.max(...erases),
    erasesPerSectorMin: Math.min(...erases),
  };
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

function main(): void {
  const results: Measurement[] = [];
  results.push(measure('sim', new SimFlash(PICO), 20_000));

  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-storage-'));
  try {
    const hostFlash = new FileFlash(path.join(directory, 'flash.img'), PICO);
    results.push(measure('host file', hostFlash, 4_000));
    hostFlash.close();
  } finally {
    fs.rmSync(directory, { recursive: true, force: true });
  }

  console.log(
    `log store benchmark: Pico geometry (${PICO.sectorCount} sectors of ${PICO.sectorSize} B, ${PICO.pageSize} B pages), ${FILES} files, ` +
      `${UPDATE_BYTES}-byte updates of ${UPDATED_FILES} of them after ${WARM_UP_UPDATES} warm-up updates`,
  );
  console.table(
    results.map((result) => ({
      flash: result.flash,
      'live / capacity (B)': `${result.usedBytes} / ${result.capacityBytes}`,
      [`mount ms (median of ${MOUNTS})`]: result.mountMedianMs,
      updates: result.updates,
      'update median ms': result.updateMedianMs,
      'update p99 ms': result.updateP99Ms,
      'update max ms': result.updateMaxMs,
      'write amplification': result.writeAmplification,
      'erases/sector while measuring': `${result.erasesPerSectorMin}-${result.erasesPerSectorMax}`,
    })),
  );
  console.log(`BENCH_STORAGE_JSON ${JSON.stringify({ geometry: PICO, files: FILES, updatedFiles: UPDATED_FILES, updateBytes: UPDATE_BYTES, warmUpUpdates: WARM_UP_UPDATES, node: process.version, results })}`);
}

main();
