/**
 * The Pico firmware as a smart card through the bridge: `tools/bridge.ts --simulated` runs the device bundle in
 * the Kaluma simulation and relays its serial framing to real pcscd + vpcd; OpenSC initialises it (sc-hsm-tool),
 * generates a P-256 key and signs (pkcs11-tool), and openssl verifies the signature with the public key read back.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireReaderLock, ensurePcscd, initialiseAndSignWithP256, removeDirectory, skipEndToEnd, startBridge, type BridgeProcess } from './harness.js';

const SO_PIN = '3537363231383830';
const PIN = '648219';

describe.skipIf(skipEndToEnd())('the Pico firmware through the bridge (Kaluma simulation, pcscd, vpcd, OpenSC)', () => {
  let stopPcscd: () => Promise<void> = async () => undefined;
  let releaseReader: () => void = () => undefined;
  let bridge: BridgeProcess | undefined;
  const work = mkdtempSync(join(tmpdir(), 'pico-bridge-e2e-'));

  beforeAll(async () => {
    releaseReader = await acquireReaderLock();
    stopPcscd = await ensurePcscd();
    bridge = await startBridge(['--simulated']);
  }, 180_000);

  afterAll(async () => {
    await bridge?.stop();
    removeDirectory(work);
    await stopPcscd();
    releaseReader();
  }, 60_000);

  it('initialises, generates a P-256 key, signs, and openssl verifies the signature', async () => {
    const output = (): string => bridge?.output() ?? '';
    await initialiseAndSignWithP256({ directory: work, soPin: SO_PIN, pin: PIN, text: 'signed by the Pico firmware\n', context: output });
    expect(output()).not.toMatch(/simulation problem/);
  }, 300_000);
});
