/**
 * AES-CMAC (RFC 4493, NIST SP 800-38B) over any raw AES block encryption. The portable engine uses
 * @noble/ciphers' own `cmac`; engines whose library has no CMAC (node:crypto) supply AES-ECB here.
 */
import { zeroize } from './types.js';

const BLOCK = 16;
/** R_128 of SP 800-38B: the reduction constant for doubling in GF(2^128). */
const RB = 0x87;

/**
 * One AES block encryption under a fixed key: 16 bytes in, 16 bytes out. The output must be a fresh buffer
 * the caller may overwrite (it is zeroized after use).
 */
export type EncryptBlock = (block: Uint8Array) => Uint8Array;

/** Doubling in GF(2^128) (RFC 4493 2.3): shift left one bit, xor Rb in if the top bit fell out. */
function double(block: Uint8Array): Uint8Array {
  const result = new Uint8Array(BLOCK);
  const carry = (block[0] ?? 0) >>> 7;
  for (let index = 0; index < BLOCK - 1; index++) result[index] = (((block[index] ?? 0) << 1) | ((block[index + 1] ?? 0) >>> 7)) & 0xff;
  // Branch-free: the mask is 0x87 or 0, without a data-dependent jump on a secret bit.
  result[BLOCK - 1] = (((block[BLOCK - 1] ?? 0) << 1) & 0xff) ^ (-carry & RB);
  return result;
}

/** x ^= y over one block, in place. */
function xorInto(x: Uint8Array, y: Uint8Array, yOffset = 0): void {
  for (let index = 0; index < BLOCK; index++) x[index] = (x[index] ?? 0) ^ (y[yOffset + index] ?? 0);
}

/** The last block M_n xor K1 when complete, or pad(M_n) xor K2 (padding 10*) when partial or empty. */
function lastBlock(message: Uint8Array, subkeys: { k1: Uint8Array; k2: Uint8Array }): Uint8Array {
  const complete = message.length > 0 && message.length % BLOCK === 0;
  const start = complete ? message.length - BLOCK : message.length - (message.length % BLOCK);
  const block = new Uint8Array(BLOCK);
  block.set(message.subarray(start));
  if (!complete) block[message.length - start] = 0x80;
  xorInto(block, complete ? subkeys.k1 : subkeys.k2);
  return block;
}

/** Encrypts `state` through `encryptBlock`, zeroizes the old state and returns the new one. */
function step(encryptBlock: EncryptBlock, state: Uint8Array): Uint8Array {
  const next = encryptBlock(state);
  if (next.length !== BLOCK) throw new Error('AES block encryption must return 16 bytes');
  zeroize(state);
  return next;
}

/** AES-CMAC of `message` with the key held by `encryptBlock`: the full 16-byte tag. */
export function aesCmac(encryptBlock: EncryptBlock, message: Uint8Array): Uint8Array {
  const l = step(encryptBlock, new Uint8Array(BLOCK));
  const k1 = double(l);
  const k2 = double(k1);
  const last = lastBlock(message, { k1, k2 });
  zeroize(l, k1, k2);
  const fullBlocks = Math.max(0, Math.ceil(message.length / BLOCK) - 1);
  let state: Uint8Array = new Uint8Array(BLOCK);
  for (let block = 0; block < fullBlocks; block++) {
    xorInto(state, message, block * BLOCK);
    state = step(encryptBlock, state);
  }
  xorInto(state, last);
  zeroize(last);
  return step(encryptBlock, state);
}
