/**
 * The composition: the real actors (transport, applet, PIN, lifecycle, key store, crypto, storage) on the
 * simulated board, explored breadth-first over the device's commands, with the seeded scheduler choosing the
 * delivery order of concurrent messages and power cuts injected at flash operations.
 *
 * A state is what the checker observes of the device (tools/model-check/system.ts `Observation`) plus what it
 * knows from the history: which user PIN and SO-PIN are current, and whether the user PIN was verified in this
 * session (derived from the order in which the PIN actor received its requests). A step is one command, possibly
 * with a concurrent board request (`pin.endSession`: the board ending the session, e.g. on a button or a timeout)
 * whose interleaving with the command's messages is chosen by the step's seed, possibly with a power cut at its
 * k-th flash operation (then the device reboots). The checker replays a state's path from the installed image
 * before each step, so every run is exact and reproducible; it checks the system invariants of
 * tools/model-check/invariants.ts on every step and reports the shortest step path to a violation.
 *
 * Commands: SELECT, VERIFY (right and wrong), CHANGE REFERENCE DATA, RESET RETRY COUNTER (right and wrong SO-PIN),
 * INITIALIZE (right and wrong SO-PIN), the key operations GENERATE ASYMMETRIC KEY PAIR, COMPUTE SIGNATURE and
 * UPDATE BINARY of a protected data object, and a power cycle; VERIFY, SIGN and SELECT also from a second card
 * session (a second link client). Another key command joins by adding an entry with `keyOperation: true`.
 */
import { ecGenerateBody } from '../../actors/card/cvc.js';
import { LogStore } from '../../actors/storage/log-store.js';
import { SIM_GEOMETRY } from '../../boards/sim.js';
import { portableEngine } from '../../hal/crypto/portable.js';
import type { CryptoEngine } from '../../hal/crypto/types.js';
import { SimFlash } from '../../hal/sim/flash.js';
import type { RegisteredActor } from '../../actors/scheduler.js';
import { pinProtocol } from '../../messages/pin.js';
import { toHex } from '../../messages/schema.js';
import { stableStringify } from './explore.js';
import { knownFinding, SYSTEM_INVARIANTS } from './invariants.js';
import { installedImage, seededPicker, SESSIONS, SimSystem, type Observation } from './system.js';

// -------------------------------------------------------------------------------------------------------------
// The command alphabet

export type UserPin = 'A' | 'B';
export type SoPin = 'S' | 'T';

/** What the checker knows from the history: the current PINs. */
export interface Belief {
  readonly userPin: UserPin;
  readonly soPin: SoPin;
}

export interface SystemCommand {
  readonly id: string;
  /** The APDU (hex), given what the checker believes the current PINs are. Absent for a power cycle. */
  apdu?(belief: Belief): string;
  readonly reboot?: boolean;
  /** Which PINs the command presents, right or wrong (by belief). */
  readonly presents: { readonly user?: 'right' | 'wrong'; readonly so?: 'right' | 'wrong' };
  /** A key operation: accepted only in a verified session (SIGN, GENERATE, and for now protected writes). */
  readonly keyOperation?: boolean;
  readonly reinitialises?: boolean;
  readonly resetsUser?: boolean;
  /** May re-seal the user PIN record under a new PIN (CHANGE, INITIALIZE). */
  readonly changesUserPin?: boolean;
  /** Also explored with a concurrent board `pin.endSession` (of the command's session) under every seed. */
  readonly concurrent?: boolean;
  /** The card session (link client) the command comes from; default 0. */
  readonly session?: number;
}

const encoder = new TextEncoder();
const ascii = (text: string): string => toHex(encoder.encode(text));
const lc = (dataHex: string): string => (dataHex.length / 2).toString(16).padStart(2, '0');

export const USER_PINS: Readonly<Record<UserPin, string>> = { A: '648219', B: '87654321' };
export const WRONG_USER_PIN = '000000';
export const SO_PINS: Readonly<Record<SoPin, string>> = { S: '3537363231383830', T: '0102030405060708' };
/** The retry limit INITIALIZE sets (small, so blocking is within the bound). */
export const USER_LIMIT = 2;
/** 16 bytes that appear nowhere else: the content of the protected data object. */
export const DATA_PATTERN = 'C0FFEE00DA7A0B1E5EC12E7DA7A0CD01';
export const DATA_FILE = 0xcd01;

const other = <T extends string>(value: T, a: T, b: T): T => (value === a ? b : a);
export const SELECT_APPLET = '00A404000BE82B0601040181C31F020100';
export const verifyApdu = (pin: string): string => `00200081${lc(ascii(pin))}${ascii(pin)}`;
export const changeApdu = (old: string, replacement: string): string => `00240081${lc(ascii(old) + ascii(replacement))}${ascii(old)}${ascii(replacement)}`;
export const resetRetryApdu = (so: string): string => `002C0181${lc(so)}${so}`;
export const initializeApdu = (so: string, userPin = USER_PINS.A, limit = USER_LIMIT): string => {
  const data = `80020001` + `81${lc(ascii(userPin))}${ascii(userPin)}` + `82${lc(so)}${so}` + `9101${limit.toString(16).padStart(2, '0')}`;
  return `80500000${lc(data)}${data}`;
};
export const updateBinaryApdu = (fileId = DATA_FILE, pattern = DATA_PATTERN): string => {
  const data = `54020000` + `53${lc(pattern)}${pattern}`;
  return `00D7${fileId.toString(16).padStart(4, '0')}${lc(data)}${data}`;
};

const extendedApdu = (header: string, dataHex: string): string => `${header}00${(dataHex.length / 2).toString(16).padStart(4, '0')}${dataHex}0000`;
/** GENERATE ASYMMETRIC KEY PAIR of an EC P-256 key (the body OpenSC sends: CPI, CAR, domain parameters, CHR). */
export const generateApdu = (keyId = 1): string => {
  const body = ecGenerateBody('secp256r1', 'TSHSM00000000001');
  return extendedApdu(`0046${keyId.toString(16).padStart(2, '0')}00`, toHex(body));
};
/** COMPUTE SIGNATURE, ECDSA over a given SHA-256 digest (algorithm 70). */
export const signApdu = (keyId = 1): string => extendedApdu(`8068${keyId.toString(16).padStart(2, '0')}70`, '5d41402abc4b2a76b9719d911017c5925d41402abc4b2a76b9719d911017c592');

export const SYSTEM_COMMANDS: readonly SystemCommand[] = [
  { id: 'SELECT', apdu: () => SELECT_APPLET, presents: {} },
  { id: 'VERIFY', apdu: (b) => verifyApdu(USER_PINS[b.userPin]), presents: { user: 'right' }, concurrent: true },
  { id: 'VERIFY(wrong)', apdu: () => verifyApdu(WRONG_USER_PIN), presents: { user: 'wrong' } },
  { id: 'CHANGE', apdu: (b) => changeApdu(USER_PINS[b.userPin], USER_PINS[other(b.userPin, 'A', 'B')]), presents: { user: 'right' }, changesUserPin: true },
  { id: 'RESET RETRY COUNTER', apdu: (b) => resetRetryApdu(SO_PINS[b.soPin]), presents: { so: 'right' }, resetsUser: true },
  { id: 'RESET RETRY COUNTER(wrong SO)', apdu: (b) => resetRetryApdu(SO_PINS[other(b.soPin, 'S', 'T')]), presents: { so: 'wrong' }, resetsUser: true },
  { id: 'INITIALIZE', apdu: (b) => initializeApdu(SO_PINS[b.soPin]), presents: { so: 'right' }, reinitialises: true, changesUserPin: true, concurrent: true },
  { id: 'INITIALIZE(wrong SO)', apdu: (b) => initializeApdu(SO_PINS[other(b.soPin, 'S', 'T')]), presents: { so: 'wrong' }, reinitialises: true, changesUserPin: true },
  { id: 'UPDATE BINARY', apdu: () => updateBinaryApdu(), presents: {}, keyOperation: true, concurrent: true },
  { id: 'GENERATE', apdu: () => generateApdu(), presents: {}, keyOperation: true },
  { id: 'SIGN', apdu: () => signApdu(), presents: {}, keyOperation: true, concurrent: true },
  { id: 'REBOOT', reboot: true, presents: {} },
  { id: 'VERIFY [session 1]', apdu: (b) => verifyApdu(USER_PINS[b.userPin]), presents: { user: 'right' }, session: 1 },
  { id: 'SIGN [session 1]', apdu: () => signApdu(), presents: {}, keyOperation: true, session: 1, concurrent: true },
  { id: 'SELECT [session 1]', apdu: () => SELECT_APPLET, presents: {}, session: 1 },
];

// -------------------------------------------------------------------------------------------------------------
// States, steps, transitions

export interface SystemState {
  readonly observation: Observation;
  /** Per card session: the user PIN was verified in the current session (from the PIN actor's message order). */
  readonly sessions: readonly boolean[];
  readonly belief: Belief;
}

export interface SystemStep {
  readonly command: SystemCommand;
  /** A board request sent together with the command. */
  readonly concurrent?: 'endSession';
  /** The scheduler's seed for this step (it also chooses when a concurrent request is sent). */
  readonly seed: number;
  /** A power cut at the `at`-th flash operation of the step. */
  readonly cut?: { readonly at: number; readonly flipSeed: number };
}

export interface SystemTransition {
  readonly before: SystemState;
  readonly step: SystemStep;
  /** The answer, or undefined for a power cycle or a cut (the host sees no answer). */
  readonly statusWord: number | undefined;
  readonly cut: boolean;
  readonly after: SystemState;
  /** For the command's session: whether it was verified at each moment the applet or key store asked the PIN actor (in order). */
  readonly authorisations: readonly boolean[];
  /** A presented PIN reached the KDF in a comparing request (verify, change, checkSo, resetUser). */
  readonly compared: boolean;
  /** The data object's bytes are somewhere in the raw flash. */
  readonly patternInFlash: boolean;
  /** After a cut: the store says ready but a fresh mount of its flash still needs recovery. */
  readonly remountNeedsRecovery: boolean | undefined;
  /** The delivery order of the step (actor <- sender.operation, ...). */
  readonly interleaving: string;
  readonly flashOperations: number;
}

/** Scheduler turns before a step's concurrent request is sent (chosen by the step's seed). */
export function concurrentDelay(seed: number): number {
  return Math.floor(seededPicker(seed ^ 0x5bd1e995)() * 12);
}

export function describeStep(step: SystemStep): string {
  let text = step.command.id;
  if (step.concurrent) text += ` || board pin.${step.concurrent}(session ${step.command.session ?? 0}) sent after ${concurrentDelay(step.seed)} scheduler turns (seed ${step.seed})`;
  if (step.cut) text += ` with a power cut at flash operation ${step.cut.at} (flip seed ${step.cut.flipSeed}), then reboot`;
  return text;
}

export function describeState(state: SystemState): string {
  const o = state.observation;
  const pin = (view: Observation['user']): string => (view.state === 'unset' || view.state === 'unavailable' ? view.state : `${view.state} ${view.retries}/${view.limit}`);
  const sessions = (flags: readonly boolean[]): string => flags.map((flag, session) => `${session}:${flag ? 'yes' : 'no'}`).join(' ');
  return `stage ${o.stage} (config ${o.configStage}), store ${o.storage}, user ${pin(o.user)}, SO ${pin(o.so)}, files [${o.userFiles.map((fileId) => fileId.toString(16)).join(',')}], pin.status verified ${sessions(o.verified)}, verified by history ${sessions(state.sessions)}, PINs ${state.belief.userPin}/${state.belief.soPin}`;
}

/** A KDF-counting engine: the PIN actor runs PBKDF2 exactly when it turns a presented PIN into a verifier. */
export function countingEngine(base: CryptoEngine = portableEngine): { engine: CryptoEngine; count(): number } {
  let calls = 0;
  return {
    engine: { ...base, pbkdf2Sha256: (...args) => ((calls += 1), base.pbkdf2Sha256(...args)) },
    count: () => calls,
  };
}

interface SessionWalk {
  readonly sessions: boolean[];
  readonly authorisations: boolean[];
}

/**
 * Follows the PIN actor's received requests in order, keeping per card session whether the user PIN was verified
 * since the session began (a boundary: endSession of that session; provision or reload: all sessions), and notes,
 * for the command's session, the value at each authorisation question (pin.status of the user PIN from the applet
 * or the key store, pin.masterKey from the key store).
 */
function walkSessions(entries: ReturnType<SimSystem['traceAfter']>, start: readonly boolean[], commandSession: number): SessionWalk {
  const replies = new Map<number, string | undefined>();
  for (const entry of entries) if (entry.event === 'replied') replies.set(entry.id, entry.detail);
  const sessions = [...start];
  const authorisations: boolean[] = [];
  for (const entry of entries) {
    if (entry.owner !== 'pin' || entry.event !== 'received') continue;
    const from = entry.detail;
    const body = (entry.body ?? {}) as { reference?: string; session?: number };
    const session = body.session ?? 0;
    switch (entry.operation) {
      case 'endSession':
        sessions[session] = false;
        break;
      case 'provision':
      case 'reload':
        sessions.fill(false);
        break;
      case 'verify':
      case 'change':
        if (body.reference === 'user' && replies.get(entry.id) === 'ok') sessions[session] = true;
        break;
      case 'status':
        if ((from === 'keystore' || from === 'applet') && body.reference === 'user' && session === commandSession) authorisations.push(sessions[session] ?? false);
        break;
      case 'masterKey':
        if (from === 'keystore' && session === commandSession) authorisations.push(sessions[session] ?? false);
        break;
      default:
        break;
    }
  }
  return { sessions, authorisations };
}

export interface StepContext {
  readonly kdf: () => number;
}

interface Performed {
  readonly statusWord: number | undefined;
  readonly cut: boolean;
  readonly entries: ReturnType<SimSystem['traceAfter']>;
  readonly flashOperations: number;
}

/** Runs one step on a live system (the command, its concurrent request, its cut, the reboot after a cut). */
export async function performStep(system: SimSystem, belief: Belief, step: SystemStep): Promise<Performed> {
  const { command } = step;
  const startSequence = system.lastSequence();
  const operationsBefore = system.flashOperations;
  if (step.cut) system.flash.armPowerCut({ atOperation: step.cut.at, flipSeed: step.cut.flipSeed });
  system.reseed(step.seed);
  let statusWord: number | undefined;
  let entries: ReturnType<SimSystem['traceAfter']> = [];
  if (command.reboot) {
    await system.reboot();
  } else {
    const sent = system.transmit(command.apdu!(belief), command.session ?? 0);
    const concurrent =
      step.concurrent === 'endSession'
        ? (async () => {
            // Mailboxes are first in, first out: a request sent together with the command would always reach the PIN
            // actor first. The seed also chooses when it is sent, after some turns of the scheduler's pump (one
            // delivery per turn), so it can land anywhere in the command's own message sequence.
            for (let turn = 0; turn < concurrentDelay(step.seed); turn++) await new Promise<void>((resolve) => setImmediate(resolve));
            return system.board(pinProtocol, 'endSession', { session: command.session ?? 0 });
          })()
        : Promise.resolve(undefined);
    const [answer] = await Promise.all([sent, concurrent]);
    statusWord = answer.statusWord;
    await system.scheduler.idle();
    entries = system.traceAfter(startSequence);
  }
  const flashOperations = system.flashOperations - operationsBefore;
  const cut = system.flash.isPoweredOff;
  if (step.cut && !cut) system.flash.disarmPowerCut();
  if (cut) await system.reboot();
  return { statusWord: cut ? undefined : statusWord, cut, entries, flashOperations };
}

/** Runs one step on a live system in state `before` and observes the result. */
export async function executeStep(system: SimSystem, before: SystemState, step: SystemStep, context: StepContext): Promise<SystemTransition> {
  const { command } = step;
  const kdfBefore = context.kdf();
  const performed = await performStep(system, before.belief, step);
  const { cut, entries } = performed;
  const walk = walkSessions(entries, before.sessions, command.session ?? 0);
  // A comparison ran: the PIN actor received a request that compares a presented PIN, and the KDF ran (it also
  // runs to seal new records, e.g. when INITIALIZE provisions, which compares nothing).
  const comparing = entries.some((entry) => entry.owner === 'pin' && entry.event === 'received' && ['verify', 'change', 'checkSo', 'resetUser'].includes(entry.operation));
  const compared = comparing && context.kdf() > kdfBefore;
  const observation = await system.observe();

  let remountNeedsRecovery: boolean | undefined;
  if (cut && observation.storage === 'ready') {
    const copy = new LogStore(new SimFlash(SIM_GEOMETRY, system.flash.snapshot()), { compactionStarted: () => undefined, compactionFinished: () => undefined });
    const mounted = copy.mount();
    remountNeedsRecovery = mounted.ok ? mounted.report.recoveryNeeded : true;
  }

  // What the checker now believes the PINs are: a re-sealed record holds the PIN the command set.
  let { userPin, soPin } = before.belief;
  const b = before.observation;
  if (observation.userPinSalt !== b.userPinSalt && observation.userPinSalt !== undefined) {
    if (command.reinitialises) userPin = 'A';
    else if (command.changesUserPin) userPin = other(userPin, 'A', 'B');
  }
  if (observation.soPinSalt !== b.soPinSalt && observation.soPinSalt !== undefined && command.reinitialises) {
    soPin = command.presents.so === 'right' ? soPin : other(soPin, 'S', 'T');
  }
  const sessions = cut || command.reboot ? walk.sessions.map(() => false) : walk.sessions;
  return {
    before,
    step,
    statusWord: performed.statusWord,
    cut,
    after: { observation, sessions, belief: { userPin, soPin } },
    authorisations: walk.authorisations,
    compared,
    patternInFlash: system.flashContains(Uint8Array.from(Buffer.from(DATA_PATTERN, 'hex'))),
    remountNeedsRecovery,
    interleaving: entries
      .filter((entry) => entry.event === 'received')
      .map((entry) => `${entry.owner}<${entry.detail ?? '?'}.${entry.operation}`)
      .join(' '),
    flashOperations: performed.flashOperations,
  };
}

// -------------------------------------------------------------------------------------------------------------
// The explorer

/** A start of the search: the commands (clean, seed 1) that lead there from the installed device, and the bound. */
export interface CompositionRoot {
  readonly name: string;
  readonly commands: readonly string[];
  /** Steps explored from this root. */
  readonly depth: number;
}

export interface CompositionOptions {
  /** Where the search starts; default: STANDARD_ROOTS. */
  readonly roots?: readonly CompositionRoot[];
  /** Seeds tried for each step with a concurrent board request. */
  readonly seeds: readonly number[];
  /** Power cuts tried per (state, command): at most this many flash operations, spread over the command's. */
  readonly cutsPerCommand: number;
  /** Commands (default: SYSTEM_COMMANDS). */
  readonly commands?: readonly SystemCommand[];
  /** Wraps actors of the device (system-level mutants). */
  readonly wrap?: (name: string, actor: RegisteredActor) => RegisteredActor;
  /** Stop adding states (the result says `complete: false`) past this many. */
  readonly maxStates?: number;
}

export interface SystemViolation {
  readonly invariant: string;
  readonly check: string;
  readonly detail: string;
  /** A known finding (tools/model-check/invariants.ts KNOWN_FINDINGS) explains it: reported, not failed on. */
  readonly advisory: boolean;
  readonly finding: string | undefined;
  /** The shortest step path from the installed device, with the state after each step. */
  readonly path: readonly { readonly step: string; readonly answer: string; readonly state: string }[];
  readonly initial: string;
}

export interface CompositionResult {
  readonly states: number;
  /** (state, step) edges explored. */
  readonly transitions: number;
  /** Steps executed, replays included. */
  readonly stepsRun: number;
  readonly powerCuts: number;
  /** Distinct (state, command, delivery order) triples seen for steps with a concurrent request. */
  readonly interleavings: number;
  readonly invariants: readonly string[];
  readonly evaluations: number;
  readonly roots: readonly CompositionRoot[];
  readonly complete: boolean;
  readonly milliseconds: number;
  readonly violations: readonly SystemViolation[];
}

interface PathItem {
  readonly step: SystemStep;
  readonly transition: SystemTransition;
  /** The flash right after the step, kept when no card session was verified there (see `replay`). */
  readonly image: Uint8Array | undefined;
}

interface SystemNode {
  readonly key: string;
  readonly state: SystemState;
  readonly path: readonly PathItem[];
  /** Steps still to explore from here. */
  readonly budget: number;
}

export function stateKey(state: SystemState): string {
  const { userPinSalt, soPinSalt, ...observation } = state.observation;
  return stableStringify({ observation, sessions: state.sessions, belief: state.belief, sealed: [userPinSalt !== undefined, soPinSalt !== undefined] });
}

/** Cut points: every flash operation if there are few, else `budget` of them spread from the first to the last. */
export function cutPoints(operations: number, budget: number): number[] {
  if (operations <= 0 || budget <= 0) return [];
  if (operations <= budget) return Array.from({ length: operations }, (_, at) => at + 1);
  if (budget === 1) return [1];
  const points = new Set<number>();
  for (let at = 0; at < budget; at++) points.add(1 + Math.round((at * (operations - 1)) / (budget - 1)));
  return [...points];
}

/** The roots `npm run model-check` explores (test/composition.test.ts uses them with a smaller bound). */
export const STANDARD_ROOTS: readonly CompositionRoot[] = [
  { name: 'installed', commands: [], depth: 2 },
  { name: 'keys and data held', commands: ['INITIALIZE', 'VERIFY', 'UPDATE BINARY', 'GENERATE'], depth: 2 },
  { name: 'user PIN blocked', commands: ['INITIALIZE', 'VERIFY(wrong)', 'VERIFY(wrong)'], depth: 2 },
  { name: 'only session 1 verified', commands: ['INITIALIZE', 'VERIFY [session 1]'], depth: 2 },
];
export const STANDARD_SEEDS: readonly number[] = [1, 2, 3, 4];
export const STANDARD_CUTS = 4;

/** The same roots with another bound. */
export function withDepth(roots: readonly CompositionRoot[], depth: number): CompositionRoot[] {
  return roots.map((root) => ({ ...root, depth }));
}

export async function exploreComposition(options: CompositionOptions): Promise<CompositionResult> {
  const started = performance.now();
  const commands = options.commands ?? SYSTEM_COMMANDS;
  const roots = options.roots ?? STANDARD_ROOTS;
  const image = await installedImage();
  const counter = countingEngine();
  const context: StepContext = { kdf: counter.count };
  const maxStates = options.maxStates ?? 5_000;
  let stepsRun = 0;
  let powerCuts = 0;
  let evaluations = 0;
  let transitions = 0;
  let complete = true;
  const interleavings = new Set<string>();
  const violations: SystemViolation[] = [];
  const violated = new Set<string>();
  const nodes: SystemNode[] = [];
  /** The largest budget a state was queued with. */
  const queued = new Map<string, number>();

  const boot = (): Promise<SimSystem> => SimSystem.boot(image, { engine: counter.engine, seed: 1, wrap: options.wrap });
  const initialSystem = await boot();
  const initial: SystemState = { observation: await initialSystem.observe(), sessions: SESSIONS.map(() => false), belief: { userPin: 'A', soPin: 'S' } };
  await initialSystem.device.stop();

  const enqueue = (node: SystemNode): void => {
    if ((queued.get(node.key) ?? -1) >= node.budget) return;
    if (!queued.has(node.key) && queued.size >= maxStates) {
      complete = false;
      return;
    }
    queued.set(node.key, node.budget);
    nodes.push(node);
  };

  /**
   * Brings a fresh device into a node's state. A state in which no card session is verified is restored by booting
   * its flash image: the volatile rest is what a power cycle starts afresh, and everything the checker observes
   * is in the state key (the REBOOT command checks that a power cycle indeed changes nothing else). From the last
   * such state on the path, the remaining steps are replayed exactly.
   */
  const replay = async (node: SystemNode): Promise<SimSystem> => {
    let from = node.path.length - 1;
    while (from >= 0 && node.path[from].image === undefined) from--;
    // A restored device draws from another entropy stream than the run that wrote the image, or the records it seals
    // could repeat that run's salts and hide a re-sealed record.
    const system = from >= 0 ? await SimSystem.boot(node.path[from].image, { engine: counter.engine, seed: 1, entropySkip: 4096 + 256 * from, wrap: options.wrap }) : await boot();
    for (const { step, transition } of node.path.slice(from + 1)) {
      await performStep(system, transition.before.belief, step);
      stepsRun++;
    }
    return system;
  };
  const imageOf = (system: SimSystem, state: SystemState): Uint8Array | undefined => (state.sessions.some(Boolean) ? undefined : system.flash.snapshot());

  const check = (node: SystemNode, transition: SystemTransition): void => {
    for (const invariant of SYSTEM_INVARIANTS) {
      evaluations++;
      const verdict = invariant.holds(transition);
      if (verdict === true) continue;
      // The first violation of each invariant, and separately the first one each known finding explains.
      const finding = knownFinding(invariant.id, transition);
      const key = `${invariant.id}|${finding?.id ?? ''}`;
      if (violated.has(key)) continue;
      violated.add(key);
      const path = [...node.path.map((item) => item.transition), transition].map((item) => ({
        step: describeStep(item.step),
        answer: item.statusWord === undefined ? (item.cut ? 'cut' : '-') : item.statusWord.toString(16).padStart(4, '0'),
        state: describeState(item.after),
      }));
      violations.push({ invariant: invariant.id, check: invariant.check, detail: verdict, advisory: finding !== undefined, finding: finding?.id, path, initial: describeState(initial) });
    }
  };

  const run = async (node: SystemNode, step: SystemStep): Promise<SystemTransition> => {
    const system = await replay(node);
    const transition = await executeStep(system, node.state, step, context);
    stepsRun++;
    transitions++;
    if (transition.cut) powerCuts++;
    if (step.concurrent) interleavings.add(`${node.key}|${step.command.id}|${transition.interleaving}`);
    const image = imageOf(system, transition.after);
    await system.device.stop().catch(() => undefined);
    check(node, transition);
    enqueue({ key: stateKey(transition.after), state: transition.after, path: [...node.path, { step, transition, image }], budget: node.budget - 1 });
    return transition;
  };

  // The roots: their own paths are checked too (every step of a root path is a step of the device).
  for (const root of roots) {
    let node: SystemNode = { key: stateKey(initial), state: initial, path: [], budget: root.depth };
    for (const id of root.commands) {
      const command = commands.find((item) => item.id === id) ?? SYSTEM_COMMANDS.find((item) => item.id === id);
      if (!command) throw new Error(`root ${root.name}: no command ${id}`);
      const system = await replay(node);
      const step: SystemStep = { command, seed: 1 };
      const transition = await executeStep(system, node.state, step, context);
      const image = imageOf(system, transition.after);
      await system.device.stop().catch(() => undefined);
      check(node, transition);
      node = { key: stateKey(transition.after), state: transition.after, path: [...node.path, { step, transition, image }], budget: root.depth };
    }
    enqueue(node);
  }

  for (let at = 0; at < nodes.length; at++) {
    const node = nodes[at];
    if (node.budget <= 0 || (queued.get(node.key) ?? 0) > node.budget) continue;
    for (const command of commands) {
      const clean = await run(node, { command, seed: 1 });
      if (command.concurrent) for (const seed of options.seeds) await run(node, { command, concurrent: 'endSession', seed });
      for (const point of cutPoints(clean.flashOperations, options.cutsPerCommand)) {
        const transition = await run(node, { command, seed: 1, cut: { at: point, flipSeed: point * 7919 + at } });
        if (!transition.cut) break;
      }
    }
  }

  return {
    states: queued.size,
    transitions,
    stepsRun,
    powerCuts,
    interleavings: interleavings.size,
    invariants: SYSTEM_INVARIANTS.map((invariant) => invariant.id),
    evaluations,
    roots,
    complete,
    milliseconds: performance.now() - started,
    violations,
  };
}

export function formatSystemViolation(violation: SystemViolation): string {
  const lines = [
    `${violation.finding ? `KNOWN FINDING ${violation.finding} (advisory)` : 'VIOLATION'} system: ${violation.invariant}`,
    `  ${violation.check}`,
    `  what happened: ${violation.detail}`,
    `  shortest path (${violation.path.length} steps):`,
    `    0. installed device -> ${violation.initial}`,
  ];
  violation.path.forEach((item, at) => lines.push(`    ${at + 1}. ${item.step} -> answer ${item.answer} -> ${item.state}`));
  return lines.join('\n');
}
