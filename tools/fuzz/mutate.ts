/**
 * Byte-level mutations of valid encodings (the classic fuzzer moves): bit flips, byte sets, inserts, deletes,
 * truncation, duplication of a slice and "interesting" values (00, FF, 7F, 80, CBOR headers of huge lengths).
 */
import fc from 'fast-check';

export type Mutation =
  | { readonly op: 'flip'; readonly at: number; readonly bit: number }
  | { readonly op: 'set'; readonly at: number; readonly value: number }
  | { readonly op: 'insert'; readonly at: number; readonly bytes: readonly number[] }
  | { readonly op: 'delete'; readonly at: number; readonly count: number }
  | { readonly op: 'truncate'; readonly at: number }
  | { readonly op: 'duplicate'; readonly at: number; readonly count: number };

const INTERESTING = [0x00, 0xff, 0x7f, 0x80, 0x01, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1f, 0x40, 0x5f, 0x60, 0x7b, 0x9f, 0xa0, 0xbf, 0xc0, 0xd8, 0xf4, 0xf5, 0xf6, 0xf7, 0xfa, 0xfb];

export function mutationArbitrary(): fc.Arbitrary<Mutation> {
  const at = fc.nat({ max: 0xffff });
  return fc.oneof(
    fc.record({ op: fc.constant('flip' as const), at, bit: fc.integer({ min: 0, max: 7 }) }),
    fc.record({ op: fc.constant('set' as const), at, value: fc.oneof(fc.constantFrom(...INTERESTING), fc.integer({ min: 0, max: 255 })) }),
    fc.record({ op: fc.constant('insert' as const), at, bytes: fc.array(fc.oneof(fc.constantFrom(...INTERESTING), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 9 }) }),
    fc.record({ op: fc.constant('delete' as const), at, count: fc.integer({ min: 1, max: 8 }) }),
    fc.record({ op: fc.constant('truncate' as const), at }),
    fc.record({ op: fc.constant('duplicate' as const), at, count: fc.integer({ min: 1, max: 16 }) }),
  );
}

/** Applies mutations in order; positions wrap around the current length. Pure. */
export function applyMutations(input: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let bytes = Array.from(input);
  for (const mutation of mutations) {
    const length = bytes.length;
    const position = length === 0 ? 0 : mutation.at % length;
    switch (mutation.op) {
      case 'flip':
        if (length > 0) bytes[position] ^= 1 << mutation.bit;
        break;
      case 'set':
        if (length > 0) bytes[position] = mutation.value;
        break;
      case 'insert':
        bytes.splice(length === 0 ? 0 : mutation.at % (length + 1), 0, ...mutation.bytes);
        break;
      case 'delete':
        bytes.splice(position, mutation.count);
        break;
      case 'truncate':
        bytes = bytes.slice(0, length === 0 ? 0 : mutation.at % length);
        break;
      case 'duplicate':
        bytes.splice(position, 0, ...bytes.slice(position, position + mutation.count));
        break;
    }
  }
  return Uint8Array.from(bytes);
}

/** `base` mutated 1..4 times (the result, so fast-check shrinks the base and the mutations together). */
export function mutatedArbitrary(base: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc.tuple(base, fc.array(mutationArbitrary(), { minLength: 1, maxLength: 4 })).map(([bytes, mutations]) => applyMutations(bytes, mutations));
}
