/**
 * CRC-32 (IEEE 802.3: reflected polynomial 0xEDB88320, initial value and final XOR 0xFFFFFFFF), the checksum of
 * every sector header, record header and record body of the log store.
 *
 *   crc32(new TextEncoder().encode('123456789')) === 0xcbf43926
 *   crc32(second, crc32(first)) === crc32(first followed by second)   // incremental
 *
 * Slicing-by-4 (a 4 KiB table built once): four bytes per step, which matters because every mount checks every
 * record of the region.
 */

/** Four 256-entry tables back to back: TABLES[k * 256 + n] is the CRC of byte n followed by k zero bytes. */
const TABLES = buildTables();

function buildTables(): Uint32Array {
  const tables = new Uint32Array(4 * 256);
  for (let index = 0; index < 256; index++) {
    let value = index;
    for (let bit = 0; bit < 8; bit++) value = value & 1 ? (value >>> 1) ^ 0xedb88320 : value >>> 1;
    tables[index] = value >>> 0;
  }
  for (let index = 0; index < 256; index++) {
    for (let slice = 1; slice < 4; slice++) {
      const previous = tables[(slice - 1) * 256 + index];
      tables[slice * 256 + index] = ((previous >>> 8) ^ tables[previous & 0xff]) >>> 0;
    }
  }
  return tables;
}

/**
 * The CRC-32 of `bytes[start, end)`. Pass the result of a previous call as `previous` to continue a checksum over
 * data that arrives in pieces.
 */
export function crc32(bytes: Uint8Array, previous = 0, start = 0, end: number = bytes.length): number {
  const tables = TABLES;
  let crc = (previous ^ 0xffffffff) >>> 0;
  let index = start;
  const wordsEnd = start + ((end - start) & ~3);
  for (; index < wordsEnd; index += 4) {
    crc ^= bytes[index] | (bytes[index + 1] << 8) | (bytes[index + 2] << 16) | (bytes[index + 3] << 24);
    crc = tables[768 + (crc & 0xff)] ^ tables[512 + ((crc >>> 8) & 0xff)] ^ tables[256 + ((crc >>> 16) & 0xff)] ^ tables[crc >>> 24];
  }
  for (; index < end; index++) crc = tables[(crc ^ bytes[index]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
