/**
 * The device's CBOR codec: what the firmware needs of cbor-x with the option set messages/protocol.ts pins
 * (`useRecords: false, tagUint8Array: false, mapsAsObjects: true, variableMapSize: true`; test/pico-runtime.test.ts
 * checks that protocol.ts still pins exactly that set). tools/build-pico.ts substitutes this module for `cbor-x` in
 * the Pico bundle (cbor-x costs ~30 KB minified there); test/pico-runtime.test.ts checks it against cbor-x.
 *
 * Encodes, to the same bytes as cbor-x: numbers (integers in [-2^32, 2^32) as CBOR integers, anything else as
 * float64, cbor-x's rule), strings, booleans, null, undefined (f7), arrays, plain objects (definite-length maps,
 * keys in Object.keys order) and Uint8Array (untagged byte string): every value the message schemas can hold.
 * Decodes exactly what that encoder produces, to the values cbor-x gives (map keys become property names like
 * cbor-x's `mapsAsObjects`, `__proto__` renamed `__proto_`), and throws on everything else: malformed or truncated
 * data, trailing bytes, nesting deeper than 64, and CBOR that cbor-x would accept but no schema value encodes to
 * (64-bit integers, bigints and other tags, float16/float32, indefinite lengths, non-text map keys, other simple
 * values). Encoding throws on bigints, Map, Set, Date, typed arrays other than Uint8Array and other class instances.
 * Not emulated: lone UTF-16 surrogates and invalid UTF-8 (TextEncoder/TextDecoder replace them).
 */

export interface EncoderOptions {
  readonly useRecords?: boolean;
  readonly tagUint8Array?: boolean;
  readonly mapsAsObjects?: boolean;
  readonly variableMapSize?: boolean;
}

/** Simple values 20..23 (f4..f7). */
const SIMPLE_VALUES = [false, true, null, undefined];
const MAX_DEPTH = 64;
const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

function refuse(): never {
  throw new Error('CBOR data or value not supported on this board');
}

/** The cbor-x `Encoder` surface the firmware uses: `new Encoder(options).encode(value)` and `.decode(bytes)`. */
export class Encoder {
  /** Takes cbor-x's options for its signature; this codec implements the pinned set only. */
  constructor(_options?: EncoderOptions) {}

  encode(value: unknown): Uint8Array {
    let buffer = new Uint8Array(256);
    let length = 0;
    const write = (data: ArrayLike<number>): void => {
      if (length + data.length > buffer.length) {
        const grown = new Uint8Array(2 * (length + data.length));
        grown.set(buffer);
        buffer = grown;
      }
      buffer.set(data, length); // (a Uint8Array stores each number modulo 256)
      length += data.length;
    };
    /** A major type with its argument in the shortest form, as cbor-x writes lengths and integers. */
    const head = (major: number, argument: number): void => {
      const type = major << 5;
      write(argument < 24 ? [type | argument] : argument < 256 ? [type | 24, argument] : argument < 65536 ? [type | 25, argument >> 8, argument] : [type | 26, argument >>> 24, argument >> 16, argument >> 8, argument]);
    };
    const encodeValue = (item: unknown): void => {
      const simple = SIMPLE_VALUES.indexOf(item as boolean);
      if (simple >= 0) write([0xf4 + simple]);
      else if (typeof item == 'number') {
        if (Number.isInteger(item) && item >= -0x100000000 && item < 0x100000000) head(item < 0 ? 1 : 0, item < 0 ? -1 - item : item);
        else {
          const float = new Uint8Array(9);
          new DataView(float.buffer).setFloat64(1, item);
          float[0] = 0xfb;
          write(float);
        }
      } else if (typeof item == 'string') {
        const data = textEncoder.encode(item);
        head(3, data.length);
        write(data);
      } else if (item instanceof Uint8Array) {
        head(2, item.length);
        write(item);
      } else if (Array.isArray(item)) {
        head(4, item.length);
        for (const element of item) encodeValue(element); // (holes as undefined, as cbor-x writes them)
      } else if (typeof item == 'object' && [null, Object.prototype].includes(Object.getPrototypeOf(item))) {
        const keys = Object.keys(item as object);
        head(5, keys.length);
        for (const key of keys) {
          encodeValue(key);
          encodeValue((item as Record<string, unknown>)[key]);
        }
      } else refuse();
    };
    encodeValue(value);
    return buffer.slice(0, length);
  }

  decode(bytes: Uint8Array): unknown {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    let position = 0;
    /** Consumes `count` bytes; returns where they start. */
    const take = (count: number): number => {
      if ((position += count) > bytes.length) refuse();
      return position - count;
    };
    const decodeValue = (depth: number): unknown => {
      const token = bytes[take(1)];
      const major = token >> 5;
      const info = token & 31;
      if (depth > MAX_DEPTH) refuse();
      if (major == 7) return info == 27 ? view.getFloat64(take(8)) : info > 19 && info < 24 ? SIMPLE_VALUES[info - 20] : refuse();
      const argument = info < 24 ? info : info == 24 ? bytes[take(1)] : info == 25 ? view.getUint16(take(2)) : info == 26 ? view.getUint32(take(4)) : refuse();
      if (major < 2) return major ? -1 - argument : argument;
      if (major < 4) {
        const data = bytes.slice(take(argument), position);
        return major == 2 ? data : textDecoder.decode(data);
      }
      if (major == 4) {
        const array: unknown[] = [];
        while (array.length < argument) array.push(decodeValue(depth + 1));
        return array;
      }
      if (major > 5) refuse();
      const object: Record<string, unknown> = {};
      for (let index = 0; index < argument; index++) {
        const key = decodeValue(depth + 1);
        if (typeof key != 'string') refuse();
        object[key == '__proto__' ? '__proto_' : key] = decodeValue(depth + 1);
      }
      return object;
    };
    const value = decodeValue(0);
    if (position < bytes.length) refuse();
    return value;
  }
}
