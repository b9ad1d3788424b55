/**
 * A NOR flash image in a file, for the host board: the same geometry rules as the device (erase whole sectors,
 * program inside one page) and real NOR behaviour (a program stores old AND new: it can only clear bits).
 *
 *   const flash = new FileFlash('/var/lib/pico-hsm/flash.img', { sectorSize: 4096, pageSize: 256, sectorCount: 256 });
 *   flash.program(0, bytes); flash.sync(); flash.close();
 *
 * The file is created filled with 0xFF when missing; an existing file of another size is refused (it belongs to
 * another geometry, or is not a flash image). Every access is a synchronous positioned read or write on an open
 * descriptor; `sync` is fsync, so what the store calls durable is on the disk.
 */
import * as fs from 'node:fs';
import { FlashError, validateGeometry, type Flash, type FlashGeometry } from '../types.js';

export class FileFlash implements Flash {
  readonly geometry: FlashGeometry;
  private descriptor: number | undefined;
  private readonly size: number;

  constructor(
    readonly path: string,
    geometry: FlashGeometry,
  ) {
    validateGeometry(geometry);
    this.geometry = { sectorSize: geometry.sectorSize, pageSize: geometry.pageSize, sectorCount: geometry.sectorCount };
    this.size = geometry.sectorSize * geometry.sectorCount;
    let existing: fs.Stats | undefined;
    try {
      existing = fs.statSync(path);
    } catch (error) {
      if (!isMissingFile(error)) throw new FlashError('io', `cannot inspect flash image ${path}: ${describe(error)}`);
    }
    if (existing !== undefined) {
      if (!existing.isFile()) throw new FlashError('io', `flash image ${path} is not a regular file`);
      if (existing.size !== this.size) {
        throw new FlashError(
          'io',
          `flash image ${path} holds ${existing.size} bytes but the geometry (${geometry.sectorCount} sectors of ${geometry.sectorSize} bytes) needs ${this.size}; refusing to use it`,
        );
      }
      this.descriptor = this.wrap('open', () => fs.openSync(path, 'r+'));
    } else {
      this.descriptor = this.wrap('create', () => fs.openSync(path, 'wx+', 0o600));
      const erased = new Uint8Array(geometry.sectorSize).fill(0xff);
      for (let sector = 0; sector < geometry.sectorCount; sector++) this.writeAt(sector * geometry.sectorSize, erased);
      this.sync();
    }
  }

  read(address: number, length: number): Uint8Array {
    this.requireRange(address, length);
    const buffer = new Uint8Array(length);
    const descriptor = this.open();
    let done = 0;
    while (done < length) {
      const count = this.wrap('read', () => fs.readSync(descriptor, buffer, done, length - done, address + done));
      if (count === 0) throw new FlashError('io', `flash image ${this.path} ended early at ${address + done}`);
      done += count;
    }
    return buffer;
  }

  program(address: number, data: Uint8Array): void {
    this.requireRange(address, data.length);
    const { pageSize } = this.geometry;
    if (data.length > 0 && Math.floor(address / pageSize) !== Math.floor((address + data.length - 1) / pageSize)) {
      throw new FlashError('misaligned', `program of ${data.length} bytes at ${address} crosses a ${pageSize}-byte page boundary`);
    }
    if (data.length === 0) return;
    const merged = this.read(address, data.length);
    for (let index = 0; index < merged.length; index++) merged[index] &= data[index];
    this.writeAt(address, merged);
  }

  erase(sector: number): void {
    if (!Number.isInteger(sector) || sector < 0 || sector >= this.geometry.sectorCount) {
      throw new FlashError('outOfRange', `no sector ${sector} (the region has ${this.geometry.sectorCount})`);
    }
    this.writeAt(sector * this.geometry.sectorSize, new Uint8Array(this.geometry.sectorSize).fill(0xff));
  }

  sync(): void {
    const descriptor = this.open();
    this.wrap('fsync', () => fs.fsyncSync(descriptor));
  }

  /** Closes the image file; any later access throws. */
  close(): void {
    if (this.descriptor === undefined) return;
    const descriptor = this.descriptor;
    this.descriptor = undefined;
    this.wrap('close', () => fs.closeSync(descriptor));
  }

  private writeAt(address: number, bytes: Uint8Array): void {
    const descriptor = this.open();
    let done = 0;
    while (done < bytes.length) {
      done += this.wrap('write', () => fs.writeSync(descriptor, bytes, done, bytes.length - done, address + done));
    }
  }

  private open(): number {
    if (this.descriptor === undefined) throw new FlashError('io', `flash image ${this.path} is closed`);
    return this.descriptor;
  }

  private requireRange(address: number, length: number): void {
    if (!Number.isInteger(address) || !Number.isInteger(length) || address < 0 || length < 0 || address + length > this.size) {
      throw new FlashError('outOfRange', `range ${address}+${length} outside the ${this.size}-byte region`);
    }
  }

  private wrap<T>(what: string, action: () => T): T {
    try {
      return action();
    } catch (error) {
      if (error instanceof FlashError) throw error;
      throw new FlashError('io', `${what} of flash image ${this.path} failed: ${describe(error)}`);
    }
  }
}

function isMissingFile(error: unknown): boolean {
  return typeof error === 'object' && error !== null && 'code' in error && error.code === 'ENOENT';
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
