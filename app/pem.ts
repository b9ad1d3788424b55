/**
 * Encodings the management tool reads and writes: hex, base64, PEM armour, and a small DER writer/reader
 * (enough for SubjectPublicKeyInfo, X.509 certificates and PKCS#15 private-key descriptions).
 *
 *   toPem('PUBLIC KEY', spkiDer)          // -----BEGIN PUBLIC KEY----- ...
 *   fromPem(text)                         // { label: 'PUBLIC KEY', der }
 *   decodeInput(bytes, 'auto')            // PEM, hex, base64 or raw bytes, whichever the input is
 *   der.sequence(der.integer(1n), der.oid('1.2.840.10045.2.1'))
 */
import { concatBytes } from '@noble/hashes/utils.js';

import { toHex } from '../messages/schema.js';

export { toHex };

/** Hex with optional whitespace or colons; throws FormatError when it is not hex. */
export function fromHex(text: string): Uint8Array {
  const clean = text.replace(/[\s:]/g, '');
  if (clean.length % 2 !== 0 || /[^0-9a-fA-F]/.test(clean)) throw new FormatError('not valid hex');
  return new Uint8Array(Buffer.from(clean, 'hex'));
}

export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

export function fromBase64(text: string): Uint8Array {
  const clean = text.replace(/\s/g, '');
  if (clean.length === 0 || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(clean)) throw new FormatError('not valid base64');
  return new Uint8Array(Buffer.from(clean, 'base64'));
}

/** Input that does not have the format it was said (or guessed) to have. */
export class FormatError extends Error {
  override readonly name = 'FormatError';
}

export function toPem(label: string, der: Uint8Array): string {
  const body = toBase64(der).replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}

/** The first PEM block of `text`; throws FormatError when there is none or it is damaged. */
export function fromPem(text: string, expectedLabel?: string): { label: string; der: Uint8Array } {
  const match = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/.exec(text);
  if (!match) throw new FormatError(expectedLabel ? `no PEM "${expectedLabel}" block found` : 'no PEM block found');
  const label = match[1] ?? '';
  if (expectedLabel !== undefined && label !== expectedLabel) throw new FormatError(`expected a PEM "${expectedLabel}" block, found "${label}"`);
  return { label, der: fromBase64(match[2] ?? '') };
}

/** All PEM blocks of a text (a certificate chain, say). */
export function allPem(text: string): { label: string; der: Uint8Array }[] {
  const blocks: { label: string; der: Uint8Array }[] = [];
  const pattern = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
  for (let match = pattern.exec(text); match; match = pattern.exec(text)) blocks.push({ label: match[1] ?? '', der: fromBase64(match[2] ?? '') });
  return blocks;
}

export type InputFormat = 'auto' | 'raw' | 'der' | 'hex' | 'base64' | 'pem';
export type OutputFormat = 'raw' | 'der' | 'hex' | 'base64' | 'pem';
export const INPUT_FORMATS: readonly InputFormat[] = ['auto', 'raw', 'der', 'hex', 'base64', 'pem'];
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['raw', 'der', 'hex', 'base64', 'pem'];

const decoder = new TextDecoder('utf-8', { fatal: false });

/**
 * Decodes input bytes of a given format. 'raw' and 'der' are the bytes themselves. 'auto' takes PEM when there is
 * a PEM block, hex when the text is only hex digits (and whitespace), else the bytes as they are. Base64 is never
 * guessed (too many texts are valid base64): say `base64`.
 */
export function decodeInput(bytes: Uint8Array, format: InputFormat): Uint8Array {
  switch (format) {
    case 'raw':
    case 'der':
      return bytes;
    case 'hex':
      return fromHex(decoder.decode(bytes));
    case 'base64':
      return fromBase64(decoder.decode(bytes));
    case 'pem':
      return fromPem(decoder.decode(bytes)).der;
    case 'auto': {
      const text = decoder.decode(bytes);
      if (text.includes('-----BEGIN ')) return fromPem(text).der;
      const trimmed = text.trim();
      if (trimmed.length > 0 && trimmed.length % 2 === 0 && /^[0-9a-fA-F\s:]+$/.test(trimmed) && /^[0-9a-fA-F]/.test(trimmed)) return fromHex(trimmed);
      return bytes;
    }
  }
}

export function encodeOutput(bytes: Uint8Array, format: OutputFormat, pemLabel = 'SIGNATURE'): Uint8Array | string {
  switch (format) {
    case 'raw':
    case 'der':
      return bytes;
    case 'hex':
      return `${toHex(bytes)}\n`;
    case 'base64':
      return `${toBase64(bytes)}\n`;
    case 'pem':
      return toPem(pemLabel, bytes);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// DER

function lengthBytes(length: number): Uint8Array {
  if (length < 0x80) return Uint8Array.of(length);
  const out: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) out.unshift(rest & 0xff);
  return Uint8Array.of(0x80 | out.length, ...out);
}


function oidBytes(dotted: string): Uint8Array {
  const arcs = dotted.split('.').map((arc) => BigInt(arc));
  if (arcs.length < 2) throw new RangeError(`bad OID ${dotted}`);
  const values = [(arcs[0] ?? 0n) * 40n + (arcs[1] ?? 0n), ...arcs.slice(2)];
  const out: number[] = [];
  for (const value of values) {
    const groups: number[] = [];
    let rest = value;
    do {
      groups.unshift(Number(rest & 0x7fn));
      rest >>= 7n;
    } while (rest > 0n);
    for (let index = 0; index < groups.length - 1; index++) groups[index] = (groups[index] ?? 0) | 0x80;
    out.push(...groups);
  }
  return Uint8Array.from(out);
}

/** Minimal DER writer. */
export const der = {
  tlv(tag: number, ...values: Uint8Array[]): Uint8Array {
    const value = concatBytes(...values);
    return concatBytes(Uint8Array.of(tag), lengthBytes(value.length), value);
  },
  sequence(...items: Uint8Array[]): Uint8Array {
    return der.tlv(0x30, ...items);
  },
  set(...items: Uint8Array[]): Uint8Array {
    return der.tlv(0x31, ...items);
  },
  /** INTEGER from a bigint (non-negative) or from unsigned big-endian bytes. */
  integer(value: bigint | number | Uint8Array): Uint8Array {
    let bytes: Uint8Array;
    if (value instanceof Uint8Array) {
      let start = 0;
      while (start < value.length - 1 && value[start] === 0) start++;
      bytes = value.subarray(start);
      if (bytes.length === 0) bytes = Uint8Array.of(0);
    } else {
      let hex = BigInt(value).toString(16);
      if (hex.length % 2) hex = `0${hex}`;
      bytes = new Uint8Array(Buffer.from(hex, 'hex'));
    }
    if ((bytes[0] ?? 0) & 0x80) bytes = concatBytes(Uint8Array.of(0), bytes);
    return der.tlv(0x02, bytes);
  },
  oid(dotted: string): Uint8Array {
    return der.tlv(0x06, oidBytes(dotted));
  },
  null(): Uint8Array {
    return Uint8Array.of(0x05, 0x00);
  },
  bitString(bytes: Uint8Array, unusedBits = 0): Uint8Array {
    return der.tlv(0x03, Uint8Array.of(unusedBits), bytes);
  },
  octetString(bytes: Uint8Array): Uint8Array {
    return der.tlv(0x04, bytes);
  },
  utf8(text: string): Uint8Array {
    return der.tlv(0x0c, new TextEncoder().encode(text));
  },
  bool(value: boolean): Uint8Array {
    return Uint8Array.of(0x01, 0x01, value ? 0xff : 0x00);
  },
  /** UTCTime before 2050, GeneralizedTime from 2050 (RFC 5280 4.1.2.5). */
  time(date: Date): Uint8Array {
    const iso = date.toISOString();
    const digits = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
    const encoder = new TextEncoder();
    return date.getUTCFullYear() < 2050 ? der.tlv(0x17, encoder.encode(digits.slice(2))) : der.tlv(0x18, encoder.encode(digits));
  },
  /** Context-specific constructed [n]. */
  explicit(tagNumber: number, ...values: Uint8Array[]): Uint8Array {
    return der.tlv(0xa0 | tagNumber, ...values);
  },
};

export interface DerNode {
  readonly tag: number;
  /** The whole encoding (tag, length, value). */
  readonly raw: Uint8Array;
  readonly value: Uint8Array;
}

/** Reads one DER element at `offset` (single-byte tags, definite lengths); undefined when malformed. */
export function readDer(bytes: Uint8Array, offset = 0): { node: DerNode; next: number } | undefined {
  if (offset + 2 > bytes.length) return undefined;
  const tag = bytes[offset] ?? 0;
  if ((tag & 0x1f) === 0x1f) return undefined;
  let position = offset + 1;
  let length = bytes[position++] ?? 0;
  if (length === 0x80) return undefined;
  if (length > 0x80) {
    const count = length - 0x80;
    if (count > 4 || position + count > bytes.length) return undefined;
    length = 0;
    for (let index = 0; index < count; index++) length = length * 256 + (bytes[position++] ?? 0);
  }
  if (position + length > bytes.length) return undefined;
  return { node: { tag, raw: bytes.subarray(offset, position + length), value: bytes.subarray(position, position + length) }, next: position + length };
}

/** The children of a constructed DER value; undefined when they do not cover it exactly. */
export function derChildren(value: Uint8Array): DerNode[] | undefined {
  const nodes: DerNode[] = [];
  let offset = 0;
  while (offset < value.length) {
    const read = readDer(value, offset);
    if (!read) return undefined;
    nodes.push(read.node);
    offset = read.next;
  }
  return nodes;
}

/** Decodes DER OID content bytes to dotted form. */
export function oidToString(content: Uint8Array): string {
  const arcs: bigint[] = [];
  let value = 0n;
  for (const byte of content) {
    value = (value << 7n) | BigInt(byte & 0x7f);
    if ((byte & 0x80) === 0) {
      arcs.push(value);
      value = 0n;
    }
  }
  if (arcs.length === 0) return '';
  const first = arcs[0] ?? 0n;
  const head = first < 80n ? [first / 40n, first % 40n] : [2n, first - 80n];
  return [...head, ...arcs.slice(1)].map(String).join('.');
}
