/**
 * The composition at system level: the real actors on the simulated board, the seeded scheduler choosing the
 * delivery order of concurrent messages, power cuts as events (tools/model-check/composition.ts). The bound here
 * is one step from each standard root, to stay fast; `npm run model-check` runs two.
 */
import { describe, expect, it } from 'vitest';
import {
  countingEngine,
  describeStep,
  executeStep,
  exploreComposition,
  formatSystemViolation,
  STANDARD_ROOTS,
  SYSTEM_COMMANDS,
  withDepth,
  type SystemState,
  type SystemStep,
  type SystemTransition,
} from '../tools/model-check/composition.js';
import { KNOWN_FINDINGS, SYSTEM_INVARIANTS } from '../tools/model-check/invariants.js';
import { installedImage, SESSIONS, SimSystem } from '../tools/model-check/system.js';

const command = (id: string) => {
  const found = SYSTEM_COMMANDS.find((item) => item.id === id);
  if (!found) throw new Error(`no command ${id}`);
  return found;
};

/** One engine for the file: boards/device.ts runs the power-on self-tests once per engine object. */
const counter = countingEngine();

/** Runs commands on a fresh installed device, returning every transition. */
async function run(steps: readonly (string | SystemStep)[]): Promise<{ system: SimSystem; transitions: SystemTransition[] }> {
  const system = await SimSystem.boot(await installedImage(), { engine: counter.engine });
  let state: SystemState = { observation: await system.observe(), sessions: SESSIONS.map(() => false), belief: { userPin: 'A', soPin: 'S' } };
  const transitions: SystemTransition[] = [];
  for (const item of steps) {
    const step = typeof item === 'string' ? { command: command(item), seed: 1 } : item;
    const transition = await executeStep(system, state, step, { kdf: counter.count });
    transitions.push(transition);
    state = transition.after;
  }
  return { system, transitions };
}

describe('composition: the real actors, interleavings and power cuts', () => {
  it('keeps every system invariant one step from each root (no known findings remain)', async () => {
    const result = await exploreComposition({ roots: withDepth(STANDARD_ROOTS, 1), seeds: [1, 2, 3], cutsPerCommand: 3 });
    const hard = result.violations.filter((violation) => !violation.advisory);
    for (const violation of result.violations) console.log(formatSystemViolation(violation));
    console.log(
      `composition: ${result.states} states, ${result.transitions} transitions, ${result.powerCuts} power cuts, ${result.interleavings} interleavings, ${result.invariants.length} invariants, ${result.milliseconds.toFixed(0)} ms`,
    );
    expect(hard.map((violation) => violation.invariant)).toEqual([]);
    expect(result.complete).toBe(true);
    expect(result.powerCuts).toBeGreaterThan(20);
    // No known findings remain (F1 is fixed): every violation fails.
    expect(result.violations).toEqual([]);
  });

  it('the seed picks the interleaving of a key operation with a concurrent logout, and the answer follows the order', async () => {
    const orders = new Map<string, number>();
    for (let seed = 1; seed <= 8; seed++) {
      const { system, transitions } = await run(['INITIALIZE', 'VERIFY', { command: command('UPDATE BINARY'), concurrent: 'endSession', seed }]);
      const last = transitions[transitions.length - 1]!;
      orders.set(last.interleaving, last.statusWord!);
      // Accepted exactly when the key store asked before the logout reached the PIN actor.
      expect(last.statusWord === 0x9000, `${describeStep(last.step)}: ${last.interleaving}`).toBe(last.authorisations.every(Boolean));
      await system.device.stop();
    }
    expect(orders.size, 'the seeds produced different delivery orders').toBeGreaterThan(1);
    expect(new Set(orders.values())).toEqual(new Set([0x9000, 0x6982]));
  });

  it('one seed replays one interleaving exactly', async () => {
    const steps = ['INITIALIZE', 'VERIFY', { command: command('SIGN'), concurrent: 'endSession' as const, seed: 5 }, 'GENERATE'];
    const first = await run(steps);
    const second = await run(steps);
    expect(second.transitions.map((transition) => [transition.interleaving, transition.statusWord, transition.after])).toEqual(
      first.transitions.map((transition) => [transition.interleaving, transition.statusWord, transition.after]),
    );
  });

  it('a key operation in one card session never rides on another session\'s verification', async () => {
    const { transitions } = await run(['INITIALIZE', 'VERIFY', 'GENERATE', 'SELECT', 'VERIFY [session 1]', 'SIGN', 'SIGN [session 1]', 'SELECT [session 1]', 'SIGN [session 1]']);
    const answers = transitions.map((transition) => `${transition.step.command.id}:${transition.statusWord?.toString(16)}`);
    expect(answers).toEqual([
      'INITIALIZE:9000',
      'VERIFY:9000',
      'GENERATE:9000',
      'SELECT:9000',
      'VERIFY [session 1]:9000',
      'SIGN:6982',
      'SIGN [session 1]:9000',
      'SELECT [session 1]:9000',
      'SIGN [session 1]:6982',
    ]);
  });

  it('regression F1: a power cut anywhere in INITIALIZE never leaves PINs on an installed device, and the SO-PIN then guards re-initialisation', async () => {
    // F1 was: a cut between the PIN records and the configuration left a device reading `installed` with its PINs
    // set, which accepted INITIALIZE with a wrong SO-PIN (and so let anyone wipe and take it over).
    const operations = (await run(['INITIALIZE'])).transitions[0]!.flashOperations;
    expect(operations).toBeGreaterThan(5);
    for (let at = 1; at <= operations; at++) {
      const cut = { command: command('INITIALIZE'), seed: 1, cut: { at, flipSeed: at * 7919 } };
      const { system, transitions } = await run([cut, 'INITIALIZE(wrong SO)']);
      const [afterCut, reinitialised] = transitions;
      const observed = afterCut!.after.observation;
      const context = `cut at INITIALIZE flash operation ${at} of ${operations}`;
      expect(observed.stage === 'installed' && observed.user.state !== 'unset', context).toBe(false);
      if (observed.so.state !== 'unset') expect((reinitialised!.statusWord ?? 0) & 0xfff0, context).toBe(0x63c0);
      const broken = SYSTEM_INVARIANTS.filter((invariant) => invariant.holds(reinitialised!) !== true).map((invariant) => invariant.id);
      expect(broken, context).toEqual([]);
      await system.device.stop();
    }
  });

  it('a power cut at every flash operation of a re-initialisation leaves the data all there or all gone, and recovers', async () => {
    const prefix = ['INITIALIZE', 'VERIFY', 'UPDATE BINARY', 'GENERATE'];
    const clean = (await run([...prefix, 'INITIALIZE'])).transitions.at(-1)!;
    expect(clean.flashOperations).toBeGreaterThan(5);
    const outcomes = new Set<string>();
    for (let at = 1; at <= clean.flashOperations; at++) {
      const { system, transitions } = await run([...prefix, { command: command('INITIALIZE'), seed: 1, cut: { at, flipSeed: at * 7919 } }]);
      const cut = transitions.at(-1)!;
      expect(cut.cut).toBe(true);
      expect(cut.after.observation.storage).toBe('ready');
      expect([0, cut.before.observation.userFiles.length]).toContain(cut.after.observation.userFiles.length);
      outcomes.add(`${cut.after.observation.stage}/${cut.after.observation.userFiles.length === 0 ? 'wiped' : 'kept'}`);
      await system.device.stop();
    }
    console.log(`re-initialisation cut at each of ${clean.flashOperations} flash operations: ${[...outcomes].join(', ')}`);
    expect(outcomes.has('operational/kept')).toBe(true);
    expect([...outcomes].some((outcome) => outcome.endsWith('/wiped'))).toBe(true);
  });
});
