/**
 * The simulated Pico: runs a device bundle in a fresh vm context inside a worker thread, with Kaluma 1.2.1's
 * APIs (same module names and behaviour as docs rp2040-kaluma.md and Kaluma's sources describe) and without the
 * globals Kaluma lacks. Started by test/kaluma-sim/index.ts; talks to it with messages.
 *
 * Modelled: `flash` (Flash(base, count) over the 1040 KB flash area: 4 KiB blocks, 256-byte pages, writes that are
 * not page-aligned silently ignored, typed-array byteOffset ignored, NOR programming ANDs, erase with ioctl(6)),
 * the board script (LittleFS mounted on blocks 132-259 at boot, formatted - blocks 132 and 133 rewritten - when its
 * superblock is missing), `rp2.randomBigInt`, `wdt.WDT` (a watchdog that is not fed in time is reported and fails
 * the test), GPIO globals and `board.LED`, millis/micros, timers, console output on the same serial stream,
 * `process.stdin.read` over a 2 KB ring buffer fed from the USB FIFO (overflow overwrites, as Kaluma's ring does),
 * `process.stdout.write` (from the start of the array's buffer), the REPL taking every waiting byte whenever the
 * program returns to the event loop (reported: a correct device never lets that happen to a frame), byte 0x03
 * aborting the program, and `process.memoryUsage()`. BigInt division follows Kaluma's bug (bigint-bug.ts).
 */
import { randomBytes } from 'node:crypto';
import vm from 'node:vm';
import { parentPort, workerData } from 'node:worker_threads';
import { kalumaDiv, kalumaMod } from './bigint-bug.js';
import { fifoTake, fifoWait } from './usb.js';

export interface WorkerInput {
  readonly code: string;
  readonly flash: SharedArrayBuffer;
  readonly usb: SharedArrayBuffer;
  readonly board: 'pico' | 'pico-w';
  /** Replace BigInt division by the bug reproduction (the code must have been rewritten with rewriteDivisions). */
  readonly bigintBug: boolean;
}

export type WorkerEvent =
  | { type: 'stdout'; bytes: Uint8Array }
  | { type: 'aborted' }
  | { type: 'watchdogReset'; sinceFeedMs: number; timeoutMs: number }
  | { type: 'replInput'; bytes: number }
  | { type: 'error'; message: string }
  | { type: 'gpio'; pin: number; value: number }
  | { type: 'started' };

const BLOCK = 4096;
const PAGE = 256;
const AREA_BLOCKS = 260;
const RING = 2048;
const LFS_BASE = 132;
const LFS_MAGIC = Uint8Array.from('littlefs', (character) => character.charCodeAt(0));

const input = workerData as WorkerInput;
const post = (event: WorkerEvent): void => parentPort?.postMessage(event);
const flash = new Uint8Array(input.flash);
if (flash.length !== AREA_BLOCKS * BLOCK) throw new Error('flash area must be 260 blocks');

let aborted = false;
const timers = new Set<NodeJS.Timeout>();
const started = performance.now();
const millis = (): number => Math.floor(performance.now() - started);

function abortProgram(): void {
  if (aborted) return;
  aborted = true;
  for (const timer of timers) clearTimeout(timer);
  timers.clear();
  post({ type: 'aborted' });
}

/** Errors from the program's realm are not `instanceof Error` here. */
function describeError(error: unknown): string {
  const shaped = error as { message?: unknown; stack?: unknown } | undefined;
  return shaped && typeof shaped.message === 'string' ? `${shaped.message}\n${String(shaped.stack ?? '')}` : String(error);
}

function checkRunning(): void {
  if (aborted) throw new Error('Aborted');
}

// --- Console: 2 KB ring buffer fed from the USB FIFO (km_tty_available moves everything, overwriting) ---
const ring = new Uint8Array(RING);
let readPointer = 0;
let writePointer = 0;
const ringLength = (): number => (writePointer - readPointer + RING) % RING;

function ttyAvailable(): number {
  const arrived = fifoTake(input.usb);
  for (const byte of arrived) {
    if (byte === 0x03) {
      // tud_cdc_rx_wanted_cb: stop the VM and flush the USB read FIFO.
      abortProgram();
      return ringLength();
    }
    ring[writePointer] = byte;
    writePointer = (writePointer + 1) % RING;
  }
  return ringLength();
}

/** Arrays handed to the program are created in its own realm (so `instanceof Uint8Array` holds there). */
let ProgramUint8Array: Uint8ArrayConstructor = Uint8Array;

function ttyRead(count: number): Uint8Array {
  const out = new ProgramUint8Array(count);
  for (let index = 0; index < count; index++) {
    out[index] = ring[readPointer];
    readPointer = (readPointer + 1) % RING;
  }
  return out;
}

function writeOut(bytes: Uint8Array): void {
  post({ type: 'stdout', bytes: Uint8Array.from(bytes) });
}

/** Kaluma's natives read a typed array from the START of its buffer, for the array's length. */
function nativeView(array: Uint8Array): Uint8Array {
  if (!ArrayBuffer.isView(array)) throw new TypeError('expected a typed array');
  return new Uint8Array(array.buffer, 0, array.length);
}

// The REPL: whenever the program is back in the event loop, the tty step hands waiting input to the REPL,
// which echoes it.
const repl = setInterval(() => {
  const waiting = ttyAvailable();
  if (waiting > 0) {
    const eaten = ttyRead(waiting);
    post({ type: 'replInput', bytes: eaten.length });
    writeOut(eaten);
  }
}, 2);

// --- Board script: LittleFS on blocks 132.. (mkfs when the superblock is missing) ---
function boardScript(): void {
  const superblock = flash.subarray(LFS_BASE * BLOCK + 8, LFS_BASE * BLOCK + 8 + LFS_MAGIC.length);
  if (!LFS_MAGIC.every((byte, index) => superblock[index] === byte)) {
    for (const block of [LFS_BASE, LFS_BASE + 1]) {
      flash.fill(0xff, block * BLOCK, (block + 1) * BLOCK);
      flash.set(LFS_MAGIC, block * BLOCK + 8);
    }
  }
}

// --- Modules ---
class Flash {
  readonly base: number;
  readonly count: number;
  readonly size = BLOCK;
  constructor(base = 0, count = AREA_BLOCKS) {
    this.base = base;
    this.count = count;
  }
  private address(block: number, offset: number, length: number): number {
    const address = (this.base + block) * BLOCK + offset;
    if (address < 0 || address + length > flash.length) throw new RangeError(`simulated flash: ${address}+${length} is outside the flash area`);
    return address;
  }
  read(block: number, buffer: Uint8Array, offset = 0): void {
    checkRunning();
    const target = nativeView(buffer);
    const address = this.address(block, offset, target.length);
    target.set(flash.subarray(address, address + target.length));
  }
  write(block: number, buffer: Uint8Array, offset = 0): void {
    checkRunning();
    const source = nativeView(buffer);
    const address = this.address(block, offset, source.length);
    if (address % PAGE !== 0 || source.length % PAGE !== 0) return; // km_flash_program returns EINVAL, ignored
    for (let index = 0; index < source.length; index++) flash[address + index] &= source[index];
  }
  ioctl(op: number, arg = 0): number {
    checkRunning();
    switch (op) {
      case 1:
      case 2:
      case 3:
        return 0;
      case 4:
        return this.count;
      case 5:
        return BLOCK;
      case 6: {
        const address = this.address(arg, 0, BLOCK);
        flash.fill(0xff, address, address + BLOCK);
        return 0;
      }
      case 7:
        return PAGE;
      default:
        return -1;
    }
  }
}

let watchdog: { timeoutMs: number; lastFeed: number } | undefined;
function checkWatchdog(): void {
  if (!watchdog || aborted) return;
  const since = performance.now() - watchdog.lastFeed;
  if (since > watchdog.timeoutMs) {
    post({ type: 'watchdogReset', sinceFeedMs: Math.round(since), timeoutMs: watchdog.timeoutMs });
    abortProgram();
  }
}
const watchdogCheck = setInterval(checkWatchdog, 50);

class WDT {
  constructor(timeoutMs: number) {
    checkRunning();
    if (typeof timeoutMs !== 'number') throw new TypeError('timeout');
    watchdog = { timeoutMs: Math.min(timeoutMs, 8388), lastFeed: performance.now() };
  }
  feed(): void {
    checkWatchdog();
    checkRunning();
    if (watchdog) watchdog.lastFeed = performance.now();
  }
}

const modules: Record<string, unknown> = {
  flash: { Flash },
  rp2: {
    randomBigInt: () => {
      checkRunning();
      return BigInt(`0x${randomBytes(16).toString('hex')}`);
    },
  },
  wdt: { WDT },
};

// --- GPIO ---
const pins = new Map<number, { mode: number; value: number }>();
parentPort?.on('message', (message: { type: 'gpio'; pin: number; value: number }) => {
  if (message.type === 'gpio') pins.set(message.pin, { mode: pins.get(message.pin)?.mode ?? 0, value: message.value });
});

function wrapTimer(callback: () => void): () => void {
  return () => {
    if (aborted) return;
    try {
      callback();
    } catch (error) {
      post({ type: 'error', message: describeError(error) });
    }
  };
}

const textEncoder = new TextEncoder();
const consoleLine = (...parts: unknown[]): void => writeOut(textEncoder.encode(`${parts.map(String).join(' ')}\r\n`));

const sandbox: Record<string, unknown> = {
  require(name: string) {
    const module = modules[name];
    if (!module) throw new Error(`Module "${name}" not found`);
    return module;
  },
  millis,
  micros: () => Math.floor((performance.now() - started) * 1000),
  delay: (milliseconds: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, milliseconds),
  setTimeout(callback: () => void, milliseconds = 0) {
    checkRunning();
    // Kaluma fires a timer when its deadline is strictly passed: at least 1 ms later.
    const timer = setTimeout(() => {
      timers.delete(timer);
      wrapTimer(callback)();
    }, Math.max(1, milliseconds + 1));
    timers.add(timer);
    return timer;
  },
  clearTimeout(timer: NodeJS.Timeout) {
    clearTimeout(timer);
    timers.delete(timer);
  },
  setInterval(callback: () => void, milliseconds = 0) {
    checkRunning();
    const timer = setInterval(wrapTimer(callback), Math.max(1, milliseconds));
    timers.add(timer as unknown as NodeJS.Timeout);
    return timer;
  },
  clearInterval(timer: NodeJS.Timeout) {
    clearInterval(timer);
    timers.delete(timer);
  },
  pinMode(pin: number, mode: number) {
    checkRunning();
    pins.set(pin, { mode, value: mode === 2 ? 1 : (pins.get(pin)?.value ?? 0) });
  },
  digitalRead(pin: number) {
    checkRunning();
    return pins.get(pin)?.value ?? 0;
  },
  digitalWrite(pin: number, value: number) {
    checkRunning();
    const previous = pins.get(pin);
    pins.set(pin, { mode: previous?.mode ?? 1, value: value ? 1 : 0 });
    if (previous?.value !== (value ? 1 : 0)) post({ type: 'gpio', pin, value: value ? 1 : 0 });
  },
  board: input.board === 'pico' ? { name: 'pico', LED: 25 } : { name: 'pico-w' },
  INPUT: 0,
  OUTPUT: 1,
  INPUT_PULLUP: 2,
  INPUT_PULLDOWN: 3,
  HIGH: 1,
  LOW: 0,
  console: { log: consoleLine, error: consoleLine, info: consoleLine, warn: consoleLine, debug: consoleLine },
  print: consoleLine,
  TextEncoder,
  TextDecoder,
  btoa,
  atob,
  process: {
    stdin: {
      read(size?: number): Uint8Array | null {
        checkRunning();
        const available = ttyAvailable();
        checkRunning();
        if (available === 0 || (size !== undefined && available < size)) {
          // Idle: let real time pass a little instead of spinning (the device's loop polls).
          fifoWait(input.usb, 1);
          return null;
        }
        return ttyRead(size ?? available);
      },
    },
    stdout: {
      write(chunk: Uint8Array): boolean {
        checkRunning();
        writeOut(nativeView(chunk));
        return true;
      },
    },
    memoryUsage: () => {
      const usage = process.memoryUsage();
      return { heapTotal: 180 * 1024, heapUsed: usage.heapUsed, heapPeak: usage.heapUsed, simulated: true };
    },
    binding: undefined,
  },
  __kalumaDiv: input.bigintBug ? kalumaDiv : (a: number, b: number) => a / b,
  __kalumaMod: input.bigintBug ? kalumaMod : (a: number, b: number) => a % b,
};

const context = vm.createContext(sandbox, { name: 'kaluma', codeGeneration: { strings: false, wasm: false } });
ProgramUint8Array = vm.runInContext('Uint8Array', context) as Uint8ArrayConstructor;
// What Kaluma 1.2.x (JerryScript 2.4-era) lacks: removed so that using it fails as it would on the board.
vm.runInContext(
  `'use strict';
  globalThis.global = globalThis;
  delete globalThis.WeakRef; delete globalThis.FinalizationRegistry; delete globalThis.SharedArrayBuffer; delete globalThis.Atomics;
  delete Object.hasOwn; delete Promise.allSettled; delete Promise.any; delete BigInt.asUintN; delete BigInt.asIntN;
  delete Array.prototype.at; delete String.prototype.at; delete Object.getPrototypeOf(Int8Array.prototype).at;
  delete Array.prototype.findLast; delete Array.prototype.findLastIndex; delete String.prototype.replaceAll;
  delete Error.prototype.cause;`,
  context,
);
for (const name of ['queueMicrotask', 'structuredClone', 'setImmediate', 'Buffer', 'crypto', 'performance', 'fetch', 'WebAssembly']) {
  if (name in context) delete (context as Record<string, unknown>)[name];
}

boardScript();
post({ type: 'started' });
try {
  vm.runInContext(input.code, context, { filename: 'pico-hsm.js' });
} catch (error) {
  post({ type: 'error', message: describeError(error) });
}
process.on('unhandledRejection', (reason) => post({ type: 'error', message: `unhandled rejection: ${describeError(reason)}` }));
void repl;
void watchdogCheck;
