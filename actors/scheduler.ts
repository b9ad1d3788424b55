/**
 * The scheduler: mailboxes, delivery, request/reply, timers, supervision, capabilities and traces.
 *
 * Owns: one bounded mailbox and one trace ring per actor, the table of calls in flight, the timers.
 * Accepts: encoded envelopes (CBOR bytes, messages/protocol.ts) from actors and from external callers (links,
 * the board, tests), and raw bytes for fuzzing (`deliverRaw`).
 * Calls: every registered actor's handlers, one message at a time per actor (run to completion: an actor that is
 * awaiting a reply receives nothing else until its handler returns).
 *
 * Rules it enforces:
 * - Capabilities: the board lists which actor may send to which; any other send is refused (`refused` error) and
 *   logged.
 * - Bounded mailboxes: a request arriving at a full mailbox is answered with `busy`.
 * - Every message crosses as bytes and is validated against the receiver's protocol; malformed bodies are
 *   answered with `badMessage`, unknown operations with `unknownOperation`.
 * - Timeouts: a call not answered in time resolves with `timeout`; a late reply is dropped. Actor timers arrive
 *   as `timer.expired` messages through the mailbox, so machines stay pure.
 * - Supervision: a handler that throws is restarted (its `start` runs again and rebuilds state from storage);
 *   the request it was handling and every request waiting in its mailbox are answered with `peer.restarted`;
 *   replies to calls made by the dead instance are dropped.
 * - Deterministic mode: with a seed, the next delivery is picked pseudo-randomly among everything ready (any
 *   actor's mailbox head, any reply in flight), so one seed replays one interleaving exactly. Without a seed,
 *   deliveries are first-in first-out.
 */
import type { ActorContext, ActorDefinition, ActorInstance, CallOptions } from './actor.js';
import type { Clock, TimerHandle, TimerService } from '../hal/types.js';
import {
  decodeEnvelope,
  decodeResponse,
  encodeEnvelope,
  lookupOperation,
  SYSTEM_ERRORS,
  type CallResult,
  type Envelope,
  type OperationName,
  type Protocol,
  type RequestOf,
  type Result,
  type SystemErrorCode,
} from '../messages/protocol.js';
import { DecodeError, assertNever, validate } from '../messages/schema.js';

// ---------------------------------------------------------------------------------------------------------
// Actors with their protocol type erased, so a board can list them together. `defineActor` is the only bridge.

type ErasedError = { code: string } & Record<string, unknown>;
type ErasedResult = Result<unknown, ErasedError>;

interface ErasedInstance {
  handle(operation: string, request: unknown, context: ActorContext): Promise<ErasedResult>;
  onTimer(name: string, context: ActorContext): Promise<void>;
  stop(): Promise<void>;
}

export interface RegisteredActor {
  readonly protocol: Protocol;
  readonly mailboxCapacity: number;
  start(context: ActorContext): Promise<ErasedInstance>;
}

export function defineActor<P extends Protocol>(definition: ActorDefinition<P>): RegisteredActor {
  return {
    protocol: definition.protocol,
    mailboxCapacity: definition.mailboxCapacity ?? 16,
    async start(context) {
      const instance: ActorInstance<P> = await definition.start(context);
      return {
        async handle(operation, request, handlerContext) {
          const name = operation as OperationName<P>;
          const handler = instance.handlers[name];
          // `request` was validated against definition.protocol.operations[operation].request by the scheduler
          // before this call, which is exactly RequestOf<P, typeof name>.
          const result = await handler(request as RequestOf<P, typeof name>, handlerContext);
          return result as ErasedResult;
        },
        async onTimer(name, timerContext) {
          if (instance.onTimer) await instance.onTimer(name, timerContext);
        },
        async stop() {
          if (instance.stop) await instance.stop();
        },
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------------------

export interface TraceEntry {
  readonly sequence: number;
  readonly time: number;
  readonly event: 'received' | 'sent' | 'replied' | 'refused' | 'busy' | 'restarted' | 'timeout' | 'dropped' | 'log' | 'badMessage';
  readonly peer: string;
  readonly operation: string;
  readonly id: number;
  readonly detail?: string;
  /** The message body as the `traceBody` option renders it (sensitive fields redacted), when that option is set. */
  readonly body?: unknown;
}

export interface SchedulerOptions {
  /** Which actor (or external caller) may send to which. */
  readonly capabilities: Readonly<Record<string, readonly string[]>>;
  /**
   * Operations narrower than their actor: "actor.operation" -> the only senders allowed to call it (e.g. only the
   * crypto actor may ask the key store for private key material). Checked in addition to `capabilities`.
   */
  readonly operationCapabilities?: Readonly<Record<string, readonly string[]>>;
  readonly clock: Clock;
  readonly timers: TimerService;
  /** Deterministic mode: pick among ready deliveries with this seed. */
  readonly seed?: number;
  /** Default call timeout in milliseconds (default 30 s). */
  readonly defaultTimeoutMs?: number;
  /** Entries kept per actor trace ring (default 64). */
  readonly traceCapacity?: number;
  /**
   * Records message bodies in the traces (costs time; for debugging and tests): pass messages/protocol.ts's
   * redactBody, which redacts sensitive fields. Absent (the Pico): no bodies, and no redaction code in its bundle.
   */
  readonly traceBody?: (protocol: Protocol | undefined, envelope: Envelope) => unknown;
  /** Where refusals, restarts and actor log lines go (default: nowhere). */
  readonly log?: (line: string) => void;
  /**
   * How the scheduler runs its next delivery after the current one: default a promise continuation (after every
   * pending continuation of the handler that just ran, before I/O callbacks: about 1 us per hop). Any function that
   * runs the callback later, once, works (e.g. setImmediate or setTimeout 0 to let I/O in between deliveries).
   */
  readonly defer?: (callback: () => void) => void;
}

interface PendingCall {
  readonly caller: string;
  readonly callerGeneration: number;
  readonly protocol: Protocol;
  readonly operation: string;
  readonly resolve: (result: ErasedResult) => void;
  timer: TimerHandle | undefined;
}

type SlotState = 'starting' | 'running' | 'failed' | 'stopped';

interface ActorSlot {
  readonly name: string;
  readonly definition: RegisteredActor;
  instance: ErasedInstance | undefined;
  state: SlotState;
  generation: number;
  busy: boolean;
  readonly mailbox: Uint8Array[];
  readonly timers: Map<string, TimerHandle>;
  readonly trace: TraceEntry[];
  traceNext: number;
  /** Correlation id of the request being handled, if any. */
  current: Envelope | undefined;
  restarts: number;
}

/** A ready delivery: the head of an actor's mailbox, or an answer to a pending call. */
type Ready = { kind: 'mailbox'; slot: ActorSlot; order: number } | { kind: 'answer'; id: number; bytes: Uint8Array; order: number };

export class Scheduler {
  private readonly slots = new Map<string, ActorSlot>();
  private readonly pending = new Map<number, PendingCall>();
  private readonly answers: { id: number; bytes: Uint8Array; order: number }[] = [];
  private readonly mailboxOrder = new Map<ActorSlot, number[]>();
  private nextId = 1;
  private nextOrder = 1;
  private traceSequence = 0;
  private pumpScheduled = false;
  private random: (() => number) | undefined;
  private readonly defaultTimeoutMs: number;
  private readonly traceCapacity: number;
  private idleWaiters: (() => void)[] = [];
  private readonly externalTraces = new Map<string, TraceEntry[]>();

  private readonly defer: (callback: () => void) => void;

  constructor(private readonly options: SchedulerOptions) {
    this.defer = options.defer ?? ((callback) => void Promise.resolve().then(callback));
    this.random = options.seed === undefined ? undefined : seededRandom(options.seed);
    this.defaultTimeoutMs = options.defaultTimeoutMs ?? 30_000;
    this.traceCapacity = options.traceCapacity ?? 64;
  }

  /** Registers and starts actors (in the given order; each `start` may already call earlier ones). */
  async start(actors: readonly RegisteredActor[]): Promise<void> {
    for (const definition of actors) {
      const name = definition.protocol.name;
      if (this.slots.has(name)) throw new Error(`actor ${name} registered twice`);
      const slot: ActorSlot = {
        name,
        definition,
        instance: undefined,
        state: 'starting',
        generation: 0,
        busy: false,
        mailbox: [],
        timers: new Map(),
        trace: [],
        traceNext: 0,
        current: undefined,
        restarts: 0,
      };
      this.slots.set(name, slot);
      this.mailboxOrder.set(slot, []);
    }
    for (const definition of actors) {
      const slot = this.slots.get(definition.protocol.name);
      if (slot) await this.startSlot(slot);
    }
  }

  /** Stops every actor (in reverse start order) and cancels all timers. */
  async stop(): Promise<void> {
    const slots = [...this.slots.values()].reverse();
    for (const slot of slots) {
      for (const handle of slot.timers.values()) this.options.timers.cancel(handle);
      slot.timers.clear();
      if (slot.instance && slot.state === 'running') await slot.instance.stop();
      slot.state = 'stopped';
    }
  }

  /** A call from outside the actors (a link, the board, a test). `from` must be listed in the capabilities. */
  call<P extends Protocol, K extends OperationName<P>>(from: string, protocol: P, operation: K, request: RequestOf<P, K>, options?: CallOptions): Promise<CallResult<P, K>> {
    return this.send(from, -1, protocol, operation, request, options) as Promise<CallResult<P, K>>;
  }

  /**
   * Delivers raw bytes as if `from` had sent them (fuzzing): resolves with the answer envelope's bytes, or with
   * undefined when the bytes were not a request that can be answered (the scheduler logs and drops them).
   */
  deliverRaw(from: string, bytes: Uint8Array): Promise<Uint8Array | undefined> {
    let envelope: Envelope;
    try {
      envelope = decodeEnvelope(bytes);
    } catch (error) {
      this.note(from, 'badMessage', '?', 0, describe(error));
      return Promise.resolve(undefined);
    }
    if (envelope.kind !== 'request' || envelope.from !== from) {
      this.note(from, 'dropped', envelope.op, envelope.id, `raw ${envelope.kind} from ${envelope.from} dropped`);
      return Promise.resolve(undefined);
    }
    const target = this.slots.get(envelope.to);
    if (!target || !this.allowed(from, envelope.to, envelope.op)) {
      this.note(from, 'refused', envelope.op, envelope.id, `${from} may not send ${envelope.op} to ${envelope.to}`);
      return Promise.resolve(undefined);
    }
    return new Promise((resolve) => {
      // Re-address the raw request with a fresh id so its answer comes back here as bytes.
      const id = this.nextId++;
      this.rawWaiters.set(id, resolve);
      const readdressed: Envelope = { ...envelope, id };
      this.enqueue(target, encodeEnvelope(readdressed), readdressed);
    });
  }
  private readonly rawWaiters = new Map<number, (bytes: Uint8Array | undefined) => void>();

  /** Resolves when nothing is ready, running or in flight (for tests and shutdown). */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Copies of an actor's (or external caller's) trace ring, oldest first. */
  trace(name: string): TraceEntry[] {
    const slot = this.slots.get(name);
    if (!slot) return [...(this.externalTraces.get(name) ?? [])];
    if (slot.trace.length < this.traceCapacity) return [...slot.trace];
    return [...slot.trace.slice(slot.traceNext), ...slot.trace.slice(0, slot.traceNext)];
  }

  /** Per-actor counters for status displays and tests. */
  status(name: string): { state: SlotState; mailbox: number; restarts: number; capacity: number } | undefined {
    const slot = this.slots.get(name);
    if (!slot) return undefined;
    return { state: slot.state, mailbox: slot.mailbox.length, restarts: slot.restarts, capacity: slot.definition.mailboxCapacity };
  }

  // -------------------------------------------------------------------------------------------------------

  private allowed(from: string, to: string, operation?: string): boolean {
    const list = this.options.capabilities[from];
    if (list === undefined || !list.includes(to)) return false;
    if (operation === undefined) return true;
    const narrowed = this.options.operationCapabilities?.[`${to}.${operation}`];
    return narrowed === undefined || narrowed.includes(from);
  }

  private contextFor(slot: ActorSlot, generation: number): ActorContext {
    return {
      self: slot.name,
      call: (protocol, operation, request, options) =>
        this.send(slot.name, generation, protocol, operation, request, options) as Promise<CallResult<typeof protocol, typeof operation>>,
      startTimer: (name, milliseconds) => {
        if (slot.generation !== generation) return;
        const existing = slot.timers.get(name);
        if (existing) this.options.timers.cancel(existing);
        const handle = this.options.timers.start(milliseconds, () => {
          if (slot.generation !== generation || slot.timers.get(name) !== handle) return;
          slot.timers.delete(name);
          const id = this.nextId++;
          const envelope: Envelope = { kind: 'timer', id, from: 'scheduler', to: slot.name, op: 'timer.expired', body: { name } };
          // Timers bypass the mailbox bound: there is at most one per name.
          this.pushMailbox(slot, encodeEnvelope(envelope));
        });
        slot.timers.set(name, handle);
      },
      cancelTimer: (name) => {
        const existing = slot.timers.get(name);
        if (existing) this.options.timers.cancel(existing);
        slot.timers.delete(name);
      },
      now: () => this.options.clock.now(),
      log: (message) => {
        this.note(slot.name, 'log', '-', 0, message);
        this.options.log?.(`[${slot.name}] ${message}`);
      },
    };
  }

  private send(from: string, generation: number, protocol: Protocol, operation: string, request: unknown, options: CallOptions | undefined): Promise<ErasedResult> {
    const to = protocol.name;
    const id = this.nextId++;
    if (!this.allowed(from, to, operation)) {
      const detail = `${from} may not send ${operation} to ${to}`;
      this.note(from, 'refused', operation, id, detail);
      this.options.log?.(`refused: ${detail} (${operation})`);
      return Promise.resolve(systemError('refused', detail));
    }
    const target = this.slots.get(to);
    if (!target || target.definition.protocol !== protocol) {
      const detail = `no actor serves ${to}`;
      this.note(from, 'refused', operation, id, detail);
      return Promise.resolve(systemError('refused', detail));
    }
    let bytes: Uint8Array;
    try {
      const spec = lookupOperation(protocol, operation);
      const body = validate(spec.request, request, 'body');
      bytes = encodeEnvelope({ kind: 'request', id, from, to, op: operation, body });
    } catch (error) {
      // The caller built a request its peer's protocol does not allow: a bug in the caller, answered as such.
      return Promise.resolve(systemError('badMessage', describe(error)));
    }
    if (target.mailbox.length >= target.definition.mailboxCapacity) {
      this.note(from, 'busy', operation, id, `${to} mailbox full`);
      return Promise.resolve(systemError('busy', `${to} has ${target.mailbox.length} messages waiting`));
    }
    return new Promise((resolve) => {
      const timeoutMs = options?.timeoutMs ?? this.defaultTimeoutMs;
      const call: PendingCall = { caller: from, callerGeneration: generation, protocol, operation, resolve, timer: undefined };
      call.timer = this.options.timers.start(timeoutMs, () => {
        if (!this.pending.has(id)) return;
        this.pending.delete(id);
        this.note(from, 'timeout', operation, id, `${to} did not answer in ${timeoutMs} ms`);
        resolve(systemError('timeout', `${to}.${operation} did not answer in ${timeoutMs} ms`));
      });
      this.pending.set(id, call);
      this.note(from, 'sent', operation, id, to, this.options.traceBody?.(protocol, { kind: 'request', id, from, to, op: operation, body: request }));
      this.pushMailbox(target, bytes);
    });
  }

  private enqueue(target: ActorSlot, bytes: Uint8Array, envelope: Envelope): void {
    if (target.mailbox.length >= target.definition.mailboxCapacity) {
      this.answer(target, envelope, systemError('busy', `${target.name} mailbox full`));
      return;
    }
    this.pushMailbox(target, bytes);
  }

  private pushMailbox(slot: ActorSlot, bytes: Uint8Array): void {
    slot.mailbox.push(bytes);
    this.mailboxOrder.get(slot)?.push(this.nextOrder++);
    this.schedulePump();
  }

  private queueAnswer(id: number, bytes: Uint8Array): void {
    this.answers.push({ id, bytes, order: this.nextOrder++ });
    this.schedulePump();
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    this.defer(() => {
      this.pumpScheduled = false;
      this.pumpOnce();
    });
  }

  private readyList(): Ready[] {
    const ready: Ready[] = [];
    for (const slot of this.slots.values()) {
      if (slot.mailbox.length > 0 && !slot.busy && slot.state === 'running') {
        ready.push({ kind: 'mailbox', slot, order: this.mailboxOrder.get(slot)?.[0] ?? 0 });
      }
      if (slot.mailbox.length > 0 && slot.state === 'failed') {
        ready.push({ kind: 'mailbox', slot, order: this.mailboxOrder.get(slot)?.[0] ?? 0 });
      }
    }
    for (const answer of this.answers) ready.push({ kind: 'answer', id: answer.id, bytes: answer.bytes, order: answer.order });
    return ready;
  }

  private pumpOnce(): void {
    const ready = this.readyList();
    if (ready.length === 0) {
      this.checkIdle();
      return;
    }
    let chosen: Ready;
    if (this.random) {
      // Deterministic mode: a stable order (by arrival) then a seeded pick.
      ready.sort((a, b) => a.order - b.order);
      chosen = ready[Math.floor(this.random() * ready.length)] ?? ready[0]!;
    } else {
      chosen = ready.reduce((best, candidate) => (candidate.order < best.order ? candidate : best));
    }
    switch (chosen.kind) {
      case 'answer': {
        const index = this.answers.findIndex((answer) => answer.id === chosen.id);
        if (index >= 0) this.answers.splice(index, 1);
        this.deliverAnswer(chosen.id, chosen.bytes);
        break;
      }
      case 'mailbox': {
        const bytes = chosen.slot.mailbox.shift();
        this.mailboxOrder.get(chosen.slot)?.shift();
        if (bytes) void this.deliver(chosen.slot, bytes);
        break;
      }
      default:
        assertNever(chosen);
    }
    this.schedulePump();
  }

  private deliverAnswer(id: number, bytes: Uint8Array): void {
    const rawWaiter = this.rawWaiters.get(id);
    if (rawWaiter) {
      this.rawWaiters.delete(id);
      this.pending.delete(id);
      rawWaiter(bytes);
      return;
    }
    const call = this.pending.get(id);
    if (!call) {
      this.note('scheduler', 'dropped', '?', id, 'answer to a call no longer pending (timed out or caller restarted)');
      return;
    }
    this.pending.delete(id);
    if (call.timer) this.options.timers.cancel(call.timer);
    const callerSlot = this.slots.get(call.caller);
    if (callerSlot && callerSlot.generation !== call.callerGeneration) {
      this.note(call.caller, 'dropped', call.operation, id, 'answer to a restarted caller');
      return;
    }
    let result: ErasedResult;
    try {
      const envelope = decodeEnvelope(bytes);
      result = decodeResponse(call.protocol, envelope);
      this.note(call.caller, 'replied', call.operation, id, result.ok ? 'ok' : result.error.code, this.options.traceBody?.(call.protocol, envelope));
    } catch (error) {
      result = systemError('badMessage', `undeclared answer from ${call.protocol.name}: ${describe(error)}`);
      this.note(call.caller, 'badMessage', call.operation, id, describe(error));
    }
    call.resolve(result);
  }

  private async deliver(slot: ActorSlot, bytes: Uint8Array): Promise<void> {
    let envelope: Envelope;
    try {
      envelope = decodeEnvelope(bytes);
    } catch (error) {
      this.note(slot.name, 'badMessage', '?', 0, describe(error));
      return;
    }
    if (slot.state === 'failed') {
      this.answer(slot, envelope, systemError('peer.restarted', `${slot.name} failed to restart`));
      return;
    }
    const instance = slot.instance;
    if (!instance) return;
    const context = this.contextFor(slot, slot.generation);
    slot.busy = true;
    slot.current = envelope;
    try {
      switch (envelope.kind) {
        case 'timer':
          this.note(slot.name, 'received', 'timer.expired', envelope.id, envelope.body.name);
          await instance.onTimer(envelope.body.name, context);
          break;
        case 'request': {
          let request: unknown;
          try {
            request = validate(lookupOperation(slot.definition.protocol, envelope.op).request, envelope.body, 'body');
          } catch (error) {
            const unknownOperation = error instanceof DecodeError && error.path === 'op';
            this.answer(slot, envelope, systemError(unknownOperation ? 'unknownOperation' : 'badMessage', describe(error)));
            break;
          }
          this.note(slot.name, 'received', envelope.op, envelope.id, envelope.from, this.options.traceBody?.(slot.definition.protocol, envelope));
          const result = await instance.handle(envelope.op, request, context);
          this.answer(slot, envelope, result);
          break;
        }
        case 'reply':
        case 'error':
          this.note(slot.name, 'dropped', envelope.op, envelope.id, `unexpected ${envelope.kind} in mailbox`);
          break;
        default:
          assertNever(envelope);
      }
    } catch (error) {
      await this.restart(slot, envelope, error);
      return;
    } finally {
      slot.busy = false;
      slot.current = undefined;
    }
    this.schedulePump();
  }

  /** Encodes and queues the answer to `request` (a reply validated against the declared shape, or an error). */
  private answer(slot: ActorSlot, request: Envelope, result: ErasedResult): void {
    if (request.kind !== 'request') return;
    const spec = slot.definition.protocol.operations[request.op];
    let bytes: Uint8Array;
    if (result.ok) {
      if (!spec) throw new Error(`no operation ${request.op}`);
      const body = validate(spec.reply, result.value, 'reply');
      bytes = encodeEnvelope({ kind: 'reply', id: request.id, from: slot.name, to: request.from, op: request.op, body });
    } else {
      const { code, ...payload } = result.error;
      bytes = encodeEnvelope({ kind: 'error', id: request.id, from: slot.name, to: request.from, op: request.op, code, body: payload });
    }
    this.queueAnswer(request.id, bytes);
  }

  private async restart(slot: ActorSlot, current: Envelope, error: unknown): Promise<void> {
    slot.restarts += 1;
    slot.generation += 1;
    slot.state = 'starting';
    const detail = `${slot.name} restarted after: ${describe(error)}`;
    this.note(slot.name, 'restarted', current.op, current.id, describe(error));
    this.options.log?.(detail);
    for (const handle of slot.timers.values()) this.options.timers.cancel(handle);
    slot.timers.clear();
    this.answer(slot, current, systemError('peer.restarted', detail));
    const waiting = slot.mailbox.splice(0, slot.mailbox.length);
    this.mailboxOrder.get(slot)?.splice(0);
    for (const bytes of waiting) {
      try {
        this.answer(slot, decodeEnvelope(bytes), systemError('peer.restarted', detail));
      } catch {
        // Undecodable bytes in a mailbox cannot be answered; they were never a valid request.
      }
    }
    slot.busy = false;
    await this.startSlot(slot);
    this.schedulePump();
  }

  private async startSlot(slot: ActorSlot): Promise<void> {
    slot.state = 'starting';
    slot.busy = true;
    try {
      slot.instance = await slot.definition.start(this.contextFor(slot, slot.generation));
      slot.state = 'running';
    } catch (error) {
      slot.state = 'failed';
      slot.instance = undefined;
      this.note(slot.name, 'restarted', 'start', 0, `start failed: ${describe(error)}`);
      this.options.log?.(`${slot.name} failed to start: ${describe(error)}`);
    } finally {
      slot.busy = false;
    }
    this.schedulePump();
  }

  private note(name: string, event: TraceEntry['event'], operation: string, id: number, detail?: string, body?: unknown): void {
    const entry: TraceEntry = { sequence: this.traceSequence++, time: this.options.clock.now(), event, peer: name, operation, id, detail, body };
    const slot = this.slots.get(name);
    if (!slot) {
      const ring = this.externalTraces.get(name) ?? [];
      ring.push(entry);
      if (ring.length > this.traceCapacity) ring.shift();
      this.externalTraces.set(name, ring);
      return;
    }
    if (slot.trace.length < this.traceCapacity) {
      slot.trace.push(entry);
    } else {
      slot.trace[slot.traceNext] = entry;
      slot.traceNext = (slot.traceNext + 1) % this.traceCapacity;
    }
  }

  private isIdle(): boolean {
    if (this.answers.length > 0 || this.pending.size > 0 || this.rawWaiters.size > 0 || this.pumpScheduled) return false;
    for (const slot of this.slots.values()) if (slot.busy || slot.mailbox.length > 0) return false;
    return true;
  }

  private checkIdle(): void {
    if (!this.isIdle()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

function systemError(code: SystemErrorCode, detail: string): { ok: false; error: ErasedError } {
  validate(SYSTEM_ERRORS[code], { detail });
  return { ok: false, error: { code, detail } };
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** mulberry32: a tiny seeded generator, enough to pick among ready deliveries reproducibly. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = state;
    mixed = Math.imul(mixed ^ (mixed >>> 15), mixed | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296;
  };
}
