/**
 * Malformed and abusive APDUs against the whole simulated device: each gets its documented status word
 * (docs/status-words.md) and leaves the device as it was: same flash image, same session (still logged in,
 * same current file). After the table, the device still serves valid commands.
 */
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createSimBoard, type SimBoard } from '../boards/sim.js';
import { toHex } from '../messages/schema.js';

const pinHex = (pin: string): string => toHex(new TextEncoder().encode(pin));
const USER_PIN = pinHex('648219');
const SO_PIN = '3537363231383830';
const PUBLIC_FILE_CONTENT = '00112233445566778899';

interface Case {
  readonly name: string;
  /** One APDU, or a sequence whose last answer is checked (earlier ones must not fail the device). */
  readonly apdus: readonly string[];
  readonly statusWord: number;
}

const big = (bytes: number): string => 'AB'.repeat(bytes);
const extendedLength = (bytes: number): string => `00${bytes.toString(16).padStart(4, '0')}`;

const CASES: readonly Case[] = [
  { name: 'empty APDU', apdus: [''], statusWord: 0x6700 },
  { name: 'one byte', apdus: ['00'], statusWord: 0x6700 },
  { name: 'two bytes', apdus: ['00A4'], statusWord: 0x6700 },
  { name: 'three bytes', apdus: ['00A404'], statusWord: 0x6700 },
  { name: 'GET UID class FF', apdus: ['FFCA000000'], statusWord: 0x6e00 },
  { name: 'unsupported class A0', apdus: ['A0A40000022F02'], statusWord: 0x6e00 },
  { name: 'unsupported class 40', apdus: ['40A40000022F02'], statusWord: 0x6e00 },
  { name: 'secure messaging bits', apdus: ['0CA40000022F02'], statusWord: 0x6882 },
  { name: 'logical channel 1', apdus: ['01A40000022F02'], statusWord: 0x6881 },
  { name: 'unknown INS 60', apdus: ['00600000'], statusWord: 0x6d00 },
  { name: 'unknown INS 90', apdus: ['00900000'], statusWord: 0x6d00 },
  { name: 'unknown INS FE', apdus: ['00FE0000'], statusWord: 0x6d00 },
  { name: 'unknown proprietary INS 99', apdus: ['80990000'], statusWord: 0x6d00 },
  { name: 'Lc larger than the data', apdus: ['00A40000052F02'], statusWord: 0x6700 },
  { name: 'Lc smaller than the data, not a valid Le', apdus: ['00A40000012F0200'], statusWord: 0x6700 },
  { name: 'extended Lc with missing data', apdus: ['00A400000000022F'], statusWord: 0x6700 },
  { name: 'extended Lc 0000', apdus: ['00A400000000002F02'], statusWord: 0x6700 },
  { name: 'lone 00 followed by one byte', apdus: ['00B000000001'], statusWord: 0x6700 },
  { name: 'extended Lc FFFF with 4 bytes of data', apdus: ['00D7CF0100FFFF54020000'], statusWord: 0x6700 },
  { name: 'SELECT with P2 0C', apdus: ['00A4020C022F02'], statusWord: 0x6a86 },
  { name: 'SELECT with P1 05', apdus: ['00A40500022F0200'], statusWord: 0x6a86 },
  { name: 'SELECT of an absent file', apdus: ['00A4000002ABCD00'], statusWord: 0x6a82 },
  { name: 'SELECT of an internal file', apdus: ['00A400000210010 0'], statusWord: 0x6a82 },
  { name: 'SELECT of an unknown AID', apdus: ['00A4040005A00000000100'], statusWord: 0x6a82 },
  { name: 'SELECT with a 3-byte file id', apdus: ['00A40000032F020100'], statusWord: 0x6700 },
  { name: 'READ BINARY past the end of the file', apdus: ['00B10000045402010000'], statusWord: 0x6b00 },
  { name: 'READ BINARY (even) past the end', apdus: ['00B0010000'], statusWord: 0x6b00 },
  { name: 'READ BINARY with a truncated offset object', apdus: ['00B100000354050000'], statusWord: 0x6a80 },
  { name: 'READ BINARY without an offset object', apdus: ['00B1000002990000'], statusWord: 0x6a80 },
  { name: 'READ BINARY with a short EF id', apdus: ['00B0800000'], statusWord: 0x6a81 },
  { name: 'READ BINARY (even) with data', apdus: ['00B00000010000'], statusWord: 0x6700 },
  { name: 'READ BINARY of a key file', apdus: ['00B1CC0004540200 0000'], statusWord: 0x6a82 },
  { name: 'UPDATE BINARY without data object 53', apdus: ['00D700000454020000'], statusWord: 0x6a80 },
  { name: 'UPDATE BINARY past the end of the file', apdus: ['00D7CF01095402002053030102 03'], statusWord: 0x6b00 },
  { name: 'UPDATE BINARY of the device certificate', apdus: ['00D72F020954020000530301 0203'], statusWord: 0x6986 },
  { name: 'UPDATE BINARY of a key file', apdus: ['00D7CC01095402000053030102 03'], statusWord: 0x6986 },
  { name: 'UPDATE BINARY of an internal file', apdus: ['00D710010954020000530301 0203'], statusWord: 0x6986 },
  { name: 'UPDATE BINARY beyond the file size limit', apdus: [`00D7CF02${extendedLength(5010)}540200005382138A${big(5002)}`], statusWord: 0x6a84 },
  { name: 'DELETE FILE with a 1-byte id', apdus: ['00E4020001CF'], statusWord: 0x6700 },
  { name: 'DELETE FILE of an absent file', apdus: ['00E4020002CF77'], statusWord: 0x6a82 },
  { name: 'DELETE FILE of the device certificate', apdus: ['00E40200022F02'], statusWord: 0x6986 },
  { name: 'DELETE FILE of the device key id', apdus: ['00E4020002CC00'], statusWord: 0x6986 },
  { name: 'VERIFY with P1 01', apdus: ['00200181'], statusWord: 0x6a86 },
  { name: 'VERIFY of an unknown reference', apdus: ['00200087'], statusWord: 0x6a88 },
  { name: 'CHANGE REFERENCE DATA shorter than the old PIN', apdus: ['0024008103010203'], statusWord: 0x6700 },
  { name: 'CHANGE REFERENCE DATA with P1 01', apdus: [`002401810C${USER_PIN}${USER_PIN}`], statusWord: 0x6a86 },
  { name: 'RESET RETRY COUNTER with P2 82', apdus: [`002C00820E${SO_PIN}${USER_PIN}`], statusWord: 0x6a86 },
  { name: 'RESET RETRY COUNTER with P1 02', apdus: [`002C02810E${SO_PIN}${USER_PIN}`], statusWord: 0x6a86 },
  { name: 'RESET RETRY COUNTER (SO only) with 5 bytes', apdus: ['002C0181050102030405'], statusWord: 0x6700 },
  { name: 'RESET RETRY COUNTER without a new PIN', apdus: [`002C008108${SO_PIN}`], statusWord: 0x6700 },
  { name: 'INITIALIZE without PINs', apdus: ['8050000004800200 01'], statusWord: 0x6a80 },
  { name: 'INITIALIZE with an unknown tag', apdus: ['8050000004A0020001'], statusWord: 0x6a80 },
  { name: 'INITIALIZE with DKEK shares', apdus: [`80500000188106${USER_PIN}8208${SO_PIN}910103920101`], statusWord: 0x6a81 },
  { name: 'INITIALIZE with a 4-byte SO-PIN', apdus: [`80500000118106${USER_PIN}820401020304910103`], statusWord: 0x6700 },
  { name: 'INITIALIZE with a malformed TLV', apdus: ['8050000003810A01'], statusWord: 0x6a80 },
  { name: 'INITIALIZE with P1 01', apdus: ['8050010000'], statusWord: 0x6a86 },
  { name: 'GET CHALLENGE with P2 01', apdus: ['0084000108'], statusWord: 0x6a86 },
  { name: 'GET CHALLENGE with data', apdus: ['008400000201 0208'], statusWord: 0x6700 },
  { name: 'GET RESPONSE with nothing pending', apdus: ['00C0000000'], statusWord: 0x6985 },
  { name: 'ENUMERATE OBJECTS with P1P2 0001', apdus: ['805800010000 00'], statusWord: 0x6a86 },
  { name: 'WRAP KEY (no key export)', apdus: ['8072000000'], statusWord: 0x6986 },
  { name: 'UNWRAP KEY (no key import)', apdus: ['8074000000'], statusWord: 0x6d00 },
  { name: 'DKEK share import', apdus: ['8052000000'], statusWord: 0x6d00 },
  { name: 'chain broken by another command', apdus: ['10D7CF01025402', '00B0000000'], statusWord: 0x6883 },
  { name: 'chain ended by a command with another P1P2', apdus: ['10D7CF01025402', '00D7CF02025402'], statusWord: 0x6883 },
  { name: 'chain above the size limit', apdus: Array.from({ length: 17 }, () => `10D7CF03${extendedLength(4096)}${big(4096)}`), statusWord: 0x6700 },
];

describe('malformed APDUs against the device', () => {
  let board: SimBoard;

  beforeAll(async () => {
    board = await createSimBoard();
    expect((await board.transmit('00A404000BE82B0601040181C31F020100')).statusWord).toBe(0x9000);
    expect((await board.transmit(`8050000019800200018106${USER_PIN}8208${SO_PIN}910103`)).statusWord).toBe(0x9000);
    expect((await board.transmit(`0020008106${USER_PIN}`)).statusWord).toBe(0x9000);
    expect((await board.transmit(`00D7CF01${(PUBLIC_FILE_CONTENT.length / 2 + 6).toString(16).padStart(2, '0')}5402000053${(PUBLIC_FILE_CONTENT.length / 2).toString(16).padStart(2, '0')}${PUBLIC_FILE_CONTENT}`)).statusWord).toBe(0x9000);
  });

  beforeEach(async () => {
    // Every case starts from the same session: logged in, CF01 current.
    expect((await board.transmit('00A4000002CF0100')).statusWord).toBe(0x9000);
  });

  it('has a table of at least 40 cases', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(40);
  });

  for (const entry of CASES) {
    it(`${entry.name} -> ${entry.statusWord.toString(16).toUpperCase()}`, async () => {
      const imageBefore = toHex(board.hal.flash.snapshot());
      let last = 0;
      for (const apdu of entry.apdus) last = (await board.transmit(apdu)).statusWord;
      expect(last.toString(16)).toBe(entry.statusWord.toString(16));
      expect(toHex(board.hal.flash.snapshot()) === imageBefore, 'flash image unchanged').toBe(true);
      expect((await board.transmit('00200081')).statusWord, 'still logged in').toBe(0x9000);
      const current = await board.transmit('00B0000000');
      expect(current, 'current file unchanged').toMatchObject({ statusWord: 0x9000, data: PUBLIC_FILE_CONTENT });
      expect(board.device.scheduler.status('applet')?.restarts).toBe(0);
      expect(board.device.scheduler.status('transport')?.restarts).toBe(0);
    });
  }
});
