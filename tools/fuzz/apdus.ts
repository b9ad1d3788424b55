/**
 * A grammar of SmartCard-HSM command APDUs for the device target: the commands OpenSC sends (SELECT, VERIFY,
 * CHANGE REFERENCE DATA, RESET RETRY COUNTER, INITIALIZE, key generation, signatures, ECDH, symmetric
 * operations, file access, enumeration, GET RESPONSE, chaining), with correct and wrong PINs, plus raw bytes;
 * each command mutated now and then.
 */
import fc from 'fast-check';
import { ecGenerateBody } from '../../actors/card/cvc.js';
import { concat, tlv } from '../../actors/card/tlv.js';
import { fromHexString, toHex } from './common.js';
import { applyMutations, mutationArbitrary } from './mutate.js';

export const AID = 'E82B0601040181C31F0201';
export const SELECT_APPLET = `00A404000B${AID}00`;
export const DEFAULT_USER_PIN = toHex(new TextEncoder().encode('648219'));
export const DEFAULT_SO_PIN = '3537363231383830';

const hexByte = (value: number): string => (value & 0xff).toString(16).padStart(2, '0');
const hexWord = (value: number): string => (value & 0xffff).toString(16).padStart(4, '0');

function shortOrExtended(header: string, data: Uint8Array, le = ''): string {
  if (data.length <= 255) return `${header}${hexByte(data.length)}${toHex(data)}${le}`;
  return `${header}00${hexWord(data.length)}${toHex(data)}${le ? '0000' : ''}`;
}

const keyId = fc.constantFrom(1, 2, 3);
const digits = (min: number, max: number) => fc.array(fc.integer({ min: 0x30, max: 0x39 }), { minLength: min, maxLength: max }).map((codes) => toHex(Uint8Array.from(codes)));
const userPin = fc.oneof({ arbitrary: fc.constant(DEFAULT_USER_PIN), weight: 3 }, { arbitrary: fc.constant(toHex(new TextEncoder().encode('123456'))), weight: 1 }, { arbitrary: digits(6, 8), weight: 1 });
const soPin = fc.oneof({ arbitrary: fc.constant(DEFAULT_SO_PIN), weight: 4 }, { arbitrary: digits(8, 8), weight: 1 });
const fileId = fc.oneof(fc.constantFrom(0x2f02, 0xcd01, 0xcf01, 0xc401, 0xce01, 0xcc01, 0xcc02, 0xc901, 0x1001, 0x3f00), fc.integer({ min: 0, max: 0xffff }));

function ecBody(curve: 'secp256r1' | 'secp384r1', policy: Uint8Array[]): Uint8Array {
  return ecGenerateBody(curve, 'TSHSM00000000001', policy);
}

const policy = fc.array(
  fc.oneof(
    fc.integer({ min: 0, max: 3 }).map((uses) => tlv(0x90, Uint8Array.of(0, uses))),
    fc.constantFrom(Uint8Array.of(0x70), Uint8Array.of(0x73), Uint8Array.of(0x80), Uint8Array.of(0x10, 0x18)).map((algorithms) => tlv(0x91, algorithms)),
  ),
  { maxLength: 2 },
);

/** Valid-looking commands (hex). */
export function commandArbitrary(): fc.Arbitrary<string> {
  return fc.oneof(
    { arbitrary: fc.constant(SELECT_APPLET), weight: 3 },
    { arbitrary: fileId.map((id) => `00A4000002${hexWord(id)}00`), weight: 2 },
    { arbitrary: userPin.map((pin) => `00200081${hexByte(pin.length / 2)}${pin}`), weight: 5 },
    { arbitrary: fc.constantFrom('00200081', '00200088'), weight: 1 },
    { arbitrary: soPin.map((pin) => `00200088${hexByte(pin.length / 2)}${pin}`), weight: 1 },
    { arbitrary: fc.tuple(userPin, userPin, fc.constantFrom('81', '88')).map(([old, next, ref]) => `002400${ref}${hexByte((old.length + next.length) / 2)}${old}${next}`), weight: 2 },
    { arbitrary: fc.tuple(soPin, userPin).map(([so, next]) => `002C0081${hexByte((so.length + next.length) / 2)}${so}${next}`), weight: 1 },
    { arbitrary: soPin.map((so) => `002C018108${so}`), weight: 1 },
    {
      arbitrary: fc.tuple(userPin, soPin, fc.integer({ min: 0, max: 16 }), fc.constantFrom('0001', '0000')).map(([user, so, retries, options]) => {
        const body = `8002${options}81${hexByte(user.length / 2)}${user}82${hexByte(so.length / 2)}${so}9101${hexByte(retries)}`;
        return `80500000${hexByte(body.length / 2)}${body}`;
      }),
      weight: 3,
    },
    { arbitrary: fc.constant('8050000000'), weight: 1 },
    { arbitrary: fc.integer({ min: 0, max: 255 }).map((le) => `00840000${hexByte(le)}`), weight: 1 },
    {
      arbitrary: fc.tuple(keyId, fc.constantFrom('secp256r1', 'secp256r1', 'secp256r1', 'secp384r1') as fc.Arbitrary<'secp256r1' | 'secp384r1'>, policy).map(([id, curve, extra]) => shortOrExtended(`0046${hexByte(id)}00`, ecBody(curve, extra), '00')),
      weight: 4,
    },
    { arbitrary: fc.tuple(keyId, fc.constantFrom('B0', 'B1', 'B2'), policy).map(([id, p2, extra]) => shortOrExtended(`0048${hexByte(id)}${p2}`, concat(...extra))), weight: 2 },
    { arbitrary: fc.tuple(keyId, fc.constantFrom(0x70, 0x73, 0x10, 0xff), fc.uint8Array({ minLength: 1, maxLength: 64 })).map(([id, algorithm, data]) => shortOrExtended(`8068${hexByte(id)}${hexByte(algorithm)}`, data, '00')), weight: 4 },
    { arbitrary: fc.tuple(keyId, fc.uint8Array({ minLength: 65, maxLength: 65 })).map(([id, point]) => shortOrExtended(`8062${hexByte(id)}80`, Uint8Array.from([0x04, ...point.subarray(1)]), '00')), weight: 1 },
    {
      arbitrary: fc.tuple(keyId, fc.constantFrom(0x10, 0x11, 0x18, 0x51, 0x99), fc.uint8Array({ minLength: 16, maxLength: 48 })).map(([id, algorithm, data]) => {
        const body = algorithm === 0x51 ? concat(tlv(0x80, Uint8Array.of(1)), tlv(0x81, data), tlv(0x82, data.subarray(0, 12))) : algorithm === 0x99 ? concat(tlv(0x81, data), tlv(0x84, Uint8Array.of(32))) : data.subarray(0, 32);
        return shortOrExtended(`8078${hexByte(id)}${hexByte(algorithm)}`, body, '00');
      }),
      weight: 2,
    },
    { arbitrary: fc.tuple(fileId, fc.integer({ min: 0, max: 300 })).map(([id, offset]) => `00B1${hexWord(id)}045402${hexWord(offset)}00`), weight: 2 },
    { arbitrary: fc.constant('00B0000000'), weight: 1 },
    {
      arbitrary: fc.tuple(fc.oneof(fc.constantFrom(0xcd01, 0xcf01, 0xc401, 0xcf02), fileId), fc.integer({ min: 0, max: 8 }), fc.uint8Array({ maxLength: 40 })).map(([id, offset, data]) =>
        shortOrExtended(`00D7${hexWord(id)}`, concat(fromHexString(`5402${hexWord(offset)}`), tlv(0x53, data))),
      ),
      weight: 3,
    },
    { arbitrary: fileId.map((id) => `00E4020002${hexWord(id)}`), weight: 1 },
    { arbitrary: fc.constant('80580000000000'), weight: 1 },
    { arbitrary: fc.integer({ min: 0, max: 255 }).map((le) => `00C00000${hexByte(le)}`), weight: 1 },
    {
      // A chained UPDATE BINARY in two parts.
      arbitrary: fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 30 }), fc.uint8Array({ minLength: 1, maxLength: 30 })).map(([first, second]) => {
        const body = concat(fromHexString('54020000'), tlv(0x53, concat(first, second)));
        const cut = Math.min(body.length - 1, 6 + first.length);
        return `10D7CF02${hexByte(cut)}${toHex(body.subarray(0, cut))}|00D7CF02${hexByte(body.length - cut)}${toHex(body.subarray(cut))}`;
      }),
      weight: 1,
    },
  );
}

/** One step's APDU bytes: a command (sometimes mutated) or raw bytes. Chained pairs come as two APDUs. */
export function apduArbitrary(): fc.Arbitrary<Uint8Array[]> {
  const command = commandArbitrary().map((hex) => hex.split('|').map((part) => fromHexString(part)));
  const mutated = fc.tuple(command, fc.array(mutationArbitrary(), { minLength: 1, maxLength: 2 })).map(([apdus, mutations]) => apdus.map((apdu, index) => (index === apdus.length - 1 ? applyMutations(apdu, mutations) : apdu)));
  return fc.oneof({ arbitrary: command, weight: 12 }, { arbitrary: mutated, weight: 3 }, { arbitrary: fc.uint8Array({ maxLength: 24 }).map((bytes) => [bytes]), weight: 1 });
}
