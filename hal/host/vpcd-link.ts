/**
 * The host board's PC/SC link: this HSM as a virtual smart card of vsmartcard's vpcd reader inside pcscd.
 *
 * Owns one TCP connection to vpcd (the reader LISTENS, the card is the client; default 127.0.0.1:35963, the
 * reader "Virtual PCD 00 00"), its framing, the card-side control protocol and reconnection. It knows nothing of
 * APDU syntax: every command goes to `onApdu`, whose answer (data ‖ SW1 SW2) goes back as exactly one frame.
 * (docs: /work/shared/docs/protocol.md section 6.)
 *
 *   const link = new VpcdLink({
 *     atr: SMARTCARD_HSM_ATR,
 *     onApdu: async (command) => transport.handle(command),   // resolves with response data ‖ SW1 SW2
 *     onPower: (change) => transport.resetSession(change),      // optional; awaited in frame order
 *     onEvent: (event) => console.log(describeVpcdEvent(event)),
 *   });
 *   link.start();
 *   ...
 *   await link.close();
 *
 * Wire format (both directions): 2-byte big-endian length, then the payload. Debian's vpcd 0.8 writes the length
 * and the payload with two send() calls, and a read may also hold several frames, so frames are reassembled by
 * `FrameDecoder` whatever the chunking. Payloads from vpcd:
 *   length 1: control. 00 power off, 01 power on, 02 reset (no reply to these three); 04 get ATR (reply: one
 *             frame holding the ATR). Any other 1-byte payload and empty frames are ignored (event `ignoredFrame`).
 *   length >= 2: a C-APDU. Reply: one frame `data ‖ SW1 SW2`. Malformed commands (2 or 3 bytes) still go to
 *             `onApdu`: the APDU parser answers them with 6700.
 * Frames are handled strictly one at a time in arrival order (vpcd itself waits for each reply), so `onPower`
 * and `onApdu` calls never overlap and a power change is applied before the next command is seen.
 *
 * Attachment: pcscd's vpcd accepts one card per port; a second card's TCP connect succeeds (kernel backlog) but
 * is parked silently until the first leaves. So the link reports `attached` at the first frame it receives on a
 * connection (in practice always GET ATR or POWER ON), not at the TCP connect.
 *
 * Reconnection: when the connection cannot be made or closes, the link retries after a delay that starts at
 * `backoff.initialMs` (250 ms) and doubles up to `backoff.maxMs` (5 s); the delay returns to the initial value
 * after a connection that got attached. Each step is reported through `onEvent`. `close()` stops everything.
 *
 * Response size limit (decided): a vpcd frame carries at most 65535 bytes, so a response holds at most
 * VPCD_MAX_RESPONSE_DATA (65533) data bytes plus the status word. The transport never produces more (its GET
 * RESPONSE splitter is given this limit; an extended Le of 65536 is answered with 65533 bytes and 61xx). If a
 * handler still returns a longer (or a shorter than 2 bytes) response, that is a bug: the link reports
 * `handlerFailed` and answers 6F00 (no precise diagnosis) instead of closing the connection, so the reader stays
 * usable. A rejected `onApdu` promise is answered the same way.
 */
import { createConnection, type Socket } from 'node:net';

/** Handles one C-APDU; resolves with the R-APDU (response data ‖ SW1 SW2, 2..65535 bytes). */
/**
 * Answers one C-APDU with data || SW1 SW2. `session` tells apart the card sessions of different clients of one link
 * (the local socket gives each client its own; vpcd has one reader, session 0).
 */
export type ApduHandler = (command: Uint8Array, session?: number) => Promise<Uint8Array>;

/** A change of the card's power state; the volatile session (selected applet, verified PINs) must be reset. */
export type CardPowerChange = 'powerOff' | 'powerOn' | 'reset';

export const VPCD_DEFAULT_HOST = '127.0.0.1';
/** vpcd's first reader ("Virtual PCD 00 00"); 35964 is the second. */
export const VPCD_DEFAULT_PORT = 35963;
/** Largest payload of one frame (2-byte length). */
export const VPCD_MAX_PAYLOAD = 0xffff;
/** Largest response data before SW1 SW2 that fits one frame: the transport splits longer data with 61xx. */
export const VPCD_MAX_RESPONSE_DATA = VPCD_MAX_PAYLOAD - 2;

/** Control payloads (1 byte) sent by vpcd. */
export const VPCD_CONTROL = { powerOff: 0x00, powerOn: 0x01, reset: 0x02, getAtr: 0x04 } as const;

/** The status word sent when the handler failed or broke the response contract (see the header). */
const NO_PRECISE_DIAGNOSIS = Uint8Array.of(0x6f, 0x00);

export type VpcdDisconnectReason =
  /** The TCP connect failed (e.g. ECONNREFUSED: pcscd is not running or has no vpcd reader). */
  | { readonly kind: 'connectFailed'; readonly message: string }
  /** The TCP connect did not complete within `connectTimeoutMs`. */
  | { readonly kind: 'connectTimeout'; readonly timeoutMs: number }
  /** vpcd closed the connection (pcscd stopped or restarted). */
  | { readonly kind: 'remoteClosed' }
  /** The established connection failed (e.g. ECONNRESET). */
  | { readonly kind: 'socketError'; readonly message: string }
  /** `close()` was called. */
  | { readonly kind: 'closedByUser' };

/** What the link reports; a board prints them with `describeVpcdEvent`. */
export type VpcdEvent =
  | { readonly type: 'connecting'; readonly host: string; readonly port: number; readonly attempt: number }
  | { readonly type: 'connected'; readonly host: string; readonly port: number }
  /** The reader talks to us (first frame on this connection): we are the card in the reader now. */
  | { readonly type: 'attached' }
  | { readonly type: 'powerOff' }
  | { readonly type: 'powerOn' }
  | { readonly type: 'reset' }
  /** `onApdu` or `onPower` failed, or a response broke the size contract; an APDU was answered 6F00. */
  | { readonly type: 'handlerFailed'; readonly during: 'apdu' | CardPowerChange; readonly message: string }
  /** An empty frame or an unknown 1-byte control payload was ignored. */
  | { readonly type: 'ignoredFrame'; readonly length: number; readonly firstByte: number | null }
  | { readonly type: 'disconnected'; readonly reason: VpcdDisconnectReason; readonly wasAttached: boolean }
  | { readonly type: 'retrying'; readonly delayMs: number; readonly attempt: number }
  /** `close()` finished; no further events. */
  | { readonly type: 'closed' };

export type VpcdLinkStatus = 'idle' | 'connecting' | 'connected' | 'attached' | 'waitingToRetry' | 'closed';

export interface VpcdLinkOptions {
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 35963. */
  readonly port?: number;
  /** Answer to GET ATR (at most 33 bytes for a real card; not checked here). */
  readonly atr: Uint8Array;
  readonly onApdu: ApduHandler;
  /** Optional: told of power off/on/reset before the next frame is handled (awaited). */
  readonly onPower?: (change: CardPowerChange) => void | Promise<void>;
  /** Optional: progress and problems, for logging. Must not throw (exceptions are swallowed). */
  readonly onEvent?: (event: VpcdEvent) => void;
  /** Reconnection delays. Default 250 ms doubling up to 5000 ms. */
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
  /** Give up a TCP connect attempt after this long. Default 5000 ms. */
  readonly connectTimeoutMs?: number;
}

/** One line of text per event, for a board's console. */
export function describeVpcdEvent(event: VpcdEvent): string {
  switch (event.type) {
    case 'connecting':
      return `vpcd: connecting to ${event.host}:${event.port} (attempt ${event.attempt})`;
    case 'connected':
      return `vpcd: connected to ${event.host}:${event.port}, waiting for the reader (another card may hold it)`;
    case 'attached':
      return 'vpcd: attached: the reader talks to this card';
    case 'powerOff':
      return 'vpcd: power off';
    case 'powerOn':
      return 'vpcd: power on';
    case 'reset':
      return 'vpcd: reset';
    case 'handlerFailed':
      return `vpcd: ${event.during} handler failed: ${event.message}`;
    case 'ignoredFrame':
      return `vpcd: ignored a frame of ${event.length} byte(s)` +
        (event.firstByte === null ? '' : ` starting ${event.firstByte.toString(16).padStart(2, '0')}`);
    case 'disconnected':
      return `vpcd: disconnected (${describeDisconnectReason(event.reason)})`;
    case 'retrying':
      return `vpcd: retrying in ${event.delayMs} ms (attempt ${event.attempt})`;
    case 'closed':
      return 'vpcd: link closed';
    default:
      return unreachable(event);
  }
}

function describeDisconnectReason(reason: VpcdDisconnectReason): string {
  switch (reason.kind) {
    case 'connectFailed':
      return `connect failed: ${reason.message}`;
    case 'connectTimeout':
      return `connect timed out after ${reason.timeoutMs} ms`;
    case 'remoteClosed':
      return 'closed by vpcd';
    case 'socketError':
      return `socket error: ${reason.message}`;
    case 'closedByUser':
      return 'closed by this program';
    default:
      return unreachable(reason);
  }
}

function unreachable(value: never): never {
  throw new Error(`unreachable: ${JSON.stringify(value)}`);
}

/** The peer announced a frame longer than the decoder accepts; the stream cannot be resynchronised. */
export class FrameTooLargeError extends Error {
  override readonly name = 'FrameTooLargeError';
  constructor(readonly announcedLength: number, readonly maxPayload: number) {
    super(`frame of ${announcedLength} bytes exceeds the limit of ${maxPayload}`);
  }
}

/**
 * Reassembles length-prefixed frames (big-endian length of `headerBytes` bytes, then the payload) from stream
 * chunks of any size: a frame split over many chunks, several frames in one chunk, or both. Used with 2-byte
 * headers for vpcd and 4-byte headers by the local socket link.
 *
 *   const decoder = new FrameDecoder(2, 0xffff);
 *   socket.on('data', (chunk) => { for (const payload of decoder.push(chunk)) handle(payload); });
 *
 * Each returned payload is a fresh copy the caller owns. Amortised O(bytes): data is copied once into a growing
 * buffer and once out.
 */
export class FrameDecoder {
  private buffer = new Uint8Array(1024);
  private start = 0;
  private end = 0;

  constructor(
    readonly headerBytes: 2 | 4,
    readonly maxPayload: number,
  ) {}

  /** Bytes received but not yet returned as a frame. */
  get bufferedBytes(): number {
    return this.end - this.start;
  }

  /** Adds a chunk and returns every frame it completes, in order. Throws FrameTooLargeError (then stays broken). */
  push(chunk: Uint8Array): Uint8Array[] {
    this.append(chunk);
    const frames: Uint8Array[] = [];
    for (;;) {
      const available = this.end - this.start;
      if (available < this.headerBytes) break;
      const length = this.headerBytes === 2
        ? (this.buffer[this.start] << 8) | this.buffer[this.start + 1]
        : ((this.buffer[this.start] << 24) >>> 0) + ((this.buffer[this.start + 1] << 16) | (this.buffer[this.start + 2] << 8) | this.buffer[this.start + 3]);
      if (length > this.maxPayload) throw new FrameTooLargeError(length, this.maxPayload);
      if (available < this.headerBytes + length) break;
      const payloadStart = this.start + this.headerBytes;
      frames.push(this.buffer.slice(payloadStart, payloadStart + length));
      this.start = payloadStart + length;
    }
    if (this.start === this.end) {
      this.start = 0;
      this.end = 0;
    }
    return frames;
  }

  private append(chunk: Uint8Array): void {
    const needed = this.end - this.start + chunk.length;
    if (this.end + chunk.length > this.buffer.length) {
      if (needed <= this.buffer.length / 2) {
        this.buffer.copyWithin(0, this.start, this.end); // compact: plenty of room once the consumed part goes
      } else {
        let capacity = this.buffer.length * 2;
        while (capacity < needed) capacity *= 2;
        const grown = new Uint8Array(capacity);
        grown.set(this.buffer.subarray(this.start, this.end));
        this.buffer = grown;
      }
      this.end -= this.start;
      this.start = 0;
    }
    this.buffer.set(chunk, this.end);
    this.end += chunk.length;
  }
}

/** Encodes one vpcd frame (header and payload in ONE buffer, so it leaves in one segment). */
export function encodeVpcdFrame(payload: Uint8Array): Uint8Array {
  if (payload.length > VPCD_MAX_PAYLOAD) throw new RangeError(`vpcd payload of ${payload.length} bytes exceeds ${VPCD_MAX_PAYLOAD}`);
  const frame = new Uint8Array(2 + payload.length);
  frame[0] = payload.length >>> 8;
  frame[1] = payload.length & 0xff;
  frame.set(payload, 2);
  return frame;
}

/** The link; see the file header. One instance owns at most one connection at a time. */
export class VpcdLink {
  readonly host: string;
  readonly port: number;
  private readonly atr: Uint8Array;
  private readonly onApdu: ApduHandler;
  private readonly onPower: ((change: CardPowerChange) => void | Promise<void>) | undefined;
  private readonly onEvent: ((event: VpcdEvent) => void) | undefined;
  private readonly initialDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly connectTimeoutMs: number;

  private currentStatus: VpcdLinkStatus = 'idle';
  private socket: Socket | null = null;
  /** Incremented per connection, so a reply computed for a dropped connection is never sent on a new one. */
  private generation = 0;
  private attempt = 0;
  private nextDelayMs: number;
  private retryTimer: NodeJS.Timeout | null = null;
  private closing: Promise<void> | null = null;

  constructor(options: VpcdLinkOptions) {
    this.host = options.host ?? VPCD_DEFAULT_HOST;
    this.port = options.port ?? VPCD_DEFAULT_PORT;
    this.atr = Uint8Array.from(options.atr);
    this.onApdu = options.onApdu;
    this.onPower = options.onPower;
    this.onEvent = options.onEvent;
    this.initialDelayMs = options.backoff?.initialMs ?? 250;
    this.maxDelayMs = options.backoff?.maxMs ?? 5000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5000;
    this.nextDelayMs = this.initialDelayMs;
    if (this.atr.length < 2 || this.atr.length > VPCD_MAX_PAYLOAD) throw new RangeError('ATR must be 2..65535 bytes');
    if (!(this.initialDelayMs > 0 && this.maxDelayMs >= this.initialDelayMs)) throw new RangeError('backoff needs 0 < initialMs <= maxMs');
  }

  get status(): VpcdLinkStatus {
    return this.currentStatus;
  }

  /** Starts connecting (and reconnecting until `close()`). Calling it again is a no-op. */
  start(): void {
    if (this.currentStatus !== 'idle') return;
    this.connect();
  }

  /** Stops for good: cancels a pending retry, closes the connection, then reports `closed`. Idempotent. */
  close(): Promise<void> {
    if (this.closing !== null) return this.closing;
    this.closing = new Promise<void>((resolve) => {
      if (this.retryTimer !== null) {
        clearTimeout(this.retryTimer);
        this.retryTimer = null;
      }
      const socket = this.socket;
      const finish = (): void => {
        this.currentStatus = 'closed';
        this.emit({ type: 'closed' });
        resolve();
      };
      if (socket === null || socket.closed) {
        finish();
      } else {
        socket.once('close', finish); // registered after the link's own handler: 'disconnected' comes first
        socket.destroy();
      }
    });
    return this.closing;
  }

  private connect(): void {
    this.attempt += 1;
    this.currentStatus = 'connecting';
    this.emit({ type: 'connecting', host: this.host, port: this.port, attempt: this.attempt });

    const generation = ++this.generation;
    const decoder = new FrameDecoder(2, VPCD_MAX_PAYLOAD);
    const socket = createConnection({ host: this.host, port: this.port });
    this.socket = socket;
    let connected = false;
    let attached = false;
    let failure: VpcdDisconnectReason | null = null;
    /** Frames are handled one after the other: each waits for the previous one's handler and reply. */
    let queue: Promise<void> = Promise.resolve();

    socket.setNoDelay(true);
    socket.setTimeout(this.connectTimeoutMs);
    socket.on('timeout', () => {
      // Only armed until the connection is established (idle established connections are normal).
      failure = { kind: 'connectTimeout', timeoutMs: this.connectTimeoutMs };
      socket.destroy();
    });
    socket.on('connect', () => {
      connected = true;
      socket.setTimeout(0);
      this.currentStatus = 'connected';
      this.emit({ type: 'connected', host: this.host, port: this.port });
    });
    socket.on('data', (chunk: Buffer) => {
      let frames: Uint8Array[];
      try {
        frames = decoder.push(chunk);
      } catch (error) {
        // Unreachable with a 2-byte header and a 65535 limit; kept so a decoder change cannot wedge the link.
        failure = { kind: 'socketError', message: errorMessage(error) };
        socket.destroy();
        return;
      }
      for (const frame of frames) {
        if (!attached) {
          attached = true;
          this.nextDelayMs = this.initialDelayMs;
          this.currentStatus = 'attached';
          this.emit({ type: 'attached' });
        }
        queue = queue.then(() => this.handleFrame(frame, socket, generation));
      }
    });
    socket.on('error', (error: Error) => {
      failure ??= connected
        ? { kind: 'socketError', message: errorMessage(error) }
        : { kind: 'connectFailed', message: errorMessage(error) };
    });
    socket.on('close', () => {
      if (this.socket === socket) this.socket = null;
      const reason: VpcdDisconnectReason = this.closing !== null
        ? { kind: 'closedByUser' }
        : failure ?? (connected ? { kind: 'remoteClosed' } : { kind: 'connectFailed', message: 'closed before connecting' });
      this.emit({ type: 'disconnected', reason, wasAttached: attached });
      if (this.closing === null) this.scheduleRetry();
    });
  }

  private scheduleRetry(): void {
    const delayMs = this.nextDelayMs;
    this.nextDelayMs = Math.min(this.nextDelayMs * 2, this.maxDelayMs);
    this.currentStatus = 'waitingToRetry';
    this.emit({ type: 'retrying', delayMs, attempt: this.attempt + 1 });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.closing === null) this.connect();
    }, delayMs);
  }

  /** Handles one frame; never rejects (the queue of frames must keep going). */
  private async handleFrame(frame: Uint8Array, socket: Socket, generation: number): Promise<void> {
    if (generation !== this.generation || socket.destroyed) return; // the connection is gone
    if (frame.length === 0) {
      this.emit({ type: 'ignoredFrame', length: 0, firstByte: null });
      return;
    }
    if (frame.length === 1) {
      switch (frame[0]) {
        case VPCD_CONTROL.getAtr:
          this.send(socket, generation, this.atr);
          return;
        case VPCD_CONTROL.powerOff:
          return this.powerChange('powerOff');
        case VPCD_CONTROL.powerOn:
          return this.powerChange('powerOn');
        case VPCD_CONTROL.reset:
          return this.powerChange('reset');
        default:
          this.emit({ type: 'ignoredFrame', length: 1, firstByte: frame[0] });
          return;
      }
    }
    let response: Uint8Array;
    try {
      response = await this.onApdu(frame);
      if (!(response instanceof Uint8Array) || response.length < 2 || response.length > VPCD_MAX_PAYLOAD) {
        const length = response instanceof Uint8Array ? response.length : -1;
        this.emit({
          type: 'handlerFailed',
          during: 'apdu',
          message: `response of ${length} bytes is outside 2..${VPCD_MAX_PAYLOAD} (the transport must split long data with 61xx); answered 6F00`,
        });
        response = NO_PRECISE_DIAGNOSIS;
      }
    } catch (error) {
      this.emit({ type: 'handlerFailed', during: 'apdu', message: `${errorMessage(error)}; answered 6F00` });
      response = NO_PRECISE_DIAGNOSIS;
    }
    this.send(socket, generation, response);
  }

  private async powerChange(change: CardPowerChange): Promise<void> {
    this.emit({ type: change });
    if (this.onPower === undefined) return;
    try {
      await this.onPower(change);
    } catch (error) {
      this.emit({ type: 'handlerFailed', during: change, message: errorMessage(error) });
    }
  }

  private send(socket: Socket, generation: number, payload: Uint8Array): void {
    if (generation !== this.generation || socket.destroyed) return;
    socket.write(encodeVpcdFrame(payload));
  }

  private emit(event: VpcdEvent): void {
    if (this.onEvent === undefined) return;
    try {
      this.onEvent(event);
    } catch {
      // A logging listener must not be able to break the link.
    }
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
