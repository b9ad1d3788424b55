/**
 * The model checker on every machine of machines/: zero violations, the catalogue is complete and checked, the
 * generated docs are current, and the explorer itself finds shortest counterexamples, respects history states and
 * detects traps (on small machines made up for the purpose).
 */
import { describe, expect, it } from 'vitest';
import { assign, setup } from 'xstate';
import { explore, formatViolation, type Model } from '../tools/model-check/explore.js';
import { staleDocs } from '../tools/model-check/diagrams.js';
import { CATALOGUE, checksByScope } from '../tools/model-check/invariants.js';
import { MACHINE_MODELS } from '../tools/model-check/models.js';

describe('model check of machines/', () => {
  for (const make of MACHINE_MODELS) {
    const model = make() as unknown as Model;
    it(`${model.name}: every reachable state and step keeps every invariant, and nothing is a trap`, () => {
      const result = explore(model);
      for (const violation of result.violations) console.log(formatViolation(violation));
      console.log(`${result.model}: ${result.states} states, ${result.transitions} transitions, ${result.invariants.length} invariants (${result.evaluations} evaluations), ${result.milliseconds.toFixed(0)} ms`);
      expect(result.violations).toEqual([]);
      expect(result.states).toBeGreaterThan(10);
      expect(result.transitions).toBeGreaterThanOrEqual(result.states - 1);
    });
  }

  it('the catalogue is written once and every invariant in it is checked somewhere', () => {
    const ids = CATALOGUE.map((item) => item.id);
    expect(new Set(ids).size).toBe(ids.length);
    const scopes = checksByScope();
    for (const id of ids) expect(scopes[id], `${id} has no check`).toBeDefined();
    for (const id of Object.keys(scopes)) expect(ids, `check of ${id}, which the catalogue does not list`).toContain(id);
    // The six invariants, each with a check.
    for (const id of [
      'key-operation-needs-verified-session',
      'retry-counter-rises-only-by-match-reset-reinit',
      'blocked-left-only-by-so-reset-or-reinit',
      'reinit-requires-so-pin',
      'reinit-wipes-everything',
      'stage-never-regresses-without-wipe',
      'storage-ready-only-when-recovered',
    ]) {
      expect(scopes[id]?.length ?? 0, id).toBeGreaterThan(0);
    }
  });

  it('the diagrams and the invariant list in docs/ are what the code generates', () => {
    expect(staleDocs(), 'run npm run model-check:docs').toEqual([]);
  });
});

describe('the explorer', () => {
  const counter = setup({ types: { context: {} as { count: number }, events: {} as { type: 'INC' } | { type: 'RESET' } } }).createMachine({
    id: 'counter',
    context: { count: 0 },
    initial: 'on',
    states: { on: { on: { INC: { actions: assign({ count: ({ context }) => Math.min(context.count + 1, 5) }) }, RESET: { actions: assign({ count: 0 }) } } } },
  });
  const counterModel = (extra: Partial<Model> = {}): Model =>
    ({
      name: 'counter',
      machine: counter,
      alphabet: () => [{ type: 'RESET' }, { type: 'INC' }],
      invariants: [{ kind: 'state', id: 'below-three', check: 'count < 3', holds: ({ snapshot }: { snapshot: { context: { count: number } } }) => snapshot.context.count < 3 }],
      reachability: [],
      ...extra,
    }) as unknown as Model;

  it('reports the shortest event path to a violation', () => {
    const result = explore(counterModel());
    expect(result.states).toBe(6);
    expect(result.violations).toHaveLength(1);
    expect(result.violations[0]!.path.map((step) => step.event.type)).toEqual(['INC', 'INC', 'INC']);
    expect(formatViolation(result.violations[0]!)).toContain('3. INC');
  });

  it('finds states from which a required state is unreachable, and traps', () => {
    const oneWay = setup({ types: { events: {} as { type: 'GO' } | { type: 'BACK' } } }).createMachine({ id: 'oneWay', initial: 'a', states: { a: { on: { GO: 'b' } }, b: { on: { GO: 'c', BACK: 'a' } }, c: {} } });
    const result = explore({
      name: 'oneWay',
      machine: oneWay,
      alphabet: () => [{ type: 'GO' }, { type: 'BACK' }],
      invariants: [],
      reachability: [{ id: 'back-to-a', check: 'a is reachable', target: ({ snapshot }: { snapshot: { value: unknown } }) => snapshot.value === 'a' }],
    } as unknown as Model);
    const ids = result.violations.map((violation) => violation.invariant);
    expect(ids).toEqual(['back-to-a', 'machine.no-trap']);
    expect(result.violations[0]!.path.map((step) => step.event.type)).toEqual(['GO', 'GO']);
  });

  it('keys states on their history: a history state that returns to different places gives different states', () => {
    const withHistory = setup({ types: { events: {} as { type: 'NEXT' } | { type: 'OUT' } | { type: 'IN' } } }).createMachine({
      id: 'h',
      initial: 'inside',
      states: {
        inside: { initial: 'one', on: { OUT: 'outside' }, states: { one: { on: { NEXT: 'two' } }, two: {}, back: { type: 'history' } } },
        outside: { on: { IN: 'inside.back' } },
      },
    });
    const result = explore({ name: 'h', machine: withHistory, alphabet: () => [{ type: 'NEXT' }, { type: 'OUT' }, { type: 'IN' }], invariants: [], reachability: [] } as unknown as Model);
    // inside.one, inside.two, outside (remembering one), outside (remembering two), and the two returns.
    expect(result.states).toBeGreaterThanOrEqual(4);
    expect(result.violations.filter((violation) => violation.invariant !== 'machine.no-trap')).toEqual([]);
  });
});
