/**
 * Flash on the Pico: a raw region of Kaluma's flash area through the `flash` module (not LittleFS).
 *
 * Kaluma 1.2.1's flash area on a 2 MB Pico is 260 blocks of 4 KiB: `storage` 0-3, the user program 4-131, and
 * 132-259, which the board script mounts as LittleFS at `/` on every boot (formatting it when the mount fails).
 * LittleFS only writes its superblock pair (blocks 0 and 1 of its area) when it formats, and nothing else unless a
 * file is written, so the firmware leaves the first blocks of that area to LittleFS and owns the rest raw (see
 * boards/pico.ts for the numbers). Never write files to `/` on an HSM board: LittleFS would allocate our blocks.
 *
 * Kaluma's `write` silently ignores a program whose address or length is not a multiple of the 256-byte page, and
 * both `read` and `write` use the start of the typed array's buffer. So a program here always writes one whole
 * page (the new bytes in place, 0xFF elsewhere: programming 0xFF leaves a NOR byte unchanged), from a fresh array,
 * and reads the page back: a result other than `old AND new` is reported as FlashError('io').
 */
import { FlashError, type Flash, type FlashGeometry } from '../types.js';
import { kaluma, type KalumaFlash } from './kaluma.js';

export const PICO_SECTOR_SIZE = 4096;
export const PICO_PAGE_SIZE = 256;
const IOCTL_ERASE = 6;

export class KalumaFlashRegion implements Flash {
  readonly geometry: FlashGeometry;
  private readonly device: KalumaFlash;
  private readonly size: number;

  /** `base`, `count`: blocks of Kaluma's flash area (`new Flash(base, count)`). */
  constructor(base: number, count: number, device?: KalumaFlash) {
    this.device = device ?? new (kaluma().require('flash').Flash)(base, count);
    this.geometry = { sectorSize: PICO_SECTOR_SIZE, pageSize: PICO_PAGE_SIZE, sectorCount: count };
    this.size = count * PICO_SECTOR_SIZE;
  }

  read(address: number, length: number): Uint8Array {
    this.check(address, length);
    const buffer = new Uint8Array(length);
    if (length > 0) this.device.read(0, buffer, address);
    return buffer;
  }

  program(address: number, data: Uint8Array): void {
    this.check(address, data.length);
    const pageStart = address - (address % PICO_PAGE_SIZE);
    if (address + data.length > pageStart + PICO_PAGE_SIZE) throw new FlashError('misaligned', `program of ${data.length} bytes at ${address} crosses a page`);
    if (data.length === 0) return;
    const before = this.read(pageStart, PICO_PAGE_SIZE);
    const page = new Uint8Array(PICO_PAGE_SIZE).fill(0xff);
    page.set(data, address - pageStart);
    const sector = Math.floor(pageStart / PICO_SECTOR_SIZE);
    this.device.write(sector, page, pageStart - sector * PICO_SECTOR_SIZE);
    const after = this.read(pageStart, PICO_PAGE_SIZE);
    for (let index = 0; index < PICO_PAGE_SIZE; index++) {
      if (after[index] !== (before[index] & page[index])) {
        throw new FlashError('io', `program at ${address}: byte ${pageStart + index} reads ${after[index]}, expected ${before[index] & page[index]}`);
      }
    }
  }

  erase(sector: number): void {
    if (!Number.isInteger(sector) || sector < 0 || sector >= this.geometry.sectorCount) throw new FlashError('outOfRange', `no sector ${sector}`);
    this.device.ioctl(IOCTL_ERASE, sector);
    const after = this.read(sector * PICO_SECTOR_SIZE, PICO_SECTOR_SIZE);
    for (let index = 0; index < after.length; index++) {
      if (after[index] !== 0xff) throw new FlashError('io', `erase of sector ${sector} left byte ${index} at ${after[index]}`);
    }
  }

  /** Kaluma's flash operations are synchronous and complete on return. */
  sync(): void {}

  private check(address: number, length: number): void {
    if (!Number.isInteger(address) || !Number.isInteger(length) || address < 0 || length < 0 || address + length > this.size) {
      throw new FlashError('outOfRange', `range ${address}+${length} outside the ${this.size}-byte region`);
    }
  }
}
