/**
 * `npm start`: runs the HSM on this host as a virtual smart card.
 *
 *   npm start -- [--data DIR] [--vpcd HOST:PORT | --no-vpcd] [--socket PATH]
 *
 * Prints what it does; Ctrl-C (SIGINT) or SIGTERM shuts down cleanly (links closed, actors idle, flash synced).
 */
import { parseArgs } from 'node:util';
import { defaultDataDirectory, HOST_ENGINES, startHostBoard, VPCD_DEFAULT_HOST, VPCD_DEFAULT_PORT, type HostEngineName } from './host.js';
import { lifecycleProtocol } from '../messages/lifecycle.js';
import { storageProtocol } from '../messages/storage.js';

const usage = `usage: npm start -- [--data DIR] [--vpcd HOST:PORT | --no-vpcd] [--socket PATH] [--flash-sectors N] [--engine node|portable]
  --data DIR        where the flash image, device secret and socket live (default ${defaultDataDirectory()})
  --vpcd HOST:PORT  pcscd's vpcd reader to connect to (default ${VPCD_DEFAULT_HOST}:${VPCD_DEFAULT_PORT})
  --no-vpcd         do not connect to vpcd; serve the local socket only
  --socket PATH     the local socket for the management tool (default DATA/hsm.sock)
  --flash-sectors N size of a NEW flash image in 4 KiB sectors (default 256 = 1 MiB, the Pico's region; 16..4096)
  --engine NAME     crypto engine: node (OpenSSL through node:crypto, default: fast, RSA and AES), portable
                    (@noble: seven curves and AES, no RSA) or device (the Pico's engine: P-256 and SHA-256
                    only, no RSA or AES; to develop against the board's profile on the host)`;

function fail(message: string): never {
  process.stderr.write(`${message}\n${usage}\n`);
  process.exit(2);
}

function parseVpcd(text: string): { host: string; port: number } {
  const separator = text.lastIndexOf(':');
  if (separator <= 0) fail(`--vpcd wants HOST:PORT, got "${text}"`);
  const port = Number(text.slice(separator + 1));
  if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`--vpcd port must be 1..65535, got "${text.slice(separator + 1)}"`);
  return { host: text.slice(0, separator), port };
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        data: { type: 'string' },
        vpcd: { type: 'string' },
        'no-vpcd': { type: 'boolean' },
        socket: { type: 'string' },
        'flash-sectors': { type: 'string' },
        engine: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    });
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
  if (parsed.values.help) {
    process.stdout.write(`${usage}\n`);
    return;
  }
  const log = (line: string): void => {
    process.stdout.write(`${new Date().toISOString()} ${line}\n`);
  };
  const vpcd = parsed.values['no-vpcd'] ? null : parseVpcd(parsed.values.vpcd ?? `${VPCD_DEFAULT_HOST}:${VPCD_DEFAULT_PORT}`);
  let flashSectors: number | undefined;
  if (parsed.values['flash-sectors'] !== undefined) {
    flashSectors = Number(parsed.values['flash-sectors']);
    if (!Number.isInteger(flashSectors) || flashSectors < 16 || flashSectors > 4096) fail(`--flash-sectors must be 16..4096, got "${parsed.values['flash-sectors']}"`);
  }
  const engineName = (parsed.values.engine ?? 'node') as string;
  if (!Object.prototype.hasOwnProperty.call(HOST_ENGINES, engineName)) fail(`--engine must be node, portable or device, got "${engineName}"`);
  const engine = HOST_ENGINES[engineName as HostEngineName];
  log(`crypto engine: ${engine.name}`);
  const board = await startHostBoard({ engine, dataDirectory: parsed.values.data ?? defaultDataDirectory(), vpcd, socketPath: parsed.values.socket, log, flashSectors });
  const info = await board.device.scheduler.call('board', lifecycleProtocol, 'info', {});
  const capacity = await board.device.scheduler.call('board', storageProtocol, 'capacity', {});
  if (info.ok) log(`device ${info.value.serial}: ${info.value.stage}${info.value.problem ? ` (${info.value.problem})` : ''}`);
  if (capacity.ok) log(`storage: ${capacity.value.used} of ${capacity.value.total} bytes used, ${capacity.value.files} files`);
  log(`ready: local socket ${board.socketPath}${vpcd ? `, vpcd ${vpcd.host}:${vpcd.port}` : ''}; Ctrl-C to stop`);

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: shutting down`);
    board.shutdown().then(
      () => {
        log('stopped; flash image synced');
        process.exit(0);
      },
      (error: unknown) => {
        log(`shutdown failed: ${error instanceof Error ? error.message : String(error)}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((error: unknown) => {
  process.stderr.write(`pico-hsm: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
