/**
 * The simulated board: the whole device on hal/sim, for tests, the model checker and the fuzzer. It offers every
 * algorithm family (EC, RSA, AES) as the host does; the engine (portable by default: no RSA) decides the rest.
 *
 *   const board = await createSimBoard();
 *   const { data, statusWord } = await board.transmit('00A4040C0BE82B0601040181C31F0201');
 *   await board.reboot();              // same flash, fresh actors: what survives a power cycle
 */
import { aesOperations } from '../actors/crypto/aes.js';
import { ecOperations } from '../actors/crypto/ec.js';
import type { OperationFamilies } from '../actors/crypto/operations.js';
import { rsaOperations } from '../actors/crypto/rsa.js';
import { portableEngine } from '../hal/crypto/portable.js';
import type { CryptoEngine } from '../hal/crypto/types.js';
import { SimFlash } from '../hal/sim/flash.js';
import { createSimHal, type SimHal } from '../hal/sim/hal.js';
import type { FlashGeometry } from '../hal/types.js';
import { redactBody } from '../messages/protocol.js';
import { transportProtocol } from '../messages/transport.js';
import { toHex } from '../messages/schema.js';
import { assembleDevice, type Device } from './device.js';

/** A small region: 64 sectors of 4 KiB (256 KiB), the Pico's page and sector sizes. */
export const SIM_GEOMETRY: FlashGeometry = { sectorSize: 4096, pageSize: 256, sectorCount: 64 };

/** The algorithm families the simulated board offers: all of them, as the host. */
export const SIM_OPERATION_FAMILIES: OperationFamilies = { ec: ecOperations, rsa: rsaOperations, aes: aesOperations };

export interface SimBoardOptions {
  readonly flash?: SimFlash;
  readonly seed?: number;
  readonly engine?: CryptoEngine;
  /** The algorithm families offered (all by default; tests pass EC only to assemble the Pico's set). */
  readonly families?: OperationFamilies;
  /** PIN KDF iterations; small by default so tests stay fast (the KDF itself is tested elsewhere). */
  readonly pinIterations?: number;
  readonly traceBodies?: boolean;
}

export interface Transmitted {
  readonly data: string;
  readonly statusWord: number;
  readonly raw: Uint8Array;
}

export interface SimBoard {
  readonly hal: SimHal;
  device: Device;
  readonly logs: string[];
  /** Sends one command APDU (hex or bytes) through the transport, as a link would (card session 0 by default). */
  transmit(apdu: string | Uint8Array, session?: number): Promise<Transmitted>;
  power(event: 'on' | 'off' | 'reset', session?: number): Promise<void>;
  /** Stops every actor and starts the device again on the same flash (a power cycle). */
  reboot(): Promise<void>;
}

export function fromHex(hex: string): Uint8Array {
  const clean = hex.replace(/[\s:]/g, '');
  if (clean.length % 2 !== 0 || /[^0-9a-fA-F]/.test(clean)) throw new Error(`not hex: ${hex}`);
  return Uint8Array.from(clean.match(/../g) ?? [], (pair) => parseInt(pair, 16));
}

export async function createSimBoard(options: SimBoardOptions = {}): Promise<SimBoard> {
  const flash = options.flash ?? new SimFlash(SIM_GEOMETRY);
  const hal = createSimHal(flash, options.seed ?? 1);
  const logs: string[] = [];
  const assemble = () =>
    assembleDevice({
      hal,
      engine: options.engine ?? portableEngine,
      families: options.families ?? SIM_OPERATION_FAMILIES,
      pinIterations: options.pinIterations ?? 16,
      log: (line) => logs.push(line),
      traceBody: options.traceBodies ? redactBody : undefined,
    });
  const board: SimBoard = {
    hal,
    device: await assemble(),
    logs,
    async transmit(apdu, session = 0) {
      const bytes = typeof apdu === 'string' ? fromHex(apdu) : apdu;
      const answered = await board.device.scheduler.call('link', transportProtocol, 'apdu', { bytes, session });
      if (!answered.ok) throw new Error(`transport failed: ${answered.error.code}`);
      const raw = answered.value.bytes;
      const statusWord = ((raw[raw.length - 2] ?? 0) << 8) | (raw[raw.length - 1] ?? 0);
      return { data: toHex(raw.subarray(0, raw.length - 2)), statusWord, raw };
    },
    async power(event, session = 0) {
      const answered = await board.device.scheduler.call('link', transportProtocol, 'power', { event, session });
      if (!answered.ok) throw new Error(`transport failed: ${answered.error.code}`);
    },
    async reboot() {
      // Power comes back first: a device stopped after a power cut syncs a flash that is on again.
      if (flash.isPoweredOff) flash.powerOn();
      await board.device.stop();
      board.device = await assemble();
    },
  };
  return board;
}
