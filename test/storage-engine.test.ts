import { describe, expect, it } from 'vitest';
import { crc32 } from '../actors/storage/crc32.js';
import { LogStore, RECORD_HEADER_BYTES, SECTOR_HEADER_BYTES, encodeSectorHeader, layoutFor } from '../actors/storage/log-store.js';
import { MeasuredLogStore } from '../actors/storage/log-store-diagnostics.js';
import { SeededEntropy } from '../hal/sim/entropy.js';
import { SimFlash } from '../hal/sim/flash.js';
import { FlashError, type FlashGeometry } from '../hal/types.js';
import { MAX_FILE_BYTES } from '../messages/storage.js';

const SMALL: FlashGeometry = { sectorSize: 4096, pageSize: 256, sectorCount: 16 };
const PICO: FlashGeometry = { sectorSize: 4096, pageSize: 256, sectorCount: 256 };

function mounted(geometry: FlashGeometry = SMALL): { flash: SimFlash; store: MeasuredLogStore } {
  const flash = new SimFlash(geometry);
  const store = new MeasuredLogStore(flash);
  const outcome = store.mount();
  if (!outcome.ok) throw new Error('a blank region must mount');
  return { flash, store };
}

function fill(seed: number, length: number): Uint8Array {
  return new SeededEntropy(seed).randomBytes(length);
}

function valueOf<V>(result: { ok: true; value: V } | { ok: false; error: unknown }): V {
  if (!result.ok) throw new Error(`expected success, got ${JSON.stringify(result.error)}`);
  return result.value;
}

function errorOf<E>(result: { ok: true; value: unknown } | { ok: false; error: E }): E {
  if (result.ok) throw new Error('expected an error');
  return result.error;
}

function contents(store: LogStore): Map<number, Uint8Array> {
  const map = new Map<number, Uint8Array>();
  for (const fileId of valueOf(store.list()).fileIds) map.set(fileId, valueOf(store.read(fileId)).data);
  return map;
}

function sameImage(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}

function containsBytes(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let start = 0; start + needle.length <= haystack.length; start++) {
    for (let index = 0; index < needle.length; index++) if (haystack[start + index] !== needle[index]) continue outer;
    return true;
  }
  return false;
}

describe('crc32', () => {
  it('matches the CRC-32/IEEE check value and continues incrementally', () => {
    const text = new TextEncoder().encode('123456789');
    expect(crc32(text)).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
    for (let split = 0; split <= text.length; split++) expect(crc32(text.subarray(split), crc32(text.subarray(0, split)))).toBe(0xcbf43926);
    expect(crc32(text, 0, 2, 7)).toBe(crc32(text.subarray(2, 7)));
  });
});

describe('layout and capacity formulas', () => {
  it('follow the specification for the Pico and the small test geometry', () => {
    const pico = layoutFor(PICO);
    expect(pico.payloadBytes).toBe(4096 - SECTOR_HEADER_BYTES);
    expect(pico.maxRecordBytes).toBe(RECORD_HEADER_BYTES + MAX_FILE_BYTES);
    expect(pico.capacityBytes).toBe(1_017_051);
    expect(pico.limitBytes - pico.capacityBytes).toBe(2 * pico.maxMarkerBytes);
    const small = layoutFor(SMALL);
    expect(small.capacityBytes).toBe((16 - 3) * 4072 - (4114 - 1) - 2 * (4114 + 256) - 2 * 156);
    console.log(`capacity: Pico region ${pico.capacityBytes} of ${256 * 4096} bytes (${((100 * pico.capacityBytes) / (256 * 4096)).toFixed(1)}%), 16-sector region ${small.capacityBytes} of ${16 * 4096}`);
  });

  it('refuses a geometry that cannot hold one largest file', () => {
    expect(() => layoutFor({ sectorSize: 4096, pageSize: 256, sectorCount: 5 })).toThrow(RangeError);
    expect(() => layoutFor({ sectorSize: 32, pageSize: 16, sectorCount: 4096 })).toThrow(RangeError);
    expect(() => new LogStore(new SimFlash({ sectorSize: 4096, pageSize: 256, sectorCount: 4 }))).toThrow(RangeError);
  });
});

describe('file operations', () => {
  it('a blank region is an empty store', () => {
    const { store } = mounted();
    expect(valueOf(store.capacity())).toEqual({ total: layoutFor(SMALL).capacityBytes, used: 0, free: layoutFor(SMALL).capacityBytes, largestWritable: MAX_FILE_BYTES, files: 0 });
    expect(valueOf(store.list()).fileIds).toEqual([]);
    expect(errorOf(store.read(1))).toEqual({ code: 'notFound', fileId: 1 });
  });

  it('put, read (whole and ranges), stat, delete', () => {
    const { store } = mounted();
    const data = fill(1, 1000);
    expect(valueOf(store.put(0x1234, data))).toEqual({ size: 1000 });
    expect(valueOf(store.read(0x1234))).toEqual({ data, size: 1000 });
    expect(valueOf(store.read(0x1234, 990)).data).toEqual(data.slice(990));
    expect(valueOf(store.read(0x1234, 100, 10)).data).toEqual(data.slice(100, 110));
    expect(valueOf(store.read(0x1234, 995, 100)).data).toEqual(data.slice(995)); // clipped
    expect(valueOf(store.read(0x1234, 1000)).data.length).toBe(0);
    expect(errorOf(store.read(0x1234, 1001))).toEqual({ code: 'badRange', offset: 1001, size: 1000 });
    expect(valueOf(store.stat(0x1234))).toEqual({ size: 1000 });
    expect(valueOf(store.put(0x1234, new Uint8Array(0)))).toEqual({ size: 0 });
    expect(valueOf(store.read(0x1234)).data.length).toBe(0);
    expect(valueOf(store.delete(0x1234))).toEqual({});
    expect(errorOf(store.stat(0x1234)).code).toBe('notFound');
    expect(errorOf(store.delete(0x1234))).toEqual({ code: 'notFound', fileId: 0x1234 });
  });

  it('lists ids ascending, optionally by high byte', () => {
    const { store } = mounted();
    for (const fileId of [0xc402, 0x0101, 0xc401, 0x0100, 0x2f00]) valueOf(store.put(fileId, fill(fileId, 10)));
    expect(valueOf(store.list()).fileIds).toEqual([0x0100, 0x0101, 0x2f00, 0xc401, 0xc402]);
    expect(valueOf(store.list(0xc4)).fileIds).toEqual([0xc401, 0xc402]);
    expect(valueOf(store.list(0x01)).fileIds).toEqual([0x0100, 0x0101]);
    expect(valueOf(store.list(0x77)).fileIds).toEqual([]);
  });

  it('patches at an offset, growing the file, and refuses bad ranges', () => {
    const { store } = mounted();
    const original = fill(2, 600);
    valueOf(store.put(7, original));
    const patch = fill(3, 50);
    expect(valueOf(store.patch(7, 100, patch))).toEqual({ size: 600 });
    const expected = original.slice();
    expected.set(patch, 100);
    expect(valueOf(store.read(7)).data).toEqual(expected);
    expect(valueOf(store.patch(7, 580, patch))).toEqual({ size: 630 });
    const grown = new Uint8Array(630);
    grown.set(expected);
    grown.set(patch, 580);
    expect(valueOf(store.read(7)).data).toEqual(grown);
    expect(valueOf(store.patch(7, 630, new Uint8Array([1])))).toEqual({ size: 631 }); // append at the end
    expect(errorOf(store.patch(7, 632, new Uint8Array([1])))).toEqual({ code: 'badRange', offset: 632, size: 631 });
    expect(errorOf(store.patch(8, 0, new Uint8Array([1])))).toEqual({ code: 'notFound', fileId: 8 });
    expect(errorOf(store.patch(7, 631, new Uint8Array(MAX_FILE_BYTES)))).toEqual({ code: 'tooLarge', size: 631 + MAX_FILE_BYTES, max: MAX_FILE_BYTES });
  });

  it('refuses a file above MAX_FILE_BYTES without writing anything', () => {
    const { flash, store } = mounted();
    valueOf(store.put(1, fill(4, 100)));
    const image = flash.snapshot();
    expect(errorOf(store.put(2, new Uint8Array(MAX_FILE_BYTES + 1)))).toEqual({ code: 'tooLarge', size: MAX_FILE_BYTES + 1, max: MAX_FILE_BYTES });
    expect(sameImage(flash.snapshot(), image)).toBe(true);
    expect(valueOf(store.put(2, new Uint8Array(MAX_FILE_BYTES))).size).toBe(MAX_FILE_BYTES);
  });

  it('accounts used bytes as live records with headers', () => {
    const { store } = mounted();
    valueOf(store.put(1, new Uint8Array(100)));
    valueOf(store.put(2, new Uint8Array(4000)));
    valueOf(store.put(1, new Uint8Array(300)));
    const capacity = valueOf(store.capacity());
    expect(capacity.used).toBe(2 * RECORD_HEADER_BYTES + 300 + 4000);
    expect(capacity.free).toBe(capacity.total - capacity.used);
    expect(capacity.files).toBe(2);
    valueOf(store.delete(2));
    expect(valueOf(store.capacity()).used).toBe(RECORD_HEADER_BYTES + 300);
  });

  it('a remount reads exactly what the running store holds', () => {
    const { flash, store } = mounted();
    const random = new SeededEntropy(5);
    for (let round = 0; round < 400; round++) {
      const fileId = random.nextUint32() % 12;
      if (random.nextUint32() % 5 === 0) store.delete(fileId);
      else store.put(fileId, random.randomBytes(random.nextUint32() % 3000));
    }
    const again = new LogStore(flash);
    const outcome = again.mount();
    expect(outcome.ok && outcome.report.recoveryNeeded).toBe(false);
    expect(contents(again)).toEqual(contents(store));
    expect(valueOf(again.capacity())).toEqual(valueOf(store.capacity()));
    expect(flash.overwrittenBytes).toBe(0);
    expect(store.statistics().bytesProgrammed).toBe(flash.bytesProgrammed);
    expect(store.statistics().erasesBySector).toEqual([...flash.erasesBySector]);
  });

  it('tells its listener when a write has to compact first', () => {
    const flash = new SimFlash(SMALL);
    const events: string[] = [];
    const store = new MeasuredLogStore(flash, { compactionStarted: () => events.push('started'), compactionFinished: () => events.push('finished') });
    store.mount();
    for (let round = 0; round < 40; round++) valueOf(store.put(round % 3, fill(round, 3000)));
    expect(events.length).toBeGreaterThan(0);
    expect(events.filter((event) => event === 'started').length).toBe(events.filter((event) => event === 'finished').length);
    expect(store.statistics().reclaims).toBeGreaterThan(0);
  });

  it('answers unavailable until mounted', () => {
    const store = new LogStore(new SimFlash(SMALL));
    expect(errorOf(store.put(1, new Uint8Array(1)))).toMatchObject({ code: 'unavailable', reason: 'notMounted' });
    expect(errorOf(store.capacity())).toMatchObject({ code: 'unavailable', reason: 'notMounted' });
    expect(() => store.put(0x10000, new Uint8Array(1))).toThrow(RangeError);
  });
});

describe('a full store', () => {
  it('answers full before touching flash: no image byte and no file changes', () => {
    const { flash, store } = mounted();
    const total = valueOf(store.capacity()).total;
    let fileId = 0;
    for (;;) {
      const free = valueOf(store.capacity()).free;
      if (free < RECORD_HEADER_BYTES + 4000) break;
      valueOf(store.put(fileId, fill(fileId, 4000)));
      fileId += 1;
    }
    // Fill the remainder exactly: a put of exactly `free` bytes of record fits.
    const free = valueOf(store.capacity()).free;
    valueOf(store.put(0x7777, fill(9, free - RECORD_HEADER_BYTES)));
    const capacity = valueOf(store.capacity());
    expect(capacity).toMatchObject({ used: total, free: 0, largestWritable: 0 });

    const image = flash.snapshot();
    const before = contents(store);
    expect(errorOf(store.put(0x8888, new Uint8Array(1)))).toEqual({ code: 'full', needed: RECORD_HEADER_BYTES + 1, available: 0 });
    expect(errorOf(store.put(0, fill(1, 4000)))).toEqual({ code: 'full', needed: RECORD_HEADER_BYTES + 4000, available: 0 });
    expect(errorOf(store.patch(1, 10, new Uint8Array(5)))).toEqual({ code: 'full', needed: RECORD_HEADER_BYTES + 4000, available: 0 });
    expect(sameImage(flash.snapshot(), image)).toBe(true);
    expect(contents(store)).toEqual(before);

    // Deleting always fits, and frees room for what was refused.
    valueOf(store.delete(0));
    valueOf(store.delete(1));
    valueOf(store.put(0x8888, fill(10, 4000)));
    const remounted = new LogStore(flash);
    remounted.mount();
    expect(valueOf(remounted.read(0x8888)).data).toEqual(fill(10, 4000));
    expect(flash.overwrittenBytes).toBe(0);
    console.log(`full store: ${fileId + 1} files, ${capacity.used} bytes used of ${capacity.total}, ${store.statistics().reclaims} reclaims`);
  });

  it('keeps accepting updates when only one update fits (compaction always finds room)', () => {
    const { flash, store } = mounted();
    const random = new SeededEntropy(11);
    let fileId = 0;
    // An update needs room for the new version while the old one exists: leave exactly that much.
    while (valueOf(store.capacity()).free >= 2 * (RECORD_HEADER_BYTES + 2000)) valueOf(store.put(fileId++, random.randomBytes(2000)));
    expect(valueOf(store.capacity()).free).toBeLessThan(2 * (RECORD_HEADER_BYTES + 2000));
    for (let round = 0; round < 2000; round++) {
      const target = random.nextUint32() % fileId;
      valueOf(store.put(target, random.randomBytes(2000)));
    }
    const again = new LogStore(flash);
    again.mount();
    expect(contents(again)).toEqual(contents(store));
  });
});

describe('wipe, format and foreign formats', () => {
  it('wipe keeps the listed files and leaves no byte of the others anywhere in flash', () => {
    const { flash, store } = mounted();
    const secrets = new Map<number, Uint8Array>();
    for (let fileId = 0; fileId < 20; fileId++) {
      const data = fill(100 + fileId, 200 + fileId * 90);
      secrets.set(fileId, data);
      valueOf(store.put(fileId, data));
      valueOf(store.put(fileId, data)); // and an older copy of each
    }
    valueOf(store.wipe([3, 7, 500]));
    expect(valueOf(store.list()).fileIds).toEqual([3, 7]);
    expect(valueOf(store.read(7)).data).toEqual(secrets.get(7));
    const image = flash.snapshot();
    for (const [fileId, data] of secrets) {
      expect(containsBytes(image, data.slice(0, 64)), `file ${fileId} bytes in flash`).toBe(fileId === 3 || fileId === 7);
    }
    const again = new LogStore(flash);
    const outcome = again.mount();
    expect(outcome.ok && outcome.report.recoveryNeeded).toBe(false);
    expect(valueOf(again.list()).fileIds).toEqual([3, 7]);
    valueOf(again.put(9, new Uint8Array([9])));
    expect(valueOf(again.list()).fileIds).toEqual([3, 7, 9]);
  });

  it('a wipe cut after its commit is finished by recovery', () => {
    const { flash, store } = mounted();
    for (let fileId = 0; fileId < 12; fileId++) valueOf(store.put(fileId, fill(fileId, 3000)));
    const image = flash.snapshot();
    // Count the wipe's flash operations, then cut it late (after the committed marker).
    const counter = new SimFlash(SMALL, image);
    const counting = new LogStore(counter);
    counting.mount();
    valueOf(counting.wipe([1]));
    const operations = counter.programCalls + counter.eraseCalls;
    flash.armPowerCut({ atOperation: operations - 1, flipSeed: 3 });
    expect(() => store.wipe([1])).toThrow(FlashError);
    flash.powerOn();
    const recovering = new LogStore(flash);
    const outcome = recovering.mount();
    expect(outcome.ok && outcome.report.recoveryNeeded).toBe(true);
    expect(recovering.status).toBe('recovering');
    expect(errorOf(recovering.list())).toMatchObject({ code: 'unavailable', reason: 'notMounted' });
    valueOf(recovering.recover());
    expect(valueOf(recovering.list()).fileIds).toEqual([1]);
    const image2 = flash.snapshot();
    expect(containsBytes(image2, fill(2, 3000).slice(0, 64))).toBe(false);
  });

  it('format erases everything and leaves a usable empty store', () => {
    const { flash, store } = mounted();
    for (let fileId = 0; fileId < 10; fileId++) valueOf(store.put(fileId, fill(fileId, 2500)));
    valueOf(store.format());
    expect(valueOf(store.list()).fileIds).toEqual([]);
    const image = flash.snapshot();
    const nonErased = image.reduce((count, byte) => count + (byte === 0xff ? 0 : 1), 0);
    expect(nonErased).toBeLessThanOrEqual(SECTOR_HEADER_BYTES); // only the new first sector's header
    valueOf(store.put(5, new Uint8Array([5])));
    const again = new LogStore(flash);
    again.mount();
    expect(valueOf(again.list()).fileIds).toEqual([5]);
  });

  it('format straight after an interrupted write (no remount) still erases everything the cut left', () => {
    const geometry: FlashGeometry = { sectorSize: 1024, pageSize: 256, sectorCount: 24 };
    let cutPrograms = 0;
    for (let cutAt = 1; cutAt <= 40; cutAt++) {
      const { flash, store } = mounted(geometry);
      for (let round = 0; round < 30; round++) valueOf(store.put(round % 5, fill(round, 700)));
      flash.armPowerCut({ atOperation: cutAt, flipSeed: cutAt * 7919 });
      try {
        for (let round = 0; round < 10; round++) store.put(round % 5, fill(round, 900));
      } catch (error) {
        if (!(error instanceof FlashError)) throw error;
      }
      if (!flash.isPoweredOff) throw new Error(`no cut at operation ${cutAt}`);
      if (flash.lastPowerCut?.operation === 'program') cutPrograms += 1;
      flash.powerOn();
      // The store's sector map is stale now (a sector it calls blank may hold a cut header): format must not trust it.
      valueOf(store.format());
      const nonErased = flash.snapshot().reduce((count, byte) => count + (byte === 0xff ? 0 : 1), 0);
      expect(nonErased, `cut at operation ${cutAt}`).toBeLessThanOrEqual(SECTOR_HEADER_BYTES);
    }
    expect(cutPrograms).toBeGreaterThan(0);
  });

  it('reports an unknown format version, never erases it, and formats only when asked', () => {
    const { flash, store } = mounted();
    for (let fileId = 0; fileId < 5; fileId++) valueOf(store.put(fileId, fill(fileId, 3000)));
    const newer = encodeSectorHeader(5000, 0, 0, 2);
    const blank = store.describeSectors().find((sector) => sector.condition === 'blank');
    if (blank === undefined) throw new Error('no blank sector');
    flash.program(blank.physical * SMALL.sectorSize, newer);
    const image = flash.snapshot();
    const future = new LogStore(flash);
    const outcome = future.mount();
    expect(outcome.ok).toBe(false);
    if (outcome.ok) return;
    expect(outcome.failure.reason).toBe('unsupportedFormat');
    expect(outcome.failure.detail).toContain('version 2');
    expect(future.status).toBe('failed');
    expect(errorOf(future.read(0))).toMatchObject({ code: 'unavailable', reason: 'unsupportedFormat' });
    expect(errorOf(future.put(9, new Uint8Array(1)))).toMatchObject({ code: 'unavailable', reason: 'unsupportedFormat' });
    expect(errorOf(future.recover())).toMatchObject({ code: 'unavailable', reason: 'unsupportedFormat' });
    expect(sameImage(flash.snapshot(), image)).toBe(true);
    valueOf(future.format());
    expect(future.status).toBe('mounted');
    expect(valueOf(future.list()).fileIds).toEqual([]);
    const again = new LogStore(flash);
    expect(again.mount().ok).toBe(true);
  });

  it('refuses a region holding data that is not a log store', () => {
    const flash = new SimFlash(SMALL);
    flash.program(5 * 4096 + 700, new Uint8Array([1, 2, 3]));
    const store = new LogStore(flash);
    const outcome = store.mount();
    expect(outcome.ok).toBe(false);
    if (!outcome.ok) expect(outcome.failure.reason).toBe('unsupportedFormat');
    valueOf(store.format());
    expect(valueOf(store.capacity()).files).toBe(0);
  });
});
