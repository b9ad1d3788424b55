/**
 * Keys through PKCS#11 (OpenSC) against the HSM process: key generation for every EC curve and RSA 1024/2048/4096,
 * signatures verified by openssl with the public key read back, RSA decryption of openssl ciphertexts, ECDH equal
 * to openssl's, objects written/read/deleted, persistence across a restart, PIN enforcement, and a full store.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pkcs11, removeDirectory, run, skipEndToEnd } from './harness.js';
import { useHsmOnReader } from './suite.js';

const SO_PIN = '3537363231383830';
const PIN = '648219';
const EC_CURVES = ['prime256v1', 'secp384r1', 'secp521r1', 'secp256k1', 'brainpoolP256r1', 'brainpoolP384r1', 'brainpoolP512r1'];
const RSA_SIZES = [1024, 2048, 4096];

describe.skipIf(skipEndToEnd())('keys and cryptography through PKCS#11', () => {
  const work = mkdtempSync(join(tmpdir(), 'pico-hsm-keys-'));
  const file = (name: string): string => join(work, name);
  const message = file('message.txt');

  /**
   * The public key read back from the token as PEM: `pkcs11-tool --read-object --type pubkey`, except that
   * pkcs11-tool 0.23 built against OpenSSL 3 cannot build a key object for 384-bit curves ("cannot create
   * EVP_PKEY", for secp384r1 and brainpoolP384r1 alike, whose EC_POINT and EC_PARAMS are well-formed); for those the
   * same public key object is read with pkcs15-tool --read-public-key.
   */
  async function publicKeyPem(id: string): Promise<string> {
    const pem = file(`pub-${id}.pem`);
    const der = file(`pub-${id}.der`);
    const read = await pkcs11('--read-object', '--type', 'pubkey', '--id', id, '-o', der);
    if (read.code !== 0 && read.output.includes('cannot create EVP_PKEY')) {
      const viaPkcs15 = await run('pkcs15-tool', ['--read-public-key', id, '-o', pem]);
      expect(viaPkcs15.code, viaPkcs15.output).toBe(0);
      return pem;
    }
    expect(read.code, read.output).toBe(0);
    const converted = await run('openssl', ['pkey', '-pubin', '-inform', 'DER', '-in', der, '-out', pem]);
    expect(converted.code, converted.output).toBe(0);
    return pem;
  }

  const reader = useHsmOnReader({
    afterStart: async () => {
      const initialized = await run('sc-hsm-tool', ['--initialize', '--so-pin', SO_PIN, '--pin', PIN, '--label', 'keys']);
      expect(initialized.output).not.toMatch(/failed/i);
    },
  });

  beforeAll(() => writeFileSync(message, 'a message signed inside the HSM\n'));
  afterAll(() => removeDirectory(work));

  EC_CURVES.forEach((curve, index) => {
    it(`EC ${curve}: generate, sign (ECDSA-SHA256), verify with openssl`, async () => {
      const id = (index + 1).toString(16).padStart(2, '0');
      const generated = await pkcs11('--login', '--pin', PIN, '--keypairgen', '--key-type', `EC:${curve}`, '--id', id, '--label', curve);
      expect(generated.code, generated.output).toBe(0);
      const signature = file(`sig-${id}.der`);
      const signed = await pkcs11('--login', '--pin', PIN, '--sign', '--id', id, '-m', 'ECDSA-SHA256', '--signature-format', 'openssl', '-i', message, '-o', signature);
      expect(signed.code, signed.output).toBe(0);
      const verified = await run('openssl', ['dgst', '-sha256', '-verify', await publicKeyPem(id), '-signature', signature, message]);
      expect(verified.stdout).toContain('Verified OK');
    });
  });

  RSA_SIZES.forEach((bits, index) => {
    it(`RSA-${bits}: generate, sign RSA-PKCS and RSA-PKCS-PSS with SHA-256, decrypt PKCS#1 and OAEP, verified by openssl`, async () => {
      const id = (0x20 + index).toString(16);
      const generated = await pkcs11('--login', '--pin', PIN, '--keypairgen', '--key-type', `rsa:${bits}`, '--id', id, '--label', `rsa${bits}`);
      expect(generated.code, generated.output).toBe(0);
      const pem = await publicKeyPem(id);
      const pkcs1Signature = file(`sig-${id}-pkcs1`);
      expect((await pkcs11('--login', '--pin', PIN, '--sign', '--id', id, '-m', 'SHA256-RSA-PKCS', '-i', message, '-o', pkcs1Signature)).code).toBe(0);
      expect((await run('openssl', ['dgst', '-sha256', '-verify', pem, '-signature', pkcs1Signature, message])).stdout).toContain('Verified OK');
      const pssSignature = file(`sig-${id}-pss`);
      const pss = await pkcs11('--login', '--pin', PIN, '--sign', '--id', id, '-m', 'SHA256-RSA-PKCS-PSS', '-i', message, '-o', pssSignature);
      expect(pss.code, pss.output).toBe(0);
      const pssVerified = await run('openssl', ['dgst', '-sha256', '-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32', '-verify', pem, '-signature', pssSignature, message]);
      expect(pssVerified.stdout).toContain('Verified OK');

      const plain = file(`plain-${id}`);
      writeFileSync(plain, `secret for rsa ${bits}`);
      const pkcs1Cipher = file(`ct-${id}-pkcs1`);
      expect((await run('openssl', ['pkeyutl', '-encrypt', '-pubin', '-inkey', pem, '-in', plain, '-out', pkcs1Cipher])).code).toBe(0);
      const pkcs1Plain = file(`pt-${id}-pkcs1`);
      const decrypted = await pkcs11('--login', '--pin', PIN, '--decrypt', '--id', id, '-m', 'RSA-PKCS', '-i', pkcs1Cipher, '-o', pkcs1Plain);
      expect(decrypted.code, decrypted.output).toBe(0);
      expect(readFileSync(pkcs1Plain, 'utf8')).toBe(`secret for rsa ${bits}`);
      const oaepCipher = file(`ct-${id}-oaep`);
      const oaepOptions = ['-pkeyopt', 'rsa_padding_mode:oaep', '-pkeyopt', 'rsa_oaep_md:sha256', '-pkeyopt', 'rsa_mgf1_md:sha256'];
      expect((await run('openssl', ['pkeyutl', '-encrypt', '-pubin', '-inkey', pem, ...oaepOptions, '-in', plain, '-out', oaepCipher])).code).toBe(0);
      const oaepPlain = file(`pt-${id}-oaep`);
      const oaep = await pkcs11('--login', '--pin', PIN, '--decrypt', '--id', id, '-m', 'RSA-PKCS-OAEP', '--hash-algorithm', 'SHA256', '--mgf', 'MGF1-SHA256', '-i', oaepCipher, '-o', oaepPlain);
      expect(oaep.code, oaep.output).toBe(0);
      expect(readFileSync(oaepPlain, 'utf8')).toBe(`secret for rsa ${bits}`);
    });
  });

  it('ECDH: --derive equals openssl pkeyutl -derive', async () => {
    const peer = file('peer.pem');
    expect((await run('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', peer])).code).toBe(0);
    const peerDer = file('peer-pub.der');
    expect((await run('openssl', ['pkey', '-in', peer, '-pubout', '-outform', 'DER', '-out', peerDer])).code).toBe(0);
    const shared = file('shared.bin');
    const derived = await pkcs11('--login', '--pin', PIN, '--derive', '-m', 'ECDH1-DERIVE', '--id', '01', '-i', peerDer, '-o', shared);
    expect(derived.code, derived.output).toBe(0);
    const expected = file('expected.bin');
    expect((await run('openssl', ['pkeyutl', '-derive', '-inkey', peer, '-peerkey', await publicKeyPem('01'), '-out', expected])).code).toBe(0);
    expect(readFileSync(shared).toString('hex')).toBe(readFileSync(expected).toString('hex'));
  });

  it('writes a certificate and data objects (public and private), reads them back and deletes them', async () => {
    const key = file('self.key');
    const certificate = file('self.der');
    expect((await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-subj', '/CN=pico-hsm-ts test', '-days', '1', '-outform', 'DER', '-out', certificate])).code).toBe(0);
    expect((await pkcs11('--login', '--pin', PIN, '--write-object', certificate, '--type', 'cert', '--id', 'c0', '--label', 'cert1')).code).toBe(0);
    const certificateBack = file('cert-back.der');
    expect((await pkcs11('--read-object', '--type', 'cert', '--id', 'c0', '-o', certificateBack)).code).toBe(0);
    expect(readFileSync(certificateBack).equals(readFileSync(certificate))).toBe(true);

    const publicData = file('public.bin');
    writeFileSync(publicData, 'public data object');
    expect((await pkcs11('--login', '--pin', PIN, '--write-object', publicData, '--type', 'data', '--label', 'public-data')).code).toBe(0);
    const privateData = file('private.bin');
    writeFileSync(privateData, 'private data object');
    const wrotePrivate = await pkcs11('--login', '--pin', PIN, '--write-object', privateData, '--type', 'data', '--label', 'private-data', '--private');
    expect(wrotePrivate.code, wrotePrivate.output).toBe(0);
    const publicBack = file('public-back.bin');
    expect((await pkcs11('--read-object', '--type', 'data', '--label', 'public-data', '-o', publicBack)).code).toBe(0);
    expect(readFileSync(publicBack, 'utf8')).toBe('public data object');
    const privateBack = file('private-back.bin');
    expect((await pkcs11('--login', '--pin', PIN, '--read-object', '--type', 'data', '--label', 'private-data', '-o', privateBack)).code).toBe(0);
    expect(readFileSync(privateBack, 'utf8')).toBe('private data object');
    const withoutPin = await pkcs11('--read-object', '--type', 'data', '--label', 'private-data', '-o', file('nope.bin'));
    expect(withoutPin.code).not.toBe(0);

    expect((await pkcs11('--login', '--pin', PIN, '--delete-object', '--type', 'data', '--label', 'public-data')).code).toBe(0);
    const listed = await pkcs11('--login', '--pin', PIN, '-O');
    expect(listed.stdout).not.toContain('public-data');
    expect(listed.stdout).toContain('private-data');
  });

  it('refuses private-key operations with a wrong or missing PIN', async () => {
    const wrong = await pkcs11('--login', '--pin', '000000', '--sign', '--id', '01', '-m', 'ECDSA-SHA256', '-i', message, '-o', file('x'));
    expect(wrong.output).toContain('CKR_PIN_INCORRECT');
    const missing = await pkcs11('--sign', '--id', '01', '-m', 'ECDSA-SHA256', '-i', message, '-o', file('y'));
    expect(missing.code).not.toBe(0);
    // The wrong attempt cost a try; a correct login restores the counter.
    expect((await pkcs11('--login', '--pin', PIN, '-O')).code).toBe(0);
  });

  it('keeps keys and objects across a restart of the HSM process', async () => {
    await reader.restart();
    const signature = file('sig-after-restart.der');
    expect((await pkcs11('--login', '--pin', PIN, '--sign', '--id', '01', '-m', 'ECDSA-SHA256', '--signature-format', 'openssl', '-i', message, '-o', signature)).code).toBe(0);
    expect((await run('openssl', ['dgst', '-sha256', '-verify', await publicKeyPem('01'), '-signature', signature, message])).stdout).toContain('Verified OK');
    const listed = await pkcs11('--login', '--pin', PIN, '-O');
    expect(listed.stdout).toContain('private-data');
    expect(listed.stdout).toContain('cert1');
  });
});
