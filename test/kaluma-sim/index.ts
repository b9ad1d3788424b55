/**
 * The Kaluma simulation, host side: prepares a device bundle (checks the syntax Kaluma rejects, rewrites BigInt
 * division into the reproduction of Kaluma's bug) and runs it in a worker thread that provides Kaluma's APIs
 * (worker.ts). The returned `SimulatedPico` is a serial port: `write` bytes to the device, `onData` for its output.
 *
 *   const pico = await startSimulatedPico({ code: bundle.code });
 *   pico.onData((bytes) => ...);  pico.write(encodeFrame(...));
 *   ...  await pico.stop();
 */
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { rewriteDivisions, unsupportedSyntax } from './bigint-bug.js';
import { createUsbFifo, fifoWrite } from './usb.js';
import type { WorkerEvent, WorkerInput } from './worker.js';

export const KALUMA_FLASH_AREA_BYTES = 260 * 4096;

export interface PreparedBundle {
  readonly code: string;
  readonly divisionsRewritten: number;
  readonly unsupported: readonly string[];
}

export function prepareBundle(code: string, options: { bigintBug?: boolean } = {}): PreparedBundle {
  const unsupported = unsupportedSyntax(code);
  if (options.bigintBug === false) return { code, divisionsRewritten: 0, unsupported };
  const { code: rewritten, rewritten: count } = rewriteDivisions(code);
  return { code: rewritten, divisionsRewritten: count, unsupported };
}

export interface SimulatedPicoOptions {
  /** A prepared bundle (prepareBundle) or raw code (prepared here). */
  readonly bundle: PreparedBundle | string;
  /** The 1040 KB flash area; pass the same buffer again to reboot with the same flash. */
  readonly flash?: SharedArrayBuffer;
  readonly board?: 'pico' | 'pico-w';
  readonly bigintBug?: boolean;
}

export interface SimulatedPico {
  readonly flash: SharedArrayBuffer;
  readonly events: WorkerEvent[];
  write(bytes: Uint8Array): void;
  onData(listener: (bytes: Uint8Array) => void): () => void;
  /** Sets a GPIO input level (e.g. the button: 0 = pressed). */
  setPin(pin: number, value: number): void;
  /** Problems that must fail a test: aborts, watchdog resets, uncaught errors, frames eaten by the REPL. */
  problems(): string[];
  stop(): Promise<void>;
}

/** The events among `events` that must fail a test, described (see SimulatedPico.problems). */
export function describeProblems(events: readonly WorkerEvent[]): string[] {
  return events.flatMap((event) => {
    switch (event.type) {
      case 'aborted':
        return ['the program was aborted (0x03 reached the device, or the watchdog fired)'];
      case 'watchdogReset':
        return [`watchdog reset: not fed for ${event.sinceFeedMs} ms (timeout ${event.timeoutMs} ms)`];
      case 'error':
        return [`error: ${event.message}`];
      case 'replInput':
        return [`${event.bytes} byte(s) reached the REPL instead of the program`];
      default:
        return [];
    }
  });
}

export function newFlashArea(): SharedArrayBuffer {
  const shared = new SharedArrayBuffer(KALUMA_FLASH_AREA_BYTES);
  new Uint8Array(shared).fill(0xff);
  return shared;
}

export async function startSimulatedPico(options: SimulatedPicoOptions): Promise<SimulatedPico> {
  const bigintBug = options.bigintBug ?? true;
  const prepared = typeof options.bundle === 'string' ? prepareBundle(options.bundle, { bigintBug }) : options.bundle;
  const flash = options.flash ?? newFlashArea();
  const usb = createUsbFifo();
  const input: WorkerInput = { code: prepared.code, flash, usb: usb.shared, board: options.board ?? 'pico', bigintBug };
  const workerPath = fileURLToPath(new URL('./worker.ts', import.meta.url));
  const bootstrap = `import('tsx/esm/api').then((api) => api.tsImport(${JSON.stringify(workerPath)}, ${JSON.stringify(import.meta.url)}))`;
  const worker = new Worker(bootstrap, { eval: true, workerData: input });
  const events: WorkerEvent[] = [];
  const listeners = new Set<(bytes: Uint8Array) => void>();
  let exited = false;
  worker.on('message', (event: WorkerEvent) => {
    if (event.type === 'stdout') {
      for (const listener of listeners) listener(event.bytes);
      return;
    }
    events.push(event);
  });
  worker.on('error', (error) => events.push({ type: 'error', message: `worker: ${error.message}` }));
  worker.on('exit', () => {
    exited = true;
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('simulated Pico did not start')), 20_000);
    const check = (event: WorkerEvent) => {
      if (event.type === 'started') {
        clearTimeout(timer);
        worker.off('message', check);
        resolve();
      }
    };
    worker.on('message', check);
  });
  return {
    flash,
    events,
    write(bytes) {
      if (exited) throw new Error('the simulated Pico has stopped');
      fifoWrite(usb.shared, bytes);
    },
    onData(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    setPin(pin, value) {
      worker.postMessage({ type: 'gpio', pin, value });
    },
    problems() {
      return describeProblems(events);
    },
    async stop() {
      if (!exited) await worker.terminate();
    },
  };
}
