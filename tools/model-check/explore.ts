/**
 * The explorer: breadth-first search over the snapshots of one pure xstate machine.
 *
 * A model (tools/model-check/models.ts) gives the machine, an event alphabet with bounded data, an optional data
 * abstraction for the state key, a monitor (ghost state that observes the event stream: the specification side of
 * an invariant, kept apart from the machine's own bookkeeping), the invariants to check and the reachability
 * requirements. The explorer:
 *
 * - starts from `initialTransition(machine)` and applies every event of the alphabet to every reached snapshot with
 *   xstate's pure `transition(machine, snapshot, event)` (no actor, no side effect);
 * - keys a state by its value, its (abstracted) context, its history and its monitor, so two snapshots that only a
 *   history state tells apart are not merged;
 * - checks the state invariants in every reached state and the step invariants on every (state, event) pair,
 *   handled or not (an ignored event must keep every invariant too);
 * - after the search, checks each reachability requirement ("from every reachable state satisfying `from`, a state
 *   satisfying `target` is reachable, through states satisfying `via`") on the reverse graph, and reports every
 *   state that has no way out as a trap unless the model calls it terminal;
 * - reports a violation with the shortest event path from the initial state (BFS parents).
 */
import { initialTransition, transition, type AnyMachineSnapshot, type AnyStateMachine, type EventObject } from 'xstate';

/** A reached state: the machine's snapshot and the monitor's ghost state. */
export interface Observed<S = AnyMachineSnapshot, M = unknown> {
  readonly snapshot: S;
  readonly monitor: M;
}

export interface StateInvariant<S = AnyMachineSnapshot, M = unknown> {
  readonly kind: 'state';
  /** The catalogue id (tools/model-check/invariants.ts). */
  readonly id: string;
  /** What is checked here, in one line (the catalogue holds the statement). */
  readonly check: string;
  holds(state: Observed<S, M>): boolean;
}

export interface StepInvariant<S = AnyMachineSnapshot, E extends EventObject = EventObject, M = unknown> {
  readonly kind: 'step';
  readonly id: string;
  readonly check: string;
  holds(before: Observed<S, M>, event: E, after: Observed<S, M>): boolean;
}

export type Invariant<S = AnyMachineSnapshot, E extends EventObject = EventObject, M = unknown> = StateInvariant<S, M> | StepInvariant<S, E, M>;

/** "From every reachable state satisfying `from`, some state satisfying `target` is reachable (through `via`)." */
export interface Reachability<S = AnyMachineSnapshot, M = unknown> {
  readonly id: string;
  readonly check: string;
  from?(state: Observed<S, M>): boolean;
  target(state: Observed<S, M>): boolean;
  /** Every state on the way (the start included) must satisfy this. */
  via?(state: Observed<S, M>): boolean;
}

export interface Monitor<S = AnyMachineSnapshot, E extends EventObject = EventObject, M = unknown> {
  initial(snapshot: S): M;
  next(before: Observed<S, M>, event: E, after: S): M;
}

export interface Model<TMachine extends AnyStateMachine = AnyStateMachine, S = AnyMachineSnapshot, E extends EventObject = EventObject, M = unknown> {
  readonly name: string;
  readonly machine: TMachine;
  /** The event alphabet (bounded data) offered in a state. */
  alphabet(snapshot: S): readonly E[];
  /** The part of the context that goes into the state key (default: the whole context). */
  abstraction?(snapshot: S): unknown;
  readonly monitor?: Monitor<S, E, M>;
  readonly invariants: readonly Invariant<S, E, M>[];
  readonly reachability: readonly Reachability<S, M>[];
  /** States allowed to have no way out (none of ours). */
  terminal?(state: Observed<S, M>): boolean;
  /** The catalogue id a trap is reported under (default `machine.no-trap`). */
  readonly trapInvariant?: string;
  /** Stop (and fail) past this many states. */
  readonly maxStates?: number;
  /** One line per data domain, for the report. */
  readonly domains?: readonly string[];
}

export interface PathStep {
  readonly event: EventObject;
  readonly state: string;
}

export interface Violation {
  readonly model: string;
  readonly invariant: string;
  readonly kind: 'state' | 'step' | 'reachability' | 'trap' | 'error' | 'bound';
  readonly message: string;
  /** The shortest event path from the initial state to the state (or step) that breaks the invariant. */
  readonly path: readonly PathStep[];
  readonly initial: string;
}

export interface ExploreResult {
  readonly model: string;
  readonly states: number;
  readonly transitions: number;
  /** Distinct invariant ids checked (state, step and reachability). */
  readonly invariants: readonly string[];
  /** Predicate evaluations performed. */
  readonly evaluations: number;
  readonly milliseconds: number;
  readonly violations: readonly Violation[];
}

interface Node<S, M> {
  readonly key: string;
  readonly observed: Observed<S, M>;
  readonly parent: number;
  readonly event: EventObject | undefined;
  readonly successors: Set<number>;
}

/** JSON with object keys sorted, so equal values always give equal keys. */
export function stableStringify(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) => {
    if (item === undefined) return null;
    if (item && typeof item === 'object' && !Array.isArray(item)) {
      const sorted: Record<string, unknown> = {};
      for (const name of Object.keys(item as object).sort()) sorted[name] = (item as Record<string, unknown>)[name];
      return sorted;
    }
    return item;
  });
}

/** The history part of a snapshot (state node ids), which `value` and `context` do not show. */
export function historyOf(snapshot: AnyMachineSnapshot): Record<string, string[]> {
  const history = (snapshot as unknown as { historyValue?: Record<string, readonly { id: string }[]> }).historyValue ?? {};
  const out: Record<string, string[]> = {};
  for (const [id, nodes] of Object.entries(history)) out[id] = nodes.map((node) => node.id);
  return out;
}

/** How a state is printed in a counterexample: value, context and (if any) history. */
export function describeSnapshot(snapshot: AnyMachineSnapshot, monitor?: unknown): string {
  const history = historyOf(snapshot);
  const parts = [`${stableStringify(snapshot.value)} ${stableStringify(snapshot.context)}`];
  if (Object.keys(history).length > 0) parts.push(`history ${stableStringify(history)}`);
  if (monitor !== undefined) parts.push(`monitor ${stableStringify(monitor)}`);
  return parts.join(' ');
}

export function describeEvent(event: EventObject): string {
  const { type, ...data } = event as EventObject & Record<string, unknown>;
  return Object.keys(data).length === 0 ? type : `${type} ${stableStringify(data)}`;
}

/** Explores a model completely and checks it. */
export function explore<TMachine extends AnyStateMachine, S extends AnyMachineSnapshot, E extends EventObject, M>(model: Model<TMachine, S, E, M>): ExploreResult {
  const started = performance.now();
  const maxStates = model.maxStates ?? 200_000;
  const monitor = model.monitor;
  const nodes: Node<S, M>[] = [];
  const index = new Map<string, number>();
  const violations: Violation[] = [];
  const violated = new Set<string>();
  let evaluations = 0;
  let transitions = 0;

  const keyOf = (observed: Observed<S, M>): string =>
    stableStringify({
      value: observed.snapshot.value,
      context: model.abstraction ? model.abstraction(observed.snapshot) : observed.snapshot.context,
      history: historyOf(observed.snapshot),
      monitor: observed.monitor,
    });

  const pathTo = (nodeIndex: number): PathStep[] => {
    const steps: PathStep[] = [];
    for (let at = nodeIndex; at > 0; at = nodes[at].parent) {
      const node = nodes[at];
      steps.push({ event: node.event!, state: describeSnapshot(node.observed.snapshot, node.observed.monitor) });
    }
    return steps.reverse();
  };

  const report = (invariant: string, kind: Violation['kind'], message: string, path: PathStep[]): void => {
    // The first (hence shortest, BFS order) counterexample of each invariant is enough.
    if (violated.has(invariant)) return;
    violated.add(invariant);
    violations.push({ model: model.name, invariant, kind, message, path, initial: describeSnapshot(nodes[0].observed.snapshot, nodes[0].observed.monitor) });
  };

  const [initialSnapshot] = initialTransition(model.machine as AnyStateMachine) as unknown as [S, unknown];
  const initial: Observed<S, M> = { snapshot: initialSnapshot, monitor: monitor ? monitor.initial(initialSnapshot) : (undefined as M) };
  nodes.push({ key: keyOf(initial), observed: initial, parent: -1, event: undefined, successors: new Set() });
  index.set(nodes[0].key, 0);

  const stateInvariants = model.invariants.filter((invariant): invariant is StateInvariant<S, M> => invariant.kind === 'state');
  const stepInvariants = model.invariants.filter((invariant): invariant is StepInvariant<S, E, M> => invariant.kind === 'step');

  for (let at = 0; at < nodes.length; at++) {
    const node = nodes[at];
    const before = node.observed;
    if (before.snapshot.status === 'error') {
      report('machine.no-error', 'error', `the machine is in an error state: ${String((before.snapshot as { error?: unknown }).error)}`, pathTo(at));
      continue;
    }
    for (const invariant of stateInvariants) {
      evaluations++;
      if (!invariant.holds(before)) report(invariant.id, 'state', invariant.check, pathTo(at));
    }
    for (const event of model.alphabet(before.snapshot)) {
      // An event no enabled transition handles leaves the snapshot as it is (xstate's `can`), so skip `transition`.
      const handled = (before.snapshot as AnyMachineSnapshot).can(event);
      const afterSnapshot = handled ? (transition(model.machine, before.snapshot as never, event as never) as unknown as [S, unknown])[0] : before.snapshot;
      const after: Observed<S, M> = { snapshot: afterSnapshot, monitor: monitor ? monitor.next(before, event, afterSnapshot) : (undefined as M) };
      const key = keyOf(after);
      for (const invariant of stepInvariants) {
        evaluations++;
        if (!invariant.holds(before, event, after)) {
          report(invariant.id, 'step', invariant.check, [...pathTo(at), { event, state: describeSnapshot(afterSnapshot, after.monitor) }]);
        }
      }
      if (!handled && key === node.key) continue;
      let target = index.get(key);
      if (target === undefined) {
        if (nodes.length >= maxStates) {
          report('explorer.bound', 'bound', `more than ${maxStates} states: the data domains are not bounded enough`, pathTo(at));
          break;
        }
        target = nodes.length;
        nodes.push({ key, observed: after, parent: at, event, successors: new Set() });
        index.set(key, target);
      }
      if (!node.successors.has(target)) {
        node.successors.add(target);
        transitions++;
      }
    }
  }

  // Reachability on the reverse graph: every start must reach a target.
  const predecessors: number[][] = nodes.map(() => []);
  nodes.forEach((node, from) => node.successors.forEach((to) => predecessors[to].push(from)));
  for (const requirement of model.reachability) {
    const via = requirement.via ?? (() => true);
    const reaches = new Uint8Array(nodes.length);
    const queue: number[] = [];
    nodes.forEach((node, at) => {
      evaluations++;
      if (requirement.target(node.observed)) {
        reaches[at] = 1;
        queue.push(at);
      }
    });
    while (queue.length > 0) {
      const at = queue.pop()!;
      for (const from of predecessors[at]) {
        if (reaches[from] || !via(nodes[from].observed)) continue;
        reaches[from] = 1;
        queue.push(from);
      }
    }
    for (let at = 0; at < nodes.length; at++) {
      const observed = nodes[at].observed;
      if (reaches[at] || (requirement.from && !requirement.from(observed)) || !via(observed)) continue;
      report(requirement.id, 'reachability', `${requirement.check}: from the last state of this path, no such state is reachable`, pathTo(at));
      break;
    }
  }

  // Traps: states with no way out that the model does not call terminal.
  for (let at = 0; at < nodes.length; at++) {
    const node = nodes[at];
    if ([...node.successors].some((to) => to !== at)) continue;
    if (model.terminal?.(node.observed)) continue;
    report(model.trapInvariant ?? 'machine.no-trap', 'trap', 'a state with no way out (no event of the alphabet leaves it) that is not an intended terminal state', pathTo(at));
    break;
  }

  const invariants = [...new Set([...model.invariants.map((invariant) => invariant.id), ...model.reachability.map((requirement) => requirement.id), model.trapInvariant ?? 'machine.no-trap', 'machine.no-error'])];
  return {
    model: model.name,
    states: nodes.length,
    transitions,
    invariants,
    evaluations,
    milliseconds: performance.now() - started,
    violations,
  };
}

/** A violation as text: the invariant, what failed, and the numbered shortest path to it. */
export function formatViolation(violation: Violation): string {
  const lines = [`VIOLATION ${violation.model}: ${violation.invariant} (${violation.kind})`, `  ${violation.message}`, `  shortest path (${violation.path.length} events):`, `    0. initial -> ${violation.initial}`];
  violation.path.forEach((step, at) => lines.push(`    ${at + 1}. ${describeEvent(step.event)} -> ${step.state}`));
  return lines.join('\n');
}
