/**
 * The host board: the composition root for running the HSM as a virtual smart card on a Linux host.
 *
 * HAL: a NOR flash image file (the Pico's geometry), OS entropy, the monotonic clock, Node timers, a device-secret
 * file readable only by its owner, no watchdog/LED/button (user presence is always granted).
 * Links: vpcd (pcscd's virtual reader, so PC/SC and OpenSC see a card) and a local unix socket (management tool
 * and tests).
 * Crypto engine: node:crypto (OpenSSL: fast, and the RSA and AES the portable engine lacks) by default;
 * `portable` (noble, what the Pico runs) to reproduce the device's behaviour exactly. Algorithm families: EC, RSA
 * and AES (what the engine lacks is refused).
 */
import { mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { aesOperations } from '../actors/crypto/aes.js';
import { ecOperations } from '../actors/crypto/ec.js';
import type { OperationFamilies } from '../actors/crypto/operations.js';
import { rsaOperations } from '../actors/crypto/rsa.js';
import { SMARTCARD_HSM_ATR } from '../actors/transport.js';
import { deviceEngine } from '../hal/crypto/device.js';
import { nodeEngine } from '../hal/crypto/node.js';
import { portableEngine } from '../hal/crypto/portable.js';
import type { CryptoEngine } from '../hal/crypto/types.js';
import { FileFlash } from '../hal/host/flash.js';
import { SocketLink, describeSocketLinkEvent } from '../hal/host/socket-link.js';
import { FileDeviceSecret, loggingLed, monotonicClock, noWatchdog, nodeTimers, osEntropy, presenceAlwaysGranted } from '../hal/host/system.js';
import { VpcdLink, describeVpcdEvent, VPCD_DEFAULT_HOST, VPCD_DEFAULT_PORT, type CardPowerChange } from '../hal/host/vpcd-link.js';
import type { FlashGeometry, Hal } from '../hal/types.js';
import { transportProtocol } from '../messages/transport.js';
import { assembleDevice, type Device } from './device.js';

/** 1 MiB of flash, the Pico's geometry: the same capacity the device has for keys and objects. */
export const HOST_GEOMETRY: FlashGeometry = { sectorSize: 4096, pageSize: 256, sectorCount: 256 };
/** PBKDF2 iterations per PIN verification on the host. */
export const HOST_PIN_ITERATIONS = 10_000;

/** The algorithm families the host offers: all of them. */
export const HOST_OPERATION_FAMILIES: OperationFamilies = { ec: ecOperations, rsa: rsaOperations, aes: aesOperations };

export const HOST_ENGINES = { node: nodeEngine, portable: portableEngine, device: deviceEngine } as const;
export type HostEngineName = keyof typeof HOST_ENGINES;

export function defaultDataDirectory(): string {
  const base = process.env.XDG_DATA_HOME ?? join(homedir(), '.local', 'share');
  return join(base, 'pico-hsm-ts');
}

export interface HostBoardOptions {
  readonly dataDirectory: string;
  /** vpcd address, or null for no PC/SC link (socket only). */
  readonly vpcd: { host: string; port: number } | null;
  /** The local socket's path; default DATA/hsm.sock. */
  readonly socketPath?: string;
  /** The crypto engine (default: node). */
  readonly engine?: CryptoEngine;
  readonly log?: (line: string) => void;
  readonly pinIterations?: number;
  /** Flash sectors of 4 KiB (default 256: 1 MiB, like the Pico's region). Fixed when the image is created. */
  readonly flashSectors?: number;
}

export interface HostBoard {
  readonly device: Device;
  readonly socketPath: string;
  readonly flashPath: string;
  /** Closes the links, lets actors finish, flushes the flash image. */
  shutdown(): Promise<void>;
}

export async function startHostBoard(options: HostBoardOptions): Promise<HostBoard> {
  const log = options.log ?? (() => undefined);
  const dataDirectory = resolve(options.dataDirectory);
  mkdirSync(dataDirectory, { recursive: true, mode: 0o700 });
  const flashPath = join(dataDirectory, 'flash.img');
  const socketPath = options.socketPath ?? join(dataDirectory, 'hsm.sock');
  const geometry: FlashGeometry = { ...HOST_GEOMETRY, sectorCount: options.flashSectors ?? HOST_GEOMETRY.sectorCount };
  const flash = new FileFlash(flashPath, geometry);
  const hal: Hal = {
    flash,
    entropy: osEntropy,
    clock: monotonicClock,
    timers: nodeTimers(),
    deviceSecret: new FileDeviceSecret(join(dataDirectory, 'device-secret'), osEntropy),
    watchdog: noWatchdog,
    led: loggingLed(),
    button: presenceAlwaysGranted,
  };
  log(`flash image ${flashPath} (${geometry.sectorCount} sectors of ${geometry.sectorSize} bytes)`);
  const device = await assembleDevice({
    hal,
    engine: options.engine ?? nodeEngine,
    families: HOST_OPERATION_FAMILIES,
    pinIterations: options.pinIterations ?? HOST_PIN_ITERATIONS,
    log,
  });

  // Each link client is its own card session: vpcd's reader is session 0, socket clients 1, 2, ...
  const onApdu = async (command: Uint8Array, session = 0): Promise<Uint8Array> => {
    const answered = await device.scheduler.call('link', transportProtocol, 'apdu', { bytes: command, session });
    if (!answered.ok) throw new Error(`transport: ${answered.error.code}`);
    return answered.value.bytes;
  };
  const onPower = async (change: CardPowerChange, session = 0): Promise<void> => {
    const event = change === 'powerOff' ? 'off' : change === 'powerOn' ? 'on' : 'reset';
    await device.scheduler.call('link', transportProtocol, 'power', { event, session });
  };

  const socket = new SocketLink({ path: socketPath, atr: SMARTCARD_HSM_ATR, onApdu, onPower, onEvent: (event) => log(describeSocketLinkEvent(event)) });
  await socket.start();

  let vpcd: VpcdLink | undefined;
  if (options.vpcd) {
    let warnedUnreachable = false;
    vpcd = new VpcdLink({
      host: options.vpcd.host,
      port: options.vpcd.port,
      atr: SMARTCARD_HSM_ATR,
      onApdu,
      onPower,
      onEvent: (event) => {
        if (event.type === 'disconnected' && event.reason.kind === 'connectFailed') {
          if (!warnedUnreachable) {
            log(
              `vpcd is not reachable at ${options.vpcd?.host}:${options.vpcd?.port} (${event.reason.message}). ` +
                'Is pcscd running with the vpcd reader? Install: apt-get install pcscd vsmartcard-vpcd opensc opensc-pkcs11, ' +
                'then run `npm run pcscd` in another terminal. Retrying in the background; the local socket works meanwhile.',
            );
            warnedUnreachable = true;
          }
          return;
        }
        if (event.type === 'retrying' && warnedUnreachable) return;
        if (event.type === 'connected') warnedUnreachable = false;
        log(describeVpcdEvent(event));
      },
    });
    vpcd.start();
  }

  let stopped = false;
  return {
    device,
    socketPath,
    flashPath,
    async shutdown() {
      if (stopped) return;
      stopped = true;
      await vpcd?.close();
      await socket.close();
      await device.stop();
      flash.close();
    },
  };
}

export { VPCD_DEFAULT_HOST, VPCD_DEFAULT_PORT };
