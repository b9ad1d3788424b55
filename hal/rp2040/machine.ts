/**
 * A small statechart interpreter for the Pico: the subset of xstate v5 that machines/*.ts use, with xstate's
 * semantics, in ~2 KB instead of xstate's ~40 KB (which, with the rest of the firmware, does not fit the Pico's
 * 180 KB heap). tools/build-pico.ts substitutes this module for `xstate` in the device bundle only; the host, the
 * tests and the model checker keep running real xstate, and test/pico-runtime.test.ts replays every transition the
 * explorer reaches on both and requires identical values, contexts, `matches` and recorded history.
 *
 * Supported: `setup({ guards, actions }).createMachine(config)` with nested compound states, parallel states,
 * shallow history (no default target), `on` and `always` with one target string (sibling, `sibling.child`,
 * `.child`, `#id.path`) or none, named guards, named `assign` actions (updater function or property map), internal
 * (non re-entering) transitions as xstate v5's default, conflict resolution between parallel regions, and the actor
 * surface `createActor(machine).start()`, `send`, `getSnapshot()` (`value`, `context`, `matches`), `stop`.
 * A machine is compiled into linked state nodes once; it is then a function: `machine()` is the initial snapshot,
 * `machine(snapshot, event)` the snapshot after a macrostep (the event's transitions, then eventless ones).
 * Refused when the machine is built: unknown config keys (entry, exit, invoke, after, reenter, `history` (deep or
 * explicit shallow), a history `target`, ...), state types other than parallel and history, wildcard events,
 * unknown guard or action names, unresolvable targets.
 * Not emulated (the firmware never does these): inline guards and actions, target arrays, escaped dots in
 * `matches`, events sent before `start()`, stopping a transient (eventless) loop that changes nothing.
 */

type Context = Record<string, unknown>;
interface EventObject {
  readonly type: string;
}
interface ActionArguments {
  readonly context: Context;
  readonly event: EventObject;
}
type Guard = (arguments_: ActionArguments) => boolean;
/** What `assign` returns: the context properties a transition updates. */
type Assigner = (arguments_: ActionArguments) => Context;
type StateValue = string | { [key: string]: StateValue };

type TransitionConfig = string | { target?: string; guard?: string; actions?: string | string[] };
interface StateConfig {
  id?: string;
  type?: 'parallel' | 'history';
  initial?: string;
  states?: Record<string, StateConfig>;
  on?: Record<string, TransitionConfig | TransitionConfig[]>;
  always?: TransitionConfig | TransitionConfig[];
  context?: Context;
}
interface Implementations {
  guards?: Record<string, Guard>;
  actions?: Record<string, Assigner>;
}

interface StateNode {
  readonly key: string;
  readonly id: string;
  readonly parent: StateNode | undefined;
  readonly type: StateConfig['type'];
  /** Child states in document order, without the history child. */
  readonly children: StateNode[];
  initial?: StateNode;
  /** The (shallow) history child. */
  history?: StateNode;
  /** Transitions by event type; '' holds the eventless (`always`) ones. */
  readonly on: Map<string, Transition[]>;
}

interface Transition {
  readonly source: StateNode;
  readonly target: StateNode | undefined;
  readonly guard: Guard | undefined;
  readonly actions: Assigner[];
}

export interface Snapshot {
  readonly value: StateValue;
  readonly context: Context;
  /** The active state nodes, in document order. */
  readonly nodes: StateNode[];
  /** Shallow history: history node id -> the children that were active when its parent was last exited. */
  readonly history: Record<string, StateNode[]>;
  matches(value: StateValue): boolean;
}

/** A compiled machine: `machine()` is the initial snapshot, `machine(snapshot, event)` the next one. */
export type Machine = (snapshot?: Snapshot, event?: EventObject) => Snapshot;

const STATE_KEYS = /^(id|type|initial|states|on|always|context)$/;
const TRANSITION_KEYS = /^(target|guard|actions)$/;

function unsupported(what: unknown): never {
  throw new Error(`machine: ${String(what)} is not supported on this board`);
}

export function assign(assignment: Assigner | Context): Assigner {
  return (arguments_) => {
    if (typeof assignment == 'function') return (assignment as Assigner)(arguments_);
    const update: Context = {};
    for (const key in assignment) {
      const value = assignment[key];
      update[key] = typeof value == 'function' ? (value as Assigner)(arguments_) : value;
    }
    return update;
  };
}

/** Whether `node` lies strictly inside `ancestor`. */
function within(node: StateNode | undefined, ancestor: StateNode | undefined): boolean {
  while (node && (node = node.parent)) if (node == ancestor) return true;
  return false;
}

/** xstate's `matchesState`: every key (and leaf) of `test` is in `value`; 'a.b' stands for { a: 'b' }. */
function matches(test: StateValue, value: StateValue): boolean {
  if (typeof test == 'string') {
    const dot = test.indexOf('.');
    if (dot > 0) return matches({ [test.slice(0, dot)]: test.slice(dot + 1) }, value);
    return typeof value == 'string' ? test == value : test in value;
  }
  return typeof value != 'string' && Object.keys(test).every((key) => key in value && matches(test[key], value[key]));
}

export function setup({ guards = {}, actions = {} }: Implementations): { createMachine(config: StateConfig): Machine } {
  return {
    createMachine(config) {
      const byId: Record<string, StateNode> = {};
      const configs = new Map<StateNode, StateConfig>();
      const check = (object: object, supported: RegExp): void => {
        for (const key in object) if (!supported.test(key)) unsupported(key);
      };

      const build = (key: string, config: StateConfig, parent?: StateNode): StateNode => {
        check(config, STATE_KEYS);
        if (config.type && !/^(parallel|history)$/.test(config.type)) unsupported(config.type);
        const node: StateNode = { key, id: config.id || (parent ? `${parent.id}.${key}` : key), parent, type: config.type, children: [], on: new Map() };
        byId[node.id] = node;
        configs.set(node, config);
        const states = config.states || {};
        for (const childKey in states) {
          const child = build(childKey, states[childKey], node);
          if (child.type == 'history') node.history = child;
          else node.children.push(child);
        }
        return node;
      };
      const root = build('(machine)', config);

      // Targets as xstate resolves them: `#id.path`, `.child` of the source, else a path from the source's parent.
      const resolve = (source: StateNode, target: string): StateNode =>
        byId[target[0] == '#' ? target.slice(1) : target[0] == '.' ? source.id + target : `${(source.parent || unsupported(target)).id}.${target}`] || unsupported(target);
      const transitions = (source: StateNode, list: TransitionConfig | TransitionConfig[]): Transition[] =>
        ([] as TransitionConfig[]).concat(list).map((item) => {
          const spec = typeof item == 'string' ? { target: item } : item;
          check(spec, TRANSITION_KEYS);
          return {
            source,
            target: spec.target === undefined ? undefined : resolve(source, spec.target),
            guard: spec.guard === undefined ? undefined : guards[spec.guard] || unsupported(spec.guard),
            actions: ([] as string[]).concat(spec.actions || []).map((name) => actions[name] || unsupported(name)),
          };
        });
      for (const [node, config] of configs) {
        if (node.children.length && !node.type) node.initial = node.children.find((child) => child.key == config.initial) || unsupported(`initial ${config.initial}`);
        for (const event in config.on) node.on.set(event.includes('*') ? unsupported(event) : event, transitions(node, config.on[event]));
        if (config.always) node.on.set('', transitions(node, config.always));
      }

      /** The states a transition enters: its target, or what a history target stands for. */
      const targetsOf = (transition: Transition, history: Snapshot['history']): StateNode[] => {
        const target = transition.target;
        if (!target) return [];
        const parent = target.parent as StateNode;
        return target.type == 'history' ? history[target.id] || [parent.initial || parent] : [target];
      };

      /** xstate's transition domain: the source for internal transitions, else the least common ancestor. */
      const domainOf = (transition: Transition, history: Snapshot['history']): StateNode => {
        const targets = targetsOf(transition, history);
        if (targets.every((target) => target == transition.source || within(target, transition.source))) return transition.source;
        let ancestor: StateNode | undefined = targets[0];
        while ((ancestor = ancestor.parent) && !targets.concat(transition.source).every((node) => within(node, ancestor)));
        return ancestor || root;
      };

      /** A snapshot from the states marked active: compound states without a marked child take their initial one. */
      const snapshotOf = (marked: StateNode[], context: Context, history: Snapshot['history']): Snapshot => {
        const nodes: StateNode[] = [];
        const enter = (node: StateNode): StateValue => {
          nodes.push(node);
          const active = node.type ? node.children : node.initial ? [node.children.find((child) => marked.includes(child)) || node.initial] : [];
          const value: Record<string, StateValue> = {};
          for (const child of active) value[child.key] = enter(child);
          return !node.type && active[0] && !active[0].children.length ? active[0].key : value;
        };
        const value = enter(root);
        return { value, context, nodes, history, matches: (test) => matches(test, value) };
      };

      /** From each active atomic state up, the first enabled transition for `type` (xstate's selection). */
      const select = (snapshot: Snapshot, type: string, event: EventObject): Transition[] => {
        const enabled: Transition[] = [];
        for (const atomic of snapshot.nodes) {
          for (let node: StateNode | undefined = atomic; !atomic.children.length && node; node = node.parent) {
            const found = (node.on.get(type) || []).find((transition) => !transition.guard || transition.guard({ context: snapshot.context, event }));
            if (found) {
              if (!enabled.includes(found)) enabled.push(found);
              break;
            }
          }
        }
        return enabled;
      };

      /** One microstep: drop conflicting transitions, exit (recording history), assign, enter. */
      const microstep = (snapshot: Snapshot, enabled: Transition[], event: EventObject): Snapshot => {
        const nodes = snapshot.nodes;
        let { context, history } = snapshot;
        const exitsOf = (transition: Transition): StateNode[] => {
          const domain = transition.target && domainOf(transition, snapshot.history);
          return nodes.filter((node) => within(node, domain));
        };
        // xstate's rule between parallel regions: of two transitions exiting a common state, the one from the
        // descendant source wins, else the earlier one.
        let kept: Transition[] = [];
        for (const transition of enabled) {
          const exits = exitsOf(transition);
          const conflicting = kept.filter((other) => exitsOf(other).some((node) => exits.includes(node)));
          if (conflicting.every((other) => within(transition.source, other.source))) kept = kept.filter((other) => !conflicting.includes(other)).concat(transition);
        }
        const exited = nodes.filter((node) => kept.some((transition) => exitsOf(transition).includes(node)));
        for (const node of exited) if (node.history) history = { ...history, [node.history.id]: nodes.filter((child) => child.parent == node) };
        const marked = nodes.filter((node) => !exited.includes(node));
        for (const transition of kept) {
          for (const action of transition.actions) context = { ...context, ...action({ context, event }) };
          for (let node of targetsOf(transition, history)) for (; node; node = node.parent as StateNode) marked.push(node);
        }
        return snapshotOf(marked, context, history);
      };

      /** Eventless transitions until none is enabled. */
      const settle = (snapshot: Snapshot, event: EventObject): Snapshot => {
        for (let enabled; (enabled = select(snapshot, '', event)).length; ) snapshot = microstep(snapshot, enabled, event);
        return snapshot;
      };

      return (snapshot, event) => {
        if (!snapshot || !event) return settle(snapshotOf([], config.context || {}, {}), { type: 'xstate.init' });
        // An event goes to the innermost states that handle it: a state's transition counts only when no active
        // descendant has an enabled one (xstate's transitionNode).
        const enabled = select(snapshot, event.type, event);
        return settle(microstep(snapshot, enabled.filter((transition) => !enabled.some((other) => within(other.source, transition.source))), event), event);
      };
    },
  };
}

export interface Actor {
  start(): Actor;
  send(event: EventObject): void;
  getSnapshot(): Snapshot;
  stop(): Actor;
}

export function createActor(machine: Machine): Actor {
  let snapshot = machine();
  let running = true;
  const actor: Actor = {
    start: () => actor,
    send(event) {
      if (running) snapshot = machine(snapshot, event);
    },
    getSnapshot: () => snapshot,
    stop() {
      running = false;
      return actor;
    },
  };
  return actor;
}

/** The pure API of the model checker, for the differential tests (not in the device bundle: unused there). */
export function initialTransition(machine: Machine): [Snapshot, []] {
  return [machine(), []];
}
export function transition(machine: Machine, snapshot: Snapshot, event: EventObject): [Snapshot, []] {
  return [machine(snapshot, event), []];
}
