/**
 * `npm run build:pico`: bundles boards/pico.ts into dist/pico-hsm.js for Kaluma 1.2.x and enforces the budget.
 *
 * - One script, IIFE: Kaluma parses the program as a strict-mode script (not a module); built-in modules
 *   (`flash`, `rp2`, `wdt`) are reached at run time through Kaluma's global `require`, never bundled.
 * - esbuild, target es2019 with BigInt and `??` kept (JerryScript has both; `?.`, logical assignment and
 *   private class features are lowered: it lacks them), minified.
 * - Device substitutes (same behaviour, tested against the originals in test/pico-runtime.test.ts):
 *   `xstate` -> hal/rp2040/machine.ts (a statechart interpreter for the subset machines/ use),
 *   `cbor-x` -> hal/rp2040/cbor.ts (the pinned option set, byte-identical),
 *   `@noble/curves/*` -> hal/rp2040/curve-domains.ts (P-256 domain constants for actors/card/cvc.ts).
 * - TypeScript `private` members get short names where tools/pico-mangle.ts proves the renaming cannot reach
 *   anything else (a first pass finds the bundled files, the second renames).
 * - JerryScript 2.4's pre-scanner (Kaluma 1.2.1's engine; still in 3.0) rejects a valid script when an arrow function
 *   with a bare parameter (`e=>`), an async arrow or an async function expression is a property value or array element
 *   of a literal that sits where an arrow's parameter list could start (after `(` or `(a,`): "Expected ',' or '}'
 *   after a property definition". Measured on Kaluma's engine; parentheses around the function avoid it, so every
 *   such function in a literal is wrapped (literalFunctionsParenthesised; a few hundred bytes).
 * - Class fields are plain assignments in the constructor (`useDefineForClassFields: false`): no defineProperty
 *   helper per field. Nothing in the firmware relies on define semantics (no field shadows an accessor).
 * - Budget: at most 120 KiB minified (the 180 KB JerryScript heap holds the parsed program, ~0.85 x the source,
 *   plus everything the firmware allocates). The size and its breakdown are printed; over budget the build fails
 *   (exit 1, nothing written) unless `--allow-over-budget` is given (for measurements).
 *
 *   npm run build:pico [-- --out dist/pico-hsm.js] [--allow-over-budget] [--metafile]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import ts from 'typescript';
import { analysePrivateMembers, manglePattern } from './pico-mangle.js';

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const PICO_BUDGET_BYTES = 120 * 1024;
export const DEFAULT_BUNDLE_PATH = join(PROJECT_ROOT, 'dist', 'pico-hsm.js');
/** Kaluma built-in modules the firmware may `require` (documented; kept external by construction). */
export const KALUMA_BUILTINS = ['flash', 'rp2', 'wdt', 'gpio', 'led', 'button', 'storage', 'fs', 'stream', 'uart'] as const;

const SUBSTITUTES: Record<string, string> = {
  xstate: join(PROJECT_ROOT, 'hal', 'rp2040', 'machine.ts'),
  'cbor-x': join(PROJECT_ROOT, 'hal', 'rp2040', 'cbor.ts'),
};

const substitutesPlugin: esbuild.Plugin = {
  name: 'pico-substitutes',
  setup(build) {
    build.onResolve({ filter: /^(xstate|cbor-x)$/ }, (args) => ({ path: SUBSTITUTES[args.path] }));
    build.onResolve({ filter: /^@noble\/curves(\/.*)?$/ }, () => ({ path: join(PROJECT_ROOT, 'hal', 'rp2040', 'curve-domains.ts') }));
    build.onResolve({ filter: new RegExp(`^(${KALUMA_BUILTINS.join('|')})$`) }, (args) => ({ path: args.path, external: true }));
  },
};

export interface PicoBundle {
  readonly code: string;
  readonly bytes: number;
  readonly overBudget: boolean;
  /** Minified bytes per origin (package or project folder), largest first. */
  readonly breakdown: readonly (readonly [string, number])[];
  readonly metafile: esbuild.Metafile;
  /** How many private member names were shortened (tools/pico-mangle.ts). */
  readonly renamedMembers: number;
}

function origin(path: string): string {
  const modules = path.lastIndexOf('node_modules/');
  if (modules >= 0) {
    const rest = path.slice(modules + 'node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  const parts = path.split('/');
  return parts.length > 1 ? parts.slice(0, -1).join('/') : path;
}

function bundleOptions(): esbuild.BuildOptions & { write: false; metafile: true } {
  return {
    stdin: {
      contents: "import { startPico } from './boards/pico.ts';\nstartPico();\n",
      resolveDir: PROJECT_ROOT,
      sourcefile: 'pico-entry.ts',
      loader: 'ts',
    },
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'neutral',
    mainFields: ['module', 'main'],
    target: 'es2019',
    // JerryScript has BigInt and `??` (rp2040-kaluma.md); everything newer than es2019 besides them is lowered.
    supported: { bigint: true, 'nullish-coalescing': true },
    minify: true,
    legalComments: 'none',
    charset: 'utf8',
    metafile: true,
    plugins: [substitutesPlugin],
    logLevel: 'silent',
    absWorkingDir: PROJECT_ROOT,
    tsconfigRaw: { compilerOptions: { useDefineForClassFields: false } },
  };
}

/** Whether `node` is a function JerryScript 2.4's pre-scanner can choke on inside a literal (see the header). */
export function isScannerHazard(node: ts.Node): boolean {
  const isAsync = ts.canHaveModifiers(node) && (ts.getModifiers(node) ?? []).some((modifier) => modifier.kind === ts.SyntaxKind.AsyncKeyword);
  const bareParameterArrow = ts.isArrowFunction(node) && node.getSourceFile().text[node.getStart()] !== '(';
  const hazard = (ts.isArrowFunction(node) && (isAsync || bareParameterArrow)) || (ts.isFunctionExpression(node) && isAsync);
  if (!hazard) return false;
  const parent = node.parent;
  return (ts.isPropertyAssignment(parent) && parent.initializer === node) || ts.isArrayLiteralExpression(parent);
}

/** `code` with every scanner hazard wrapped in parentheses, and how many there were. */
export function literalFunctionsParenthesised(code: string): { code: string; wrapped: number } {
  const file = ts.createSourceFile('bundle.js', code, ts.ScriptTarget.Latest, true, ts.ScriptKind.JS);
  const insertions: { at: number; text: string }[] = [];
  const walk = (node: ts.Node): void => {
    if (isScannerHazard(node)) insertions.push({ at: node.getStart(file), text: '(' }, { at: node.end, text: ')' });
    ts.forEachChild(node, walk);
  };
  walk(file);
  insertions.sort((a, b) => b.at - a.at);
  let out = code;
  for (const { at, text } of insertions) out = out.slice(0, at) + text + out.slice(at);
  return { code: out, wrapped: insertions.length / 2 };
}

export async function buildPicoBundle(): Promise<PicoBundle> {
  const firstPass = await esbuild.build(bundleOptions());
  const inputs = Object.keys(firstPass.metafile.inputs).filter((path) => !path.startsWith('<') && path !== 'pico-entry.ts');
  const projectFiles = inputs.filter((path) => !path.includes('node_modules/')).map((path) => join(PROJECT_ROOT, path));
  const dependencyFiles = inputs.filter((path) => path.includes('node_modules/')).map((path) => join(PROJECT_ROOT, path));
  const mangling = analysePrivateMembers(projectFiles, dependencyFiles);
  const result = await esbuild.build({ ...bundleOptions(), mangleProps: manglePattern(mangling.names) });
  const { code } = literalFunctionsParenthesised(result.outputFiles[0].text);
  const bytes = Buffer.byteLength(code, 'utf8');
  const totals = new Map<string, number>();
  for (const output of Object.values(result.metafile.outputs)) {
    for (const [path, input] of Object.entries(output.inputs)) totals.set(origin(path), (totals.get(origin(path)) ?? 0) + input.bytesInOutput);
  }
  const breakdown = [...totals.entries()].sort((a, b) => b[1] - a[1]);
  return { code, bytes, overBudget: bytes > PICO_BUDGET_BYTES, breakdown, metafile: result.metafile, renamedMembers: mangling.names.length };
}

export function describeBundle(bundle: PicoBundle): string {
  const kib = (value: number) => `${(value / 1024).toFixed(1)} KiB`;
  const lines = [
    `pico bundle: ${bundle.bytes} bytes (${kib(bundle.bytes)}) minified, ${bundle.renamedMembers} private members renamed; ` +
      `budget ${kib(PICO_BUDGET_BYTES)} (${PICO_BUDGET_BYTES} bytes): ${bundle.overBudget ? 'OVER BUDGET' : `ok, ${PICO_BUDGET_BYTES - bundle.bytes} bytes to spare`}`,
  ];
  for (const [name, size] of bundle.breakdown) if (size >= 512) lines.push(`  ${kib(size).padStart(10)}  ${name}`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const outIndex = args.indexOf('--out');
  const out = outIndex >= 0 ? resolve(args[outIndex + 1]) : DEFAULT_BUNDLE_PATH;
  const bundle = await buildPicoBundle();
  console.log(describeBundle(bundle));
  if (bundle.overBudget && !args.includes('--allow-over-budget')) {
    console.error(`build:pico failed: ${bundle.bytes} bytes exceed the ${PICO_BUDGET_BYTES}-byte budget (nothing written)`);
    process.exitCode = 1;
    return;
  }
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, bundle.code);
  if (args.includes('--metafile')) writeFileSync(`${out}.meta.json`, JSON.stringify(bundle.metafile));
  console.log(`wrote ${out}`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
