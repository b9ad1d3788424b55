/**
 * The Raspberry Pi Pico board (RP2040 under Kaluma 1.2.x): the device's composition root and main loop.
 * tools/build-pico.ts bundles this file into dist/pico-hsm.js (one script; `startPico()` runs at load).
 *
 * HAL (hal/rp2040): a raw flash region through Kaluma's `flash` module, entropy from an HMAC-DRBG seeded by
 * `rp2.randomBigInt`, millis() clock, setTimeout timers, the hardware watchdog, the on-board LED, a user-presence
 * button, the device secret in a flash sector of its own (no OTP on the RP2040), and the serial framing over the
 * USB CDC console. Crypto: the device engine (P-256 without BigInt division, SHA-256, HMAC/HKDF/PBKDF2,
 * ChaCha20-Poly1305), narrowed by the power-on known-answer self-tests: an algorithm that fails its test is
 * disabled and reported in the device info. Algorithm families: EC only (PICO_OPERATION_FAMILIES), so the RSA and
 * AES operations are not in the bundle. Actors and capabilities: boards/device.ts, as on every board.
 *
 * The Pico W runs the same file: its flash map is the same; its LED hangs off the CYW43 radio chip, not a GPIO,
 * so `board.LED` is undefined there and the LED states are not shown (the button and everything else work).
 */
import { DEVICE_CAPABILITIES, assembleDevice, type Device, type DeviceOptions } from './device.js';
import { ecOperations } from '../actors/crypto/ec.js';
import type { OperationFamilies } from '../actors/crypto/operations.js';
import { deviceEngine } from '../hal/crypto/device.js';
import { setP256ProgressHook } from '../hal/crypto/p256-safe.js';
import { offeredAlgorithms, selfTestedEngine, type SelfTestReport } from '../hal/crypto/self-test.js';
import type { CryptoEngine } from '../hal/crypto/types.js';
import { PicoSerialLink } from '../hal/rp2040/serial-link.js';
import { Rp2Entropy } from '../hal/rp2040/entropy.js';
import { KalumaFlashRegion } from '../hal/rp2040/flash.js';
import { kaluma } from '../hal/rp2040/kaluma.js';
import { FlashDeviceSecret, PicoButton, PicoLed, PicoWatchdog, picoClock, picoTimers } from '../hal/rp2040/system.js';
import { utf8 } from '../hal/serial-framing.js';
import type { Hal, Led } from '../hal/types.js';
import { errorMessage } from '../messages/schema.js';
import { transportProtocol } from '../messages/transport.js';

/** The algorithm families the Pico offers: EC only (its engine has no RSA and no AES, and its heap no room for them). */
export const PICO_OPERATION_FAMILIES: OperationFamilies = { ec: ecOperations };

export interface PicoBoardConfig {
  readonly name: string;
  /**
   * Flash region in blocks of Kaluma's flash area (`new Flash(base, count)`). Kaluma 1.2.1 on a 2 MB Pico:
   * 0-3 `storage`, 4-131 the program, 132-259 LittleFS (mounted at `/` by the board script, formatted when its
   * superblock is missing: only its first two blocks are ever written unless files are). We leave 132-139 to
   * LittleFS and take 140-259: 119 sectors for the key store, the last one for the device secret.
   */
  readonly flash: { readonly base: number; readonly count: number };
  /** User-presence button: GPIO to ground (internal pull-up). Not GPIO22 (held low at boot, it skips the program). */
  readonly buttonPin: number;
  /** The hardware watchdog (RP2040 maximum ~8.3 s). */
  readonly watchdogMs: number;
  /** PBKDF2-SHA256 iterations per PIN check: ~0.15 s each on the RP2040 (docs/security.md explains the cost). */
  readonly pinIterations: number;
  /** Who may call whom: the same list as every board (boards/device.ts). */
  readonly capabilities: Readonly<Record<string, readonly string[]>>;
  /** Keep-alive period while a command runs (the bridge extends its timeout on each). */
  readonly keepAliveMs: number;
}

export const PICO_BOARD: PicoBoardConfig = {
  name: 'pico',
  flash: { base: 140, count: 120 },
  buttonPin: 15,
  watchdogMs: 8000,
  pinIterations: 24,
  capabilities: DEVICE_CAPABILITIES,
  keepAliveMs: 1000,
};

/** The Pico W: same flash map and pins; no GPIO LED (see the header). */
export const PICO_W_BOARD: PicoBoardConfig = { ...PICO_BOARD, name: 'pico-w' };

export const FIRMWARE_VERSION = '0.1.0';

const noLed: Led & { tick(): void } = { show: () => undefined, tick: () => undefined };

export interface PicoRuntime {
  readonly device: Device | undefined;
  readonly link: PicoSerialLink;
  readonly selfTests: SelfTestReport;
  readonly engine: CryptoEngine;
}

export async function startPico(config: PicoBoardConfig = kaluma().board?.name === 'pico-w' ? PICO_W_BOARD : PICO_BOARD): Promise<PicoRuntime> {
  const k = kaluma();
  const led = typeof k.board?.LED === 'number' ? new PicoLed(k.board.LED) : noLed;
  led.show('busy');
  const watchdog = new PicoWatchdog(config.watchdogMs);
  let device: Device | undefined;
  let problem: string | undefined;
  const started = k.millis();

  // Self-tests first (before the watchdog is armed: the P-256 tests take seconds of synchronous work).
  const { engine, report } = selfTestedEngine(deviceEngine);

  const link: PicoSerialLink = new PicoSerialLink({
    led,
    feedWatchdog: () => watchdog.feed(),
    keepAliveMs: config.keepAliveMs,
    handlers: {
      async apdu(command) {
        if (!device) return Uint8Array.of(0x6f, 0x00);
        const answered = await device.scheduler.call('link', transportProtocol, 'apdu', { bytes: command });
        if (!answered.ok) throw new Error(`transport: ${answered.error.code}`);
        return answered.value.bytes;
      },
      async power(event) {
        if (!device) return;
        await device.scheduler.call('link', transportProtocol, 'power', { event });
      },
      settle: () => (device ? device.scheduler.idle() : Promise.resolve()),
      info: () => utf8.encode(JSON.stringify(deviceInfo())),
    },
  });
  watchdog.onFeed(() => {
    led.tick();
    link.keepAliveIfDue();
  });
  // Long synchronous P-256 work feeds the watchdog (and so sends keep-alives) from inside its loops.
  setP256ProgressHook(() => watchdog.feed());

  const deviceInfo = () => ({
    board: config.name,
    firmware: FIRMWARE_VERSION,
    engine: engine.name,
    curves: engine.curves,
    /** What the engine offers before the self-tests narrow it (selfTestsPassed is what runs). */
    profile: offeredAlgorithms(deviceEngine),
    selfTestsPassed: report.passed,
    selfTestsFailed: report.failed,
    problem,
    bootMs: k.millis() - started,
    memory: typeof k.process.memoryUsage === 'function' ? k.process.memoryUsage() : undefined,
    link: link.counters,
  });

  try {
    const entropy = new Rp2Entropy();
    const storageFlash = new KalumaFlashRegion(config.flash.base, config.flash.count - 1);
    const secretFlash = new KalumaFlashRegion(config.flash.base + config.flash.count - 1, 1);
    const hal: Hal = {
      flash: storageFlash,
      entropy,
      clock: picoClock,
      timers: picoTimers(),
      deviceSecret: new FlashDeviceSecret(secretFlash, entropy),
      watchdog,
      led,
      button: new PicoButton(config.buttonPin),
    };
    // The self-tests ran above (the engine is narrowed already): the device reports them instead of running them again.
    const options: DeviceOptions = {
      hal,
      engine,
      families: PICO_OPERATION_FAMILIES,
      pinIterations: config.pinIterations,
      log: (line) => link.log(line),
      selfTests: report,
    };
    device = await assembleDevice(options);
    for (const failure of report.failed) link.log(`self-test failed: ${failure.algorithm}: ${failure.detail}`);
  } catch (error) {
    problem = errorMessage(error);
    led.show('error');
    link.log(`boot failed: ${problem}`);
  }
  watchdog.arm();
  link.log(`ready: ${config.name} ${FIRMWARE_VERSION}, engine ${engine.name}, ${report.passed.length} self-tests passed, ${report.failed.length} failed`);
  if (problem) {
    // Stay reachable (INFO shows the problem) but keep the error LED.
    link.serve();
    led.show('error');
  } else {
    link.serve();
  }
  return { device, link, selfTests: report, engine };
}
