/**
 * End-to-end harness: real pcscd (with the vpcd stall fix), real vpcd, real OpenSC tools, and a real host HSM
 * process (`boards/host-main.ts`) on a fresh data directory.
 *
 * Availability: on a developer machine without the packages the e2e suites skip with a loud message; under CI
 * (CI=true) missing packages are a failure, never a skip.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const OPENSC_CONF = join(PROJECT_ROOT, 'tools', 'pcscd', 'opensc.conf');
export const PKCS11_MODULE = '/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so';
const VPCD_DRIVER_CONFIG = '/etc/reader.conf.d/vpcd';
const REQUIRED = ['pcscd', 'opensc-tool', 'pkcs11-tool', 'sc-hsm-tool', 'pkcs15-tool', 'openssl'];

export function which(command: string): boolean {
  return (process.env.PATH ?? '').split(':').some((directory) => existsSync(join(directory, command)));
}

/** Why the e2e suite cannot run here, or undefined when everything it needs is installed. */
export function missingPrerequisites(): string | undefined {
  const missing = REQUIRED.filter((command) => !which(command));
  if (!existsSync(VPCD_DRIVER_CONFIG)) missing.push('vsmartcard-vpcd (/etc/reader.conf.d/vpcd)');
  if (!existsSync(PKCS11_MODULE)) missing.push(`opensc-pkcs11 (${PKCS11_MODULE})`);
  if (missing.length === 0) return undefined;
  return `missing: ${missing.join(', ')}. Install with: apt-get install pcscd vsmartcard-vpcd opensc opensc-pkcs11 pcsc-tools openssl`;
}

/**
 * Use as `describe.skipIf(skipEndToEnd())`: loud when skipping, and never skipping under CI. A suite that needs more
 * passes its own check (`more`: what is missing, or undefined).
 */
export function skipEndToEnd(more?: () => string | undefined): boolean {
  const missing = [missingPrerequisites(), more?.()].filter((text) => text !== undefined).join('; ') || undefined;
  if (missing === undefined) return false;
  if (process.env.CI) throw new Error(`end-to-end tests cannot run under CI: ${missing}`);
  process.stderr.write(`\n*** END-TO-END TESTS SKIPPED: ${missing} ***\n\n`);
  return true;
}

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly output: string;
}

/** Runs a program with OPENSC_CONF set; never rejects (the exit code is part of the result). */
export function run(command: string, args: readonly string[], options: { input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolvePromise) => {
    const child = execFile(
      command,
      [...args],
      { env: { ...process.env, OPENSC_CONF }, timeout: options.timeoutMs ?? 60_000, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' },
      (error, stdout, stderr) => {
        const code = error && typeof (error as { code?: unknown }).code === 'number' ? ((error as { code: number }).code) : error ? 1 : 0;
        resolvePromise({ code, stdout, stderr, output: `${stdout}${stderr}` });
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

export const pkcs11 = (...args: string[]): Promise<RunResult> => run('pkcs11-tool', ['--module', PKCS11_MODULE, ...args]);

function vpcdListening(): boolean {
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(file)) continue;
    const lines = readFileSync(file, 'utf8').split('\n');
    if (lines.some((line) => / 0A /.test(` ${line.trim().split(/\s+/)[3] ?? ''} `) && /:8C7B$/.test(line.trim().split(/\s+/)[1] ?? ''))) return true;
  }
  return false;
}

/** Makes sure a pcscd with the vpcd fix is running; returns a function that stops it if we started it. */
export async function ensurePcscd(): Promise<() => Promise<void>> {
  if (existsSync('/run/pcscd/pcscd.comm') && vpcdListening()) return async () => undefined;
  const started = await run(join(PROJECT_ROOT, 'tools', 'pcscd', 'start-background.sh'), ['--replace']);
  if (started.code !== 0) throw new Error(`could not start pcscd: ${started.output}`);
  return async () => {
    await run(join(PROJECT_ROOT, 'tools', 'pcscd', 'stop.sh'), []);
  };
}

export interface HsmProcess {
  readonly dataDirectory: string;
  readonly output: () => string;
  /** Resolves when the output contains `text` (or rejects after the timeout with the output so far). */
  waitFor(text: string | RegExp, timeoutMs?: number): Promise<void>;
  /** SIGINT and wait for a clean exit; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** Starts `npm start` (boards/host-main.ts) on a data directory (a fresh temporary one by default). */
export async function startHsm(dataDirectory: string = mkdtempSync(join(tmpdir(), 'pico-hsm-e2e-')), extraArguments: readonly string[] = []): Promise<HsmProcess> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'boards', 'host-main.ts'), '--data', dataDirectory, ...extraArguments], {
    cwd: PROJECT_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const waiters: { pattern: string | RegExp; resolve: () => void }[] = [];
  const matches = (pattern: string | RegExp): boolean => (typeof pattern === 'string' ? output.includes(pattern) : pattern.test(output));
  const onData = (chunk: Buffer): void => {
    output += chunk.toString('utf8');
    for (const waiter of [...waiters]) {
      if (matches(waiter.pattern)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<number | null>((resolveExit) => child.on('exit', (code) => resolveExit(code)));
  const hsm: HsmProcess = {
    dataDirectory,
    output: () => output,
    waitFor(pattern, timeoutMs = 20_000) {
      if (matches(pattern)) return Promise.resolve();
      return new Promise((resolveWait, rejectWait) => {
        const timer = setTimeout(() => rejectWait(new Error(`HSM output never showed ${String(pattern)}:\n${output}`)), timeoutMs);
        waiters.push({
          pattern,
          resolve: () => {
            clearTimeout(timer);
            resolveWait();
          },
        });
      });
    },
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGINT');
      return exited;
    },
  };
  await hsm.waitFor('ready:');
  // pcscd polls the reader about every 400 ms; the card counts as present once vpcd asked for the ATR. A socket-only
  // HSM (--no-vpcd) is ready as soon as it says so.
  if (!extraArguments.includes('--no-vpcd')) await hsm.waitFor('vpcd: attached');
  return hsm;
}

export function removeDirectory(path: string): void {
  rmSync(path, { recursive: true, force: true });
}

const READER_LOCK = join(tmpdir(), 'pico-hsm-e2e-reader.lock');

/**
 * There is one vpcd reader on port 35963: end-to-end suites (separate vitest workers) take turns. A lock held by
 * a process that no longer exists is taken over. Returns the release function.
 */
export async function acquireReaderLock(timeoutMs = 600_000): Promise<() => void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      mkdirSync(READER_LOCK);
      writeFileSync(join(READER_LOCK, 'pid'), String(process.pid));
      return () => rmSync(READER_LOCK, { recursive: true, force: true });
    } catch {
      let holder = Number.NaN;
      try {
        holder = Number(readFileSync(join(READER_LOCK, 'pid'), 'utf8'));
      } catch {
        // The holder is between mkdir and writing its pid: wait.
      }
      if (Number.isInteger(holder) && !processAlive(holder)) rmSync(READER_LOCK, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`the vpcd reader stayed locked by pid ${holder} for ${timeoutMs} ms (${READER_LOCK})`);
      await new Promise((resolveWait) => setTimeout(resolveWait, 200));
    }
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------------
// The Pico board through tools/bridge.ts (test/e2e/pico-bridge.test.ts, pico-flash.test.ts)

export interface BridgeProcess {
  output(): string;
  /** SIGINT to its process group; resolves with whether it had to be killed (no exit within 15 s). */
  stop(): Promise<{ killed: boolean }>;
}

/** SIGKILL to a process group a test started (it may be gone already). */
export function killGroup(group: number): void {
  try {
    process.kill(-group, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/** `npm run bridge -- ARGS` in a process group of its own; resolves once vpcd attached the card. */
export async function startBridge(args: readonly string[], attachTimeoutMs = 120_000): Promise<BridgeProcess> {
  const child: ChildProcess = spawn('npm', ['run', 'bridge', '--', ...args], { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  const exited = new Promise<void>((resolveExit) => child.on('exit', () => resolveExit()));
  await new Promise<void>((resolveAttach, rejectAttach) => {
    const timer = setTimeout(() => {
      if (child.pid !== undefined) killGroup(child.pid);
      rejectAttach(new Error(`the bridge did not attach:\n${output}`));
    }, attachTimeoutMs);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString('utf8');
      if (output.includes('vpcd: attached')) {
        clearTimeout(timer);
        resolveAttach();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      rejectAttach(new Error(`the bridge exited (${code}):\n${output}`));
    });
  });
  return {
    output: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return { killed: false };
      // npm, its shell, tsx and the bridge: the bridge closes vpcd and the port on SIGINT, then exits.
      const group = child.pid;
      process.kill(-group, 'SIGINT');
      let killed = false;
      const killer = setTimeout(() => {
        killed = true;
        killGroup(group);
      }, 15_000);
      await exited;
      clearTimeout(killer);
      return { killed };
    },
  };
}

/**
 * The OpenSC workflow the Pico suites prove on a fresh card: sc-hsm-tool initialises it, pkcs11-tool generates a
 * P-256 key with id 01 and signs `text` (ECDSA-SHA256), the public key is read back as `public.pem` in `directory`,
 * and openssl verifies the signature. Throws at the first step that fails, with its output and `context()` (the
 * bridge's log). Returns the files, for later checks with the same key.
 */
export async function initialiseAndSignWithP256(options: {
  readonly directory: string;
  readonly soPin: string;
  readonly pin: string;
  readonly text: string;
  readonly context: () => string;
}): Promise<{ message: string; signature: string; publicPem: string }> {
  const { directory, soPin, pin, context } = options;
  const check = (step: string, result: RunResult, succeeded = result.code === 0): void => {
    if (!succeeded) throw new Error(`${step} failed (exit ${result.code}):\n${result.output}\n${context()}`);
  };
  check('sc-hsm-tool --initialize', await run('sc-hsm-tool', ['--initialize', '--so-pin', soPin, '--pin', pin, '--label', 'pico'], { timeoutMs: 120_000 }));
  check('pkcs11-tool --keypairgen', await pkcs11('--login', '--pin', pin, '--keypairgen', '--key-type', 'EC:prime256v1', '--id', '01', '--label', 'pico-key'));
  const message = join(directory, 'message.txt');
  writeFileSync(message, options.text);
  const signature = join(directory, 'signature.der');
  check('pkcs11-tool --sign', await pkcs11('--login', '--pin', pin, '--sign', '--id', '01', '-m', 'ECDSA-SHA256', '--signature-format', 'openssl', '-i', message, '-o', signature));
  const publicDer = join(directory, 'public.der');
  check('pkcs11-tool --read-object', await pkcs11('--read-object', '--type', 'pubkey', '--id', '01', '-o', publicDer));
  const publicPem = join(directory, 'public.pem');
  check('openssl pkey', await run('openssl', ['pkey', '-pubin', '-inform', 'DER', '-in', publicDer, '-out', publicPem]));
  const verified = await run('openssl', ['dgst', '-sha256', '-verify', publicPem, '-signature', signature, message]);
  check('openssl dgst -verify', verified, /Verified OK/.test(verified.output));
  return { message, signature, publicPem };
}
