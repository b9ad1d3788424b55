/**
 * Generated documentation, so it cannot drift from the code:
 *
 * - docs/diagrams/<machine>.md: a Mermaid stateDiagram-v2 and a transition table, read from the machine
 *   definitions themselves (state nodes, transitions, guards, actions, history states), never drawn by hand;
 * - docs/invariants.md: the catalogue (tools/model-check/invariants.ts) with every check of each invariant, the
 *   planted mutants that must trip it (tools/model-check/mutants.ts) and the explored domains.
 *
 *   npx tsx tools/model-check/diagrams.ts           # writes the files
 *   npx tsx tools/model-check/diagrams.ts --check   # exit 1 if a committed file is not what the code generates
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AnyStateMachine } from 'xstate';
import { lifecycleMachine } from '../../machines/lifecycle.js';
import { pinMachine } from '../../machines/pin.js';
import { storageMachine } from '../../machines/storage.js';
import { SYSTEM_COMMANDS, STANDARD_ROOTS } from './composition.js';
import { CATALOGUE, checksOf, KNOWN_FINDINGS } from './invariants.js';
import { MACHINE_MODELS } from './models.js';
import { MACHINE_MUTANTS, SYSTEM_MUTANTS } from './mutants.js';

export const REPOSITORY = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface DiagramSource {
  readonly name: string;
  readonly title: string;
  readonly source: string;
  readonly machine: AnyStateMachine;
}

export const DIAGRAMS: readonly DiagramSource[] = [
  { name: 'pin', title: 'The PIN machine', source: 'machines/pin.ts', machine: pinMachine },
  { name: 'lifecycle', title: 'The lifecycle machine', source: 'machines/lifecycle.ts', machine: lifecycleMachine },
  { name: 'storage', title: 'The storage machine', source: 'machines/storage.ts', machine: storageMachine },
];

// Structural view of xstate's state nodes (what the generator reads).
interface NodeView {
  readonly id: string;
  readonly key: string;
  readonly type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  readonly history?: 'shallow' | 'deep' | false;
  readonly parent?: NodeView;
  readonly states: Record<string, NodeView>;
  readonly initial?: { readonly target: readonly NodeView[] };
  readonly transitions: Map<string, readonly TransitionView[]>;
  readonly always?: readonly TransitionView[];
}
interface TransitionView {
  readonly target?: readonly NodeView[];
  readonly guard?: unknown;
  readonly actions: readonly unknown[];
}

const nameOf = (item: unknown): string => {
  if (typeof item === 'string') return item;
  if (typeof item === 'function') return item.name || 'inline';
  if (item && typeof item === 'object' && 'type' in item) return String((item as { type: unknown }).type);
  return '?';
};

/** A Mermaid-safe id for a state node. */
const mermaidId = (node: NodeView): string => node.id.replace(/[^A-Za-z0-9_]/g, '_');

function ancestors(node: NodeView): NodeView[] {
  const chain: NodeView[] = [];
  for (let at: NodeView | undefined = node; at; at = at.parent) chain.unshift(at);
  return chain;
}

/** Where an edge is drawn: the innermost non-parallel composite state containing both ends (never one of the ends). */
function scopeOf(source: NodeView, target: NodeView): NodeView {
  const a = ancestors(source);
  const b = ancestors(target);
  let common = a[0];
  for (let at = 0; at < Math.min(a.length, b.length) && a[at] === b[at]; at++) common = a[at];
  while ((common === source || common === target) && common.parent) common = common.parent;
  // Inside a parallel state every line belongs to one of its regions: draw such edges outside it.
  while (common.type === 'parallel' && common.parent) common = common.parent;
  return common;
}

interface Edge {
  readonly source: NodeView;
  readonly target: NodeView;
  readonly event: string;
  readonly guard: string | undefined;
  readonly actions: readonly string[];
}

function edgesOf(root: NodeView): Edge[] {
  const edges: Edge[] = [];
  const visit = (node: NodeView): void => {
    const add = (event: string, transition: TransitionView): void => {
      const targets = transition.target && transition.target.length > 0 ? transition.target : [node];
      for (const target of targets) {
        edges.push({ source: node, target, event, guard: transition.guard === undefined ? undefined : nameOf(transition.guard), actions: transition.actions.map(nameOf) });
      }
    };
    for (const [event, transitions] of node.transitions) for (const transition of transitions) add(event, transition);
    for (const transition of node.always ?? []) add('(always)', transition);
    for (const child of Object.values(node.states)) visit(child);
  };
  visit(root);
  return edges;
}

const label = (edge: Edge): string => `${edge.event}${edge.guard ? ` [${edge.guard}]` : ''}${edge.actions.length > 0 ? ` / ${edge.actions.join(', ')}` : ''}`;

export function mermaidOf(machine: AnyStateMachine): string {
  const root = machine.root as unknown as NodeView;
  const edges = edgesOf(root);
  const lines: string[] = ['stateDiagram-v2'];
  const block = (scope: NodeView, indent: string): void => {
    const children = Object.values(scope.states);
    const initial = scope.initial?.target[0];
    if (scope.type === 'compound' && initial) lines.push(`${indent}[*] --> ${mermaidId(initial)}`);
    children.forEach((child, at) => {
      if (scope.type === 'parallel' && at > 0) lines.push(`${indent}--`);
      const id = mermaidId(child);
      if (child.type === 'history') {
        lines.push(`${indent}state "${child.key} (${child.history === 'deep' ? 'deep ' : ''}history)" as ${id}`);
      } else if (Object.keys(child.states).length > 0) {
        lines.push(`${indent}state "${child.key}${child.type === 'parallel' ? ' (parallel)' : ''}" as ${id} {`);
        block(child, `${indent}  `);
        lines.push(`${indent}}`);
      } else {
        lines.push(`${indent}state "${child.key}" as ${id}`);
      }
    });
    for (const edge of edges) if (scopeOf(edge.source, edge.target) === scope) lines.push(`${indent}${mermaidId(edge.source)} --> ${mermaidId(edge.target)} : ${label(edge)}`);
  };
  block(root, '  ');
  return lines.join('\n');
}

const relative = (node: NodeView): string => node.id.split('.').slice(1).join('.') || '(machine)';

export function diagramDocument(source: DiagramSource): string {
  const root = source.machine.root as unknown as NodeView;
  const rows = edgesOf(root).map((edge) => `| ${relative(edge.source)} | ${edge.event} | ${edge.guard ?? ''} | ${edge.target === edge.source ? '(stays)' : relative(edge.target)} | ${edge.actions.join(', ')} |`);
  const context = (source.machine.config as { context?: unknown }).context;
  return [
    `<!-- Generated by tools/model-check/diagrams.ts from ${source.source}: do not edit. \`npm run model-check:docs\` regenerates, \`npm run model-check\` fails when this file is stale. -->`,
    `# ${source.title} (\`${source.source}\`)`,
    '',
    'Read from the machine definition itself: states, transitions, guards (in brackets) and actions (after the slash).',
    `Initial context: \`${JSON.stringify(context)}\`.`,
    '',
    '```mermaid',
    mermaidOf(source.machine),
    '```',
    '',
    '| from | event | guard | to | actions |',
    '|---|---|---|---|---|',
    ...rows,
    '',
    'Invariants and how they are checked: [docs/invariants.md](../invariants.md).',
    '',
  ].join('\n');
}

export function invariantsDocument(): string {
  const lines: string[] = [
    '<!-- Generated by tools/model-check/diagrams.ts from tools/model-check/invariants.ts: do not edit. `npm run model-check:docs` regenerates, `npm run model-check` fails when this file is stale. -->',
    '# Invariants',
    '',
    'The catalogue of invariants the model checker (`npm run model-check`, tools/model-check/) checks, written once in',
    '`tools/model-check/invariants.ts`. Each is checked on the machines of `machines/` (every reachable state and step',
    'under a bounded event alphabet), on the whole device (the real actors on the simulated board, with interleavings',
    'and power cuts), or both. Each planted mutant listed must make the checker report a counterexample',
    '(test/model-check-mutants.test.ts).',
    '',
    'Diagrams: [PIN](diagrams/pin.md), [lifecycle](diagrams/lifecycle.md), [storage](diagrams/storage.md).',
    '',
    '| id | invariant | origin |',
    '|---|---|---|',
    ...CATALOGUE.map((item) => {
      const findings = KNOWN_FINDINGS.filter((finding) => finding.invariants.includes(item.id)).map((finding) => finding.id);
      return `| \`${item.id}\` | ${item.title}${findings.length > 0 ? ` (known finding ${findings.join(', ')})` : ''} | ${item.origin} |`;
    }),
    '',
  ];
  for (const item of CATALOGUE) {
    lines.push(`## \`${item.id}\``, '', `**${item.title}.** ${item.statement}`, '');
    if (item.note) lines.push(`*Note:* ${item.note}`, '');
    const checks = checksOf(item.id);
    if (checks.length > 0) {
      lines.push('Checked:', '');
      for (const check of checks) lines.push(`- ${check.scope === 'system' ? 'system' : `${check.scope} machine`}: ${check.check}`);
      lines.push('');
    }
    const mutants = [...MACHINE_MUTANTS, ...SYSTEM_MUTANTS].filter((mutant) => mutant.caughtBy.includes(item.id));
    if (mutants.length > 0) {
      lines.push('Mutants that must trip it:', '');
      for (const mutant of mutants) lines.push(`- ${mutant.id}: ${mutant.description}`);
      lines.push('');
    }
  }
  lines.push('## Known findings', '', 'Defects the checker found in the actors (reported, not fixed here; `npm run model-check` prints them as advisory and fails on any other violation).', '');
  for (const finding of KNOWN_FINDINGS) {
    lines.push(`### ${finding.id}: ${finding.title}`, '', finding.description, '', `Invariants it violates: ${finding.invariants.map((id) => `\`${id}\``).join(', ')}.`, '');
  }
  lines.push(
    '## What is explored',
    '',
    'Machines (every event of the alphabet in every reachable state, with xstate\'s pure `transition`; a state is its value,',
    'context, history and monitor):',
    '',
  );
  for (const make of MACHINE_MODELS) {
    const model = make();
    lines.push(`- ${model.name}: ${(model.domains ?? []).join('; ')}`);
  }
  lines.push(
    '',
    'The built-in checks of every machine: no state is an error state (`machine.no-error`), and no state other than an',
    'intended terminal one (none) has no way out (reported under `always-recoverable`).',
    '',
    'System (tools/model-check/composition.ts): breadth-first over these commands, from these roots (the bound is the',
    'depth from each root); commands marked concurrent are also run with a board `pin.endSession` of the same card',
    'session under several scheduler seeds; every command that writes flash is also run with a power cut at sampled flash',
    'operations, then a reboot.',
    '',
    ...SYSTEM_COMMANDS.map((command) => `- ${command.id}${command.keyOperation ? ' (key operation)' : ''}${command.concurrent ? ' (concurrent)' : ''}`),
    '',
    ...STANDARD_ROOTS.map((root) => `- root ${root.name}: ${root.commands.length > 0 ? root.commands.join(', ') : 'the installed device'}; depth ${root.depth}`),
    '',
  );
  return lines.join('\n');
}

/** Every generated file, by path relative to the repository. */
export function generatedDocs(): Map<string, string> {
  const files = new Map<string, string>();
  for (const source of DIAGRAMS) files.set(`docs/diagrams/${source.name}.md`, diagramDocument(source));
  files.set('docs/invariants.md', invariantsDocument());
  return files;
}

/** The generated files whose committed copy differs (or is missing). */
export function staleDocs(repository = REPOSITORY): string[] {
  const stale: string[] = [];
  for (const [path, content] of generatedDocs()) {
    let committed: string | undefined;
    try {
      committed = readFileSync(join(repository, path), 'utf8');
    } catch {
      committed = undefined;
    }
    if (committed !== content) stale.push(path);
  }
  return stale;
}

export function writeDocs(repository = REPOSITORY): string[] {
  const written: string[] = [];
  for (const [path, content] of generatedDocs()) {
    mkdirSync(dirname(join(repository, path)), { recursive: true });
    writeFileSync(join(repository, path), content);
    written.push(path);
  }
  return written;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (process.argv.includes('--check')) {
    const stale = staleDocs();
    if (stale.length > 0) {
      console.error(`stale generated docs (run npm run model-check:docs): ${stale.join(', ')}`);
      process.exit(1);
    }
    console.log('generated docs are up to date');
  } else {
    for (const path of writeDocs()) console.log(`wrote ${path}`);
  }
}
