/**
 * Curve domain parameters for the Pico bundle, in place of @noble/curves (whose curve objects cost ~37 KB and
 * compute constants with BigInt division at import, which Kaluma gets wrong). actors/card/cvc.ts reads only
 * `X.Point.CURVE()` for the curve's p, a, b, G, n and h. tools/build-pico.ts substitutes this module for
 * `@noble/curves/*` in the device bundle. The Pico offers secp256r1 only; the other names exist so the imports
 * resolve, and refuse to be used. The P-256 constants are p256-safe.ts's own (one copy in the bundle).
 */
import { P256_DOMAIN } from '../crypto/p256-safe.js';

type CurveParameters = typeof P256_DOMAIN;

function curve(name: string, parameters?: CurveParameters) {
  return {
    Point: {
      CURVE(): CurveParameters {
        if (!parameters) throw new Error(`${name} is not available on this board`);
        return parameters;
      },
    },
  };
}

export const p256 = curve('secp256r1', P256_DOMAIN);
export const p384 = curve('secp384r1');
export const p521 = curve('secp521r1');
export const secp256k1 = curve('secp256k1');
export const brainpoolP256r1 = curve('brainpoolP256r1');
export const brainpoolP384r1 = curve('brainpoolP384r1');
export const brainpoolP512r1 = curve('brainpoolP512r1');
