/**
 * npm run fuzz -- [--target NAME|all] [--time 60s | --runs N] [--seed S] [--coverage] [--findings DIR]
 * npm run fuzz -- --replay TARGET:SEED[:PATH]      (a printed replay token)
 * npm run fuzz -- --replay SEED --target NAME      (re-runs a seed from its start)
 * npm run fuzz -- --replay test/fuzz-corpus/x.json (one corpus case)
 * npm run fuzz -- --list
 *
 * Prints executions per second and findings per target (and covered blocks with --coverage); exits 1 when
 * anything was found.
 */
import { readFileSync } from 'node:fs';
import { fuzz, replayCase, type CorpusCase, type FuzzReport } from './harness.js';
import { exercised, parseDuration, show } from './common.js';
import { TARGETS, targetNamed } from './targets.js';
import { startCoverage, takeCoverage } from './coverage.js';

interface Arguments {
  targets: string[];
  timeMs?: number;
  runs?: number;
  seed: number;
  replay?: string;
  list: boolean;
  coverage: boolean;
  strict: boolean;
  findingsDir: string | undefined;
}

function parseArguments(argv: readonly string[]): Arguments {
  const result: Arguments = { targets: ['all'], seed: Date.now() % 0x7fffffff, list: false, coverage: false, strict: false, findingsDir: 'tools/fuzz/findings' };
  for (let index = 0; index < argv.length; index++) {
    const argument = argv[index]!;
    const value = (): string => {
      const next = argv[++index];
      if (next === undefined) throw new Error(`${argument} needs a value`);
      return next;
    };
    switch (argument) {
      case '--target':
        result.targets = value().split(',');
        break;
      case '--time':
        result.timeMs = parseDuration(value());
        break;
      case '--runs':
        result.runs = Number(value());
        break;
      case '--seed':
        result.seed = Number(value()) >>> 0;
        break;
      case '--replay':
        result.replay = value();
        break;
      case '--list':
        result.list = true;
        break;
      case '--strict':
        result.strict = true;
        break;
      case '--coverage':
        result.coverage = true;
        break;
      case '--findings':
        result.findingsDir = value();
        break;
      case '--no-findings':
        result.findingsDir = undefined;
        break;
      default:
        throw new Error(`unknown argument ${argument} (see tools/fuzz/README.md)`);
    }
  }
  return result;
}

function print(report: FuzzReport, coverage?: string): void {
  const rate = report.executionsPerSecond >= 100 ? report.executionsPerSecond.toFixed(0) : report.executionsPerSecond.toFixed(1);
  console.log(
    `${report.target.padEnd(14)} seed ${String(report.seed).padEnd(11)} ${String(report.executions).padStart(9)} executions in ${report.seconds.toFixed(1)} s = ${rate.padStart(7)}/s, ${report.findings.length} finding(s)${Object.keys(report.known).length > 0 ? ` (known bugs hit: ${Object.entries(report.known).map(([id, count]) => `${id} x${count}`).join(', ')})` : ''}${coverage ? `, ${coverage}` : ''}`,
  );
}

async function replay(argumentsGiven: Arguments): Promise<number> {
  const token = argumentsGiven.replay!;
  if (token.endsWith('.json')) {
    const corpusCase = JSON.parse(readFileSync(token, 'utf8')) as CorpusCase;
    const target = targetNamed(corpusCase.target);
    const error = await replayCase(target, corpusCase.input);
    console.log(`${token}: ${corpusCase.caught}`);
    if (error === undefined) {
      console.log('every oracle held');
      return corpusCase.expectFailure ? 1 : 0;
    }
    console.log(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    return corpusCase.expectFailure ? 0 : 1;
  }
  const parts = token.split(':');
  let targetName: string;
  let seed: number;
  let path: string | undefined;
  if (parts.length === 1) {
    if (argumentsGiven.targets.length !== 1 || argumentsGiven.targets[0] === 'all') throw new Error('--replay SEED needs --target NAME (or use the printed TARGET:SEED:PATH token)');
    targetName = argumentsGiven.targets[0]!;
    seed = Number(parts[0]);
  } else {
    targetName = parts[0]!;
    seed = Number(parts[1]);
    path = parts.slice(2).join(':') || undefined;
  }
  const target = targetNamed(targetName);
  const report = await fuzz(target, {
    seed,
    path,
    runs: argumentsGiven.runs,
    timeMs: argumentsGiven.timeMs ?? (argumentsGiven.runs === undefined ? 60_000 : undefined),
    stopOnFinding: true,
    strict: true,
    findingsDir: undefined,
    log: (line) => console.log(line),
  });
  print(report);
  if (report.findings.length === 0) console.log('no failure reproduced');
  for (const finding of report.findings) console.log(`stack:\n${finding.stack}\ninput: ${show(finding.input, 20_000)}`);
  return report.findings.length > 0 ? 1 : 0;
}

async function main(): Promise<number> {
  const given = parseArguments(process.argv.slice(2));
  if (given.list) {
    for (const target of TARGETS) console.log(`${target.name.padEnd(14)} ${target.description}`);
    return 0;
  }
  if (given.replay !== undefined) return replay(given);
  const names = given.targets.includes('all') ? TARGETS.map((target) => target.name) : given.targets;
  const perTargetMs = given.timeMs === undefined ? undefined : given.timeMs;
  const runs = given.runs ?? (perTargetMs === undefined ? 1000 : undefined);
  console.log(`fuzz: targets ${names.join(', ')}; seed ${given.seed}; ${runs !== undefined ? `${runs} runs` : `${(perTargetMs ?? 0) / 1000} s`} per target`);
  let findings = 0;
  for (const name of names) {
    const target = targetNamed(name);
    if (given.coverage) await startCoverage();
    const report = await fuzz(target, { seed: given.seed, runs, timeMs: perTargetMs, strict: given.strict, findingsDir: given.findingsDir, log: (line) => console.log(line) });
    const coverage = given.coverage ? await takeCoverage() : undefined;
    print(report, coverage ? `${coverage.coveredBlocks}/${coverage.totalBlocks} product blocks covered` : undefined);
    findings += report.findings.length;
    for (const [name, count] of Object.entries(exercised)) console.log(`  invariant exercised: ${name}: ${count}`);
    for (const name of Object.keys(exercised)) delete exercised[name];
  }
  return findings > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exit(2);
  },
);
