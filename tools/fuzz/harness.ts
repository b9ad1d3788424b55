/**
 * The fuzz loop over fast-check: one seed fixes the generated inputs (and, through the inputs, every schedule
 * and fault of the simulated device), a failure is shrunk to a minimal input, printed with its replay token
 * (`target:seed:path`), written as a corpus candidate, and the run goes on with the next seed until the time or
 * run budget is spent.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { Finding, fromJson, show, toJson, type FuzzTarget } from './common.js';
import { knownBug } from './known-bugs.js';

export interface FuzzOptions {
  readonly seed: number;
  /** Executions to generate (not counting shrinking); default unlimited when `timeMs` is set. */
  readonly runs?: number;
  readonly timeMs?: number;
  /** Exact counterexample path within the seed (replay of a printed token). */
  readonly path?: string;
  /** Where corpus candidates of new findings are written (none when undefined). */
  readonly findingsDir?: string;
  readonly log?: (line: string) => void;
  /** Stop at the first finding (replays, the corpus smoke). */
  readonly stopOnFinding?: boolean;
  /** Report inputs that hit a known, reported bug (known-bugs.ts) as findings too. */
  readonly strict?: boolean;
}

export interface FindingReport {
  readonly target: string;
  readonly seed: number;
  readonly path: string;
  readonly replay: string;
  readonly oracle: string;
  readonly message: string;
  readonly stack: string;
  readonly input: unknown;
  readonly file?: string;
}

export interface FuzzReport {
  readonly target: string;
  readonly seed: number;
  readonly executions: number;
  readonly seconds: number;
  readonly executionsPerSecond: number;
  readonly findings: FindingReport[];
  /** Inputs that hit a known bug (by bug id), when not strict. */
  readonly known: Record<string, number>;
}

/** A corpus case (test/fuzz-corpus/*.json). */
export interface CorpusCase {
  readonly target: string;
  readonly seed: number;
  readonly replay?: string;
  /** What it caught (or checks), in words. */
  readonly caught: string;
  /** The minimised input, in the JSON form of common.ts (byte strings as {"$hex": ...}). */
  readonly input: unknown;
  /** A known, reported, unfixed bug: the case must still fail (the test turns red once the bug is fixed). */
  readonly expectFailure?: boolean;
  readonly oracle?: string;
}

function signature(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const oracle = error instanceof Finding ? error.oracle : error instanceof Error ? error.name : 'thrown';
  return `${oracle}|${message.split('\n')[0]!.replace(/\d+/g, 'N').slice(0, 120)}`;
}

/** The next seed after a finding (deterministic). */
export function nextSeed(seed: number): number {
  return (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) >>> 0) % 0x7fffffff;
}

export async function fuzz<I>(target: FuzzTarget<I>, options: FuzzOptions): Promise<FuzzReport> {
  const log = options.log ?? (() => undefined);
  await target.setup?.();
  const started = performance.now();
  const deadline = options.timeMs === undefined ? Infinity : started + options.timeMs;
  let executions = 0;
  let generated = 0;
  let seed = options.seed >>> 0;
  const findings: FindingReport[] = [];
  const seen = new Set<string>();
  const known: Record<string, number> = {};
  for (;;) {
    const remainingRuns = options.runs === undefined ? Number.MAX_SAFE_INTEGER : options.runs - generated;
    const remainingMs = deadline - performance.now();
    if (remainingRuns <= 0 || remainingMs <= 0) break;
    let runsThisCheck = 0;
    const property = fc.asyncProperty(target.arbitrary(), async (input: I) => {
      executions += 1;
      runsThisCheck += 1;
      try {
        await target.run(input);
      } catch (error) {
        const bug = options.strict ? undefined : knownBug(target.name, error);
        if (bug === undefined) throw error;
        known[bug.id] = (known[bug.id] ?? 0) + 1;
      }
    });
    const details = await fc.check(property, {
      seed,
      numRuns: Math.min(remainingRuns, 1_000_000_000),
      ...(options.path !== undefined ? { path: options.path } : {}),
      ...(Number.isFinite(remainingMs) ? { interruptAfterTimeLimit: Math.max(1, Math.floor(remainingMs)), markInterruptAsFailure: false } : {}),
    });
    generated += details.numRuns;
    if (!details.failed || details.counterexample === null) break;
    const input = details.counterexample[0];
    const error = details.errorInstance;
    const key = signature(error);
    const path = details.counterexamplePath ?? '';
    const report: FindingReport = {
      target: target.name,
      seed,
      path,
      replay: `${target.name}:${seed}:${path}`,
      oracle: error instanceof Finding ? error.oracle : 'uncaught',
      message: error instanceof Error ? error.message : String(error),
      stack: error instanceof Error ? (error.stack ?? '') : '',
      input: toJson(input),
    };
    const fresh = !seen.has(key);
    seen.add(key);
    let file: string | undefined;
    if (fresh && options.findingsDir) {
      mkdirSync(options.findingsDir, { recursive: true });
      file = join(options.findingsDir, `${target.name}-${seed}.json`);
      const candidate: CorpusCase = { target: target.name, seed, replay: report.replay, caught: report.message.split('\n')[0]!, oracle: report.oracle, input: report.input };
      writeFileSync(file, `${JSON.stringify(candidate, null, 2)}\n`);
    }
    if (fresh) {
      findings.push({ ...report, ...(file ? { file } : {}) });
      log(`FINDING in ${target.name} (seed ${seed}, after ${runsThisCheck} executions incl. shrinking)`);
      log(`  replay: npm run fuzz -- --replay ${report.replay}`);
      log(`  ${report.message.split('\n').join('\n  ')}`);
      log(`  minimised input: ${show(input, 4000)}`);
      if (file) log(`  corpus candidate: ${file}`);
    } else {
      log(`(same finding again with seed ${seed}: ${key})`);
    }
    if (options.stopOnFinding || options.path !== undefined) break;
    seed = nextSeed(seed);
  }
  const seconds = (performance.now() - started) / 1000;
  return { target: target.name, seed: options.seed, executions, seconds, executionsPerSecond: executions / Math.max(seconds, 1e-9), findings, known };
}

/** Runs one corpus case; resolves with the error it raised (undefined when every oracle held). */
export async function replayCase<I>(target: FuzzTarget<I>, input: unknown): Promise<unknown> {
  await target.setup?.();
  try {
    await target.run(fromJson(input) as I);
    return undefined;
  } catch (error) {
    return error;
  }
}
