/**
 * PIN anti-tearing on the simulated flash: power is cut at every flash operation of a VERIFY. Whenever the
 * comparison ran, the counter after reboot must be at most its earlier value minus one, so an attacker who
 * cuts power to hide a wrong guess gains nothing.
 */
import { describe, expect, it } from 'vitest';
import { createSimBoard, SIM_GEOMETRY } from '../boards/sim.js';
import { portableEngine } from '../hal/crypto/portable.js';
import type { CryptoEngine } from '../hal/crypto/types.js';
import { SimFlash } from '../hal/sim/flash.js';
import { toHex } from '../messages/schema.js';

const pinHex = (pin: string): string => toHex(new TextEncoder().encode(pin));
const INITIALIZE = `8050000019800200018106${pinHex('648219')}82083537363231383830910103`;

function countingEngine(): { engine: CryptoEngine; comparisons: () => number } {
  let count = 0;
  return {
    // PBKDF2 runs only when a presented PIN is turned into a verifier to compare (or when a PIN is set).
    engine: { ...portableEngine, pbkdf2Sha256: (...args) => (count++, portableEngine.pbkdf2Sha256(...args)) },
    comparisons: () => count,
  };
}

async function commissionedImage(): Promise<Uint8Array> {
  const board = await createSimBoard();
  expect((await board.transmit('00A404000BE82B0601040181C31F020100')).statusWord).toBe(0x9000);
  expect((await board.transmit(INITIALIZE)).statusWord).toBe(0x9000);
  await board.device.stop();
  return board.hal.flash.snapshot();
}

async function retriesAfterReboot(image: Uint8Array): Promise<number> {
  const board = await createSimBoard({ flash: new SimFlash(SIM_GEOMETRY, image) });
  const status = await board.transmit('00200081');
  if (status.statusWord === 0x6983) return 0;
  expect(status.statusWord & 0xfff0).toBe(0x63c0);
  return status.statusWord & 0x0f;
}

describe('PIN anti-tearing', () => {
  for (const attempt of [
    { name: 'a wrong PIN', pin: '000000' },
    { name: 'the right PIN', pin: '648219' },
  ]) {
    it(`never lets a power cut hide ${attempt.name}`, async () => {
      const base = await commissionedImage();
      expect(await retriesAfterReboot(base)).toBe(3);
      let cutPoints = 0;
      for (let cutAt = 1; ; cutAt++) {
        const flash = new SimFlash(SIM_GEOMETRY, base);
        const counter = countingEngine();
        const board = await createSimBoard({ flash, engine: counter.engine });
        const before = counter.comparisons();
        flash.armPowerCut({ atOperation: cutAt, flipSeed: cutAt * 7919 });
        const answer = await board.transmit(`00200081 06 ${pinHex(attempt.pin)}`);
        const compared = counter.comparisons() > before;
        const cut = flash.isPoweredOff;
        if (!cut) flash.disarmPowerCut();
        flash.powerOn();
        const retries = await retriesAfterReboot(flash.snapshot());
        const context = `cut at flash operation ${cutAt} (replay: pin-tearing:${attempt.pin}:${cutAt}), answer ${answer.statusWord.toString(16)}`;
        const wrongPin = attempt.pin !== '648219';
        // A wrong guess that reached the comparison always costs a try, whatever the cut hit.
        if (wrongPin && compared) expect(retries, context).toBeLessThanOrEqual(2);
        // The counter comes back only through a match whose restore landed.
        if (retries === 3 && compared) expect(wrongPin, context).toBe(false);
        if (answer.statusWord === 0x9000) expect(retries, context).toBe(3);
        if (answer.statusWord === 0x63c2) expect(retries, context).toBe(2);
        expect(retries, context).toBeGreaterThanOrEqual(2);
        if (!cut) {
          expect(answer.statusWord).toBe(attempt.pin === '648219' ? 0x9000 : 0x63c2);
          break;
        }
        cutPoints++;
      }
      console.log(`PIN anti-tearing (${attempt.name}): ${cutPoints} cut points exercised, no guess gained`);
      expect(cutPoints).toBeGreaterThan(0);
    });
  }
});
