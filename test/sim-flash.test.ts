import { describe, expect, it } from 'vitest';
import { SimFlash, applyBitSubset, formatReplayId, mixSeed, parseReplayId } from '../hal/sim/flash.js';
import { FlashError, type FlashGeometry } from '../hal/types.js';

const GEOMETRY: FlashGeometry = { sectorSize: 1024, pageSize: 256, sectorCount: 4 };

function flashError(action: () => unknown): FlashError {
  try {
    action();
  } catch (error) {
    if (error instanceof FlashError) return error;
    throw error;
  }
  throw new Error('expected a FlashError');
}

function bytes(...values: number[]): Uint8Array {
  return new Uint8Array(values);
}

describe('SimFlash strictness', () => {
  it('starts erased and refuses a malformed geometry', () => {
    const flash = new SimFlash(GEOMETRY);
    expect(flash.read(0, 4096).every((byte) => byte === 0xff)).toBe(true);
    expect(() => new SimFlash({ sectorSize: 1000, pageSize: 256, sectorCount: 4 })).toThrow(RangeError);
    expect(() => new SimFlash({ sectorSize: 1024, pageSize: 0, sectorCount: 4 })).toThrow(RangeError);
    expect(() => new SimFlash({ sectorSize: 1024, pageSize: 256, sectorCount: 1.5 })).toThrow(RangeError);
  });

  it('programs inside one page by clearing bits, and refuses to cross a page', () => {
    const flash = new SimFlash(GEOMETRY);
    flash.program(250, bytes(0x0f, 0xf0, 0x00, 0x12, 0x34, 0x56));
    expect([...flash.read(250, 6)]).toEqual([0x0f, 0xf0, 0x00, 0x12, 0x34, 0x56]);
    flash.program(250, bytes(0x07)); // 1 -> 0 on a programmed byte is NOR-legal
    expect(flash.read(250, 1)[0]).toBe(0x07);
    expect(flash.overwrittenBytes).toBe(1);
    expect(flash.bytesProgrammed).toBe(7);
    expect(flash.programCalls).toBe(2);
    expect(flashError(() => flash.program(254, bytes(1, 2, 3))).reason).toBe('misaligned');
    expect(flashError(() => flash.program(4095, bytes(1, 2))).reason).toBe('outOfRange');
    expect(flashError(() => flash.read(4000, 100)).reason).toBe('outOfRange');
    expect(flashError(() => flash.read(-1, 1)).reason).toBe('outOfRange');
  });

  it('refuses a program that needs a 0 bit to become 1, writing nothing', () => {
    const flash = new SimFlash(GEOMETRY);
    flash.program(10, bytes(0xf0, 0xff));
    const before = flash.snapshot();
    const error = flashError(() => flash.program(10, bytes(0x0f, 0x00)));
    expect(error.reason).toBe('zeroToOne');
    expect(flash.snapshot()).toEqual(before);
    expect(flash.programCalls).toBe(1);
  });

  it('erases one sector to 0xFF and counts erases per sector', () => {
    const flash = new SimFlash(GEOMETRY);
    flash.program(1024, bytes(0, 0, 0));
    flash.program(2048, bytes(0));
    flash.erase(1);
    flash.erase(1);
    expect(flash.read(1024, 3).every((byte) => byte === 0xff)).toBe(true);
    expect(flash.read(2048, 1)[0]).toBe(0);
    expect([...flash.erasesBySector]).toEqual([0, 2, 0, 0]);
    expect(flash.eraseCalls).toBe(2);
    expect(flashError(() => flash.erase(4)).reason).toBe('outOfRange');
    flash.resetCounters();
    expect([...flash.erasesBySector]).toEqual([0, 0, 0, 0]);
    expect(flash.bytesProgrammed + flash.programCalls + flash.eraseCalls + flash.overwrittenBytes).toBe(0);
  });

  it('snapshots are copies; restore and fromImage take copies of an image of the right size', () => {
    const flash = new SimFlash(GEOMETRY);
    flash.program(0, bytes(1, 2, 3));
    const image = flash.snapshot();
    flash.program(3, bytes(4));
    expect(image[3]).toBe(0xff);
    const clone = SimFlash.fromImage(GEOMETRY, image);
    expect([...clone.read(0, 4)]).toEqual([1, 2, 3, 0xff]);
    image[0] = 0;
    expect(clone.read(0, 1)[0]).toBe(1);
    flash.restore(clone.snapshot());
    expect([...flash.read(0, 4)]).toEqual([1, 2, 3, 0xff]);
    expect(() => flash.restore(new Uint8Array(10))).toThrow(RangeError);
  });
});

describe('SimFlash power cuts', () => {
  it('cuts the n-th program or erase, counting both kinds, and stays off until powerOn', () => {
    const flash = new SimFlash(GEOMETRY);
    flash.armPowerCut({ atOperation: 3, flipSeed: 1 });
    expect(flash.powerCutPending).toBe(true);
    flash.program(0, bytes(0));
    flash.erase(2);
    expect(flashError(() => flash.program(300, bytes(0x00, 0x00))).reason).toBe('powerCut');
    expect(flash.powerCutPending).toBe(false);
    expect(flash.isPoweredOff).toBe(true);
    expect(flash.lastPowerCut?.operation).toBe('program');
    for (const action of [() => flash.read(0, 1), () => flash.program(600, bytes(0)), () => flash.erase(0), () => flash.sync()]) {
      expect(flashError(action).reason).toBe('powerCut');
    }
    flash.powerOn();
    expect(flash.read(0, 1)[0]).toBe(0);
    flash.program(600, bytes(0)); // no further cut: the plan was used up
  });

  it('does not count refused operations towards the cut', () => {
    const flash = new SimFlash(GEOMETRY);
    flash.armPowerCut({ atOperation: 1, flipSeed: 9 });
    expect(flashError(() => flash.program(255, bytes(0, 0))).reason).toBe('misaligned');
    expect(flashError(() => flash.erase(99)).reason).toBe('outOfRange');
    expect(flash.powerCutPending).toBe(true);
    expect(flashError(() => flash.erase(0)).reason).toBe('powerCut');
  });

  it('disarming returns how many operations were left', () => {
    const flash = new SimFlash(GEOMETRY);
    flash.armPowerCut({ atOperation: 5, flipSeed: 0 });
    flash.program(0, bytes(0));
    expect(flash.disarmPowerCut()).toBe(4);
    expect(flash.disarmPowerCut()).toBeUndefined();
    expect(() => flash.armPowerCut({ atOperation: 0, flipSeed: 0 })).toThrow(RangeError);
  });

  it('an interrupted program applies a subset of its bit clears, the same subset for the same seed', () => {
    const target = new Uint8Array(256).map((_, index) => (index * 37) & 0xff);
    const results = new Map<string, number>();
    const shapes = new Set<string>();
    for (let seed = 0; seed < 200; seed++) {
      const runs = [0, 1].map(() => {
        const flash = new SimFlash(GEOMETRY);
        flash.armPowerCut({ atOperation: 1, flipSeed: seed });
        expect(flashError(() => flash.program(512, target)).reason).toBe('powerCut');
        flash.powerOn();
        return flash.read(512, 256);
      });
      expect(Buffer.compare(runs[0], runs[1])).toBe(0);
      const result = runs[0];
      // Only bits the program clears were cleared.
      expect(result.every((byte, index) => (byte & target[index]) === target[index])).toBe(true);
      const cleared = result.reduce((sum, byte) => sum + popcount(byte ^ 0xff), 0);
      const total = target.reduce((sum, byte) => sum + popcount(byte ^ 0xff), 0);
      shapes.add(cleared === 0 ? 'none' : cleared === total ? 'all' : 'partial');
      results.set(String(seed), cleared);
    }
    expect(shapes).toEqual(new Set(['none', 'all', 'partial']));
    expect(new Set(results.values()).size).toBeGreaterThan(50);
  });

  it('an interrupted erase sets a subset of the zero bits back to one', () => {
    const shapes = new Set<string>();
    for (let seed = 0; seed < 100; seed++) {
      const flash = new SimFlash(GEOMETRY);
      for (let page = 0; page < 4; page++) flash.program(1024 + page * 256, new Uint8Array(256).fill(0x5a));
      flash.armPowerCut({ atOperation: 1, flipSeed: seed });
      expect(flashError(() => flash.erase(1)).reason).toBe('powerCut');
      flash.powerOn();
      const sector = flash.read(1024, 1024);
      expect(sector.every((byte) => (byte & 0x5a) === 0x5a)).toBe(true);
      const set = sector.reduce((sum, byte) => sum + popcount(byte & 0xa5), 0);
      shapes.add(set === 0 ? 'none' : set === 4 * 1024 ? 'all' : 'partial');
      expect(flash.erasesBySector[1]).toBe(1);
    }
    expect(shapes).toEqual(new Set(['none', 'all', 'partial']));
  });

  it('applyBitSubset is deterministic and reports what it applied', () => {
    const current = new Uint8Array([0xff, 0xff, 0x0f]);
    const target = new Uint8Array([0x00, 0xf0, 0x0f]);
    const first = current.slice();
    const second = current.slice();
    const a = applyBitSubset(first, target, 1234);
    const b = applyBitSubset(second, target, 1234);
    expect(first).toEqual(second);
    expect(a).toEqual(b);
    expect(a.changedBits).toBe(12);
    const applied = [...first].reduce((sum, byte, index) => sum + popcount(byte ^ current[index]), 0);
    expect(applied).toBe(a.appliedBits);
  });
});

describe('replay ids', () => {
  it('round-trip and reject malformed text', () => {
    const replay = { scenario: 'small', seed: 7, operation: 1234, cutAt: 5, flipSeed: mixSeed(7, 1234, 5) };
    const text = formatReplayId(replay);
    expect(text).toMatch(/^small:7:1234:5:\d+$/);
    expect(parseReplayId(text)).toEqual(replay);
    expect(() => parseReplayId('small:7:1234:5')).toThrow(RangeError);
    expect(() => parseReplayId('small:7:x:5:1')).toThrow(RangeError);
    expect(() => formatReplayId({ ...replay, scenario: 'a:b' })).toThrow(RangeError);
  });

  it('mixSeed is deterministic and sensitive to every part', () => {
    expect(mixSeed(1, 2, 3)).toBe(mixSeed(1, 2, 3));
    expect(mixSeed(1, 2, 3)).not.toBe(mixSeed(1, 3, 2));
    expect(mixSeed(1, 2, 3)).not.toBe(mixSeed(1, 2, 4));
  });
});

function popcount(value: number): number {
  let count = 0;
  for (let bits = value; bits !== 0; bits &= bits - 1) count += 1;
  return count;
}
