/**
 * The hardware abstraction layer: one small interface per resource. Each board (boards/) picks an
 * implementation per resource: hal/host (Node.js), hal/sim (deterministic, fault-injecting, for tests) and
 * hal/rp2040 (Kaluma on the Raspberry Pi Pico).
 *
 * The interfaces are synchronous on purpose: every platform we run on is single-threaded JavaScript whose flash
 * primitives are synchronous (Kaluma's `flash` module, Node's fs.*Sync on the image file), and the scheduler
 * delivers one message at a time to an actor. Split-phase completion events would add states to every machine
 * without letting anything run in parallel. Long work (RSA generation, a 10 s signature on the Pico) is sliced by
 * the actor that does it, not hidden behind the HAL.
 */

/** NOR flash geometry. The Pico: 4 KiB erase sectors, 256 B program pages. */
export interface FlashGeometry {
  readonly sectorSize: number;
  readonly pageSize: number;
  readonly sectorCount: number;
}

/** Refuses a geometry that is not positive integers or whose sectors are not whole pages (RangeError). */
export function validateGeometry(geometry: FlashGeometry): void {
  const { sectorSize, pageSize, sectorCount } = geometry;
  for (const [name, value] of Object.entries({ sectorSize, pageSize, sectorCount })) {
    if (!Number.isInteger(value) || value <= 0) throw new RangeError(`flash geometry: ${name} must be a positive integer, got ${value}`);
  }
  if (sectorSize % pageSize !== 0) throw new RangeError(`flash geometry: sector size ${sectorSize} is not a multiple of page size ${pageSize}`);
}

/** A flash operation failed (hardware error, or a simulated power cut). */
export class FlashError extends Error {
  override readonly name = 'FlashError';
  constructor(
    readonly reason: 'outOfRange' | 'misaligned' | 'zeroToOne' | 'io' | 'powerCut',
    message: string,
  ) {
    super(message);
  }
}

/**
 * A raw NOR flash region. Addresses are relative to the region.
 * - read: any range inside the region.
 * - program: a range inside ONE page; NOR semantics: bits can only go from 1 to 0 (the result is old AND new;
 *   the strict simulation refuses a program that would need a 0 to become 1).
 * - erase: one whole sector back to 0xFF.
 */
export interface Flash {
  readonly geometry: FlashGeometry;
  read(address: number, length: number): Uint8Array;
  program(address: number, data: Uint8Array): void;
  erase(sector: number): void;
  /** Make every completed operation durable (host: fsync of the image file). */
  sync(): void;
}

/** Entropy for keys, nonces and challenges. Host: the OS CSPRNG; Pico: a DRBG seeded from rp2.randomBigInt. */
export interface Entropy {
  randomBytes(length: number): Uint8Array;
}

/** Monotonic milliseconds. */
export interface Clock {
  now(): number;
}

/** One-shot timers, used only by the scheduler (actors get `timer.expired` messages). */
export interface TimerService {
  start(milliseconds: number, callback: () => void): TimerHandle;
  cancel(handle: TimerHandle): void;
}
export type TimerHandle = { readonly id: number };

/**
 * A per-device secret mixed into the key that protects the master key at rest. Host: a file readable only by its
 * owner. The Pico has no OTP, so its secret lives in flash and protects nothing against a flash dump: the PIN does.
 */
export interface DeviceSecret {
  get(): Uint8Array;
}

export interface Watchdog {
  feed(): void;
}

export type LedState = 'idle' | 'busy' | 'waitingForTouch' | 'error';
export interface Led {
  show(state: LedState): void;
}

/** User presence: a physical button on the Pico; absent (always present) on the host. */
export interface Button {
  isPressed(): boolean;
}

/** What a board's HAL provides to the actors. */
export interface Hal {
  readonly flash: Flash;
  readonly entropy: Entropy;
  readonly clock: Clock;
  readonly timers: TimerService;
  readonly deviceSecret: DeviceSecret;
  readonly watchdog: Watchdog;
  readonly led: Led;
  readonly button: Button;
}
