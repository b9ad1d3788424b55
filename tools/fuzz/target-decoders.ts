/**
 * Target `decoders`: every message decoder on raw bytes, valid encodings, schema mutants and mutated encodings.
 *
 * Bodies (every protocol's request, reply and declared error payloads, the system errors and the persistent
 * records): CBOR decode, then `validate`. Oracles:
 *   - validate throws nothing but DecodeError;
 *   - differential: validate accepts exactly the values our independent reading of the schema accepts (conforms);
 *   - what validate returns conforms, validates to itself, survives a CBOR round trip unchanged;
 *   - redact() of it shows no sensitive leaf (each becomes a "<redacted ...>" marker).
 * Envelopes: decodeEnvelope throws only DecodeError; a decoded envelope re-encodes to a fixed point; for every
 * protocol, decodeRequestBody / decodeResponse throw only DecodeError and what they return conforms to the
 * declared schema; redactBody of a decoded answer does not throw.
 */
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import {
  cbor,
  decodeEnvelope,
  decodeRequestBody,
  decodeResponse,
  encodeEnvelope,
  isSystemErrorCode,
  redactBody,
  SYSTEM_ERRORS,
  type Envelope,
} from '../../messages/protocol.js';
import { DecodeError, redact, validate, type Field } from '../../messages/schema.js';
import { arbitraryFor, conforms, HOSTILE_KEYS, junkArbitrary, mutantFor, sensitivePaths } from './arbitrary.js';
import { check, Finding, show, type FuzzTarget } from './common.js';
import { mutatedArbitrary } from './mutate.js';
import { PROTOCOLS, SCHEMAS, schemaNamed } from './schemas.js';

export type DecoderInput = { readonly kind: 'body'; readonly schema: string; readonly bytes: Uint8Array } | { readonly kind: 'envelope'; readonly bytes: Uint8Array };

function encode(value: unknown): Uint8Array {
  try {
    return new Uint8Array(cbor.encode(value));
  } catch {
    return new Uint8Array(0);
  }
}

const NAMES = ['transport', 'applet', 'pin', 'keystore', 'crypto', 'lifecycle', 'storage', 'link', 'board', 'scheduler', 'nobody'];

function envelopeArbitrary(): fc.Arbitrary<Uint8Array> {
  const operations = PROTOCOLS.flatMap((protocol) => Object.entries(protocol.operations).map(([op, spec]) => ({ protocol: protocol.name, op, spec })));
  const one = fc.constantFrom(...operations).chain(({ protocol, op, spec }) => {
    const errorCodes = [...Object.keys(spec.errors), ...Object.keys(SYSTEM_ERRORS)];
    const code = fc.oneof(fc.constantFrom(...errorCodes), fc.constantFrom(...HOSTILE_KEYS), fc.string({ maxLength: 6 }));
    const kind = fc.constantFrom(0, 1, 2, 3);
    const body = fc.oneof(arbitraryFor(spec.request), arbitraryFor(spec.reply), mutantFor(spec.request), mutantFor(spec.reply), junkArbitrary());
    const opName = fc.oneof({ arbitrary: fc.constant(op), weight: 6 }, { arbitrary: fc.constantFrom('timer.expired', ...HOSTILE_KEYS), weight: 1 });
    return fc
      .tuple(kind, fc.nat(), fc.constantFrom(...NAMES), fc.constantFrom(protocol, ...NAMES), opName, body, fc.option(code, { nil: null }))
      .map((parts) => encode(parts));
  });
  return fc.oneof({ arbitrary: one, weight: 3 }, { arbitrary: mutatedArbitrary(one), weight: 4 }, { arbitrary: fc.uint8Array({ maxLength: 64 }), weight: 1 });
}

function bodyArbitrary(): fc.Arbitrary<DecoderInput> {
  return fc.constantFrom(...SCHEMAS).chain(({ name, field }) => {
    const valid = arbitraryFor(field).map(encode);
    const bytes = fc.oneof(
      { arbitrary: valid, weight: 3 },
      { arbitrary: mutantFor(field).map(encode), weight: 3 },
      { arbitrary: mutatedArbitrary(valid), weight: 3 },
      { arbitrary: fc.uint8Array({ maxLength: 48 }), weight: 1 },
    );
    return bytes.map((encoded): DecoderInput => ({ kind: 'body', schema: name, bytes: encoded }));
  });
}

export function decoderArbitrary(): fc.Arbitrary<DecoderInput> {
  return fc.oneof({ arbitrary: bodyArbitrary(), weight: 3 }, { arbitrary: envelopeArbitrary().map((bytes): DecoderInput => ({ kind: 'envelope', bytes })), weight: 2 });
}

function onlyDecodeError(oracle: string, work: () => void): boolean {
  try {
    work();
    return true;
  } catch (error) {
    if (error instanceof DecodeError) return false;
    throw new Finding(oracle, `threw ${describe(error)} instead of a DecodeError`);
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}\n${error.stack?.split('\n').slice(1, 6).join('\n') ?? ''}`;
  return String(error);
}

/** Checks that redact() hides every sensitive leaf of a valid value. */
export function checkRedaction(field: Field, value: unknown, where: string): void {
  let redacted: unknown;
  try {
    redacted = redact(field, value);
  } catch (error) {
    throw new Finding('redact-throws', `${where}: redact threw ${describe(error)}`);
  }
  for (const path of sensitivePaths(field, value)) {
    let cursor: unknown = redacted;
    for (const step of path) cursor = cursor === undefined || cursor === null ? undefined : (cursor as Record<string | number, unknown>)[step];
    check(typeof cursor === 'string' && cursor.startsWith('<redacted'), 'redaction', () => `${where}: sensitive ${path.join('.')} shown as ${show(cursor, 200)}`);
  }
}

function checkBody(schema: string, bytes: Uint8Array): void {
  const field = schemaNamed(schema);
  let decoded: unknown;
  try {
    decoded = cbor.decode(bytes);
  } catch {
    return; // not CBOR: decodeEnvelope turns this into a DecodeError, checked by the envelope half
  }
  let value: unknown;
  const accepted = onlyDecodeError('validate-throws', () => {
    value = validate(field, decoded);
  });
  const expected = conforms(field, decoded);
  check(accepted === expected, 'validate-differential', () => `${schema}: validate ${accepted ? 'accepted' : 'rejected'} ${show(decoded, 400)}, the schema says ${expected ? 'valid' : 'invalid'}`);
  if (!accepted) return;
  check(conforms(field, value), 'validate-output', () => `${schema}: validate returned a non-conforming ${show(value, 400)}`);
  const again = validate(field, value);
  check(isDeepStrictEqual(again, value), 'validate-idempotent', () => `${schema}: validate(validate(x)) differs: ${show(again, 300)} vs ${show(value, 300)}`);
  const roundTrip = validate(field, cbor.decode(cbor.encode(value)));
  check(isDeepStrictEqual(roundTrip, value), 'cbor-round-trip', () => `${schema}: round trip changed ${show(value, 300)} into ${show(roundTrip, 300)}`);
  checkRedaction(field, value, schema);
}

function checkEnvelope(bytes: Uint8Array): void {
  let envelope: Envelope | undefined;
  onlyDecodeError('decodeEnvelope-throws', () => {
    envelope = decodeEnvelope(bytes);
  });
  if (envelope === undefined) return;
  const decoded = envelope;
  check(['request', 'reply', 'error', 'timer'].includes(decoded.kind), 'envelope-kind', () => `kind ${String(decoded.kind)}`);
  check(Number.isInteger(decoded.id) && decoded.id >= 0, 'envelope-id', () => `id ${String(decoded.id)}`);
  // Re-encoding reaches a fixed point after one round.
  const once = encodeEnvelope(decoded);
  const twice = encodeEnvelope(decodeEnvelope(once));
  check(Buffer.from(once).equals(Buffer.from(twice)), 'envelope-round-trip', () => `re-encoding is not stable: ${show(decoded, 300)}`);
  for (const protocol of PROTOCOLS) {
    switch (decoded.kind) {
      case 'request': {
        let result: { request: unknown } | undefined;
        onlyDecodeError('decodeRequestBody-throws', () => {
          result = decodeRequestBody(protocol, decoded.op, decoded.body);
        });
        if (result) {
          const field = protocol.operations[decoded.op]!.request;
          check(conforms(field, result.request), 'decodeRequestBody-output', () => `${protocol.name}.${decoded.op}: ${show(result?.request, 300)}`);
          checkRedaction(field, result.request, `${protocol.name}.${decoded.op}.request`);
          try {
            redactBody(protocol, { ...decoded, body: result.request });
          } catch (error) {
            throw new Finding('redactBody-throws', `${protocol.name}.${decoded.op}: ${describe(error)}`);
          }
        }
        break;
      }
      case 'reply':
      case 'error': {
        let result: ReturnType<typeof decodeResponse> | undefined;
        onlyDecodeError('decodeResponse-throws', () => {
          result = decodeResponse(protocol, decoded);
        });
        if (result === undefined) break;
        const spec = protocol.operations[decoded.op];
        check(spec !== undefined, 'decodeResponse-undeclared-op', () => `${protocol.name} accepted an answer to unknown op ${decoded.op}`);
        if (result.ok) {
          check(conforms(spec.reply, result.value), 'decodeResponse-output', () => `${protocol.name}.${decoded.op} reply ${show(result, 300)}`);
        } else {
          const { code, ...payload } = result.error;
          const declared = isSystemErrorCode(code) ? SYSTEM_ERRORS[code] : Object.prototype.hasOwnProperty.call(spec.errors, code) ? spec.errors[code] : undefined;
          check(declared !== undefined, 'decodeResponse-undeclared-error', () => `${protocol.name}.${decoded.op} accepted undeclared error ${code}`);
          check(conforms(declared, payload), 'decodeResponse-output', () => `${protocol.name}.${decoded.op} error ${show(result, 300)}`);
        }
        try {
          redactBody(protocol, decoded);
        } catch (error) {
          throw new Finding('redactBody-throws', `${protocol.name}.${decoded.op}: ${describe(error)}`);
        }
        break;
      }
      case 'timer':
        check(typeof decoded.body.name === 'string' && decoded.body.name.length <= 64 && decoded.op === 'timer.expired', 'timer-envelope', () => show(decoded, 300));
        break;
    }
  }
}

export const decodersTarget: FuzzTarget<DecoderInput> = {
  name: 'decoders',
  description: 'CBOR body validation of every schema (differential against the documented semantics) and the envelope decoders',
  arbitrary: decoderArbitrary,
  run(input) {
    if (input.kind === 'body') checkBody(input.schema, input.bytes);
    else checkEnvelope(input.bytes);
  },
};
