/**
 * The host board's small resources: OS entropy, a monotonic clock, Node timers, the device-secret file, and
 * no-op watchdog/LED/button (a host process has no such hardware; user presence is always granted).
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import type { Button, Clock, DeviceSecret, Entropy, Led, LedState, TimerHandle, TimerService, Watchdog } from '../types.js';

export const osEntropy: Entropy = {
  randomBytes: (length) => new Uint8Array(randomBytes(length)),
};

export const monotonicClock: Clock = {
  now: () => performance.now(),
};

export function nodeTimers(): TimerService {
  const live = new Map<number, NodeJS.Timeout>();
  let nextId = 1;
  return {
    start(milliseconds, callback): TimerHandle {
      const id = nextId++;
      const timeout = setTimeout(() => {
        live.delete(id);
        callback();
      }, milliseconds);
      // A pending call timeout must never keep the process alive on its own.
      timeout.unref();
      live.set(id, timeout);
      return { id };
    },
    cancel(handle) {
      const timeout = live.get(handle.id);
      if (timeout) clearTimeout(timeout);
      live.delete(handle.id);
    },
  };
}

export const DEVICE_SECRET_BYTES = 32;

/**
 * A 32-byte secret in a file created with mode 0600 (owner read/write only) on first use. Refuses a file that
 * others can read or that has the wrong size, rather than silently using a weak secret.
 */
export class FileDeviceSecret implements DeviceSecret {
  private cached: Uint8Array | undefined;
  constructor(
    private readonly path: string,
    private readonly entropy: Entropy = osEntropy,
  ) {}

  get(): Uint8Array {
    if (this.cached) return this.cached;
    if (!existsSync(this.path)) {
      const descriptor = openSync(this.path, 'wx', 0o600);
      try {
        writeSync(descriptor, this.entropy.randomBytes(DEVICE_SECRET_BYTES));
      } finally {
        closeSync(descriptor);
      }
      chmodSync(this.path, 0o600);
    }
    const mode = statSync(this.path).mode & 0o777;
    if ((mode & 0o077) !== 0) {
      throw new Error(`device secret ${this.path} is readable by others (mode ${mode.toString(8)}); run: chmod 600 ${this.path}`);
    }
    const secret = new Uint8Array(readFileSync(this.path));
    if (secret.length !== DEVICE_SECRET_BYTES) {
      throw new Error(`device secret ${this.path} has ${secret.length} bytes, expected ${DEVICE_SECRET_BYTES}`);
    }
    this.cached = secret;
    return secret;
  }
}

export const noWatchdog: Watchdog = { feed: () => undefined };
export const presenceAlwaysGranted: Button = { isPressed: () => true };
export function loggingLed(log: (line: string) => void = () => undefined): Led {
  let last: LedState | undefined;
  return {
    show(state) {
      if (state !== last) log(`led: ${state}`);
      last = state;
    },
  };
}
