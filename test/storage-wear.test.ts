/**
 * Wear levelling: 100,000 updates on a 64-sector region with hot, warm and cold files (80% of the updates go to
 * 10% of the files; 15% of the files are written once and never again). The circular log should cycle every sector,
 * cold ones included, so the most-erased sector is within 20% of the mean. Prints the erase distribution and the
 * write amplification (bytes programmed / file bytes handed to the store).
 */
import { describe, expect, it } from 'vitest';
import { LogStore } from '../actors/storage/log-store.js';
import { MeasuredLogStore } from '../actors/storage/log-store-diagnostics.js';
import { SeededEntropy } from '../hal/sim/entropy.js';
import { SimFlash } from '../hal/sim/flash.js';
import type { FlashGeometry } from '../hal/types.js';

const GEOMETRY: FlashGeometry = { sectorSize: 4096, pageSize: 256, sectorCount: 64 };
const UPDATES = 100_000;
const FILES = 200;
const HOT = 20;
const COLD = 30;

describe('wear levelling', () => {
  it(`${UPDATES} updates with hot and cold files spread erases evenly`, () => {
    const started = performance.now();
    const flash = new SimFlash(GEOMETRY);
    const store = new MeasuredLogStore(flash);
    expect(store.mount().ok).toBe(true);
    const random = new SeededEntropy(0x5eed);
    const sizes: number[] = [];
    const latest = new Map<number, Uint8Array>();
    for (let fileId = 0; fileId < FILES; fileId++) {
      const size = 200 + (random.nextUint32() % 1000);
      sizes.push(size);
      const data = random.randomBytes(size);
      const put = store.put(fileId, data);
      if (!put.ok) throw new Error(`initial put ${fileId}: ${put.error.code}`);
      latest.set(fileId, data);
    }
    const initial = store.capacity();
    if (!initial.ok) throw new Error('capacity');
    flash.resetCounters();
    const before = store.statistics();

    let callerBytes = 0;
    for (let update = 0; update < UPDATES; update++) {
      const hot = random.nextUint32() % 100 < 80;
      const fileId = hot ? random.nextUint32() % HOT : HOT + (random.nextUint32() % (FILES - HOT - COLD));
      const size = Math.max(1, sizes[fileId] + (random.nextUint32() % 101) - 50);
      const data = random.randomBytes(size);
      const put = store.put(fileId, data);
      if (!put.ok) throw new Error(`update ${update} of file ${fileId}: ${put.error.code}`);
      latest.set(fileId, data);
      callerBytes += size;
    }

    const erases = [...flash.erasesBySector];
    const max = Math.max(...erases);
    const min = Math.min(...erases);
    const mean = erases.reduce((sum, count) => sum + count, 0) / erases.length;
    const amplification = flash.bytesProgrammed / callerBytes;
    const statistics = store.statistics();
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `wear: ${UPDATES} updates of ${FILES} files (${HOT} hot with 80% of updates, ${COLD} cold never updated), ` +
        `${initial.value.used} of ${initial.value.total} bytes live (${((100 * initial.value.used) / initial.value.total).toFixed(0)}%); ` +
        `erases per sector max ${max}, mean ${mean.toFixed(1)}, min ${min}, max/mean ${(max / mean).toFixed(3)}; ` +
        `write amplification ${amplification.toFixed(2)} (${flash.bytesProgrammed} bytes programmed for ${callerBytes} written by callers); ` +
        `${statistics.reclaims - before.reclaims} reclaims, ${statistics.recordsCopied - before.recordsCopied} records copied; ${seconds.toFixed(1)} s`,
    );

    expect(flash.overwrittenBytes).toBe(0);
    expect(min).toBeGreaterThan(0);
    expect(max / mean).toBeLessThanOrEqual(1.2);
    // Every file, cold ones included, is intact after all that copying, also after a remount.
    const again = new LogStore(flash);
    expect(again.mount().ok).toBe(true);
    for (const [fileId, data] of latest) {
      const read = again.read(fileId);
      expect(read.ok && Buffer.compare(read.value.data, data) === 0, `file ${fileId}`).toBe(true);
    }
  });
});
