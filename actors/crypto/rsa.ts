/**
 * The RSA family of the crypto actor's operations (host boards only: the Pico does not pass it, so its bundle does
 * not carry this file): key pair generation for GENERATE ASYMMETRIC KEY PAIR, the signature paddings of COMPUTE
 * SIGNATURE (20 raw, 30..35 PKCS#1 v1.5, 40..45 PSS) and DECIPHER (21 raw, 22 PKCS#1 v1.5 with implicit
 * rejection, 23 OAEP). Pure functions of an engine that has RSA and an unsealed key; actors/crypto/operations.ts
 * dispatches to them.
 */
import { rsaPublicKeyTlv } from '../card/cvc.js';
import { digestFromDigestInfo, hashForDigestLength, pkcs1SignatureBlock } from '../card/pkcs1-formats.js';
import { uintBytes } from '../card/tlv.js';
import { offeredHash, refuse, success, type RsaOperations } from './operations.js';

/** RSA modulus sizes offered (OpenSC accepts multiples of 256 from 1024). */
export const RSA_BITS = [1024, 2048, 3072, 4096] as const;

const IMPLICIT_REJECTION_INFO = new TextEncoder().encode('pkcs1-implicit-rejection');

function exponentBytes(exponent: number): Uint8Array {
  let length = 1;
  while (length < 4 && exponent >= 2 ** (8 * length)) length++;
  return uintBytes(exponent, length);
}

function bigEndianLessThan(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return a.length < b.length;
  for (let index = 0; index < a.length; index++) {
    if ((a[index] ?? 0) !== (b[index] ?? 0)) return (a[index] ?? 0) < (b[index] ?? 0);
  }
  return false;
}

export const rsaOperations: RsaOperations = {
  bits: RSA_BITS,

  async generateKeyPair(engine, requestedBits, requestedExponent) {
    const bits = requestedBits ?? 2048;
    const exponent = requestedExponent ?? 65537;
    if (!(RSA_BITS as readonly number[]).includes(bits)) return { ok: false, detail: `RSA-${bits} is not offered (${RSA_BITS.join(', ')})` };
    if (exponent !== 65537) return { ok: false, detail: 'only the public exponent 65537 is offered' };
    const pair = await engine.rsa.generate(bits, exponent);
    return {
      ok: true,
      pair: {
        material: pair.privateKey,
        publicKeyTlv: rsaPublicKeyTlv(pair.modulus, exponentBytes(exponent)),
        signBody: (body) => engine.rsa.signPkcs1(pair.privateKey, 'sha256', engine.digest('sha256', body)),
        stored: { kind: 'rsa', bits, publicKey: pair.modulus, publicExponent: exponentBytes(exponent) },
      },
    };
  },

  sign(engine, key, algorithm, data) {
    const rsa = engine.rsa;
    const modulusBytes = key.bits / 8;
    switch (true) {
      case algorithm === 0x20: {
        if (data.length !== modulusBytes || !key.publicKey || !bigEndianLessThan(data, key.publicKey)) {
          return refuse('badInput', `raw RSA needs a ${modulusBytes}-byte block below the modulus`);
        }
        return success(rsa.rawPrivate(key.material, data));
      }
      case algorithm === 0x30: {
        const block = pkcs1SignatureBlock(data, modulusBytes);
        if (!block) return refuse('badInput', 'DigestInfo too long for the modulus');
        return success(rsa.rawPrivate(key.material, block));
      }
      case algorithm >= 0x31 && algorithm <= 0x35: {
        const offered = offeredHash(engine, algorithm, 0x31);
        if (!offered.ok) return offered.refusal;
        return success(rsa.signPkcs1(key.material, offered.hash, engine.digest(offered.hash, data)));
      }
      case algorithm === 0x40: {
        // A bare digest (the hash chosen by its length), or a DigestInfo, which OpenSC 0.23 sends.
        const fromDigestInfo = digestFromDigestInfo(data);
        const digest = fromDigestInfo ? fromDigestInfo.digest : data;
        const hash = fromDigestInfo ? fromDigestInfo.hash : hashForDigestLength(data.length);
        if (!hash) return refuse('badInput', `no hash has a ${data.length}-byte digest and the data is no DigestInfo`);
        return success(rsa.signPss(key.material, hash, digest, digest.length));
      }
      case algorithm >= 0x41 && algorithm <= 0x45: {
        const offered = offeredHash(engine, algorithm, 0x41);
        if (!offered.ok) return offered.refusal;
        const digest = engine.digest(offered.hash, data);
        return success(rsa.signPss(key.material, offered.hash, digest, digest.length));
      }
      default:
        return refuse('wrongKeyType', `algorithm ${algorithm.toString(16)} is not an RSA signature`);
    }
  },

  decipher(engine, key, algorithm, data) {
    const rsa = engine.rsa;
    const modulusBytes = key.bits / 8;
    if (data.length !== modulusBytes || !key.publicKey || !bigEndianLessThan(data, key.publicKey)) {
      return refuse('badInput', `a ciphertext must be ${modulusBytes} bytes below the modulus`);
    }
    switch (algorithm) {
      case 0x21:
        return success(rsa.rawPrivate(key.material, data));
      case 0x22: {
        const plain = rsa.decryptPkcs1(key.material, data);
        if (plain) return success(plain);
        // Implicit rejection: a bad padding answers a pseudo-random message derived from the key and the ciphertext
        // instead of an error, so the status word is no padding oracle (Bleichenbacher, Marvin).
        const seed = engine.hmac('sha256', engine.digest('sha256', key.material), data);
        const length = (((seed[0] ?? 0) << 8) | (seed[1] ?? 0)) % (modulusBytes - 10);
        return success(length === 0 ? new Uint8Array(0) : engine.hkdfSha256(seed, new Uint8Array(0), IMPLICIT_REJECTION_INFO, length));
      }
      case 0x23: {
        const plain = rsa.decryptOaep(key.material, 'sha256', data);
        return plain ? success(plain) : refuse('badInput', 'OAEP padding is invalid');
      }
      default:
        return refuse('wrongKeyType', `algorithm ${algorithm.toString(16)} is not a decipher algorithm`);
    }
  },
};
