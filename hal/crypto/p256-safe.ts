/**
 * P-256 (secp256r1) for the Pico: ECDSA and ECDH that never divide BigInts.
 *
 * Kaluma's JerryScript computes BigInt `/` and `%` off by one quotient when the remainder is small
 * (docs: rp2040-kaluma.md), so noble's p256 fails there. This file uses only BigInt `+ - * << >> & |` and
 * comparisons (and `BigInt(number)`, `Number(bigint)`), and no `/` or `%` at all, not even on numbers, so a
 * syntax check can prove it (test/p256-safe.test.ts does, and runs this file under a model of the bug):
 *
 * - Reduction modulo p, modulo the order n and modulo n - 1 (key generation) is Barrett reduction (HAC
 *   14.42 with base 2, k = 256) with mu = floor(2^512 / m) written as a literal: computing it needs division.
 *   Inputs are below 2^512 (products of reduced values; 384-bit key-generation seeds).
 * - Inversion is Fermat's a^(m-2) with a public exponent, so its control flow does not depend on a.
 * - Points are homogeneous projective (X:Y:Z) with the complete addition and doubling formulas for a = -3 of
 *   Renes, Costello and Batina (EUROCRYPT 2016, algorithms 4 and 6): no special cases for doubling, the
 *   point at infinity (0:1:0) or P + (-P), so the fixed-window loop needs no branches on the point values.
 * - Scalar multiplication is a 4-bit fixed window: 4 doublings and one addition (of the infinity point for a
 *   zero digit) per digit, a 16-point table built per call (the base point's table is cached: 16 points,
 *   about 2 KB). Table lookups are indexed by the secret digit; BigInt arithmetic is not constant time in
 *   any engine, so this is "constant-time-ish": uniform control flow, no timing guarantees.
 * - Verification is Straus-Shamir (u1*G + u2*Q interleaved), variable time: it handles public data only.
 * - setP256ProgressHook: a callback run every few hundred milliseconds of Pico time inside the long loops
 *   (a signature takes seconds there, more than the watchdog allows).
 *
 * Conventions match hal/crypto/portable.ts (@noble/curves p256) byte for byte: key generation maps 48 seed
 * bytes to (seed mod (n - 1)) + 1 like noble's keygen/mapHashToField; signatures are RFC 6979 deterministic
 * (HMAC-DRBG over HMAC-SHA256, noble's bits2int: the leftmost 256 bits of the hash, reduced mod n), raw
 * r || s without low-S normalisation; verification accepts uncompressed or compressed public keys (as noble
 * does), ECDH takes an uncompressed peer point only (as the portable engine does) and returns X.
 *
 * Language: none of what Kaluma lacks (`?.`, logical assignment, `#private`, `.at()`, Object.hasOwn,
 * BigInt.asUintN), and no `**` either. HMAC-SHA256 is the device engine's (compact-symmetric.ts: 32-bit
 * arithmetic, no BigInt), which takes its message in parts.
 */
import { hmacSha256 } from './compact-symmetric.js';

// ---------------------------------------------------------------------------------------------------------
// Constants (SEC 2 / FIPS 186-5 P-256)

/** The field prime p = 2^256 - 2^224 + 2^192 + 2^96 - 1. */
const P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
/** The group order n. */
const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const N_MINUS_1 = N - 1n;
/** The curve coefficient b (a = -3). */
const B = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn;
const GX = 0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296n;
const GY = 0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5n;
/** Barrett constants floor(2^512 / m) for m = p, n and n - 1 (checked against real division in the tests). */
const MU_P = 0x100000000fffffffffffffffefffffffefffffffeffffffff0000000000000003n;
const MU_N = 0x100000000fffffffffffffffeffffffff43190552df1a6c21012ffd85eedf9bfen;
const MU_N_MINUS_1 = 0x100000000fffffffffffffffeffffffff43190552df1a6c21012ffd85eedf9bffn;
/** Exponents for Fermat inversion and the square root (p = 3 mod 4). */
const P_MINUS_2 = P - 2n;
const N_MINUS_2 = N - 2n;
const SQRT_EXPONENT = 0x3fffffffc0000000400000000000000000000000400000000000000000000000n; // (p + 1) / 4

/** The domain parameters in @noble/curves' CURVE() shape (the Pico's stand-in for it, hal/rp2040/curve-domains.ts). */
export const P256_DOMAIN = { p: P, n: N, h: 1n, a: P - 3n, b: B, Gx: GX, Gy: GY } as const;

/** Bytes of a field element or scalar; random bytes key generation takes (as noble: 1.5 x 32). */
export const P256_BYTES = 32;
export const P256_SEED_BYTES = 48;

// ---------------------------------------------------------------------------------------------------------
// Integers <-> bytes (32-bit words: no BigInt parsing or printing, which might divide)

function bytesToBigInt(bytes: Uint8Array, start: number, end: number): bigint {
  let value = 0n;
  let index = start;
  // Leading bytes until the rest is a whole number of 32-bit words.
  while (((end - index) & 3) !== 0) {
    value = (value << 8n) | BigInt(bytes[index] as number);
    index++;
  }
  for (; index < end; index += 4) {
    const word = (((bytes[index] as number) << 24) | ((bytes[index + 1] as number) << 16) | ((bytes[index + 2] as number) << 8) | (bytes[index + 3] as number)) >>> 0;
    value = (value << 32n) | BigInt(word);
  }
  return value;
}

/** Writes a value below 2^256 as 32 big-endian bytes at `offset`. */
function writeBigInt(value: bigint, out: Uint8Array, offset: number): void {
  let rest = value;
  for (let index = offset + 28; index >= offset; index -= 4) {
    const word = Number(rest & 0xffffffffn);
    rest >>= 32n;
    out[index] = word >>> 24;
    out[index + 1] = (word >>> 16) & 0xff;
    out[index + 2] = (word >>> 8) & 0xff;
    out[index + 3] = word & 0xff;
  }
}

function toBytes32(value: bigint): Uint8Array {
  const out = new Uint8Array(32);
  writeBigInt(value, out, 0);
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Modular arithmetic

/** x mod m for 0 <= x < 2^512 and 2^255 <= m < 2^256 (Barrett, HAC 14.42, b = 2, k = 256). */
function barrett(x: bigint, m: bigint, mu: bigint): bigint {
  const q = ((x >> 255n) * mu) >> 257n; // floor(x / m) - 2 <= q <= floor(x / m)
  let r = x - q * m; // 0 <= r < 3m
  if (r >= m) r -= m;
  if (r >= m) r -= m;
  return r;
}

function fmul(a: bigint, b: bigint): bigint {
  return barrett(a * b, P, MU_P);
}

function fadd(a: bigint, b: bigint): bigint {
  const r = a + b;
  return r >= P ? r - P : r;
}

function fsub(a: bigint, b: bigint): bigint {
  const r = a - b;
  return r < 0n ? r + P : r;
}

function nmul(a: bigint, b: bigint): bigint {
  return barrett(a * b, N, MU_N);
}

function nadd(a: bigint, b: bigint): bigint {
  const r = a + b;
  return r >= N ? r - N : r;
}

/** base^exponent with `mul` (square-and-multiply over the bits of a public exponent below 2^256). */
function power(base: bigint, exponent: bigint, mul: (a: bigint, b: bigint) => bigint): bigint {
  let result = 1n;
  for (let bit = 255; bit >= 0; bit--) {
    if ((bit & 63) === 0) progress();
    result = mul(result, result);
    if (((exponent >> BigInt(bit)) & 1n) === 1n) result = mul(result, base);
  }
  return result;
}

/** a^-1 mod p (a != 0; a = 0 gives 0). */
function finv(a: bigint): bigint {
  return power(a, P_MINUS_2, fmul);
}

/** a^-1 mod n (a != 0). */
function ninv(a: bigint): bigint {
  return power(a, N_MINUS_2, nmul);
}

/** The right-hand side x^3 - 3x + b of the curve equation. */
function curveRhs(x: bigint): bigint {
  return fadd(fsub(fmul(fmul(x, x), x), fadd(fadd(x, x), x)), B);
}

// ---------------------------------------------------------------------------------------------------------
// Points: homogeneous projective (X:Y:Z), x = X/Z, y = Y/Z; infinity is (0:1:0)

interface Point {
  readonly x: bigint;
  readonly y: bigint;
  readonly z: bigint;
}

const INFINITY: Point = { x: 0n, y: 1n, z: 0n };
const BASE: Point = { x: GX, y: GY, z: 1n };

/** P + Q, complete (RCB 2016 algorithm 4, a = -3): any inputs, including P = Q, P = -Q and infinity. */
function add(p: Point, q: Point): Point {
  const x1 = p.x;
  const y1 = p.y;
  const z1 = p.z;
  const x2 = q.x;
  const y2 = q.y;
  const z2 = q.z;
  let t0 = fmul(x1, x2);
  let t1 = fmul(y1, y2);
  let t2 = fmul(z1, z2);
  let t3 = fadd(x1, y1);
  let t4 = fadd(x2, y2);
  t3 = fmul(t3, t4);
  t4 = fadd(t0, t1);
  t3 = fsub(t3, t4);
  t4 = fadd(y1, z1);
  let x3 = fadd(y2, z2);
  t4 = fmul(t4, x3);
  x3 = fadd(t1, t2);
  t4 = fsub(t4, x3);
  x3 = fadd(x1, z1);
  let y3 = fadd(x2, z2);
  x3 = fmul(x3, y3);
  y3 = fadd(t0, t2);
  y3 = fsub(x3, y3);
  let z3 = fmul(B, t2);
  x3 = fsub(y3, z3);
  z3 = fadd(x3, x3);
  x3 = fadd(x3, z3);
  z3 = fsub(t1, x3);
  x3 = fadd(t1, x3);
  y3 = fmul(B, y3);
  t1 = fadd(t2, t2);
  t2 = fadd(t1, t2);
  y3 = fsub(y3, t2);
  y3 = fsub(y3, t0);
  t1 = fadd(y3, y3);
  y3 = fadd(t1, y3);
  t1 = fadd(t0, t0);
  t0 = fadd(t1, t0);
  t0 = fsub(t0, t2);
  t1 = fmul(t4, y3);
  t2 = fmul(t0, y3);
  y3 = fmul(x3, z3);
  y3 = fadd(y3, t2);
  x3 = fmul(t3, x3);
  x3 = fsub(x3, t1);
  z3 = fmul(t4, z3);
  t1 = fmul(t3, t0);
  z3 = fadd(z3, t1);
  return { x: x3, y: y3, z: z3 };
}

/** 2P, complete (RCB 2016 algorithm 6, a = -3). */
function double(p: Point): Point {
  const x = p.x;
  const y = p.y;
  const z = p.z;
  let t0 = fmul(x, x);
  const t1 = fmul(y, y);
  let t2 = fmul(z, z);
  let t3 = fmul(x, y);
  t3 = fadd(t3, t3);
  let z3 = fmul(x, z);
  z3 = fadd(z3, z3);
  let y3 = fmul(B, t2);
  y3 = fsub(y3, z3);
  let x3 = fadd(y3, y3);
  y3 = fadd(x3, y3);
  x3 = fsub(t1, y3);
  y3 = fadd(t1, y3);
  y3 = fmul(x3, y3);
  x3 = fmul(x3, t3);
  t3 = fadd(t2, t2);
  t2 = fadd(t2, t3);
  z3 = fmul(B, z3);
  z3 = fsub(z3, t2);
  z3 = fsub(z3, t0);
  t3 = fadd(z3, z3);
  z3 = fadd(z3, t3);
  t3 = fadd(t0, t0);
  t0 = fadd(t3, t0);
  t0 = fsub(t0, t2);
  t0 = fmul(t0, z3);
  y3 = fadd(y3, t0);
  t0 = fmul(y, z);
  t0 = fadd(t0, t0);
  z3 = fmul(t0, z3);
  x3 = fsub(x3, z3);
  z3 = fmul(t0, t1);
  z3 = fadd(z3, z3);
  z3 = fadd(z3, z3);
  return { x: x3, y: y3, z: z3 };
}

/** [0P, 1P, ..., 15P]. */
function windowTable(p: Point): Point[] {
  const table: Point[] = [INFINITY, p];
  for (let index = 2; index < 16; index++) table.push(add(table[index - 1] as Point, p));
  return table;
}

let baseTable: Point[] | undefined;

let progressHook: (() => void) | undefined;

/**
 * Sets a function called regularly during the long operations (every 16 doublings of a scalar
 * multiplication, every 64 squarings of an inversion: about 16 calls per multiplication; on a Pico, where
 * a signature takes seconds, roughly every 0.3 s), e.g. to feed a watchdog or tell the host to wait.
 * Undefined removes it. A hook that throws aborts the operation with its error.
 */
export function setP256ProgressHook(hook: (() => void) | undefined): void {
  progressHook = hook;
}

function progress(): void {
  if (progressHook !== undefined) progressHook();
}

function baseWindowTable(): Point[] {
  if (baseTable === undefined) baseTable = windowTable(BASE);
  return baseTable;
}

/** The 4-bit digit `index` (0 = most significant) of a 32-byte big-endian scalar. */
function digit(scalar: Uint8Array, index: number): number {
  const byte = scalar[index >> 1] as number;
  return (index & 1) === 0 ? byte >> 4 : byte & 15;
}

/** k * P for a 32-byte big-endian scalar, 4-bit fixed window, 64 uniform steps. */
function multiply(table: readonly Point[], scalar: Uint8Array): Point {
  let result = INFINITY;
  for (let index = 0; index < 64; index++) {
    if ((index & 3) === 3) progress();
    result = double(double(double(double(result))));
    result = add(result, table[digit(scalar, index)] as Point);
  }
  return result;
}

/** u1 * G + u2 * Q (Straus-Shamir, 4-bit windows; variable time, public inputs only). */
function multiplyAdd(u1: Uint8Array, u2: Uint8Array, q: Point): Point {
  const gTable = baseWindowTable();
  const qTable = windowTable(q);
  let result = INFINITY;
  for (let index = 0; index < 64; index++) {
    if ((index & 3) === 3) progress();
    if (index > 0) result = double(double(double(double(result))));
    const d1 = digit(u1, index);
    const d2 = digit(u2, index);
    if (d1 !== 0) result = add(result, gTable[d1] as Point);
    if (d2 !== 0) result = add(result, qTable[d2] as Point);
  }
  return result;
}

/** Affine coordinates, or undefined for the point at infinity. */
function toAffine(p: Point): { x: bigint; y: bigint } | undefined {
  if (p.z === 0n) return undefined;
  const zInverse = finv(p.z);
  return { x: fmul(p.x, zInverse), y: fmul(p.y, zInverse) };
}

/**
 * A SEC1 public key as a validated curve point: 04 || X || Y, or (when `allowCompressed`) 02/03 || X.
 * Undefined for any other encoding, coordinates not below p, or a point not on the curve (infinity has no
 * encoding here). The curve has prime order, so every such point is in the group.
 */
function decodePoint(bytes: Uint8Array, allowCompressed: boolean): Point | undefined {
  const prefix = bytes[0];
  if (bytes.length === 65 && prefix === 4) {
    const x = bytesToBigInt(bytes, 1, 33);
    const y = bytesToBigInt(bytes, 33, 65);
    if (x >= P || y >= P) return undefined;
    if (fmul(y, y) !== curveRhs(x)) return undefined;
    return { x, y, z: 1n };
  }
  if (allowCompressed && bytes.length === 33 && (prefix === 2 || prefix === 3)) {
    const x = bytesToBigInt(bytes, 1, 33);
    if (x >= P) return undefined;
    const rhs = curveRhs(x);
    let y = power(rhs, SQRT_EXPONENT, fmul);
    if (fmul(y, y) !== rhs) return undefined; // no point with this x
    if (Number(y & 1n) !== (prefix & 1)) y = y === 0n ? y : P - y;
    if (Number(y & 1n) !== (prefix & 1)) return undefined; // y = 0 cannot be odd
    return { x, y, z: 1n };
  }
  return undefined;
}

function encodePoint(p: Point): Uint8Array {
  const affine = toAffine(p);
  if (affine === undefined) throw new Error('P-256: point at infinity');
  const out = new Uint8Array(65);
  out[0] = 4;
  writeBigInt(affine.x, out, 1);
  writeBigInt(affine.y, out, 33);
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Scalars and hashes

/** A private key: exactly 32 bytes, 1 <= d < n; throws otherwise. */
function privateScalar(privateKey: Uint8Array): bigint {
  if (privateKey.length !== 32) throw new Error('P-256 private keys are 32 bytes');
  const d = bytesToBigInt(privateKey, 0, 32);
  if (d === 0n || d >= N) throw new Error('P-256 private key out of range');
  return d;
}

/** noble's bits2int for a 256-bit order: the leftmost 256 bits of the hash, as an integer. */
function bits2int(hash: Uint8Array): bigint {
  return bytesToBigInt(hash, 0, hash.length > 32 ? 32 : hash.length);
}

/** bits2int reduced mod n (the value is below 2^256 < 2n: one subtraction). */
function bits2intModN(hash: Uint8Array): bigint {
  const h = bits2int(hash);
  return h >= N ? h - N : h;
}


// ---------------------------------------------------------------------------------------------------------
// The API

/**
 * A key pair from exactly 48 random bytes: d = (seed mod (n - 1)) + 1, the reduction @noble/curves' keygen
 * uses (mapHashToField), so the portable engine derives the same key from the same randomness.
 */
export function p256GenerateKey(seed: Uint8Array): { privateKey: Uint8Array; publicKey: Uint8Array } {
  if (seed.length !== P256_SEED_BYTES) throw new Error(`P-256 key generation takes ${P256_SEED_BYTES} random bytes`);
  const d = barrett(bytesToBigInt(seed, 0, P256_SEED_BYTES), N_MINUS_1, MU_N_MINUS_1) + 1n;
  const privateKey = toBytes32(d);
  return { privateKey, publicKey: p256PublicKey(privateKey) };
}

/** The uncompressed public key 04 || X || Y of a private key. */
export function p256PublicKey(privateKey: Uint8Array): Uint8Array {
  privateScalar(privateKey);
  return encodePoint(multiply(baseWindowTable(), privateKey));
}

/** Whether `publicKey` is an uncompressed encoding of a point on the curve (not infinity). */
export function p256IsValidPublicKey(publicKey: Uint8Array): boolean {
  return decodePoint(publicKey, false) !== undefined;
}

/**
 * ECDSA over a precomputed hash with the RFC 6979 nonce (HMAC-DRBG, HMAC-SHA256, as @noble/curves does for
 * P-256 whatever the hash length). Returns r || s (32 bytes each), s not normalised to the low half.
 */
export function p256Sign(privateKey: Uint8Array, hash: Uint8Array): Uint8Array {
  const d = privateScalar(privateKey);
  const h = bits2intModN(hash);
  const hBytes = toBytes32(h);
  // RFC 6979 3.2 steps b-g (the seed is privateKey || hBytes).
  let v: Uint8Array = new Uint8Array(32).fill(1);
  let k: Uint8Array = new Uint8Array(32);
  k = hmacSha256(k, v, Uint8Array.of(0), privateKey, hBytes);
  v = hmacSha256(k, v);
  k = hmacSha256(k, v, Uint8Array.of(1), privateKey, hBytes);
  v = hmacSha256(k, v);
  hBytes.fill(0);
  try {
    for (let attempt = 0; attempt < 1000; attempt++) {
      // Step h: T = V (qlen = hlen = 256), candidate nonce bits2int(T).
      v = hmacSha256(k, v);
      const nonce = bytesToBigInt(v, 0, 32);
      if (nonce !== 0n && nonce < N) {
        const point = toAffine(multiply(baseWindowTable(), v));
        if (point !== undefined) {
          const r = point.x >= N ? point.x - N : point.x; // x < p < 2n
          if (r !== 0n) {
            const s = nmul(ninv(nonce), nadd(h, nmul(r, d)));
            if (s !== 0n) {
              const signature = new Uint8Array(64);
              writeBigInt(r, signature, 0);
              writeBigInt(s, signature, 32);
              return signature;
            }
          }
        }
      }
      k = hmacSha256(k, v, Uint8Array.of(0));
      v = hmacSha256(k, v);
    }
    throw new Error('P-256: no valid nonce');
  } finally {
    k.fill(0);
    v.fill(0);
  }
}

/**
 * ECDSA verification of r || s over a precomputed hash. False (never a throw) for a malformed signature or
 * public key, r or s outside [1, n-1], or a signature that does not match.
 */
export function p256Verify(publicKey: Uint8Array, hash: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== 64) return false;
  const r = bytesToBigInt(signature, 0, 32);
  const s = bytesToBigInt(signature, 32, 64);
  if (r === 0n || r >= N || s === 0n || s >= N) return false;
  const q = decodePoint(publicKey, true);
  if (q === undefined) return false;
  const w = ninv(s);
  const h = bits2intModN(hash);
  const point = multiplyAdd(toBytes32(nmul(h, w)), toBytes32(nmul(r, w)), q);
  if (point.z === 0n) return false;
  // x(R) mod n == r without an inversion: X == r * Z, or X == (r + n) * Z when r + n < p.
  if (point.x === fmul(r, point.z)) return true;
  const wrapped = r + N;
  return wrapped < P && point.x === fmul(wrapped, point.z);
}

/** ECDH: the X coordinate of d * Q; throws for an invalid private key or a peer point not on the curve. */
export function p256Ecdh(privateKey: Uint8Array, peerPublicKey: Uint8Array): Uint8Array {
  privateScalar(privateKey);
  const q = decodePoint(peerPublicKey, false);
  if (q === undefined) throw new Error('peer public key is not a valid point on the curve');
  const shared = toAffine(multiply(windowTable(q), privateKey));
  if (shared === undefined) throw new Error('P-256: shared point at infinity');
  return toBytes32(shared.x);
}
