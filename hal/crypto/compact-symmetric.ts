/**
 * The device engine's symmetric primitives, written for the Pico's heap: SHA-256 (FIPS 180-4), HMAC-SHA256
 * (RFC 2104), PBKDF2-HMAC-SHA256 (RFC 8018), HKDF-SHA256 (RFC 5869) and ChaCha20-Poly1305 (RFC 8439), in about
 * 4 KB of bundle instead of the ~20 KB @noble/hashes and @noble/ciphers take there (the program text is parsed
 * into the same 180 KB heap the firmware runs in, docs/pico.md). The host engines keep @noble and node:crypto;
 * this file is a device substitute like p256-safe.ts, held to the same standard: test/compact-symmetric.test.ts
 * checks it against node:crypto and @noble on random inputs, against RFC and Wycheproof vectors, and the power-on
 * self-tests run its known answers on every boot.
 *
 * Runs on Kaluma's JerryScript: 32-bit integer arithmetic on numbers and typed arrays only (no BigInt, so the
 * engine's BigInt division bug cannot touch it); no Buffer, no TextEncoder, no `?.`.
 *
 * Poly1305 keeps its 130-bit accumulator in ten 13-bit limbs held in plain numbers: a limb product stays below
 * 2^29 and a row of ten below 2^33, exact in a double, so no 64-bit multiplication is needed.
 */
import type { CryptoEngine, HashName } from './types.js';

// ---------------------------------------------------------------------------------------------------------
// SHA-256

/** The first 32 bits of the fractional parts of the cube roots of the first 64 primes (FIPS 180-4 4.2.2). */
const ROUND_CONSTANTS = Uint32Array.from([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
  0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
  0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
/** The initial hash value (FIPS 180-4 5.3.3). */
const INITIAL_STATE = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
const BLOCK_BYTES = 64;
const DIGEST_BYTES = 32;

const schedule = new Uint32Array(64);

function rotr(value: number, bits: number): number {
  return (value >>> bits) | (value << (32 - bits));
}

/** Compresses the 64-byte block at `offset` of `bytes` into `state`. */
function compress(state: Uint32Array, bytes: Uint8Array, offset: number): void {
  const w = schedule;
  for (let index = 0; index < 16; index++, offset += 4) {
    w[index] = (bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!;
  }
  for (let index = 16; index < 64; index++) {
    const a = w[index - 15]!;
    const b = w[index - 2]!;
    w[index] = (rotr(b, 17) ^ rotr(b, 19) ^ (b >>> 10)) + w[index - 7]! + (rotr(a, 7) ^ rotr(a, 18) ^ (a >>> 3)) + w[index - 16]!;
  }
  let [a, b, c, d, e, f, g, h] = state as unknown as number[];
  for (let index = 0; index < 64; index++) {
    const t1 = (h! + (rotr(e!, 6) ^ rotr(e!, 11) ^ rotr(e!, 25)) + ((e! & f!) ^ (~e! & g!)) + ROUND_CONSTANTS[index]! + w[index]!) | 0;
    const t2 = ((rotr(a!, 2) ^ rotr(a!, 13) ^ rotr(a!, 22)) + ((a! & b!) ^ (a! & c!) ^ (b! & c!))) | 0;
    h = g;
    g = f;
    f = e;
    e = (d! + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  state[0]! += a!;
  state[1]! += b!;
  state[2]! += c!;
  state[3]! += d!;
  state[4]! += e!;
  state[5]! += f!;
  state[6]! += g!;
  state[7]! += h!;
}

/**
 * SHA-256 of `parts` concatenated, continuing from `state` after `hashedBytes` bytes already compressed (a multiple
 * of 64: HMAC's precomputed key blocks). `state` is not modified.
 */
function finishSha256(state: ArrayLike<number>, hashedBytes: number, parts: readonly Uint8Array[]): Uint8Array {
  const working = Uint32Array.from(state as number[]);
  const block = new Uint8Array(BLOCK_BYTES);
  let filled = 0;
  let total = hashedBytes;
  for (const part of parts) {
    let offset = 0;
    total += part.length;
    if (filled > 0) {
      const taken = Math.min(BLOCK_BYTES - filled, part.length);
      block.set(part.subarray(0, taken), filled);
      filled += taken;
      offset = taken;
      if (filled < BLOCK_BYTES) continue;
      compress(working, block, 0);
      filled = 0;
    }
    for (; offset + BLOCK_BYTES <= part.length; offset += BLOCK_BYTES) compress(working, part, offset);
    block.set(part.subarray(offset), 0);
    filled = part.length - offset;
  }
  block.fill(0, filled);
  block[filled] = 0x80;
  if (filled >= BLOCK_BYTES - 8) {
    compress(working, block, 0);
    block.fill(0);
  }
  // The message length in bits, big-endian in the last 8 bytes (a JS number: exact below 2^53 bits).
  const bits = total * 8;
  const high = Math.floor(bits / 0x100000000);
  writeUint32BigEndian(block, 56, high);
  writeUint32BigEndian(block, 60, bits - high * 0x100000000);
  compress(working, block, 0);
  const digest = new Uint8Array(DIGEST_BYTES);
  for (let index = 0; index < 8; index++) writeUint32BigEndian(digest, index * 4, working[index]!);
  return digest;
}

function writeUint32BigEndian(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value >>> 24;
  bytes[offset + 1] = value >>> 16;
  bytes[offset + 2] = value >>> 8;
  bytes[offset + 3] = value;
}

export function sha256(...parts: Uint8Array[]): Uint8Array {
  return finishSha256(INITIAL_STATE, 0, parts);
}

// ---------------------------------------------------------------------------------------------------------
// HMAC, PBKDF2, HKDF

/** HMAC-SHA256 with the key's two padded blocks compressed once (PBKDF2 reuses them for every iteration). */
function hmacSha256Keyed(key: Uint8Array): (...parts: Uint8Array[]) => Uint8Array {
  const padded = new Uint8Array(BLOCK_BYTES);
  padded.set(key.length > BLOCK_BYTES ? sha256(key) : key);
  const inner = Uint32Array.from(INITIAL_STATE);
  const outer = Uint32Array.from(INITIAL_STATE);
  for (let index = 0; index < BLOCK_BYTES; index++) padded[index]! ^= 0x36;
  compress(inner, padded, 0);
  for (let index = 0; index < BLOCK_BYTES; index++) padded[index]! ^= 0x36 ^ 0x5c;
  compress(outer, padded, 0);
  padded.fill(0);
  return (...parts) => finishSha256(outer, BLOCK_BYTES, [finishSha256(inner, BLOCK_BYTES, parts)]);
}

export function hmacSha256(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  return hmacSha256Keyed(key)(...parts);
}

function positiveInteger(name: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 1 || value > max) throw new RangeError(`${name} must be an integer from 1 to ${max}`);
}

export function pbkdf2Sha256(password: Uint8Array, salt: Uint8Array, iterations: number, length: number): Uint8Array {
  positiveInteger('PBKDF2 iterations', iterations, 0x7fffffff);
  positiveInteger('PBKDF2 length', length, 0xffff * DIGEST_BYTES);
  const prf = hmacSha256Keyed(password);
  const output = new Uint8Array(length);
  const counter = new Uint8Array(4);
  for (let block = 1, offset = 0; offset < length; block++, offset += DIGEST_BYTES) {
    writeUint32BigEndian(counter, 0, block);
    let u = prf(salt, counter);
    const t = u.slice();
    for (let round = 1; round < iterations; round++) {
      u = prf(u);
      for (let index = 0; index < DIGEST_BYTES; index++) t[index]! ^= u[index]!;
    }
    output.set(t.subarray(0, Math.min(DIGEST_BYTES, length - offset)), offset);
  }
  return output;
}

export function hkdfSha256(inputKey: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  positiveInteger('HKDF length', length, 255 * DIGEST_BYTES);
  const expand = hmacSha256Keyed(hmacSha256(salt.length > 0 ? salt : new Uint8Array(DIGEST_BYTES), inputKey));
  const output = new Uint8Array(length);
  let previous: Uint8Array = new Uint8Array(0);
  for (let block = 1, offset = 0; offset < length; block++, offset += DIGEST_BYTES) {
    previous = expand(previous, info, Uint8Array.of(block));
    output.set(previous.subarray(0, Math.min(DIGEST_BYTES, length - offset)), offset);
  }
  return output;
}

// ---------------------------------------------------------------------------------------------------------
// ChaCha20 (RFC 8439 2.3, 2.4)

function readUint32LittleEndian(bytes: Uint8Array, offset: number): number {
  return (bytes[offset]! | (bytes[offset + 1]! << 8) | (bytes[offset + 2]! << 16) | (bytes[offset + 3]! << 24)) >>> 0;
}

function rotl(value: number, bits: number): number {
  return (value << bits) | (value >>> (32 - bits));
}

function quarterRound(x: Uint32Array, a: number, b: number, c: number, d: number): void {
  x[a] = x[a]! + x[b]!;
  x[d] = rotl(x[d]! ^ x[a]!, 16);
  x[c] = x[c]! + x[d]!;
  x[b] = rotl(x[b]! ^ x[c]!, 12);
  x[a] = x[a]! + x[b]!;
  x[d] = rotl(x[d]! ^ x[a]!, 8);
  x[c] = x[c]! + x[d]!;
  x[b] = rotl(x[b]! ^ x[c]!, 7);
}

/** `input` XOR the ChaCha20 key stream from block `counter` on (`input` may be empty: key-stream bytes then). */
function chacha20(key: Uint8Array, nonce: Uint8Array, counter: number, input: Uint8Array): Uint8Array {
  const initial = new Uint32Array(16);
  initial.set([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]);
  for (let index = 0; index < 8; index++) initial[4 + index] = readUint32LittleEndian(key, index * 4);
  for (let index = 0; index < 3; index++) initial[13 + index] = readUint32LittleEndian(nonce, index * 4);
  const working = new Uint32Array(16);
  const output = new Uint8Array(input.length);
  for (let offset = 0; offset < input.length; offset += 64, counter++) {
    initial[12] = counter;
    working.set(initial);
    for (let round = 0; round < 10; round++) {
      quarterRound(working, 0, 4, 8, 12);
      quarterRound(working, 1, 5, 9, 13);
      quarterRound(working, 2, 6, 10, 14);
      quarterRound(working, 3, 7, 11, 15);
      quarterRound(working, 0, 5, 10, 15);
      quarterRound(working, 1, 6, 11, 12);
      quarterRound(working, 2, 7, 8, 13);
      quarterRound(working, 3, 4, 9, 14);
    }
    for (let index = 0; index < 16; index++) working[index]! += initial[index]!;
    for (let index = 0; index < 64 && offset + index < input.length; index++) {
      output[offset + index] = input[offset + index]! ^ (working[index >> 2]! >>> ((index & 3) * 8));
    }
  }
  working.fill(0);
  initial.fill(0);
  return output;
}

// ---------------------------------------------------------------------------------------------------------
// Poly1305 (RFC 8439 2.5), for the AEAD: every block it sees is a full 16 bytes (the AEAD pads with zeros)

const LIMBS = 10;
const LIMB_MASK = 0x1fff;

/** The 16 bytes at `offset` (bytes past the end read as 0) plus `topBit` * 2^128, as ten 13-bit limbs. */
function toLimbs(bytes: Uint8Array, offset: number, topBit: number): number[] {
  const limbs: number[] = [];
  for (let index = 0; index < LIMBS; index++) {
    const bit = index * 13;
    const at = offset + (bit >> 3);
    const window = (at < offset + 16 ? bytes[at]! : 0) | (at + 1 < offset + 16 ? bytes[at + 1]! << 8 : 0) | (at + 2 < offset + 16 ? bytes[at + 2]! << 16 : 0);
    limbs.push((window >>> (bit & 7)) & LIMB_MASK);
  }
  limbs[9]! += topBit << 11; // 2^128 = 2^(9 * 13 + 11)
  return limbs;
}

/**
 * Carries every limb into the next, the carry out of the top limb coming back as 5 times itself (2^130 = 5 mod
 * p), until no carry is left: every limb below 2^13, so the value is below 2^130.
 */
function carry(h: number[]): void {
  let carried: number;
  do {
    carried = 0;
    for (let index = 0; index < LIMBS; index++) {
      const value = h[index]! + carried;
      carried = Math.floor(value / 8192);
      h[index] = value - carried * 8192;
    }
    h[0]! += carried * 5;
  } while (carried > 0);
}

/** Poly1305 of a message whose length is a multiple of 16 (exported for its tests). */
export function poly1305Blocks(oneTimeKey: Uint8Array, message: Uint8Array): Uint8Array {
  if (message.length % 16 !== 0) throw new RangeError('poly1305Blocks takes whole 16-byte blocks');
  const clamped = oneTimeKey.slice(0, 16);
  for (const index of [3, 7, 11, 15]) clamped[index]! &= 0x0f;
  for (const index of [4, 8, 12]) clamped[index]! &= 0xfc;
  const r = toLimbs(clamped, 0, 0);
  const h = new Array<number>(LIMBS).fill(0);
  const product = new Array<number>(LIMBS);
  for (let offset = 0; offset < message.length; offset += 16) {
    const block = toLimbs(message, offset, 1);
    for (let index = 0; index < LIMBS; index++) h[index]! += block[index]!;
    for (let i = 0; i < LIMBS; i++) {
      let sum = 0;
      for (let j = 0; j < LIMBS; j++) sum += h[j]! * (j <= i ? r[i - j]! : 5 * r[i - j + LIMBS]!);
      product[i] = sum;
    }
    for (let index = 0; index < LIMBS; index++) h[index] = product[index]!;
    carry(h);
  }
  // h < 2^130 (carry's postcondition); h mod p is h + 5 - 2^130 when h + 5 reaches 2^130, else h.
  const g = h.slice();
  g[0]! += 5;
  let carried = 0;
  for (let index = 0; index < LIMBS; index++) {
    const value = g[index]! + carried;
    carried = value >>> 13;
    g[index] = value & LIMB_MASK;
  }
  const reduced = carried > 0 ? g : h;
  // (h + s) mod 2^128, little-endian.
  const tag = new Uint8Array(16);
  let accumulator = 0;
  let bits = 0;
  let limb = 0;
  let sum = 0;
  for (let index = 0; index < 16; index++) {
    while (bits < 8) {
      accumulator |= reduced[limb++]! << bits;
      bits += 13;
    }
    sum += (accumulator & 0xff) + oneTimeKey[16 + index]!;
    tag[index] = sum;
    sum >>>= 8;
    accumulator >>>= 8;
    bits -= 8;
  }
  return tag;
}

// ---------------------------------------------------------------------------------------------------------
// ChaCha20-Poly1305 (RFC 8439 2.8)

function checkAeadParameters(key: Uint8Array, nonce: Uint8Array): void {
  if (key.length !== 32) throw new RangeError('ChaCha20-Poly1305 needs a 32-byte key');
  if (nonce.length !== 12) throw new RangeError('ChaCha20-Poly1305 needs a 12-byte nonce');
}

function aeadTag(key: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, associatedData: Uint8Array): Uint8Array {
  const padded = (length: number) => (length + 15) & ~15;
  const macData = new Uint8Array(padded(associatedData.length) + padded(ciphertext.length) + 16);
  macData.set(associatedData, 0);
  macData.set(ciphertext, padded(associatedData.length));
  const lengths = macData.length - 16;
  // Both lengths are below 2^32 here (typed arrays), so their high words stay zero.
  for (const [offset, value] of [
    [lengths, associatedData.length],
    [lengths + 8, ciphertext.length],
  ] as const) {
    for (let index = 0; index < 4; index++) macData[offset + index] = value >>> (index * 8);
  }
  const oneTimeKey = chacha20(key, nonce, 0, new Uint8Array(32));
  const tag = poly1305Blocks(oneTimeKey, macData);
  oneTimeKey.fill(0);
  return tag;
}

export function chacha20Poly1305Seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, associatedData: Uint8Array): Uint8Array {
  checkAeadParameters(key, nonce);
  const sealed = new Uint8Array(plaintext.length + 16);
  const ciphertext = chacha20(key, nonce, 1, plaintext);
  sealed.set(ciphertext);
  sealed.set(aeadTag(key, nonce, ciphertext, associatedData), plaintext.length);
  return sealed;
}

/** The plaintext, or undefined when the tag does not verify (compared in constant time). */
export function chacha20Poly1305Open(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, associatedData: Uint8Array): Uint8Array | undefined {
  checkAeadParameters(key, nonce);
  if (sealed.length < 16) return undefined;
  const ciphertext = sealed.subarray(0, sealed.length - 16);
  const expected = aeadTag(key, nonce, ciphertext, associatedData);
  let difference = 0;
  for (let index = 0; index < 16; index++) difference |= expected[index]! ^ sealed[ciphertext.length + index]!;
  return difference === 0 ? chacha20(key, nonce, 1, ciphertext) : undefined;
}

// ---------------------------------------------------------------------------------------------------------

function sha256Only(hash: HashName): void {
  if (hash !== 'sha256') throw new Error(`this engine does not implement ${String(hash)}`);
}

/** The engine's symmetric half: SHA-256 is its only digest. */
export const compactSymmetric: Pick<CryptoEngine, 'hashes' | 'digest' | 'hmac' | 'pbkdf2Sha256' | 'hkdfSha256' | 'aeadSeal' | 'aeadOpen'> = {
  hashes: ['sha256'],
  digest(hash, data) {
    sha256Only(hash);
    return sha256(data);
  },
  hmac(hash, key, data) {
    sha256Only(hash);
    return hmacSha256(key, data);
  },
  pbkdf2Sha256,
  hkdfSha256,
  aeadSeal: chacha20Poly1305Seal,
  aeadOpen: chacha20Poly1305Open,
};
