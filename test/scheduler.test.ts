import { describe, expect, it } from 'vitest';
import { defineActor, Scheduler, type TraceEntry } from '../actors/scheduler.js';
import { ManualTime } from '../hal/sim/time.js';
import { defineProtocol, encodeEnvelope, decodeEnvelope, empty, fail, ok, op, redactBody } from '../messages/protocol.js';
import * as t from '../messages/fields.js';
import { toHex } from '../messages/schema.js';

// Test-only protocols: a counter that can crash and wait, a relay that calls the counter, and a sink nobody may call.
const counterProtocol = defineProtocol('counter', {
  add: op(t.struct({ amount: t.uint(1000) }), t.struct({ total: t.uint() }), { tooMuch: t.struct({ limit: t.uint() }) }),
  crash: op(empty, empty),
  hold: op(empty, empty),
  secret: op(t.struct({ pin: t.bytes({ sensitive: true }) }), t.struct({ accepted: t.bool() })),
});
const relayProtocol = defineProtocol('relay', {
  forward: op(t.struct({ amount: t.uint(1000) }), t.struct({ total: t.uint() }), { failed: t.struct({ cause: t.text() }) }),
  forbidden: op(empty, empty, { failed: t.struct({ cause: t.text() }) }),
});
const sinkProtocol = defineProtocol('sink', { poke: op(empty, empty) });

interface Harness {
  scheduler: Scheduler;
  time: ManualTime;
  starts: { counter: number };
  release: () => void;
  timersFired: string[];
  logs: string[];
}

async function harness(options: { seed?: number; capacity?: number; traceBodies?: boolean } = {}): Promise<Harness> {
  const time = new ManualTime();
  const starts = { counter: 0 };
  const timersFired: string[] = [];
  const logs: string[] = [];
  let releaseHold: () => void = () => undefined;
  const counter = defineActor({
    protocol: counterProtocol,
    mailboxCapacity: options.capacity ?? 16,
    start: (context) => {
      starts.counter += 1;
      let total = 0;
      return {
        handlers: {
          add: ({ amount }) => {
            if (amount > 500) return fail({ code: 'tooMuch' as const, limit: 500 });
            total += amount;
            return ok({ total });
          },
          crash: () => {
            throw new Error('deliberate crash');
          },
          hold: () =>
            new Promise((resolve) => {
              releaseHold = () => resolve(ok({}));
            }),
          secret: ({ pin }) => ok({ accepted: pin.length === 6 }),
        },
        onTimer: (name) => {
          timersFired.push(`${name}@${context.now()}`);
        },
      };
    },
  });
  const relay = defineActor({
    protocol: relayProtocol,
    start: (context) => ({
      handlers: {
        forward: async ({ amount }) => {
          const first = await context.call(counterProtocol, 'add', { amount });
          if (!first.ok) return fail({ code: 'failed' as const, cause: first.error.code });
          return ok({ total: first.value.total });
        },
        forbidden: async () => {
          const result = await context.call(sinkProtocol, 'poke', {});
          return result.ok ? ok({}) : fail({ code: 'failed' as const, cause: result.error.code });
        },
      },
    }),
  });
  const sink = defineActor({ protocol: sinkProtocol, start: () => ({ handlers: { poke: () => ok({}) } }) });
  const scheduler = new Scheduler({
    capabilities: { test: ['counter', 'relay'], relay: ['counter'], counter: [] },
    clock: time.clock,
    timers: time.timers,
    seed: options.seed,
    defaultTimeoutMs: 1000,
    traceBody: options.traceBodies ? redactBody : undefined,
    log: (line) => logs.push(line),
  });
  await scheduler.start([counter, relay, sink]);
  return { scheduler, time, starts, release: () => releaseHold(), timersFired, logs };
}

describe('scheduler', () => {
  it('routes requests and replies by correlation id, with declared errors', async () => {
    const { scheduler } = await harness();
    const results = await Promise.all([
      scheduler.call('test', counterProtocol, 'add', { amount: 1 }),
      scheduler.call('test', relayProtocol, 'forward', { amount: 10 }),
      scheduler.call('test', counterProtocol, 'add', { amount: 900 }),
    ]);
    expect(results[0]).toEqual({ ok: true, value: { total: 1 } });
    expect(results[1]).toEqual({ ok: true, value: { total: 11 } });
    expect(results[2]).toEqual({ ok: false, error: { code: 'tooMuch', limit: 500 } });
  });

  it('refuses and logs a send the capability list does not allow', async () => {
    const { scheduler, logs } = await harness();
    const fromRelay = await scheduler.call('test', relayProtocol, 'forbidden', {});
    expect(fromRelay).toEqual({ ok: false, error: { code: 'failed', cause: 'refused' } });
    expect(logs.some((line) => line.includes('refused: relay may not send poke to sink'))).toBe(true);
    expect(scheduler.trace('relay').some((entry) => entry.event === 'refused')).toBe(true);
    const fromOutsider = await scheduler.call('stranger', counterProtocol, 'add', { amount: 1 });
    expect(fromOutsider.ok).toBe(false);
    if (!fromOutsider.ok) expect(fromOutsider.error.code).toBe('refused');
  });

  it('answers busy when a mailbox is full, and serves the queued requests afterwards', async () => {
    const { scheduler, release } = await harness({ capacity: 2 });
    const held = scheduler.call('test', counterProtocol, 'hold', {});
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(scheduler.status('counter')?.mailbox).toBe(0);
    const queued = [scheduler.call('test', counterProtocol, 'add', { amount: 1 }), scheduler.call('test', counterProtocol, 'add', { amount: 2 })];
    const rejected = await scheduler.call('test', counterProtocol, 'add', { amount: 3 });
    expect(rejected.ok).toBe(false);
    if (!rejected.ok) expect(rejected.error.code).toBe('busy');
    release();
    expect((await held).ok).toBe(true);
    expect((await Promise.all(queued)).map((result) => result.ok && result.value.total)).toEqual([1, 3]);
  });

  it('restarts an actor whose handler threw and answers its callers with peer.restarted', async () => {
    const { scheduler, starts, logs } = await harness();
    expect((await scheduler.call('test', counterProtocol, 'add', { amount: 5 })).ok).toBe(true);
    const crashed = scheduler.call('test', counterProtocol, 'crash', {});
    const queuedBehindCrash = scheduler.call('test', counterProtocol, 'add', { amount: 1 });
    const crashResult = await crashed;
    expect(crashResult.ok).toBe(false);
    if (!crashResult.ok) {
      expect(crashResult.error.code).toBe('peer.restarted');
      expect(crashResult.error.code === 'peer.restarted' && crashResult.error.detail).toContain('deliberate crash');
    }
    const queuedResult = await queuedBehindCrash;
    expect(queuedResult.ok === false && queuedResult.error.code).toBe('peer.restarted');
    expect(starts.counter).toBe(2);
    expect(scheduler.status('counter')?.restarts).toBe(1);
    expect(logs.some((line) => line.includes('counter restarted after'))).toBe(true);
    // State was rebuilt by start(): the total starts again from zero.
    expect(await scheduler.call('test', counterProtocol, 'add', { amount: 2 })).toEqual({ ok: true, value: { total: 2 } });
  });

  it('ends an unanswered call with a timeout and drops the late reply', async () => {
    const { scheduler, time, release } = await harness();
    const held = scheduler.call('test', counterProtocol, 'hold', {}, { timeoutMs: 50 });
    await new Promise((resolve) => setImmediate(resolve));
    time.advance(49);
    await new Promise((resolve) => setImmediate(resolve));
    time.advance(1);
    const result = await held;
    expect(result.ok === false && result.error.code).toBe('timeout');
    release();
    await scheduler.idle();
    expect(scheduler.trace('scheduler').some((entry) => entry.event === 'dropped')).toBe(true);
  });

  it('delivers actor timers as timer.expired messages through the mailbox', async () => {
    const time = new ManualTime();
    const fired: string[] = [];
    const tickerProtocol = defineProtocol('ticker', { arm: op(t.struct({ ms: t.uint() }), empty) });
    const ticker = defineActor({
      protocol: tickerProtocol,
      start: (context) => ({
        handlers: {
          arm: ({ ms }) => {
            context.startTimer('tick', ms);
            return ok({});
          },
        },
        onTimer: (name) => {
          fired.push(`${name}@${context.now()}`);
        },
      }),
    });
    const scheduler = new Scheduler({ capabilities: { test: ['ticker'] }, clock: time.clock, timers: time.timers });
    await scheduler.start([ticker]);
    await scheduler.call('test', tickerProtocol, 'arm', { ms: 30 });
    time.advance(29);
    await scheduler.idle();
    expect(fired).toEqual([]);
    time.advance(1);
    await scheduler.idle();
    expect(fired).toEqual(['tick@30']);
    expect(scheduler.trace('ticker').some((entry) => entry.operation === 'timer.expired')).toBe(true);
  });

  it('answers malformed bytes with typed errors and never crashes the receiver', async () => {
    const { scheduler } = await harness();
    expect(await scheduler.deliverRaw('test', new Uint8Array([0xff, 0x00, 0x13]))).toBeUndefined();
    const badBody = await scheduler.deliverRaw('test', encodeEnvelope({ kind: 'request', id: 1, from: 'test', to: 'counter', op: 'add', body: { amount: 'lots' } }));
    expect(badBody).toBeDefined();
    const badAnswer = decodeEnvelope(badBody!);
    expect(badAnswer.kind === 'error' && badAnswer.code).toBe('badMessage');
    const unknown = await scheduler.deliverRaw('test', encodeEnvelope({ kind: 'request', id: 2, from: 'test', to: 'counter', op: 'explode', body: {} }));
    const unknownAnswer = decodeEnvelope(unknown!);
    expect(unknownAnswer.kind === 'error' && unknownAnswer.code).toBe('unknownOperation');
    const spoofed = await scheduler.deliverRaw('test', encodeEnvelope({ kind: 'request', id: 3, from: 'relay', to: 'counter', op: 'add', body: { amount: 1 } }));
    expect(spoofed).toBeUndefined();
    expect(await scheduler.call('test', counterProtocol, 'add', { amount: 4 })).toEqual({ ok: true, value: { total: 4 } });
    expect(scheduler.status('counter')?.restarts).toBe(0);
  });

  it('redacts sensitive fields in traces', async () => {
    const { scheduler } = await harness({ traceBodies: true });
    const pin = new TextEncoder().encode('648219');
    expect(await scheduler.call('test', counterProtocol, 'secret', { pin })).toEqual({ ok: true, value: { accepted: true } });
    const rendered = JSON.stringify(scheduler.trace('counter'));
    expect(rendered).toContain('<redacted 6 bytes>');
    expect(rendered).not.toContain(toHex(pin));
    expect(rendered).not.toContain('648219');
  });

  it('replays one interleaving exactly per seed', async () => {
    async function run(seed: number): Promise<string[]> {
      const { scheduler } = await harness({ seed });
      const calls = [];
      for (let index = 0; index < 12; index++) {
        calls.push(index % 2 === 0 ? scheduler.call('test', counterProtocol, 'add', { amount: index }) : scheduler.call('test', relayProtocol, 'forward', { amount: index }));
      }
      const results = await Promise.all(calls);
      await scheduler.idle();
      const entries: TraceEntry[] = ['counter', 'relay', 'test'].flatMap((name) => scheduler.trace(name));
      entries.sort((a, b) => a.sequence - b.sequence);
      return [
        ...results.map((result) => JSON.stringify(result)),
        ...entries.map((entry) => `${entry.sequence} ${entry.event} ${entry.peer} ${entry.operation} ${entry.id} ${entry.detail ?? ''}`),
      ];
    }
    const first = await run(7);
    expect(await run(7)).toEqual(first);
    const others = await Promise.all([1, 2, 3, 4, 5].map((seed) => run(seed)));
    expect(others.some((other) => JSON.stringify(other) !== JSON.stringify(first))).toBe(true);
  });
});
