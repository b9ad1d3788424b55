/**
 * The Pico's small resources on Kaluma: clock (millis), timers (setTimeout), watchdog (`wdt`), the LED
 * (board.LED), the user-presence button (a GPIO to ground, internal pull-up), and the device secret.
 */
import { crc16 } from '../serial-framing.js';
import type { Button, Clock, DeviceSecret, Entropy, Flash, Led, LedState, TimerHandle, TimerService, Watchdog } from '../types.js';
import { kaluma } from './kaluma.js';

export const picoClock: Clock = { now: () => kaluma().millis() };

export function picoTimers(): TimerService {
  const live = new Map<number, number>();
  let nextId = 1;
  return {
    start(milliseconds, callback): TimerHandle {
      const id = nextId++;
      live.set(
        id,
        kaluma().setTimeout(() => {
          live.delete(id);
          callback();
        }, Math.max(0, milliseconds)),
      );
      return { id };
    },
    cancel(handle) {
      const timer = live.get(handle.id);
      if (timer !== undefined) kaluma().clearTimeout(timer);
      live.delete(handle.id);
    },
  };
}

/** The RP2040 watchdog is limited to about 8.3 s. */
export const WATCHDOG_MAX_MS = 8300;

/**
 * The hardware watchdog, armed by `arm()` (once: it cannot be stopped). `feed()` also runs the `onFeed` hooks,
 * which the board uses to send keep-alives and to animate the LED from inside long synchronous work.
 */
export class PicoWatchdog implements Watchdog {
  private device: { feed(): void } | undefined;
  private readonly hooks: (() => void)[] = [];
  private lastFeed = 0;

  constructor(readonly timeoutMs: number = 5000) {
    if (timeoutMs > WATCHDOG_MAX_MS) throw new RangeError(`the RP2040 watchdog allows at most ${WATCHDOG_MAX_MS} ms`);
  }

  arm(): void {
    if (this.device) return;
    this.device = new (kaluma().require('wdt').WDT)(this.timeoutMs);
    this.lastFeed = kaluma().millis();
  }

  get armed(): boolean {
    return this.device !== undefined;
  }

  onFeed(hook: () => void): void {
    this.hooks.push(hook);
  }

  feed(): void {
    this.device?.feed();
    this.lastFeed = kaluma().millis();
    for (const hook of this.hooks) hook();
  }

  /** Milliseconds since the last feed. */
  sinceLastFeed(): number {
    return kaluma().millis() - this.lastFeed;
  }
}

/** LED patterns: [on ms, off ms]. Steady on (error) is [1, 0]. */
export const LED_PATTERNS: Readonly<Record<LedState, readonly [number, number]>> = {
  idle: [50, 1950], // heartbeat
  busy: [100, 100], // fast blink
  waitingForTouch: [500, 500], // slow blink: press the button
  error: [1, 0], // steady on
};

/** The on-board LED. `tick()` advances the blink pattern; the board calls it from its loops. */
export class PicoLed implements Led {
  private state: LedState = 'idle';
  private since = 0;
  private lit: boolean | undefined;
  readonly history: LedState[] = [];

  constructor(private readonly pin: number = kaluma().board.LED) {
    kaluma().pinMode(pin, kaluma().OUTPUT);
  }

  get current(): LedState {
    return this.state;
  }

  show(state: LedState): void {
    if (state === this.state) return;
    this.state = state;
    this.since = kaluma().millis();
    if (this.history.length >= 16) this.history.shift();
    this.history.push(state);
    this.tick();
  }

  tick(): void {
    const [on, off] = LED_PATTERNS[this.state];
    const phase = (kaluma().millis() - this.since) % (on + off);
    const lit = off === 0 || phase < on;
    if (lit === this.lit) return;
    this.lit = lit;
    kaluma().digitalWrite(this.pin, lit ? kaluma().HIGH : kaluma().LOW);
  }
}

/** A push button between `pin` and ground (internal pull-up): pressed reads LOW. */
export class PicoButton implements Button {
  constructor(private readonly pin: number) {
    kaluma().pinMode(pin, kaluma().INPUT_PULLUP);
  }

  isPressed(): boolean {
    return kaluma().digitalRead(this.pin) === kaluma().LOW;
  }
}

const SECRET_MAGIC = [0x50, 0x48, 0x53, 0x4d, 0x53, 0x45, 0x43, 0x31]; // "PHSMSEC1"
const SECRET_BYTES = 32;

/**
 * The Pico has no OTP and no secure boot: its device secret lives in a flash sector of its own, created at first
 * boot. It protects nothing against someone who dumps the flash (the REPL reads any of it); the PIN does. Layout
 * of the sector's first page: magic (8) | secret (32) | CRC-16 (2). A damaged page is an error, never silently
 * replaced (a new secret would make every stored key unusable).
 */
export class FlashDeviceSecret implements DeviceSecret {
  private cached: Uint8Array | undefined;
  constructor(
    private readonly flash: Flash,
    private readonly entropy: Entropy,
  ) {}

  get(): Uint8Array {
    if (this.cached) return this.cached;
    const length = SECRET_MAGIC.length + SECRET_BYTES + 2;
    let page = this.flash.read(0, length);
    if (page.every((byte) => byte === 0xff)) {
      const fresh = new Uint8Array(length);
      fresh.set(SECRET_MAGIC, 0);
      fresh.set(this.entropy.randomBytes(SECRET_BYTES), SECRET_MAGIC.length);
      const crc = crc16(fresh, 0, length - 2);
      fresh[length - 2] = crc >>> 8;
      fresh[length - 1] = crc & 0xff;
      this.flash.program(0, fresh);
      page = this.flash.read(0, length);
    }
    const magicOk = SECRET_MAGIC.every((byte, index) => page[index] === byte);
    const crc = (page[length - 2] << 8) | page[length - 1];
    if (!magicOk || crc16(page, 0, length - 2) !== crc) throw new Error('device secret sector is damaged (refusing to replace it: keys would become unusable)');
    this.cached = page.slice(SECRET_MAGIC.length, SECRET_MAGIC.length + SECRET_BYTES);
    return this.cached;
  }
}
