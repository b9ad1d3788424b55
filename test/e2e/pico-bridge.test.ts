/**
 * The Pico firmware as a smart card through the bridge: `tools/bridge.ts --simulated` runs the device bundle in
 * the Kaluma simulation and relays its serial framing to real pcscd + vpcd; OpenSC initialises it (sc-hsm-tool),
 * generates a P-256 key and signs (pkcs11-tool), and openssl verifies the signature with the public key read back.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT, acquireReaderLock, ensurePcscd, pkcs11, removeDirectory, run, skipEndToEnd } from './harness.js';

const SO_PIN = '3537363231383830';
const PIN = '648219';

describe.skipIf(skipEndToEnd())('the Pico firmware through the bridge (Kaluma simulation, pcscd, vpcd, OpenSC)', () => {
  let stopPcscd: () => Promise<void> = async () => undefined;
  let releaseReader: () => void = () => undefined;
  let bridge: ChildProcess | undefined;
  let output = '';
  const work = mkdtempSync(join(tmpdir(), 'pico-bridge-e2e-'));
  const file = (name: string): string => join(work, name);

  beforeAll(async () => {
    releaseReader = await acquireReaderLock();
    stopPcscd = await ensurePcscd();
    bridge = spawn(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'tools', 'bridge.ts'), '--simulated'], { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the bridge did not attach:\n${output}`)), 120_000);
      const onData = (chunk: Buffer) => {
        output += chunk.toString('utf8');
        if (output.includes('vpcd: attached')) {
          clearTimeout(timer);
          resolve();
        }
      };
      bridge?.stdout?.on('data', onData);
      bridge?.stderr?.on('data', onData);
      bridge?.on('exit', (code) => reject(new Error(`the bridge exited (${code}):\n${output}`)));
    });
  }, 180_000);

  afterAll(async () => {
    if (bridge && bridge.exitCode === null) {
      const exited = new Promise((resolve) => bridge?.on('exit', resolve));
      bridge.kill('SIGINT');
      await exited;
    }
    removeDirectory(work);
    await stopPcscd();
    releaseReader();
  }, 60_000);

  it('initialises, generates a P-256 key, signs, and openssl verifies the signature', async () => {
    const initialized = await run('sc-hsm-tool', ['--initialize', '--so-pin', SO_PIN, '--pin', PIN, '--label', 'pico'], { timeoutMs: 120_000 });
    expect(initialized.code, `${initialized.output}\n${output}`).toBe(0);
    const generated = await pkcs11('--login', '--pin', PIN, '--keypairgen', '--key-type', 'EC:prime256v1', '--id', '01', '--label', 'pico-key');
    expect(generated.code, `${generated.output}\n${output}`).toBe(0);
    const message = file('message.txt');
    writeFileSync(message, 'signed by the Pico firmware\n');
    const signature = file('signature.der');
    const signed = await pkcs11('--login', '--pin', PIN, '--sign', '--id', '01', '-m', 'ECDSA-SHA256', '--signature-format', 'openssl', '-i', message, '-o', signature);
    expect(signed.code, `${signed.output}\n${output}`).toBe(0);
    const publicDer = file('public.der');
    const read = await pkcs11('--read-object', '--type', 'pubkey', '--id', '01', '-o', publicDer);
    expect(read.code, read.output).toBe(0);
    const publicPem = file('public.pem');
    expect((await run('openssl', ['pkey', '-pubin', '-inform', 'DER', '-in', publicDer, '-out', publicPem])).code).toBe(0);
    const verified = await run('openssl', ['dgst', '-sha256', '-verify', publicPem, '-signature', signature, message]);
    expect(verified.output).toMatch(/Verified OK/);
    expect(output).not.toMatch(/simulation problem/);
  }, 300_000);
});
