/**
 * Algorithm families as modules the board passes (actors/crypto/ec.ts, rsa.ts, aes.ts): the Pico passes EC only,
 * so its bundle carries no RSA or AES operation code, and a family a board leaves out answers exactly what an
 * engine without that algorithm answers (crypto code `unsupported`, status word 6A86; HKDF with a secret key needs
 * no AES and still works). The host boards pass every family.
 */
import { describe, expect, it } from 'vitest';
import { ecGenerateBody, parseCvCertificate, rsaGenerateBody } from '../actors/card/cvc.js';
import { concat, tlv } from '../actors/card/tlv.js';
import { HOST_OPERATION_FAMILIES } from '../boards/host.js';
import { PICO_OPERATION_FAMILIES } from '../boards/pico.js';
import { createSimBoard, fromHex, SIM_GEOMETRY, SIM_OPERATION_FAMILIES, type SimBoard, type SimBoardOptions } from '../boards/sim.js';
import { deviceEngine } from '../hal/crypto/device.js';
import { nodeEngine } from '../hal/crypto/node.js';
import type { CryptoEngine } from '../hal/crypto/types.js';
import { SimFlash } from '../hal/sim/flash.js';
import { deviceInfo, MANAGEMENT_AID } from '../messages/management.js';
import { cbor } from '../messages/protocol.js';
import { toHex, validate } from '../messages/schema.js';
import { buildPicoBundle } from '../tools/build-pico.js';

const ascii = new TextEncoder();
const USER_PIN = toHex(ascii.encode('648219'));
const CHR = 'TSHSM00000000001';

function extendedApdu(header: string, data: Uint8Array, le = '0000'): string {
  return `${header}00${data.length.toString(16).padStart(4, '0')}${toHex(data)}${le}`;
}

async function selectAndVerify(board: SimBoard): Promise<void> {
  expect((await board.transmit('00A404000BE82B0601040181C31F020100')).statusWord).toBe(0x9000);
  expect((await board.transmit(`0020008106${USER_PIN}`)).statusWord).toBe(0x9000);
}

async function commissioned(options: SimBoardOptions): Promise<SimBoard> {
  const board = await createSimBoard(options);
  await board.transmit('00A404000BE82B0601040181C31F020100');
  expect((await board.transmit(`8050000019800200018106${USER_PIN}82083537363231383830910103`)).statusWord).toBe(0x9000);
  await selectAndVerify(board);
  return board;
}

async function algorithmsReported(board: SimBoard): Promise<{ curves: readonly string[]; rsaBits: readonly number[]; aesBits: readonly number[] }> {
  expect((await board.transmit(`00A4040008${toHex(MANAGEMENT_AID)}00`)).statusWord).toBe(0x9000);
  const answer = await board.transmit('80010000000000');
  expect(answer.statusWord).toBe(0x9000);
  const info = validate(deviceInfo, cbor.decode(fromHex(answer.data)));
  return { curves: info.curves, rsaBits: info.rsaBits, aesBits: info.aesBits };
}

/** What the crypto actor logged for the last refusal of the applet (the refusal code and its detail). */
function refusalsLogged(board: SimBoard): string[] {
  return board.logs.filter((line) => line.includes('refused'));
}

describe('the Pico assembly (device engine, EC family only)', () => {
  it('generates and uses P-256 keys as before', async () => {
    const board = await commissioned({ engine: deviceEngine, families: PICO_OPERATION_FAMILIES });
    const generated = await board.transmit(extendedApdu('00460100', ecGenerateBody('secp256r1', CHR)));
    expect(generated.statusWord).toBe(0x9000);
    const request = parseCvCertificate(fromHex(generated.data))!;
    const digest = deviceEngine.digest('sha256', ascii.encode('message'));
    const signed = await board.transmit(extendedApdu('80680170', digest));
    expect(signed.statusWord).toBe(0x9000);
    expect(request.point).toBeDefined();
  });

  it('answers ECDSA with a hash its engine lacks (SHA-256 alone) with 6A86, and the crypto actor keeps running', async () => {
    const board = await commissioned({ engine: deviceEngine, families: PICO_OPERATION_FAMILIES });
    expect((await board.transmit(extendedApdu('00460100', ecGenerateBody('secp256r1', CHR)))).statusWord).toBe(0x9000);
    const message = ascii.encode('message');
    const answers: Record<string, number> = {};
    for (const algorithm of ['71', '72', '73', '74', '75']) answers[algorithm] = (await board.transmit(extendedApdu(`806801${algorithm}`, message))).statusWord;
    expect(answers).toEqual({ '71': 0x6a86, '72': 0x6a86, '73': 0x9000, '74': 0x6a86, '75': 0x6a86 });
    expect(board.logs.filter((line) => line.includes('restarted'))).toEqual([]);
    expect(board.logs.filter((line) => line.includes('unsupported: the device engine has no sha'))).toHaveLength(4);
  });

  it('refuses RSA key generation with 6A86 (not offered), whatever the size, and stores nothing', async () => {
    const board = await commissioned({ engine: deviceEngine, families: PICO_OPERATION_FAMILIES });
    for (const bits of [1024, 2048, 4096]) {
      expect((await board.transmit(extendedApdu('00460200', rsaGenerateBody(bits, CHR)))).statusWord).toBe(0x6a86);
    }
    expect(board.logs.filter((line) => line.includes('key generation refused: unsupported'))).toHaveLength(3);
    // The key id stays free: an EC key can take it.
    expect((await board.transmit(extendedApdu('00460200', ecGenerateBody('secp256r1', CHR)))).statusWord).toBe(0x9000);
  });

  it('refuses AES key generation with 6A86 for every size', async () => {
    const board = await commissioned({ engine: deviceEngine, families: PICO_OPERATION_FAMILIES });
    for (const p2 of ['B0', 'B1', 'B2']) expect((await board.transmit(`004803${p2}`)).statusWord).toBe(0x6a86);
  });

  it('reports P-256 and no RSA or AES in the device information', async () => {
    const board = await commissioned({ engine: deviceEngine, families: PICO_OPERATION_FAMILIES });
    expect(await algorithmsReported(board)).toEqual({ curves: ['secp256r1'], rsaBits: [], aesBits: [] });
  });

  it('reports no RSA or AES even on an engine that has them, when the board does not pass the families', async () => {
    const board = await commissioned({ engine: nodeEngine, families: PICO_OPERATION_FAMILIES });
    const reported = await algorithmsReported(board);
    expect(reported.rsaBits).toEqual([]);
    expect(reported.aesBits).toEqual([]);
    expect(reported.curves.length).toBeGreaterThan(1);
  });
});

describe('the host and simulated boards pass every family', () => {
  it('and report what their engine offers, as before', async () => {
    expect(Object.keys(HOST_OPERATION_FAMILIES).sort()).toEqual(['aes', 'ec', 'rsa']);
    expect(Object.keys(SIM_OPERATION_FAMILIES).sort()).toEqual(['aes', 'ec', 'rsa']);
    const board = await commissioned({ engine: nodeEngine });
    expect(await algorithmsReported(board)).toMatchObject({ rsaBits: [1024, 2048, 3072, 4096], aesBits: [128, 192, 256] });
  });
});

describe('a family the board leaves out answers what an engine without it answers', () => {
  const withoutRsaAndAes: CryptoEngine = { ...nodeEngine, rsa: undefined, aes: undefined };

  /** RSA key 01 and AES key 02 made on a host-like board; then the same flash under another assembly. */
  async function flashWithRsaAndAesKeys(): Promise<SimFlash> {
    const flash = new SimFlash(SIM_GEOMETRY);
    const board = await commissioned({ engine: nodeEngine, flash });
    expect((await board.transmit(extendedApdu('00460100', rsaGenerateBody(1024, CHR)))).statusWord).toBe(0x9000);
    expect((await board.transmit('004802B0')).statusWord).toBe(0x9000);
    await board.device.stop();
    return flash;
  }

  /** The same commands, the answers (status word and data) in order. */
  async function answers(board: SimBoard): Promise<string[]> {
    await selectAndVerify(board);
    const block = new Uint8Array(128).fill(0x11);
    const digest = nodeEngine.digest('sha256', ascii.encode('message'));
    const commands = [
      extendedApdu('80680131', ascii.encode('message')), // RSA PKCS#1 v1.5 SHA-256
      extendedApdu('80680140', digest), // RSA PSS over a digest
      extendedApdu('80680120', block), // raw RSA
      extendedApdu('80620121', block), // DECIPHER raw
      extendedApdu('80620122', block), // DECIPHER PKCS#1 v1.5
      extendedApdu('80620123', block), // DECIPHER OAEP
      extendedApdu('80620180', block), // ECDH with an RSA key
      extendedApdu('80680270', digest), // ECDSA with an AES key
      extendedApdu('80780210', new Uint8Array(16)), // AES-CBC encrypt
      extendedApdu('80780218', ascii.encode('message')), // CMAC
      extendedApdu('80780251', concat(tlv(0x80, Uint8Array.of(1)), tlv(0x81, ascii.encode('plain')), tlv(0x82, new Uint8Array(12)))), // GCM
      extendedApdu('80780299', concat(tlv(0x81, ascii.encode('info')), tlv(0x84, Uint8Array.of(40)))), // HKDF: no AES needed
      extendedApdu('80780110', new Uint8Array(16)), // AES-CBC with the RSA key
      extendedApdu('00460300', rsaGenerateBody(2048, CHR)),
      '004804B2',
    ];
    const out: string[] = [];
    for (const command of commands) {
      const answer = await board.transmit(command);
      out.push(`${answer.statusWord.toString(16)} ${answer.data}`);
    }
    return out;
  }

  it('for keys made where RSA and AES were offered: the same status words (6A86), codes and details, HKDF still answers', async () => {
    const boardWithoutFamilies = await createSimBoard({ engine: nodeEngine, families: PICO_OPERATION_FAMILIES, flash: await flashWithRsaAndAesKeys() });
    const boardWithoutEngineSupport = await createSimBoard({ engine: withoutRsaAndAes, families: SIM_OPERATION_FAMILIES, flash: await flashWithRsaAndAesKeys() });
    const left = await answers(boardWithoutFamilies);
    const right = await answers(boardWithoutEngineSupport);
    expect(left).toEqual(right);
    expect(left.map((answer) => answer.slice(0, 4))).toEqual([
      '6a86', '6a86', '6a86', '6a86', '6a86', '6a86', '6a86', '6a86', '6a86', '6a86', '6a86', '9000', '6a86', '6a86', '6a86',
    ]);
    expect(left[11]).toMatch(/^9000 [0-9a-f]{80}$/);
    // The refusals carry the same codes and words (the engine's name, what it has not).
    const logged = (board: SimBoard) => refusalsLogged(board).filter((line) => !line.includes('generation'));
    expect(logged(boardWithoutFamilies)).toEqual(logged(boardWithoutEngineSupport));
    expect(logged(boardWithoutFamilies).filter((line) => line.includes('unsupported: the node engine has no RSA'))).toHaveLength(6);
  });
});

describe('the Pico bundle', () => {
  it('carries no RSA or AES operation code', async () => {
    const bundle = await buildPicoBundle();
    const inputs = Object.values(bundle.metafile.outputs).flatMap((output) => Object.keys(output.inputs));
    expect(inputs).toContain('actors/crypto/ec.ts');
    for (const hostOnly of ['actors/crypto/rsa.ts', 'actors/crypto/aes.ts', 'actors/card/pkcs1-formats.ts']) expect(inputs).not.toContain(hostOnly);
    expect(bundle.code).not.toContain('pkcs1-implicit-rejection');
  });
});
