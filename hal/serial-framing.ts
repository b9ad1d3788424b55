/**
 * The serial framing between the Pico (USB CDC, Kaluma) and the host bridge. Pure: no I/O, shared by
 * boards/pico.ts (device side) and tools/bridge.ts (host side).
 *
 * Why a framing at all: Kaluma gives a program one byte stream shared with its REPL. Byte 0x03 aborts the running
 * program, a carriage return makes the REPL evaluate its line buffer, and the REPL (or a crash message, or the
 * boot banner) can write text into the stream at any time. So:
 *
 * Wire format (SLIP/HDLC-like, byte stuffing):
 *
 *     7E | escaped( type | seq | length(2, big-endian) | payload | crc16(2, big-endian) ) | 7E
 *
 * - Every frame starts and ends with the delimiter 7E. Between frames any bytes may appear (REPL text): the decoder
 *   throws away whatever does not form a valid frame and resynchronises on the next delimiter.
 * - Escaping: every byte below 0x20 (all control characters, among them 03 = abort and 0D = Enter), 7D, 7E and 7F
 *   is sent as 7D followed by the byte XOR 0x20. The stream therefore never carries a control character: even if a
 *   frame lands in the REPL (a race, a host bug) it can neither abort the program nor execute a line.
 * - CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) over type..payload; the length must match the payload.
 *
 * Conversation (half duplex, the host leads). Kaluma's event loop hands waiting input to the REPL, so the device
 * only reads while it sits in its own read loop; the host sends one frame and waits for its answer before the next:
 *   host -> device  PING (payload: nonce)          device -> host  PONG (same nonce, then device info text)
 *   host -> device  APDU (C-APDU)                   device -> host  RESPONSE (R-APDU), KEEP_ALIVE while working
 *   host -> device  POWER (1 byte: 0 off, 1 on, 2 reset)  device -> host  POWER_DONE (empty)
 *   device -> host  LOG (UTF-8 text), READY (empty: entered the read loop), REJECTED (1 byte reason, the frame's
 *                   seq in the header) when a frame could not be accepted
 * `seq` pairs a reply with its request; the device answers a repeated seq (a host retry) with its cached reply
 * instead of executing the command twice.
 */

export const FRAME_DELIMITER = 0x7e;
export const FRAME_ESCAPE = 0x7d;
export const FRAME_ESCAPE_XOR = 0x20;
/** Header: type, seq, length (2). Trailer: CRC (2). */
export const FRAME_OVERHEAD = 6;
/** Largest payload the framing carries (an extended APDU with 64 KiB of data fits). */
export const FRAME_MAX_PAYLOAD = 0x10000 + 16;

export const FrameType = {
  /** host -> device: a command APDU. */
  apdu: 0x01,
  /** device -> host: the response APDU (data || SW1 SW2). */
  response: 0x02,
  /** host -> device: card power change, 1 byte (0 off, 1 on, 2 reset). */
  power: 0x03,
  /** device -> host: the power change was applied. */
  powerDone: 0x04,
  /** device -> host: still working on the command with this seq (time extension). */
  keepAlive: 0x05,
  /** host -> device: are you there (payload echoed). */
  ping: 0x06,
  /** device -> host: answer to ping; payload = the ping payload. */
  pong: 0x07,
  /** device -> host: a line of log text (UTF-8). */
  log: 0x08,
  /** device -> host: the device entered its read loop (boot, or after a reply). */
  ready: 0x09,
  /** device -> host: a frame was refused; payload[0] = reason (RejectReason). */
  rejected: 0x0a,
  /** device -> host: device information (UTF-8 JSON: board, algorithms, self-tests). */
  info: 0x0b,
  /** host -> device: send the device information. */
  infoRequest: 0x0c,
} as const;
export type FrameTypeCode = (typeof FrameType)[keyof typeof FrameType];

export const RejectReason = { unknownType: 1, tooLarge: 2, busy: 3, malformed: 4 } as const;

export interface Frame {
  readonly type: number;
  readonly seq: number;
  readonly payload: Uint8Array;
}

/** CRC-16/CCITT-FALSE. crc16(ASCII "123456789") = 0x29B1. */
export function crc16(data: Uint8Array, start = 0, end = data.length, initial = 0xffff): number {
  let crc = initial;
  for (let index = start; index < end; index++) {
    crc ^= data[index] << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

function mustEscape(byte: number): boolean {
  return byte < 0x20 || byte === FRAME_ESCAPE || byte === FRAME_DELIMITER || byte === 0x7f;
}

/** Encodes one frame, delimiters included. The result never contains a byte below 0x20. */
export function encodeFrame(type: number, seq: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  if (payload.length > FRAME_MAX_PAYLOAD) throw new RangeError(`frame payload of ${payload.length} bytes exceeds ${FRAME_MAX_PAYLOAD}`);
  const raw = new Uint8Array(payload.length + FRAME_OVERHEAD);
  raw[0] = type & 0xff;
  raw[1] = seq & 0xff;
  raw[2] = (payload.length >>> 8) & 0xff;
  raw[3] = payload.length & 0xff;
  raw.set(payload, 4);
  const crc = crc16(raw, 0, payload.length + 4);
  raw[payload.length + 4] = crc >>> 8;
  raw[payload.length + 5] = crc & 0xff;
  let escapes = 0;
  for (let index = 0; index < raw.length; index++) if (mustEscape(raw[index])) escapes++;
  const out = new Uint8Array(raw.length + escapes + 2);
  let position = 0;
  out[position++] = FRAME_DELIMITER;
  for (let index = 0; index < raw.length; index++) {
    const byte = raw[index];
    if (mustEscape(byte)) {
      out[position++] = FRAME_ESCAPE;
      out[position++] = byte ^ FRAME_ESCAPE_XOR;
    } else {
      out[position++] = byte;
    }
  }
  out[position] = FRAME_DELIMITER;
  return out;
}

/** Why bytes between two delimiters were thrown away. */
export type DiscardReason = 'tooShort' | 'badCrc' | 'badLength' | 'badEscape' | 'tooLarge' | 'noDelimiter';

export interface DecoderStats {
  frames: number;
  discarded: number;
  discardedBytes: number;
}

/**
 * Streaming decoder: push chunks of any size, get complete valid frames. Garbage (text, truncated or corrupted
 * frames) is counted and dropped; the decoder resynchronises on the next delimiter. Memory is bounded by
 * `maxPayload` (a longer run of bytes is dropped up to the next delimiter).
 */
export class FrameDecoder {
  private buffer: Uint8Array;
  private length = 0;
  /** Inside a frame (a delimiter was seen); bytes before the first delimiter are garbage. */
  private inFrame = false;
  private escaped = false;
  private overflow = false;
  private invalidEscape = false;
  private garbageBytes = 0;
  readonly stats: DecoderStats = { frames: 0, discarded: 0, discardedBytes: 0 };

  constructor(
    readonly maxPayload: number = FRAME_MAX_PAYLOAD,
    private readonly onDiscard?: (reason: DiscardReason, bytes: number) => void,
  ) {
    this.buffer = new Uint8Array(Math.min(maxPayload + FRAME_OVERHEAD, 512));
  }

  push(chunk: Uint8Array): Frame[] {
    const frames: Frame[] = [];
    for (let index = 0; index < chunk.length; index++) {
      const byte = chunk[index];
      if (byte === FRAME_DELIMITER) {
        if (!this.inFrame) {
          if (this.garbageBytes > 0) this.discard('noDelimiter', this.garbageBytes);
          this.garbageBytes = 0;
          this.inFrame = true;
        } else if (this.length > 0 || this.overflow || this.escaped || this.invalidEscape) {
          const frame = this.finish();
          if (frame) frames.push(frame);
        }
        // An empty frame (7E 7E) is the boundary between two frames: stay in frame mode.
        this.reset();
        continue;
      }
      if (!this.inFrame) {
        this.garbageBytes++;
        continue;
      }
      if (this.overflow) {
        this.length++;
        continue;
      }
      let value = byte;
      if (this.escaped) {
        this.escaped = false;
        value = byte ^ FRAME_ESCAPE_XOR;
        if (!mustEscape(value)) this.invalidEscape = true;
      } else if (byte === FRAME_ESCAPE) {
        this.escaped = true;
        continue;
      } else if (byte < 0x20 || byte === 0x7f) {
        // Control characters never appear inside a frame: this is REPL output or line noise.
        this.invalidEscape = true;
      }
      if (this.length >= this.maxPayload + FRAME_OVERHEAD) {
        this.overflow = true;
        this.length++;
        continue;
      }
      if (this.length === this.buffer.length) {
        const grown = new Uint8Array(Math.min(this.buffer.length * 2, this.maxPayload + FRAME_OVERHEAD));
        grown.set(this.buffer);
        this.buffer = grown;
      }
      this.buffer[this.length++] = value;
    }
    return frames;
  }

  /** Bytes held for an unfinished frame. */
  get pendingBytes(): number {
    return this.length;
  }

  private reset(): void {
    this.length = 0;
    this.escaped = false;
    this.overflow = false;
    this.invalidEscape = false;
  }

  private finish(): Frame | undefined {
    const length = this.length;
    if (this.overflow) return this.discard('tooLarge', length);
    if (this.invalidEscape || this.escaped) return this.discard('badEscape', length);
    if (length < FRAME_OVERHEAD) return this.discard('tooShort', length);
    const declared = (this.buffer[2] << 8) | this.buffer[3];
    if (declared !== length - FRAME_OVERHEAD) return this.discard('badLength', length);
    const crc = (this.buffer[length - 2] << 8) | this.buffer[length - 1];
    if (crc16(this.buffer, 0, length - 2) !== crc) return this.discard('badCrc', length);
    this.stats.frames++;
    return { type: this.buffer[0], seq: this.buffer[1], payload: this.buffer.slice(4, length - 2) };
  }

  private discard(reason: DiscardReason, bytes: number): undefined {
    this.stats.discarded++;
    this.stats.discardedBytes += bytes;
    this.onDiscard?.(reason, bytes);
    return undefined;
  }
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder();
export const utf8 = {
  encode: (text: string): Uint8Array => utf8Encoder.encode(text),
  decode: (bytes: Uint8Array): string => utf8Decoder.decode(bytes),
};
