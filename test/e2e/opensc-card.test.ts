/**
 * The virtual smart card through real pcscd + vpcd + OpenSC: identification, initialisation, token listing,
 * PIN flows (change, lock, SO unblock, SO retry limit) and persistence across an HSM restart.
 */
import { describe, expect, it } from 'vitest';
import { pkcs11, run, skipEndToEnd } from './harness.js';
import { useHsmOnReader } from './suite.js';

const SO_PIN = '3537363231383830';

describe.skipIf(skipEndToEnd())('OpenSC sees and manages the HSM as a SmartCard-HSM', () => {
  const reader = useHsmOnReader();

  it('opensc-tool -n names the card', async () => {
    const result = await run('opensc-tool', ['-n']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^SmartCard-HSM version \d+\.\d+$/m);
  });

  it('sc-hsm-tool reports a device that was never initialised', async () => {
    const result = await run('sc-hsm-tool', []);
    expect(result.output).toContain('SmartCard-HSM has never been initialized');
  });

  it('sc-hsm-tool --initialize commissions it, and sc-hsm-tool prints the device', async () => {
    const initialized = await run('sc-hsm-tool', ['--initialize', '--so-pin', SO_PIN, '--pin', '648219', '--label', 'test']);
    expect(initialized.code).toBe(0);
    expect(initialized.output).not.toMatch(/failed/i);
    const info = await run('sc-hsm-tool', []);
    expect(info.code).toBe(0);
    expect(info.stdout).toContain('User PIN reset with SO-PIN enabled');
    expect(info.stdout).toMatch(/SO-PIN tries left\s*:\s*15/);
    expect(info.stdout).toMatch(/User PIN tries left\s*:\s*3/);
  });

  it('pkcs11-tool -L shows the token with its label and serial', async () => {
    const listed = await pkcs11('-L');
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/token label\s*:\s*test \(UserPIN\)/);
    expect(listed.stdout).toMatch(/serial num\s*:\s*TSHSM[0-9A-F]{6}/);
    expect(listed.stdout).toContain('token initialized');
    expect(listed.stdout).toContain('PIN initialized');
  });

  it('pkcs11-tool --login -O lists no objects yet, and pkcs15-tool -D dumps the card', async () => {
    const objects = await pkcs11('--login', '--pin', '648219', '-O');
    expect(objects.code).toBe(0);
    expect(objects.stdout).not.toMatch(/Private Key Object|Public Key Object|Certificate Object|Data object/);
    const dump = await run('pkcs15-tool', ['-D']);
    expect(dump.code).toBe(0);
    expect(dump.stdout).toContain('PKCS#15 Card [test]');
    expect(dump.stdout).toContain('PIN [UserPIN]');
    expect(dump.stdout).toContain('PIN [SOPIN]');
  });

  it('changes the user PIN, locks after three wrong PINs, and the SO-PIN unblocks it', async () => {
    const changed = await pkcs11('--login', '--pin', '648219', '--change-pin', '--new-pin', '123456');
    expect(changed.code).toBe(0);
    expect(changed.output).toContain('PIN successfully changed');
    expect((await pkcs11('--login', '--pin', '648219', '-O')).output).toContain('CKR_PIN_INCORRECT');
    expect((await pkcs11('--login', '--pin', '999999', '-O')).output).toContain('CKR_PIN_INCORRECT');
    expect((await pkcs11('--login', '--pin', '999999', '-O')).output).toContain('CKR_PIN_LOCKED');
    expect((await pkcs11('--login', '--pin', '123456', '-O')).output).toContain('CKR_PIN_LOCKED');
    const unblocked = await pkcs11('--login', '--login-type', 'so', '--so-pin', SO_PIN, '--init-pin', '--new-pin', '654321');
    expect(unblocked.code).toBe(0);
    expect(unblocked.output).toContain('User PIN successfully initialized');
    const loggedIn = await pkcs11('--login', '--pin', '654321', '-O');
    expect(loggedIn.code).toBe(0);
    expect(loggedIn.output).not.toContain('CKR_');
  });

  it('keeps its state across a restart of the HSM process', async () => {
    const restarted = await reader.restart();
    expect(restarted.output()).toMatch(/device TSHSM[0-9A-F]{6}: operational/);
    const loggedIn = await pkcs11('--login', '--pin', '654321', '-O');
    expect(loggedIn.code).toBe(0);
    const listed = await pkcs11('-L');
    expect(listed.stdout).toMatch(/token label\s*:\s*test \(UserPIN\)/);
  });

  it('enforces the SO-PIN retry limit (wrong SO-PINs count down to blocked)', async () => {
    const wrongSo = '0102030405060708';
    let last = '';
    for (let attempt = 15; attempt >= 1; attempt--) {
      const result = await pkcs11('--login', '--login-type', 'so', '--so-pin', wrongSo, '--init-pin', '--new-pin', '111111');
      last = result.output;
      expect(result.code).not.toBe(0);
    }
    expect(last).toContain('CKR_PIN_LOCKED');
    const info = await run('sc-hsm-tool', []);
    expect(info.stdout).toContain('SO-PIN locked');
    const rightSoNow = await pkcs11('--login', '--login-type', 'so', '--so-pin', SO_PIN, '--init-pin', '--new-pin', '111111');
    expect(rightSoNow.output).toContain('CKR_PIN_LOCKED');
  });
});
