/**
 * The device's CBOR codec: the subset of cbor-x that messages/protocol.ts pins (`useRecords: false,
 * tagUint8Array: false, mapsAsObjects: true, variableMapSize: true`), producing the same bytes as cbor-x for every
 * value our schemas can hold. tools/build-pico.ts substitutes this module for `cbor-x` in the Pico bundle (cbor-x
 * costs ~30 KB minified there, this ~2 KB); test/pico-runtime.test.ts checks byte equality against cbor-x.
 *
 * Encodes: integers (cbor-x's rules: 32-bit ones as integers, anything else as float64), floats (float64), strings,
 * booleans, null, undefined (f7), arrays, plain objects (definite-length maps, keys in Object.keys order),
 * Uint8Array (byte string, untagged), bigint (64-bit integers, else tags 2/3).
 * Decodes: all of the above plus float16/float32, indefinite-length arrays and maps; 64-bit integers come back as
 * bigint (as cbor-x does); map keys become property names like cbor-x's `mapsAsObjects` (`__proto__` is renamed).
 * Refuses: tags other than 2/3, indefinite-length strings, trailing bytes.
 * Differences from cbor-x on inputs our schemas never produce (documented, not emulated): lone UTF-16 surrogates,
 * invalid UTF-8 text (decoded with TextDecoder's replacement characters), Map/Set/Date/typed arrays other than
 * Uint8Array, cbor-x's record and shared-structure extensions.
 */

export interface EncoderOptions {
  readonly useRecords?: boolean;
  readonly tagUint8Array?: boolean;
  readonly mapsAsObjects?: boolean;
  readonly variableMapSize?: boolean;
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

class Writer {
  bytes = new Uint8Array(256);
  view = new DataView(this.bytes.buffer);
  length = 0;

  room(extra: number): void {
    if (this.length + extra <= this.bytes.length) return;
    let capacity = this.bytes.length * 2;
    while (capacity < this.length + extra) capacity *= 2;
    const grown = new Uint8Array(capacity);
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
    this.view = new DataView(grown.buffer);
  }

  byte(value: number): void {
    this.room(1);
    this.bytes[this.length++] = value;
  }

  /** A major type with its argument, in the shortest form (as cbor-x writes lengths and integers). */
  head(major: number, value: number): void {
    this.room(9);
    const type = major << 5;
    if (value < 0x18) this.bytes[this.length++] = type | value;
    else if (value < 0x100) {
      this.bytes[this.length++] = type | 0x18;
      this.bytes[this.length++] = value;
    } else if (value < 0x10000) {
      this.bytes[this.length++] = type | 0x19;
      this.view.setUint16(this.length, value);
      this.length += 2;
    } else {
      this.bytes[this.length++] = type | 0x1a;
      this.view.setUint32(this.length, value);
      this.length += 4;
    }
  }

  raw(data: Uint8Array): void {
    this.room(data.length);
    this.bytes.set(data, this.length);
    this.length += data.length;
  }
}

function encodeValue(out: Writer, value: unknown): void {
  switch (typeof value) {
    case 'number':
      if (value >>> 0 === value) out.head(0, value);
      else if (value >> 0 === value) out.head(1, ~value);
      else if (value < 0 && value >= -0x100000000 && Math.floor(value) === value) {
        out.byte(0x3a);
        out.room(4);
        out.view.setUint32(out.length, -1 - value);
        out.length += 4;
      } else {
        out.byte(0xfb);
        out.room(8);
        out.view.setFloat64(out.length, value);
        out.length += 8;
      }
      return;
    case 'string': {
      const data = textEncoder.encode(value);
      out.head(3, data.length);
      out.raw(data);
      return;
    }
    case 'boolean':
      out.byte(value ? 0xf5 : 0xf4);
      return;
    case 'undefined':
      out.byte(0xf7);
      return;
    case 'bigint':
      encodeBigint(out, value);
      return;
    case 'object':
      if (value === null) out.byte(0xf6);
      else if (value instanceof Uint8Array) {
        out.head(2, value.length);
        out.raw(value);
      } else if (Array.isArray(value)) {
        out.head(4, value.length);
        for (const item of value) encodeValue(out, item);
      } else if (value instanceof Map || value instanceof Set || value instanceof Date || ArrayBuffer.isView(value)) {
        throw new Error(`cbor: ${Object.prototype.toString.call(value)} is not supported on this board`);
      } else {
        const keys = Object.keys(value);
        out.head(5, keys.length);
        for (const key of keys) {
          encodeValue(out, key);
          encodeValue(out, (value as Record<string, unknown>)[key]);
        }
      }
      return;
    default:
      throw new Error(`Unknown type: ${typeof value}`);
  }
}

const TWO_64 = BigInt(1) << BigInt(64);

function encodeBigint(out: Writer, value: bigint): void {
  if (value >= BigInt(0) && value < TWO_64) {
    out.byte(0x1b);
    out.room(8);
    out.view.setBigUint64(out.length, value);
    out.length += 8;
  } else if (value < BigInt(0) && value > -TWO_64) {
    out.byte(0x3b);
    out.room(8);
    out.view.setBigUint64(out.length, -value - BigInt(1));
    out.length += 8;
  } else {
    let magnitude = value;
    if (value >= BigInt(0)) out.byte(0xc2);
    else {
      out.byte(0xc3);
      magnitude = BigInt(-1) - value;
    }
    const bytes: number[] = [];
    while (magnitude) {
      bytes.push(Number(magnitude & BigInt(0xff)));
      magnitude >>= BigInt(8);
    }
    const data = Uint8Array.from(bytes.reverse());
    out.head(2, data.length);
    out.raw(data);
  }
}

class Reader {
  position = 0;
  readonly view: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  need(count: number): void {
    if (!(this.position + count <= this.bytes.length)) throw new Error('Unexpected end of CBOR data');
  }

  /** The argument of a head; 64-bit arguments as bigint (integers) or a checked number (lengths). */
  argument(info: number, major: number): number | bigint {
    if (info < 0x18) return info;
    const sizes: Record<number, number> = { 0x18: 1, 0x19: 2, 0x1a: 4, 0x1b: 8 };
    const size = sizes[info];
    if (size === undefined) throw new Error(`Unknown token ${info}`);
    this.need(size);
    const at = this.position;
    this.position += size;
    if (size === 1) return this.bytes[at];
    if (size === 2) return this.view.getUint16(at);
    if (size === 4) return this.view.getUint32(at);
    if (major > 1) {
      if (this.view.getUint32(at) > 0) throw new Error('JavaScript does not support arrays, maps, or strings with length over 4294967295');
      return this.view.getUint32(at + 4);
    }
    return this.view.getBigUint64(at);
  }

  length(info: number, major: number): number {
    const length = this.argument(info, major) as number;
    return length;
  }

  isBreak(): boolean {
    if (this.position < this.bytes.length && this.bytes[this.position] === 0xff) {
      this.position++;
      return true;
    }
    return false;
  }

  value(): unknown {
    this.need(1);
    const token = this.bytes[this.position++];
    const major = token >> 5;
    const info = token & 0x1f;
    if (info === 0x1f) return this.indefinite(major);
    switch (major) {
      case 0:
        return this.argument(info, major);
      case 1: {
        const argument = this.argument(info, major);
        return typeof argument === 'bigint' ? ~argument : -1 - argument;
      }
      case 2: {
        const length = this.length(info, major);
        this.need(length);
        return this.bytes.slice(this.position, (this.position += length));
      }
      case 3: {
        const length = this.length(info, major);
        this.need(length);
        return textDecoder.decode(this.bytes.subarray(this.position, (this.position += length)));
      }
      case 4: {
        const length = this.length(info, major);
        if (length > this.bytes.length - this.position) throw new Error('Unexpected end of CBOR data');
        const array: unknown[] = [];
        for (let index = 0; index < length; index++) array.push(this.value());
        return array;
      }
      case 5: {
        const length = this.length(info, major);
        if (length > (this.bytes.length - this.position) / 2) throw new Error('Unexpected end of CBOR data');
        const object: Record<string, unknown> = {};
        for (let index = 0; index < length; index++) {
          const key = safeKey(this.value());
          object[key] = this.value();
        }
        return object;
      }
      case 6: {
        const tag = this.argument(info, major);
        if (tag === 2 || tag === 3) {
          const data = this.value();
          if (!(data instanceof Uint8Array)) throw new Error('cbor: a bignum tag needs a byte string');
          let magnitude = BigInt(0);
          for (const byte of data) magnitude = (magnitude << BigInt(8)) | BigInt(byte);
          return tag === 2 ? magnitude : BigInt(-1) - magnitude;
        }
        throw new Error(`cbor: tag ${String(tag)} is not supported on this board`);
      }
      default:
        return this.simple(info);
    }
  }

  simple(info: number): unknown {
    switch (info) {
      case 20:
        return false;
      case 21:
        return true;
      case 22:
        return null;
      case 23:
        return undefined;
      case 0x19: {
        this.need(2);
        const half = this.view.getUint16(this.position);
        this.position += 2;
        return float16(half);
      }
      case 0x1a: {
        this.need(4);
        const value = this.view.getFloat32(this.position);
        this.position += 4;
        return value;
      }
      case 0x1b: {
        this.need(8);
        const value = this.view.getFloat64(this.position);
        this.position += 8;
        return value;
      }
      case 0x18:
        this.need(1);
        this.position++;
        throw new Error('cbor: simple values are not supported on this board');
      default:
        throw new Error(`cbor: simple value ${info} is not supported on this board`);
    }
  }

  indefinite(major: number): unknown {
    if (major === 4) {
      const array: unknown[] = [];
      while (!this.isBreak()) array.push(this.value());
      return array;
    }
    if (major === 5) {
      const object: Record<string, unknown> = {};
      while (!this.isBreak()) {
        const key = safeKey(this.value());
        object[key] = this.value();
      }
      return object;
    }
    if (major === 2 || major === 3) throw new Error('Indefinite length not supported for byte or text strings');
    if (major === 7) throw new Error('Unexpected break stop code outside of an indefinite-length item');
    throw new Error(`Invalid major type for indefinite length ${major}`);
  }
}

function float16(half: number): number {
  const exponent = (half >> 10) & 0x1f;
  const fraction = half & 0x3ff;
  const sign = half & 0x8000 ? -1 : 1;
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

function safeKey(key: unknown): string {
  if (typeof key === 'string') return key === '__proto__' ? '__proto_' : key;
  if (typeof key === 'number' || typeof key === 'boolean' || typeof key === 'bigint') return key.toString();
  if (key === null || key === undefined) return `${key}`;
  throw new Error(`Invalid property name type ${typeof key}`);
}

/** The cbor-x `Encoder` surface the project uses: `new Encoder(options).encode(value)` and `.decode(bytes)`. */
export class Encoder {
  constructor(options: EncoderOptions = {}) {
    if (options.useRecords !== false || options.tagUint8Array !== false || options.mapsAsObjects !== true || options.variableMapSize !== true) {
      throw new Error('the device CBOR codec implements only the pinned option set of messages/protocol.ts');
    }
  }

  encode(value: unknown): Uint8Array {
    const out = new Writer();
    encodeValue(out, value);
    return out.bytes.slice(0, out.length);
  }

  decode(bytes: Uint8Array): unknown {
    const reader = new Reader(bytes);
    const value = reader.value();
    if (reader.position !== bytes.length) throw new Error('Data read, but end of buffer not reached');
    return value;
  }
}

export function encode(value: unknown): Uint8Array {
  const out = new Writer();
  encodeValue(out, value);
  return out.bytes.slice(0, out.length);
}

export function decode(bytes: Uint8Array): unknown {
  const reader = new Reader(bytes);
  const value = reader.value();
  if (reader.position !== bytes.length) throw new Error('Data read, but end of buffer not reached');
  return value;
}
