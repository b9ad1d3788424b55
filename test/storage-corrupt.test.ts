/**
 * Damaged and hostile flash images: random images, and valid images mutated (bit flips, zeroed and erased pages,
 * forged sector and record headers, wrong CRCs, duplicated sectors, unknown format versions). The store must answer
 * every one with a typed result (never a throw), must never return file content that is not something that was
 * written to that file, and must leave an image of an unknown format version byte for byte untouched.
 */
import { describe, expect, it } from 'vitest';
import { LogStore, SECTOR_HEADER_BYTES, encodeSectorHeader, encodeRecordBytes } from '../actors/storage/log-store.js';
import { crc32 } from '../actors/storage/crc32.js';
import { SeededEntropy } from '../hal/sim/entropy.js';
import { SimFlash, mixSeed } from '../hal/sim/flash.js';
import { type FlashGeometry } from '../hal/types.js';
import { toHex } from '../messages/schema.js';

const GEOMETRY: FlashGeometry = { sectorSize: 4096, pageSize: 256, sectorCount: 16 };
const REGION = GEOMETRY.sectorSize * GEOMETRY.sectorCount;

type History = Map<number, Set<string>>;

function below(random: SeededEntropy, bound: number): number {
  return random.nextUint32() % bound;
}

/** A store with a known history of every version ever written to each file. */
function buildValidImage(seed: number): { image: Uint8Array; history: History } {
  const flash = new SimFlash(GEOMETRY);
  const store = new LogStore(flash);
  store.mount();
  const random = new SeededEntropy(seed);
  const history: History = new Map();
  const rounds = 30 + below(random, 120);
  for (let round = 0; round < rounds; round++) {
    const fileId = below(random, 14) | (below(random, 2) << 8);
    if (below(random, 8) === 0) {
      store.delete(fileId);
      continue;
    }
    const data = random.randomBytes(below(random, 10) < 7 ? below(random, 400) : below(random, 4097));
    if (store.put(fileId, data).ok) {
      const versions = history.get(fileId) ?? new Set<string>();
      versions.add(toHex(data));
      history.set(fileId, versions);
    }
  }
  if (below(random, 4) === 0) store.wipe([...history.keys()].filter(() => below(random, 2) === 0));
  return { image: flash.snapshot(), history };
}

type Mutation = (image: Uint8Array, random: SeededEntropy) => string;

const MUTATIONS: Readonly<Record<string, Mutation>> = {
  bitFlips: (image, random) => {
    const count = 1 + below(random, 40);
    for (let flip = 0; flip < count; flip++) image[below(random, REGION)] ^= 1 << below(random, 8);
    return `${count} bit flips`;
  },
  zeroedPage: (image, random) => {
    const page = below(random, REGION / GEOMETRY.pageSize);
    image.fill(0, page * GEOMETRY.pageSize, (page + 1) * GEOMETRY.pageSize);
    return `page ${page} zeroed`;
  },
  erasedPage: (image, random) => {
    const page = below(random, REGION / GEOMETRY.pageSize);
    image.fill(0xff, page * GEOMETRY.pageSize, (page + 1) * GEOMETRY.pageSize);
    return `page ${page} erased`;
  },
  forgedSectorHeader: (image, random) => {
    const sector = below(random, GEOMETRY.sectorCount);
    const header = encodeSectorHeader(below(random, 3) === 0 ? random.nextUint32() : below(random, 64), below(random, 64), below(random, GEOMETRY.sectorSize - SECTOR_HEADER_BYTES + 1));
    image.set(header, sector * GEOMETRY.sectorSize);
    if (below(random, 2) === 0) image[sector * GEOMETRY.sectorSize + 20] = below(random, 2) === 0 ? 0xff : 0x00;
    return `forged header on sector ${sector}`;
  },
  randomSectorHeader: (image, random) => {
    const sector = below(random, GEOMETRY.sectorCount);
    image.set(random.randomBytes(SECTOR_HEADER_BYTES), sector * GEOMETRY.sectorSize);
    return `random header bytes on sector ${sector}`;
  },
  forgedRecordHeader: (image, random) => {
    // A record header whose own CRC is right but whose data CRC is not (the data is not a real file version).
    const address = below(random, REGION - 64);
    const record = encodeRecordBytes(below(random, 3) === 0 ? 'tombstone' : 'data', below(random, 16), random.nextUint32() % 5000, random.randomBytes(below(random, 4097)));
    const header = record.subarray(0, 18);
    if (header[1] === 1) {
      header[10] ^= 0x01; // break the data CRC ...
      header.set(u32(crc32(header, 0, 0, 14)), 14); // ... and re-seal the header
    }
    image.set(header, address);
    return `forged record header at ${address}`;
  },
  wrongCrcs: (image, random) => {
    let changed = 0;
    for (let attempt = 0; attempt < 2000 && changed < 3; attempt++) {
      const address = below(random, REGION - 18);
      if (image[address] !== 0x5a) continue;
      image[address + 10 + below(random, 8)] ^= 1 << below(random, 8);
      changed += 1;
    }
    return `${changed} record CRC fields damaged`;
  },
  duplicatedSector: (image, random) => {
    const from = below(random, GEOMETRY.sectorCount);
    const to = below(random, GEOMETRY.sectorCount);
    image.copyWithin(to * GEOMETRY.sectorSize, from * GEOMETRY.sectorSize, (from + 1) * GEOMETRY.sectorSize);
    return `sector ${from} copied over ${to}`;
  },
  retiredFlags: (image, random) => {
    const sector = below(random, GEOMETRY.sectorCount);
    image[sector * GEOMETRY.sectorSize + 20] = below(random, 256);
    return `retired flag of sector ${sector} set to ${image[sector * GEOMETRY.sectorSize + 20]}`;
  },
};

function u32(value: number): Uint8Array {
  return new Uint8Array([value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, (value >>> 24) & 0xff]);
}

interface Verdict {
  mounted: boolean;
  files: number;
  problems: string[];
}

/** Mounts, recovers, reads everything, writes a little and remounts; every answer must be typed and honest. */
function exercise(image: Uint8Array, history: History | undefined): Verdict {
  const flash = new SimFlash(GEOMETRY, image);
  const problems: string[] = [];
  const store = new LogStore(flash);
  const outcome = store.mount();
  if (!outcome.ok) {
    if (outcome.failure.reason !== 'unsupportedFormat') problems.push(`unexpected failure ${outcome.failure.reason}`);
    const refused = store.put(1, new Uint8Array(1));
    if (refused.ok) problems.push('a failed store accepted a put');
    return { mounted: false, files: 0, problems };
  }
  if (outcome.report.recoveryNeeded) {
    const recovered = store.recover();
    if (!recovered.ok) return { mounted: true, files: 0, problems };
  }
  const listed = store.list();
  if (!listed.ok) return { mounted: true, files: 0, problems };
  for (const fileId of listed.value.fileIds) {
    const read = store.read(fileId);
    if (!read.ok) {
      if (read.error.code !== 'unavailable') problems.push(`read of listed file ${fileId} answered ${read.error.code}`);
      continue;
    }
    if (history !== undefined && !(history.get(fileId)?.has(toHex(read.value.data)) ?? false)) {
      problems.push(`file ${fileId} returned ${read.value.data.length} bytes that were never written to it`);
    }
  }
  // The store must stay writable or refuse in a typed way; what it accepts it must give back, also after a remount.
  const written = new Map<number, Uint8Array>();
  for (let index = 0; index < 4; index++) {
    const data = new SeededEntropy(mixSeed(index, image.length)).randomBytes(300 + index * 900);
    const fileId = 0x7000 + index;
    const put = store.put(fileId, data);
    if (put.ok) written.set(fileId, data);
  }
  const again = new LogStore(flash);
  const remount = again.mount();
  if (remount.ok && remount.report.recoveryNeeded) again.recover();
  if (remount.ok && again.status === 'mounted') {
    for (const [fileId, data] of written) {
      const read = again.read(fileId);
      if (read.ok && toHex(read.value.data) !== toHex(data)) problems.push(`file ${fileId} read back different content after a remount`);
    }
  }
  return { mounted: true, files: listed.value.fileIds.length, problems };
}

describe('corrupt flash images', () => {
  it('random images mount to a typed result', () => {
    let mounted = 0;
    const cases = 300;
    for (let seed = 0; seed < cases; seed++) {
      const random = new SeededEntropy(mixSeed(seed, 0xbad));
      const image = new Uint8Array(REGION).fill(0xff);
      // Mostly random sectors, some erased, some with a valid-looking header over random payload.
      for (let sector = 0; sector < GEOMETRY.sectorCount; sector++) {
        const kind = below(random, 4);
        const start = sector * GEOMETRY.sectorSize;
        if (kind === 0) continue;
        image.set(random.randomBytes(GEOMETRY.sectorSize), start);
        if (kind === 3) image.set(encodeSectorHeader(below(random, 20), below(random, 5), below(random, 300)), start);
      }
      const verdict = exercise(image, undefined);
      expect(verdict.problems, `random image ${seed}`).toEqual([]);
      if (verdict.mounted) mounted += 1;
    }
    console.log(`random images: ${cases}, mounted ${mounted}, refused ${cases - mounted}, no throw`);
  });

  it('mutated valid images never yield content that was not written', () => {
    const counts = new Map<string, number>();
    let mounted = 0;
    let filesServed = 0;
    const cases = 500;
    const names = Object.keys(MUTATIONS);
    for (let seed = 0; seed < cases; seed++) {
      const random = new SeededEntropy(mixSeed(seed, 0x3a7));
      const { image, history } = buildValidImage(mixSeed(seed, 1));
      const applied: string[] = [];
      const rounds = 1 + below(random, 3);
      for (let round = 0; round < rounds; round++) {
        const name = names[below(random, names.length)];
        const mutation = MUTATIONS[name];
        if (mutation === undefined) throw new Error(`no mutation ${name}`);
        applied.push(mutation(image, random));
        counts.set(name, (counts.get(name) ?? 0) + 1);
      }
      const verdict = exercise(image, history);
      expect(verdict.problems, `case ${seed}: ${applied.join('; ')}`).toEqual([]);
      if (verdict.mounted) mounted += 1;
      filesServed += verdict.files;
    }
    console.log(`mutated images: ${cases}, mounted ${mounted}, files served ${filesServed}, mutations ${JSON.stringify(Object.fromEntries(counts))}`);
  });

  it('an unknown format version is reported and the image left byte for byte as it was', () => {
    for (let seed = 0; seed < 40; seed++) {
      const random = new SeededEntropy(mixSeed(seed, 0x7e));
      const { image } = buildValidImage(mixSeed(seed, 2));
      const sector = below(random, GEOMETRY.sectorCount);
      const version = 2 + below(random, 254);
      image.set(encodeSectorHeader(below(random, 1000), 0, 0, version), sector * GEOMETRY.sectorSize);
      const original = image.slice();
      const flash = new SimFlash(GEOMETRY, image);
      const store = new LogStore(flash);
      const outcome = store.mount();
      expect(outcome.ok).toBe(false);
      if (!outcome.ok) expect(outcome.failure).toMatchObject({ reason: 'unsupportedFormat' });
      expect(store.recover().ok).toBe(false);
      expect(store.put(1, new Uint8Array(10)).ok).toBe(false);
      expect(store.wipe([]).ok).toBe(false);
      expect(Buffer.compare(flash.snapshot(), original), 'image changed').toBe(0);
      expect(flash.eraseCalls + flash.programCalls).toBe(0);
    }
  });

  it('a file whose bytes decay after mounting is refused, not returned wrong', () => {
    const flash = new SimFlash(GEOMETRY);
    const store = new LogStore(flash);
    store.mount();
    const data = new SeededEntropy(5).randomBytes(2000);
    expect(store.put(0x42, data).ok).toBe(true);
    const image = flash.snapshot();
    const marker = data.subarray(500, 532);
    let found = -1;
    for (let start = 0; start + marker.length <= image.length && found < 0; start++) {
      if (marker.every((byte, index) => image[start + index] === byte)) found = start;
    }
    expect(found).toBeGreaterThan(0);
    image[found] ^= 0x10;
    flash.restore(image);
    const read = store.read(0x42);
    expect(read.ok).toBe(false);
    if (!read.ok) expect(read.error).toMatchObject({ code: 'unavailable', reason: 'flashFault' });
    const patched = store.patch(0x42, 0, new Uint8Array([1]));
    expect(patched.ok).toBe(false);
  });
});
