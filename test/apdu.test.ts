/**
 * Tests of actors/transport/apdu.ts: a table of malformed and edge-case command APDUs with the status word (or
 * parse) each must give, property tests (fast-check) of parse/serialize for short and extended APDUs, command
 * chaining, and the 61xx / GET RESPONSE splitter.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  APDU_SW,
  MAX_CHAINED_DATA,
  assembleChain,
  getResponse,
  isGetResponse,
  parseCommandApdu,
  serializeCommandApdu,
  startResponse,
  statusWordBytes,
  type ChainState,
  type CommandApdu,
  type PendingResponse,
} from '../actors/transport/apdu.js';

const hex = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text.replace(/[\s.]/g, ''), 'hex'));
const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex').toUpperCase();
const repeat = (byte: string, count: number): string => byte.repeat(count);

type Expected = number | { le: number; dataLength: number; extended: boolean };

/** [description, APDU hex, expected status word or the shape of a successful parse]. */
const TABLE: Array<[string, string, Expected]> = [
  // Too short.
  ['empty', '', 0x6700],
  ['1 byte', '00', 0x6700],
  ['2 bytes', '00A4', 0x6700],
  ['3 bytes', '00A404', 0x6700],
  ['3 bytes with an invalid CLA: length is checked first', 'FFA404', 0x6700],
  // CLA.
  ['CLA FF (invalid)', 'FFA40400', 0x6e00],
  ['CLA 20 (reserved family)', '20A40400', 0x6e00],
  ['CLA 40 (further interindustry)', '40A40400', 0x6e00],
  ['CLA 7F (further interindustry)', '7FA40400', 0x6e00],
  ['CLA A0 (proprietary, other family)', 'A0A40400', 0x6e00],
  ['CLA C0', 'C0A40400', 0x6e00],
  ['CLA E0', 'E0A40400', 0x6e00],
  ['CLA 0C (secure messaging, authenticated header)', '0CA40400', 0x6882],
  ['CLA 04 (proprietary secure messaging)', '04A40400', 0x6882],
  ['CLA 08 (secure messaging, header not processed)', '08A40400', 0x6882],
  ['CLA 8C (proprietary class with SM bits)', '8CA40400', 0x6882],
  ['CLA 1C (chained, SM)', '1CA40400', 0x6882],
  ['CLA 01 (logical channel 1)', '01A40400', 0x6881],
  ['CLA 03 (logical channel 3)', '03A40400', 0x6881],
  ['CLA 81 (proprietary, channel 1)', '81A40400', 0x6881],
  ['bad CLA and bad INS: CLA wins', 'FF600000', 0x6e00],
  ['bad CLA and bad body: CLA wins', 'FFA40400023F', 0x6e00],
  ['SM CLA and bad body: CLA wins', '0CA404000000', 0x6882],
  // INS.
  // Every INS is passed on (T=1; the SmartCard-HSM uses 62 and 68): a bad body is still a bad body.
  ['INS 68 with a truncated body', '0068000002AA', 0x6700],
  ['INS 62 with Lc beyond the data', '0062000005AABB', 0x6700],
  ['INS 9F with a lone 00 and one byte', '009F00000001', 0x6700],
  // Valid edge cases.
  ['case 1', '00A40400', { le: 0, dataLength: 0, extended: false }],
  ['case 1, odd INS', '00B10000', { le: 0, dataLength: 0, extended: false }],
  ['case 2 short, Le 00 = 256', '0084000000', { le: 256, dataLength: 0, extended: false }],
  ['case 2 short, Le 08', '0084000008', { le: 8, dataLength: 0, extended: false }],
  ['case 2 short, Le 01 (not a Lc)', '00A4040001', { le: 1, dataLength: 0, extended: false }],
  ['case 3 short, 1 byte', '00A40400013F', { le: 0, dataLength: 1, extended: false }],
  ['case 3 short, 255 bytes', `00D70000FF${repeat('AB', 255)}`, { le: 0, dataLength: 255, extended: false }],
  ['case 4 short, Le 00 = 256', '00A40400023F0000', { le: 256, dataLength: 2, extended: false }],
  ['case 4 short, Le FF', '00A40400023F00FF', { le: 255, dataLength: 2, extended: false }],
  ['case 4 short, 255 bytes and Le', `00D70000FF${repeat('AB', 255)}00`, { le: 256, dataLength: 255, extended: false }],
  ['case 2 extended, Le 0000 = 65536', '00B00000000000', { le: 65536, dataLength: 0, extended: true }],
  ['case 2 extended, Le 0100', '00B00000000100', { le: 256, dataLength: 0, extended: true }],
  ['case 2 extended, Le FFFF', '00B0000000FFFF', { le: 65535, dataLength: 0, extended: true }],
  ['case 2 extended, Le 0001 (not an extended Lc without data)', '00D70000000001', { le: 1, dataLength: 0, extended: true }],
  ['case 3 extended, 1 byte', '00D70000000001AA', { le: 0, dataLength: 1, extended: true }],
  ['case 3 extended, 256 bytes', `00D70000000100${repeat('AB', 256)}`, { le: 0, dataLength: 256, extended: true }],
  ['case 4 extended, Le 0000 = 65536', '00D70000000001AA0000', { le: 65536, dataLength: 1, extended: true }],
  ['case 4 extended, Le 0010', '00D70000000001AA0010', { le: 16, dataLength: 1, extended: true }],
  ['case 4 extended, largest APDU', `00D7000000FFFF${repeat('CD', 65535)}0000`, { le: 65536, dataLength: 65535, extended: true }],
  ['chaining CLA 10', '10D7000001AA', { le: 0, dataLength: 1, extended: false }],
  ['chaining CLA 90', '90D7000001AA', { le: 0, dataLength: 1, extended: false }],
  ['proprietary CLA 80', '8050000000', { le: 256, dataLength: 0, extended: false }],
  ['GET RESPONSE', '00C0000000', { le: 256, dataLength: 0, extended: false }],
  // Malformed bodies.
  ['short Lc 02 with 1 byte', '00A40400023F', 0x6700],
  ['short Lc 01 with 3 bytes after it', '00A40400013F0000', 0x6700],
  ['short Lc FF with 254 bytes', `00D70000FF${repeat('AB', 254)}`, 0x6700],
  ['short Lc FF with 255 bytes and a 2-byte Le', `00D70000FF${repeat('AB', 255)}0000`, 0x6700],
  ['short Lc with an extended-style Le', '00A4040001AA0000', 0x6700],
  ['lone 00 plus one byte', '00A404000000', 0x6700],
  ['extended Lc 0000 followed by a byte', '00A4040000000000', 0x6700],
  ['extended Lc 0000 followed by two bytes', '00A404000000000000', 0x6700],
  ['extended Lc 0002 with 1 byte', '00D70000000002AA', 0x6700],
  ['extended Lc with a 1-byte Le', '00D70000000001AA00', 0x6700],
  ['extended Lc with a 3-byte Le', '00D70000000001AA000000', 0x6700],
  ['extended Lc 0100 with 255 bytes', `00D70000000100${repeat('AB', 255)}`, 0x6700],
  ['extended Lc FFFF with 65534 bytes', `00D7000000FFFF${repeat('CD', 65534)}`, 0x6700],
  ['extended Lc FFFF with 65535 bytes and 1 extra', `00D7000000FFFF${repeat('CD', 65535)}00`, 0x6700],
  ['too long for any case', `00D7000000FFFF${repeat('CD', 65535)}000000`, 0x6700],
];

describe('parseCommandApdu: malformed and edge-case table', () => {
  it('has at least 40 malformed entries', () => {
    expect(TABLE.filter(([, , expected]) => typeof expected === 'number').length).toBeGreaterThanOrEqual(40);
  });

  it.each(TABLE)('%s', (_description, apduHex, expected) => {
    const bytes = hex(apduHex);
    const result = parseCommandApdu(bytes);
    if (typeof expected === 'number') {
      expect(result).toEqual({ ok: false, statusWord: expected });
      return;
    }
    if (!result.ok) throw new Error(`expected a parse, got ${result.statusWord.toString(16)}`);
    expect(result.apdu.le).toBe(expected.le);
    expect(result.apdu.data.length).toBe(expected.dataLength);
    expect(result.apdu.extended).toBe(expected.extended);
    expect([result.apdu.cla, result.apdu.ins, result.apdu.p1, result.apdu.p2]).toEqual([...bytes.subarray(0, 4)]);
    expect(toHex(serializeCommandApdu(result.apdu))).toBe(toHex(bytes)); // the encoding is canonical
  });

  it('returns data the caller owns (a copy, not a view of the input)', () => {
    const bytes = hex('00A40400023F00');
    const result = parseCommandApdu(bytes);
    if (!result.ok) throw new Error('parse failed');
    bytes[5] = 0xee;
    expect(toHex(result.apdu.data)).toBe('3F00');
  });
});

/** Arbitrary valid command APDUs, short or extended, with CLA in the supported families. */
const validCla = fc.constantFrom(0x00, 0x10, 0x80, 0x90);
const validIns = fc.integer({ min: 0, max: 255 }).filter((ins) => (ins & 0xf0) !== 0x60 && (ins & 0xf0) !== 0x90);
const byte = fc.integer({ min: 0, max: 255 });
const shortApdu: fc.Arbitrary<CommandApdu> = fc.record({
  cla: validCla,
  ins: validIns,
  p1: byte,
  p2: byte,
  data: fc.uint8Array({ maxLength: 255 }),
  le: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 256 })),
  extended: fc.constant(false),
});
const extendedApdu: fc.Arbitrary<CommandApdu> = fc
  .record({
    cla: validCla,
    ins: validIns,
    p1: byte,
    p2: byte,
    data: fc.oneof(
      { weight: 8, arbitrary: fc.uint8Array({ maxLength: 600 }) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 65535 }).map((length) => new Uint8Array(length).fill(length & 0xff)) },
    ),
    le: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 65536 }), fc.constantFrom(256, 65535, 65536)),
    extended: fc.constant(true),
  })
  .filter((apdu) => apdu.data.length > 0 || apdu.le > 0);

describe('parseCommandApdu / serializeCommandApdu properties', () => {
  it('parse(serialize(x)) equals x for short APDUs', () => {
    fc.assert(
      fc.property(shortApdu, (apdu) => {
        expect(parseCommandApdu(serializeCommandApdu(apdu))).toEqual({ ok: true, apdu });
      }),
      { numRuns: 1000 },
    );
  });

  it('parse(serialize(x)) equals x for extended APDUs', () => {
    fc.assert(
      fc.property(extendedApdu, (apdu) => {
        expect(parseCommandApdu(serializeCommandApdu(apdu))).toEqual({ ok: true, apdu });
      }),
      { numRuns: 500 },
    );
  });

  it('never throws on arbitrary bytes; answers only the documented status words; ok parses re-serialize byte-exact', () => {
    const allowed = new Set<number>([0x6700, 0x6881, 0x6882, 0x6d00, 0x6e00]);
    // Headers biased towards valid ones, bodies short enough to hit every case boundary often.
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 12 }),
      fc.tuple(validCla, validIns, byte, byte, fc.uint8Array({ maxLength: 300 })).map(([cla, ins, p1, p2, body]) => Uint8Array.from([cla, ins, p1, p2, ...body])),
      fc.tuple(shortApdu, fc.integer({ min: -3, max: 3 })).map(([apdu, cut]) => {
        const encoded = serializeCommandApdu(apdu);
        return cut < 0 ? encoded.subarray(0, Math.max(0, encoded.length + cut)) : Uint8Array.from([...encoded, ...new Uint8Array(cut)]);
      }),
    );
    fc.assert(
      fc.property(bytes, (input) => {
        const result = parseCommandApdu(input);
        if (result.ok) expect(toHex(serializeCommandApdu(result.apdu))).toBe(toHex(input));
        else expect(allowed.has(result.statusWord)).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('serialize refuses what has no encoding', () => {
    const base = { cla: 0, ins: 0xa4, p1: 4, p2: 0, data: new Uint8Array(0), le: 0 };
    expect(() => serializeCommandApdu({ ...base, extended: true })).toThrow(RangeError);
    expect(() => serializeCommandApdu({ ...base, extended: false, data: new Uint8Array(256) })).toThrow(RangeError);
    expect(() => serializeCommandApdu({ ...base, extended: false, le: 257 })).toThrow(RangeError);
    expect(() => serializeCommandApdu({ ...base, extended: true, le: 65537 })).toThrow(RangeError);
    expect(() => serializeCommandApdu({ ...base, extended: false, cla: 256 })).toThrow(RangeError);
  });
});

function parsed(apduHex: string): CommandApdu {
  const result = parseCommandApdu(hex(apduHex));
  if (!result.ok) throw new Error(`test APDU ${apduHex} does not parse: ${result.statusWord.toString(16)}`);
  return result.apdu;
}

describe('assembleChain', () => {
  it('passes an unchained command through', () => {
    const apdu = parsed('00A40400023F0000');
    expect(assembleChain(null, apdu)).toEqual({ state: null, result: { kind: 'complete', apdu } });
  });

  it('joins chained parts; the result has the chaining bit cleared and the last part\'s Le', () => {
    let state: ChainState = null;
    const first = assembleChain(state, parsed('90D7C40102AABB00'));
    expect(first.result).toEqual({ kind: 'continue' });
    state = first.state;
    const second = assembleChain(state, parsed('90D7C40101CC'));
    expect(second.result).toEqual({ kind: 'continue' });
    state = second.state;
    const last = assembleChain(state, parsed('80D7C40101DD10'));
    expect(last.state).toBeNull();
    expect(last.result).toEqual({
      kind: 'complete',
      apdu: { cla: 0x80, ins: 0xd7, p1: 0xc4, p2: 0x01, data: hex('AABBCCDD'), le: 16, extended: false },
    });
  });

  it('answers 6883 and drops the chain when a command with another header arrives (chained or not)', () => {
    const open = assembleChain(null, parsed('10D7000001AA')).state;
    expect(open).not.toBeNull();
    for (const intruder of ['00A40400023F00', '10D7000101BB', '00D7000101BB', '80D7000001BB', '00D6000001BB']) {
      expect(assembleChain(open, parsed(intruder))).toEqual({ state: null, result: { kind: 'error', statusWord: 0x6883 } });
    }
  });

  it('answers 6700 and drops the chain when the total data exceeds the limit', () => {
    let state: ChainState = null;
    const part = parsed(`10D70000FF${repeat('01', 255)}`);
    let steps = 0;
    for (;;) {
      const step = assembleChain(state, part);
      steps++;
      if (step.result.kind === 'error') {
        expect(step).toEqual({ state: null, result: { kind: 'error', statusWord: 0x6700 } });
        break;
      }
      state = step.state;
    }
    expect(steps).toBe(Math.floor(MAX_CHAINED_DATA / 255) + 1);
    // The final, unchained part is checked too, against a custom limit.
    const small = assembleChain(assembleChain(null, parsed('10D7000002AAAA'), 3).state, parsed('00D7000002BBBB'), 3);
    expect(small.result).toEqual({ kind: 'error', statusWord: 0x6700 });
  });

  it('reassembles any split of any data field (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4000 }), fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 40 }), fc.boolean(), (data, sizes, extended) => {
        let state: ChainState = null;
        let offset = 0;
        let index = 0;
        // Chained parts of the given sizes, then the rest in one final part (extended if it does not fit short).
        while (offset < data.length && index < sizes.length - 1) {
          const piece = data.subarray(offset, offset + sizes[index++]);
          offset += piece.length;
          const step = assembleChain(state, { cla: 0x10, ins: 0x58, p1: 1, p2: 2, data: piece, le: 0, extended: false });
          expect(step.result).toEqual({ kind: 'continue' });
          state = step.state;
        }
        const rest = data.subarray(offset);
        const last = assembleChain(state, { cla: 0x00, ins: 0x58, p1: 1, p2: 2, data: rest, le: 256, extended: extended || rest.length > 255 });
        if (last.result.kind !== 'complete') throw new Error('not complete');
        expect(toHex(last.result.apdu.data)).toBe(toHex(data));
        expect(last.result.apdu.cla).toBe(0);
        expect(last.state).toBeNull();
      }),
      { numRuns: 300 },
    );
  });
});

describe('startResponse / getResponse', () => {
  const getResponseApdu = (le: number, extended = le > 256): CommandApdu => ({ cla: 0, ins: 0xc0, p1: 0, p2: 0, data: new Uint8Array(0), le, extended });

  it('sends short data whole with its status word', () => {
    expect(startResponse(hex('0102'), 0x9000, 256)).toEqual({ response: hex('01029000'), pending: null });
    expect(startResponse(new Uint8Array(0), 0x6a82, 0)).toEqual({ response: hex('6A82'), pending: null });
    expect(startResponse(hex('AA'), 0x6282, 1)).toEqual({ response: hex('AA6282'), pending: null });
  });

  it('splits with 61xx: xx is what is left, 00 when 256 or more', () => {
    const data = Uint8Array.from({ length: 600 }, (_, index) => index & 0xff);
    const first = startResponse(data, 0x9000, 256);
    expect(first.response.length).toBe(258);
    expect(toHex(first.response.subarray(256))).toBe('6100'); // 344 left
    const second = getResponse(first.pending, getResponseApdu(256));
    expect(toHex(second.response.subarray(256))).toBe('6158'); // 88 left
    const third = getResponse(second.pending, getResponseApdu(256));
    expect(third.response.length).toBe(90);
    expect(toHex(third.response.subarray(88))).toBe('9000');
    expect(third.pending).toBeNull();
  });

  it('treats an absent Le as 256', () => {
    const step = startResponse(new Uint8Array(300), 0x9000, 0);
    expect(step.response.length).toBe(258);
    expect(toHex(step.response.subarray(256))).toBe('612C');
  });

  it('returns up to 65536 bytes at once for an extended Le, and respects maxChunk (vpcd: 65533)', () => {
    const data = new Uint8Array(70000).fill(7);
    const whole = startResponse(data.subarray(0, 65536), 0x9000, 65536);
    expect(whole.response.length).toBe(65538);
    expect(whole.pending).toBeNull();
    const capped = startResponse(data.subarray(0, 65536), 0x9000, 65536, { maxChunk: 65533 });
    expect(capped.response.length).toBe(65535);
    expect(toHex(capped.response.subarray(65533))).toBe('6103');
    const rest = getResponse(capped.pending, getResponseApdu(65536), { maxChunk: 65533 });
    expect(toHex(rest.response)).toBe('0707079000');
  });

  it('GET RESPONSE: nothing pending 6985, P1/P2 not zero 6A86, data 6700 (pending kept)', () => {
    expect(getResponse(null, getResponseApdu(256))).toEqual({ response: statusWordBytes(APDU_SW.conditionsNotSatisfied), pending: null });
    const pending: PendingResponse = { remaining: hex('0102'), statusWord: 0x9000 };
    expect(getResponse(pending, { ...getResponseApdu(2), p1: 1 })).toEqual({ response: hex('6A86'), pending });
    expect(getResponse(pending, { ...getResponseApdu(2), p2: 1 })).toEqual({ response: hex('6A86'), pending });
    expect(getResponse(pending, { ...getResponseApdu(2), data: hex('00') })).toEqual({ response: hex('6700'), pending });
    expect(getResponse(pending, getResponseApdu(1))).toEqual({ response: hex('016101'), pending: { remaining: hex('02'), statusWord: 0x9000 } });
    expect(isGetResponse(parsed('00C0000000'))).toBe(true);
    expect(isGetResponse(parsed('00CA000000'))).toBe(false);
  });

  it('GET RESPONSE walks deliver all data exactly, each piece within Ne and maxChunk (property)', () => {
    const ne = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 256 }), fc.integer({ min: 257, max: 65536 }));
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 5000 }),
        fc.constantFrom(0x9000, 0x6282, 0x9001),
        ne,
        fc.array(ne, { minLength: 1, maxLength: 30 }),
        fc.option(fc.integer({ min: 1, max: 1000 }), { nil: undefined }),
        (length, statusWord, firstLe, laterLes, maxChunk) => {
          const data = Uint8Array.from({ length }, (_, index) => (index * 31) & 0xff);
          const options = { maxChunk };
          const pieces: Uint8Array[] = [];
          let step = startResponse(data, statusWord, firstLe, options);
          let le = firstLe;
          for (let round = 0; ; round++) {
            const { response, pending } = step;
            const body = response.subarray(0, response.length - 2);
            const sw = (response[response.length - 2] << 8) | response[response.length - 1];
            expect(body.length).toBeLessThanOrEqual(Math.min(le === 0 ? 256 : le, maxChunk ?? 65536));
            pieces.push(body);
            if (pending === null) {
              expect(sw).toBe(statusWord);
              break;
            }
            expect(sw >> 8).toBe(0x61);
            expect(sw & 0xff).toBe(pending.remaining.length >= 256 ? 0 : pending.remaining.length);
            le = laterLes[round % laterLes.length];
            step = getResponse(pending, getResponseApdu(le), options);
          }
          const joined = Buffer.concat(pieces);
          expect(joined.equals(Buffer.from(data))).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });
});
