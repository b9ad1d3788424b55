/**
 * The message schema language: one declaration per actor protocol from which the TypeScript types, the
 * validating decoder and the encoder all follow.
 *
 * Why our own table and not a schema library: the Pico has 180 KB of heap for everything, and the smallest
 * well-kept validators (zod, valibot, superstruct) cost 10-60 KB minified and pull in features we do not use.
 * Our needs are a closed set of field kinds (unsigned/signed integers, booleans, byte strings, text, string
 * enums, lists, structs, optionals), a sensitivity mark for redaction, and size limits: about 200 lines.
 *
 * Usage:
 *   const request = t.struct({ fileId: t.uint(0xffff), data: t.bytes({ max: 4096 }) });
 *   type Request = Infer<typeof request>;          // { fileId: number; data: Uint8Array }
 *   const value = validate(request, decoded);      // typed value or throws DecodeError (never casts)
 */

export type Field =
  | UintField
  | IntField
  | BoolField
  | BytesField
  | TextField
  | EnumField<readonly string[]>
  | ListField<Field>
  | StructField<Record<string, Field>>
  | OptionalField<Field>;

export interface UintField { readonly kind: 'uint'; readonly max: number }
export interface IntField { readonly kind: 'int'; readonly min: number; readonly max: number }
export interface BoolField { readonly kind: 'bool' }
export interface BytesField { readonly kind: 'bytes'; readonly min: number; readonly max: number; readonly sensitive: boolean }
export interface TextField { readonly kind: 'text'; readonly max: number; readonly sensitive: boolean }
export interface EnumField<V extends readonly string[]> { readonly kind: 'enum'; readonly values: V }
export interface ListField<F extends Field> { readonly kind: 'list'; readonly of: F; readonly max: number }
export interface StructField<S extends Record<string, Field>> { readonly kind: 'struct'; readonly fields: S }
export interface OptionalField<F extends Field> { readonly kind: 'optional'; readonly of: F }

/** The TypeScript type a field describes. */
export type Infer<F> = F extends UintField | IntField
  ? number
  : F extends BoolField
    ? boolean
    : F extends BytesField
      ? Uint8Array
      : F extends TextField
        ? string
        : F extends EnumField<infer V>
          ? V[number]
          : F extends ListField<infer G>
            ? Infer<G>[]
            : F extends StructField<infer S>
              ? InferStruct<S>
              : never;

type OptionalKeys<S> = { [K in keyof S]: S[K] extends OptionalField<Field> ? K : never }[keyof S];
type RequiredKeys<S> = Exclude<keyof S, OptionalKeys<S>>;
type Simplify<T> = { [K in keyof T]: T[K] } & {};
export type InferStruct<S extends Record<string, Field>> = Simplify<
  { [K in RequiredKeys<S>]: Infer<S[K]> } & {
    [K in OptionalKeys<S>]?: S[K] extends OptionalField<infer G> ? Infer<G> : never;
  }
>;

/** The only error a decoder throws: where in the value the problem is and what it is. */
export class DecodeError extends Error {
  override readonly name = 'DecodeError';
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(`${path || '<root>'}: ${problem}`);
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/**
 * Checks `value` against `field` and returns a fresh value of the described type (unknown struct keys are
 * dropped, byte strings are copied into plain Uint8Arrays so no caller shares a buffer). Throws DecodeError.
 */
export function validate<F extends Field>(field: F, value: unknown, path = ''): Infer<F> {
  return validateAny(field, value, path) as Infer<F>;
}

// The single place where the generic link between a schema and its inferred type is asserted: each branch
// below checks exactly what Infer<> promises for that kind.
function validateAny(field: Field, value: unknown, path: string): unknown {
  switch (field.kind) {
    case 'uint':
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw new DecodeError(path, 'expected an unsigned integer');
      if (value > field.max) throw new DecodeError(path, `integer ${value} above maximum ${field.max}`);
      return value;
    case 'int':
      if (typeof value !== 'number' || !Number.isInteger(value)) throw new DecodeError(path, 'expected an integer');
      if (value < field.min || value > field.max) throw new DecodeError(path, `integer ${value} outside ${field.min}..${field.max}`);
      return value;
    case 'bool':
      if (typeof value !== 'boolean') throw new DecodeError(path, 'expected a boolean');
      return value;
    case 'bytes': {
      if (!(value instanceof Uint8Array)) throw new DecodeError(path, 'expected a byte string');
      if (value.length < field.min || value.length > field.max) {
        throw new DecodeError(path, `byte string of ${value.length} bytes outside ${field.min}..${field.max}`);
      }
      return new Uint8Array(value);
    }
    case 'text':
      if (typeof value !== 'string') throw new DecodeError(path, 'expected a text string');
      if (value.length > field.max) throw new DecodeError(path, `text of ${value.length} characters above maximum ${field.max}`);
      return value;
    case 'enum':
      if (typeof value !== 'string' || !field.values.includes(value)) {
        throw new DecodeError(path, `expected one of ${field.values.join(', ')}`);
      }
      return value;
    case 'list': {
      if (!Array.isArray(value)) throw new DecodeError(path, 'expected a list');
      if (value.length > field.max) throw new DecodeError(path, `list of ${value.length} items above maximum ${field.max}`);
      return value.map((item, index) => validateAny(field.of, item, `${path}[${index}]`));
    }
    case 'struct': {
      if (!isPlainObject(value)) throw new DecodeError(path, 'expected a map');
      const result: Record<string, unknown> = {};
      for (const [key, member] of Object.entries(field.fields)) {
        const memberPath = path ? `${path}.${key}` : key;
        const present = Object.prototype.hasOwnProperty.call(value, key) && value[key] !== undefined;
        if (member.kind === 'optional') {
          if (present) result[key] = validateAny(member.of, value[key], memberPath);
        } else {
          if (!present) throw new DecodeError(memberPath, 'missing');
          result[key] = validateAny(member, value[key], memberPath);
        }
      }
      return result;
    }
    case 'optional':
      return value === undefined ? undefined : validateAny(field.of, value, path);
    default:
      return assertNever(field);
  }
}

/**
 * A copy of `value` fit for traces and logs: sensitive byte strings and texts become a `<redacted N>` marker,
 * other byte strings are shown as short hex.
 */
export function redact(field: Field, value: unknown): unknown {
  switch (field.kind) {
    case 'bytes':
      if (!(value instanceof Uint8Array)) return value;
      if (field.sensitive) return `<redacted ${value.length} bytes>`;
      return value.length <= 32 ? toHex(value) : `${toHex(value.subarray(0, 32))}...(${value.length} bytes)`;
    case 'text':
      return field.sensitive && typeof value === 'string' ? `<redacted ${value.length} characters>` : value;
    case 'list':
      return Array.isArray(value) ? value.map((item) => redact(field.of, item)) : value;
    case 'struct': {
      if (!isPlainObject(value)) return value;
      const result: Record<string, unknown> = {};
      for (const [key, member] of Object.entries(field.fields)) {
        if (value[key] !== undefined) result[key] = redact(member, value[key]);
      }
      return result;
    }
    case 'optional':
      return value === undefined ? undefined : redact(field.of, value);
    case 'uint':
    case 'int':
    case 'bool':
    case 'enum':
      return value;
    default:
      return assertNever(field);
  }
}

/** True when the field or anything inside it is marked sensitive. */
export function containsSensitive(field: Field): boolean {
  switch (field.kind) {
    case 'bytes':
    case 'text':
      return field.sensitive;
    case 'list':
    case 'optional':
      return containsSensitive(field.of);
    case 'struct':
      return Object.values(field.fields).some(containsSensitive);
    case 'uint':
    case 'int':
    case 'bool':
    case 'enum':
      return false;
    default:
      return assertNever(field);
  }
}

/** The message of a thrown value: an Error's message, anything else as a string. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (const byte of bytes) out += byte.toString(16).padStart(2, '0');
  return out;
}

/** Ends every switch over a closed union: a new variant becomes a compile error here. */
export function assertNever(value: never): never {
  throw new Error(`unreachable: ${JSON.stringify(value)}`);
}
