/**
 * `npm run bench`: this HSM against SoftHSM2 and against the raw crypto floor, measured side by side in one run.
 *
 *   npx tsx tools/bench/main.ts [--quick] [--engine node|portable|both] [--skip-pkcs11] [--out DIR] [--strict]
 *
 * Parts (bench/README.md says what each measures and how):
 *   1. in process (tools/bench/in-process.ts): the client library over the local socket, a direct scheduler call,
 *      per operation ops/s, p50, p99;
 *   3. the floor: the raw engine call alone, and the share of every layer above it (same file);
 *   2. through PKCS#11 (tools/bench/p11bench.c, one client for both): this HSM (OpenSC + pcscd + vpcd, the host
 *      board in its own process, `boards/host-main.ts --engine E`) and a private SoftHSM2 token
 *      (tools/bench/softhsm.ts), and the ratio of the two;
 *   4. storage cost (tools/bench/storage-cost.ts): bytes programmed and sectors erased per key generation and per
 *      counted signature; mount time for 100 / 1,000 / 5,000 objects.
 * Then it prints PASS/MISS per target with the numbers, writes bench/results/<timestamp>.json, latest.json and
 * latest.svg (a bar chart, hand-written SVG). Every figure carries the 1-minute load average at the time it was
 * taken: figures from a loaded machine are not comparable. Exit status 0 unless a part failed to run (with
 * --strict, also 1 when a target is missed).
 *
 * --quick: few iterations (a smoke run of the tooling). --engine: which engines the in-process and PKCS#11 parts
 * run with (default both; the host's default engine is node). --skip-pkcs11: parts 1, 3, 4 only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { nodeEngine } from '../../hal/crypto/node.js';
import { portableEngine } from '../../hal/crypto/portable.js';
import type { CryptoEngine } from '../../hal/crypto/types.js';
import { SocketLinkClient } from '../../hal/host/socket-link.js';
import { cbor } from '../../messages/protocol.js';
import { MANAGEMENT_AID } from '../../messages/management.js';
import { acquireReaderLock, ensurePcscd, missingPrerequisites, OPENSC_CONF, PKCS11_MODULE, PROJECT_ROOT, run } from '../../test/e2e/harness.js';
import { NORMAL_BUDGET, OPERATIONS, QUICK_BUDGET, runInProcess, USER_PIN, type InProcessResult, type Measured, type OperationId } from './in-process.js';
import { createSoftHsmToken, softHsmMissing } from './softhsm.js';
import { runStorageCost, type StorageCostResult } from './storage-cost.js';

type EngineName = 'node' | 'portable';
const ENGINES: Record<EngineName, CryptoEngine> = { node: nodeEngine, portable: portableEngine };
const HOST_DEFAULT_ENGINE: EngineName = 'node';
const SO_PIN = '3537363231383830';

interface Options {
  quick: boolean;
  engines: EngineName[];
  skipPkcs11: boolean;
  out: string;
  strict: boolean;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      engine: { type: 'string', default: 'both' },
      'skip-pkcs11': { type: 'boolean', default: false },
      out: { type: 'string', default: join(PROJECT_ROOT, 'bench', 'results') },
      strict: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write('usage: npm run bench -- [--quick] [--engine node|portable|both] [--skip-pkcs11] [--out DIR] [--strict]\n');
    process.exit(0);
  }
  const engine = values.engine ?? 'both';
  if (engine !== 'node' && engine !== 'portable' && engine !== 'both') throw new Error(`--engine must be node, portable or both, got "${engine}"`);
  return {
    quick: values.quick ?? false,
    engines: engine === 'both' ? ['node', 'portable'] : [engine],
    skipPkcs11: values['skip-pkcs11'] ?? false,
    out: values.out ?? join(PROJECT_ROOT, 'bench', 'results'),
    strict: values.strict ?? false,
  };
}

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};
const load1 = (): number => Math.round((loadavg()[0] ?? 0) * 100) / 100;

// ---------------------------------------------------------------------------------------------------------
// PKCS#11 part

interface P11Op {
  readonly op: string;
  readonly status: 'ok' | 'n/a';
  readonly n?: number;
  readonly p50_us?: number;
  readonly p99_us?: number;
  readonly mean_us?: number;
  readonly ops_per_s?: number;
  readonly reason?: string;
  readonly load1: number;
}

interface P11Run {
  readonly target: string;
  readonly token?: Record<string, unknown>;
  readonly engineRequested?: string;
  readonly engine?: string;
  readonly ops: Record<string, P11Op>;
  readonly error?: string;
  readonly stderr?: string;
}

interface Pkcs11Result {
  readonly softhsm?: P11Run & { version?: string };
  readonly hsm: Partial<Record<EngineName, P11Run>>;
  readonly skipped?: string;
}

function runCollect(command: string, args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

/** Runs p11bench and parses its JSON lines; each op line gets the load average at the time it arrived. */
async function p11bench(binary: string, target: string, module: string, token: string, pin: string, env: NodeJS.ProcessEnv, quick: boolean): Promise<P11Run> {
  const args = ['--module', module, '--token', token, '--pin', pin, '-n', quick ? '50' : '1000', '--keygen-n', quick ? '2' : '10', '--warmup', quick ? '5' : '20'];
  const ops: Record<string, P11Op> = {};
  let tokenInfo: Record<string, unknown> | undefined;
  let stderr = '';
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn(binary, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let buffer = '';
    const timer = setTimeout(() => child.kill('SIGTERM'), 30 * 60_000);
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      buffer += text;
      let newline: number;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline).trim();
        buffer = buffer.slice(newline + 1);
        if (!line) continue;
        const parsed = JSON.parse(line) as Record<string, unknown>;
        if (parsed.kind === 'token') tokenInfo = parsed;
        else if (parsed.kind === 'op') {
          const entry = { ...(parsed as unknown as P11Op), load1: load1() };
          ops[entry.op] = entry;
          log(`  ${target} ${entry.op}: ${entry.status === 'ok' ? `p50 ${entry.p50_us} us, ${entry.ops_per_s} ops/s` : `n/a (${entry.reason})`} (load ${entry.load1})`);
        }
      }
    });
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.on('error', reject);
    child.on('close', (exit) => {
      clearTimeout(timer);
      resolve(exit ?? -1);
    });
  });
  if (code !== 0) return { target, token: tokenInfo, ops, error: `p11bench exited with ${code}`, stderr: stderr.slice(-2000) };
  return { target, token: tokenInfo, ops };
}

interface HostProcess {
  readonly child: ChildProcess;
  readonly output: () => string;
  stop(): Promise<void>;
}

/** Starts boards/host-main.ts on a fresh data directory (like test/e2e/harness.ts startHsm) and waits for vpcd. */
async function startHost(dataDirectory: string, extra: readonly string[]): Promise<HostProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'boards', 'host-main.ts'), '--data', dataDirectory, ...extra], {
    cwd: PROJECT_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const deadline = Date.now() + 30_000;
  while (!(output.includes('ready:') && output.includes('vpcd: attached'))) {
    if (child.exitCode !== null) throw new Error(`the HSM exited with ${child.exitCode}:\n${output}`);
    if (Date.now() > deadline) {
      child.kill('SIGINT');
      throw new Error(`the HSM did not attach to vpcd within 30 s:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    child,
    output: () => output,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGINT');
        await exited;
      }
    },
  };
}

/** Which engine the device runs, from the management applet's device information (over the local socket). */
async function deviceEngine(socketPath: string): Promise<string | undefined> {
  const client = await SocketLinkClient.connect(socketPath);
  try {
    await client.resetSession();
    const select = await client.transmit(Uint8Array.of(0x00, 0xa4, 0x04, 0x00, MANAGEMENT_AID.length, ...MANAGEMENT_AID, 0x00));
    if (select[select.length - 2] !== 0x90) return undefined;
    const answer = await client.transmit(Uint8Array.of(0x80, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00));
    if (answer[answer.length - 2] !== 0x90) return undefined;
    const info = cbor.decode(answer.subarray(0, answer.length - 2)) as { engine?: unknown };
    return typeof info.engine === 'string' ? info.engine : undefined;
  } finally {
    client.close();
  }
}

async function runHsmOverPkcs11(binary: string, engine: EngineName, quick: boolean): Promise<P11Run> {
  const dataDirectory = mkdtempSync(join(tmpdir(), 'pico-hsm-bench-p11-'));
  let host: HostProcess | undefined;
  try {
    try {
      host = await startHost(dataDirectory, ['--engine', engine]);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (!/engine/i.test(message)) throw error;
      // A host board without --engine: run its default and report what the device says it runs.
      log(`  the host board refused --engine ${engine}; running its default engine`);
      rmSync(dataDirectory, { recursive: true, force: true });
      mkdirSync(dataDirectory, { recursive: true, mode: 0o700 });
      host = await startHost(dataDirectory, []);
    }
    const actual = await deviceEngine(join(dataDirectory, 'hsm.sock'));
    log(`  HSM (${engine} requested) runs the ${actual ?? 'unknown'} engine`);
    const env = { ...process.env, OPENSC_CONF };
    const initialized = await run('sc-hsm-tool', ['--initialize', '--so-pin', SO_PIN, '--pin', USER_PIN, '--label', 'p11bench'], { timeoutMs: 60_000 });
    if (initialized.code !== 0) throw new Error(`sc-hsm-tool --initialize failed: ${initialized.output}`);
    const result = await p11bench(binary, `hsm/${actual ?? engine}`, PKCS11_MODULE, 'p11bench', USER_PIN, env, quick);
    return { ...result, engineRequested: engine, engine: actual };
  } finally {
    await host?.stop();
    rmSync(dataDirectory, { recursive: true, force: true });
  }
}

async function runPkcs11(options: Options): Promise<Pkcs11Result> {
  const missing = [missingPrerequisites(), softHsmMissing()].filter((reason): reason is string => reason !== undefined);
  if (missing.length > 0) return { hsm: {}, skipped: missing.join('; ') };
  const built = await runCollect(join(PROJECT_ROOT, 'tools', 'bench', 'build.sh'), [], process.env, 120_000);
  const binary = built.stdout.trim().split('\n').pop();
  if (built.code !== 0 || !binary) return { hsm: {}, skipped: `could not build p11bench: ${built.stderr}` };

  log(`PKCS#11: SoftHSM2 (load ${load1()})`);
  const token = createSoftHsmToken();
  let softhsm: Pkcs11Result['softhsm'];
  try {
    softhsm = { ...(await p11bench(binary, 'softhsm2', token.module, token.label, token.pin, { ...process.env, ...token.env }, options.quick)), version: token.version };
  } finally {
    token.remove();
  }

  const hsm: Pkcs11Result['hsm'] = {};
  log('PKCS#11: waiting for the vpcd reader lock (shared with the end-to-end tests)');
  const release = await acquireReaderLock();
  let stopPcscd: (() => Promise<void>) | undefined;
  try {
    stopPcscd = await ensurePcscd();
    for (const engine of options.engines) {
      log(`PKCS#11: this HSM, ${engine} engine (load ${load1()})`);
      try {
        hsm[engine] = await runHsmOverPkcs11(binary, engine, options.quick);
      } catch (error) {
        hsm[engine] = { target: `hsm/${engine}`, ops: {}, error: error instanceof Error ? error.message : String(error) };
        log(`  failed: ${hsm[engine]?.error}`);
      }
    }
  } finally {
    // Stopped (if we started it) while we still hold the reader lock, so no test is using it.
    await stopPcscd?.();
    release();
  }
  return { softhsm, hsm };
}

// ---------------------------------------------------------------------------------------------------------
// Targets

interface Target {
  readonly target: string;
  readonly verdict: 'PASS' | 'MISS' | 'n/a';
  readonly detail: string;
}

function okOps(measured: P11Op | undefined): number | undefined {
  return measured?.status === 'ok' ? measured.ops_per_s : undefined;
}

function evaluateTargets(inProcess: Partial<Record<EngineName, InProcessResult>>, pkcs11: Pkcs11Result | undefined, storage: StorageCostResult): Target[] {
  const targets: Target[] = [];
  for (const engine of Object.keys(inProcess) as EngineName[]) {
    const parts = inProcess[engine]?.breakdown['ecdsa-p256-sign'];
    if (!parts) continue;
    targets.push({
      target: `firmware overhead per SIGN (P-256, ${engine} engine) <= 50 us`,
      verdict: parts.firmwareOverheadUs <= 50 ? 'PASS' : 'MISS',
      detail: `${parts.firmwareOverheadUs} us of ${parts.totalUs} us (actors, CBOR, scheduler, storage; ${parts.messages} messages; with key unseal ${parts.overheadWithUnsealUs} us)`,
    });
    if (engine === 'portable') {
      const share = parts.firmwareOverheadUs / parts.totalUs;
      targets.push({
        target: 'firmware overhead <= 15% of a P-256 signature (portable engine)',
        verdict: share <= 0.15 ? 'PASS' : 'MISS',
        detail: `${(share * 100).toFixed(1)}% (${parts.firmwareOverheadUs} of ${parts.totalUs} us; engine ecSign ${parts.primaryEngineUs} us)`,
      });
    }
  }
  const soft = pkcs11?.softhsm?.ops;
  const hsmRun = pkcs11?.hsm[HOST_DEFAULT_ENGINE] ?? Object.values(pkcs11?.hsm ?? {})[0];
  const label = hsmRun ? `${hsmRun.engine ?? hsmRun.engineRequested ?? '?'} engine` : '';
  const ratioTarget = (name: string, op: string, minimum: number): void => {
    const mine = okOps(hsmRun?.ops[op]);
    const theirs = okOps(soft?.[op]);
    if (mine === undefined || theirs === undefined) {
      targets.push({ target: name, verdict: 'n/a', detail: pkcs11?.skipped ?? hsmRun?.error ?? 'not measured' });
      return;
    }
    const ratio = mine / theirs;
    targets.push({ target: `${name} (${label})`, verdict: ratio >= minimum ? 'PASS' : 'MISS', detail: `${ratio.toFixed(3)}x: ${mine} vs ${theirs} ops/s (load ${hsmRun?.ops[op]?.load1} / ${soft?.[op]?.load1})` });
  };
  ratioTarget('PKCS#11 P-256 sign >= 0.25x SoftHSM2', 'ecdsa-p256-sign', 0.25);
  ratioTarget('PKCS#11 RSA-2048 sign >= 1.0x SoftHSM2', 'rsa2048-sign', 1.0);
  {
    const mine = hsmRun?.ops['keygen-ec-p256'];
    const theirs = soft?.['keygen-ec-p256'];
    if (mine?.status === 'ok' && theirs?.status === 'ok') {
      targets.push({
        target: `PKCS#11 EC P-256 token key generation faster than SoftHSM2 (${label})`,
        verdict: (mine.p50_us ?? Infinity) < (theirs.p50_us ?? 0) ? 'PASS' : 'MISS',
        detail: `p50 ${mine.p50_us} us vs ${theirs.p50_us} us`,
      });
    } else targets.push({ target: 'PKCS#11 EC P-256 token key generation faster than SoftHSM2', verdict: 'n/a', detail: pkcs11?.skipped ?? 'not measured' });
  }
  {
    const large = storage.mount.filter((point) => point.region === storage.mount[0]?.region);
    const at = (objects: number): number | undefined => large.find((point) => point.objects === objects)?.mountMedianMs;
    const [a, b, c] = [at(100), at(1000), at(5000)];
    if (a !== undefined && b !== undefined && c !== undefined) {
      // Linear or better: going from N to kN objects multiplies the time by at most k (25% slack for noise).
      const ok = b / a <= 10 * 1.25 && c / b <= 5 * 1.25;
      targets.push({
        target: 'mount time grows no worse than linearly with stored objects',
        verdict: ok ? 'PASS' : 'MISS',
        detail: `${a} / ${b} / ${c} ms for 100 / 1,000 / 5,000 objects on ${large[0]?.region} (x${(b / a).toFixed(2)} for 10x objects, x${(c / b).toFixed(2)} for 5x)`,
      });
    }
  }
  return targets;
}

// ---------------------------------------------------------------------------------------------------------
// Printing

function cell(measured: Measured | P11Op | undefined, field: 'p50' | 'p99' | 'ops'): string {
  if (!measured) return '-';
  if (measured.status !== 'ok') return 'n/a';
  if ('p50Us' in measured) return field === 'ops' ? measured.opsPerSecond.toFixed(0) : (field === 'p50' ? measured.p50Us : measured.p99Us).toFixed(1);
  const p11 = measured as P11Op;
  return field === 'ops' ? (p11.ops_per_s ?? 0).toFixed(0) : ((field === 'p50' ? p11.p50_us : p11.p99_us) ?? 0).toFixed(1);
}

function table(title: string, header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((name, column) => Math.max(name.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (row: readonly string[]): string => row.map((value, column) => (column === 0 ? value.padEnd(widths[column] ?? 0) : value.padStart(widths[column] ?? 0))).join('  ');
  return [`\n${title}`, line(header), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.map(line)].join('\n');
}

function printInProcess(result: InProcessResult, pkcs11: Pkcs11Result | undefined, engine: EngineName): void {
  const p11 = pkcs11?.hsm[engine];
  const soft = pkcs11?.softhsm;
  const rows = OPERATIONS.map((op) => {
    const mine = p11?.ops[op];
    const theirs = soft?.ops[op];
    const ratio = mine?.status === 'ok' && theirs?.status === 'ok' ? ((mine.ops_per_s ?? 0) / (theirs.ops_per_s ?? 1)).toFixed(3) : '-';
    const floor = result.floor[op];
    const direct = result.direct[op];
    const share = floor.status === 'ok' && direct.status === 'ok' ? `${Math.max(0, (1 - floor.p50Us / direct.p50Us) * 100).toFixed(0)}%` : '-';
    return [
      op,
      cell(result.socket[op], 'ops'), cell(result.socket[op], 'p50'), cell(result.socket[op], 'p99'),
      cell(result.direct[op], 'ops'), cell(result.direct[op], 'p50'), cell(result.direct[op], 'p99'),
      cell(floor, 'ops'), cell(floor, 'p50'), share,
      cell(mine, 'ops'), cell(mine, 'p50'), cell(mine, 'p99'),
      cell(theirs, 'ops'), cell(theirs, 'p50'), ratio,
    ];
  });
  process.stdout.write(
    table(
      `Engine ${result.engine} (requested ${engine}); load average ${result.loadBefore.join(' ')} -> ${result.loadAfter.join(' ')}; times in us`,
      ['operation', 'sock/s', 'sock p50', 'sock p99', 'direct/s', 'dir p50', 'dir p99', 'floor/s', 'floor p50', 'above floor', 'p11/s', 'p11 p50', 'p11 p99', 'softhsm/s', 'soft p50', 'x softhsm'],
      rows,
    ) + '\n',
  );
  for (const op of ['ecdsa-p256-sign', 'rsa2048-sign', 'keygen-ec-p256'] as OperationId[]) {
    const parts = result.breakdown[op];
    if (!parts) continue;
    process.stdout.write(
      table(
        `Where the time of one ${op} goes (direct call, ${result.engine} engine, mean of the fastest half ${parts.totalUs} us, ${parts.messages} messages)`,
        ['layer', 'us', 'share'],
        parts.layers.map((layer) => [layer.layer, layer.us.toFixed(1), `${(layer.share * 100).toFixed(1)}%`]),
      ) + '\n',
    );
    process.stdout.write(`  per hop (request delivery): ${parts.hops.map((hop) => `${hop.hop} ${hop.us.toFixed(1)} us`).join(', ')}\n`);
  }
  const micro = result.micro;
  process.stdout.write(
    `  micro (load ${micro.load1}): APDU parse + framing ${micro.apduParseUs.toFixed(2)} us; CBOR envelope round trip of crypto.sign (request + reply, encode + decode + validate) ${micro.cborSignRoundTripUs} us; ` +
      `one scheduler hop, empty body: ${micro.schedulerHopRoundTripUs} us request + reply (${micro.schedulerHopRequestUs} us request delivery)\n`,
  );
}

function printStorage(storage: StorageCostResult): void {
  const per = (name: string, cost: StorageCostResult['keyGeneration']): string[] => [name, String(cost.operations), cost.bytesProgrammedPerOp.toFixed(1), cost.programCallsPerOp.toFixed(2), cost.sectorsErasedPerOp.toFixed(4), String(cost.sectorsErasedTotal)];
  process.stdout.write(
    table(`Storage cost on the Pico geometry (SimFlash ${storage.geometry.sectorCount} x ${storage.geometry.sectorSize} B); load ${storage.load1}`, ['operation', 'runs', 'bytes/op', 'programs/op', 'erases/op', 'erases total'], [
      per('key generation P-256 (CCxx + CExx)', storage.keyGeneration),
      per('signature with usage counter', storage.countedSignature),
      per('signature without counter', storage.uncountedSignature),
    ]) + '\n',
  );
  process.stdout.write(
    table(
      `Mount time (${storage.picoCapacityBytes} B capacity on 1 MiB; 5,000 objects ${storage.fitsInPico['5000'] ? 'fit' : 'do not fit'} in it)`,
      ['objects', 'region', 'used bytes', 'mount ms (median)'],
      storage.mount.map((point) => [String(point.objects), point.region, String(point.usedBytes), point.mountMedianMs.toFixed(3)]),
    ) + '\n',
  );
}

// ---------------------------------------------------------------------------------------------------------
// SVG chart: ops/s per operation, log scale, one bar per path.

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function chart(report: Report): string {
  const series: { name: string; color: string; value: (op: OperationId) => number | undefined }[] = [];
  const palette = ['#1b9e77', '#66c2a5', '#a6d854', '#7570b3', '#d95f02', '#fc8d62', '#e7298a', '#8da0cb', '#666666'];
  const pick = (measured: Measured | undefined): number | undefined => (measured?.status === 'ok' ? measured.opsPerSecond : undefined);
  for (const engine of Object.keys(report.inProcess) as EngineName[]) {
    const result = report.inProcess[engine];
    if (!result) continue;
    series.push({ name: `floor (${engine})`, color: '', value: (op) => pick(result.floor[op]) });
    series.push({ name: `direct call (${engine})`, color: '', value: (op) => pick(result.direct[op]) });
    series.push({ name: `socket (${engine})`, color: '', value: (op) => pick(result.socket[op]) });
    const p11 = report.pkcs11?.hsm[engine];
    if (p11) series.push({ name: `PKCS#11 this HSM (${engine})`, color: '', value: (op) => okOps(p11.ops[op]) });
  }
  const soft = report.pkcs11?.softhsm;
  if (soft) series.push({ name: 'PKCS#11 SoftHSM2', color: '', value: (op) => okOps(soft.ops[op]) });
  const colored = series.map((entry, index) => ({ ...entry, color: palette[index % palette.length] ?? '#000' }));

  const values = OPERATIONS.flatMap((op) => colored.map((entry) => entry.value(op))).filter((value): value is number => value !== undefined && value > 0);
  const minDecade = Math.floor(Math.log10(Math.min(...values, 1)));
  const maxDecade = Math.ceil(Math.log10(Math.max(...values, 10)));
  const left = 150;
  const plotWidth = 640;
  const bar = 9;
  const groupGap = 14;
  const top = 60;
  const groupHeight = colored.length * bar + groupGap;
  const legendHeight = Math.ceil(colored.length / 2) * 16 + 10;
  const height = top + OPERATIONS.length * groupHeight + 40 + legendHeight;
  const width = left + plotWidth + 90;
  const x = (value: number): number => left + ((Math.log10(value) - minDecade) / (maxDecade - minDecade)) * plotWidth;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`);
  parts.push(`<rect width="100%" height="100%" fill="#fff"/>`);
  parts.push(`<text x="${left}" y="20" font-size="14" font-weight="bold">pico-hsm-ts benchmark: operations per second (log scale, longer is faster)</text>`);
  parts.push(`<text x="${left}" y="38" fill="#555">${escapeXml(`${report.date}, ${report.machine.cpus} x ${report.machine.cpu}, load average ${report.loadBefore.join(' ')} -> ${report.loadAfter.join(' ')}${report.quick ? ', QUICK RUN' : ''}`)}</text>`);
  for (let decade = minDecade; decade <= maxDecade; decade++) {
    const position = x(10 ** decade).toFixed(1);
    parts.push(`<line x1="${position}" y1="${top - 6}" x2="${position}" y2="${top + OPERATIONS.length * groupHeight}" stroke="#ddd"/>`);
    parts.push(`<text x="${position}" y="${top - 9}" text-anchor="middle" fill="#555">${(10 ** decade).toLocaleString('en-US')}</text>`);
  }
  OPERATIONS.forEach((op, group) => {
    const y0 = top + group * groupHeight;
    parts.push(`<text x="${left - 8}" y="${(y0 + (colored.length * bar) / 2 + 4).toFixed(1)}" text-anchor="end">${escapeXml(op)}</text>`);
    colored.forEach((entry, index) => {
      const value = entry.value(op);
      const y = y0 + index * bar;
      if (value === undefined || value <= 0) {
        parts.push(`<text x="${left + 4}" y="${y + bar - 1}" fill="#999" font-size="8">${escapeXml(entry.name)}: n/a</text>`);
        return;
      }
      const end = Math.max(left + 1, x(value));
      parts.push(`<rect x="${left}" y="${y}" width="${(end - left).toFixed(1)}" height="${bar - 1}" fill="${entry.color}"><title>${escapeXml(`${entry.name} ${op}: ${value.toFixed(1)} ops/s`)}</title></rect>`);
      parts.push(`<text x="${(end + 3).toFixed(1)}" y="${y + bar - 1}" font-size="8" fill="#333">${value >= 100 ? value.toFixed(0) : value.toFixed(1)}</text>`);
    });
  });
  const legendTop = top + OPERATIONS.length * groupHeight + 20;
  colored.forEach((entry, index) => {
    const lx = left + (index % 2) * 330;
    const ly = legendTop + Math.floor(index / 2) * 16;
    parts.push(`<rect x="${lx}" y="${ly}" width="12" height="10" fill="${entry.color}"/><text x="${lx + 18}" y="${ly + 9}">${escapeXml(entry.name)}</text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------------------

interface Report {
  readonly bench: 'pico-hsm-ts';
  readonly date: string;
  readonly quick: boolean;
  readonly machine: { cpus: number; cpu: string; node: string; platform: string };
  readonly loadBefore: number[];
  readonly loadAfter: number[];
  readonly inProcess: Partial<Record<EngineName, InProcessResult>>;
  readonly pkcs11?: Pkcs11Result;
  readonly storage: StorageCostResult;
  readonly targets: Target[];
}

async function main(): Promise<void> {
  const options = parseOptions();
  const started = new Date();
  const loadBefore = loadavg().map((value) => Math.round(value * 100) / 100);
  log(`bench: ${options.quick ? 'QUICK ' : ''}run, engines ${options.engines.join(', ')}, load average ${loadBefore.join(' ')} on ${cpus().length} CPUs`);
  if ((loadBefore[0] ?? 0) > cpus().length * 0.5) log(`bench: WARNING: the machine is busy (load ${loadBefore[0]} on ${cpus().length} CPUs): figures will be noisy`);

  const inProcess: Partial<Record<EngineName, InProcessResult>> = {};
  for (const engine of options.engines) {
    log(`in process: ${engine} engine (load ${load1()})`);
    inProcess[engine] = await runInProcess({ engine: ENGINES[engine], engineRequested: engine, budget: options.quick ? QUICK_BUDGET : NORMAL_BUDGET, log });
  }
  log(`storage cost (load ${load1()})`);
  const storage = await runStorageCost({ quick: options.quick, log });
  let pkcs11: Pkcs11Result | undefined;
  if (!options.skipPkcs11) {
    pkcs11 = await runPkcs11(options);
    if (pkcs11.skipped) log(`PKCS#11 part skipped: ${pkcs11.skipped}`);
  }

  const targets = evaluateTargets(inProcess, pkcs11, storage);
  const report: Report = {
    bench: 'pico-hsm-ts',
    date: started.toISOString(),
    quick: options.quick,
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? '?', node: process.version, platform: `${process.platform} ${process.arch}` },
    loadBefore,
    loadAfter: loadavg().map((value) => Math.round(value * 100) / 100),
    inProcess,
    pkcs11,
    storage,
    targets,
  };

  for (const engine of options.engines) {
    const result = inProcess[engine];
    if (result) printInProcess(result, pkcs11, engine);
  }
  printStorage(storage);
  if (pkcs11?.softhsm?.error) process.stdout.write(`\nSoftHSM2 run failed: ${pkcs11.softhsm.error}\n${pkcs11.softhsm.stderr ?? ''}\n`);
  for (const run of Object.values(pkcs11?.hsm ?? {})) if (run?.error) process.stdout.write(`\nPKCS#11 run ${run.target} failed: ${run.error}\n${run.stderr ?? ''}\n`);
  process.stdout.write(table(`Targets (load average ${report.loadBefore.join(' ')} -> ${report.loadAfter.join(' ')}${options.quick ? '; QUICK RUN: indicative only' : ''})`, ['verdict', 'target', 'measured'], targets.map((target) => [target.verdict, target.target, target.detail])) + '\n');

  mkdirSync(options.out, { recursive: true });
  const stamp = started.toISOString().replace(/[:.]/g, '-');
  const json = `${JSON.stringify(report, null, 2)}\n`;
  writeFileSync(join(options.out, `${stamp}.json`), json);
  writeFileSync(join(options.out, 'latest.json'), json);
  writeFileSync(join(options.out, 'latest.svg'), chart(report));
  process.stdout.write(`\nwrote ${join(options.out, `${stamp}.json`)}, latest.json and latest.svg\n`);
  if (options.strict && targets.some((target) => target.verdict === 'MISS')) process.exitCode = 1;
}

main().then(
  () => {
    // Timers of finished devices are unref'd; the socket clients are closed: nothing should keep the process up.
  },
  (error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
