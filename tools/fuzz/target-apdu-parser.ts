/**
 * Target `apdu-parser`: actors/transport/apdu.ts as pure functions.
 *   parse:    arbitrary and mutated APDUs; parseCommandApdu never throws, refuses only with its documented status
 *             words, and what it accepts is consistent (header, lengths) and canonical: serialize(parse(x)) == x.
 *   chain:    command sequences through assembleChain, against a reference model of ISO chaining.
 *   response: long responses split by startResponse/getResponse: the pieces put back together are the data,
 *             every piece fits Ne and the chunk limit, 61xx counts right, bad GET RESPONSEs keep the pending data.
 */
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import {
  APDU_SW,
  assembleChain,
  CLA_CHAINING,
  getResponse,
  parseCommandApdu,
  serializeCommandApdu,
  startResponse,
  type ChainState,
  type CommandApdu,
  type PendingResponse,
} from '../../actors/transport/apdu.js';
import { check, show, toHex, type FuzzTarget } from './common.js';
import { mutatedArbitrary } from './mutate.js';

export type ApduParserInput =
  | { readonly kind: 'parse'; readonly bytes: Uint8Array }
  | { readonly kind: 'chain'; readonly limit: number; readonly commands: readonly CommandApdu[] }
  | {
      readonly kind: 'response';
      readonly size: number;
      readonly fill: number;
      readonly statusWord: number;
      readonly le: number;
      readonly maxChunk: number;
      readonly gets: readonly { readonly p1: number; readonly p2: number; readonly le: number; readonly data: boolean }[];
    };

const byte = fc.integer({ min: 0, max: 255 });

export function commandArbitrary(maxData = 300): fc.Arbitrary<CommandApdu> {
  return fc
    .record({
      cla: fc.oneof(fc.constantFrom(0x00, 0x10, 0x80, 0x90), byte),
      ins: fc.oneof(fc.constantFrom(0xa4, 0xb0, 0xd7, 0x20, 0x46, 0xc0, 0x68), byte),
      p1: fc.oneof(fc.constantFrom(0, 1), byte),
      p2: fc.oneof(fc.constantFrom(0, 0x81), byte),
      data: fc.uint8Array({ maxLength: maxData }),
      le: fc.oneof(fc.constantFrom(0, 1, 255, 256, 257, 65535, 65536), fc.integer({ min: 0, max: 65536 })),
      extended: fc.boolean(),
    })
    .map((apdu) => {
      // Keep it serializable: short form only when it fits; an extended APDU needs data or Le.
      const extended = apdu.extended || apdu.data.length > 255 || apdu.le > 256 || false;
      const le = extended && apdu.data.length === 0 && apdu.le === 0 ? 1 : apdu.le;
      return { ...apdu, extended, le };
    });
}

function parseArbitrary(): fc.Arbitrary<Uint8Array> {
  const valid = commandArbitrary().map((apdu) => serializeCommandApdu(apdu));
  return fc.oneof(
    { arbitrary: fc.uint8Array({ maxLength: 12 }), weight: 2 },
    { arbitrary: fc.uint8Array({ maxLength: 300 }), weight: 1 },
    { arbitrary: valid, weight: 2 },
    { arbitrary: mutatedArbitrary(valid), weight: 4 },
  );
}

function chainArbitrary(): fc.Arbitrary<ApduParserInput> {
  const header = fc.record({ cla: fc.constantFrom(0x00, 0x80), ins: fc.constantFrom(0xd7, 0x46, 0x68), p1: fc.constantFrom(0, 1), p2: fc.constantFrom(0, 1) });
  const command = fc
    .tuple(header, fc.boolean(), fc.uint8Array({ maxLength: 40 }), fc.integer({ min: 0, max: 65536 }), fc.boolean())
    .map(([h, chained, data, le, extended]): CommandApdu => ({ ...h, cla: h.cla | (chained ? CLA_CHAINING : 0), data, le, extended }));
  return fc.record({
    kind: fc.constant('chain' as const),
    limit: fc.oneof(fc.constantFrom(0, 1, 40, 100), fc.integer({ min: 0, max: 400 })),
    commands: fc.array(fc.oneof({ arbitrary: command, weight: 4 }, { arbitrary: commandArbitrary(40), weight: 1 }), { minLength: 1, maxLength: 12 }),
  });
}

function responseArbitrary(): fc.Arbitrary<ApduParserInput> {
  const le = fc.oneof(fc.constantFrom(0, 1, 255, 256, 65536), fc.integer({ min: 0, max: 65536 }));
  return fc.record({
    kind: fc.constant('response' as const),
    size: fc.oneof(fc.integer({ min: 0, max: 600 }), fc.constantFrom(0, 255, 256, 257, 65533, 65534, 65536, 70_000)),
    fill: byte,
    statusWord: fc.oneof(fc.constantFrom(0x9000, 0x6282, 0x6a82), fc.integer({ min: 0, max: 0xffff })),
    le,
    maxChunk: fc.oneof(fc.constantFrom(1, 2, 255, 256, 65533, 65536), fc.integer({ min: 1, max: 1000 })),
    gets: fc.array(fc.record({ p1: fc.oneof(fc.constant(0), byte), p2: fc.oneof(fc.constant(0), byte), le, data: fc.boolean() }), { minLength: 1, maxLength: 8 }),
  });
}

const PARSE_REFUSALS = new Set<number>([APDU_SW.wrongLength, APDU_SW.claNotSupported, APDU_SW.secureMessagingNotSupported, APDU_SW.logicalChannelNotSupported]);

function checkParse(bytes: Uint8Array): void {
  const parsed = parseCommandApdu(bytes);
  if (!parsed.ok) {
    check(PARSE_REFUSALS.has(parsed.statusWord), 'apdu-refusal', () => `${toHex(bytes)}: undocumented status word ${parsed.statusWord.toString(16)}`);
    return;
  }
  const { apdu } = parsed;
  check(apdu.cla === bytes[0] && apdu.ins === bytes[1] && apdu.p1 === bytes[2] && apdu.p2 === bytes[3], 'apdu-header', () => toHex(bytes));
  check(apdu.le >= 0 && apdu.le <= 65536 && (apdu.extended || (apdu.data.length <= 255 && apdu.le <= 256)), 'apdu-lengths', () => `${toHex(bytes)} -> ${show(apdu)}`);
  const lcBytes = apdu.data.length === 0 ? 0 : apdu.extended ? 3 : 1;
  const leBytes = apdu.le === 0 ? 0 : apdu.extended ? (apdu.data.length === 0 ? 3 : 2) : 1;
  check(4 + lcBytes + apdu.data.length + leBytes === bytes.length, 'apdu-length-accounting', () => `${toHex(bytes)} -> ${show(apdu)}`);
  let serialized: Uint8Array;
  try {
    serialized = serializeCommandApdu(apdu);
  } catch (error) {
    throw new Error(`serializeCommandApdu refused a parsed APDU ${show(apdu)}: ${String(error)}`);
  }
  check(toHex(serialized) === toHex(bytes), 'apdu-canonical', () => `${toHex(bytes)} parsed to ${show(apdu)} which serializes to ${toHex(serialized)}`);
}

/** Reference model of command chaining (ISO 7816-4 5.1.1.1 as documented in apdu.ts). */
function modelChain(state: { header: number[]; data: number[]; extended: boolean } | null, apdu: CommandApdu, limit: number) {
  const chained = (apdu.cla & CLA_CHAINING) !== 0;
  const header = [apdu.cla & ~CLA_CHAINING, apdu.ins, apdu.p1, apdu.p2];
  if (state !== null && !isDeepStrictEqual(state.header, header)) return { state: null, result: { kind: 'error', statusWord: 0x6883 } } as const;
  const data = [...(state?.data ?? []), ...apdu.data];
  if (data.length > limit) return { state: null, result: { kind: 'error', statusWord: 0x6700 } } as const;
  const extended = (state?.extended ?? false) || apdu.extended;
  if (chained) return { state: { header, data, extended }, result: { kind: 'continue' } } as const;
  return {
    state: null,
    result: { kind: 'complete', apdu: { cla: state === null ? apdu.cla : header[0]!, ins: apdu.ins, p1: apdu.p1, p2: apdu.p2, data: toHex(Uint8Array.from(data)), le: apdu.le, extended } },
  } as const;
}

function checkChain(limit: number, commands: readonly CommandApdu[]): void {
  let state: ChainState = null;
  let model: { header: number[]; data: number[]; extended: boolean } | null = null;
  commands.forEach((apdu, index) => {
    const step = assembleChain(state, apdu, limit);
    const expected = modelChain(model, apdu, limit);
    state = step.state;
    model = expected.state;
    const actual = step.result.kind === 'complete' ? { kind: 'complete', apdu: { ...step.result.apdu, data: toHex(step.result.apdu.data) } } : step.result;
    check(isDeepStrictEqual(actual, expected.result), 'apdu-chain-model', () => `command ${index} ${show(apdu)}: got ${show(actual)}, the model says ${show(expected.result)}`);
    check((state === null) === (model === null), 'apdu-chain-state', () => `command ${index}: chain ${state === null ? 'closed' : 'open'}, the model's ${model === null ? 'closed' : 'open'}`);
  });
}

function checkResponse(input: Extract<ApduParserInput, { kind: 'response' }>): void {
  // Few rounds per input: large data only with large pieces.
  const data = new Uint8Array(Math.min(input.size, input.maxChunk * 40, Math.max(input.le, 1) * 40));
  for (let index = 0; index < data.length; index++) data[index] = (input.fill + index * 7) & 0xff;
  const collected: number[] = [];
  const pieceLimit = (le: number): number => Math.min(le === 0 ? 256 : le, input.maxChunk);
  let step = startResponse(data, input.statusWord, input.le, { maxChunk: input.maxChunk });
  let limit = pieceLimit(input.le);
  let pending: PendingResponse | null = null;
  let getIndex = 0;
  for (let round = 0; ; round++) {
    const response = step.response;
    const piece = response.subarray(0, response.length - 2);
    const sw = (response[response.length - 2]! << 8) | response[response.length - 1]!;
    check(piece.length <= limit, 'apdu-response-size', () => `round ${round}: piece of ${piece.length} bytes above ${limit}`);
    collected.push(...piece);
    pending = step.pending;
    if (pending === null) {
      check(sw === input.statusWord, 'apdu-response-sw', () => `final status word ${sw.toString(16)}, expected ${input.statusWord.toString(16)}`);
      break;
    }
    const left = data.length - collected.length;
    check(pending.remaining.length === left, 'apdu-response-remaining', () => `round ${round}: ${pending?.remaining.length} pending, ${left} expected`);
    check(sw === (0x6100 | (left >= 256 ? 0 : left)), 'apdu-response-61xx', () => `round ${round}: ${sw.toString(16)} with ${left} left`);
    // Bad GET RESPONSEs first (they must keep the pending data), then a good one.
    const get = input.gets[getIndex++ % input.gets.length]!;
    if (get.p1 !== 0 || get.p2 !== 0 || get.data) {
      const bad = getResponse(pending, { cla: 0, ins: 0xc0, p1: get.p1, p2: get.p2, data: get.data ? Uint8Array.of(1) : new Uint8Array(0), le: get.le, extended: false }, { maxChunk: input.maxChunk });
      const badSw = (bad.response[0]! << 8) | bad.response[1]!;
      check(bad.response.length === 2 && (badSw === 0x6a86 || badSw === 0x6700) && bad.pending === pending, 'apdu-get-response-refusal', () => `bad GET RESPONSE ${show(get)} answered ${toHex(bad.response)}`);
    }
    step = getResponse(pending, { cla: 0, ins: 0xc0, p1: 0, p2: 0, data: new Uint8Array(0), le: get.le, extended: get.le > 256 }, { maxChunk: input.maxChunk });
    limit = pieceLimit(get.le);
  }
  check(collected.length === data.length && collected.every((value, index) => value === data[index]), 'apdu-response-data', () => `reassembled ${collected.length} of ${data.length} bytes differently`);
  const after = getResponse(null, { cla: 0, ins: 0xc0, p1: 0, p2: 0, data: new Uint8Array(0), le: 0, extended: false });
  check(toHex(after.response) === '6985', 'apdu-get-response-nothing', () => toHex(after.response));
}

export const apduParserTarget: FuzzTarget<ApduParserInput> = {
  name: 'apdu-parser',
  description: 'APDU parsing (canonical round trip), command chaining (reference model), response splitting and GET RESPONSE',
  arbitrary: () =>
    fc.oneof(
      { arbitrary: parseArbitrary().map((bytes): ApduParserInput => ({ kind: 'parse', bytes })), weight: 4 },
      { arbitrary: chainArbitrary(), weight: 2 },
      { arbitrary: responseArbitrary(), weight: 1 },
    ),
  run(input) {
    switch (input.kind) {
      case 'parse':
        return checkParse(input.bytes);
      case 'chain':
        return checkChain(input.limit, input.commands);
      case 'response':
        return checkResponse(input);
    }
  },
};
