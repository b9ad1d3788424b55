/**
 * Flashing, end to end with the real tools: `npm run flash` (tools/flash-pico.ts, which runs @kaluma/cli 1.0.0's
 * `kaluma write`) writes the bundle over a real TTY to a simulated Kaluma board (test/kaluma-sim/serial-board.ts:
 * a socat pseudo-terminal pair, Kaluma's REPL and YMODEM receiver, the stored program run in the Kaluma simulation),
 * then `npm run bridge -- --port` (the bridge's real-TTY path: stty and fs streams) makes that board a smart card for
 * real pcscd + vpcd + OpenSC: initialise, generate a P-256 key, sign, and openssl verifies. And flashing fails, clearly
 * and in bounded time, when nothing answers on the port, when the board NAKs every block, and when the board refuses
 * the last block although `kaluma write` says "Done".
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ttyStreams } from '../../tools/tty-streams.js';
import { FRAME_MAX_PAYLOAD, FrameDecoder, FrameType } from '../../hal/serial-framing.js';
import { startPtyPair, startSerialBoard, type SerialBoard } from '../kaluma-sim/serial-board.js';
import { PROJECT_ROOT, acquireReaderLock, ensurePcscd, initialiseAndSignWithP256, pkcs11, removeDirectory, run, skipEndToEnd, startBridge, which, type BridgeProcess, type RunResult } from './harness.js';

const SO_PIN = '3537363231383830';
const PIN = '648219';
const KALUMA = join(PROJECT_ROOT, 'node_modules', '.bin', 'kaluma');
const YMODEM_BLOCK_BYTES = 1024;

/** What this suite needs beyond the other e2e suites: socat, and @kaluma/cli with its native serialport module. */
function missingFlashTools(): string | undefined {
  const missing: string[] = [];
  if (!which('socat')) missing.push('socat (apt-get install socat)');
  if (!which('stty')) missing.push('stty (coreutils)');
  if (!existsSync(KALUMA) || spawnSync(KALUMA, ['--version'], { encoding: 'utf8' }).status !== 0) {
    missing.push('@kaluma/cli 1.0.0 with its serialport module (npm ci; building it needs python3, make and g++)');
  }
  return missing.length > 0 ? `missing: ${missing.join(', ')}` : undefined;
}

const seconds = (since: number): string => `${((performance.now() - since) / 1000).toFixed(1)} s`;

/** `npm run flash -- ARGS`, timed. */
async function npmRunFlash(args: readonly string[]): Promise<RunResult & { seconds: string }> {
  const started = performance.now();
  const result = await run('npm', ['run', 'flash', '--', ...args], { timeoutMs: 180_000 });
  return { ...result, seconds: seconds(started) };
}

/** What a flash interrupted after `.flash -w` leaves behind: Kaluma's receiver waiting for a header. Returns what the board said. */
async function startInterruptedFlash(port: string): Promise<string> {
  const { input, output, close } = ttyStreams(openSync(port, 'r+'));
  let said = '';
  input.on('data', (chunk: Buffer) => {
    said += chunk.toString('latin1');
  });
  output.write('\r.flash -w\r');
  // The receiver asks with 'C' after each second without a packet.
  await new Promise((resolveWait) => setTimeout(resolveWait, 1500));
  await close();
  return said.slice(said.indexOf('Transfer a file via YMODEM'));
}

function containsReadyFrame(bytes: Uint8Array): boolean {
  return new FrameDecoder(FRAME_MAX_PAYLOAD).push(bytes).some((frame) => frame.type === FrameType.ready);
}

describe.skipIf(skipEndToEnd(missingFlashTools))('npm run flash and npm run bridge with a Kaluma board behind a TTY (socat, @kaluma/cli, pcscd, vpcd, OpenSC)', () => {
  let stopPcscd: () => Promise<void> = async () => undefined;
  let releaseReader: () => void = () => undefined;
  let board: SerialBoard | undefined;
  let bridge: BridgeProcess | undefined;
  const work = mkdtempSync(join(tmpdir(), 'pico-flash-e2e-'));
  const file = (name: string): string => join(work, name);
  /** Built by the first test (npm run flash builds it here, so a concurrent build elsewhere cannot change it). */
  const bundlePath = file('pico-hsm.js');
  const theBoard = (): SerialBoard => {
    if (!board) throw new Error('the board has not started');
    return board;
  };

  beforeAll(async () => {
    releaseReader = await acquireReaderLock();
    stopPcscd = await ensurePcscd();
    board = await startSerialBoard();
  }, 60_000);

  afterAll(async () => {
    await bridge?.stop();
    await board?.stop();
    removeDirectory(work);
    await stopPcscd();
    releaseReader();
  }, 60_000);

  it('npm run flash builds the bundle, writes it with kaluma write (YMODEM), checks it with .flash -s and starts it: the board holds exactly its bytes', async () => {
    const flashed = await npmRunFlash(['--port', theBoard().port, '--bundle', bundlePath]);
    expect(flashed.code, flashed.output).toBe(0);
    const bundle = readFileSync(bundlePath);
    expect(flashed.stdout).toContain(`(${bundle.length} bytes) to ${theBoard().port} with @kaluma/cli 1.0.0`);
    expect(flashed.stdout).toContain(`Done. (${bundlePath} : ${bundle.length} bytes)`);
    expect(flashed.stdout).toContain(`verified: the board holds ${bundle.length} bytes of program (.flash -s)`);

    expect(theBoard().transfers).toHaveLength(1);
    const [transfer] = theBoard().transfers;
    expect(transfer.result).toBe('done');
    expect(transfer.fileName).toBe('usercode');
    expect(transfer.declaredSize).toBe(bundle.length);
    expect(transfer.dataBlocks).toBe(Math.ceil(bundle.length / YMODEM_BLOCK_BYTES));
    expect(transfer.naks).toBe(0);
    expect(transfer.badPackets).toBe(0);
    expect(Buffer.compare(Buffer.from(transfer.received), bundle)).toBe(0);
    expect(Buffer.compare(Buffer.from(theBoard().storedProgram() ?? new Uint8Array(0)), bundle)).toBe(0);
    // kaluma write's .flash -w and .load, then flash-pico's check and its second .load.
    expect(theBoard().commands).toEqual(['.flash -w', '.load', '.flash -s', '.load']);
    expect(theBoard().loads()).toBe(2);
    expect(theBoard().programRunning()).toBe(true);
    const kalumaTime = /kaluma write: done in ([\d.]+ s)/.exec(flashed.stdout)?.[1];
    const transferMs = (transfer.finishedMs ?? transfer.startedMs) - transfer.startedMs;
    console.log(
      `flash: bundle ${bundle.length} bytes; YMODEM ${transfer.dataBlocks} data blocks of 1 KiB + header + end of session, ` +
        `${transfer.naks} NAKs, ${transfer.timeouts} receiver timeouts, ${transferMs.toFixed(0)} ms on the board; ` +
        `kaluma write ${kalumaTime}; npm run flash (build, probe, write, verify) ${flashed.seconds}`,
    );
  }, 180_000);

  it('npm run bridge -- --port (the real TTY path) makes the flashed board a smart card: OpenSC initialises it, generates a P-256 key and signs; openssl verifies', async () => {
    // The program announces its read loop with a READY frame; before that the bridge's pings would land in the REPL.
    const booted = performance.now();
    await theBoard().waitForProgramOutput(containsReadyFrame, 60_000);
    const bootTime = seconds(booted);
    const attaching = performance.now();
    bridge = await startBridge(['--port', theBoard().port], 60_000);
    const attachTime = seconds(attaching);
    const bridgeOutput = (): string => bridge?.output() ?? '';
    expect(bridgeOutput()).toContain(`bridge: opened ${theBoard().port}`);

    const working = performance.now();
    await initialiseAndSignWithP256({ directory: work, soPin: SO_PIN, pin: PIN, text: 'signed by the Pico firmware, flashed with kaluma write\n', context: bridgeOutput });
    const openscTime = seconds(working);

    const stopping = performance.now();
    expect(await bridge.stop(), 'the bridge must exit on Ctrl-C (SIGINT)').toEqual({ killed: false });
    expect(bridgeOutput()).toContain('vpcd: link closed');
    expect(theBoard().problems()).toEqual([]);
    console.log(
      `bridge: board ready after ${bootTime} more; npm run bridge attached in ${attachTime}; initialise, P-256 key, sign, verify: ${openscTime}; ` +
        `stopped in ${seconds(stopping)}`,
    );
  }, 300_000);

  it('npm run flash again on the board that runs the HSM (Ctrl-C first: kaluma write alone would wait forever) keeps the key store: the key signs again', async () => {
    const bundle = readFileSync(bundlePath);
    const flashed = await npmRunFlash(['--port', theBoard().port, '--skip-build', '--bundle', bundlePath]);
    expect(flashed.code, flashed.output).toBe(0);
    expect(flashed.stdout).toContain(`${theBoard().port}: the Kaluma REPL answers`);
    expect(flashed.stdout).toContain(`verified: the board holds ${bundle.length} bytes of program (.flash -s)`);
    expect(theBoard().transfers).toHaveLength(2);
    expect(theBoard().transfers[1].result).toBe('done');
    expect(Buffer.compare(Buffer.from(theBoard().transfers[1].received), bundle)).toBe(0);
    expect(theBoard().commands.slice(4)).toEqual(['.flash -w', '.load', '.flash -s', '.load']);
    expect(theBoard().loads()).toBe(4);

    await theBoard().waitForProgramOutput(containsReadyFrame, 60_000);
    bridge = await startBridge(['--port', theBoard().port], 60_000);
    const bridgeOutput = (): string => bridge?.output() ?? '';
    const message = file('message-after-reflash.txt');
    writeFileSync(message, 'signed again after the firmware was written again\n');
    const signature = file('signature-after-reflash.der');
    const signed = await pkcs11('--login', '--pin', PIN, '--sign', '--id', '01', '-m', 'ECDSA-SHA256', '--signature-format', 'openssl', '-i', message, '-o', signature);
    expect(signed.code, `${signed.output}\n${bridgeOutput()}`).toBe(0);
    // The public key read before the re-flash.
    const verified = await run('openssl', ['dgst', '-sha256', '-verify', file('public.pem'), '-signature', signature, message]);
    expect(verified.output).toMatch(/Verified OK/);
    expect(await bridge.stop()).toEqual({ killed: false });
    expect(theBoard().problems()).toEqual([]);
    console.log(`re-flash of a running HSM: npm run flash ${flashed.seconds}; the key made before signs, openssl verifies`);
  }, 300_000);

  describe.concurrent('npm run flash on a board that is not at its prompt, or fails', () => {
    it('recovers: it first aborts a YMODEM receive left waiting by an interrupted flash (it answers with C, not a prompt), then writes', async () => {
      const waiting = await startSerialBoard();
      try {
        const interrupted = await startInterruptedFlash(waiting.port);
        expect(interrupted).toMatch(/^Transfer a file via YMODEM[^\n]*\r\nC/);
        const flashed = await npmRunFlash(['--port', waiting.port, '--skip-build', '--bundle', bundlePath]);
        expect(flashed.code, flashed.output).toBe(0);
        expect(flashed.stdout).toContain(`${waiting.port}: aborted a YMODEM receive that was still waiting; the Kaluma REPL answers`);
        expect(waiting.transfers.map((transfer) => transfer.result)).toEqual(['aborted', 'done']);
        expect(Buffer.compare(Buffer.from(waiting.storedProgram() ?? new Uint8Array(0)), readFileSync(bundlePath))).toBe(0);
        console.log(`interrupted flash: npm run flash aborted the waiting receive and wrote in ${flashed.seconds}`);
      } finally {
        await waiting.stop();
      }
    }, 60_000);

    it('fails with a clear message when nothing answers on the port', async () => {
      const pair = await startPtyPair();
      try {
        const flashed = await npmRunFlash(['--port', pair.toolPath, '--skip-build', '--bundle', bundlePath]);
        expect(flashed.code).not.toBe(0);
        expect(flashed.stderr).toContain(`nothing answers on ${pair.toolPath}: no Kaluma prompt after Ctrl-C and Enter`);
        expect(flashed.output).not.toMatch(/^done:/m);
        console.log(`nothing answers: npm run flash failed in ${flashed.seconds}`);
      } finally {
        await pair.stop();
      }
    }, 60_000);

    it('fails with a clear message when the board NAKs every block (kaluma write would wait forever)', async () => {
      const naking = await startSerialBoard({ faults: { nakEveryBlock: true } });
      try {
        const flashed = await npmRunFlash(['--port', naking.port, '--skip-build', '--bundle', bundlePath, '--timeout', '3']);
        expect(flashed.code).not.toBe(0);
        expect(flashed.stderr).toContain('kaluma write did not finish within 3 s: the board never completed the YMODEM transfer');
        expect(flashed.output).not.toMatch(/^done:/m);
        expect(naking.transfers).toHaveLength(1);
        expect(naking.transfers[0].naks).toBeGreaterThan(0);
        expect(naking.transfers[0].dataBlocks).toBe(0);
        expect(naking.loads()).toBe(0);
        console.log(`NAKs every block: ${naking.transfers[0].naks} NAKs, npm run flash failed in ${flashed.seconds}`);
      } finally {
        await naking.stop();
      }
    }, 60_000);

    it('fails with a clear message when the board refuses the last block: kaluma write says Done with the full size, .flash -s tells the truth', async () => {
      const blocks = Math.ceil(readFileSync(bundlePath).length / YMODEM_BLOCK_BYTES);
      const refusing = await startSerialBoard({ faults: { failProgrammingAtBlock: blocks } });
      try {
        const size = readFileSync(bundlePath).length;
        const flashed = await npmRunFlash(['--port', refusing.port, '--skip-build', '--bundle', bundlePath]);
        expect(flashed.code).not.toBe(0);
        // kaluma write counts a block as written when the one before it is acknowledged, and takes CA CA for the end.
        expect(flashed.stdout).toContain(`Done. (${bundlePath} : ${size} bytes)`);
        expect(flashed.stderr).toMatch(new RegExp(`the board holds \\d+ bytes of program \\(.flash -s\\), the bundle has ${size}: the transfer did not complete although kaluma write said Done`));
        expect(flashed.output).not.toMatch(/^done:/m);
        expect(refusing.transfers[0].result).toBe('verification failed');
        expect(refusing.transfers[0].dataBlocks).toBe(blocks - 1);
        expect(refusing.programRunning()).toBe(false);
        console.log(`last block refused: kaluma write still said Done; npm run flash failed in ${flashed.seconds}`);
      } finally {
        await refusing.stop();
      }
    }, 60_000);
  });
});
