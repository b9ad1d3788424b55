/**
 * Curve domain parameters for the Pico bundle, in place of @noble/curves (whose curve objects cost ~37 KB and
 * compute constants with BigInt division at import, which Kaluma gets wrong). actors/card/cvc.ts reads only
 * `X.Point.CURVE()` for the curve's p, a, b, G, n and h. tools/build-pico.ts substitutes this module for
 * `@noble/curves/*` in the device bundle. The Pico offers secp256r1 only; the other names exist so the imports
 * resolve, and refuse to be used.
 */
interface CurveParameters {
  readonly p: bigint;
  readonly n: bigint;
  readonly h: bigint;
  readonly a: bigint;
  readonly b: bigint;
  readonly Gx: bigint;
  readonly Gy: bigint;
}

const P256: CurveParameters = {
  p: BigInt('0xffffffff00000001000000000000000000000000ffffffffffffffffffffffff'),
  n: BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551'),
  h: BigInt(1),
  a: BigInt('0xffffffff00000001000000000000000000000000fffffffffffffffffffffffc'),
  b: BigInt('0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b'),
  Gx: BigInt('0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296'),
  Gy: BigInt('0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5'),
};

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

export const p256 = curve('secp256r1', P256);
export const p384 = curve('secp384r1');
export const p521 = curve('secp521r1');
export const secp256k1 = curve('secp256k1');
export const brainpoolP256r1 = curve('brainpoolP256r1');
export const brainpoolP384r1 = curve('brainpoolP384r1');
export const brainpoolP512r1 = curve('brainpoolP512r1');
