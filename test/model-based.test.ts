/**
 * Model-based tests: xstate's graph utilities (`xstate/graph`) generate paths through the real machines of
 * machines/ (shortest paths for the PIN machine, simple paths for the small lifecycle and storage machines), seen
 * as macros the device can be driven with (tools/model-check/macro.ts). Each path is driven on the REAL device
 * (boards/sim.ts: every actor, the scheduler, the simulated flash), and after every step the test asserts that the
 * device is where the machine snapshot says (pin.status, lifecycle stage, storage state), the status word, and the
 * stored records (PIN counters, configuration, data objects, raw flash). For the PIN machine the intermediate
 * `checking` state is asserted too: when the device runs the KDF to compare, the stored counter is already the
 * lowered one.
 */
import { describe, expect, it } from 'vitest';
import type { EventObject, SnapshotFrom } from 'xstate';
import { getPathsFromEvents } from 'xstate/graph';
import { wrongPinStatus } from '../actors/card/status-words.js';
import { LogStore } from '../actors/storage/log-store.js';
import { createSimBoard, SIM_GEOMETRY, type SimBoard } from '../boards/sim.js';
import { portableEngine } from '../hal/crypto/portable.js';
import type { CryptoEngine } from '../hal/crypto/types.js';
import { SimFlash } from '../hal/sim/flash.js';
import { lifecycleMachine } from '../machines/lifecycle.js';
import { pinMachine } from '../machines/pin.js';
import { storageMachine } from '../machines/storage.js';
import { lifecycleProtocol } from '../messages/lifecycle.js';
import { pinProtocol } from '../messages/pin.js';
import { cbor } from '../messages/protocol.js';
import { deviceConfigRecord, INTERNAL_FILES, pinRecord } from '../messages/records.js';
import { validate } from '../messages/schema.js';
import { storageProtocol } from '../messages/storage.js';
import {
  changeApdu,
  DATA_FILE,
  DATA_PATTERN,
  initializeApdu,
  resetRetryApdu,
  SELECT_APPLET,
  SO_PINS,
  updateBinaryApdu,
  USER_LIMIT,
  USER_PINS,
  verifyApdu,
  WRONG_USER_PIN,
} from '../tools/model-check/composition.js';
import { describeEvent } from '../tools/model-check/explore.js';
import { macroLogic, shortestPaths, simplePaths, transitionPaths, type GraphPath, type Macro, type MacroEvent, type MacroLogic } from '../tools/model-check/macro.js';
import { installedImage } from '../tools/model-check/system.js';

type AnyPath<S> = GraphPath<S>;

const describePath = (path: AnyPath<unknown>): string =>
  path.steps
    .slice(1)
    .map((step) => step.event.type)
    .join(' -> ') || '(initial)';

/**
 * A controllable engine: counts KDF runs, can run a hook at each, and can make one of them fail. One for the whole
 * file: boards/device.ts runs the power-on self-tests once per engine object.
 */
function instrumentedEngine(): { engine: CryptoEngine; onKdf?: () => void; failAt?: number; calls: number } {
  const control: { engine: CryptoEngine; onKdf?: () => void; failAt?: number; calls: number } = {
    calls: 0,
    engine: {
      ...portableEngine,
      pbkdf2Sha256: (...args) => {
        control.calls++;
        control.onKdf?.();
        if (control.failAt === control.calls) throw new Error('planted KDF failure');
        return portableEngine.pbkdf2Sha256(...args);
      },
    },
  };
  return control;
}
const CONTROL = instrumentedEngine();

/** A PIN record as stored in a raw flash image (mounted read-only on a copy). */
function storedRecord(image: Uint8Array, fileId: number): { retries: number; limit: number } | undefined {
  const store = new LogStore(new SimFlash(SIM_GEOMETRY, image), { compactionStarted: () => undefined, compactionFinished: () => undefined });
  const mounted = store.mount();
  if (!mounted.ok) throw new Error('the image does not mount');
  const read = store.read(fileId);
  if (!read.ok) return undefined;
  const record = validate(pinRecord, cbor.decode(read.value.data));
  return { retries: record.retries, limit: record.limit };
}

const boardCall = (board: SimBoard) => board.device.scheduler;

async function storedPin(board: SimBoard, fileId: number): Promise<{ retries: number; limit: number } | undefined> {
  const read = await boardCall(board).call('board', storageProtocol, 'read', { fileId });
  if (!read.ok) return undefined;
  const record = validate(pinRecord, cbor.decode(read.value.data));
  return { retries: record.retries, limit: record.limit };
}

// -------------------------------------------------------------------------------------------------------------
// PIN machine

type PinSnapshot = SnapshotFrom<typeof pinMachine>;
const SO_LIMIT = 15;
const userIs = (s: PinSnapshot, state: string): boolean => s.matches({ active: { user: state } } as never);
const soIs = (s: PinSnapshot, state: string): boolean => s.matches({ active: { so: state } } as never);
const soUsable = (s: PinSnapshot): boolean => soIs(s, 'ready') && s.context.soRetries > 0;

/** Macros of the PIN machine: the events the PIN actor sends for each command (see actors/pin.ts). */
function pinMacros(soFloor: number): Macro<PinSnapshot>[] {
  const wrongSo = (s: PinSnapshot): EventObject[] | undefined => (soUsable(s) && s.context.soRetries > soFloor ? [{ type: 'SO_ATTEMPT_STARTED' }, { type: 'SO_MISMATCHED' }] : undefined);
  return [
    {
      type: 'INITIALIZE',
      events: (s) =>
        s.matches('unset')
          ? [{ type: 'SESSION_RESET' }, { type: 'WIPED' }, { type: 'PROVISIONED', userLimit: USER_LIMIT, soLimit: SO_LIMIT }]
          : soUsable(s)
            ? [{ type: 'SO_ATTEMPT_STARTED' }, { type: 'SO_MATCHED' }, { type: 'SESSION_RESET' }, { type: 'WIPED' }, { type: 'SESSION_RESET' }, { type: 'WIPED' }, { type: 'PROVISIONED', userLimit: USER_LIMIT, soLimit: SO_LIMIT }]
            : undefined,
    },
    { type: 'INITIALIZE(wrong SO)', events: (s) => (s.matches('active') ? wrongSo(s) : undefined) },
    {
      type: 'VERIFY',
      events: (s) => (userIs(s, 'ready') ? [{ type: 'SESSION_RESET' }, { type: 'USER_ATTEMPT_STARTED' }, { type: 'USER_MATCHED' }] : userIs(s, 'blocked') ? [{ type: 'SESSION_RESET' }] : undefined),
    },
    {
      type: 'VERIFY(wrong)',
      events: (s) => (userIs(s, 'ready') ? [{ type: 'SESSION_RESET' }, { type: 'USER_ATTEMPT_STARTED' }, { type: 'USER_MISMATCHED' }] : userIs(s, 'blocked') ? [{ type: 'SESSION_RESET' }] : undefined),
    },
    { type: 'VERIFY SO', events: (s) => (soUsable(s) ? [{ type: 'SO_ATTEMPT_STARTED' }, { type: 'SO_MATCHED' }] : undefined) },
    { type: 'VERIFY SO(wrong)', events: wrongSo },
    { type: 'RESET RETRY COUNTER', events: (s) => (soUsable(s) ? [{ type: 'SO_ATTEMPT_STARTED' }, { type: 'SO_MATCHED' }, { type: 'USER_RESET_BY_SO' }] : undefined) },
    { type: 'RESET RETRY COUNTER(wrong SO)', events: wrongSo },
    { type: 'CHANGE', events: (s) => (userIs(s, 'ready') ? [{ type: 'USER_ATTEMPT_STARTED' }, { type: 'USER_MATCHED' }] : undefined) },
    { type: 'SELECT', events: () => [{ type: 'SESSION_RESET' }] },
    {
      type: 'REBOOT',
      restart: true,
      events: (s) => (s.matches('unset') ? [] : [{ type: 'RESTORED', userLimit: s.context.userLimit, userRetries: s.context.userRetries, soLimit: s.context.soLimit, soRetries: s.context.soRetries }]),
    },
  ];
}

/** The status word the applet must answer for a macro, given the machine before and after. */
function expectedPinStatus(macro: string, before: PinSnapshot, after: PinSnapshot): number | undefined {
  switch (macro) {
    case 'INITIALIZE':
    case 'VERIFY SO':
    case 'RESET RETRY COUNTER':
    case 'CHANGE':
    case 'SELECT':
      return 0x9000;
    case 'VERIFY':
      return userIs(before, 'blocked') ? 0x6983 : 0x9000;
    case 'VERIFY(wrong)':
      return userIs(before, 'blocked') ? 0x6983 : wrongPinStatus(after.context.userRetries);
    case 'INITIALIZE(wrong SO)':
    case 'VERIFY SO(wrong)':
    case 'RESET RETRY COUNTER(wrong SO)':
      return wrongPinStatus(after.context.soRetries);
    default:
      return undefined;
  }
}

class PinDriver {
  userPin: 'A' | 'B' = 'A';
  /** The flash at the first KDF run of the current command (the comparison). */
  atComparison: Uint8Array | undefined;
  private constructor(
    readonly board: SimBoard,
    readonly control: ReturnType<typeof instrumentedEngine>,
  ) {}

  /** A device on the installed image, or on a given flash image (a state restored by a power cycle). */
  static async start(image?: Uint8Array, userPin: 'A' | 'B' = 'A'): Promise<PinDriver> {
    const control = CONTROL;
    control.failAt = undefined;
    const board = await createSimBoard({ flash: new SimFlash(SIM_GEOMETRY, image ?? (await installedImage())), engine: control.engine });
    const driver = new PinDriver(board, control);
    driver.userPin = userPin;
    control.onKdf = () => {
      driver.atComparison ??= driver.board.hal.flash.snapshot();
    };
    return driver;
  }

  async run(macro: string): Promise<number | undefined> {
    const other = this.userPin === 'A' ? 'B' : 'A';
    const apdus: Record<string, string> = {
      INITIALIZE: initializeApdu(SO_PINS.S),
      'INITIALIZE(wrong SO)': initializeApdu(SO_PINS.T),
      VERIFY: verifyApdu(USER_PINS[this.userPin]),
      'VERIFY(wrong)': verifyApdu(WRONG_USER_PIN),
      'VERIFY SO': `00200088 08 ${SO_PINS.S}`,
      'VERIFY SO(wrong)': `00200088 08 ${SO_PINS.T}`,
      'RESET RETRY COUNTER': resetRetryApdu(SO_PINS.S),
      'RESET RETRY COUNTER(wrong SO)': resetRetryApdu(SO_PINS.T),
      CHANGE: changeApdu(USER_PINS[this.userPin], USER_PINS[other]),
      SELECT: SELECT_APPLET,
    };
    this.atComparison = undefined;
    if (macro === 'REBOOT') {
      await this.board.reboot();
      return undefined;
    }
    const answer = await this.board.transmit(apdus[macro]!);
    if (answer.statusWord === 0x9000 && macro === 'CHANGE') this.userPin = other;
    if (answer.statusWord === 0x9000 && macro === 'INITIALIZE') this.userPin = 'A';
    return answer.statusWord;
  }
}

async function assertPinState(driver: PinDriver, snapshot: PinSnapshot, where: string): Promise<void> {
  const scheduler = driver.board.device.scheduler;
  const user = await scheduler.call('board', pinProtocol, 'status', { reference: 'user' });
  const so = await scheduler.call('board', pinProtocol, 'status', { reference: 'so' });
  if (!user.ok || !so.ok) throw new Error(`${where}: pin.status failed`);
  const c = snapshot.context;
  if (snapshot.matches('unset')) {
    expect(user.value.state, where).toBe('unset');
    expect(so.value.state, where).toBe('unset');
    expect(await storedPin(driver.board, INTERNAL_FILES.userPin), where).toBeUndefined();
    return;
  }
  expect(user.value.state, where).toBe(userIs(snapshot, 'blocked') ? 'blocked' : 'ready');
  expect(so.value.state, where).toBe(soIs(snapshot, 'blocked') ? 'blocked' : 'ready');
  expect({ retries: user.value.retriesLeft, limit: user.value.limit, verified: user.value.verified }, where).toEqual({ retries: c.userRetries, limit: c.userLimit, verified: c.userVerified });
  expect({ retries: so.value.retriesLeft, limit: so.value.limit }, where).toEqual({ retries: c.soRetries, limit: c.soLimit });
  expect(await storedPin(driver.board, INTERNAL_FILES.userPin), `${where}: stored user record`).toEqual({ retries: c.userRetries, limit: c.userLimit });
  expect(await storedPin(driver.board, INTERNAL_FILES.soPin), `${where}: stored SO-PIN record`).toEqual({ retries: c.soRetries, limit: c.soLimit });
}

/** Drives `path` (from step `from` on, on `driver` if given) and checks every step; returns the driver, still running. */
async function drivePinPath(logic: MacroLogic<PinSnapshot>, path: AnyPath<PinSnapshot>, from = 1, given?: PinDriver): Promise<{ driver: PinDriver; steps: number }> {
  const driver = given ?? (await PinDriver.start());
  let snapshot = path.steps[from - 1]!.state;
  let steps = 0;
  await assertPinState(driver, snapshot, `${describePath(path)} @ ${from === 1 ? 'initial' : 'restored'}`);
  for (const step of path.steps.slice(from)) {
    const macro = step.event.type;
    const where = `${describePath(path)} @ ${macro}`;
    const applied = logic.apply(snapshot, step.event as MacroEvent);
    const statusWord = await driver.run(macro);
    expect(statusWord === undefined ? undefined : statusWord.toString(16), where).toBe(expectedPinStatus(macro, snapshot, applied.after)?.toString(16));
    // The intermediate `checking` snapshot: the counter the device had stored when it compared.
    const checking = applied.steps.find((item) => item.event.type.endsWith('_ATTEMPT_STARTED'));
    if (checking) {
      const image = driver.atComparison;
      expect(image, `${where}: the comparison ran`).toBeDefined();
      if (checking.event.type === 'USER_ATTEMPT_STARTED') {
        expect(checking.snapshot.matches({ active: { user: 'checking' } }), where).toBe(true);
        expect(storedRecord(image!, INTERNAL_FILES.userPin)?.retries, `${where}: stored user counter at the comparison`).toBe(checking.snapshot.context.userRetries);
      } else {
        expect(checking.snapshot.matches({ active: { so: 'checking' } }), where).toBe(true);
        expect(storedRecord(image!, INTERNAL_FILES.soPin)?.retries, `${where}: stored SO counter at the comparison`).toBe(checking.snapshot.context.soRetries);
      }
    }
    snapshot = applied.after;
    expect(logic.serialize(snapshot), where).toBe(logic.serialize(step.state));
    await assertPinState(driver, snapshot, where);
    steps++;
  }
  return { driver, steps };
}

/**
 * Transition coverage without re-driving every prefix: the shortest path to each source state is driven once; an
 * edge from a state with no verified session starts from that state's flash image on a fresh device (a power
 * cycle, which the REBOOT self-loops of the same graph show changes nothing there); an edge from a verified state
 * replays its prefix.
 */
async function drivePinTransitions(logic: MacroLogic<PinSnapshot>, paths: readonly AnyPath<PinSnapshot>[]): Promise<number> {
  let steps = 0;
  const bySource = new Map<string, AnyPath<PinSnapshot>[]>();
  for (const path of paths) {
    const source = logic.serialize(path.steps[path.steps.length - 2]!.state);
    bySource.set(source, [...(bySource.get(source) ?? []), path]);
  }
  for (const group of bySource.values()) {
    const prefix: AnyPath<PinSnapshot> = { state: group[0]!.steps[group[0]!.steps.length - 2]!.state, steps: group[0]!.steps.slice(0, -1) };
    const driven = await drivePinPath(logic, prefix);
    steps += driven.steps;
    const image = prefix.state.context.userVerified ? undefined : driven.driver.board.hal.flash.snapshot();
    const userPin = driven.driver.userPin;
    await driven.driver.board.device.stop();
    for (const path of group) {
      const edge = image
        ? await drivePinPath(logic, path, path.steps.length - 1, await PinDriver.start(image, userPin))
        : await drivePinPath(logic, path);
      steps += edge.steps;
      await edge.driver.board.device.stop();
    }
  }
  return steps;
}

describe('model-based: the PIN machine drives the real PIN actor', () => {
  it('every transition (xstate/graph shortest path to its source, then the edge) holds on the device, checking states included', async () => {
    const logic = macroLogic(pinMachine, pinMacros(SO_LIMIT - 2));
    const states = shortestPaths(logic);
    const paths = transitionPaths(logic);
    expect(states.length).toBeGreaterThan(10);
    const steps = await drivePinTransitions(logic, paths);
    console.log(`model-based PIN: ${states.length} states, ${paths.length} transitions, ${steps} device steps, every state and stored record as the machine says`);
    // The states the macros reach include a blocked user PIN, a verified session and a lowered SO counter.
    const reached = states.map((path) => path.state);
    expect(reached.some((s) => userIs(s, 'blocked'))).toBe(true);
    expect(reached.some((s) => s.context.userVerified)).toBe(true);
    expect(reached.some((s) => s.context.soRetries < SO_LIMIT)).toBe(true);
  });

  it('a fixed path to a blocked SO-PIN (xstate/graph getPathsFromEvents): 15 wrong SO-PINs, then re-initialisation is refused', async () => {
    const logic = macroLogic(pinMachine, pinMacros(0));
    const events: MacroEvent[] = [{ type: 'INITIALIZE' }, ...Array.from({ length: SO_LIMIT }, () => ({ type: 'VERIFY SO(wrong)' }))];
    const [path] = (getPathsFromEvents as unknown as (l: unknown, e: unknown, o: unknown) => AnyPath<PinSnapshot>[])(logic, events, { serializeState: (s: PinSnapshot) => logic.serialize(s) });
    expect(path!.state.matches({ active: { so: 'blocked' } })).toBe(true);
    await (await drivePinPath(logic, path!)).driver.board.device.stop();
    const driver = await PinDriver.start();
    for (const event of events) await driver.run(event.type);
    expect((await driver.run('INITIALIZE'))?.toString(16)).toBe('6983');
    await assertPinState(driver, path!.state, 'INITIALIZE with a blocked SO-PIN changes nothing');
  });
});

// -------------------------------------------------------------------------------------------------------------
// Lifecycle machine

type LifecycleSnapshot = SnapshotFrom<typeof lifecycleMachine>;
const inUse = (s: LifecycleSnapshot): boolean => s.matches('inUse');

const LIFECYCLE_MACROS: Macro<LifecycleSnapshot>[] = [
  { type: 'BOOT', events: (s) => (s.matches('booting') ? [{ type: 'DEVICE_KEY_MISSING' }, { type: 'DEVICE_KEY_CREATED' }] : undefined) },
  { type: 'BOOT(foreign flash)', events: (s) => (s.matches('booting') ? [{ type: 'FORMAT_UNSUPPORTED' }] : undefined) },
  { type: 'RECOMMISSION', events: (s) => (s.matches('needsRecommissioning') ? [{ type: 'FORMATTED' }, { type: 'DEVICE_KEY_MISSING' }, { type: 'DEVICE_KEY_CREATED' }] : undefined) },
  {
    type: 'INITIALIZE',
    events: (s) =>
      s.matches('installed')
        ? [{ type: 'INITIALIZE_REQUESTED' }, { type: 'PROVISIONED' }]
        : inUse(s)
          ? [{ type: 'INITIALIZE_REQUESTED' }, { type: 'SO_PIN_ACCEPTED' }, { type: 'WIPE_DONE' }, { type: 'PROVISIONED' }]
          : undefined,
  },
  {
    type: 'INITIALIZE(provisioning fails)',
    events: (s) =>
      s.matches('installed')
        ? [{ type: 'INITIALIZE_REQUESTED' }, { type: 'PROVISION_FAILED' }]
        : inUse(s)
          ? [{ type: 'INITIALIZE_REQUESTED' }, { type: 'SO_PIN_ACCEPTED' }, { type: 'WIPE_DONE' }, { type: 'PROVISION_FAILED' }]
          : undefined,
  },
  { type: 'INITIALIZE(wrong SO)', events: (s) => (inUse(s) ? [{ type: 'INITIALIZE_REQUESTED' }, { type: 'SO_PIN_REJECTED' }] : undefined) },
  { type: 'VERIFY', events: (s) => (s.matches({ inUse: 'commissioned' }) ? [{ type: 'USER_VERIFIED' }] : undefined) },
  {
    type: 'REBOOT',
    restart: true,
    events: (s) =>
      s.matches('installed')
        ? [{ type: 'LOADED', stage: 'installed' }]
        : s.matches({ inUse: 'commissioned' })
          ? [{ type: 'LOADED', stage: 'commissioned' }]
          : s.matches({ inUse: 'operational' })
            ? [{ type: 'LOADED', stage: 'operational' }]
            : undefined,
  },
];

/** The stage lifecycle.info reports for a snapshot. */
function stageOf(s: LifecycleSnapshot): string {
  if (s.matches({ inUse: 'commissioned' })) return 'commissioned';
  if (s.matches({ inUse: 'operational' })) return 'operational';
  return String(s.value);
}

/** A region that holds data but no log store: the store refuses it (unsupported format). */
function foreignImage(): Uint8Array {
  const image = new Uint8Array(SIM_GEOMETRY.sectorSize * SIM_GEOMETRY.sectorCount).fill(0xff);
  image.set([0x13, 0x37, 0x00, 0x42], 1000);
  return image;
}

class LifecycleDriver {
  board!: SimBoard;
  readonly control = CONTROL;
  dataPresent = false;

  constructor() {
    CONTROL.onKdf = undefined;
    CONTROL.failAt = undefined;
  }

  async run(macro: string, before: LifecycleSnapshot): Promise<{ statusWords: number[] }> {
    const statusWords: number[] = [];
    switch (macro) {
      case 'BOOT':
        this.board = await createSimBoard({ engine: this.control.engine });
        break;
      case 'BOOT(foreign flash)':
        this.board = await createSimBoard({ flash: new SimFlash(SIM_GEOMETRY, foreignImage()), engine: this.control.engine });
        break;
      case 'RECOMMISSION': {
        const done = await this.board.device.scheduler.call('board', lifecycleProtocol, 'recommission', {});
        expect(done.ok).toBe(true);
        break;
      }
      case 'INITIALIZE':
      case 'INITIALIZE(wrong SO)':
      case 'INITIALIZE(provisioning fails)':
        if (macro === 'INITIALIZE(provisioning fails)') this.control.failAt = this.control.calls + (before.matches('installed') ? 1 : 2);
        statusWords.push((await this.board.transmit(initializeApdu(macro === 'INITIALIZE(wrong SO)' ? SO_PINS.T : SO_PINS.S))).statusWord);
        this.control.failAt = undefined;
        if (macro !== 'INITIALIZE(wrong SO)') this.dataPresent = false;
        break;
      case 'VERIFY':
        statusWords.push((await this.board.transmit(verifyApdu(USER_PINS.A))).statusWord);
        statusWords.push((await this.board.transmit(updateBinaryApdu())).statusWord);
        this.dataPresent = true;
        break;
      case 'REBOOT':
        await this.board.reboot();
        break;
      default:
        throw new Error(`no driver for ${macro}`);
    }
    return { statusWords };
  }
}

function expectedLifecycleStatus(macro: string): ((statusWord: number) => boolean)[] {
  switch (macro) {
    case 'INITIALIZE':
      return [(sw) => sw === 0x9000];
    case 'INITIALIZE(wrong SO)':
      return [(sw) => (sw & 0xfff0) === 0x63c0];
    case 'INITIALIZE(provisioning fails)':
      return [(sw) => sw === 0x6581];
    case 'VERIFY':
      return [(sw) => sw === 0x9000, (sw) => sw === 0x9000];
    default:
      return [];
  }
}

async function assertLifecycleState(driver: LifecycleDriver, snapshot: LifecycleSnapshot, where: string): Promise<void> {
  const scheduler = driver.board.device.scheduler;
  const info = await scheduler.call('board', lifecycleProtocol, 'info', {});
  expect(info.ok && info.value.stage, where).toBe(stageOf(snapshot));
  const config = await scheduler.call('board', storageProtocol, 'read', { fileId: INTERNAL_FILES.deviceConfig });
  const stored = config.ok ? validate(deviceConfigRecord, cbor.decode(config.value.data)).stage : 'none';
  expect(stored, `${where}: stored configuration`).toBe(inUse(snapshot) ? stageOf(snapshot) : 'none');
  if (snapshot.matches('needsRecommissioning')) return;
  const data = await scheduler.call('board', storageProtocol, 'read', { fileId: DATA_FILE });
  expect(data.ok, `${where}: the data object is ${driver.dataPresent ? 'present' : 'absent'}`).toBe(driver.dataPresent);
  if (!driver.dataPresent) expect(Buffer.from(driver.board.hal.flash.snapshot()).indexOf(Buffer.from(DATA_PATTERN, 'hex')), `${where}: no stale copy in the flash`).toBe(-1);
}

describe('model-based: the lifecycle machine drives the real lifecycle actor', () => {
  it('every simple path (xstate/graph getSimplePaths) and every transition holds on the device', async () => {
    // The wipe counter grows without bound and is read by no guard; the history value (where a refused
    // re-initialisation returns) cannot be seen on the device and a reboot forgets it. The graph keys on neither
    // (the model checker, npm run model-check, does key on the history).
    const logic = macroLogic(lifecycleMachine, LIFECYCLE_MACROS, { project: (s) => ({ wipedSinceCommissioning: s.context.wipedSinceCommissioning }), history: false });
    // The empty path (the machine before the device boots) has nothing to drive.
    const simple = simplePaths(logic).filter((path) => path.steps.length > 1);
    const paths = [...simple, ...transitionPaths(logic)];
    expect(simple.length).toBeGreaterThan(10);
    let steps = 0;
    for (const path of paths) {
      const driver = new LifecycleDriver();
      let snapshot = path.steps[0]!.state;
      for (const step of path.steps.slice(1)) {
        const macro = step.event.type;
        const where = `${describePath(path)} @ ${macro}`;
        const applied = logic.apply(snapshot, step.event as MacroEvent);
        const { statusWords } = await driver.run(macro, snapshot);
        const expected = expectedLifecycleStatus(macro);
        expect(statusWords.length, where).toBe(expected.length);
        statusWords.forEach((sw, at) => expect(expected[at]!(sw), `${where}: status word ${sw.toString(16)}`).toBe(true));
        snapshot = applied.after;
        expect(logic.serialize(snapshot), where).toBe(logic.serialize(step.state));
        await assertLifecycleState(driver, snapshot, where);
        steps++;
      }
      await driver.board.device.stop();
    }
    console.log(`model-based lifecycle: ${simple.length} simple paths and ${paths.length - simple.length} transitions, ${steps} device steps`);
  });
});

// -------------------------------------------------------------------------------------------------------------
// Storage machine

type StorageSnapshot = SnapshotFrom<typeof storageMachine>;
const FOREIGN = 'foreign flash';
const TEST_FILE = 0x0101;

const STORAGE_MACROS: Macro<StorageSnapshot>[] = [
  {
    type: 'BOOT',
    restart: true,
    events: (s) => (s.matches('unmounted') && !s.context.recoveryPending && s.context.failure === undefined ? [{ type: 'MOUNT' }, { type: 'MOUNTED', recoveryNeeded: false }] : undefined),
  },
  {
    type: 'BOOT(foreign flash)',
    restart: true,
    events: (s) => (s.matches('unmounted') && !s.context.recoveryPending && s.context.failure === undefined ? [{ type: 'MOUNT' }, { type: 'MOUNT_FAILED', reason: 'unsupportedFormat', detail: FOREIGN }] : undefined),
  },
  { type: 'WRITE(power cut)', events: (s) => (s.matches('ready') ? [{ type: 'POWER_LOST' }] : undefined) },
  {
    type: 'READ',
    events: (s) => (s.matches('unmounted') && s.context.recoveryPending ? [{ type: 'MOUNT' }, { type: 'MOUNTED', recoveryNeeded: false }, { type: 'RECOVERY_DONE' }] : undefined),
  },
  { type: 'FORMAT', events: (s) => (s.matches('ready') || s.matches('failed') ? [{ type: 'FORMATTED' }] : undefined) },
  {
    type: 'REBOOT',
    restart: true,
    events: (s) =>
      s.matches('failed') && s.context.failure?.reason === 'unsupportedFormat'
        ? [{ type: 'MOUNT' }, { type: 'MOUNT_FAILED', reason: 'unsupportedFormat', detail: FOREIGN }]
        : s.matches('ready') || (s.matches('unmounted') && s.context.recoveryPending)
          ? [{ type: 'MOUNT' }, { type: 'MOUNTED', recoveryNeeded: false }]
          : undefined,
  },
];

class StorageDriver {
  board!: SimBoard;
  /** What TEST_FILE may hold now: after a cut write, the old or the new content. */
  allowed: (string | undefined)[] = [undefined];
  private writes = 0;

  private async read(): Promise<string | undefined | 'unavailable'> {
    const read = await this.board.device.scheduler.call('board', storageProtocol, 'read', { fileId: TEST_FILE });
    if (read.ok) return Buffer.from(read.value.data).toString('hex');
    return read.error.code === 'notFound' ? undefined : 'unavailable';
  }

  async run(macro: string): Promise<void> {
    const scheduler = () => this.board.device.scheduler;
    switch (macro) {
      case 'BOOT':
        this.board = await createSimBoard({ flash: new SimFlash(SIM_GEOMETRY, await installedImage()) });
        break;
      case 'BOOT(foreign flash)':
        this.board = await createSimBoard({ flash: new SimFlash(SIM_GEOMETRY, foreignImage()) });
        break;
      case 'WRITE(power cut)': {
        const content = Uint8Array.of(0xa0, ++this.writes, 0x5a);
        this.board.hal.flash.armPowerCut({ atOperation: 1, flipSeed: this.writes * 7919 });
        const put = await scheduler().call('board', storageProtocol, 'put', { fileId: TEST_FILE, data: content });
        expect(put.ok).toBe(false);
        this.board.hal.flash.powerOn();
        const current = this.allowed.length === 1 ? this.allowed[0] : undefined;
        this.allowed = [current, Buffer.from(content).toString('hex')];
        break;
      }
      case 'READ': {
        const content = await this.read();
        expect(this.allowed, `after the cut the file is as before or as after, not ${content}`).toContain(content);
        this.allowed = [content === 'unavailable' ? undefined : content];
        break;
      }
      case 'FORMAT': {
        const formatted = await scheduler().call('board', storageProtocol, 'format', {});
        expect(formatted.ok).toBe(true);
        this.allowed = [undefined];
        break;
      }
      case 'REBOOT':
        await this.board.reboot();
        break;
      default:
        throw new Error(`no driver for ${macro}`);
    }
  }
}

describe('model-based: the storage machine drives the real storage actor', () => {
  it('every simple path (xstate/graph getSimplePaths) and every transition holds on the device', async () => {
    const logic = macroLogic(storageMachine, STORAGE_MACROS, { project: (s) => ({ recoveryPending: s.context.recoveryPending, failure: s.context.failure?.reason }) });
    const simple = simplePaths(logic).filter((path) => path.steps.length > 1);
    const paths = [...simple, ...transitionPaths(logic)];
    expect(simple.length).toBeGreaterThan(4);
    let steps = 0;
    for (const path of paths) {
      const driver = new StorageDriver();
      let snapshot = path.steps[0]!.state;
      for (const step of path.steps.slice(1)) {
        const where = `${describePath(path)} @ ${step.event.type}`;
        snapshot = logic.apply(snapshot, step.event as MacroEvent).after;
        await driver.run(step.event.type);
        const info = await driver.board.device.scheduler.call('board', storageProtocol, 'info', {});
        const top = ['unmounted', 'mounting', 'ready', 'compacting', 'failed'].find((state) => snapshot.matches(state as never));
        expect(info.ok && info.value.state, where).toBe(top);
        const failure = info.ok ? info.value.failure : undefined;
        expect(failure?.split(':')[0], `${where}: failure`).toBe(snapshot.context.failure?.reason);
        steps++;
      }
      await driver.board.device.stop();
    }
    console.log(`model-based storage: ${simple.length} simple paths and ${paths.length - simple.length} transitions, ${steps} device steps (macros: ${paths.flatMap((path) => path.steps.slice(1).map((step) => describeEvent(step.event))).filter((v, i, a) => a.indexOf(v) === i).join(', ')})`);
  });
});
