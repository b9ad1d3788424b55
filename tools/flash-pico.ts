/**
 * `npm run flash -- --port /dev/ttyACM0`: builds dist/pico-hsm.js (tools/build-pico.ts, budget enforced) and
 * writes it to a Pico running Kaluma 1.2.x with @kaluma/cli 1.0.0's `write` command (YMODEM over the console at
 * 115200 baud, then `.load`). @kaluma/cli 1.0.0 has no `bundle`/`flash` commands: we bundle with esbuild ourselves.
 *
 * @kaluma/cli 1.0.0 is an optional dependency: `npm ci` installs it and builds its serialport 9 native module with
 * node-gyp (python3, make, g++); where that build fails, npm leaves it out and this tool says how to get it.
 *
 * `kaluma write` cannot be trusted on its own, so this tool works around it in three places:
 * - It sends `.flash -w` blindly and waits for the board's 'C' with no time limit: a board that is not at the REPL
 *   (nothing on the port, or a running program: the HSM reads the console itself) makes it wait forever. So first
 *   we reach the REPL ourselves: Ctrl-C (stops a running program; harmless at the prompt), Enter, and the prompt
 *   must come back; a YMODEM receive left waiting by an interrupted flash (it keeps asking 'C') is aborted with 'a'.
 *   Nothing answering is an error before anything is written.
 * - Its sender never gives up (a board that NAKs every block is answered forever): `--timeout` (default 180 s)
 *   bounds it.
 * - It exits 0 even when it fails, and its "Done. (<file> : <n> bytes)" line is not proof either: n counts a block
 *   as written when the block before it is acknowledged, and a board that cancels (CA CA) ends the transfer as if
 *   it had succeeded. If the last block is refused, n equals the file size. So after it, we ask the board itself:
 *   Ctrl-C (stops the program `kaluma write` just loaded, still in its self-tests), `.flash -s` (the length of the
 *   program Kaluma holds, a NUL-terminated string) must equal the bundle's size, then `.load` starts it again.
 *
 *   npm run flash -- --port /dev/ttyACM0 [--skip-build] [--bundle dist/pico-hsm.js] [--timeout SECONDS]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { DEFAULT_BUNDLE_PATH, PROJECT_ROOT, buildPicoBundle, describeBundle } from './build-pico.js';
import { openRawTty, type TtyStreams } from './tty-streams.js';

/** Kaluma 1.2.1 stores the program NUL-terminated in 128 sectors of 4 KiB and refuses the byte that fills them. */
const KALUMA_PROGRAM_LIMIT_BYTES = 128 * 4096 - 1;
const DEFAULT_TIMEOUT_SECONDS = 180;
const CTRL_C = '\x03';
/** Every REPL prompt starts by resetting the colour (also with `.echo off`). */
const REPL_PROMPT = /\x1b\[0m/;
/** What a waiting YMODEM receiver sends: 'C' (send a block), or CA CA after too many errors. */
const YMODEM_WAITING = /[C\x18]/;

/** The project's @kaluma/cli binary, else whatever `kaluma` is on the PATH (a global install). */
function kalumaCommand(): string {
  const local = join(PROJECT_ROOT, 'node_modules', '.bin', 'kaluma');
  return existsSync(local) ? local : 'kaluma';
}

const pause = (milliseconds: number): Promise<void> => new Promise((resolvePause) => setTimeout(resolvePause, milliseconds));

/** The Kaluma console on a serial device: just enough to talk to the REPL before and after `kaluma write`. */
class KalumaConsole {
  private received = '';
  private readonly listeners = new Set<() => void>();

  private constructor(
    readonly path: string,
    private readonly port: TtyStreams,
  ) {
    this.port.input.on('data', (chunk: Buffer) => {
      this.received += chunk.toString('latin1');
      for (const listener of [...this.listeners]) listener();
    });
  }

  /** Raw mode, TTY streams (tools/tty-streams.ts: no read(2) left pending to take bytes meant for `kaluma write`). */
  static open(path: string): KalumaConsole {
    return new KalumaConsole(path, openRawTty(path));
  }

  send(text: string): void {
    this.port.output.write(Buffer.from(text, 'latin1'));
  }

  /** What arrived since the last forget(). */
  text(): string {
    return this.received;
  }

  forget(): void {
    this.received = '';
  }

  /** Resolves with the match once what arrived since forget() matches, or undefined after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray | undefined> {
    return new Promise((resolveWait) => {
      const check = (): void => {
        const match = pattern.exec(this.received);
        if (!match) return;
        clearTimeout(timer);
        this.listeners.delete(check);
        resolveWait(match);
      };
      const timer = setTimeout(() => {
        this.listeners.delete(check);
        resolveWait(undefined);
      }, timeoutMs);
      this.listeners.add(check);
      check();
    });
  }

  /** Ctrl-C stops a running program; Kaluma flushes its USB input at that moment, so nothing follows it at once. */
  async interrupt(): Promise<void> {
    this.send(CTRL_C);
    await pause(300);
    this.forget();
  }

  close(): Promise<void> {
    return this.port.close();
  }

}

/** Gets the board to its REPL prompt, or throws saying why not. Returns what had to be done. */
async function reachRepl(port: string): Promise<string> {
  const board = KalumaConsole.open(port);
  try {
    await pause(100);
    await board.interrupt();
    board.send('\r');
    // The prompt starts with the colour reset (its 'C's come after it); a waiting receiver answers with 'C' alone.
    const answer = await board.waitFor(new RegExp(`${REPL_PROMPT.source}|${YMODEM_WAITING.source}`), 3000);
    if (answer && REPL_PROMPT.test(answer[0])) return 'the Kaluma REPL answers';
    if (answer) {
      board.forget();
      board.send('a');
      if (await board.waitFor(REPL_PROMPT, 3000)) {
        const aborted = /Aborted/.test(board.text());
        // Had it been the REPL after all (a stray 'C'), the 'a' is on its line: take it back.
        board.send('\x08');
        return aborted ? 'aborted a YMODEM receive that was still waiting; the Kaluma REPL answers' : 'the Kaluma REPL answers';
      }
    }
    const heard = board.text().length;
    throw new Error(
      `nothing answers on ${port}: no Kaluma prompt after Ctrl-C and Enter (${heard === 0 ? 'not a byte came back' : `${heard} byte(s) came back, none a prompt`}).\n` +
        'Is it a Raspberry Pi Pico running Kaluma 1.2.x (docs/pico.md, first-time setup)? Nothing was written.',
    );
  } finally {
    await board.close();
  }
}

/** Asks the board how many bytes of program it holds (`.flash -s`); starts the program again when they match. */
async function verifyProgram(port: string, expectedBytes: number): Promise<number> {
  const board = KalumaConsole.open(port);
  try {
    await pause(100);
    await board.interrupt();
    board.send('\r');
    if (!(await board.waitFor(REPL_PROMPT, 10_000))) throw new Error(`the board did not come back to its REPL after kaluma write (Ctrl-C on ${port})`);
    board.forget();
    board.send('.flash -s\r');
    const answer = await board.waitFor(/(\d+)\r\n\x1b\[0m/, 5000);
    if (!answer) throw new Error('the board did not say how much program it holds (.flash -s)');
    const stored = Number(answer[1]);
    if (stored === expectedBytes) {
      board.send('.load\r');
      await pause(200);
    }
    return stored;
  } finally {
    await board.close();
  }
}

function argumentValue(args: readonly string[], name: string): string | undefined {
  const index = args.indexOf(name);
  return index >= 0 ? args[index + 1] : undefined;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const port = argumentValue(args, '--port');
  if (!port) throw new Error('usage: npm run flash -- --port /dev/ttyACM0 [--skip-build] [--bundle FILE] [--timeout SECONDS]');
  const timeoutSeconds = Number(argumentValue(args, '--timeout') ?? DEFAULT_TIMEOUT_SECONDS);
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) throw new Error('--timeout takes a number of seconds');
  const bundlePath = resolve(argumentValue(args, '--bundle') ?? DEFAULT_BUNDLE_PATH);
  if (!args.includes('--skip-build')) {
    const bundle = await buildPicoBundle();
    console.log(describeBundle(bundle));
    if (bundle.overBudget) throw new Error('the bundle is over budget: not flashing (it would not fit the Pico heap)');
    mkdirSync(dirname(bundlePath), { recursive: true });
    writeFileSync(bundlePath, bundle.code);
  }
  if (!existsSync(bundlePath)) throw new Error(`${bundlePath} does not exist: run npm run build:pico`);
  const program = readFileSync(bundlePath);
  const size = program.length;
  if (size === 0) throw new Error(`${bundlePath} is empty`);
  if (size > KALUMA_PROGRAM_LIMIT_BYTES) throw new Error(`${bundlePath} has ${size} bytes: Kaluma 1.2.x holds at most ${KALUMA_PROGRAM_LIMIT_BYTES}`);
  const nul = program.indexOf(0);
  if (nul >= 0) throw new Error(`${bundlePath} has a NUL byte at offset ${nul}: Kaluma keeps the program as a C string and would cut it there`);
  if (!existsSync(port)) throw new Error(`${port} does not exist: is the Pico plugged in and running Kaluma (ls /dev/ttyACM*)?`);
  const kaluma = kalumaCommand();
  const probe = spawnSync(kaluma, ['--version'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    throw new Error(
      '@kaluma/cli is not installed (npm ci installs it unless building its serialport module failed: that needs\n' +
        'python3, make and g++). Install them and run npm ci again, or: npm install -g @kaluma/cli@1.0.0',
    );
  }

  console.log(`${port}: ${await reachRepl(port)}`);
  console.log(`writing ${bundlePath} (${size} bytes) to ${port} with @kaluma/cli ${probe.stdout.trim()}`);
  const started = Date.now();
  const written = spawnSync(kaluma, ['write', bundlePath, '--port', port], { encoding: 'utf8', timeout: timeoutSeconds * 1000, killSignal: 'SIGTERM' });
  process.stdout.write(written.stdout ?? '');
  process.stderr.write(written.stderr ?? '');
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (written.error && (written.error as NodeJS.ErrnoException).code === 'ETIMEDOUT') {
    throw new Error(
      `kaluma write did not finish within ${timeoutSeconds} s: the board never completed the YMODEM transfer (it refuses or ignores the blocks).\n` +
        'Nothing was loaded. Try again (npm run flash aborts a waiting transfer first); if it keeps failing, unplug the board and plug it in again.',
    );
  }
  const done = /Done\. \(.* : (\d+) bytes\)/.exec(written.stdout ?? '');
  if (written.status !== 0 || !done) throw new Error(`kaluma write failed (exit ${written.status}; no "Done." line): nothing was loaded`);
  if (Number(done[1]) !== size) throw new Error(`kaluma write reports ${done[1]} bytes written, the bundle has ${size}: the board ended the transfer early. Write it again`);
  console.log(`kaluma write: done in ${seconds} s`);

  const stored = await verifyProgram(port, size);
  if (stored !== size) {
    throw new Error(
      `the board holds ${stored} bytes of program (.flash -s), the bundle has ${size}: the transfer did not complete although kaluma write said Done.\n` +
        'The program was not started again. Write it again.',
    );
  }
  console.log(`verified: the board holds ${stored} bytes of program (.flash -s) and runs it again (.load)`);
  console.log(`done: ${size} bytes written and loaded; the board runs the HSM now. Start the bridge: npm run bridge -- --port ${port}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
