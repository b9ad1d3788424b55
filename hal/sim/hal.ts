/**
 * The simulated HAL for tests: strict flash, seeded entropy, a clock that moves only when told, a fixed device
 * secret, and inert watchdog/LED/button. Everything is deterministic for one seed.
 */
import type { Hal, LedState } from '../types.js';
import { SeededEntropy } from './entropy.js';
import { SimFlash } from './flash.js';
import { ManualTime } from './time.js';

export interface SimHal extends Hal {
  readonly flash: SimFlash;
  readonly time: ManualTime;
  readonly ledHistory: LedState[];
}

export function createSimHal(flash: SimFlash, seed = 1): SimHal {
  const time = new ManualTime();
  const entropy = new SeededEntropy(seed);
  const secret = new SeededEntropy(seed ^ 0x5eed5eed).randomBytes(32);
  const ledHistory: LedState[] = [];
  return {
    flash,
    time,
    ledHistory,
    entropy,
    clock: time.clock,
    timers: time.timers,
    deviceSecret: { get: () => secret },
    watchdog: { feed: () => undefined },
    led: { show: (state) => void ledHistory.push(state) },
    button: { isPressed: () => true },
  };
}
