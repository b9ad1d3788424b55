/**
 * The Kaluma 1.2.x APIs the Pico board uses, typed, and reached only through this file so that a simulation
 * (test/kaluma-sim) can provide the same names. Facts from kaluma-project/kaluma tag 1.2.1:
 * - A program is one script (parsed in strict mode, not as a module); built-in modules come from `require(name)`.
 * - `flash`: `new Flash(base, count)` over 4 KiB blocks starting `base` blocks into Kaluma's flash area;
 *   `read(block, buffer, offset)` / `write(block, buffer, offset)` copy `buffer.length` bytes to/from the START of
 *   `buffer.buffer` (the typed array's byteOffset is ignored: pass fresh arrays); `write` silently does nothing
 *   unless the address and the length are multiples of 256; `ioctl(6, block)` erases a block; `ioctl(4)` is the
 *   block count, `ioctl(5)` the block size.
 * - `rp2`: `randomBigInt()` -> 128-bit BigInt from pico_rand.
 * - `wdt`: `new WDT(timeoutMs)` arms the watchdog (RP2040 maximum ~8.3 s), `feed()`.
 * - Globals: `millis()`, `micros()`, `setTimeout`, `setInterval`, `clearTimeout`, `pinMode`, `digitalRead`,
 *   `digitalWrite`, `board.LED`, `INPUT`, `OUTPUT`, `INPUT_PULLUP`, `HIGH`, `LOW`.
 * - `process.stdin.read(size?)` returns a Uint8Array or null (null when fewer than `size` bytes wait);
 *   `process.stdout.write(uint8array)` writes from the start of the array's buffer (byteOffset ignored).
 */

export interface KalumaFlash {
  read(block: number, buffer: Uint8Array, offset?: number): void;
  write(block: number, buffer: Uint8Array, offset?: number): void;
  ioctl(op: number, arg?: number): number;
}

export interface KalumaModules {
  flash: { Flash: new (base: number, count: number) => KalumaFlash };
  rp2: { randomBigInt(): bigint };
  wdt: { WDT: new (timeoutMs: number) => { feed(): void } };
}

export interface KalumaGlobals {
  require<K extends keyof KalumaModules>(name: K): KalumaModules[K];
  millis(): number;
  micros(): number;
  setTimeout(callback: () => void, milliseconds: number): number;
  clearTimeout(id: number): void;
  setInterval(callback: () => void, milliseconds: number): number;
  clearInterval(id: number): void;
  pinMode(pin: number, mode: number): void;
  digitalRead(pin: number): number;
  digitalWrite(pin: number, value: number): void;
  board: { name: string; LED: number };
  INPUT: number;
  OUTPUT: number;
  INPUT_PULLUP: number;
  HIGH: number;
  LOW: number;
  process: {
    stdin: { read(size?: number): Uint8Array | null };
    stdout: { write(data: Uint8Array): boolean };
    memoryUsage?: () => { heapTotal: number; heapUsed: number; heapPeak: number };
  };
}

/** The running Kaluma (or its simulation). */
export function kaluma(): KalumaGlobals {
  return globalThis as unknown as KalumaGlobals;
}

/** A copy whose byteOffset is 0 and whose buffer is exactly its length (what Kaluma's natives expect). */
export function detached(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.length ? bytes : bytes.slice();
}
