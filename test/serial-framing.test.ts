import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc16, encodeFrame, FRAME_DELIMITER, FrameDecoder, FrameType, type Frame } from '../hal/serial-framing.js';

const ascii = (text: string) => new TextEncoder().encode(text);

function splitAt(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let previous = 0;
  for (const point of points) {
    chunks.push(bytes.subarray(previous, point));
    previous = point;
  }
  chunks.push(bytes.subarray(previous));
  return chunks;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

const frameArbitrary = fc.record({
  type: fc.integer({ min: 0, max: 255 }),
  seq: fc.integer({ min: 0, max: 255 }),
  payload: fc.uint8Array({ maxLength: 600 }),
});

describe('serial framing', () => {
  it('uses CRC-16/CCITT-FALSE', () => {
    expect(crc16(ascii('123456789'))).toBe(0x29b1);
  });

  it('never puts a control character (0x03 abort, 0x0D enter) or a bare delimiter inside a frame', () => {
    const payload = Uint8Array.from({ length: 256 }, (_, index) => index);
    const encoded = encodeFrame(FrameType.apdu, 3, payload);
    expect(encoded[0]).toBe(FRAME_DELIMITER);
    expect(encoded[encoded.length - 1]).toBe(FRAME_DELIMITER);
    for (const byte of encoded) expect(byte >= 0x20 && byte !== 0x7f).toBe(true);
    expect(encoded.subarray(1, -1).includes(FRAME_DELIMITER)).toBe(false);
  });

  it('round-trips any frames whatever the chunking', () => {
    fc.assert(
      fc.property(fc.array(frameArbitrary, { maxLength: 6 }), fc.array(fc.nat(), { maxLength: 12 }), (frames, cuts) => {
        const stream = concat(...frames.map((frame) => encodeFrame(frame.type, frame.seq, frame.payload)));
        const decoder = new FrameDecoder();
        const decoded: Frame[] = [];
        for (const chunk of splitAt(stream, cuts)) decoded.push(...decoder.push(chunk));
        expect(decoded).toEqual(frames.map((frame) => ({ type: frame.type, seq: frame.seq, payload: Uint8Array.from(frame.payload) })));
        expect(decoder.stats.discarded).toBe(0);
      }),
    );
  });

  it('resynchronises after garbage: REPL text, truncated and corrupted frames', () => {
    fc.assert(
      fc.property(
        fc.array(frameArbitrary, { minLength: 1, maxLength: 4 }),
        fc.array(fc.uint8Array({ maxLength: 80 }), { maxLength: 4 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (frames, garbage, cuts) => {
          // Garbage is anything, but a garbage run that happens to end with a delimiter must not glue onto a frame:
          // the decoder guarantees every intact frame that follows a delimiter is delivered.
          const parts: Uint8Array[] = [];
          frames.forEach((frame, index) => {
            parts.push(garbage[index] ?? new Uint8Array(0));
            parts.push(encodeFrame(frame.type, frame.seq, frame.payload));
          });
          const decoder = new FrameDecoder();
          const decoded: Frame[] = [];
          for (const chunk of splitAt(concat(...parts), cuts)) decoded.push(...decoder.push(chunk));
          // Every real frame comes out, in order; garbage may (very rarely) contain a valid frame by chance: the
          // CRC makes that negligible, and the assertion below tolerates only real frames.
          const expected = frames.map((frame) => ({ type: frame.type, seq: frame.seq, payload: Uint8Array.from(frame.payload) }));
          expect(decoded).toEqual(expected);
        },
      ),
    );
  });

  it('drops a frame with a flipped bit and delivers the next one', () => {
    const first = encodeFrame(FrameType.apdu, 1, ascii('hello'));
    first[5] ^= 0x01;
    const second = encodeFrame(FrameType.apdu, 2, ascii('world'));
    const reasons: string[] = [];
    const decoder = new FrameDecoder(undefined, (reason) => reasons.push(reason));
    const frames = decoder.push(concat(ascii('> .hi\r\nWelcome to Kaluma!\r\n'), first, second));
    expect(frames).toHaveLength(1);
    expect(frames[0].seq).toBe(2);
    expect(reasons.length).toBeGreaterThanOrEqual(2);
  });

  it('discards a truncated frame when the next delimiter arrives', () => {
    const whole = encodeFrame(FrameType.response, 9, new Uint8Array(40).fill(0x41));
    const decoder = new FrameDecoder();
    expect(decoder.push(whole.subarray(0, 20))).toEqual([]);
    const next = encodeFrame(FrameType.response, 10, ascii('ok'));
    const frames = decoder.push(next);
    expect(frames.map((frame) => frame.seq)).toEqual([10]);
    expect(decoder.stats.discarded).toBe(1);
  });

  it('bounds memory: an over-long run is dropped up to the next delimiter', () => {
    const decoder = new FrameDecoder(64);
    const long = concat(Uint8Array.of(FRAME_DELIMITER), new Uint8Array(10_000).fill(0x41));
    expect(decoder.push(long)).toEqual([]);
    expect(decoder.pendingBytes).toBeGreaterThan(64);
    const frames = decoder.push(encodeFrame(FrameType.ping, 1, ascii('x')));
    expect(frames).toHaveLength(1);
    expect(decoder.stats.discarded).toBe(1);
  });
});
