/**
 * The Pico's link to the host: hal/serial-framing.ts over Kaluma's USB CDC console (process.stdin/stdout).
 *
 * Kaluma's event loop gives waiting console input to the REPL, so the device reads only inside its own
 * synchronous read loop (`serve`), and the conversation is half duplex, led by the host (tools/bridge.ts): the host
 * sends one frame, the device answers it, and only then may the host send again. The loop:
 *   - answers PING and INFO requests inline;
 *   - on an APDU or POWER frame leaves the loop, lets the event loop run the actors (promises, timers), sends
 *     KEEP_ALIVE frames every `keepAliveMs` while it works, and when the command is done and the device is quiet
 *     again sends the reply and re-enters the loop in the same JavaScript job, so no host byte can reach the REPL
 *     between the reply and the next read;
 *   - answers a repeated sequence number with the cached reply (a host retry never executes a command twice);
 *   - feeds the watchdog and animates the LED while it waits.
 */
import { encodeFrame, FrameDecoder, FrameType, RejectReason, utf8, type Frame } from '../serial-framing.js';
import type { Led } from '../types.js';
import { detached, kaluma } from './kaluma.js';

export type PowerEvent = 'on' | 'off' | 'reset';

export interface SerialLinkHandlers {
  apdu(command: Uint8Array): Promise<Uint8Array>;
  power(event: PowerEvent): Promise<void>;
  /** Device information (UTF-8 JSON) for INFO requests. */
  info(): Uint8Array;
  /** Resolves when nothing is left to do (scheduler idle); the reply is sent after it. */
  settle(): Promise<void>;
}

export interface SerialLinkOptions {
  readonly handlers: SerialLinkHandlers;
  readonly led: Led & { tick(): void };
  readonly feedWatchdog: () => void;
  readonly keepAliveMs?: number;
  /** Feed the watchdog at least this often while waiting (ms). */
  readonly feedEveryMs?: number;
  /** Largest frame payload accepted (bytes). */
  readonly maxPayload?: number;
}

const NO_PRECISE_DIAGNOSIS = Uint8Array.of(0x6f, 0x00);
const POWER_EVENTS: readonly PowerEvent[] = ['off', 'on', 'reset'];

export class PicoSerialLink {
  private readonly decoder: FrameDecoder;
  private readonly queue: Frame[] = [];
  private busySeq: number | undefined;
  private lastSeq = -1;
  private lastReply: Uint8Array | undefined;
  private lastKeepAlive = 0;
  private lastFeed = 0;
  private keepAliveTimer: number | undefined;
  private stopped = false;
  readonly counters = { frames: 0, commands: 0, retries: 0, keepAlives: 0, discarded: 0 };

  constructor(private readonly options: SerialLinkOptions) {
    this.decoder = new FrameDecoder(options.maxPayload ?? 4096, () => {
      this.counters.discarded++;
    });
  }

  get busy(): boolean {
    return this.busySeq !== undefined;
  }

  send(type: number, seq: number, payload?: Uint8Array): void {
    kaluma().process.stdout.write(detached(encodeFrame(type, seq, payload)));
  }

  log(text: string): void {
    this.send(FrameType.log, 0, utf8.encode(text.length > 512 ? `${text.slice(0, 509)}...` : text));
  }

  /** Sends a keep-alive if a command is running and none was sent for `keepAliveMs` (also from long sync work). */
  keepAliveIfDue(): void {
    if (this.busySeq === undefined) return;
    const now = kaluma().millis();
    if (now - this.lastKeepAlive < (this.options.keepAliveMs ?? 1000)) return;
    this.lastKeepAlive = now;
    this.counters.keepAlives++;
    this.send(FrameType.keepAlive, this.busySeq);
  }

  stop(): void {
    this.stopped = true;
  }

  /** The read loop: returns when a command was handed to the actors (it re-enters by itself when done). */
  serve(): void {
    const { led } = this.options;
    led.show('idle');
    this.send(FrameType.ready, this.lastSeq & 0xff);
    const stdin = kaluma().process.stdin;
    const feedEvery = this.options.feedEveryMs ?? 1000;
    while (!this.stopped) {
      while (this.queue.length > 0) {
        if (this.accept(this.queue.shift() as Frame)) return;
      }
      const chunk = stdin.read();
      if (chunk !== null && chunk.length > 0) {
        for (const frame of this.decoder.push(chunk)) this.queue.push(frame);
        continue;
      }
      const now = kaluma().millis();
      if (now - this.lastFeed >= feedEvery) {
        this.lastFeed = now;
        this.options.feedWatchdog();
      }
      led.tick();
    }
  }

  /** Handles one frame inside the loop; true when the loop must be left (async work started). */
  private accept(frame: Frame): boolean {
    this.counters.frames++;
    switch (frame.type) {
      case FrameType.ping:
        this.send(FrameType.pong, frame.seq, frame.payload);
        return false;
      case FrameType.infoRequest:
        this.send(FrameType.info, frame.seq, this.options.handlers.info());
        return false;
      case FrameType.apdu:
      case FrameType.power: {
        if (frame.seq === this.lastSeq && this.lastReply) {
          this.counters.retries++;
          kaluma().process.stdout.write(this.lastReply);
          return false;
        }
        if (frame.type === FrameType.power && (frame.payload.length !== 1 || frame.payload[0] > 2)) {
          this.send(FrameType.rejected, frame.seq, Uint8Array.of(RejectReason.malformed));
          return false;
        }
        this.run(frame);
        return true;
      }
      default:
        this.send(FrameType.rejected, frame.seq, Uint8Array.of(RejectReason.unknownType));
        return false;
    }
  }

  private run(frame: Frame): void {
    const { handlers, led } = this.options;
    this.busySeq = frame.seq;
    this.counters.commands++;
    this.lastKeepAlive = kaluma().millis();
    led.show('busy');
    this.keepAliveTimer = kaluma().setInterval(() => {
      this.options.feedWatchdog();
      led.tick();
      this.keepAliveIfDue();
    }, 200);
    const work: Promise<Uint8Array> =
      frame.type === FrameType.apdu
        ? handlers.apdu(frame.payload).then(
            (response) => encodeFrame(FrameType.response, frame.seq, response),
            () => encodeFrame(FrameType.response, frame.seq, NO_PRECISE_DIAGNOSIS),
          )
        : handlers.power(POWER_EVENTS[frame.payload[0]]).then(
            () => encodeFrame(FrameType.powerDone, frame.seq),
            () => encodeFrame(FrameType.powerDone, frame.seq),
          );
    work
      .then((reply) => handlers.settle().then(() => reply))
      .then((reply) => {
        if (this.keepAliveTimer !== undefined) kaluma().clearInterval(this.keepAliveTimer);
        this.keepAliveTimer = undefined;
        this.busySeq = undefined;
        this.lastSeq = frame.seq;
        this.lastReply = detached(reply);
        kaluma().process.stdout.write(this.lastReply);
        this.options.feedWatchdog();
        // Same job: straight back into the read loop (see the file header).
        this.serve();
      });
  }
}
