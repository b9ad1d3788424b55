/**
 * A simulated Kaluma 1.2.1 board behind a real TTY, for the flashing tools: `socat` makes a pseudo-terminal pair,
 * the board answers on one end, and the other end's path is the port handed to `kaluma write`, `npm run flash` and
 * `npm run bridge`, exactly as /dev/ttyACM0 would be.
 *
 * What it emulates (Kaluma 1.2.1: src/repl.c, src/ymodem.c, src/prog.c, targets/rp2/src/tty.c; facts, not code):
 * - The REPL: echo, the prompt (`ESC[0m`, `CR ESC 7 "> "`, then the terminal-width query), backspace, a 1024-byte line,
 *   escape sequences swallowed, Ctrl-D soft reset, and the commands `.help .hi .echo .reset .flash .load .mem .gc`
 *   ("Unknown command: ..." otherwise). A line that is not a command would be evaluated as JavaScript: that is not
 *   simulated (it prints an error saying so). Any byte is accepted; nothing it receives can make it throw.
 * - `.flash -w`: Kaluma's YMODEM receiver. It says "Transfer a file via YMODEM... (press 'a' to abort)", then
 *   waits for a packet with a 1 s timeout and asks with 'C' after each timeout (it does not send 'C' first). SOH/STX
 *   packets (128/1024 bytes, CRC-16/XMODEM): a packet with a bad CRC or complement is answered with 'C' (Kaluma does
 *   not NAK it); a packet whose sequence number is not the expected one gets NAK. The header (file name, size) erases
 *   the program area and is answered ACK 'C'; data blocks are programmed (the 0xFF padding beyond the size from the
 *   header is dropped) and ACKed; EOT gets ACK; the empty header ends the session (ACK) and writes the terminating
 *   NUL. 'a'/'A' aborts, CA CA from the sender cancels. After more than 5 errors once a session has begun it sends
 *   CA CA (and keeps waiting, as Kaluma does). Kaluma stores the program as a NUL-terminated string in 128 x 4 KiB
 *   sectors and refuses its 524,288th byte (CA CA, "Verification failed"): files of 512 KiB or more do not fit.
 *   The header is accepted whatever size it announces (header_cb returns 0 in 1.2.1).
 * - `.flash -e` (erase), `-s` (size: strlen of the stored program), `-t` (512 KiB), `-r` (print it, LF as CR LF).
 * - `.load`: runs the stored program in the Kaluma simulation (startSimulatedPico) on the board's flash area, which
 *   the board keeps: a second load (or a re-flash) keeps the HSM's key store. From then on the TTY is relayed to the
 *   program's console and back; byte 0x03 aborts the program (the rest of that read is flushed, as tinyusb's
 *   tud_cdc_read_flush does), prints "Aborted" and gives the line back to the REPL. A watchdog reset reboots: banner,
 *   then the stored program runs again.
 * The program area is blocks 4-131 of the 260-block flash area (KALUMA_PROG_SECTOR_BASE/COUNT of the rp2 pico board).
 *
 * Not modelled: the 2 KB console ring overflowing in the REPL (the REPL and the YMODEM receiver read as bytes come),
 * command history and cursor keys, the time flash erase and programming take, USB re-enumeration on a reset.
 *
 * Everything the tools did is recorded for the test: the REPL commands, every YMODEM transfer (blocks, NAKs, bad
 * packets, the bytes received), the program in flash, the loads, and the program's output.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import vm from 'node:vm';
import { ttyStreams, type TtyStreams } from '../../tools/tty-streams.js';
import { describeProblems, newFlashArea, prepareBundle, startSimulatedPico, type PreparedBundle, type SimulatedPico } from './index.js';

const BLOCK_BYTES = 4096;
const PAGE_BYTES = 256;
export const KALUMA_PROGRAM_FIRST_BLOCK = 4;
export const KALUMA_PROGRAM_BLOCKS = 128;
/** The program area; Kaluma refuses the byte that would fill it (the terminating NUL needs room). */
export const KALUMA_PROGRAM_AREA_BYTES = KALUMA_PROGRAM_BLOCKS * BLOCK_BYTES;
const REPL_LINE_BYTES = 1024;
const KALUMA_VERSION = '1.2.1';

const SOH = 0x01;
const STX = 0x02;
const EOT = 0x04;
const ACK = 0x06;
const NAK = 0x15;
const CA = 0x18;
const ASK_CRC = 0x43; // 'C'
const CTRL_C = 0x03;
const CTRL_D = 0x04;
const ESC = 0x1b;
/** Kaluma's receiver waits this long for a packet (DOWNLOAD_TIMEOUT) and for the rest of one. */
const YMODEM_TIMEOUT_MS = 1000;
/** More errors than this after the session began: CA CA (MAX_ERRORS). */
const YMODEM_MAX_ERRORS = 5;
/** km_delay(500) between the end of a transfer and its result line. */
const YMODEM_RESULT_DELAY_MS = 500;

const latin1 = (text: string): Uint8Array => Uint8Array.from(text, (character) => character.charCodeAt(0) & 0xff);
const RED = '\x1b[31m';
const NORMAL = '\x1b[0m';

/** CRC-16/XMODEM (polynomial 0x1021, initial value 0, not reflected): the YMODEM block check. */
export function crc16Xmodem(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

// --- The pseudo-terminal pair ---

export interface PtyPair {
  /** The end the tools open (what /dev/ttyACM0 is on a real board). */
  readonly toolPath: string;
  /** The end the board answers on. */
  readonly boardPath: string;
  stop(): Promise<void>;
}

/** `socat -d -d pty,raw,echo=0,link=TOOL pty,raw,echo=0,link=BOARD`; resolves once socat relays between the two. */
export async function startPtyPair(directory: string = mkdtempSync(join(tmpdir(), 'kaluma-tty-'))): Promise<PtyPair> {
  const toolPath = join(directory, 'ttyACM0');
  const boardPath = join(directory, 'board');
  const socat: ChildProcess = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${toolPath}`, `pty,raw,echo=0,link=${boardPath}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let diagnostics = '';
  const exited = new Promise<void>((resolveExit) => socat.on('exit', () => resolveExit()));
  await new Promise<void>((resolveStart, rejectStart) => {
    const timer = setTimeout(() => rejectStart(new Error(`socat did not start its relay:\n${diagnostics}`)), 10_000);
    socat.on('error', (error) => {
      clearTimeout(timer);
      rejectStart(new Error(`socat could not run (apt-get install socat): ${error.message}`));
    });
    socat.on('exit', (code) => {
      clearTimeout(timer);
      rejectStart(new Error(`socat exited (${code}):\n${diagnostics}`));
    });
    socat.stderr?.on('data', (chunk: Buffer) => {
      diagnostics += chunk.toString('utf8');
      if (diagnostics.includes('starting data transfer loop') && existsSync(toolPath) && existsSync(boardPath)) {
        clearTimeout(timer);
        resolveStart();
      }
    });
  });
  return {
    toolPath,
    boardPath,
    async stop() {
      if (socat.exitCode === null && socat.signalCode === null) {
        socat.kill('SIGTERM');
        await exited;
      }
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

// --- Bytes waiting on the console (Kaluma's tty ring: the REPL and the YMODEM receiver read from it) ---

class ConsoleInput {
  private bytes = new Uint8Array(4096);
  private start = 0;
  private end = 0;
  private closed = false;
  private waiter: { count: number; resolve: (bytes: Uint8Array | undefined) => void; timer: NodeJS.Timeout | undefined } | undefined;

  get length(): number {
    return this.end - this.start;
  }

  push(chunk: Uint8Array): void {
    if (this.closed || chunk.length === 0) return;
    if (this.end + chunk.length > this.bytes.length) {
      const kept = this.bytes.subarray(this.start, this.end);
      const grown = new Uint8Array(Math.max(this.bytes.length, (kept.length + chunk.length) * 2));
      grown.set(kept);
      this.bytes = grown;
      this.start = 0;
      this.end = kept.length;
    }
    this.bytes.set(chunk, this.end);
    this.end += chunk.length;
    this.settle();
  }

  /**
   * Exactly `count` bytes once they have all arrived, or undefined after `timeoutMs` (then nothing is consumed,
   * like km_tty_read_sync) or when the console closes.
   */
  take(count: number, timeoutMs?: number): Promise<Uint8Array | undefined> {
    if (this.waiter) throw new Error('the console has one reader at a time');
    if (this.length >= count) return Promise.resolve(this.consume(count));
    if (this.closed) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const waiter = { count, resolve, timer: undefined as NodeJS.Timeout | undefined };
      if (timeoutMs !== undefined) {
        waiter.timer = setTimeout(() => {
          if (this.waiter === waiter) this.waiter = undefined;
          resolve(undefined);
        }, timeoutMs);
      }
      this.waiter = waiter;
    });
  }

  takeAll(): Uint8Array {
    return this.consume(this.length);
  }

  close(): void {
    this.closed = true;
    const waiter = this.waiter;
    this.waiter = undefined;
    if (waiter) {
      clearTimeout(waiter.timer);
      waiter.resolve(undefined);
    }
  }

  private consume(count: number): Uint8Array {
    const taken = this.bytes.slice(this.start, this.start + count);
    this.start += count;
    if (this.start === this.end) this.start = this.end = 0;
    return taken;
  }

  private settle(): void {
    const waiter = this.waiter;
    if (waiter && this.length >= waiter.count) {
      this.waiter = undefined;
      clearTimeout(waiter.timer);
      waiter.resolve(this.consume(waiter.count));
    }
  }
}

// --- The program area (km_prog_*: a NUL-terminated string written page by page) ---

class ProgramArea {
  /** The program area (blocks 4-131). */
  private readonly flash: Uint8Array;
  /** The whole flash area (strlen may run past the program area). */
  private readonly flashArea: Uint8Array;
  private page = new Uint8Array(PAGE_BYTES);
  private pageFill = 0;
  private written = 0;
  /** Between begin() and end(): Kaluma has a page buffer only then. */
  private writing = false;

  constructor(flash: SharedArrayBuffer) {
    this.flash = new Uint8Array(flash, KALUMA_PROGRAM_FIRST_BLOCK * BLOCK_BYTES, KALUMA_PROGRAM_AREA_BYTES);
    this.flashArea = new Uint8Array(flash);
  }

  erase(): void {
    this.flash.fill(0xff);
  }

  /** km_prog_begin: erase, then an empty page buffer. */
  begin(): void {
    this.erase();
    this.page = new Uint8Array(PAGE_BYTES);
    this.pageFill = 0;
    this.written = 0;
    this.writing = true;
  }

  /** km_prog_write: false when the quota is reached (the byte that fills the area is refused). */
  write(bytes: Uint8Array): boolean {
    if (!this.writing) return false;
    for (const byte of bytes) if (!this.push(byte)) return false;
    return true;
  }

  /** km_prog_end: the terminating NUL, then the last (zero-padded) page. */
  end(): void {
    if (!this.writing) return; // An end of session without a file (Kaluma would use a page buffer it never had).
    this.writing = false;
    this.push(0);
    if (this.pageFill > 0) this.flushPage();
  }

  /** km_prog_get_size: 0 when the first byte is erased, else strlen (Kaluma reads on past the area; so do we, up to the end of the flash). */
  size(): number {
    const base = KALUMA_PROGRAM_FIRST_BLOCK * BLOCK_BYTES;
    if (this.flashArea[base] === 0xff) return 0;
    const nul = this.flashArea.indexOf(0, base);
    return (nul < 0 ? this.flashArea.length : nul) - base;
  }

  /** The stored program's bytes (what .load parses), or undefined when there is none. */
  program(): Uint8Array | undefined {
    const size = this.size();
    if (size === 0) return undefined;
    const base = KALUMA_PROGRAM_FIRST_BLOCK * BLOCK_BYTES;
    return this.flashArea.slice(base, base + size);
  }

  private push(byte: number): boolean {
    this.page[this.pageFill++] = byte;
    this.written++;
    if (this.written >= KALUMA_PROGRAM_AREA_BYTES) return false;
    if (this.pageFill === PAGE_BYTES) this.flushPage();
    return true;
  }

  private flushPage(): void {
    const last = this.written - 1;
    const offset = Math.floor(last / BLOCK_BYTES) * BLOCK_BYTES + Math.floor((last % BLOCK_BYTES) / PAGE_BYTES) * PAGE_BYTES;
    // NOR programming can only clear bits.
    for (let index = 0; index < PAGE_BYTES; index++) this.flash[offset + index] &= this.page[index];
    this.page = new Uint8Array(PAGE_BYTES);
    this.pageFill = 0;
  }
}

// --- The board ---

export type TransferResult = 'receiving' | 'done' | 'verification failed' | 'aborted' | 'failed';

/** One `.flash -w`, as the board saw it. */
export interface YmodemTransfer {
  /** From the header block (empty until it arrives). */
  fileName: string;
  declaredSize: number;
  /** Data blocks accepted (ACKed): the header and the end-of-session block are not counted. */
  dataBlocks: number;
  /** Packets answered with NAK (wrong sequence number, or the nakEveryBlock fault). */
  naks: number;
  /** Packets with a bad CRC or sequence complement (answered 'C'). */
  badPackets: number;
  /** 1-second waits that ended with nothing (answered 'C'). */
  timeouts: number;
  result: TransferResult;
  /** The file's bytes as the board took them: the blocks' payload up to the size in the header (padding dropped). */
  received: Uint8Array;
  readonly startedMs: number;
  finishedMs: number | undefined;
}

export interface SerialBoardFaults {
  /** Answer every packet, the header included, with NAK (a board whose receiver accepts nothing). */
  readonly nakEveryBlock?: boolean;
  /** Programming the flash fails at this data block (1-based): CA CA and "Verification failed", as when km_prog_write fails. */
  readonly failProgrammingAtBlock?: number;
}

export interface SerialBoardOptions {
  /** The 1040 KB flash area (kept across loads); a fresh erased one by default. */
  readonly flash?: SharedArrayBuffer;
  readonly faults?: SerialBoardFaults;
}

export interface SerialBoard {
  /** The port for the tools. */
  readonly port: string;
  readonly flash: SharedArrayBuffer;
  /** Every `.flash -w`, in order. */
  readonly transfers: readonly YmodemTransfer[];
  /** Every REPL command line run (".flash -w", ".load", ...), in order. */
  readonly commands: readonly string[];
  /** How many times a program was started (`.load`, or a reboot with a program stored). */
  loads(): number;
  /** The program in flash (what `.load` runs), or undefined when the area holds none. */
  storedProgram(): Uint8Array | undefined;
  /** Whether a program runs now (and has the console). */
  programRunning(): boolean;
  /** Everything the running program (since its last start) wrote to the console. */
  programOutput(): Uint8Array;
  /** Resolves once the running program's output satisfies `done` (checked on each output), or rejects after the timeout. */
  waitForProgramOutput(done: (output: Uint8Array) => boolean, timeoutMs: number): Promise<void>;
  /** What must fail a test: simulation problems of every program run (an abort asked for with Ctrl-C is not one). */
  problems(): string[];
  stop(): Promise<void>;
}

interface ProgramRun {
  pico: SimulatedPico | undefined;
  /** Console input that arrived while the simulation was starting. */
  readonly pending: Uint8Array[];
  /** Set when 0x03 was relayed: the program is being aborted and the console belongs to the REPL again. */
  stopping: boolean;
  output: Uint8Array[];
  readonly ended: Promise<void>;
  end(): void;
}

type OutputListener = () => void;

class KalumaSerialBoard implements SerialBoard {
  readonly port: string;
  readonly flash: SharedArrayBuffer;
  readonly transfers: YmodemTransfer[] = [];
  readonly commands: string[] = [];
  private readonly area: ProgramArea;
  private readonly input = new ConsoleInput();
  private readonly faults: SerialBoardFaults;
  private readonly problemList: string[] = [];
  private readonly preparedBundles = new Map<string, PreparedBundle>();
  private readonly outputListeners = new Set<OutputListener>();
  private readonly tty: TtyStreams;
  private line: number[] = [];
  private echo = true;
  private escape: number[] | undefined;
  private program: ProgramRun | undefined;
  private lastOutput: Uint8Array = new Uint8Array(0);
  private loadCount = 0;
  private stopped = false;
  private consoleLoop: Promise<void> = Promise.resolve();

  constructor(
    private readonly pty: PtyPair,
    fd: number,
    options: SerialBoardOptions,
  ) {
    this.port = pty.toolPath;
    this.flash = options.flash ?? newFlashArea();
    this.area = new ProgramArea(this.flash);
    this.faults = options.faults ?? {};
    this.tty = ttyStreams(fd);
    this.tty.input.setRawMode(true);
    this.tty.output.on('error', () => undefined);
    this.tty.input.on('error', () => undefined);
    this.tty.input.on('data', (chunk: Buffer) => this.receive(new Uint8Array(chunk)));
  }

  /** Power-on: the banner, then the stored program (Kaluma loads it at boot), else the prompt. */
  boot(): void {
    this.printBanner();
    this.consoleLoop = this.runConsole();
    if (this.area.size() > 0) void this.load();
    else this.printPrompt();
  }

  loads(): number {
    return this.loadCount;
  }

  storedProgram(): Uint8Array | undefined {
    return this.area.program();
  }

  programRunning(): boolean {
    return this.program !== undefined && !this.program.stopping;
  }

  programOutput(): Uint8Array {
    const run = this.program;
    if (!run) return this.lastOutput;
    if (run.output.length > 1) run.output = [Buffer.concat(run.output)];
    return run.output[0] ?? new Uint8Array(0);
  }

  waitForProgramOutput(done: (output: Uint8Array) => boolean, timeoutMs: number): Promise<void> {
    return new Promise((resolveWait, rejectWait) => {
      const check: OutputListener = () => {
        if (!done(this.programOutput())) return;
        clearTimeout(timer);
        this.outputListeners.delete(check);
        resolveWait();
      };
      const timer = setTimeout(() => {
        this.outputListeners.delete(check);
        rejectWait(new Error(`the board's program did not produce the expected output within ${timeoutMs} ms (${this.programOutput().length} bytes so far)`));
      }, timeoutMs);
      this.outputListeners.add(check);
      check();
    });
  }

  problems(): string[] {
    return [...this.problemList];
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.input.close();
    const run = this.program;
    this.program = undefined;
    if (run) {
      this.collectProblems(run);
      run.end();
      await run.pico?.stop();
    }
    await this.consoleLoop;
    await this.tty.close();
    await this.pty.stop();
  }

  // --- Console plumbing ---

  private send(bytes: Uint8Array | string): void {
    if (this.stopped) return;
    this.tty.output.write(Buffer.from(typeof bytes === 'string' ? latin1(bytes) : bytes));
  }

  private receive(chunk: Uint8Array): void {
    if (this.stopped) return;
    const run = this.program;
    if (run && !run.stopping) this.relayToProgram(run, chunk);
    else this.input.push(chunk);
  }

  private relayToProgram(run: ProgramRun, chunk: Uint8Array): void {
    const abortAt = chunk.indexOf(CTRL_C);
    const forwarded = abortAt >= 0 ? chunk.subarray(0, abortAt + 1) : chunk;
    if (!run.pico) run.pending.push(forwarded.slice());
    else {
      try {
        run.pico.write(forwarded);
      } catch (error) {
        this.problemList.push(`console input lost: ${(error as Error).message}`);
      }
    }
    if (abortAt >= 0) {
      // Ctrl-C stops the VM and flushes what is left of the USB read FIFO; the REPL has the console again.
      run.stopping = true;
      if (run.pico) void this.finishAbort(run);
    }
  }

  /** The REPL, reading the console whenever no program has it. */
  private async runConsole(): Promise<void> {
    while (!this.stopped) {
      if (this.program) {
        await this.program.ended;
        continue;
      }
      const byte = await this.input.take(1);
      if (!byte) return;
      await this.replByte(byte[0]);
    }
  }

  // --- The REPL ---

  private printPrompt(): void {
    this.send(NORMAL);
    if (!this.echo) return;
    this.send(`\r\x1b7> ${String.fromCharCode(...this.line)}\x1b[H\x1b[900C\x1b[6n\x1b8\x1b[2C`);
  }

  private printBanner(): void {
    this.send(
      '         ___\r\n' +
        `   _____/ . \\   Welcome to Kaluma v${KALUMA_VERSION}\r\n` +
        '  /        __>  https://kaluma.io\r\n' +
        ' |/\\________/\r\n' +
        "  \\__@  v  v    Type '.help' for more info.\r\n" +
        '-----------------------------------------------\r\n\r\n',
    );
  }

  private printError(text: string): void {
    this.send(`${RED}${text}\r\n${NORMAL}`);
  }

  private async replByte(byte: number): Promise<void> {
    if (this.escape) {
      // Arrow keys, the terminal's answer to the width query, ...: swallowed (history and cursor keys not modelled).
      this.escape.push(byte);
      const letter = (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a);
      if (letter || byte === 0x7e || this.escape.length > 16) this.escape = undefined;
      return;
    }
    switch (byte) {
      case 0x0d: {
        if (this.echo) this.send('\r\n');
        const text = String.fromCharCode(...this.line);
        this.line = [];
        if (text.startsWith('.')) await this.runCommand(text);
        else if (text.length > 0) this.printError('(simulated REPL: JavaScript is not evaluated here)');
        this.printPrompt();
        return;
      }
      case CTRL_C:
        return; // Nothing runs: the USB FIFO is flushed, nothing else happens.
      case CTRL_D:
        this.send('\r\nsoft reset\r\n');
        this.printPrompt();
        return;
      case 0x01:
      case 0x05:
        return; // Cursor to the start / end of the line.
      case 0x08:
      case 0x7f:
        if (this.line.length > 0) {
          this.line.pop();
          if (this.echo) this.send('\x1b[D\x1b[K');
        }
        return;
      case ESC:
        this.escape = [];
        return;
      default:
        if (this.line.length < REPL_LINE_BYTES - 1) {
          this.line.push(byte);
          if (this.echo) this.send(Uint8Array.of(byte));
        } else this.printError('REPL buffer overflow');
    }
  }

  private async runCommand(text: string): Promise<void> {
    this.commands.push(text);
    const [name, argument] = text.split(' ').filter((token) => token.length > 0);
    switch (name) {
      case '.help':
        this.send(
          '.help\tPrint this help message\r\n.hi\tPrint welcome message\r\n.echo\tEcho on/off\r\n.reset\tSoft reset\r\n' +
            '.flash\tCommands for flash\r\n.load\tLoad code from flash\r\n.mem\tHeap memory status\r\n.gc\tPerform garbage collection\r\n' +
            '\r\nCTRL+C\tAbort running code\r\nCTRL+D\tSoft reset\r\n',
        );
        return;
      case '.hi':
        this.printBanner();
        return;
      case '.echo':
        if (argument === 'on') this.echo = true;
        else if (argument === 'off') this.echo = false;
        return;
      case '.reset':
        this.send('\r\nsoft reset\r\n');
        return;
      case '.mem':
        this.send('total: 184320, occupied: 0, peak: 0\r\n'); // The format; the heap itself is not simulated.
        return;
      case '.gc':
        return;
      case '.load':
        await this.load();
        return;
      case '.flash':
        await this.flashCommand(argument);
        return;
      default:
        this.printError(`Unknown command: ${name}`);
    }
  }

  private async flashCommand(option: string | undefined): Promise<void> {
    switch (option) {
      case '-e':
        this.area.erase();
        this.send('Flash has erased\r\n');
        return;
      case '-t':
        this.send(`${KALUMA_PROGRAM_AREA_BYTES}\r\n`);
        return;
      case '-s':
        this.send(`${this.area.size()}\r\n`);
        return;
      case '-r': {
        const program = this.area.program() ?? new Uint8Array(0);
        const shown: number[] = [];
        for (const byte of program) {
          if (byte === 0x0a) shown.push(0x0d);
          shown.push(byte);
        }
        this.send(Uint8Array.from(shown));
        this.send('\r\n');
        return;
      }
      case '-w': {
        this.send("Transfer a file via YMODEM... (press 'a' to abort)\r\n");
        const transfer = await this.receiveYmodem();
        await delay(YMODEM_RESULT_DELAY_MS);
        const lines: Record<TransferResult, string> = {
          receiving: 'Failed to receive',
          done: 'Done',
          'verification failed': 'Verification failed',
          aborted: 'Aborted',
          failed: 'Failed to receive',
        };
        this.send(`\r\n${lines[transfer.result]}\r\n`);
        return;
      }
      default:
        this.send(
          '.flash command options:\r\n-w\tWrite code to flash via YMODEM\r\n-e\tErase the code in flash\r\n' +
            '-t\tPrint total size of flash for code\r\n-s\tPrint the size of the code in flash\r\n-r\tPrint the code in flash\r\n',
        );
    }
  }

  // --- The YMODEM receiver ---

  private async readPacket(transfer: YmodemTransfer): Promise<
    { kind: 'block'; seq: number; data: Uint8Array } | { kind: 'eot' } | { kind: 'cancelled' } | { kind: 'abort' } | { kind: 'error' } | { kind: 'timeout' }
  > {
    const first = await this.input.take(1, YMODEM_TIMEOUT_MS);
    if (!first) return { kind: 'timeout' };
    let size: number;
    switch (first[0]) {
      case SOH:
        size = 128;
        break;
      case STX:
        size = 1024;
        break;
      case EOT:
        return { kind: 'eot' };
      case CA: {
        const second = await this.input.take(1, YMODEM_TIMEOUT_MS);
        return second && second[0] === CA ? { kind: 'cancelled' } : { kind: 'error' };
      }
      case 0x41:
      case 0x61:
        return { kind: 'abort' };
      default:
        return { kind: 'error' };
    }
    // Sequence number, its complement, the data, the CRC (high byte first).
    const body = await this.input.take(size + 4, YMODEM_TIMEOUT_MS);
    if (!body) return { kind: 'timeout' };
    const data = body.subarray(2, 2 + size);
    const crc = (body[2 + size] << 8) | body[3 + size];
    if (body[0] !== (body[1] ^ 0xff) || crc16Xmodem(data) !== crc) {
      transfer.badPackets++;
      return { kind: 'error' };
    }
    return { kind: 'block', seq: body[0], data };
  }

  private async receiveYmodem(): Promise<YmodemTransfer> {
    const transfer: YmodemTransfer = {
      fileName: '',
      declaredSize: 0,
      dataBlocks: 0,
      naks: 0,
      badPackets: 0,
      timeouts: 0,
      result: 'receiving',
      received: new Uint8Array(0),
      startedMs: performance.now(),
      finishedMs: undefined,
    };
    this.transfers.push(transfer);
    const received: Uint8Array[] = [];
    let remaining = 0;
    let errors = 0;
    let sessionBegun = false;
    let sessionDone = false;
    let outcome: TransferResult = 'receiving';
    while (!sessionDone && outcome === 'receiving' && !this.stopped) {
      let packetsInFile = 0;
      let fileDone = false;
      while (!fileDone && outcome === 'receiving' && !this.stopped) {
        const packet = await this.readPacket(transfer);
        switch (packet.kind) {
          case 'eot':
            errors = 0;
            this.send(Uint8Array.of(ACK));
            fileDone = true;
            break;
          case 'cancelled':
            errors = 0;
            this.send(Uint8Array.of(ACK));
            outcome = 'aborted';
            break;
          case 'abort':
            this.send(Uint8Array.of(CA, CA));
            outcome = 'aborted';
            break;
          case 'error':
          case 'timeout':
            if (packet.kind === 'timeout') transfer.timeouts++;
            if (sessionBegun) errors++;
            this.send(errors > YMODEM_MAX_ERRORS ? Uint8Array.of(CA, CA) : Uint8Array.of(ASK_CRC));
            break;
          case 'block': {
            errors = 0;
            if (this.faults.nakEveryBlock || packet.seq !== (packetsInFile & 0xff)) {
              transfer.naks++;
              this.send(Uint8Array.of(NAK));
              break;
            }
            if (packetsInFile === 0) {
              if (packet.data[0] === 0) {
                // The empty header: end of the session.
                this.send(Uint8Array.of(ACK));
                this.area.end();
                fileDone = true;
                sessionDone = true;
                outcome = 'done';
                break;
              }
              const header = parseHeader(packet.data);
              transfer.fileName = header.fileName;
              transfer.declaredSize = header.size;
              remaining = header.size;
              this.area.begin();
              this.send(Uint8Array.of(ACK, ASK_CRC));
            } else {
              const taken = packet.data.subarray(0, Math.min(remaining, packet.data.length));
              remaining -= taken.length;
              received.push(taken.slice());
              const blockNumber = transfer.dataBlocks + 1;
              const programmed = this.faults.failProgrammingAtBlock !== blockNumber && this.area.write(taken);
              if (programmed) {
                transfer.dataBlocks++;
                this.send(Uint8Array.of(ACK));
              } else {
                this.send(Uint8Array.of(CA, CA));
                outcome = 'verification failed';
              }
            }
            packetsInFile++;
            sessionBegun = true;
            break;
          }
        }
      }
    }
    transfer.received = Buffer.concat(received);
    transfer.result = outcome === 'receiving' ? 'failed' : outcome;
    transfer.finishedMs = performance.now();
    return transfer;
  }

  // --- The program ---

  private async load(): Promise<void> {
    const code = this.area.program();
    if (!code || this.stopped) return;
    let endRun: () => void = () => undefined;
    const ended = new Promise<void>((resolveEnd) => {
      endRun = resolveEnd;
    });
    const text = new TextDecoder().decode(code);
    try {
      // Kaluma parses the stored program (strict mode) first; a program that does not parse leaves the REPL in charge.
      // (prepareBundle below reprints the code and would mend some of what does not parse.)
      new vm.Script(`'use strict';${text}`, { filename: 'flash' });
    } catch (error) {
      this.printError(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
      return;
    }
    const run: ProgramRun = { pico: undefined, pending: [], stopping: false, output: [], ended, end: endRun };
    this.program = run;
    this.loadCount++;
    let prepared = this.preparedBundles.get(text);
    if (!prepared) {
      prepared = prepareBundle(text);
      this.preparedBundles.set(text, prepared);
    }
    let pico: SimulatedPico;
    try {
      pico = await startSimulatedPico({ bundle: prepared, flash: this.flash });
    } catch (error) {
      this.problemList.push(`the program did not start: ${(error as Error).message}`);
      this.program = undefined;
      run.end();
      return;
    }
    if (this.stopped || this.program !== run) {
      await pico.stop();
      return;
    }
    run.pico = pico;
    pico.onData((bytes) => {
      run.output.push(bytes);
      this.send(bytes);
      if (this.program === run) for (const listener of [...this.outputListeners]) listener();
    });
    for (const chunk of run.pending.splice(0)) pico.write(chunk);
    if (run.stopping) void this.finishAbort(run);
    else void this.watchProgram(run);
  }

  /** Watchdog resets reboot the board (banner, then the stored program again). */
  private async watchProgram(run: ProgramRun): Promise<void> {
    while (this.program === run && !run.stopping && !this.stopped) {
      await delay(20);
      const pico = run.pico;
      if (!pico || !pico.events.some((event) => event.type === 'watchdogReset')) continue;
      if (this.program !== run || run.stopping) return;
      this.collectProblems(run);
      this.retire(run);
      await pico.stop();
      this.printBanner();
      await this.load();
      return;
    }
  }

  /** After a relayed Ctrl-C: waits for the simulation to notice (at its next console read), then stops it. */
  private async finishAbort(run: ProgramRun): Promise<void> {
    const pico = run.pico;
    if (!pico) return;
    const deadline = performance.now() + 15_000;
    while (!pico.events.some((event) => event.type === 'aborted') && performance.now() < deadline && !this.stopped) await delay(10);
    if (this.stopped) return; // stop() collected this run's problems and stops the simulation.
    const abortedAt = pico.events.findIndex((event) => event.type === 'aborted');
    if (abortedAt < 0) this.problemList.push('the program did not stop within 15 s of Ctrl-C (it never read the console)');
    // What happened after the abort is the unwinding of a program we stopped on purpose.
    this.collectProblems(run, abortedAt < 0 ? pico.events.length : abortedAt);
    this.printError('Aborted');
    this.retire(run);
    await pico.stop();
  }

  private retire(run: ProgramRun): void {
    if (this.program === run) {
      this.lastOutput = this.programOutput();
      this.program = undefined;
    }
    run.end();
  }

  private collectProblems(run: ProgramRun, eventsUpTo?: number): void {
    const events = run.pico?.events ?? [];
    this.problemList.push(...describeProblems(events.slice(0, eventsUpTo ?? events.length)));
  }
}

function parseHeader(data: Uint8Array): { fileName: string; size: number } {
  let nameEnd = data.indexOf(0);
  if (nameEnd < 0 || nameEnd > 64) nameEnd = Math.min(64, data.length);
  const fileName = String.fromCharCode(...data.subarray(0, nameEnd));
  // atoi of the characters up to the next space (at most 16).
  let sizeText = '';
  for (let index = nameEnd + 1; index < data.length && data[index] !== 0x20 && sizeText.length < 16; index++) sizeText += String.fromCharCode(data[index]);
  const digits = /^\s*[+-]?\d+/.exec(sizeText);
  return { fileName, size: digits ? Math.max(0, Number.parseInt(digits[0], 10)) : 0 };
}

function delay(milliseconds: number): Promise<void> {
  return new Promise((resolveDelay) => setTimeout(resolveDelay, milliseconds));
}

/** Starts socat and a board on its board end; `board.port` is the path for the tools. */
export async function startSerialBoard(options: SerialBoardOptions = {}): Promise<SerialBoard> {
  const pty = await startPtyPair();
  let fd: number;
  try {
    fd = openSync(pty.boardPath, 'r+');
  } catch (error) {
    await pty.stop();
    throw error;
  }
  const board = new KalumaSerialBoard(pty, fd, options);
  board.boot();
  return board;
}
