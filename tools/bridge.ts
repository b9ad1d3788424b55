/**
 * `npm run bridge -- --port /dev/ttyACM0 [--vpcd HOST:PORT]` (the future `pico-hsm bridge`): relays between a
 * Pico's serial link (hal/serial-framing.ts) and pcscd's vpcd reader, so OpenSC and every PKCS#11 application see
 * the board as a smart card. `--simulated` runs the firmware bundle in the Kaluma simulation instead of a real
 * port (`--bundle FILE`, default: built on the fly; `--flash FILE` keeps its flash area between runs).
 *
 * The real port is a plain TTY: `stty -F PORT raw -echo 115200` (via child_process), then node:tty streams on the
 * device path (no serialport package: it needs a native build). The conversation is half duplex and host led
 * (see hal/serial-framing.ts): one frame, then its answer; KEEP_ALIVE frames extend the wait while the board
 * works; a frame that got no sign of life is sent again with the same sequence number (the board answers a
 * repeat from its cache, it never runs a command twice).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SMARTCARD_HSM_ATR } from '../actors/transport.js';
import { VpcdLink, VPCD_DEFAULT_HOST, VPCD_DEFAULT_PORT, describeVpcdEvent } from '../hal/host/vpcd-link.js';
import { encodeFrame, FrameDecoder, FrameType, utf8, type Frame } from '../hal/serial-framing.js';
import { openRawTty } from './tty-streams.js';

export interface BytePort {
  write(bytes: Uint8Array): void;
  onData(listener: (bytes: Uint8Array) => void): () => void;
  close?(): Promise<void> | void;
}

export interface PicoSessionOptions {
  readonly log?: (line: string) => void;
  /** How long to wait for any sign of life (reply or keep-alive) before sending the frame again. */
  readonly silenceTimeoutMs?: number;
  readonly attempts?: number;
}

interface Waiting {
  readonly seq: number;
  readonly replyType: number;
  readonly encoded: Uint8Array;
  attempts: number;
  timer: NodeJS.Timeout | undefined;
  resolve(frame: Frame): void;
  reject(error: Error): void;
}

/** The host side of the serial conversation with one board. Requests are queued and sent one at a time. */
export class PicoSession {
  private readonly decoder: FrameDecoder;
  private readonly unsubscribe: () => void;
  private seq = 0;
  private waiting: Waiting | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly log: (line: string) => void;
  readonly stats = { keepAlives: 0, retries: 0, readyFrames: 0 };

  constructor(
    private readonly port: BytePort,
    private readonly options: PicoSessionOptions = {},
  ) {
    this.log = options.log ?? (() => undefined);
    this.decoder = new FrameDecoder(0x10000 + 16);
    this.unsubscribe = port.onData((bytes) => {
      for (const frame of this.decoder.push(bytes)) this.onFrame(frame);
    });
  }

  /**
   * Waits for the board's READY frame (sent when it enters its read loop: anything sent before would land in the
   * REPL), up to `readyWaitMs`, then pings until the board answers (a board already running sends no READY).
   */
  async connect(timeoutMs = 60_000, readyWaitMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    if (this.stats.readyFrames === 0) {
      await new Promise<void>((resolvePromise) => {
        const started = Date.now();
        const poll = setInterval(() => {
          if (this.stats.readyFrames > 0 || Date.now() - started > readyWaitMs) {
            clearInterval(poll);
            resolvePromise();
          }
        }, 20);
      });
    }
    for (;;) {
      try {
        await this.request(FrameType.ping, utf8.encode('hello'), FrameType.pong, { silenceTimeoutMs: 500, attempts: 1 });
        return;
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`the board does not answer: ${(error as Error).message}`);
      }
    }
  }

  async info(): Promise<Record<string, unknown>> {
    const frame = await this.request(FrameType.infoRequest, new Uint8Array(0), FrameType.info);
    return JSON.parse(utf8.decode(frame.payload)) as Record<string, unknown>;
  }

  async apdu(command: Uint8Array): Promise<Uint8Array> {
    return (await this.request(FrameType.apdu, command, FrameType.response)).payload;
  }

  async power(event: 'on' | 'off' | 'reset'): Promise<void> {
    await this.request(FrameType.power, Uint8Array.of(event === 'off' ? 0 : event === 'on' ? 1 : 2), FrameType.powerDone);
  }

  close(): void {
    this.unsubscribe();
    if (this.waiting) {
      clearTimeout(this.waiting.timer);
      this.waiting.reject(new Error('session closed'));
      this.waiting = undefined;
    }
  }

  private request(type: number, payload: Uint8Array, replyType: number, overrides: PicoSessionOptions = {}): Promise<Frame> {
    const run = () =>
      new Promise<Frame>((resolvePromise, rejectPromise) => {
        this.seq = (this.seq + 1) & 0xff;
        const waiting: Waiting = {
          seq: this.seq,
          replyType,
          encoded: encodeFrame(type, this.seq, payload),
          attempts: 0,
          timer: undefined,
          resolve: resolvePromise,
          reject: rejectPromise,
        };
        this.waiting = waiting;
        const silence = overrides.silenceTimeoutMs ?? this.options.silenceTimeoutMs ?? 15_000;
        const attempts = overrides.attempts ?? this.options.attempts ?? 3;
        const send = () => {
          waiting.attempts++;
          if (waiting.attempts > 1) this.stats.retries++;
          this.port.write(waiting.encoded);
          this.arm(waiting, silence, () => {
            if (waiting.attempts >= attempts) {
              this.waiting = undefined;
              rejectPromise(new Error(`no answer to frame type ${type} seq ${waiting.seq} after ${attempts} attempt(s)`));
            } else send();
          });
        };
        send();
      });
    const result = this.chain.then(run, run);
    this.chain = result.catch(() => undefined);
    return result;
  }

  private arm(waiting: Waiting, milliseconds: number, onSilence: () => void): void {
    clearTimeout(waiting.timer);
    const timer = setTimeout(onSilence, milliseconds);
    (waiting as { timer: NodeJS.Timeout | undefined }).timer = timer;
    (waiting as { rearm?: () => void }).rearm = () => this.arm(waiting, milliseconds, onSilence);
  }

  private onFrame(frame: Frame): void {
    switch (frame.type) {
      case FrameType.log:
        this.log(`board: ${utf8.decode(frame.payload)}`);
        return;
      case FrameType.ready:
        this.stats.readyFrames++;
        return;
      case FrameType.keepAlive:
        if (this.waiting && frame.seq === this.waiting.seq) {
          this.stats.keepAlives++;
          (this.waiting as { rearm?: () => void }).rearm?.();
        }
        return;
      case FrameType.rejected:
        if (this.waiting && frame.seq === this.waiting.seq) {
          const waiting = this.waiting;
          this.waiting = undefined;
          clearTimeout(waiting.timer);
          waiting.reject(new Error(`the board rejected the frame (reason ${frame.payload[0]})`));
        }
        return;
      default:
        if (this.waiting && frame.type === this.waiting.replyType && frame.seq === this.waiting.seq) {
          const waiting = this.waiting;
          this.waiting = undefined;
          clearTimeout(waiting.timer);
          waiting.resolve(frame);
        }
        // Anything else (an echo of our own frames by the REPL, a late duplicate) is ignored.
        return;
    }
  }
}

/** A serial device path as a byte port (raw mode, Node's TTY streams: tools/tty-streams.ts says why not fs streams). */
export function openTty(path: string, baud = 115200): BytePort {
  if (!existsSync(path)) throw new Error(`${path} does not exist (is the Pico plugged in and running Kaluma? \`ls /dev/ttyACM*\`)`);
  const { input, output, close } = openRawTty(path, baud);
  const listeners = new Set<(bytes: Uint8Array) => void>();
  input.on('data', (chunk: Buffer) => {
    for (const listener of listeners) listener(chunk);
  });
  return {
    write(bytes) {
      // Small pieces: the board's console ring buffer holds 2 KB.
      for (let offset = 0; offset < bytes.length; offset += 512) output.write(Buffer.from(bytes.subarray(offset, offset + 512)));
    },
    onData(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close,
  };
}

export interface BridgeOptions {
  readonly port: BytePort;
  readonly vpcd: { host: string; port: number };
  readonly log: (line: string) => void;
}

/** Connects to the board, then serves vpcd until `close()`. */
export async function startBridge(options: BridgeOptions): Promise<{ session: PicoSession; link: VpcdLink; info: Record<string, unknown>; close(): Promise<void> }> {
  const session = new PicoSession(options.port, { log: options.log });
  await session.connect();
  const info = await session.info();
  options.log(`board: ${JSON.stringify(info)}`);
  const link = new VpcdLink({
    host: options.vpcd.host,
    port: options.vpcd.port,
    atr: SMARTCARD_HSM_ATR,
    onApdu: (command) => session.apdu(command),
    onPower: (change) => session.power(change === 'powerOff' ? 'off' : change === 'powerOn' ? 'on' : 'reset'),
    onEvent: (event) => options.log(describeVpcdEvent(event)),
  });
  link.start();
  return {
    session,
    link,
    info,
    async close() {
      await link.close();
      session.close();
      await options.port.close?.();
    },
  };
}

function argument(args: string[], name: string): string | undefined {
  const index = args.indexOf(name);
  return index >= 0 ? args[index + 1] : undefined;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const log = (line: string) => console.log(line);
  const vpcdText = argument(args, '--vpcd');
  const [vpcdHost, vpcdPort] = vpcdText ? vpcdText.split(':') : [VPCD_DEFAULT_HOST, String(VPCD_DEFAULT_PORT)];
  let port: BytePort;
  let afterClose: (() => void) | undefined;
  if (args.includes('--simulated')) {
    const { startSimulatedPico, newFlashArea } = await import('../test/kaluma-sim/index.js');
    const bundlePath = argument(args, '--bundle');
    let code: string;
    if (bundlePath) code = readFileSync(bundlePath, 'utf8');
    else {
      const { buildPicoBundle, describeBundle } = await import('./build-pico.js');
      const bundle = await buildPicoBundle();
      log(describeBundle(bundle));
      code = bundle.code;
    }
    const flashPath = argument(args, '--flash');
    const flash = newFlashArea();
    if (flashPath && existsSync(flashPath)) new Uint8Array(flash).set(readFileSync(flashPath));
    const pico = await startSimulatedPico({ bundle: code, flash });
    port = { write: (bytes) => pico.write(bytes), onData: (listener) => pico.onData(listener), close: () => pico.stop() };
    afterClose = () => {
      if (flashPath) writeFileSync(flashPath, new Uint8Array(flash));
      for (const problem of pico.problems()) log(`simulation problem: ${problem}`);
    };
    log('bridge: simulated Pico started (Kaluma simulation)');
  } else {
    const path = argument(args, '--port');
    if (!path) throw new Error('usage: npm run bridge -- --port /dev/ttyACM0 [--vpcd HOST:PORT] | --simulated [--bundle FILE] [--flash FILE]');
    port = openTty(path);
    log(`bridge: opened ${path}`);
  }
  const bridge = await startBridge({ port, vpcd: { host: vpcdHost, port: Number(vpcdPort) }, log });
  log('bridge: ready');
  const stop = async () => {
    await bridge.close();
    afterClose?.();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
