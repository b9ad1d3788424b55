/**
 * A small statechart interpreter for the Pico: the subset of xstate v5 that machines/*.ts use, with xstate's
 * semantics, in ~4 KB instead of xstate's ~40 KB (which, with the rest of the firmware, does not fit the Pico's
 * 180 KB heap). tools/build-pico.ts substitutes this module for `xstate` in the device bundle only; the host, the
 * tests and the model checker keep running real xstate, and test/pico-runtime.test.ts replays every transition the
 * explorer reaches on both and requires identical values and contexts.
 *
 * At `createMachine` the config is compiled once into flat tables (state nodes with parent links and document
 * order, transitions by event type with resolved targets); events are then interpreted over those tables.
 *
 * Supported: nested compound states, parallel states, shallow history (with default), `on` with a target string
 * (sibling, `.child`, `#id.path`, `sibling.child`), transition arrays with named or inline guards, targetless
 * transitions, named or inline `assign` actions (function or property map), eventless `always` transitions, internal
 * (non re-entering) transitions as xstate v5's default, conflict resolution between parallel regions, and the actor
 * surface `createActor(machine).start()`, `send`, `getSnapshot()` (`value`, `context`, `matches`), `stop`.
 * Not supported (refused at build of the tables): invoke, after, entry/exit actions, raise/sendTo, deep history,
 * wildcard events, `reenter: true`, final states. machines/*.ts are pure (no invoke, no after), so none is needed.
 */

type Context = Record<string, unknown>;
interface EventObject {
  readonly type: string;
}
type GuardFunction = (arguments_: { context: Context; event: EventObject }) => boolean;
interface AssignAction {
  readonly kind: 'assign';
  readonly assignment: ((arguments_: { context: Context; event: EventObject }) => Partial<Context>) | Record<string, unknown>;
}
type StateValue = string | { [key: string]: StateValue };

interface StateNode {
  readonly key: string;
  readonly id: string;
  readonly parent: StateNode | undefined;
  readonly type: 'atomic' | 'compound' | 'parallel' | 'history';
  readonly order: number;
  readonly children: StateNode[];
  initial: StateNode | undefined;
  historyTarget: StateNode[] | undefined;
  readonly on: Map<string, Transition[]>;
  always: Transition[];
  readonly config: StateConfig;
}

interface Transition {
  readonly source: StateNode;
  targets: StateNode[] | undefined;
  readonly guard: GuardFunction | undefined;
  readonly actions: AssignAction[];
}

interface TransitionConfig {
  target?: string | string[];
  guard?: string | GuardFunction;
  actions?: string | AssignAction | readonly (string | AssignAction)[];
  reenter?: boolean;
}
type TransitionsConfig = string | TransitionConfig | readonly (string | TransitionConfig)[];

interface StateConfig {
  id?: string;
  type?: 'parallel' | 'history' | 'atomic' | 'compound' | 'final';
  history?: 'shallow' | 'deep';
  target?: string;
  initial?: string;
  states?: Record<string, StateConfig>;
  on?: Record<string, TransitionsConfig>;
  always?: TransitionsConfig;
  context?: Context;
  [other: string]: unknown;
}

interface Implementations {
  guards?: Record<string, GuardFunction>;
  actions?: Record<string, AssignAction>;
}

const SUPPORTED_KEYS = new Set(['id', 'type', 'history', 'target', 'initial', 'states', 'on', 'always', 'context', 'description']);

export function assign(assignment: AssignAction['assignment']): AssignAction {
  return { kind: 'assign', assignment };
}

export class Machine {
  readonly root: StateNode;
  private readonly byId = new Map<string, StateNode>();
  private order = 0;

  constructor(
    readonly config: StateConfig,
    private readonly implementations: Implementations,
  ) {
    this.root = this.node(config.id ?? '(machine)', config, undefined);
    this.resolve(this.root);
  }

  private node(key: string, config: StateConfig, parent: StateNode | undefined): StateNode {
    for (const name of Object.keys(config)) if (!SUPPORTED_KEYS.has(name)) throw new Error(`machine: "${name}" is not supported on this board`);
    if (config.type === 'final' || config.history === 'deep') throw new Error(`machine: ${config.type === 'final' ? 'final states' : 'deep history'} are not supported on this board`);
    const id = config.id ?? (parent ? `${parent.id}.${key}` : key);
    const childKeys = Object.keys(config.states ?? {});
    const node: StateNode = {
      key,
      id,
      parent,
      type: config.type === 'history' ? 'history' : config.type === 'parallel' ? 'parallel' : childKeys.length > 0 ? 'compound' : 'atomic',
      order: this.order++,
      children: [],
      initial: undefined,
      historyTarget: undefined,
      on: new Map(),
      always: [],
      config,
    };
    this.byId.set(id, node);
    for (const childKey of childKeys) node.children.push(this.node(childKey, (config.states ?? {})[childKey], node));
    return node;
  }

  private resolve(node: StateNode): void {
    const config = node.config;
    if (node.type === 'compound') {
      const initial = config.initial === undefined ? undefined : node.children.find((child) => child.key === config.initial);
      if (!initial) throw new Error(`machine: state ${node.id} needs a valid initial state`);
      node.initial = initial;
    }
    if (node.type === 'history' && config.target !== undefined) node.historyTarget = [this.target(node.parent as StateNode, config.target, true)];
    for (const [event, transitions] of Object.entries(config.on ?? {})) {
      if (event.includes('*')) throw new Error('machine: wildcard events are not supported on this board');
      node.on.set(event, this.transitions(node, transitions));
    }
    if (config.always !== undefined) node.always = this.transitions(node, config.always);
    for (const child of node.children) this.resolve(child);
  }

  private transitions(source: StateNode, config: TransitionsConfig): Transition[] {
    const list = (Array.isArray(config) ? config : [config]) as (string | TransitionConfig)[];
    return list.map((item) => {
      const spec: TransitionConfig = typeof item === 'string' ? { target: item } : item;
      if (spec.reenter) throw new Error('machine: reenter is not supported on this board');
      const guard = spec.guard === undefined ? undefined : typeof spec.guard === 'function' ? spec.guard : this.implementations.guards?.[spec.guard];
      if (spec.guard !== undefined && guard === undefined) throw new Error(`machine: unknown guard ${String(spec.guard)}`);
      const actionList = spec.actions === undefined ? [] : Array.isArray(spec.actions) ? spec.actions : [spec.actions];
      const actions = (actionList as (string | AssignAction)[]).map((action) => {
        const resolved = typeof action === 'string' ? this.implementations.actions?.[action] : action;
        if (!resolved || resolved.kind !== 'assign') throw new Error(`machine: action ${String(action)} is not an assign`);
        return resolved;
      });
      const targets = spec.target === undefined ? undefined : (Array.isArray(spec.target) ? spec.target : [spec.target]).map((target: string) => this.target(source, target, false));
      return { source, targets, guard, actions };
    });
  }

  /** Resolves a target string as xstate does: `#id.path`, `.child` (of the source), else a sibling path. */
  private target(source: StateNode, target: string, fromParent: boolean): StateNode {
    let base: StateNode | undefined;
    let path: string[];
    if (target.startsWith('#')) {
      const [id, ...rest] = target.slice(1).split('.');
      base = this.byId.get(id);
      path = rest;
    } else if (target.startsWith('.')) {
      base = source;
      path = target.slice(1).split('.');
    } else {
      base = fromParent ? source : source.parent;
      path = target.split('.');
    }
    let node = base;
    for (const key of path) node = node?.children.find((child) => child.key === key);
    if (!node) throw new Error(`machine: invalid target "${target}" from ${source.id}`);
    return node;
  }

  // -------------------------------------------------------------------------------------------------------
  // Semantics

  initialSnapshot(): Snapshot {
    const context = { ...(this.config.context ?? {}) };
    const active = new Set<StateNode>();
    const history: Record<string, StateNode[]> = {};
    const event: EventObject = { type: 'xstate.init' };
    const entered = new Set<StateNode>([this.root]);
    this.addDescendants(this.root, history, entered);
    for (const node of entered) active.add(node);
    return this.settle(new Snapshot(this, active, context, history), event);
  }

  next(snapshot: Snapshot, event: EventObject): Snapshot {
    const transitions = this.select(snapshot, event);
    const after = transitions.length > 0 ? this.microstep(snapshot, transitions, event) : snapshot;
    return this.settle(after, event);
  }

  /** Eventless transitions until none is enabled. */
  private settle(snapshot: Snapshot, event: EventObject): Snapshot {
    let current = snapshot;
    for (let iteration = 0; iteration < 1000; iteration++) {
      const enabled = new Set<Transition>();
      for (const atomic of this.atomics(current)) {
        search: for (let node: StateNode | undefined = atomic; node; node = node.parent) {
          for (const transition of node.always) {
            if (!transition.guard || transition.guard({ context: current.context, event })) {
              enabled.add(transition);
              break search;
            }
          }
        }
      }
      if (enabled.size === 0) return current;
      current = this.microstep(current, [...enabled], event);
    }
    throw new Error('machine: eventless transitions do not settle');
  }

  private atomics(snapshot: Snapshot): StateNode[] {
    return [...snapshot.nodes].filter((node) => node.type === 'atomic').sort((a, b) => a.order - b.order);
  }

  /** xstate's selection: from each active atomic state up, the first enabled transition; regions before parents. */
  private select(snapshot: Snapshot, event: EventObject): Transition[] {
    const pick = (node: StateNode): Transition[] => {
      let inner: Transition[] = [];
      const children = node.children.filter((child) => snapshot.nodes.has(child));
      for (const child of children) inner = inner.concat(pick(child));
      if (inner.length > 0) return inner;
      for (const transition of node.on.get(event.type) ?? []) {
        if (!transition.guard || transition.guard({ context: snapshot.context, event })) return [transition];
      }
      return [];
    };
    return pick(this.root);
  }

  private effectiveTargets(transition: Transition, history: Record<string, StateNode[]>): StateNode[] {
    const targets = new Set<StateNode>();
    for (const target of transition.targets ?? []) {
      if (target.type !== 'history') targets.add(target);
      else if (history[target.id]) for (const node of history[target.id]) targets.add(node);
      else {
        const parent = target.parent as StateNode;
        const fallback = target.historyTarget ?? (parent.type === 'parallel' ? [parent] : [parent.initial as StateNode]);
        for (const node of fallback) targets.add(node);
      }
    }
    return [...targets];
  }

  private domain(transition: Transition, history: Record<string, StateNode[]>): StateNode {
    const targets = this.effectiveTargets(transition, history);
    if (targets.every((target) => target === transition.source || isDescendant(target, transition.source))) return transition.source;
    const all = [...targets, transition.source];
    for (let ancestor = all[0].parent; ancestor; ancestor = ancestor.parent) {
      if (all.slice(1).every((node) => isDescendant(node, ancestor as StateNode))) return ancestor;
    }
    return this.root;
  }

  private exitSet(transitions: Transition[], active: Set<StateNode>, history: Record<string, StateNode[]>): Set<StateNode> {
    const exits = new Set<StateNode>();
    for (const transition of transitions) {
      if (!transition.targets || transition.targets.length === 0) continue;
      const domain = this.domain(transition, history);
      for (const node of active) if (isDescendant(node, domain)) exits.add(node);
    }
    return exits;
  }

  private microstep(snapshot: Snapshot, selected: Transition[], event: EventObject): Snapshot {
    const active = new Set(snapshot.nodes);
    let history = snapshot.history;
    // Conflicts between parallel regions (xstate's rule: a transition from a descendant source wins).
    const kept: Transition[] = [];
    for (const candidate of selected) {
      let preempted = false;
      const candidateExits = this.exitSet([candidate], active, history);
      for (const other of [...kept]) {
        const otherExits = this.exitSet([other], active, history);
        if ([...candidateExits].some((node) => otherExits.has(node))) {
          if (isDescendant(candidate.source, other.source)) kept.splice(kept.indexOf(other), 1);
          else {
            preempted = true;
            break;
          }
        }
      }
      if (!preempted && !kept.includes(candidate)) kept.push(candidate);
    }
    // Exit (record shallow history of exited parents first).
    const exits = this.exitSet(kept, active, history);
    for (const node of exits) {
      const historyNodes = node.children.filter((child) => child.type === 'history');
      if (historyNodes.length === 0) continue;
      history = { ...history };
      for (const historyNode of historyNodes) history[historyNode.id] = [...active].filter((state) => state.parent === node);
    }
    for (const node of exits) active.delete(node);
    // Transition actions, in order.
    let context = snapshot.context;
    for (const transition of kept) {
      for (const action of transition.actions) {
        const assignment = action.assignment;
        let update: Partial<Context>;
        if (typeof assignment === 'function') update = assignment({ context, event });
        else {
          update = {};
          for (const key of Object.keys(assignment)) {
            const value = assignment[key];
            update[key] = typeof value === 'function' ? (value as (arguments_: { context: Context; event: EventObject }) => unknown)({ context, event }) : value;
          }
        }
        context = { ...context, ...update };
      }
    }
    // Enter.
    const entered = new Set<StateNode>();
    for (const transition of kept) {
      if (!transition.targets || transition.targets.length === 0) continue;
      const domain = this.domain(transition, history);
      for (const target of transition.targets) this.addEntry(target, domain, history, entered, active);
    }
    for (const node of entered) active.add(node);
    return new Snapshot(this, active, context, history);
  }

  private addEntry(target: StateNode, domain: StateNode, history: Record<string, StateNode[]>, entered: Set<StateNode>, active: Set<StateNode>): void {
    const targets = target.type === 'history' ? this.effectiveTargets({ source: target, targets: [target], guard: undefined, actions: [] }, history) : [target];
    for (const node of targets) {
      this.addDescendants(node, history, entered);
      for (let ancestor = node.parent; ancestor && ancestor !== domain; ancestor = ancestor.parent) {
        entered.add(ancestor);
        if (ancestor.type === 'parallel') {
          for (const region of ancestor.children) {
            if (region.type === 'history') continue;
            const covered = [...entered, ...active].some((state) => state === region || isDescendant(state, region));
            if (!covered) this.addDescendants(region, history, entered);
          }
        }
      }
    }
  }

  private addDescendants(node: StateNode, history: Record<string, StateNode[]>, entered: Set<StateNode>): void {
    if (node.type === 'history') {
      const parent = node.parent as StateNode;
      const recorded = history[node.id] ?? node.historyTarget ?? (parent.type === 'parallel' ? [parent] : [parent.initial as StateNode]);
      for (const state of recorded) {
        this.addDescendants(state, history, entered);
        for (let ancestor = state.parent; ancestor && ancestor !== parent; ancestor = ancestor.parent) entered.add(ancestor);
      }
      return;
    }
    entered.add(node);
    if (node.type === 'compound') this.addDescendants(node.initial as StateNode, history, entered);
    else if (node.type === 'parallel') {
      for (const region of node.children) {
        if (region.type === 'history') continue;
        if (![...entered].some((state) => isDescendant(state, region))) this.addDescendants(region, history, entered);
      }
    }
  }

  valueOf(active: Set<StateNode>): StateValue {
    const valueOfNode = (node: StateNode): StateValue => {
      const children = node.children.filter((child) => active.has(child));
      if (node.type === 'compound' && children.length === 1 && children[0].type === 'atomic') return children[0].key;
      const value: { [key: string]: StateValue } = {};
      for (const child of children) value[child.key] = child.type === 'atomic' ? {} : valueOfNode(child);
      return value;
    };
    return valueOfNode(this.root);
  }
}

function isDescendant(child: StateNode, parent: StateNode): boolean {
  for (let node = child.parent; node; node = node.parent) if (node === parent) return true;
  return false;
}

export function matchesState(parentValue: StateValue, childValue: StateValue): boolean {
  const parent = typeof parentValue === 'string' ? toStateValue(parentValue) : parentValue;
  const child = typeof childValue === 'string' ? toStateValue(childValue) : childValue;
  if (typeof child === 'string') return typeof parent === 'string' && child === parent;
  if (typeof parent === 'string') return parent in child;
  return Object.keys(parent).every((key) => key in child && matchesState(parent[key], child[key]));
}

function toStateValue(path: string): StateValue {
  const keys = path.split('.');
  if (keys.length === 1) return keys[0];
  let value: StateValue = keys[keys.length - 1];
  for (let index = keys.length - 2; index >= 0; index--) value = { [keys[index]]: value };
  return value;
}

export class Snapshot {
  readonly value: StateValue;
  readonly status = 'active';
  constructor(
    readonly machine: Machine,
    readonly nodes: Set<StateNode>,
    readonly context: Context,
    readonly history: Record<string, StateNode[]>,
  ) {
    this.value = machine.valueOf(nodes);
  }

  matches(value: StateValue): boolean {
    return matchesState(value, this.value);
  }

  /** The recorded history (state ids), for comparisons with xstate's `historyValue`. */
  get historyIds(): Record<string, string[]> {
    const ids: Record<string, string[]> = {};
    for (const key of Object.keys(this.history)) ids[key] = this.history[key].map((node) => node.id);
    return ids;
  }
}

export function setup(implementations: Implementations): { createMachine(config: StateConfig): Machine } {
  return { createMachine: (config) => new Machine(config, implementations) };
}

export function createMachine(config: StateConfig, implementations: Implementations = {}): Machine {
  return new Machine(config, implementations);
}

/** The pure API the model checker uses, for differential tests. */
export function initialTransition(machine: Machine): [Snapshot, []] {
  return [machine.initialSnapshot(), []];
}
export function transition(machine: Machine, snapshot: Snapshot, event: EventObject): [Snapshot, []] {
  return [machine.next(snapshot, event), []];
}

export class Actor {
  private snapshot: Snapshot | undefined;
  private stopped = false;
  constructor(private readonly machine: Machine) {}

  start(): this {
    if (!this.snapshot) this.snapshot = this.machine.initialSnapshot();
    return this;
  }

  send(event: EventObject): void {
    if (this.stopped) return;
    this.snapshot = this.machine.next(this.getSnapshot(), event);
  }

  getSnapshot(): Snapshot {
    if (!this.snapshot) this.snapshot = this.machine.initialSnapshot();
    return this.snapshot;
  }

  stop(): this {
    this.stopped = true;
    return this;
  }
}

export function createActor(machine: Machine): Actor {
  return new Actor(machine);
}
