/**
 * fast-check arbitraries derived from the message schema language (messages/schema.ts), and an independent
 * reference checker for differential testing of `validate`.
 *
 *   arbitraryFor(field)  schema-valid values, biased to the edges: 0, 1, max, max-1, empty and maximal byte
 *                        strings and texts, every enum value, absent and present optionals, full lists.
 *   mutantFor(field)     values that are wrong somewhere inside (a wrong type, one past a limit, a missing
 *                        required key, hostile extra keys such as "__proto__"), usually invalid.
 *   conforms(field, v)   our own reading of the schema semantics, written from the documentation, not from
 *                        validate(): the decoders target checks validate() accepts exactly what conforms() does.
 */
import fc from 'fast-check';
import type { Field, Infer } from '../../messages/schema.js';

export interface ArbitraryOptions {
  /** Longest byte string generated freely (longer limits get an occasional exactly-max value). */
  readonly maxBytes?: number;
  readonly maxText?: number;
  readonly maxList?: number;
}

const DEFAULTS = { maxBytes: 96, maxText: 24, maxList: 6 } as const;

/** Hostile object keys: prototype names and near-misses of real field names are added by mutantFor. */
export const HOSTILE_KEYS = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', ''] as const;

function uintArbitrary(max: number): fc.Arbitrary<number> {
  const edges = [...new Set([0, 1, max, Math.max(0, max - 1), Math.floor(max / 2)].filter((value) => value <= max))];
  const bounded = Math.min(max, 0x7fffffff);
  const parts: fc.WeightedArbitrary<number>[] = [
    { arbitrary: fc.constantFrom(...edges), weight: 3 },
    { arbitrary: fc.integer({ min: 0, max: bounded }), weight: 3 },
    { arbitrary: fc.integer({ min: 0, max: Math.min(bounded, 300) }), weight: 2 },
  ];
  if (max > 0x7fffffff) parts.push({ arbitrary: fc.maxSafeNat().filter((value) => value <= max), weight: 1 });
  return fc.oneof(...parts);
}

function intArbitrary(min: number, max: number): fc.Arbitrary<number> {
  const edges = [...new Set([min, max, 0, -1, 1].filter((value) => value >= min && value <= max))];
  return fc.oneof(
    { arbitrary: fc.constantFrom(...edges), weight: 3 },
    { arbitrary: fc.integer({ min: Math.max(min, -0x80000000), max: Math.min(max, 0x7fffffff) }), weight: 3 },
  );
}

function bytesArbitrary(min: number, max: number, cap: number): fc.Arbitrary<Uint8Array> {
  const freeMax = Math.max(min, Math.min(max, cap));
  const parts: fc.WeightedArbitrary<Uint8Array>[] = [{ arbitrary: fc.uint8Array({ minLength: min, maxLength: freeMax }), weight: 8 }];
  // Exactly the limits, filled cheaply (a 64 KiB random array per run would dominate the time).
  parts.push({ arbitrary: fc.tuple(fc.integer({ min: 0, max: 255 }), fc.constantFrom(min, max)).map(([fill, length]) => new Uint8Array(length).fill(fill)), weight: 1 });
  return fc.oneof(...parts);
}

function textArbitrary(max: number, cap: number): fc.Arbitrary<string> {
  const freeMax = Math.min(max, cap);
  return fc.oneof(
    { arbitrary: fc.string({ maxLength: freeMax }), weight: 4 },
    { arbitrary: fc.string({ maxLength: freeMax, unit: 'binary' }).filter((text) => text.length <= max), weight: 2 },
    { arbitrary: fc.constantFrom('', 'x'.repeat(max), '\u0000', '__proto__'.slice(0, max)), weight: 1 },
  );
}

/** Schema-valid values of `field`, biased towards the edges of every limit. */
export function arbitraryFor<F extends Field>(field: F, options: ArbitraryOptions = {}): fc.Arbitrary<Infer<F>> {
  // The one place where the generic link between a schema and its inferred type is asserted (as in validate()).
  return anyArbitrary(field, { ...DEFAULTS, ...options }) as fc.Arbitrary<Infer<F>>;
}

function anyArbitrary(field: Field, options: Required<ArbitraryOptions>): fc.Arbitrary<unknown> {
  switch (field.kind) {
    case 'uint':
      return uintArbitrary(field.max);
    case 'int':
      return intArbitrary(field.min, field.max);
    case 'bool':
      return fc.boolean();
    case 'bytes':
      return bytesArbitrary(field.min, field.max, options.maxBytes);
    case 'text':
      return textArbitrary(field.max, options.maxText);
    case 'enum':
      return fc.constantFrom(...field.values);
    case 'list': {
      const item = anyArbitrary(field.of, options);
      const free = fc.array(item, { maxLength: Math.min(field.max, options.maxList) });
      if (field.max > options.maxList && field.max <= 64) {
        return fc.oneof({ arbitrary: free, weight: 6 }, { arbitrary: fc.array(item, { minLength: field.max, maxLength: field.max }), weight: 1 });
      }
      return free;
    }
    case 'struct': {
      const model: Record<string, fc.Arbitrary<unknown>> = {};
      const requiredKeys: string[] = [];
      for (const [key, member] of Object.entries(field.fields)) {
        if (member.kind === 'optional') {
          model[key] = anyArbitrary(member.of, options);
        } else {
          model[key] = anyArbitrary(member, options);
          requiredKeys.push(key);
        }
      }
      return fc.record(model, { requiredKeys });
    }
    case 'optional':
      return fc.option(anyArbitrary(field.of, options), { nil: undefined });
    default:
      return assertNeverField(field);
  }
}

/** Values of any CBOR-encodable type: what a hostile peer puts where a field should be. */
export function junkArbitrary(): fc.Arbitrary<unknown> {
  return fc.oneof(
    fc.constantFrom(null, true, false, -1, 1.5, -0, 2 ** 53, -(2 ** 53), Number.NaN, Number.POSITIVE_INFINITY, 2 ** 32, 0xffffffff + 1, '', '__proto__'),
    fc.integer(),
    fc.double(),
    fc.string({ maxLength: 8 }),
    fc.uint8Array({ maxLength: 8 }),
    fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }),
    fc.array(fc.integer(), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom('a', '__proto__', 'constructor', 'kind'), fc.integer(), { maxKeys: 2 }),
  );
}

/** Just outside a field's limits or of the wrong type. */
function outOfBounds(field: Field): fc.Arbitrary<unknown> {
  switch (field.kind) {
    case 'uint':
      return fc.constantFrom(-1, field.max + 1, 0.5, field.max + 0.5, 2 ** 64);
    case 'int':
      return fc.constantFrom(field.min - 1, field.max + 1, 0.25);
    case 'bool':
      return fc.constantFrom(0, 1, 'true');
    case 'bytes': {
      const lengths = [field.max + 1, ...(field.min > 0 ? [field.min - 1] : [])];
      return fc.tuple(fc.constantFrom(...lengths), fc.integer({ min: 0, max: 255 })).map(([length, fill]) => new Uint8Array(length).fill(fill));
    }
    case 'text':
      return fc.constantFrom('y'.repeat(field.max + 1), new Uint8Array(2));
    case 'enum':
      return fc.constantFrom(`${field.values[0] ?? ''}x`, (field.values[0] ?? 'a').toUpperCase(), 'toString', '');
    case 'list':
      return fc.constant(new Array(field.max + 1).fill(0));
    case 'struct':
      return fc.constantFrom([], 'map', new Map([['a', 1]]));
    case 'optional':
      return fc.constant(null);
    default:
      return assertNeverField(field);
  }
}

/** Values that are wrong somewhere inside (usually invalid; `conforms` is the judge). */
export function mutantFor(field: Field, options: ArbitraryOptions = {}, depth = 0): fc.Arbitrary<unknown> {
  const all = { ...DEFAULTS, ...options };
  const leaf = fc.oneof({ arbitrary: outOfBounds(field), weight: 2 }, { arbitrary: junkArbitrary(), weight: 1 });
  if (depth > 3) return leaf;
  switch (field.kind) {
    case 'struct': {
      const keys = Object.keys(field.fields);
      const valid = anyArbitrary(field, all) as fc.Arbitrary<Record<string, unknown>>;
      const memberMutants: fc.Arbitrary<unknown>[] = keys.map((key) =>
        fc.tuple(valid, mutantFor(field.fields[key]!, options, depth + 1)).map(([value, bad]) => withKey(value, key, bad)),
      );
      const required = keys.filter((key) => field.fields[key]!.kind !== 'optional');
      const missing = required.length === 0 ? [] : [fc.tuple(valid, fc.constantFrom(...required)).map(([value, key]) => withoutKey(value, key))];
      const extra = fc
        .tuple(valid, fc.constantFrom(...HOSTILE_KEYS, ...keys.map((key) => `${key} `), ...keys.map((key) => key.toUpperCase())), junkArbitrary())
        .map(([value, key, bad]) => withKey(value, key, bad));
      return fc.oneof(...memberMutants, ...missing, extra, leaf);
    }
    case 'list': {
      if (field.max === 0) return leaf;
      const element = fc.tuple(fc.array(anyArbitrary(field.of, all), { maxLength: Math.min(field.max - 1, all.maxList) }), mutantFor(field.of, options, depth + 1), fc.nat())
        .map(([items, bad, at]) => {
          const copy = [...items];
          copy.splice(at % (copy.length + 1), 0, bad);
          return copy;
        });
      return fc.oneof(element, leaf);
    }
    case 'optional':
      return fc.oneof(mutantFor(field.of, options, depth + 1), leaf);
    default:
      return leaf;
  }
}

/** A copy of `value` with own property `key` set (also "__proto__", as an own key, never the prototype). */
export function withKey(value: Record<string, unknown>, key: string, member: unknown): Record<string, unknown> {
  const copy: Record<string, unknown> = {};
  for (const [name, item] of Object.entries(value)) Object.defineProperty(copy, name, { value: item, enumerable: true, configurable: true, writable: true });
  Object.defineProperty(copy, key, { value: member, enumerable: true, configurable: true, writable: true });
  return copy;
}

function withoutKey(value: Record<string, unknown>, key: string): Record<string, unknown> {
  const copy = withKey(value, key, undefined);
  delete copy[key];
  return copy;
}

// ---------------------------------------------------------------------------------------------------------
// Reference semantics (messages/schema.ts documentation): maps are plain objects, unknown keys are ignored, an
// optional member is absent when missing or undefined, byte strings are Uint8Arrays, text length is counted in
// UTF-16 code units (String.length), integers are JS numbers (never bigint).

export function conforms(field: Field, value: unknown): boolean {
  switch (field.kind) {
    case 'uint':
      return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= field.max;
    case 'int':
      return typeof value === 'number' && Number.isInteger(value) && value >= field.min && value <= field.max;
    case 'bool':
      return value === true || value === false;
    case 'bytes':
      return value instanceof Uint8Array && value.length >= field.min && value.length <= field.max;
    case 'text':
      return typeof value === 'string' && value.length <= field.max;
    case 'enum':
      return typeof value === 'string' && field.values.includes(value);
    case 'list':
      return Array.isArray(value) && value.length <= field.max && value.every((item) => conforms(field.of, item));
    case 'struct': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
      const prototype = Object.getPrototypeOf(value);
      if (prototype !== Object.prototype && prototype !== null) return false;
      const record = value as Record<string, unknown>;
      for (const [key, member] of Object.entries(field.fields)) {
        const present = Object.prototype.hasOwnProperty.call(record, key) && record[key] !== undefined;
        if (member.kind === 'optional') {
          if (present && !conforms(member.of, record[key])) return false;
        } else if (!present || !conforms(member, record[key])) {
          return false;
        }
      }
      return true;
    }
    case 'optional':
      return value === undefined || conforms(field.of, value);
    default:
      return assertNeverField(field);
  }
}

/** Paths of every sensitive leaf present in `value` (for the redaction oracle). */
export function sensitivePaths(field: Field, value: unknown, path: (string | number)[] = []): (string | number)[][] {
  switch (field.kind) {
    case 'bytes':
    case 'text':
      return field.sensitive && value !== undefined ? [path] : [];
    case 'list':
      return Array.isArray(value) ? value.flatMap((item, index) => sensitivePaths(field.of, item, [...path, index])) : [];
    case 'struct': {
      if (typeof value !== 'object' || value === null) return [];
      const record = value as Record<string, unknown>;
      return Object.entries(field.fields).flatMap(([key, member]) =>
        Object.prototype.hasOwnProperty.call(record, key) && record[key] !== undefined ? sensitivePaths(member, record[key], [...path, key]) : [],
      );
    }
    case 'optional':
      return value === undefined ? [] : sensitivePaths(field.of, value, path);
    default:
      return [];
  }
}

function assertNeverField(field: never): never {
  throw new Error(`unknown field kind ${JSON.stringify(field)}`);
}
