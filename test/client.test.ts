/**
 * The client library (app/client.ts, app/keys.ts) against the simulated device through an in-process transport:
 * typed results, status words and explanations, APDU encoding, GET RESPONSE, keys and their public keys.
 */
import { createECDH, createPublicKey, verify as nodeVerify } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createSimBoard } from '../boards/sim.js';
import { HsmClient, HsmError, TransportError, encodeApdu, explainStatusWord, STATUS_EXPLANATIONS, type ApduTransport } from '../app/client.js';
import { buildPrkd, describeKey, parseKeySpec, parsePrkd, publicKeyFromSpki, spkiDer, spkiPem } from '../app/keys.js';
import { decodeInput, fromPem, toHex } from '../app/pem.js';

const PIN = '482913';
const SO_PIN = '0f1e2d3c4b5a6978';

async function simClient(): Promise<HsmClient> {
  const board = await createSimBoard();
  const transport: ApduTransport = {
    transmit: async (command) => (await board.transmit(command)).raw,
    resetSession: () => board.power('reset'),
    close: () => undefined,
  };
  return HsmClient.connect({ transport });
}

async function commissioned(): Promise<HsmClient> {
  const client = await simClient();
  await client.initialize({ pin: PIN, soPin: SO_PIN, retries: 3 });
  await client.verifyPin(PIN);
  return client;
}

describe('HsmClient on the simulated device', () => {
  it('reads device info and PIN status of a blank device, then commissions it', async () => {
    const client = await simClient();
    const info = await client.info();
    expect(info.userPin.state).toBe('unset');
    expect(info.curves).toContain('secp256r1');
    expect(info.storage.total).toBeGreaterThan(0);
    expect(await client.pinStatus()).toEqual({ state: 'unset' });
    const notInitialised = await client.verifyPin(PIN).catch((error: unknown) => error);
    expect(notInitialised).toBeInstanceOf(HsmError);
    expect((notInitialised as HsmError).statusWord).toBe(0x6a88);
    expect((notInitialised as HsmError).explanation).toMatch(/not initialised/);
    await client.initialize({ pin: PIN, soPin: SO_PIN, label: 'client test' });
    expect((await client.info()).userPin).toMatchObject({ state: 'ready', retriesLeft: 3 });
    expect(await client.pinStatus()).toEqual({ state: 'ready', verified: false, retriesLeft: 3 });
  });

  it('reports a wrong PIN with the status word, the tries left and a plain explanation', async () => {
    const client = await commissioned();
    const error = (await client.verifyPin('000000').catch((caught: unknown) => caught)) as HsmError;
    expect(error).toBeInstanceOf(HsmError);
    expect(error.statusWord).toBe(0x63c2);
    expect(error.retriesLeft).toBe(2);
    expect(error.message).toBe('verify PIN: wrong PIN, 2 tries left (SW 63C2)');
  });

  it('re-initialising needs the current SO-PIN', async () => {
    const client = await commissioned();
    const error = (await client.initialize({ pin: PIN, soPin: '0000000000000001' }).catch((caught: unknown) => caught)) as HsmError;
    expect(error.statusWord & 0xfff0).toBe(0x63c0);
    expect(error.explanation).toMatch(/current SO-PIN/);
    await client.initialize({ pin: '654321', soPin: SO_PIN });
    await client.verifyPin('654321');
  });

  it('generates an EC key with a label, lists it with its public key, signs verifiably and derives ECDH', async () => {
    const client = await commissioned();
    const key = await client.generateKey({ kind: 'ec', curve: 'secp256r1' }, { label: 'signing key' });
    expect(key.id).toBe(1);
    const [listed] = await client.listKeys();
    expect(listed).toMatchObject({ id: 1, kind: 'ec', curve: 'secp256r1', label: 'signing key', pkcs15Id: '01', description: 'parsed' });
    const message = new TextEncoder().encode('sign me');
    const signature = await client.sign(1, message, 'ecdsa-sha256');
    expect(signature[0]).toBe(0x30);
    const publicKey = createPublicKey(spkiPem(listed!.publicKey!));
    expect(nodeVerify('sha256', message, publicKey, signature)).toBe(true);
    const peer = createECDH('prime256v1');
    peer.generateKeys();
    const shared = await client.deriveEcdh(1, new Uint8Array(peer.getPublicKey()));
    const point = listed!.publicKey!.kind === 'ec' ? listed!.publicKey!.point : new Uint8Array(0);
    expect(toHex(shared)).toBe(peer.computeSecret(Buffer.from(point)).toString('hex'));
    // A second key takes the next free id; deleting removes key, request and description.
    expect((await client.generateKey({ kind: 'ec', curve: 'secp384r1' })).id).toBe(2);
    await client.deleteKey(1);
    expect((await client.listKeys()).map((each) => each.id)).toEqual([2]);
    expect(await client.readFileIfExists(0xc401)).toBeUndefined();
  });

  it('names the key in errors: unknown id, wrong algorithm family, PIN not verified', async () => {
    const client = await commissioned();
    await client.generateKey({ kind: 'ec', curve: 'secp256r1' }, { id: 7 });
    const unknown = (await client.sign(9, new Uint8Array(3), 'ecdsa-sha256').catch((caught: unknown) => caught)) as HsmError;
    expect(unknown.statusWord).toBe(0x6a82);
    expect(unknown.message).toBe('sign with key 9: no key with id 9 on the device (SW 6A82)');
    const family = (await client.sign(7, new Uint8Array(3), 'rsa-pkcs1-sha256').catch((caught: unknown) => caught)) as HsmError;
    expect(family.statusWord).toBe(0x6a86);
    const taken = (await client.generateKey({ kind: 'ec', curve: 'secp256r1' }, { id: 7 }).catch((caught: unknown) => caught)) as HsmError;
    expect(taken.statusWord).toBe(0x6a89);
    expect(taken.explanation).toBe('a key with id 7 already exists');
    await client.info(); // switches applets: the PIN session ends
    const locked = (await client.sign(7, new Uint8Array(3), 'ecdsa-sha256').catch((caught: unknown) => caught)) as HsmError;
    expect(locked.statusWord).toBe(0x6982);
    await expect(client.getKey(200)).rejects.toThrow(/no key with id 200/);
  });

  it('changes, blocks and unblocks the PIN', async () => {
    const client = await commissioned();
    await client.changePin(PIN, '111222');
    await client.verifyPin('111222');
    for (let attempt = 0; attempt < 3; attempt++) await client.verifyPin('999999').catch(() => undefined);
    expect(await client.pinStatus()).toEqual({ state: 'blocked' });
    const wrongSo = (await client.unblockPin('0000000000000000', '333444').catch((caught: unknown) => caught)) as HsmError;
    expect(wrongSo.explanation).toMatch(/wrong SO-PIN/);
    await client.unblockPin(SO_PIN, '333444');
    await client.verifyPin('333444');
    await client.changeSoPin(SO_PIN, '1111111111111111');
    await client.verifySoPin('1111111111111111');
  });

  it('hands out random bytes in several commands', async () => {
    const client = await commissioned();
    const random = await client.random(600);
    expect(random.length).toBe(600);
    expect(new Set(random).size).toBeGreaterThan(100);
  });
});

describe('APDU handling', () => {
  it('encodes short and extended APDUs', () => {
    expect(toHex(encodeApdu(0x00, 0x84, 0, 0, undefined, 8))).toBe('0084000008');
    expect(toHex(encodeApdu(0x00, 0x84, 0, 0, undefined, 256))).toBe('0084000000');
    expect(toHex(encodeApdu(0x80, 0x58, 0, 0, undefined, 65536, true))).toBe('8058000000' + '0000');
    expect(toHex(encodeApdu(0x00, 0x20, 0, 0x81, Uint8Array.of(1, 2)))).toBe('00200081020102');
    const long = encodeApdu(0x80, 0x68, 1, 0x70, new Uint8Array(300), 65536);
    expect(toHex(long.subarray(0, 7))).toBe('80680170' + '00012c');
    expect(toHex(long.subarray(long.length - 2))).toBe('0000');
  });

  it('follows 61xx with GET RESPONSE and re-sends on 6Cxx', async () => {
    const sent: string[] = [];
    const answers = ['6c05', '0102036104', '0405060761' + '02', '0809' + '9000'];
    const transport: ApduTransport = {
      transmit: async (command) => {
        sent.push(toHex(command));
        return new Uint8Array(Buffer.from(answers.shift() ?? '6f00', 'hex'));
      },
      close: () => undefined,
    };
    const client = await HsmClient.connect({ transport });
    const response = await client.transmit(0x00, 0xca, 0x01, 0x02, undefined, 1);
    expect(toHex(response.data)).toBe('010203040506070809');
    expect(response.statusWord).toBe(0x9000);
    expect(sent).toEqual(['00ca010201', '00ca010205', '00c0000004', '00c0000002']);
  });

  it('has a plain explanation for every status word in docs/status-words.md', () => {
    const document = readFileSync(new URL('../docs/status-words.md', import.meta.url), 'utf8');
    const words = [...document.matchAll(/^\| ([0-9A-F]{2}[0-9A-Fx]{2}) \|/gm)].map((match) => match[1]!);
    expect(words.length).toBeGreaterThan(20);
    for (const word of words) {
      const value = parseInt(word.replace(/x/g, '0'), 16);
      expect(explainStatusWord(value), word).not.toBe('unknown status word');
    }
    expect(Object.keys(STATUS_EXPLANATIONS).length).toBeGreaterThan(20);
    expect(explainStatusWord(0x63c1)).toBe('wrong PIN, 1 try left');
  });

  it('says clearly when the serial link is not available', async () => {
    const connecting = HsmClient.connect({ serialPort: '/dev/ttyACM-none' });
    if (existsSync(new URL('../hal/serial-framing.ts', import.meta.url))) await expect(connecting).rejects.toThrow();
    else await expect(connecting).rejects.toThrow(TransportError);
  });
});

describe('key descriptions and encodings', () => {
  it('round-trips a PrKD and treats unparsable descriptions as opaque', () => {
    const prkd = buildPrkd('ec', 3, 'my key', 256);
    expect(parsePrkd(prkd)).toMatchObject({ kind: 'ec', label: 'my key' });
    expect(toHex(parsePrkd(prkd)!.id!)).toBe('03');
    // The original firmware's PrKD (empty label, ID "1").
    const pico = new Uint8Array(Buffer.from('A01A30020C00300804013103030720 80A10A30083002040002020100'.replace(/\s/g, ''), 'hex'));
    expect(parsePrkd(pico)).toMatchObject({ kind: 'ec', label: '' });
    expect(describeKey(5, { descriptor: Uint8Array.of(0xde, 0xad) })).toMatchObject({ id: 5, description: 'opaque', kind: 'unknown' });
    expect(describeKey(6, {})).toMatchObject({ kind: 'secret', description: 'absent' });
  });

  it('builds SubjectPublicKeyInfo that node (OpenSSL) reads, for EC and RSA', () => {
    const ecdh = createECDH('secp384r1');
    ecdh.generateKeys();
    const ec = { kind: 'ec' as const, curve: 'secp384r1' as const, point: new Uint8Array(ecdh.getPublicKey()) };
    const parsed = createPublicKey({ key: Buffer.from(spkiDer(ec)), format: 'der', type: 'spki' });
    expect(parsed.asymmetricKeyDetails?.namedCurve).toBe('secp384r1');
    expect(publicKeyFromSpki(spkiDer(ec))).toEqual(ec);
    const rsa = { kind: 'rsa' as const, modulus: new Uint8Array(256).fill(0xc3), exponent: Uint8Array.of(1, 0, 1) };
    const rsaKey = createPublicKey(spkiPem(rsa));
    expect(rsaKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(fromPem(spkiPem(rsa), 'PUBLIC KEY').der.length).toBeGreaterThan(256);
  });

  it('parses key specs and input formats', () => {
    expect(parseKeySpec('ec:p256')).toEqual({ kind: 'ec', curve: 'secp256r1' });
    expect(parseKeySpec('prime256v1')).toEqual({ kind: 'ec', curve: 'secp256r1' });
    expect(parseKeySpec('rsa:2048')).toEqual({ kind: 'rsa', bits: 2048 });
    expect(parseKeySpec('aes:256')).toEqual({ kind: 'aes', bits: 256 });
    expect(parseKeySpec('ec:p999')).toBeUndefined();
    expect(toHex(decodeInput(new TextEncoder().encode('01 02 0a\n'), 'auto'))).toBe('01020a');
    expect(toHex(decodeInput(new TextEncoder().encode('AQID'), 'base64'))).toBe('010203');
    expect(() => decodeInput(new TextEncoder().encode('zz'), 'hex')).toThrow(/not valid hex/);
  });
});
