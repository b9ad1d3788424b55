/**
 * The AES family of the crypto actor's operations (host boards only: the Pico does not pass it, so its bundle does
 * not carry this file): the key sizes GENERATE SYMMETRIC KEY offers and CIPHER SYMMETRIC with an AES key
 * (10/11 CBC with a zero IV, 18 CMAC, 51/52 GCM or CTR with a caller IV). HKDF (99) needs no AES and stays in
 * actors/crypto/operations.ts, which dispatches here.
 */
import { refuse, success, type AesOperations } from './operations.js';

export const AES_BITS = [128, 192, 256] as const;

export const aesOperations: AesOperations = {
  bits: AES_BITS,

  cipher(engine, key, request) {
    const aes = engine.aes;
    const { algorithm, data } = request;
    switch (algorithm) {
      case 0x10:
      case 0x11: {
        if (data.length === 0 || data.length % 16 !== 0) return refuse('badInput', 'AES-CBC data must be a non-empty multiple of 16 bytes');
        const zeroIv = new Uint8Array(16);
        return success(algorithm === 0x10 ? aes.cbcEncrypt(key.material, zeroIv, data) : aes.cbcDecrypt(key.material, zeroIv, data));
      }
      case 0x18:
        return success(aes.cmac(key.material, data));
      case 0x51:
      case 0x52: {
        const iv = request.iv;
        if (request.mode === 'gcm') {
          if (!iv || iv.length < 12) return refuse('badInput', 'AES-GCM needs an IV of at least 12 bytes');
          if (algorithm === 0x51) return success(aes.gcmSeal(key.material, iv, data, request.associatedData ?? new Uint8Array(0)));
          const opened = aes.gcmOpen(key.material, iv, data, request.associatedData ?? new Uint8Array(0));
          return opened ? success(opened) : refuse('badInput', 'the GCM tag does not verify');
        }
        if (request.mode === 'ctr') {
          if (!iv || iv.length !== 16) return refuse('badInput', 'AES-CTR needs a 16-byte counter block');
          return success(aes.ctr(key.material, iv, data));
        }
        return refuse('badInput', 'the extended form needs a mode (GCM or CTR)');
      }
      default:
        return refuse('wrongKeyType', `algorithm ${algorithm.toString(16)} is not a symmetric algorithm`);
    }
  },
};
