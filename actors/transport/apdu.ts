/**
 * ISO/IEC 7816-4 command and response APDU handling for the transport, as pure functions over plain data:
 * no actor, no I/O, no clock, no hidden state (state is passed in and returned), so the transport actor, its
 * machine, the fuzzer and the tests all use the same code.
 *
 *   const parsed = parseCommandApdu(bytes);                 // short or extended, cases 1-4
 *   if (!parsed.ok) return statusWordBytes(parsed.statusWord);
 *
 *   const step = assembleChain(chain, parsed.apdu);          // command chaining, CLA bit 0x10
 *   chain = step.state;
 *   switch (step.result.kind) { case 'complete': ...; case 'continue': 9000; case 'error': SW }
 *
 *   const first = startResponse(data, 0x9000, apdu.le);       // long data: 61xx, rest kept
 *   pending = first.pending;                                  // null when all data went out
 *   ... later, for INS C0: const next = getResponse(pending, apdu); pending = next.pending;
 *
 * Decisions (where ISO leaves room or the SmartCard-HSM is narrower than ISO), each with its status word:
 * - Order of checks: length < 4 (6700), then CLA, then INS, then the body encoding (6700). A command wrong in
 *   several ways gets the first failing check's status word.
 * - CLA: only the SmartCard-HSM's classes are supported: 00 (interindustry) and 80 (proprietary), each with the
 *   command-chaining bit 0x10 (so 00, 10, 80, 90). Within those families, secure-messaging bits (0x0C) answer
 *   6882 "secure messaging not supported" (the class itself is recognised; SM is later work), and a logical
 *   channel other than 0 (bits 0x03) answers 6881 "logical channel not supported". Every other class, including
 *   the further interindustry classes 40..7F and the invalid FF, answers 6E00.
 * - INS: every value is passed on. ISO 7816-3 reserves 6X and 9X only under T=0 (procedure bytes); this card
 *   speaks T=1, and the SmartCard-HSM itself uses 62 (DECIPHER) and 68 (COMPUTE SIGNATURE). Odd INS codes are
 *   valid (ISO 7816-4: BER-TLV data field). Whether an INS is implemented is the applet's business (6D00).
 * - Body: short Lc 1..255 (a short Lc of 00 starts the extended form), extended Lc 00 hi lo with hi lo = 0001..
 *   FFFF, extended Le 2 bytes after an extended Lc, or 00 hi lo alone. Le 00 means 256 (short), 00 00 means 65536
 *   (extended). Anything else (a lone 00 plus one byte, extended Lc 0000 with more bytes, a length that matches
 *   no case) answers 6700. `le` is 0 when the Le field is absent.
 * - Chaining: consecutive commands with CLA bit 0x10 and the same INS P1 P2 and class (chaining bit aside)
 *   accumulate their data; each chained part is answered 9000 by the caller; the first command without the bit
 *   and with the same header completes the chain (its Le counts). Total data above `MAX_CHAINED_DATA` (or the
 *   given limit) answers 6700 and drops the chain. A command with a different header while a chain is open
 *   (chained or not) answers 6883 "last command of the chain expected" and drops the chain; that command is not
 *   executed (the client restarts cleanly).
 * - Responses: data longer than Ne is split: the first Ne bytes with 61xx (xx = bytes still pending, 00 when 256
 *   or more), the rest for GET RESPONSE (INS C0, P1 P2 = 00 00, Le = size of the next piece). An absent Le
 *   counts as 256, so a client that forgot Le still reaches all data through 61xx. Each piece is also capped by
 *   `maxChunk` (default 65536; the vpcd link needs 65533, see hal/host/vpcd-link.ts VPCD_MAX_RESPONSE_DATA). The
 *   final piece carries the command's real status word. Any command other than GET RESPONSE discards pending
 *   data (ISO); the caller does that by dropping `pending`.
 * - GET RESPONSE with nothing pending answers 6985 "conditions of use not satisfied" (the INS is supported, the
 *   state is wrong; 6D00 would claim it is unknown); with P1 P2 other than 00 00, 6A86; with a data field, 6700.
 */
import { concat } from '../card/tlv.js';

/** Status words produced by this module. */
export enum APDU_SW {
  ok = 0x9000,
  wrongLength = 0x6700,
  logicalChannelNotSupported = 0x6881,
  secureMessagingNotSupported = 0x6882,
  lastCommandOfChainExpected = 0x6883,
  conditionsNotSatisfied = 0x6985,
  incorrectP1P2 = 0x6a86,
  insNotSupported = 0x6d00,
  claNotSupported = 0x6e00,
}

/** CLA bit: more commands of this chain follow. */
export const CLA_CHAINING = 0x10;
/** INS of GET RESPONSE. */
export const INS_GET_RESPONSE = 0xc0;
/** Largest Ne of a short command (Le = 00) and of an extended one (Le = 00 00). */
export const MAX_SHORT_NE = 256;
export const MAX_EXTENDED_NE = 65536;
/** Default limit on the data of a chained command: an extended APDU's worth plus room for the TLV around it. */
export const MAX_CHAINED_DATA = 65536 + 1024;

export interface CommandApdu {
  readonly cla: number;
  readonly ins: number;
  readonly p1: number;
  readonly p2: number;
  /** The command data field (empty when Lc is absent). */
  readonly data: Uint8Array;
  /** Ne: 0 when Le is absent; 256 for a short Le of 00; 65536 for an extended Le of 00 00. */
  readonly le: number;
  /** Extended length encoding (Lc and/or Le on 3/2 bytes). */
  readonly extended: boolean;
}

export type ParseResult = { readonly ok: true; readonly apdu: CommandApdu } | { readonly ok: false; readonly statusWord: number };

const fail = (statusWord: number): ParseResult => ({ ok: false, statusWord });

/**
 * Checks the class byte. Returns undefined when supported, else the status word (see the header's decisions).
 */
export function checkClass(cla: number): number | undefined {
  const family = cla & 0xe0; // bits 8-6 (the chaining bit 0x10 is bit 5)
  if (family !== 0x00 && family !== 0x80) return APDU_SW.claNotSupported;
  if ((cla & 0x0c) !== 0) return APDU_SW.secureMessagingNotSupported;
  if ((cla & 0x03) !== 0) return APDU_SW.logicalChannelNotSupported;
  return undefined;
}

/** True for INS codes ISO 7816-3 declares invalid under T=0 (6X, 9X); not used by the T=1 parser. */
export function isInvalidIns(ins: number): boolean {
  const high = ins & 0xf0;
  return high === 0x60 || high === 0x90;
}

/** Parses a command APDU (short or extended, cases 1 to 4). Never throws. */
export function parseCommandApdu(bytes: Uint8Array): ParseResult {
  if (bytes.length < 4) return fail(APDU_SW.wrongLength);
  const cla = bytes[0];
  const ins = bytes[1];
  const p1 = bytes[2];
  const p2 = bytes[3];
  const classProblem = checkClass(cla);
  if (classProblem !== undefined) return fail(classProblem);

  const body = bytes.length - 4;
  const ok = (data: Uint8Array, le: number, extended: boolean): ParseResult => ({
    ok: true,
    apdu: { cla, ins, p1, p2, data: data.slice(), le, extended },
  });
  const none = new Uint8Array(0);

  if (body === 0) return ok(none, 0, false); // case 1
  const first = bytes[4];
  if (body === 1) return ok(none, first === 0 ? MAX_SHORT_NE : first, false); // case 2 short

  if (first !== 0) {
    // Short Lc.
    const lc = first;
    if (body === 1 + lc) return ok(bytes.subarray(5, 5 + lc), 0, false); // case 3 short
    if (body === 2 + lc) {
      const le = bytes[5 + lc];
      return ok(bytes.subarray(5, 5 + lc), le === 0 ? MAX_SHORT_NE : le, false); // case 4 short
    }
    return fail(APDU_SW.wrongLength);
  }

  // Extended: 00 then two bytes.
  if (body < 3) return fail(APDU_SW.wrongLength); // 00 plus a single byte
  const word = (bytes[5] << 8) | bytes[6];
  if (body === 3) return ok(none, word === 0 ? MAX_EXTENDED_NE : word, true); // case 2 extended
  const lc = word;
  if (lc === 0) return fail(APDU_SW.wrongLength); // extended Lc 0000 cannot be followed by anything
  if (body === 3 + lc) return ok(bytes.subarray(7, 7 + lc), 0, true); // case 3 extended
  if (body === 5 + lc) {
    const le = (bytes[7 + lc] << 8) | bytes[8 + lc];
    return ok(bytes.subarray(7, 7 + lc), le === 0 ? MAX_EXTENDED_NE : le, true); // case 4 extended
  }
  return fail(APDU_SW.wrongLength);
}

/**
 * Encodes a command APDU; the inverse of parseCommandApdu (parse(serialize(x)) equals x for every x it accepts).
 * Short form: data up to 255 bytes, le up to 256. Extended form: data up to 65535 bytes, le up to 65536, and
 * at least one of them present (a case-1 command has no extended form). Throws RangeError otherwise.
 */
export function serializeCommandApdu(apdu: CommandApdu): Uint8Array {
  const { cla, ins, p1, p2, data, le, extended } = apdu;
  for (const byte of [cla, ins, p1, p2]) {
    if (!Number.isInteger(byte) || byte < 0 || byte > 0xff) throw new RangeError('header bytes must be 0..255');
  }
  if (!Number.isInteger(le) || le < 0) throw new RangeError('le must be a non-negative integer');
  const header = [cla, ins, p1, p2];
  if (!extended) {
    if (data.length > 255 || le > MAX_SHORT_NE) throw new RangeError('short APDU: data <= 255 bytes, le <= 256');
    const lc = data.length > 0 ? [data.length, ...data] : [];
    const leField = le > 0 ? [le & 0xff] : [];
    return Uint8Array.from([...header, ...lc, ...leField]);
  }
  if (data.length > 0xffff || le > MAX_EXTENDED_NE) throw new RangeError('extended APDU: data <= 65535 bytes, le <= 65536');
  if (data.length === 0 && le === 0) throw new RangeError('an extended APDU needs data or le');
  const out = new Uint8Array(4 + (data.length > 0 ? 3 + data.length : 0) + (le > 0 ? (data.length > 0 ? 2 : 3) : 0));
  out.set(header);
  let offset = 4;
  if (data.length > 0) {
    out.set([0x00, data.length >>> 8, data.length & 0xff], offset);
    out.set(data, offset + 3);
    offset += 3 + data.length;
  }
  if (le > 0) {
    const leBytes = [(le >>> 8) & 0xff, le & 0xff]; // 65536 encodes as 00 00
    out.set(data.length > 0 ? leBytes : [0x00, ...leBytes], offset);
  }
  return out;
}

/** SW1 SW2 as two bytes. */
export function statusWordBytes(statusWord: number): Uint8Array {
  return Uint8Array.of((statusWord >>> 8) & 0xff, statusWord & 0xff);
}

// ---------------------------------------------------------------------------------------------------------------
// Command chaining

/** An open chain: the header that started it and the data so far. */
export interface OpenChain {
  /** CLA without the chaining bit. */
  readonly cla: number;
  readonly ins: number;
  readonly p1: number;
  readonly p2: number;
  readonly parts: readonly Uint8Array[];
  readonly length: number;
  readonly extended: boolean;
}

/** The assembler's whole state: null when no chain is open. */
export type ChainState = OpenChain | null;

export type ChainResult =
  /** A whole command to execute: the chaining bit cleared, all data joined, Le from the last part. */
  | { readonly kind: 'complete'; readonly apdu: CommandApdu }
  /** A chained part was stored: answer 9000 and wait for the rest. */
  | { readonly kind: 'continue' }
  /** Answer this status word; the chain (if any) was dropped. */
  | { readonly kind: 'error'; readonly statusWord: number };

export interface ChainStep {
  readonly state: ChainState;
  readonly result: ChainResult;
}

function sameHeader(chain: OpenChain, apdu: CommandApdu): boolean {
  return chain.cla === (apdu.cla & ~CLA_CHAINING) && chain.ins === apdu.ins && chain.p1 === apdu.p1 && chain.p2 === apdu.p2;
}


/**
 * Feeds one parsed command to the chaining assembler. Pure: returns the next state and what to do.
 * `limit` caps the total data of a chain (default MAX_CHAINED_DATA).
 */
export function assembleChain(state: ChainState, apdu: CommandApdu, limit: number = MAX_CHAINED_DATA): ChainStep {
  const chained = (apdu.cla & CLA_CHAINING) !== 0;
  if (state !== null && !sameHeader(state, apdu)) {
    return { state: null, result: { kind: 'error', statusWord: APDU_SW.lastCommandOfChainExpected } };
  }
  const previousLength = state?.length ?? 0;
  const length = previousLength + apdu.data.length;
  if (length > limit) return { state: null, result: { kind: 'error', statusWord: APDU_SW.wrongLength } };

  if (chained) {
    const next: OpenChain = {
      cla: apdu.cla & ~CLA_CHAINING,
      ins: apdu.ins,
      p1: apdu.p1,
      p2: apdu.p2,
      parts: [...(state?.parts ?? []), apdu.data],
      length,
      extended: (state?.extended ?? false) || apdu.extended,
    };
    return { state: next, result: { kind: 'continue' } };
  }
  if (state === null) return { state: null, result: { kind: 'complete', apdu } };
  return {
    state: null,
    result: {
      kind: 'complete',
      apdu: {
        cla: state.cla,
        ins: apdu.ins,
        p1: apdu.p1,
        p2: apdu.p2,
        data: concat(...state.parts, apdu.data),
        le: apdu.le,
        extended: state.extended || apdu.extended,
      },
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Response splitting: 61xx and GET RESPONSE

/** Response data still to be fetched with GET RESPONSE, and the status word of its last piece. */
export interface PendingResponse {
  readonly remaining: Uint8Array;
  readonly statusWord: number;
}

export interface ResponseStep {
  /** The R-APDU to send now: data ‖ SW1 SW2. */
  readonly response: Uint8Array;
  /** What GET RESPONSE can still fetch; null when nothing is pending. */
  readonly pending: PendingResponse | null;
}

export interface ResponseOptions {
  /** Largest data piece in one response, whatever Le asks (default 65536; vpcd: 65533). */
  readonly maxChunk?: number;
}

/** Ne as the responder uses it: an absent Le counts as 256 (see the header). */
function effectiveNe(le: number): number {
  return le === 0 ? MAX_SHORT_NE : le;
}

function respond(data: Uint8Array, statusWord: number, le: number, options: ResponseOptions): ResponseStep {
  const maxChunk = options.maxChunk ?? MAX_EXTENDED_NE;
  if (!(Number.isInteger(maxChunk) && maxChunk >= 1)) throw new RangeError('maxChunk must be a positive integer');
  const size = Math.min(effectiveNe(le), maxChunk);
  if (data.length <= size) {
    const response = new Uint8Array(data.length + 2);
    response.set(data);
    response.set(statusWordBytes(statusWord), data.length);
    return { response, pending: null };
  }
  const remaining = data.slice(size);
  const response = new Uint8Array(size + 2);
  response.set(data.subarray(0, size));
  response[size] = 0x61;
  response[size + 1] = remaining.length >= 256 ? 0x00 : remaining.length;
  return { response, pending: { remaining, statusWord } };
}

/**
 * Builds the response to a command that produced `data` and `statusWord`, for a command whose Ne is `le`.
 * Data longer than Ne (or maxChunk) is split: first piece with 61xx, the rest pending for GET RESPONSE.
 */
export function startResponse(data: Uint8Array, statusWord: number, le: number, options: ResponseOptions = {}): ResponseStep {
  return respond(data, statusWord, le, options);
}

/** True for a GET RESPONSE command (the caller routes it here instead of to the applet). */
export function isGetResponse(apdu: CommandApdu): boolean {
  return apdu.ins === INS_GET_RESPONSE;
}

/**
 * Answers GET RESPONSE from `pending`. Nothing pending: 6985. P1 P2 not 00 00: 6A86 (pending kept). A data
 * field: 6700 (pending kept). Otherwise the next piece of at most Ne (absent Le: 256) and maxChunk bytes.
 */
export function getResponse(pending: PendingResponse | null, apdu: CommandApdu, options: ResponseOptions = {}): ResponseStep {
  if (apdu.p1 !== 0 || apdu.p2 !== 0) return { response: statusWordBytes(APDU_SW.incorrectP1P2), pending };
  if (apdu.data.length !== 0) return { response: statusWordBytes(APDU_SW.wrongLength), pending };
  if (pending === null) return { response: statusWordBytes(APDU_SW.conditionsNotSatisfied), pending: null };
  return respond(pending.remaining, pending.statusWord, apdu.le, options);
}
