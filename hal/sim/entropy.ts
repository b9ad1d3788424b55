/**
 * Seeded, reproducible "entropy" for simulations and tests. Never for a real board.
 */
import type { Entropy } from '../types.js';

export class SeededEntropy implements Entropy {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** mulberry32 step: 32 pseudo-random bits. */
  nextUint32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let mixed = this.state;
    mixed = Math.imul(mixed ^ (mixed >>> 15), mixed | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return (mixed ^ (mixed >>> 14)) >>> 0;
  }
  randomBytes(length: number): Uint8Array {
    const bytes = new Uint8Array(length);
    for (let index = 0; index < length; index++) bytes[index] = this.nextUint32() & 0xff;
    return bytes;
  }
}
