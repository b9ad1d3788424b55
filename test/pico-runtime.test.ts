/**
 * The device substitutes against the originals (tools/build-pico.ts swaps them in for the Pico bundle only):
 * - hal/rp2040/machine.ts against xstate: breadth-first over every machine's reachable states under an event
 *   alphabet (the model checker's exploration: xstate's pure `transition`), each transition replayed on both,
 *   values, contexts, `matches` and recorded history identical;
 * - hal/rp2040/cbor.ts against cbor-x with the pinned options: identical bytes for every value the schemas allow,
 *   identical decoding, and refusals where cbor-x refuses.
 */
import { Encoder as CborX } from 'cbor-x';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { initialTransition, transition, assign as xstateAssign, setup as xstateSetup, type AnyMachineSnapshot, type AnyStateMachine } from 'xstate';
import { lifecycleMachine } from '../machines/lifecycle.js';
import { pinMachine } from '../machines/pin.js';
import { storageMachine } from '../machines/storage.js';
import { Encoder as DeviceCbor } from '../hal/rp2040/cbor.js';
import { cbor as protocolCbor } from '../messages/protocol.js';
import { HmacDrbg, bigIntTo16Bytes } from '../hal/rp2040/entropy.js';
import * as mini from '../hal/rp2040/machine.js';
import { createHmac } from 'node:crypto';

// The machines are built again with the device interpreter from the same source files: the device bundle gets
// them through the `xstate` substitution; here we rebuild them by swapping `setup`/`assign` via a re-import.
async function deviceMachine(file: string): Promise<mini.Machine> {
  const { vi } = await import('vitest');
  vi.resetModules();
  vi.doMock('xstate', () => mini);
  const module = (await import(file)) as Record<string, unknown>;
  vi.doUnmock('xstate');
  // A device machine is its step function (the machine modules export no other function).
  const machine = Object.values(module).find((value) => typeof value === 'function');
  if (!machine) throw new Error(`no machine in ${file}`);
  return machine as mini.Machine;
}

type Event = { type: string } & Record<string, unknown>;

const ALPHABETS: Record<string, { machine: AnyStateMachine; file: string; events: Event[] }> = {
  pin: {
    machine: pinMachine,
    file: '../machines/pin.js',
    events: [
      { type: 'PROVISIONED', userLimit: 3, soLimit: 2 },
      { type: 'PROVISIONED', userLimit: 0, soLimit: 1 },
      { type: 'RESTORED', userLimit: 3, userRetries: 1, soLimit: 2, soRetries: 0 },
      { type: 'USER_ATTEMPT_STARTED' },
      { type: 'USER_MATCHED' },
      { type: 'USER_MISMATCHED' },
      { type: 'SO_ATTEMPT_STARTED' },
      { type: 'SO_MATCHED' },
      { type: 'SO_MISMATCHED' },
      { type: 'USER_RESET_BY_SO' },
      { type: 'SESSION_RESET' },
      { type: 'WIPED' },
      { type: 'UNKNOWN_EVENT' },
    ],
  },
  lifecycle: {
    machine: lifecycleMachine,
    file: '../machines/lifecycle.js',
    events: [
      { type: 'FORMAT_UNSUPPORTED' },
      { type: 'DEVICE_KEY_MISSING' },
      { type: 'DEVICE_KEY_CREATED' },
      { type: 'LOADED', stage: 'installed' },
      { type: 'LOADED', stage: 'commissioned' },
      { type: 'LOADED', stage: 'operational' },
      { type: 'INITIALIZE_REQUESTED' },
      { type: 'SO_PIN_ACCEPTED' },
      { type: 'SO_PIN_REJECTED' },
      { type: 'WIPE_DONE' },
      { type: 'PROVISIONED' },
      { type: 'PROVISION_FAILED' },
      { type: 'USER_VERIFIED' },
      { type: 'FORMATTED' },
    ],
  },
  storage: {
    machine: storageMachine,
    file: '../machines/storage.js',
    events: [
      { type: 'MOUNT' },
      { type: 'MOUNTED', recoveryNeeded: false },
      { type: 'MOUNTED', recoveryNeeded: true },
      { type: 'MOUNT_FAILED', reason: 'unsupportedFormat', detail: 'x' },
      { type: 'RECOVERY_DONE' },
      { type: 'COMPACT_STARTED' },
      { type: 'COMPACT_DONE' },
      { type: 'POWER_LOST' },
      { type: 'FLASH_FAULT', detail: 'bad' },
      { type: 'FORMATTED' },
    ],
  },
};

function historyIds(snapshot: AnyMachineSnapshot): Record<string, string[]> {
  const ids: Record<string, string[]> = {};
  const history = (snapshot as unknown as { historyValue: Record<string, { id: string }[]> }).historyValue ?? {};
  for (const key of Object.keys(history)) ids[key] = history[key].map((node) => node.id);
  return ids;
}

function deviceHistoryIds(snapshot: mini.Snapshot): Record<string, string[]> {
  const ids: Record<string, string[]> = {};
  for (const key of Object.keys(snapshot.history)) ids[key] = snapshot.history[key].map((node) => node.id);
  return ids;
}

function key(snapshot: AnyMachineSnapshot): string {
  return JSON.stringify([snapshot.value, snapshot.context, historyIds(snapshot)]);
}

const PROBES = ['unset', 'active', 'ready', 'blocked', 'failed', { inUse: 'operational' }, { mounting: 'recovering' }, { active: { user: 'blocked' } }, { active: { so: 'checking' } }, 'inUse.operational', 'active.user.blocked', 'mounting.recovering', { active: 'so.checking' }];

/** Breadth-first over the reachable states of `machine` under `events`, each transition replayed on `device`. */
function explore(name: string, machine: AnyStateMachine, device: mini.Machine, events: Event[], probes: unknown[]): void {
  const [start] = initialTransition(machine);
  const [deviceStart] = mini.initialTransition(device);
  expect(deviceStart.value).toEqual(start.value);
  expect(deviceStart.context).toEqual(start.context);
  const queue: [AnyMachineSnapshot, mini.Snapshot, string[]][] = [[start, deviceStart, []]];
  const seen = new Set([key(start)]);
  let transitions = 0;
  while (queue.length > 0 && seen.size < 1500) {
    const [snapshot, deviceSnapshot, path] = queue.shift()!;
    for (const event of events) {
      const [next] = transition(machine, snapshot, event);
      const [deviceNext] = mini.transition(device, deviceSnapshot, event);
      const where = `${name} after ${[...path, event.type].join(' -> ')}`;
      transitions++;
      expect(deviceNext.value, where).toEqual(next.value);
      expect(deviceNext.context, where).toEqual(next.context);
      expect(deviceHistoryIds(deviceNext), where).toEqual(historyIds(next));
      for (const probe of probes) {
        expect(deviceNext.matches(probe as never), `${where}: matches(${JSON.stringify(probe)})`).toBe(next.matches(probe as never));
      }
      const nextKey = key(next);
      if (!seen.has(nextKey)) {
        seen.add(nextKey);
        queue.push([next, deviceNext, [...path, event.type]]);
      }
    }
  }
  expect(transitions).toBeGreaterThan(events.length * 3);
}

/**
 * A synthetic machine for the semantics the firmware's machines rely on only in simple forms: an event handled by
 * a region and by its parallel parent (innermost wins), targetless parent transitions, transitions from two regions
 * on one event (document order of actions), a region's transition leaving the parallel state (conflict: the first
 * wins), eventless transitions after an event, history inside a parallel region, `#id`, `.child` and
 * `sibling.child` targets, property-map and function `assign`s.
 */
const SYNTHETIC_CONFIG = {
  id: 'm',
  context: { log: '', count: 0 },
  initial: 'p',
  states: {
    p: {
      type: 'parallel',
      on: { E: { actions: 'logP' }, X: { target: 'q', actions: 'logP' }, H: 'q', Z: { actions: 'reset' } },
      states: {
        a: {
          initial: 'a1',
          on: { X: { target: '.a2', actions: 'logA' } },
          states: {
            a1: { on: { E: { target: 'a2', actions: 'logA' }, J: '#m.q', F: { actions: 'logA' } } },
            a2: { always: { guard: 'busy', target: 'a1', actions: 'count' }, on: { F: { actions: 'logA' } } },
            h: { type: 'history' },
          },
        },
        b: {
          initial: 'b1',
          states: {
            b1: { on: { J: { target: 'b2', actions: 'logB' }, E: { actions: 'logB' }, F: { target: '#m.q', actions: 'logB' } } },
            b2: { on: { K: '#m.q', F: { actions: 'logB' } } },
          },
        },
      },
    },
    q: { on: { BACK: 'p.a.h', R: 'p', S: 'p.b.b2', Z: { actions: 'reset' } } },
  },
} as const;

function syntheticImplementations(assign: (assignment: never) => unknown) {
  const log = (letter: string) => assign((({ context }: { context: { log: string } }) => ({ log: (context.log + letter).slice(-6) })) as never);
  return {
    guards: { busy: ({ context }: { context: { log: string } }) => context.log.length >= 4 && context.log.length % 2 === 0 },
    actions: { logP: log('P'), logA: log('A'), logB: log('B'), count: assign((({ context }: { context: { count: number } }) => ({ count: (context.count + 1) % 3 })) as never), reset: assign({ log: '', count: ({ context }: { context: { count: number } }) => context.count } as never) },
  };
}

describe('the device statechart interpreter against xstate', () => {
  for (const [name, { machine, file, events }] of Object.entries(ALPHABETS)) {
    it(`${name}: every reachable transition gives the same value, context and history`, async () => {
      explore(name, machine, await deviceMachine(file), events, PROBES);
    });
  }

  it('a synthetic machine with the interpreter\'s other supported features behaves like xstate', () => {
    const machine = xstateSetup(syntheticImplementations(xstateAssign as never) as never).createMachine(SYNTHETIC_CONFIG as never) as unknown as AnyStateMachine;
    const device = mini.setup(syntheticImplementations(mini.assign as never) as never).createMachine(SYNTHETIC_CONFIG as never);
    const events = ['E', 'X', 'H', 'J', 'K', 'F', 'BACK', 'R', 'S', 'Z'].map((type) => ({ type }));
    explore('synthetic', machine, device, events, ['p', 'q', { p: 'a' }, { p: { a: 'a2', b: 'b2' } }, { p: { b: 'b1' } }, 'p.a.a1', 'p.b', { p: 'b.b2' }]);
  });

  it('refuses, when the machine is built, what it does not implement', () => {
    const build = (config: unknown, implementations: unknown = {}) => () => mini.setup(implementations as never).createMachine(config as never);
    expect(build({ initial: 'a', states: { a: { entry: 'x' } } })).toThrow(/entry/);
    expect(build({ initial: 'a', states: { a: { after: { 100: 'a' } } } })).toThrow(/after/);
    expect(build({ initial: 'a', states: { a: { invoke: { src: 'x' } } } })).toThrow(/invoke/);
    expect(build({ initial: 'a', states: { a: { type: 'final' } } })).toThrow(/final/);
    expect(build({ initial: 'a', states: { a: {}, h: { type: 'history', history: 'deep' } } })).toThrow(/history/);
    expect(build({ initial: 'a', states: { a: { on: { E: { target: 'a', reenter: true } } } } })).toThrow(/reenter/);
    expect(build({ initial: 'a', states: { a: { on: { E: 'b' } } } })).toThrow(/b/);
    expect(build({ initial: 'a', states: { a: { on: { E: { guard: 'missing' } } } } })).toThrow(/missing/);
    expect(build({ initial: 'a', states: { a: { on: { E: { actions: 'missing' } } } } })).toThrow(/missing/);
    expect(build({ initial: 'b', states: { a: {} } })).toThrow(/initial/);
    expect(build({ initial: 'a', states: { a: { on: { '*': 'a' } } } })).toThrow(/\*/);
    expect(build({ initial: 'a', states: { a: {}, h: { type: 'history', target: 'a' } } })).toThrow(/target/);
    expect(build({ initial: 'a', states: { a: { guard: 'g' } } }, { guards: { g: () => true } })).toThrow(/guard/);
  });

  it('the actor surface (createActor, send, getSnapshot, stop) behaves like xstate', async () => {
    const device = await deviceMachine('../machines/pin.js');
    const actor = mini.createActor(device).start();
    actor.send({ type: 'PROVISIONED', userLimit: 1, soLimit: 1 } as never);
    actor.send({ type: 'USER_ATTEMPT_STARTED' });
    actor.send({ type: 'USER_MISMATCHED' });
    expect(actor.getSnapshot().matches({ active: { user: 'blocked' } })).toBe(true);
    actor.stop();
    actor.send({ type: 'WIPED' });
    expect(actor.getSnapshot().matches('active')).toBe(true);
  });
});

const pinned = new CborX({ useRecords: false, tagUint8Array: false, mapsAsObjects: true, variableMapSize: true });
const device = new DeviceCbor({ useRecords: false, tagUint8Array: false, mapsAsObjects: true, variableMapSize: true });

// Every value the message schemas (messages/schema.ts) can hold, and more: doubles and integers beyond 32 bits
// (cbor-x writes those as float64), any text, undefined. No bigint: no schema field kind holds one, so the firmware
// never encodes one (the device codec refuses them, tested below).
const leaf = fc.oneof(
  fc.integer(),
  fc.integer({ min: -0x1_0000_0000, max: 0x1_0000_0000 }),
  fc.maxSafeInteger(),
  fc.double(),
  fc.string({ maxLength: 300 }),
  fc.string({ unit: 'grapheme', maxLength: 80 }),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.uint8Array({ maxLength: 300 }),
);
const value = fc.letrec((tie) => ({
  node: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('node'), { maxLength: 30 }), fc.dictionary(fc.string({ maxLength: 12 }), tie('node'), { maxKeys: 30 })),
})).node;

describe('the device CBOR codec against cbor-x (pinned options)', () => {
  it('encodes every value to the same bytes', () => {
    fc.assert(
      fc.property(value, (item) => {
        expect(Buffer.from(device.encode(item)).toString('hex')).toBe(Buffer.from(pinned.encode(item)).toString('hex'));
      }),
      { numRuns: 2000 },
    );
  });

  it('decodes what cbor-x produces to the same values', () => {
    fc.assert(
      fc.property(value, (item) => {
        const bytes = pinned.encode(item);
        const normalise = (decoded: unknown) => JSON.stringify(decoded, (_key, entry: unknown) => (typeof entry === 'bigint' ? `${entry}n` : entry instanceof Uint8Array ? `bytes:${Buffer.from(entry).toString('hex')}` : entry === undefined ? '<undefined>' : entry));
        expect(normalise(device.decode(bytes))).toBe(normalise(pinned.decode(bytes)));
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses (throws) on malformed input where cbor-x throws', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
        let reference: unknown;
        let referenceThrew = false;
        try {
          reference = pinned.decode(bytes);
        } catch {
          referenceThrew = true;
        }
        let ours: unknown;
        let oursThrew = false;
        try {
          ours = device.decode(bytes);
        } catch {
          oursThrew = true;
        }
        // The device refuses tags and simple values cbor-x maps to objects; where both accept, they agree.
        if (referenceThrew) expect(oursThrew).toBe(true);
        if (!oursThrew && !referenceThrew && typeof reference !== 'object') expect(ours).toEqual(reference);
      }),
      { numRuns: 3000 },
    );
  });

  it('refuses (throws) on CBOR that the pinned encoder never produces for a schema value', () => {
    const refused = {
      '1b0000000000000001': '64-bit unsigned integer',
      '3b0000000000000001': '64-bit negative integer',
      c24101: 'bignum tag',
      c11a00000000: 'date tag',
      f93c00: 'float16',
      fa3f800000: 'float32',
      '9fff': 'indefinite-length array',
      bfff: 'indefinite-length map',
      '5f41ff': 'indefinite-length byte string',
      a10102: 'integer map key',
      f0: 'unassigned simple value',
      f820: 'one-byte simple value',
      '1c': 'reserved additional information',
      '0000': 'trailing bytes',
      '8301': 'truncated array',
      '5a00000010': 'truncated byte string',
      [`${'81'.repeat(100)}00`]: 'nesting deeper than any message',
    };
    for (const [hex, what] of Object.entries(refused)) {
      expect(() => device.decode(Buffer.from(hex, 'hex')), what).toThrow();
    }
    // Nesting as deep as the schemas go (and somewhat deeper) decodes.
    expect(device.decode(Buffer.from(`${'81'.repeat(40)}00`, 'hex'))).toEqual(JSON.parse(`${'['.repeat(40)}0${']'.repeat(40)}`));
  });

  it('refuses (throws) to encode what no schema value is, instead of writing something cbor-x would not', () => {
    class Point {
      x = 1;
    }
    for (const item of [BigInt(1), new Map([[1, 2]]), new Set([1]), new Date(0), new Uint16Array(2), new Point(), [Symbol('s')], { f: () => 1 }]) {
      expect(() => device.encode(item), Object.prototype.toString.call(item)).toThrow();
    }
    // Plain objects with no prototype are maps, and holes in arrays undefined, as in cbor-x.
    const bare = Object.assign(Object.create(null) as Record<string, unknown>, { a: 1 });
    for (const item of [bare, [, 1], { __proto__: null, b: [2, , 3] }]) {
      expect(Buffer.from(device.encode(item)).toString('hex')).toBe(Buffer.from(pinned.encode(item)).toString('hex'));
    }
  });

  it('implements the option set messages/protocol.ts pins', () => {
    const options = protocolCbor as unknown as Record<string, unknown>;
    expect([options.useRecords, options.tagUint8Array, options.mapsAsObjects, options.variableMapSize]).toEqual([false, false, true, true]);
  });
});

describe('the Pico DRBG', () => {
  it('is SP 800-90A HMAC_DRBG (SHA-256), checked against an independent implementation on node:crypto', () => {
    const h = (key: Buffer, data: Buffer) => createHmac('sha256', key).update(data).digest();
    let K = Buffer.alloc(32, 0);
    let V = Buffer.alloc(32, 1);
    const update = (provided: Buffer) => {
      K = h(K, Buffer.concat([V, Buffer.of(0), provided]));
      V = h(K, V);
      if (provided.length === 0) return;
      K = h(K, Buffer.concat([V, Buffer.of(1), provided]));
      V = h(K, V);
    };
    const entropy = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex');
    const nonce = Buffer.from('2021222324252627', 'hex');
    update(Buffer.concat([entropy, nonce]));
    const generate = (length: number, additional: Buffer) => {
      if (additional.length > 0) update(additional);
      const out: Buffer[] = [];
      for (let produced = 0; produced < length; produced += 32) {
        V = h(K, V);
        out.push(V);
      }
      update(additional);
      return Buffer.concat(out).subarray(0, length);
    };
    const drbg = new HmacDrbg(entropy, nonce);
    for (const [length, additional] of [[32, ''], [80, 'aa55'], [7, '']] as const) {
      expect(Buffer.from(drbg.generate(length, Buffer.from(additional, 'hex'))).toString('hex')).toBe(generate(length, Buffer.from(additional, 'hex')).toString('hex'));
    }
    expect(Buffer.from(bigIntTo16Bytes(BigInt('0x0102030405060708090a0b0c0d0e0f10'))).toString('hex')).toBe('0102030405060708090a0b0c0d0e0f10');
  });
});
