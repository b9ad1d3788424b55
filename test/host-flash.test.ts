import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LogStore } from '../actors/storage/log-store.js';
import { FileFlash } from '../hal/host/flash.js';
import { FlashError, type FlashGeometry } from '../hal/types.js';

const GEOMETRY: FlashGeometry = { sectorSize: 4096, pageSize: 256, sectorCount: 8 };

let directory: string;
let imagePath: string;

beforeEach(() => {
  directory = fs.mkdtempSync(path.join(os.tmpdir(), 'host-flash-'));
  imagePath = path.join(directory, 'flash.img');
});

afterEach(() => {
  fs.rmSync(directory, { recursive: true, force: true });
});

function flashError(action: () => unknown): FlashError {
  try {
    action();
  } catch (error) {
    if (error instanceof FlashError) return error;
    throw error;
  }
  throw new Error('expected a FlashError');
}

describe('FileFlash', () => {
  it('creates a missing image filled with 0xFF, readable only by its owner', () => {
    const flash = new FileFlash(imagePath, GEOMETRY);
    const stat = fs.statSync(imagePath);
    expect(stat.size).toBe(GEOMETRY.sectorSize * GEOMETRY.sectorCount);
    expect(stat.mode & 0o077).toBe(0);
    expect(fs.readFileSync(imagePath).every((byte) => byte === 0xff)).toBe(true);
    expect(flash.read(100, 16).every((byte) => byte === 0xff)).toBe(true);
    flash.close();
  });

  it('programs as NOR does (old AND new) and only inside one page', () => {
    const flash = new FileFlash(imagePath, GEOMETRY);
    flash.program(300, new Uint8Array([0xf0, 0x0f, 0x55]));
    flash.program(300, new Uint8Array([0x3c, 0xff, 0xff])); // would need 0 -> 1 on real NOR: the result is the AND
    expect([...flash.read(300, 3)]).toEqual([0x30, 0x0f, 0x55]);
    expect(flashError(() => flash.program(510, new Uint8Array(4))).reason).toBe('misaligned');
    expect(flashError(() => flash.program(GEOMETRY.sectorSize * GEOMETRY.sectorCount - 1, new Uint8Array(2))).reason).toBe('outOfRange');
    expect(flashError(() => flash.read(-4, 4)).reason).toBe('outOfRange');
    flash.close();
  });

  it('erases a whole sector and nothing else', () => {
    const flash = new FileFlash(imagePath, GEOMETRY);
    flash.program(4096 + 10, new Uint8Array([1, 2, 3]));
    flash.program(8192, new Uint8Array([4]));
    flash.erase(1);
    expect(flash.read(4096, 4096).every((byte) => byte === 0xff)).toBe(true);
    expect(flash.read(8192, 1)[0]).toBe(4);
    expect(flashError(() => flash.erase(8)).reason).toBe('outOfRange');
    flash.close();
  });

  it('keeps what was written across reopening (sync is fsync)', () => {
    const first = new FileFlash(imagePath, GEOMETRY);
    first.program(1234, new Uint8Array([9, 8, 7]));
    first.sync();
    first.close();
    const second = new FileFlash(imagePath, GEOMETRY);
    expect([...second.read(1234, 3)]).toEqual([9, 8, 7]);
    expect(fs.readFileSync(imagePath)[1235]).toBe(8);
    second.close();
    expect(flashError(() => second.read(0, 1)).reason).toBe('io');
  });

  it('refuses an existing file of the wrong size with a clear error', () => {
    fs.writeFileSync(imagePath, new Uint8Array(1000));
    const error = flashError(() => new FileFlash(imagePath, GEOMETRY));
    expect(error.reason).toBe('io');
    expect(error.message).toContain('1000 bytes');
    expect(error.message).toContain(String(GEOMETRY.sectorSize * GEOMETRY.sectorCount));
    expect(fs.statSync(imagePath).size).toBe(1000); // left alone
    expect(() => new FileFlash(directory, GEOMETRY)).toThrow(FlashError);
  });

  it('carries a log store across reopening', () => {
    const flash = new FileFlash(imagePath, GEOMETRY);
    const store = new LogStore(flash);
    expect(store.mount().ok).toBe(true);
    const data = new Uint8Array(3000).map((_, index) => index & 0xff);
    expect(store.put(0x1234, data).ok).toBe(true);
    expect(store.put(0x0001, new Uint8Array([1])).ok).toBe(true);
    flash.close();
    const reopened = new LogStore(new FileFlash(imagePath, GEOMETRY));
    const mounted = reopened.mount();
    expect(mounted.ok && mounted.report.files).toBe(2);
    const read = reopened.read(0x1234);
    expect(read.ok && read.value.data).toEqual(data);
  });
});
