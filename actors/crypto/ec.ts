/**
 * The EC family of the crypto actor's operations (every board offers it): key pair generation for GENERATE
 * ASYMMETRIC KEY PAIR, ECDSA for COMPUTE SIGNATURE (70..75, DER answers) and ECDH for DECIPHER (80).
 * Pure functions of the engine and an unsealed key; actors/crypto/operations.ts dispatches to them.
 */
import { ecSeedLength, type CurveName } from '../../hal/crypto/types.js';
import { ecPublicKeyTlv } from '../card/cvc.js';
import { ecdsaRawToDer } from '../card/signature-formats.js';
import { offeredHash, refuse, success, type EcOperations } from './operations.js';
import { errorMessage } from '../../messages/schema.js';

export function curveBits(curve: CurveName): number {
  switch (curve) {
    case 'secp256r1':
    case 'secp256k1':
    case 'brainpoolP256r1':
      return 256;
    case 'secp384r1':
    case 'brainpoolP384r1':
      return 384;
    case 'secp521r1':
      return 521;
    case 'brainpoolP512r1':
      return 512;
  }
}

export const ecOperations: EcOperations = {
  generateKeyPair(engine, curve, entropy) {
    if (curve === undefined || !engine.curves.includes(curve)) return { ok: false, detail: `curve ${curve ?? 'unknown'} is not offered` };
    const pair = engine.ecGenerate(curve, entropy.randomBytes(ecSeedLength(curve)));
    return {
      ok: true,
      pair: {
        material: pair.privateKey,
        publicKeyTlv: ecPublicKeyTlv(curve, pair.publicKey),
        signBody: (body) => engine.ecSign(curve, pair.privateKey, engine.digest('sha256', body)),
        stored: { kind: 'ec', bits: curveBits(curve), curve, publicKey: pair.publicKey },
      },
    };
  },

  sign(engine, key, algorithm, data) {
    if (algorithm < 0x70 || algorithm > 0x75) return refuse('wrongKeyType', `algorithm ${algorithm.toString(16)} is not for EC keys`);
    if (key.curve === undefined) return refuse('badInput', 'EC key without a curve');
    if (!engine.curves.includes(key.curve)) return refuse('unsupported', `the ${engine.name} engine has no ${key.curve}`);
    if (algorithm === 0x70 && (data.length === 0 || data.length > 64)) return refuse('badInput', `a hash of ${data.length} bytes`);
    let hash = data;
    if (algorithm !== 0x70) {
      const offered = offeredHash(engine, algorithm, 0x71);
      if (!offered.ok) return offered.refusal;
      hash = engine.digest(offered.hash, data);
    }
    return success(ecdsaRawToDer(engine.ecSign(key.curve, key.material, hash), key.curve === 'secp521r1'));
  },

  agree(engine, key, peerPoint) {
    if (key.kind !== 'ec' || key.curve === undefined) return refuse('wrongKeyType', 'ECDH needs an EC key');
    try {
      const shared = engine.ecdh(key.curve, key.material, peerPoint);
      const answer = new Uint8Array(shared.length + 1);
      answer[0] = 0x04;
      answer.set(shared, 1);
      shared.fill(0);
      return success(answer);
    } catch (error) {
      return refuse('badInput', `the peer point is not on ${key.curve}: ${errorMessage(error)}`);
    }
  },
};
