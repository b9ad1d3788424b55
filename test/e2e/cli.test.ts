/**
 * End-to-end: the `pico-hsm` command (bin/pico-hsm.mjs -> app/cli.ts) against a real host HSM process serving only
 * its local socket (--no-vpcd): no pcscd, no OpenSC, so this suite never skips. openssl, when installed, checks
 * what the CLI produces (signatures, public keys, the registered device certificate).
 */
import { spawn, spawnSync } from 'node:child_process';
import { constants, createECDH, createPublicKey, generateKeyPairSync, publicEncrypt, verify as nodeVerify } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HsmClient, HsmError } from '../../app/client.js';
import { PROJECT_ROOT, removeDirectory, startHsm, type HsmProcess } from './harness.js';

const CLI = join(PROJECT_ROOT, 'bin', 'pico-hsm.mjs');
const PIN = '482913';
const SO_PIN = '0f1e2d3c4b5a6978';
const HAS_OPENSSL = spawnSync('openssl', ['version']).status === 0;

interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stdoutBytes: Buffer;
  readonly stderr: string;
}

/** Runs the CLI with a clean PICO_HSM_* environment; never rejects. */
function cli(args: readonly string[], options: { input?: string | Buffer; env?: Record<string, string> } = {}): Promise<CliResult> {
  return new Promise((resolveRun) => {
    const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('PICO_HSM_')));
    const child = spawn(process.execPath, [CLI, ...args], { cwd: PROJECT_ROOT, env: { ...env, ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.stdin.end(options.input ?? '');
    child.on('close', (code) => {
      const bytes = Buffer.concat(stdout);
      resolveRun({ code, stdout: bytes.toString('utf8'), stdoutBytes: bytes, stderr: Buffer.concat(stderr).toString('utf8') });
    });
  });
}

/** A host HSM process on the local socket only: the CLI needs neither pcscd nor OpenSC. */
function startSocketHsm(extra: readonly string[] = []): Promise<HsmProcess> {
  return startHsm(mkdtempSync(join(tmpdir(), 'pico-hsm-cli-')), ['--no-vpcd', ...extra]);
}

function openssl(args: readonly string[], input?: string): { code: number | null; output: string } {
  const result = spawnSync('openssl', [...args], { input, encoding: 'utf8' });
  return { code: result.status, output: `${result.stdout}${result.stderr}` };
}

describe('pico-hsm without a device', () => {
  const empty = mkdtempSync(join(tmpdir(), 'pico-hsm-absent-'));
  afterAll(() => removeDirectory(empty));

  it('exits 3 with "device absent" when no HSM listens', async () => {
    const result = await cli(['status', '--data', empty]);
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/^pico-hsm: device absent: no HSM is listening on .*hsm\.sock \(ENOENT\); start one with `pico-hsm start`/);
    const viaEnvironment = await cli(['keys', 'list'], { env: { PICO_HSM_SOCKET: join(empty, 'nothing.sock') } });
    expect(viaEnvironment.code).toBe(3);
    expect(viaEnvironment.stderr).toContain('nothing.sock');
  });

  it('exits 2 on usage errors, 0 for --help', async () => {
    expect((await cli([])).code).toBe(2);
    const unknown = await cli(['frobnicate', '--data', empty]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "frobnicate"');
    const badOption = await cli(['status', '--colour']);
    expect(badOption.code).toBe(2);
    expect(badOption.stderr).toMatch(/Unknown option '--colour'/);
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('usage: pico-hsm <command>');
    const badType = await cli(['keys', 'generate', '--type', 'ec:p999', '--data', empty, '--pin', PIN]);
    expect(badType.code).toBe(2);
    expect(badType.stderr).toContain('unknown key type "ec:p999"');
  });

  it('bridge and flash say when the Pico board is not available; serial says what is missing', async () => {
    for (const command of ['bridge', 'flash']) {
      const result = await cli([command]);
      const script = join(PROJECT_ROOT, 'tools', command === 'bridge' ? 'bridge.ts' : 'flash-pico.ts');
      if (!existsSync(script)) {
        expect(result.code).toBe(1);
        expect(result.stderr).toContain('the Raspberry Pi Pico board is not available yet');
      }
    }
    const serial = await cli(['status', '--serial', '/dev/ttyACM-no-such-port']);
    if (existsSync(join(PROJECT_ROOT, 'hal', 'serial-framing.ts'))) expect([1, 3]).toContain(serial.code);
    else {
      expect(serial.code).toBe(1);
      expect(serial.stderr).toContain('the serial link to a Pico board is not available yet');
    }
  });
});

describe('pico-hsm against a host HSM process', () => {
  let hsm: HsmProcess;
  let work: string;
  let device: string[];
  let rsaOffered = false;
  const file = (name: string): string => join(work, name);

  beforeAll(async () => {
    hsm = await startSocketHsm();
    work = mkdtempSync(join(tmpdir(), 'pico-hsm-cli-work-'));
    device = ['--data', hsm.dataDirectory];
    writeFileSync(file('message.txt'), 'a message signed inside the HSM\n');
  }, 60_000);

  afterAll(async () => {
    if (hsm) {
      expect(await hsm.stop()).toBe(0);
      removeDirectory(hsm.dataDirectory);
    }
    if (work) removeDirectory(work);
  }, 30_000);

  it('status: serial, firmware, stage, PINs, storage, algorithms, self-tests (and --json)', async () => {
    const result = await cli(['status', ...device]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^Serial +\S+/m);
    expect(result.stdout).toMatch(/^Firmware +\d+\.\d+/m);
    expect(result.stdout).toMatch(/^Lifecycle stage +installed/m);
    expect(result.stdout).toMatch(/^User PIN +not set/m);
    expect(result.stdout).toMatch(/^Storage +[\d,]+ of [\d,]+ bytes used/m);
    expect(result.stdout).toMatch(/^EC curves +.*secp256r1/m);
    expect(result.stdout).toMatch(/^Self-tests +\d+ passed/m);
    expect(result.stderr).toContain('run `pico-hsm init`');
    const json = await cli(['status', '--json', ...device]);
    const info = JSON.parse(json.stdout) as { rsaBits: number[]; userPin: { state: string } };
    expect(info.userPin.state).toBe('unset');
    rsaOffered = info.rsaBits.includes(2048);
  });

  it('init: refuses default PINs and missing PINs, commissions, guards re-initialisation', async () => {
    const defaults = await cli(['init', ...device, '--pin', '648219', '--so-pin', SO_PIN]);
    expect(defaults.code).toBe(2);
    expect(defaults.stderr).toContain('refusing the well-known default user PIN 648219');
    const defaultSo = await cli(['init', ...device, '--pin', PIN, '--so-pin', '3537363231383830']);
    expect(defaultSo.code).toBe(2);
    expect(defaultSo.stderr).toContain('refusing the well-known default SO-PIN');
    const noPin = await cli(['init', ...device]);
    expect(noPin.code).toBe(2);
    expect(noPin.stderr).toContain('New user PIN (6-15 characters) needed: pass --pin, set PICO_HSM_PIN, or run in a terminal');
    const badSo = await cli(['init', ...device, '--pin', PIN, '--so-pin', 'nothex']);
    expect(badSo.code).toBe(2);
    expect(badSo.stderr).toContain('the SO-PIN must be 16 hex digits');

    const first = await cli(['init', ...device, '--label', 'cli test'], { env: { PICO_HSM_PIN: PIN, PICO_HSM_SO_PIN: SO_PIN } });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/^Initialised device \S+: user PIN set \(3 tries\), SO-PIN set, label "cli test"\./);

    const again = await cli(['init', ...device, '--pin', PIN, '--so-pin', SO_PIN]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/is already initialised; re-initialising erases every key: pass --yes and the current SO-PIN/);
    const wrongSo = await cli(['init', ...device, '--yes', '--current-so-pin', '0000000000000009', '--pin', PIN, '--so-pin', SO_PIN]);
    expect(wrongSo.code).toBe(1);
    expect(wrongSo.stderr).toMatch(/^pico-hsm: initialise: wrong SO-PIN \(the device is initialised: re-initialising needs the current SO-PIN\), \d+ tries left \(SW 63C\w\)/);
    const reinitialised = await cli(['init', ...device, '--yes', '--current-so-pin', SO_PIN, '--pin', PIN, '--so-pin', SO_PIN]);
    expect(reinitialised.code, reinitialised.stderr).toBe(0);
    expect(reinitialised.stderr).toContain('Re-initialised device');
    const status = await cli(['status', ...device]);
    expect(status.stdout).toMatch(/^User PIN +set, 3 of 3 tries left/m);
  });

  it('keys generate / list: a table and JSON; wrong PIN and a taken id fail with the device explanation', async () => {
    const wrongPin = await cli(['keys', 'generate', ...device, '--pin', '000000']);
    expect(wrongPin.code).toBe(1);
    expect(wrongPin.stderr).toBe('pico-hsm: verify PIN: wrong PIN, 2 tries left (SW 63C2)\n');
    const generated = await cli(['keys', 'generate', ...device, '--pin', PIN, '--label', 'signing', '--out', file('pub1.pem')]);
    expect(generated.code, generated.stderr).toBe(0);
    expect(generated.stdout).toBe('key 1: EC secp256r1 "signing"\n');
    const p384 = await cli(['keys', 'generate', ...device, '--type', 'ec:p384', '--id', '5', '--json'], { env: { PICO_HSM_PIN: PIN } });
    expect(p384.code, p384.stderr).toBe(0);
    expect(JSON.parse(p384.stdout)).toMatchObject({ id: 5, type: 'ec', curve: 'secp384r1', bits: 384 });
    const taken = await cli(['keys', 'generate', ...device, '--pin', PIN, '--id', '5']);
    expect(taken.code).toBe(1);
    expect(taken.stderr).toBe('pico-hsm: generate key: a key with id 5 already exists (SW 6A89)\n');

    const table = await cli(['keys', 'list', ...device]);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID +TYPE +LABEL +PUBLIC KEY SHA-256$/);
    expect(lines[1]).toMatch(/^1 +EC secp256r1 +signing +[0-9a-f]{16}$/);
    expect(lines[2]).toMatch(/^5 +EC secp384r1 +[0-9a-f]{16}$/);
    const json = JSON.parse((await cli(['keys', 'list', '--json', ...device])).stdout) as { id: number; publicKeyPem: string }[];
    expect(json.map((key) => key.id)).toEqual([1, 5]);
    expect(json[0]!.publicKeyPem).toBe(readFileSync(file('pub1.pem'), 'utf8'));
  });

  it('sign: stdin to stdout (DER, hex, base64), verified by verify and by openssl; bad input and unknown keys fail', async () => {
    const message = readFileSync(file('message.txt'));
    const signed = await cli(['sign', ...device, '--key', '1', '--pin', PIN], { input: message });
    expect(signed.code, signed.stderr).toBe(0);
    expect(signed.stdoutBytes[0]).toBe(0x30);
    writeFileSync(file('sig.der'), signed.stdoutBytes);
    expect(nodeVerify('sha256', message, createPublicKey(readFileSync(file('pub1.pem'), 'utf8')), signed.stdoutBytes)).toBe(true);
    if (HAS_OPENSSL) {
      const checked = openssl(['dgst', '-sha256', '-verify', file('pub1.pem'), '-signature', file('sig.der'), file('message.txt')]);
      expect(checked.output).toContain('Verified OK');
    }
    const verified = await cli(['verify', ...device, '--key', '1', '--signature', file('sig.der'), '--in', file('message.txt')]);
    expect(verified.code).toBe(0);
    expect(verified.stdout).toBe('Verified OK\n');
    const tampered = await cli(['verify', ...device, '--pubkey', file('pub1.pem'), '--signature', file('sig.der')], { input: 'another message\n' });
    expect(tampered.code).toBe(1);
    expect(tampered.stderr).toBe('pico-hsm: Verification failure: the signature does not match this message and key\n');

    const hex = await cli(['sign', ...device, '--key', '1', '--pin', PIN, '--inform', 'hex', '--outform', 'hex'], { input: message.toString('hex') });
    expect(hex.code).toBe(0);
    expect(hex.stdout).toMatch(/^30[0-9a-f]+\n$/);
    writeFileSync(file('sig.hex'), hex.stdout);
    expect((await cli(['verify', ...device, '--key', '1', '--signature', file('sig.hex'), '--sigform', 'hex', '--in', file('message.txt')])).code).toBe(0);
    const base64 = await cli(['sign', ...device, '--key', '5', '--pin', PIN, '--outform', 'base64', '--in', file('message.txt')]);
    expect(base64.code).toBe(0);
    expect(Buffer.from(base64.stdout.trim(), 'base64')[0]).toBe(0x30);

    const badHex = await cli(['sign', ...device, '--key', '1', '--pin', PIN, '--inform', 'hex'], { input: 'this is not hex' });
    expect(badHex.code).toBe(2);
    expect(badHex.stderr).toBe('pico-hsm: bad input: not valid hex\n');
    const badFormat = await cli(['sign', ...device, '--key', '1', '--pin', PIN, '--outform', 'xml'], { input: 'x' });
    expect(badFormat.code).toBe(2);
    expect(badFormat.stderr).toContain('unknown output format "xml"');
    const badDigest = await cli(['sign', ...device, '--key', '1', '--pin', PIN, '--prehashed'], { input: 'short' });
    expect(badDigest.code).toBe(2);
    expect(badDigest.stderr).toContain('must be a 32-byte digest');
    const unknown = await cli(['sign', ...device, '--key', '9', '--pin', PIN], { input: message });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe('pico-hsm: key 9: no key with id 9 on the device (SW 6A82)\n');
    const missingFile = await cli(['sign', ...device, '--key', '1', '--pin', PIN, '--in', file('nope.txt')]);
    expect(missingFile.code).toBe(2);
    expect(missingFile.stderr).toContain('cannot read input file');
  });

  it('derive: ECDH with a peer public key equals the peer side; decrypt refuses an EC key', async () => {
    const peer = createECDH('prime256v1');
    peer.generateKeys();
    const peerPem = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: peer.getPublicKey().subarray(1, 33).toString('base64url'), y: peer.getPublicKey().subarray(33).toString('base64url') }, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
    writeFileSync(file('peer.pem'), peerPem);
    const derived = await cli(['derive', ...device, '--key', '1', '--peer', file('peer.pem'), '--pin', PIN, '--outform', 'hex']);
    expect(derived.code, derived.stderr).toBe(0);
    const devicePoint = createPublicKey(readFileSync(file('pub1.pem'), 'utf8')).export({ format: 'jwk' });
    const point = Buffer.concat([Buffer.of(4), Buffer.from(devicePoint.x!, 'base64url'), Buffer.from(devicePoint.y!, 'base64url')]);
    expect(derived.stdout.trim()).toBe(peer.computeSecret(point).toString('hex'));
    writeFileSync(file('peer.hex'), peer.getPublicKey().toString('hex'));
    const fromHexPoint = await cli(['derive', ...device, '--key', '1', '--peer', file('peer.hex'), '--pin', PIN, '--outform', 'hex']);
    expect(fromHexPoint.stdout).toBe(derived.stdout);
    const wrongCurve = await cli(['derive', ...device, '--key', '5', '--peer', file('peer.pem'), '--pin', PIN]);
    expect(wrongCurve.code).toBe(1);
    expect(wrongCurve.stderr).toBe('pico-hsm: derive with key 5: the peer public key is not a point on this key\'s curve (SW 6A80)\n');
    const decryptEc = await cli(['decrypt', ...device, '--key', '1', '--pin', PIN], { input: 'x' });
    expect(decryptEc.code).toBe(1);
    expect(decryptEc.stderr).toContain('cannot decrypt: EC keys derive');
  });

  it('RSA (when the device offers it): generation with progress, PKCS#1 signature checked by openssl, OAEP decryption', async () => {
    if (!rsaOffered) {
      const refused = await cli(['keys', 'generate', ...device, '--pin', PIN, '--type', 'rsa:2048']);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('RSA-2048 is not offered by this device');
      return;
    }
    const generated = await cli(['keys', 'generate', ...device, '--pin', PIN, '--type', 'rsa:2048', '--id', '32', '--label', 'rsa', '--out', file('rsa.pem')]);
    expect(generated.code, generated.stderr).toBe(0);
    expect(generated.stdout).toBe('key 32: RSA-2048 "rsa"\n');
    expect(generated.stderr).toMatch(/generating RSA-2048\.\.\. \(this can take a while; Ctrl-C stops waiting, the device stays consistent\)\ngenerating RSA-2048: done in [\d.]+ s/);
    const signature = await cli(['sign', ...device, '--key', '32', '--pin', PIN, '--in', file('message.txt'), '--out', file('rsa.sig')]);
    expect(signature.code, signature.stderr).toBe(0);
    if (HAS_OPENSSL) expect(openssl(['dgst', '-sha256', '-verify', file('rsa.pem'), '-signature', file('rsa.sig'), file('message.txt')]).output).toContain('Verified OK');
    const pss = await cli(['sign', ...device, '--key', '32', '--pin', PIN, '--alg', 'rsa-pss-sha256', '--in', file('message.txt'), '--out', file('rsa-pss.sig')]);
    expect(pss.code, pss.stderr).toBe(0);
    expect((await cli(['verify', ...device, '--key', '32', '--alg', 'rsa-pss-sha256', '--signature', file('rsa-pss.sig'), '--in', file('message.txt')])).code).toBe(0);
    const secret = Buffer.from('the secret inside');
    const ciphertext = publicEncrypt({ key: readFileSync(file('rsa.pem'), 'utf8'), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, secret);
    const decrypted = await cli(['decrypt', ...device, '--key', '32', '--pin', PIN], { input: ciphertext });
    expect(decrypted.code, decrypted.stderr).toBe(0);
    expect(decrypted.stdout).toBe('the secret inside');
  });

  it('random: bytes from the device in hex or base64', async () => {
    const hex = await cli(['random', '16', ...device]);
    expect(hex.code).toBe(0);
    expect(hex.stdout).toMatch(/^[0-9a-f]{32}\n$/);
    const bad = await cli(['random', 'lots', ...device]);
    expect(bad.code).toBe(2);
  });

  it('attest: the self-signed device certificate and a key\'s request; an unknown key fails', async () => {
    const attested = await cli(['attest', ...device, '--key', '1']);
    expect(attested.code, attested.stderr).toBe(0);
    expect(attested.stdout).toMatch(/^OK {4}device certificate \S+: self-signature by the device key$/m);
    expect(attested.stdout).toContain('not registered with an operator CA');
    expect(attested.stdout).toMatch(/^OK {4}key 1 request \S+: self-signature by the key \(proof of possession\)$/m);
    expect(attested.stdout).toMatch(/^OK {4}key 1 request: signed by the device key \S+ \(generated inside this device\)$/m);
    const unknown = await cli(['attest', ...device, '--key', '77']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe('pico-hsm: attest key 77: no key with id 77 on the device (SW 6A82)\n');
  });

  it.skipIf(!HAS_OPENSSL)('register: an X.509 certificate for the device key from an operator CA; attest checks the chain', async () => {
    expect(openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', file('ca.key')]).code).toBe(0);
    expect(openssl(['req', '-x509', '-new', '-key', file('ca.key'), '-subj', '/CN=Test Operator CA', '-days', '30', '-out', file('ca.pem')]).code).toBe(0);
    const registered = await cli(['register', ...device, '--ca-key', file('ca.key'), '--ca-cert', file('ca.pem'), '--out', file('device.pem'), '--pin', PIN]);
    expect(registered.code, registered.stderr).toBe(0);
    expect(registered.stderr).toMatch(/^Registered device \S+ with the CA "CN=Test Operator CA": certificate written to .*device\.pem, and stored on the device \(file CAFF\)\./);
    expect(openssl(['verify', '-CAfile', file('ca.pem'), file('device.pem')]).output).toContain('device.pem: OK');
    const attested = await cli(['attest', ...device, '--ca-cert', file('ca.pem')]);
    expect(attested.code, attested.stdout + attested.stderr).toBe(0);
    expect(attested.stdout).toMatch(/^OK {4}signed by the CA "CN=Test Operator CA"$/m);

    expect(openssl(['ecparam', '-name', 'secp384r1', '-genkey', '-noout', '-out', file('other.key')]).code).toBe(0);
    expect(openssl(['req', '-x509', '-new', '-key', file('other.key'), '-subj', '/CN=Someone Else', '-days', '30', '-out', file('other.pem')]).code).toBe(0);
    const wrongCa = await cli(['attest', ...device, '--ca-cert', file('other.pem')]);
    expect(wrongCa.code).toBe(1);
    expect(wrongCa.stderr).toBe('pico-hsm: attestation failed: signed by the CA "CN=Someone Else"\n');
    const mismatched = await cli(['register', ...device, '--ca-key', file('other.key'), '--ca-cert', file('ca.pem'), '--no-store']);
    expect(mismatched.code).toBe(2);
    expect(mismatched.stderr).toBe('pico-hsm: the CA certificate does not belong to the CA key\n');
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(file('rsa-ca.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const rsaCa = await cli(['register', ...device, '--ca-key', file('rsa-ca.key'), '--ca-cert', file('ca.pem'), '--no-store']);
    expect(rsaCa.code).toBe(2);
    expect(rsaCa.stderr).toBe('pico-hsm: the operator CA key must be EC P-256 or P-384\n');
  });

  it('pin change and unblock, with the device explanation on failure', async () => {
    const wrongOld = await cli(['pin', 'change', ...device, '--pin', '999999', '--new-pin', '271828']);
    expect(wrongOld.code).toBe(1);
    expect(wrongOld.stderr).toMatch(/^pico-hsm: change PIN: wrong PIN, \d tries? left \(SW 63C\d\)\n$/);
    const defaultNew = await cli(['pin', 'change', ...device, '--pin', PIN, '--new-pin', '123456']);
    expect(defaultNew.code).toBe(2);
    const changed = await cli(['pin', 'change', ...device], { env: { PICO_HSM_PIN: PIN, PICO_HSM_NEW_PIN: '271828' } });
    expect(changed.code, changed.stderr).toBe(0);
    expect(changed.stderr).toBe('PIN changed\n');
    // Block the PIN: the attempt that uses the last try answers 6983.
    let last: CliResult | undefined;
    for (let attempt = 0; attempt < 3; attempt++) last = await cli(['sign', ...device, '--key', '1', '--pin', '000000'], { input: 'x' });
    expect(last?.code).toBe(1);
    expect(last?.stderr).toBe('pico-hsm: verify PIN: the PIN is blocked (no tries left): unblock it with the SO-PIN, or re-initialise (SW 6983)\n');
    const wrongSo = await cli(['pin', 'unblock', ...device, '--so-pin', '0000000000000009', '--new-pin', '314159']);
    expect(wrongSo.code).toBe(1);
    expect(wrongSo.stderr).toMatch(/^pico-hsm: unblock PIN: wrong SO-PIN, \d+ tries left \(SW 63C\w\)\n$/);
    const unblocked = await cli(['pin', 'unblock', ...device, '--so-pin', SO_PIN, '--new-pin', '314159']);
    expect(unblocked.code, unblocked.stderr).toBe(0);
    const signed = await cli(['sign', ...device, '--key', '1', '--pin', '314159'], { input: 'x' });
    expect(signed.code, signed.stderr).toBe(0);
    const soChanged = await cli(['pin', 'change', '--so', ...device, '--so-pin', SO_PIN, '--new-so-pin', '8877665544332211']);
    expect(soChanged.code, soChanged.stderr).toBe(0);
    expect((await cli(['pin', 'change', '--so', ...device, '--so-pin', '8877665544332211', '--new-so-pin', SO_PIN])).code).toBe(0);
  });

  it('keys delete: confirmation, deletion, then "no key" for the same id', async () => {
    const unconfirmed = await cli(['keys', 'delete', '5', ...device, '--pin', '314159']);
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.stderr).toBe('pico-hsm: deleting key 5 cannot be undone: pass --yes\n');
    const deleted = await cli(['keys', 'delete', '5', '--yes', ...device, '--pin', '314159']);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(deleted.stderr).toBe('deleted key 5\n');
    const again = await cli(['keys', 'delete', '5', '--yes', ...device, '--pin', '314159']);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe('pico-hsm: delete key 5: no key with id 5 on the device (SW 6A82)\n');
    const list = JSON.parse((await cli(['keys', 'list', '--json', ...device])).stdout) as { id: number }[];
    expect(list.map((key) => key.id)).not.toContain(5);
  });

  it('Ctrl-C: stops waiting, says so, exits 130; the device keeps serving', async () => {
    const child = spawn(process.execPath, [CLI, 'sign', ...device, '--key', '1', '--pin', '314159'], { cwd: PROJECT_ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const exited = new Promise<number | null>((resolveExit) => child.on('exit', (code) => resolveExit(code)));
    // Before the CLI is loaded the launcher answers (nothing sent yet); once running, the CLI says it stopped waiting.
    await new Promise((resolveWait) => setTimeout(resolveWait, 4000));
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stderr).toMatch(/pico-hsm: interrupted(; stopped waiting for the device| before anything was sent to the device)/);
    const status = await cli(['status', ...device]);
    expect(status.code).toBe(0);
  });
});

describe('pico-hsm with a full device (--flash-sectors 16)', () => {
  let hsm: HsmProcess;
  beforeAll(async () => {
    hsm = await startSocketHsm(['--flash-sectors', '16']);
  }, 60_000);
  afterAll(async () => {
    if (hsm) {
      expect(await hsm.stop()).toBe(0);
      removeDirectory(hsm.dataDirectory);
    }
  }, 30_000);

  it('keys generate fails with "storage is full" (6A84) and the device stays usable', async () => {
    const device = ['--data', hsm.dataDirectory];
    expect((await cli(['init', ...device, '--pin', PIN, '--so-pin', SO_PIN])).code).toBe(0);
    // Fill the store through the library (fast), then ask the CLI for one more key.
    const client = await HsmClient.connect({ socketPath: join(hsm.dataDirectory, 'hsm.sock') });
    let full = false;
    try {
      await client.verifyPin(PIN);
      for (let id = 1; id < 255 && !full; id++) {
        try {
          await client.generateKey({ kind: 'ec', curve: 'secp256r1' }, { id, label: `filler ${id}` });
        } catch (error) {
          if (error instanceof HsmError && error.statusWord === 0x6a84) full = true;
          else throw error;
        }
      }
    } finally {
      client.close();
    }
    expect(full).toBe(true);
    const result = await cli(['keys', 'generate', ...device, '--pin', PIN]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^pico-hsm: (generate key|write file C4\w\w): not enough memory: the device storage is full \(or the key's usage counter is exhausted\) \(SW 6A84\)\n$/);
    const status = await cli(['status', ...device]);
    expect(status.code).toBe(0);
    const listed = await cli(['keys', 'list', ...device]);
    expect(listed.code).toBe(0);
  });
});

describe('pico-hsm start', () => {
  it('runs the HSM (what npm start runs) and stops cleanly on Ctrl-C', async () => {
    const dataDirectory = mkdtempSync(join(tmpdir(), 'pico-hsm-start-'));
    const child = spawn(process.execPath, [CLI, 'start', '--data', dataDirectory, '--no-vpcd'], { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const exited = new Promise<number | null>((resolveExit) => child.on('exit', (code) => resolveExit(code)));
    await new Promise<void>((resolveReady, rejectReady) => {
      const timer = setTimeout(() => rejectReady(new Error(output)), 30_000);
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString('utf8');
        if (output.includes('ready:')) {
          clearTimeout(timer);
          resolveReady();
        }
      });
    });
    const status = await cli(['status', '--data', dataDirectory]);
    expect(status.code).toBe(0);
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(output).toContain('stopped; flash image synced');
    removeDirectory(dataDirectory);
  });
});
