/**
 * Macro logic for model-based tests: a machine of machines/ seen at the granularity at which the device can be
 * driven. One macro (a command, a reboot, a power cut) is the sequence of machine events the real actor sends for
 * it, applied with xstate's pure `transition`; a macro may also restart the machine (what a reboot does: the actor
 * builds a new machine). The result is ordinary actor logic, so `xstate/graph` (getShortestPaths,
 * getSimplePaths) generates the paths, and every state on a path is a real snapshot of the real machine.
 *
 *   const logic = macroLogic(pinMachine, PIN_MACROS);
 *   const paths = getShortestPaths(logic, { events: macroEventsOf(logic), serializeState: logic.serialize });
 */
import { initialTransition, transition, type ActorLogic, type AnyMachineSnapshot, type AnyStateMachine, type EventObject } from 'xstate';
import { adjacencyMapToArray, getAdjacencyMap, getShortestPaths, getSimplePaths } from 'xstate/graph';
import { historyOf, stableStringify } from './explore.js';

export interface MacroEvent {
  readonly type: string;
}

export interface Macro<S extends AnyMachineSnapshot> {
  readonly type: string;
  /** The machine events the actor sends for this macro from `snapshot`, or undefined when it does not apply. */
  events(snapshot: S): readonly EventObject[] | undefined;
  /** The macro starts from a new machine (the actor rebuilds its machine, e.g. on a reboot). */
  readonly restart?: boolean;
}

export interface MacroStep<S> {
  readonly event: EventObject;
  readonly snapshot: S;
}

export interface MacroLogic<S extends AnyMachineSnapshot> extends ActorLogic<S, MacroEvent> {
  readonly macros: readonly Macro<S>[];
  /** Applies one macro, returning every intermediate snapshot. */
  apply(snapshot: S, macro: MacroEvent): { readonly after: S; readonly steps: readonly MacroStep<S>[] };
  /** The state key for the graph: value, context (through `project`) and history. */
  serialize(snapshot: S): string;
  /** The macros that apply in a state (the `events` option of the graph functions). */
  applicable(snapshot: S): MacroEvent[];
}

export interface MacroLogicOptions<S> {
  /** The part of the context in the state key (default: all of it). */
  project?(snapshot: S): unknown;
  /** Whether history values are part of the state key (default true; the device cannot show them). */
  readonly history?: boolean;
}

export function macroLogic<TMachine extends AnyStateMachine, S extends AnyMachineSnapshot>(machine: TMachine, macros: readonly Macro<S>[], options: MacroLogicOptions<S> = {}): MacroLogic<S> {
  const project = options.project ?? ((snapshot: S) => snapshot.context);
  const initial = (): S => (initialTransition(machine as AnyStateMachine) as unknown as [S])[0];
  const apply = (snapshot: S, event: MacroEvent): { after: S; steps: MacroStep<S>[] } => {
    const macro = macros.find((item) => item.type === event.type);
    const events = macro?.events(snapshot);
    if (!macro || !events) return { after: snapshot, steps: [] };
    let current = macro.restart ? initial() : snapshot;
    const steps: MacroStep<S>[] = [];
    for (const step of events) {
      current = (transition(machine as AnyStateMachine, current as never, step as never) as unknown as [S])[0];
      steps.push({ event: step, snapshot: current });
    }
    return { after: current, steps };
  };
  const logic = {
    macros,
    config: machine,
    transition: (snapshot: S, event: MacroEvent) => apply(snapshot, event).after,
    getInitialSnapshot: () => initial(),
    getPersistedSnapshot: (snapshot: S) => snapshot,
    apply,
    serialize: (snapshot: S) => stableStringify({ value: snapshot.value, context: project(snapshot), history: options.history === false ? {} : historyOf(snapshot) }),
    applicable: (snapshot: S) => macros.filter((macro) => macro.events(snapshot) !== undefined).map((macro) => ({ type: macro.type })),
  };
  return logic as unknown as MacroLogic<S>;
}

/** A path as xstate/graph gives it: steps[0] is the initial state (event `xstate.init`), then one step per macro. */
export interface GraphPath<S> {
  readonly state: S;
  readonly steps: readonly { readonly state: S; readonly event: EventObject }[];
}

function graphOptions<S extends AnyMachineSnapshot>(logic: MacroLogic<S>) {
  return { events: (snapshot: S) => logic.applicable(snapshot), serializeState: (snapshot: S) => logic.serialize(snapshot) };
}

type Generator = (logic: unknown, options: unknown) => GraphPath<never>[];

/** State coverage: xstate/graph's shortest path to every reachable state. */
export function shortestPaths<S extends AnyMachineSnapshot>(logic: MacroLogic<S>): GraphPath<S>[] {
  return (getShortestPaths as unknown as Generator)(logic, graphOptions(logic)) as GraphPath<S>[];
}

/** xstate/graph's simple paths (no state twice) to every reachable state (small graphs only). */
export function simplePaths<S extends AnyMachineSnapshot>(logic: MacroLogic<S>): GraphPath<S>[] {
  return (getSimplePaths as unknown as Generator)(logic, graphOptions(logic)) as GraphPath<S>[];
}

/**
 * Transition coverage: for every edge of xstate/graph's adjacency map (self-loops included: a reboot that must
 * change nothing, a command a blocked PIN refuses), the shortest path to its source followed by that edge.
 */
export function transitionPaths<S extends AnyMachineSnapshot>(logic: MacroLogic<S>): GraphPath<S>[] {
  const options = graphOptions(logic);
  const toState = new Map(shortestPaths(logic).map((path) => [logic.serialize(path.state), path]));
  const edges = adjacencyMapToArray((getAdjacencyMap as unknown as (l: unknown, o: unknown) => Parameters<typeof adjacencyMapToArray>[0])(logic, options)) as { state: S; event: EventObject; nextState: S }[];
  return edges.map((edge) => {
    const head = toState.get(logic.serialize(edge.state));
    if (!head) throw new Error(`no shortest path to ${logic.serialize(edge.state)}`);
    return { state: edge.nextState, steps: [...head.steps, { state: edge.nextState, event: edge.event }] };
  });
}
