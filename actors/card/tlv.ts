/**
 * BER-TLV as smart cards use it (ISO 7816-4 / CV certificates): one- or two-byte tags, definite lengths up to
 * three length bytes. Parsing never throws past its boundary: malformed input returns undefined.
 *
 *   const fcp = tlv(0x62, tlv(0x83, fileIdBytes), tlv(0x85, options));
 *   const items = parseTlvList(bytes); // [{ tag: 0x62, value }] or undefined when malformed
 */
/** Concatenates byte strings into a fresh array. */
export function concat(...parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

export interface TlvItem {
  readonly tag: number;
  readonly value: Uint8Array;
}

export function encodeLength(length: number): Uint8Array {
  if (length < 0x80) return Uint8Array.of(length);
  if (length <= 0xff) return Uint8Array.of(0x81, length);
  if (length <= 0xffff) return Uint8Array.of(0x82, length >> 8, length & 0xff);
  if (length <= 0xffffff) return Uint8Array.of(0x83, length >> 16, (length >> 8) & 0xff, length & 0xff);
  throw new RangeError(`TLV length ${length} too large`);
}

export function encodeTag(tag: number): Uint8Array {
  if (tag <= 0xff) return Uint8Array.of(tag);
  if (tag <= 0xffff) return Uint8Array.of(tag >> 8, tag & 0xff);
  return Uint8Array.of(tag >> 16, (tag >> 8) & 0xff, tag & 0xff);
}


/** One TLV; several values are concatenated into its value. */
export function tlv(tag: number, ...values: Uint8Array[]): Uint8Array {
  const value = concat(...values);
  return concat(encodeTag(tag), encodeLength(value.length), value);
}

/** Reads one TLV at `offset`; undefined when malformed or truncated. */
export function readTlv(bytes: Uint8Array, offset = 0): { item: TlvItem; next: number } | undefined {
  let position = offset;
  if (position >= bytes.length) return undefined;
  let tag = bytes[position++] ?? 0;
  if ((tag & 0x1f) === 0x1f) {
    // Multi-byte tag: continuation bytes have bit 8 set; we accept up to three tag bytes.
    let count = 0;
    for (;;) {
      if (position >= bytes.length || count >= 2) return undefined;
      const next = bytes[position++] ?? 0;
      tag = (tag << 8) | next;
      count++;
      if ((next & 0x80) === 0) break;
    }
  }
  if (position >= bytes.length) return undefined;
  let length = bytes[position++] ?? 0;
  if (length === 0x80 || length > 0x83) return undefined;
  if (length > 0x80) {
    const count = length - 0x80;
    if (position + count > bytes.length) return undefined;
    length = 0;
    for (let index = 0; index < count; index++) length = length * 256 + (bytes[position++] ?? 0);
  }
  if (position + length > bytes.length) return undefined;
  return { item: { tag, value: bytes.subarray(position, position + length) }, next: position + length };
}

/** Parses a concatenation of TLVs covering `bytes` exactly; undefined when malformed. */
export function parseTlvList(bytes: Uint8Array): TlvItem[] | undefined {
  const items: TlvItem[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const read = readTlv(bytes, offset);
    if (!read) return undefined;
    items.push(read.item);
    offset = read.next;
  }
  return items;
}

export function findTlv(items: readonly TlvItem[], tag: number): Uint8Array | undefined {
  return items.find((item) => item.tag === tag)?.value;
}

export function uintBytes(value: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let rest = value;
  for (let index = length - 1; index >= 0; index--) {
    out[index] = rest & 0xff;
    rest = Math.floor(rest / 256);
  }
  return out;
}

export function readUint(bytes: Uint8Array): number {
  let value = 0;
  for (const byte of bytes) value = value * 256 + byte;
  return value;
}
