/**
 * Actor protocols and the message envelope.
 *
 * A protocol is one actor's interface, declared once (in the spirit of Hubris' Idol files):
 * operation -> request struct, reply struct, and the errors it may answer (code -> payload struct).
 * From it follow the request/reply/error types, and `encodeEnvelope`/`decodeEnvelope` move messages across an
 * actor boundary as CBOR bytes with one pinned cbor-x option set shared by every board.
 *
 * Every call may also end in one of the system errors the scheduler produces (busy, peer.restarted, timeout,
 * refused, badMessage, unknownOperation), so callers handle them with the same exhaustive switch.
 */
import { Encoder } from 'cbor-x';
import * as t from './fields.js';
import { DecodeError, assertNever, errorMessage, redact, validate, type Infer, type StructField, type Field } from './schema.js';

export type AnyStruct = StructField<Record<string, Field>>;

export interface OperationSpec {
  readonly request: AnyStruct;
  readonly reply: AnyStruct;
  readonly errors: Readonly<Record<string, AnyStruct>>;
}

export interface Protocol<N extends string = string, O extends Record<string, OperationSpec> = Record<string, OperationSpec>> {
  readonly name: N;
  readonly operations: O;
}

export function defineProtocol<const N extends string, const O extends Record<string, OperationSpec>>(name: N, operations: O): Protocol<N, O> {
  return { name, operations };
}

/** Shorthand for an operation declaration. */
export function op<Rq extends AnyStruct, Rp extends AnyStruct, E extends Record<string, AnyStruct> = {}>(
  request: Rq,
  reply: Rp,
  errors?: E,
): { request: Rq; reply: Rp; errors: E } {
  return { request, reply, errors: (errors ?? {}) as E };
}

export const empty = t.struct({});

/** Errors any call may end in, produced by the scheduler rather than the callee's handler. */
export const SYSTEM_ERRORS = {
  busy: t.struct({ detail: t.text() }),
  'peer.restarted': t.struct({ detail: t.text() }),
  timeout: t.struct({ detail: t.text() }),
  refused: t.struct({ detail: t.text() }),
  badMessage: t.struct({ detail: t.text() }),
  unknownOperation: t.struct({ detail: t.text() }),
} as const;
export type SystemErrorCode = keyof typeof SYSTEM_ERRORS;
export const SYSTEM_ERROR_CODES = Object.keys(SYSTEM_ERRORS) as SystemErrorCode[];
export function isSystemErrorCode(code: string): code is SystemErrorCode {
  return Object.prototype.hasOwnProperty.call(SYSTEM_ERRORS, code);
}

export type OperationName<P extends Protocol> = keyof P['operations'] & string;
export type RequestOf<P extends Protocol, K extends OperationName<P>> = Infer<P['operations'][K]['request']>;
export type ReplyOf<P extends Protocol, K extends OperationName<P>> = Infer<P['operations'][K]['reply']>;
type DeclaredErrors<P extends Protocol, K extends OperationName<P>> = P['operations'][K]['errors'];
export type OperationErrorOf<P extends Protocol, K extends OperationName<P>> = {
  [C in keyof DeclaredErrors<P, K> & string]: { code: C } & Infer<DeclaredErrors<P, K>[C]>;
}[keyof DeclaredErrors<P, K> & string];
export type SystemError = { [C in SystemErrorCode]: { code: C } & Infer<(typeof SYSTEM_ERRORS)[C]> }[SystemErrorCode];
export type ErrorOf<P extends Protocol, K extends OperationName<P>> = OperationErrorOf<P, K> | SystemError;

/** What a call resolves to: the declared reply or a declared (or system) error. Never a throw. */
export type Result<V, E> = { ok: true; value: V } | { ok: false; error: E };
export type CallResult<P extends Protocol, K extends OperationName<P>> = Result<ReplyOf<P, K>, ErrorOf<P, K>>;
/** What a handler returns. */
export type HandlerResult<P extends Protocol, K extends OperationName<P>> = Result<ReplyOf<P, K>, OperationErrorOf<P, K>>;

export function ok<V>(value: V): { ok: true; value: V } {
  return { ok: true, value };
}
export function fail<E>(error: E): { ok: false; error: E } {
  return { ok: false, error };
}

// ---------------------------------------------------------------------------------------------------------
// Envelope: what crosses an actor boundary.

export type Envelope =
  | { kind: 'request'; id: number; from: string; to: string; op: string; body: unknown }
  | { kind: 'reply'; id: number; from: string; to: string; op: string; body: unknown }
  | { kind: 'error'; id: number; from: string; to: string; op: string; code: string; body: unknown }
  | { kind: 'timer'; id: number; from: string; to: string; op: 'timer.expired'; body: { name: string } };

const KIND_NUMBERS = { request: 0, reply: 1, error: 2, timer: 3 } as const;
const KIND_NAMES = ['request', 'reply', 'error', 'timer'] as const;

/** Largest encoded message any mailbox accepts. */
export const MAX_MESSAGE_BYTES = 80 * 1024;

/**
 * The one cbor-x option set of every board: no record extension, no typed-array tags (so byte strings encode
 * identically on Node, where Buffer exists, and on Kaluma), plain objects for maps, compact map headers.
 */
export const cbor = new Encoder({ useRecords: false, tagUint8Array: false, mapsAsObjects: true, variableMapSize: true });

export function encodeEnvelope(envelope: Envelope): Uint8Array {
  const code = envelope.kind === 'error' ? envelope.code : null;
  return cbor.encode([KIND_NUMBERS[envelope.kind], envelope.id, envelope.from, envelope.to, envelope.op, envelope.body, code]);
}

/** Decodes the envelope (not the body, which the receiver validates against its schema). Throws DecodeError only. */
export function decodeEnvelope(bytes: Uint8Array): Envelope {
  if (bytes.length > MAX_MESSAGE_BYTES) throw new DecodeError('', `message of ${bytes.length} bytes above ${MAX_MESSAGE_BYTES}`);
  let raw: unknown;
  try {
    raw = cbor.decode(bytes);
  } catch (error) {
    throw new DecodeError('', `not CBOR: ${errorMessage(error)}`);
  }
  if (!Array.isArray(raw) || raw.length !== 7) throw new DecodeError('', 'envelope must be a 7-element array');
  const [kindNumber, id, from, to, opName, body, code] = raw as unknown[];
  if (typeof kindNumber !== 'number' || !Number.isInteger(kindNumber) || kindNumber < 0 || kindNumber >= KIND_NAMES.length) {
    throw new DecodeError('kind', 'unknown envelope kind');
  }
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) throw new DecodeError('id', 'expected an unsigned integer');
  if (typeof from !== 'string' || typeof to !== 'string' || typeof opName !== 'string') {
    throw new DecodeError('address', 'from, to and op must be text');
  }
  const kind = KIND_NAMES[kindNumber];
  switch (kind) {
    case 'request':
    case 'reply':
      return { kind, id, from, to, op: opName, body };
    case 'error':
      if (typeof code !== 'string') throw new DecodeError('code', 'an error envelope needs a code');
      return { kind, id, from, to, op: opName, code, body };
    case 'timer': {
      const timerBody = validate(t.struct({ name: t.text({ max: 64 }) }), body, 'body');
      if (opName !== 'timer.expired') throw new DecodeError('op', 'a timer envelope must be timer.expired');
      return { kind, id, from, to, op: 'timer.expired', body: timerBody };
    }
    default:
      return assertNever(kind);
  }
}

/** Validates a request body against the protocol. Throws DecodeError for an unknown operation or bad body. */
export function decodeRequestBody<P extends Protocol>(protocol: P, opName: string, body: unknown): { op: OperationName<P>; request: unknown } {
  const spec = lookupOperation(protocol, opName);
  return { op: opName as OperationName<P>, request: validate(spec.request, body, 'body') };
}

export function lookupOperation(protocol: Protocol, opName: string): OperationSpec {
  if (!Object.prototype.hasOwnProperty.call(protocol.operations, opName)) {
    throw new DecodeError('op', `${protocol.name} has no operation ${opName}`);
  }
  const spec = protocol.operations[opName];
  if (spec === undefined) throw new DecodeError('op', `${protocol.name} has no operation ${opName}`);
  return spec;
}

/**
 * The payload schema of an error an operation declares, by its own properties only: a code such as "__proto__"
 * or "constructor" is an undeclared error, not a member of Object.prototype.
 */
function declaredError(spec: OperationSpec, code: string): AnyStruct | undefined {
  return Object.prototype.hasOwnProperty.call(spec.errors, code) ? spec.errors[code] : undefined;
}

/** Validates a reply or error envelope's body against what the callee's protocol declares. */
export function decodeResponse(protocol: Protocol, envelope: Envelope): Result<unknown, { code: string } & Record<string, unknown>> {
  switch (envelope.kind) {
    case 'reply':
      return ok(validate(lookupOperation(protocol, envelope.op).reply, envelope.body, 'body'));
    case 'error': {
      const declared = isSystemErrorCode(envelope.code) ? SYSTEM_ERRORS[envelope.code] : declaredError(lookupOperation(protocol, envelope.op), envelope.code);
      if (declared === undefined) throw new DecodeError('code', `${protocol.name}.${envelope.op} does not declare error ${envelope.code}`);
      const payload = validate(declared, envelope.body, 'body');
      return fail({ ...payload, code: envelope.code });
    }
    case 'request':
    case 'timer':
      throw new DecodeError('kind', `expected a reply, got a ${envelope.kind}`);
    default:
      return assertNever(envelope);
  }
}

/** A trace-safe rendering of an envelope body: sensitive fields redacted according to the protocol. */
export function redactBody(protocol: Protocol | undefined, envelope: Envelope): unknown {
  if (protocol === undefined || !Object.prototype.hasOwnProperty.call(protocol.operations, envelope.op)) return '<unparsed>';
  const spec = protocol.operations[envelope.op];
  if (spec === undefined) return '<unparsed>';
  switch (envelope.kind) {
    case 'request':
      return redact(spec.request, envelope.body);
    case 'reply':
      return redact(spec.reply, envelope.body);
    case 'error': {
      const declared = isSystemErrorCode(envelope.code) ? SYSTEM_ERRORS[envelope.code] : declaredError(spec, envelope.code);
      return declared === undefined ? '<undeclared>' : redact(declared, envelope.body);
    }
    case 'timer':
      return envelope.body;
    default:
      return assertNever(envelope);
  }
}
