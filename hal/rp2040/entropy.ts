/**
 * Entropy on the Pico: HMAC-DRBG (NIST SP 800-90A, HMAC-SHA-256) seeded from `rp2.randomBigInt()`.
 *
 * The RP2040 has no TRNG; Kaluma exposes pico_rand (ring-oscillator bits and timer jitter mixed into a PRNG)
 * as 128-bit BigInts. We instantiate with 4 of them (512 bits of input, of which we claim no more than the
 * pico_rand design gives, hence the prediction resistance below) plus the boot time in microseconds, and mix one
 * fresh 128-bit value into every request as additional input, so a state leak is healed at the next request.
 * A reseed with 4 fresh values happens every 1024 requests (well under SP 800-90A's 2^48 limit).
 * HMAC-SHA-256 is the device engine's (hal/crypto/compact-symmetric.ts), which takes its message in parts.
 */
import { hmacSha256 } from '../crypto/compact-symmetric.js';
import type { Entropy } from '../types.js';
import { kaluma } from './kaluma.js';

const OUTLEN = 32;
const MAX_BYTES_PER_REQUEST = 65536;


/** SP 800-90A HMAC_DRBG with SHA-256 (no derivation function needed for HMAC_DRBG). */
export class HmacDrbg {
  private key: Uint8Array = new Uint8Array(OUTLEN);
  private value: Uint8Array = new Uint8Array(OUTLEN).fill(0x01);
  private counter = 1;

  constructor(entropy: Uint8Array, nonce: Uint8Array = new Uint8Array(0), personalization: Uint8Array = new Uint8Array(0)) {
    this.update(entropy, nonce, personalization);
  }

  reseed(entropy: Uint8Array, additional: Uint8Array = new Uint8Array(0)): void {
    this.update(entropy, additional);
    this.counter = 1;
  }

  get requestsSinceReseed(): number {
    return this.counter - 1;
  }

  generate(length: number, additional: Uint8Array = new Uint8Array(0)): Uint8Array {
    if (length > MAX_BYTES_PER_REQUEST) throw new RangeError(`at most ${MAX_BYTES_PER_REQUEST} bytes per request`);
    if (additional.length > 0) this.update(additional);
    const out = new Uint8Array(length);
    for (let offset = 0; offset < length; offset += OUTLEN) {
      this.value = hmacSha256(this.key, this.value);
      out.set(this.value.subarray(0, Math.min(OUTLEN, length - offset)), offset);
    }
    this.update(additional);
    this.counter++;
    return out;
  }

  /** HMAC_DRBG_Update with `provided` = the concatenation of the parts. */
  private update(...provided: Uint8Array[]): void {
    this.key = hmacSha256(this.key, this.value, Uint8Array.of(0x00), ...provided);
    this.value = hmacSha256(this.key, this.value);
    if (provided.every((part) => part.length === 0)) return;
    this.key = hmacSha256(this.key, this.value, Uint8Array.of(0x01), ...provided);
    this.value = hmacSha256(this.key, this.value);
  }
}

/** 16 big-endian bytes of a 128-bit BigInt (shifts and masks only: no BigInt division on Kaluma). */
export function bigIntTo16Bytes(value: bigint): Uint8Array {
  const out = new Uint8Array(16);
  let rest = value;
  for (let index = 15; index >= 0; index--) {
    out[index] = Number(rest & BigInt(0xff));
    rest >>= BigInt(8);
  }
  return out;
}

export class Rp2Entropy implements Entropy {
  private readonly drbg: HmacDrbg;
  private readonly source: () => bigint;

  constructor(source?: () => bigint, personalization: Uint8Array = new Uint8Array(0)) {
    this.source = source ?? (() => kaluma().require('rp2').randomBigInt());
    const time = new Uint8Array(8);
    new DataView(time.buffer).setFloat64(0, typeof (globalThis as { micros?: unknown }).micros === 'function' ? kaluma().micros() : 0);
    this.drbg = new HmacDrbg(this.fresh(4), time, personalization);
  }

  randomBytes(length: number): Uint8Array {
    if (this.drbg.requestsSinceReseed >= 1024) this.drbg.reseed(this.fresh(4));
    return this.drbg.generate(length, this.fresh(1));
  }

  private fresh(count: number): Uint8Array {
    const out = new Uint8Array(16 * count);
    for (let index = 0; index < count; index++) out.set(bigIntTo16Bytes(this.source()), 16 * index);
    return out;
  }
}

