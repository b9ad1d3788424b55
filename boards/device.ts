/**
 * The device every board assembles: the actors, the order they start in, and who may call whom.
 * A board file (boards/host.ts, boards/sim.ts, boards/pico.ts) picks the HAL, the crypto engine and the algorithm
 * families it offers, and calls `assembleDevice`. The families are modules the board imports (actors/crypto/ec.ts,
 * rsa.ts, aes.ts): a family the board does not pass is not in its bundle (the Pico passes EC only).
 */
import { createAppletActor } from '../actors/applet.js';
import { createCryptoActor } from '../actors/crypto.js';
import type { OperationFamilies } from '../actors/crypto/operations.js';
import { createKeystoreActor } from '../actors/keystore.js';
import { createLifecycleActor } from '../actors/lifecycle.js';
import { createPinActor } from '../actors/pin.js';
import { Scheduler, type RegisteredActor, type SchedulerOptions } from '../actors/scheduler.js';
import { createStorageActor } from '../actors/storage.js';
import { createTransportActor } from '../actors/transport.js';
import { selfTestedEngine, type SelfTestReport } from '../hal/crypto/self-test.js';
import type { CryptoEngine } from '../hal/crypto/types.js';
import type { Hal } from '../hal/types.js';

/**
 * The capability list: which actor (or external caller) may send to which. Anything else is refused and logged.
 * `link` is every link adapter (vpcd, local socket, serial bridge); `board` is the board's own supervision code.
 */
export const DEVICE_CAPABILITIES: Readonly<Record<string, readonly string[]>> = {
  link: ['transport'],
  board: ['transport', 'lifecycle', 'storage', 'pin'],
  transport: ['applet'],
  applet: ['keystore', 'pin', 'lifecycle', 'crypto', 'storage'],
  keystore: ['storage', 'pin'],
  lifecycle: ['storage', 'crypto', 'pin'],
  pin: ['storage'],
  crypto: ['storage', 'keystore'],
  storage: [],
};

/**
 * Operations narrower than their actor's capability: private key material and the master key go to exactly one
 * caller each.
 */
export const DEVICE_OPERATION_CAPABILITIES: Readonly<Record<string, readonly string[]>> = {
  'keystore.loadKey': ['crypto'],
  'keystore.storeKey': ['crypto'],
  'pin.masterKey': ['keystore'],
};

export interface DeviceOptions {
  readonly hal: Hal;
  readonly engine: CryptoEngine;
  /**
   * The algorithm families the device offers (EC always; RSA and AES on the host boards). An algorithm needs both
   * its family here and the engine's support; otherwise it is refused as `unsupported` (status word 6A86).
   */
  readonly families: OperationFamilies;
  /** PBKDF2 iterations for PIN verifiers (what the board's engine affords per VERIFY). */
  readonly pinIterations: number;
  /** Deterministic delivery order (simulation). */
  readonly seed?: number;
  readonly log?: (line: string) => void;
  /** Message bodies in the scheduler's traces: messages/protocol.ts's redactBody (tests, simulation). */
  readonly traceBody?: SchedulerOptions['traceBody'];
  readonly defaultTimeoutMs?: number;
  /**
   * A board that ran the power-on self-tests itself (the Pico does, feeding its watchdog between them) passes the
   * report here together with the engine already narrowed to what passed; otherwise they run now.
   */
  readonly selfTests?: SelfTestReport;
}

export interface Device {
  readonly scheduler: Scheduler;
  /** The power-on known-answer tests of the board's engine (failed algorithms are disabled). */
  readonly selfTests: SelfTestReport;
  readonly actors: readonly RegisteredActor[];
  stop(): Promise<void>;
}

/**
 * The self-test result per engine object: a board boots once per process, but the simulations and tests assemble
 * many devices on the same engine, and the known answers of one engine object do not change between boots.
 */
const selfTested = new WeakMap<CryptoEngine, ReturnType<typeof selfTestedEngine>>();
function selfTestOnce(engine: CryptoEngine): ReturnType<typeof selfTestedEngine> {
  const known = selfTested.get(engine);
  if (known) return known;
  const result = selfTestedEngine(engine);
  selfTested.set(engine, result);
  return result;
}

export async function assembleDevice(options: DeviceOptions): Promise<Device> {
  const { hal } = options;
  // Power-on self-tests: every algorithm of the engine is checked against known answers; what fails is removed
  // from the engine the actors get, and reported in the device information.
  const { engine, report: selfTests } = options.selfTests ? { engine: options.engine, report: options.selfTests } : selfTestOnce(options.engine);
  for (const failure of selfTests.failed) options.log?.(`self-test FAILED, ${failure.algorithm} disabled: ${failure.detail}`);
  const actors: RegisteredActor[] = [
    createStorageActor({ flash: hal.flash }),
    createPinActor({ engine, entropy: hal.entropy, deviceSecret: hal.deviceSecret, iterations: options.pinIterations }),
    createCryptoActor({ engine, families: options.families, entropy: hal.entropy, deviceSecret: hal.deviceSecret, selfTests }),
    createKeystoreActor({ engine, entropy: hal.entropy }),
    createLifecycleActor({ entropy: hal.entropy }),
    createAppletActor(),
    createTransportActor(),
  ];
  const scheduler = new Scheduler({
    capabilities: DEVICE_CAPABILITIES,
    operationCapabilities: DEVICE_OPERATION_CAPABILITIES,
    clock: hal.clock,
    timers: hal.timers,
    seed: options.seed,
    log: options.log,
    traceBody: options.traceBody,
    defaultTimeoutMs: options.defaultTimeoutMs,
  });
  await scheduler.start(actors);
  return {
    scheduler,
    selfTests,
    actors,
    stop: async () => {
      await scheduler.idle();
      await scheduler.stop();
      hal.flash.sync();
    },
  };
}
