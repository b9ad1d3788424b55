/**
 * `npm run model-check`: explores every machine of machines/ and the composition of the real actors, checks the
 * invariant catalogue, verifies the generated docs are current, prints a table, and exits 1 on any violation
 * (advisory findings are printed and do not fail the run).
 *
 *   npm run model-check                       # machines, composition (standard bound), docs check
 *   npm run model-check -- --depth 3          # deeper composition (every root)
 *   npm run model-check -- --no-composition   # machines and docs only
 *   npm run model-check -- --cuts 8 --seeds 6 # more power-cut points per command, more seeds per concurrent step
 */
import { createRequire } from 'node:module';
import { explore, formatViolation, type ExploreResult, type Model } from './explore.js';
import { exploreComposition, formatSystemViolation, STANDARD_CUTS, STANDARD_ROOTS, STANDARD_SEEDS, withDepth, type CompositionResult } from './composition.js';
import { staleDocs } from './diagrams.js';
import { MACHINE_MODELS } from './models.js';

function option(name: string): number | undefined {
  const at = process.argv.indexOf(name);
  if (at < 0) return undefined;
  const value = Number(process.argv[at + 1]);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} needs a whole number`);
  return value;
}

const seconds = (milliseconds: number): string => `${(milliseconds / 1000).toFixed(2)} s`;
const pad = (text: string | number, width: number): string => String(text).padStart(width);

function machineTable(results: readonly ExploreResult[]): string {
  const header = `${'machine'.padEnd(10)} ${pad('states', 7)} ${pad('transitions', 12)} ${pad('invariants', 11)} ${pad('evaluations', 12)} ${pad('violations', 11)} ${pad('time', 9)}`;
  const rows = results.map(
    (result) =>
      `${result.model.padEnd(10)} ${pad(result.states, 7)} ${pad(result.transitions, 12)} ${pad(result.invariants.length, 11)} ${pad(result.evaluations, 12)} ${pad(result.violations.length, 11)} ${pad(seconds(result.milliseconds), 9)}`,
  );
  return [header, '-'.repeat(header.length), ...rows].join('\n');
}

function compositionTable(result: CompositionResult): string {
  const hard = result.violations.filter((violation) => !violation.advisory).length;
  const advisory = result.violations.length - hard;
  return [
    `roots:          ${result.roots.map((root) => `${root.name} (depth ${root.depth})`).join(', ')}`,
    `states:         ${result.states}${result.complete ? '' : ' (state cap reached: incomplete)'}`,
    `transitions:    ${result.transitions} (steps run, replays included: ${result.stepsRun})`,
    `power cuts:     ${result.powerCuts}`,
    `interleavings:  ${result.interleavings} distinct (state, command, delivery order) runs of steps with a concurrent request`,
    `invariants:     ${result.invariants.length} (${result.evaluations} evaluations)`,
    `violations:     ${hard}${advisory > 0 ? ` (+ ${advisory} explained by known findings ${[...new Set(result.violations.map((violation) => violation.finding).filter(Boolean))].join(', ')}: advisory)` : ''}`,
    `time:           ${seconds(result.milliseconds)}`,
  ].join('\n');
}

async function main(): Promise<number> {
  const started = performance.now();
  const xstateVersion = (createRequire(import.meta.url)('xstate/package.json') as { version: string }).version;
  console.log(`Model checking machines/ (xstate ${xstateVersion}, pure transitions, breadth-first)\n`);
  const results = MACHINE_MODELS.map((make) => explore(make() as unknown as Model));
  console.log(machineTable(results));
  for (const make of MACHINE_MODELS) {
    const model = make();
    const result = results.find((item) => item.model === model.name)!;
    console.log(`  ${model.name}: ${result.invariants.join(', ')}`);
    console.log(`  ${' '.repeat(model.name.length)}  domains: ${(model.domains ?? []).join('; ')}`);
  }
  let failures = 0;
  for (const result of results) {
    for (const violation of result.violations) {
      console.log(`\n${formatViolation(violation)}`);
      failures++;
    }
  }

  if (!process.argv.includes('--no-composition')) {
    const depth = option('--depth');
    const seedCount = option('--seeds');
    const roots = depth === undefined ? STANDARD_ROOTS : withDepth(STANDARD_ROOTS, depth);
    const seeds = seedCount === undefined ? STANDARD_SEEDS : Array.from({ length: seedCount }, (_, at) => at + 1);
    console.log('\nComposition: the real actors on the simulated board (seeded scheduler, power cuts as events)\n');
    const composition = await exploreComposition({ roots, seeds, cutsPerCommand: option('--cuts') ?? STANDARD_CUTS });
    console.log(compositionTable(composition));
    for (const violation of composition.violations) {
      console.log(`\n${formatSystemViolation(violation)}`);
      if (!violation.advisory) failures++;
    }
  }

  const stale = staleDocs();
  console.log(`\nGenerated docs (docs/diagrams/*.md, docs/invariants.md): ${stale.length === 0 ? 'up to date' : `STALE: ${stale.join(', ')} (npm run model-check:docs)`}`);
  if (stale.length > 0) failures++;

  console.log(`\n${failures === 0 ? 'OK' : 'FAILED'}: ${failures} violation${failures === 1 ? '' : 's'} in ${seconds(performance.now() - started)}`);
  return failures === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(2);
  },
);
