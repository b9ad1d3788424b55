/**
 * Measures the PC/SC round trip through pcscd + vpcd, with and without the latency fix (libnodelay.so).
 *
 *   npx tsx tools/pcscd/bench-roundtrip.ts [--count N] [--modes nofix,fix,quickack] [--replace] [--apdu HEX]
 *
 * For each mode it starts pcscd in the background (tools/pcscd/start-background.sh; `nofix` without the preload,
 * `fix` with it, `quickack` with it and PCSCD_NODELAY_QUICKACK=1), attaches a trivial virtual card (the real
 * VpcdLink from hal/host/vpcd-link.ts, answering GET ATR with the SmartCard-HSM ATR and every APDU with 9000),
 * runs the C PC/SC client .cache/pcscd/apdu-loop (tools/pcscd/apdu-loop.c: SCardTransmit N times, one latency per
 * line), then stops pcscd (tools/pcscd/stop.sh) and prints median / p90 / p99 / max per mode.
 * Needs: pcscd, vsmartcard-vpcd, libpcsclite-dev (to build apdu-loop), and no other pcscd running (or --replace).
 * Defaults: --count 500, --modes nofix,fix. Exit status 1 if the fixed median exceeds 1 ms (the target).
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VpcdLink, describeVpcdEvent, type VpcdEvent } from '../../hal/host/vpcd-link.js';

/** The SmartCard-HSM ATR (protocol.md section 1). */
const SMARTCARD_HSM_ATR = Uint8Array.from(Buffer.from('3BFE1800008131FE458031815448534D31738021408107FA', 'hex'));
const OK = Uint8Array.of(0x90, 0x00);

type Mode = 'nofix' | 'fix' | 'quickack';
const MODES: readonly Mode[] = ['nofix', 'fix', 'quickack'];

interface Options {
  count: number;
  modes: Mode[];
  replace: boolean;
  apdu: string;
  verbose: boolean;
}

interface Result {
  mode: Mode;
  latenciesUs: number[];
  cardApdus: number;
}

const toolsDirectory = dirname(fileURLToPath(import.meta.url));
const root = join(toolsDirectory, '..', '..');

function parseOptions(argv: readonly string[]): Options {
  const options: Options = { count: 500, modes: ['nofix', 'fix'], replace: false, apdu: '00CA000000', verbose: false };
  for (let index = 0; index < argv.length; index++) {
    const argument = argv[index];
    const value = (): string => {
      const next = argv[++index];
      if (next === undefined) throw new Error(`${argument} needs a value`);
      return next;
    };
    switch (argument) {
      case '--count':
        options.count = Number.parseInt(value(), 10);
        break;
      case '--modes':
        options.modes = value().split(',').map((mode) => {
          if (!(MODES as readonly string[]).includes(mode)) throw new Error(`unknown mode ${mode} (${MODES.join(', ')})`);
          return mode as Mode;
        });
        break;
      case '--apdu':
        options.apdu = value();
        break;
      case '--replace':
        options.replace = true;
        break;
      case '--verbose':
        options.verbose = true;
        break;
      default:
        throw new Error(`unknown argument ${argument}`);
    }
  }
  if (!(options.count >= 1)) throw new Error('--count must be >= 1');
  return options;
}

/** Runs a program; resolves with its exit code and output, mirroring stderr when asked. */
function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env, mirrorStderr = true): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      stderr += text;
      if (mirrorStderr) process.stderr.write(text);
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

function percentile(sorted: readonly number[], percent: number): number {
  const rank = Math.max(1, Math.ceil((percent / 100) * sorted.length));
  return sorted[rank - 1];
}

async function measure(mode: Mode, options: Options, apduLoop: string): Promise<Result> {
  console.error(`\n=== mode ${mode} ===`);
  await run(join(toolsDirectory, 'stop.sh'), []);
  const startArgs = [...(mode === 'nofix' ? ['--no-fix'] : []), ...(options.replace ? ['--replace'] : [])];
  const env = { ...process.env, PCSCD_NODELAY_QUICKACK: mode === 'quickack' ? '1' : '0', PCSCD_NODELAY_VERBOSE: '1' };
  const started = await run(join(toolsDirectory, 'start-background.sh'), startArgs, env);
  if (started.code !== 0) throw new Error(`start-background.sh failed with status ${started.code}`);

  let cardApdus = 0;
  let attached!: () => void;
  const attachedPromise = new Promise<void>((resolve) => (attached = resolve));
  const link = new VpcdLink({
    atr: SMARTCARD_HSM_ATR,
    onApdu: async () => {
      cardApdus++;
      return OK;
    },
    onEvent: (event: VpcdEvent) => {
      if (options.verbose) console.error(describeVpcdEvent(event));
      if (event.type === 'attached') attached();
    },
  });
  link.start();
  try {
    await Promise.race([
      attachedPromise,
      new Promise((_, reject) => setTimeout(() => reject(new Error('the virtual card was not attached within 5 s')), 5000)),
    ]);
    const loop = await run(apduLoop, ['-n', String(options.count), '-a', options.apdu, '-r', 'Virtual PCD 00 00', '-w', '5000']);
    if (loop.code !== 0) throw new Error(`apdu-loop failed with status ${loop.code}`);
    const latenciesUs = loop.stdout.trim().split('\n').map((line) => Number.parseInt(line.split(' ')[1], 10));
    return { mode, latenciesUs, cardApdus };
  } finally {
    await link.close();
    await run(join(toolsDirectory, 'stop.sh'), []);
  }
}

function report(results: readonly Result[], apduLength: number): void {
  const ms = (microseconds: number): string => (microseconds / 1000).toFixed(3).padStart(9);
  console.log(`\nPC/SC round trip through pcscd + vpcd (SCardTransmit of a ${apduLength}-byte APDU, card answers 9000), ms:`);
  console.log('mode        n     median       p90       p99       max      mean');
  for (const result of results) {
    const sorted = [...result.latenciesUs].sort((a, b) => a - b);
    const mean = sorted.reduce((sum, value) => sum + value, 0) / sorted.length;
    console.log(
      `${result.mode.padEnd(9)}${String(sorted.length).padStart(5)} ${ms(percentile(sorted, 50))} ${ms(percentile(sorted, 90))} ${ms(percentile(sorted, 99))} ${ms(sorted[sorted.length - 1])} ${ms(mean)}`,
    );
  }
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const built = await run(join(toolsDirectory, 'build.sh'), []);
  const apduLoop = built.stdout.split('\n').find((line) => line.endsWith('/apdu-loop'));
  if (built.code !== 0 || apduLoop === undefined) throw new Error('could not build apdu-loop (apt-get install libpcsclite-dev)');
  console.error(`project root ${root}`);

  const results: Result[] = [];
  for (const mode of options.modes) results.push(await measure(mode, options, apduLoop));
  report(results, options.apdu.replace(/\s/g, '').length / 2);

  const fixed = results.find((result) => result.mode === 'fix');
  if (fixed !== undefined) {
    const median = percentile([...fixed.latenciesUs].sort((a, b) => a - b), 50);
    if (median > 1000) {
      console.error(`FAIL: median with the fix is ${(median / 1000).toFixed(3)} ms (target <= 1 ms)`);
      process.exitCode = 1;
    }
  }
}

main().catch((error: unknown) => {
  console.error(`bench-roundtrip: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
