/**
 * The field constructors of the schema language (messages/schema.ts has the types, validation and redaction).
 * Protocols import them as a namespace, `import * as t from './fields.js'`, and write `t.struct({ ... })`; a
 * namespace import lets the bundler turn every `t.x` into a direct reference (the Pico bundle is size-bound).
 */
import type { BoolField, BytesField, EnumField, Field, IntField, ListField, OptionalField, StructField, TextField, UintField } from './schema.js';

const DEFAULT_BYTES_MAX = 65_536;
const DEFAULT_TEXT_MAX = 1_024;
const DEFAULT_LIST_MAX = 10_000;

export const uint = (max: number = Number.MAX_SAFE_INTEGER): UintField => ({ kind: 'uint', max });
export const int = (min: number = Number.MIN_SAFE_INTEGER, max: number = Number.MAX_SAFE_INTEGER): IntField => ({ kind: 'int', min, max });
export const bool = (): BoolField => ({ kind: 'bool' });
export const bytes = (options: { min?: number; max?: number; sensitive?: boolean } = {}): BytesField => ({
  kind: 'bytes',
  min: options.min ?? 0,
  max: options.max ?? DEFAULT_BYTES_MAX,
  sensitive: options.sensitive ?? false,
});
export const text = (options: { max?: number; sensitive?: boolean } = {}): TextField => ({
  kind: 'text',
  max: options.max ?? DEFAULT_TEXT_MAX,
  sensitive: options.sensitive ?? false,
});
export const enumOf = <const V extends readonly string[]>(...values: V): EnumField<V> => ({ kind: 'enum', values });
export const list = <F extends Field>(of: F, max: number = DEFAULT_LIST_MAX): ListField<F> => ({ kind: 'list', of, max });
export const struct = <S extends Record<string, Field>>(fields: S): StructField<S> => ({ kind: 'struct', fields });
export const optional = <F extends Field>(of: F): OptionalField<F> => ({ kind: 'optional', of });
