import { describe, expect, it } from 'vitest';
import { parseCvCertificate } from '../actors/card/cvc.js';
import { createSimBoard, fromHex, type SimBoard } from '../boards/sim.js';
import { portableEngine } from '../hal/crypto/portable.js';
import { toHex, validate } from '../messages/schema.js';
import { deviceInfo } from '../messages/management.js';
import { cbor } from '../messages/protocol.js';

const AID = 'E82B0601040181C31F0201';
const SELECT_APPLET = `00A404000B${AID}00`;
const USER_PIN = toHex(new TextEncoder().encode('648219'));
const SO_PIN = '3537363231383830';
const INITIALIZE = `8050000019800200018106${USER_PIN}8208${SO_PIN}910103`;

async function readWhole(board: SimBoard, fileId: string): Promise<{ statusWord: number; data: string }> {
  const selected = await board.transmit(`00A40000 02${fileId}00`);
  if (selected.statusWord !== 0x9000) return selected;
  let data = '';
  for (;;) {
    const offset = (data.length / 2).toString(16).padStart(4, '0');
    const chunk = await board.transmit(`00B10000045402${offset}00`);
    if (chunk.statusWord !== 0x9000) return { statusWord: chunk.statusWord, data };
    if (chunk.data.length === 0) return { statusWord: 0x9000, data };
    data += chunk.data;
  }
}

async function commissioned(): Promise<SimBoard> {
  const board = await createSimBoard();
  expect((await board.transmit(SELECT_APPLET)).statusWord).toBe(0x9000);
  expect((await board.transmit(INITIALIZE)).statusWord).toBe(0x9000);
  return board;
}

describe('applet: what OpenSC needs to bind', () => {
  it('answers SELECT of the applet with an FCP whose tag 85 names a SmartCard-HSM', async () => {
    const board = await createSimBoard();
    const answer = await board.transmit(SELECT_APPLET);
    expect(answer.statusWord).toBe(0x9000);
    expect(answer.data.startsWith('62')).toBe(true);
    expect(answer.data).toContain('8505' + '0000ff');
    expect((await board.transmit('00A404000762760101FF000000')).statusWord).toBe(0x6a82);
  });

  it('creates a device key and a self-signed CV certificate on first boot, kept across reboots', async () => {
    const board = await createSimBoard();
    const first = await readWhole(board, '2F02');
    expect(first.statusWord).toBe(0x9000);
    const certificate = parseCvCertificate(fromHex(first.data));
    expect(certificate).toBeDefined();
    expect(certificate!.chr).toMatch(/^TSHSM[0-9A-F]{6}00001$/);
    expect(certificate!.car).toBe(certificate!.chr);
    const valid = portableEngine.ecVerify('secp256r1', certificate!.point!, portableEngine.digest('sha256', certificate!.body), certificate!.signature);
    expect(valid).toBe(true);
    await board.reboot();
    expect((await readWhole(board, '2F02')).data).toBe(first.data);
  });

  it('answers the PIN-pad probes and DKEK status the way OpenSC expects', async () => {
    const board = await createSimBoard();
    for (const p2 of ['85', '86', '81', '88']) expect((await board.transmit(`002000${p2}`)).statusWord).toBe(0x6a88);
    expect((await board.transmit('8052000000')).statusWord).toBe(0x6d00);
    expect((await board.transmit('0084000008')).data).toHaveLength(16);
  });

  it('enumerates CC00 first and lists descriptors, never data files', async () => {
    const board = await commissioned();
    expect((await board.transmit(`00200081 06 ${USER_PIN}`)).statusWord).toBe(0x9000);
    expect((await board.transmit('00D7C901 09 5402 0000 5303 010203')).statusWord).toBe(0x9000);
    expect((await board.transmit('00D7CF01 09 5402 0000 5303 040506')).statusWord).toBe(0x9000);
    const listed = await board.transmit('80580000000000');
    expect(listed.statusWord).toBe(0x9000);
    expect(listed.data).toBe('cc00c901');
  });
});

describe('management applet', () => {
  it('answers device information as CBOR: serial, stage, PIN counters, storage, algorithms', async () => {
    const board = await commissioned();
    const selected = await board.transmit('00A4040008A0583FC19B7E4F2100');
    expect(selected.statusWord).toBe(0x9000);
    const answer = await board.transmit('80010000000000');
    expect(answer.statusWord).toBe(0x9000);
    const info = validate(deviceInfo, cbor.decode(fromHex(answer.data)));
    expect(info.serial).toMatch(/^TSHSM[0-9A-F]{6}$/);
    expect(info.stage).toBe('commissioned');
    expect(info.userPin).toEqual({ state: 'ready', retriesLeft: 3, limit: 3 });
    expect(info.soPin).toEqual({ state: 'ready', retriesLeft: 15, limit: 15 });
    expect(info.storage.used).toBeGreaterThan(0);
    expect(info.storage.free).toBe(info.storage.total - info.storage.used);
    expect(info.curves).toContain('secp256r1');
    expect((await board.transmit('8002000000')).statusWord).toBe(0x6d00);
    // Back to the HSM applet.
    expect((await board.transmit(SELECT_APPLET)).statusWord).toBe(0x9000);
    expect((await board.transmit('0020008100')).statusWord).toBe(0x63c3);
  });
});

describe('applet: PIN and lifecycle', () => {
  it('counts wrong PINs down, blocks, and lets the SO-PIN unblock with a new PIN', async () => {
    const board = await commissioned();
    expect((await board.transmit('0020008100')).statusWord).toBe(0x63c3);
    const wrong = toHex(new TextEncoder().encode('000000'));
    expect((await board.transmit(`00200081 06 ${wrong}`)).statusWord).toBe(0x63c2);
    expect((await board.transmit(`00200081 06 ${wrong}`)).statusWord).toBe(0x63c1);
    expect((await board.transmit(`00200081 06 ${wrong}`)).statusWord).toBe(0x6983);
    expect((await board.transmit(`00200081 06 ${USER_PIN}`)).statusWord).toBe(0x6983);
    await board.reboot();
    expect((await board.transmit('00200081')).statusWord).toBe(0x6983);
    const fresh = toHex(new TextEncoder().encode('123456'));
    expect((await board.transmit(`002C0081 0E 0000000000000000 ${fresh}`)).statusWord).toBe(0x63ce);
    expect((await board.transmit(`002C0081 0E ${SO_PIN} ${fresh}`)).statusWord).toBe(0x9000);
    expect((await board.transmit(`00200081 06 ${fresh}`)).statusWord).toBe(0x9000);
    expect((await board.transmit('00200081')).statusWord).toBe(0x9000);
    expect((await board.transmit(`00200088`)).statusWord).toBe(0x63cf);
  });

  it('changes the user PIN, splitting old || new by the stored length', async () => {
    const board = await commissioned();
    const next = toHex(new TextEncoder().encode('87654321'));
    expect((await board.transmit(`00240081 0E ${USER_PIN}${next}`)).statusWord).toBe(0x9000);
    expect((await board.transmit(`00200081 06 ${USER_PIN}`)).statusWord).toBe(0x63c2);
    expect((await board.transmit(`00200081 08 ${next}`)).statusWord).toBe(0x9000);
  });

  it('logs out on SELECT and on power events', async () => {
    const board = await commissioned();
    expect((await board.transmit(`00200081 06 ${USER_PIN}`)).statusWord).toBe(0x9000);
    expect((await board.transmit('00200081')).statusWord).toBe(0x9000);
    await board.transmit(SELECT_APPLET);
    expect((await board.transmit('00200081')).statusWord).toBe(0x63c3);
    expect((await board.transmit(`00200081 06 ${USER_PIN}`)).statusWord).toBe(0x9000);
    await board.power('reset');
    expect((await board.transmit('00200081')).statusWord).toBe(0x63c3);
  });

  it('enforces the access rules on files', async () => {
    const board = await commissioned();
    expect((await board.transmit('00D7CD01 09 5402 0000 5303 AABBCC')).statusWord).toBe(0x6982);
    expect((await board.transmit(`00200081 06 ${USER_PIN}`)).statusWord).toBe(0x9000);
    expect((await board.transmit('00D7CD01 09 5402 0000 5303 AABBCC')).statusWord).toBe(0x9000);
    expect((await board.transmit('00D7CC05 09 5402 0000 5303 AABBCC')).statusWord).toBe(0x6986);
    expect((await board.transmit('00D72F02 09 5402 0000 5303 AABBCC')).statusWord).toBe(0x6986);
    expect((await board.transmit('00D71001 09 5402 0000 5303 AABBCC')).statusWord).toBe(0x6986);
    expect(await readWhole(board, 'CD01')).toEqual({ statusWord: 0x9000, data: 'aabbcc' });
    await board.transmit(SELECT_APPLET);
    expect((await readWhole(board, 'CD01')).statusWord).toBe(0x6982);
    expect((await readWhole(board, '1001')).statusWord).toBe(0x6a82);
    expect((await board.transmit('00E40200 02 2F02')).statusWord).toBe(0x6986);
  });

  it('requires the current SO-PIN to re-initialise and then wipes every data object, also from the raw flash', async () => {
    const board = await commissioned();
    expect((await board.transmit(`00200081 06 ${USER_PIN}`)).statusWord).toBe(0x9000);
    const secretData = 'DEADBEEF0BADF00DCAFEBABE11223344';
    expect((await board.transmit(`00D7CD07 16 5402 0000 5310 ${secretData}`)).statusWord).toBe(0x9000);
    const wrongSo = `8050000019800200018106${USER_PIN}82080102030405060708910103`;
    expect((await board.transmit(wrongSo)).statusWord).toBe(0x63ce);
    expect((await readWhole(board, 'CD07')).data).toBe(secretData.toLowerCase());
    const flashBefore = toHex(board.hal.flash.snapshot());
    expect(flashBefore).toContain(secretData.toLowerCase());
    expect((await board.transmit(INITIALIZE)).statusWord).toBe(0x9000);
    expect(toHex(board.hal.flash.snapshot())).not.toContain(secretData.toLowerCase());
    expect((await board.transmit(`00200081 06 ${USER_PIN}`)).statusWord).toBe(0x9000);
    expect((await readWhole(board, 'CD07')).statusWord).toBe(0x6a82);
    expect((await readWhole(board, '2F02')).statusWord).toBe(0x9000);
  });
});

describe('card sessions per link client', () => {
  it('keeps one client\'s verified PIN, selection and logout to itself', async () => {
    const board = await commissioned();
    expect((await board.transmit(`00200081 06 ${USER_PIN}`, 1)).statusWord).toBe(0x9000);
    expect((await board.transmit('00200081', 1)).statusWord).toBe(0x9000);
    // Session 0 (the vpcd reader) is not logged in by session 1's VERIFY.
    expect((await board.transmit('00200081', 0)).statusWord).toBe(0x63c3);
    expect((await board.transmit('00D7CD01 09 5402 0000 5303 AABBCC', 0)).statusWord).toBe(0x6982);
    expect((await board.transmit('00D7CD01 09 5402 0000 5303 AABBCC', 1)).statusWord).toBe(0x9000);
    // Session 0 selecting the applet (a logout) leaves session 1 logged in; session 1 powering off ends it.
    await board.transmit(SELECT_APPLET, 0);
    expect((await board.transmit('00200081', 1)).statusWord).toBe(0x9000);
    await board.power('off', 1);
    expect((await board.transmit('00200081', 1)).statusWord).toBe(0x63c3);
  });
});
