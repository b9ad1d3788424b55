/**
 * The Pico bundle in the Kaluma simulation (test/kaluma-sim): the real dist bundle of `npm run build:pico`, run
 * in a fresh vm context with Kaluma's APIs and without the globals Kaluma lacks, BigInt division replaced by the
 * reproduction of Kaluma's bug, talked to over the serial framing exactly as tools/bridge.ts does: it boots, its
 * self-tests pass and are reported, and it answers SELECT / INITIALIZE / VERIFY / GENERATE P-256 / SIGN; the
 * signature verifies with node:crypto. The simulation itself is checked too (0x03 aborts, misaligned writes).
 */
import { createPublicKey, verify } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ecGenerateBody, parseCvCertificate } from '../actors/card/cvc.js';
import { fromHex } from '../boards/sim.js';
import { FrameType, encodeFrame } from '../hal/serial-framing.js';
import { toHex } from '../messages/schema.js';
import { kalumaDiv, kalumaMod } from './kaluma-sim/bigint-bug.js';
import { newFlashArea, prepareBundle, startSimulatedPico, type PreparedBundle, type SimulatedPico } from './kaluma-sim/index.js';
import { PicoSession } from '../tools/bridge.js';
import { PICO_BUDGET_BYTES, buildPicoBundle, describeBundle, type PicoBundle } from '../tools/build-pico.js';

const ascii = new TextEncoder();
const USER_PIN = toHex(ascii.encode('648219'));

function extendedApdu(header: string, data: Uint8Array, le = '0000'): Uint8Array {
  return fromHex(`${header}00${data.length.toString(16).padStart(4, '0')}${toHex(data)}${le}`);
}

function statusOf(response: Uint8Array): number {
  return (response[response.length - 2] << 8) | response[response.length - 1];
}

let bundle: PicoBundle;
let prepared: PreparedBundle;

beforeAll(async () => {
  bundle = await buildPicoBundle();
  prepared = prepareBundle(bundle.code);
  process.stdout.write(`${describeBundle(bundle)}\n`);
}, 120_000);

describe('the Kaluma simulation', () => {
  it('reproduces the BigInt division bug (and is exact elsewhere)', () => {
    const b = (BigInt(1) << BigInt(200)) + BigInt(7);
    let wrong = 0;
    for (let index = 0; index < 300; index++) {
      // 256-bit dividends with a remainder below 2^192: the bug's domain.
      const x = b * ((BigInt(1) << BigInt(55)) + BigInt(index * 7919)) + BigInt(index) * BigInt(1_000_003);
      if ((kalumaDiv(x, b) as bigint) !== x / b) {
        wrong++;
        expect(kalumaDiv(x, b)).toBe(x / b - BigInt(1));
        expect(kalumaMod(x, b)).toBe((x % b) + b);
      }
    }
    expect(wrong).toBeGreaterThan(150);
    expect(wrong).toBeLessThan(250);
    expect(kalumaDiv(BigInt(100), BigInt(7))).toBe(BigInt(14));
    expect(kalumaDiv(7, 2)).toBe(3.5);
  });

  it('aborts the program when 0x03 arrives, and ignores misaligned flash writes', async () => {
    const pico = await startSimulatedPico({
      bundle: prepareBundle(`
        const { Flash } = require('flash');
        const f = new Flash(140, 2);
        f.write(0, new Uint8Array(10).fill(0), 3);            // misaligned: ignored
        const page = new Uint8Array(256).fill(0x5a); f.write(1, page, 256);
        const check = new Uint8Array(4); f.read(0, check, 0);
        const check2 = new Uint8Array(2); f.read(1, check2, 256);
        process.stdout.write(new Uint8Array([check[0], check2[0]]));
        function loop() { process.stdin.read(); setTimeout(loop, 1); }
        loop();
      `),
    });
    const seen: number[] = [];
    pico.onData((bytes) => seen.push(...bytes));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(seen.slice(0, 2)).toEqual([0xff, 0x5a]);
    pico.write(Uint8Array.of(0x41, 0x03, 0x42));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(pico.problems().join('\n')).toMatch(/aborted/);
    await pico.stop();
  }, 30_000);

  it('lacks what Kaluma lacks', async () => {
    const pico = await startSimulatedPico({
      bundle: `process.stdout.write(new TextEncoder().encode([typeof setImmediate, typeof queueMicrotask, typeof structuredClone, typeof WeakRef, typeof Buffer, typeof crypto, typeof [].at, typeof Object.hasOwn, typeof BigInt.asUintN, typeof TextDecoder].join(',')));`,
    });
    const text: number[] = [];
    pico.onData((bytes) => text.push(...bytes));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(new TextDecoder().decode(Uint8Array.from(text))).toBe('undefined,undefined,undefined,undefined,undefined,undefined,undefined,undefined,undefined,function');
    await pico.stop();
  }, 30_000);
});

describe('the Pico bundle', () => {
  it(`fits the ${PICO_BUDGET_BYTES}-byte budget (the 180 KB heap holds the parsed program), and bundles no dependency`, () => {
    console.log(describeBundle(bundle));
    expect(bundle.overBudget).toBe(false);
    expect(bundle.bytes).toBeLessThanOrEqual(PICO_BUDGET_BYTES);
    // xstate, cbor-x and @noble/* have device substitutes (docs/pico.md): none of their code may creep back in.
    const dependencies = Object.keys(bundle.metafile.inputs).filter((path) => path.includes('node_modules/'));
    expect(dependencies).toEqual([]);
  });

  it('uses no syntax Kaluma rejects', () => {
    expect(prepared.unsupported).toEqual([]);
  });

  describe('in the simulation, over the serial link', () => {
    let pico: SimulatedPico;
    let session: PicoSession;
    const logs: string[] = [];

    beforeAll(async () => {
      pico = await startSimulatedPico({ bundle: prepared, flash: newFlashArea() });
      session = new PicoSession({ write: (bytes) => pico.write(bytes), onData: (listener) => pico.onData(listener) }, { log: (line) => logs.push(line), silenceTimeoutMs: 10_000 });
      await session.connect(60_000);
    }, 90_000);

    afterAll(async () => {
      session?.close();
      await pico?.stop();
    });

    it('boots, passes and reports its self-tests', async () => {
      const info = await session.info();
      expect(info.board).toBe('pico');
      expect(info.engine).toBe('device');
      expect(info.selfTestsFailed).toEqual([]);
      expect(info.selfTestsPassed).toEqual(expect.arrayContaining(['sha256', 'hmac-sha256', 'pbkdf2-sha256', 'hkdf-sha256', 'chacha20-poly1305', 'secp256r1']));
      expect(info.curves).toEqual(['secp256r1']);
      expect(logs.join('\n')).toMatch(/ready: pico/);
    });

    it('answers SELECT, INITIALIZE, VERIFY, GENERATE P-256 and SIGN; the signature verifies', async () => {
      expect(statusOf(await session.apdu(fromHex('00A404000BE82B0601040181C31F020100')))).toBe(0x9000);
      expect(statusOf(await session.apdu(fromHex(`8050000019800200018106${USER_PIN}82083537363231383830910103`)))).toBe(0x9000);
      expect(statusOf(await session.apdu(fromHex(`0020008106${USER_PIN}`)))).toBe(0x9000);
      const body = ecGenerateBody('secp256r1', 'TSHSM00000000001');
      const generated = await session.apdu(extendedApdu('00460100', body));
      expect(statusOf(generated).toString(16)).toBe('9000');
      const request = parseCvCertificate(generated.subarray(0, generated.length - 2));
      const point = request?.point;
      expect(point?.length).toBe(65);

      const message = ascii.encode('signed on a simulated Pico');
      const signed = await session.apdu(extendedApdu('80680173', message)); // ECDSA-SHA256, hashed on the device
      expect(statusOf(signed).toString(16)).toBe('9000');
      const der = signed.subarray(0, signed.length - 2);
      const publicKey = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: Buffer.from(point!.subarray(1, 33)).toString('base64url'), y: Buffer.from(point!.subarray(33)).toString('base64url') }, format: 'jwk' });
      expect(verify('sha256', message, publicKey, der)).toBe(true);
      expect(verify('sha256', ascii.encode('something else'), publicKey, der)).toBe(false);
    }, 120_000);

    it('resynchronises after garbage and answers a retried frame from its cache', async () => {
      pico.write(ascii.encode('~garbage~~\x7d~'));
      const select = fromHex('00A404000BE82B0601040181C31F020100');
      expect(statusOf(await session.apdu(select))).toBe(0x9000);
      // The same frame (same seq) again: the cached reply comes back, nothing runs twice.
      const frames: number[] = [];
      const off = pico.onData((bytes) => frames.push(...bytes));
      const info = (await session.info()) as { link: { commands: number } };
      const commandsBefore = info.link.commands;
      pico.write(encodeFrame(FrameType.apdu, 200, select));
      await new Promise((resolve) => setTimeout(resolve, 300));
      pico.write(encodeFrame(FrameType.apdu, 200, select));
      await new Promise((resolve) => setTimeout(resolve, 300));
      off();
      const after = (await session.info()) as { link: { commands: number; retries: number } };
      expect(after.link.commands).toBe(commandsBefore + 1);
      expect(after.link.retries).toBeGreaterThanOrEqual(1);
    }, 30_000);

    it('never let a byte reach the REPL, never aborted, fed its watchdog', () => {
      expect(pico.problems()).toEqual([]);
    });
  });
});
