/**
 * What an actor is, as the scheduler sees it.
 *
 * An actor owns one protocol (its address is the protocol's name), a handler per operation, and whatever state
 * it rebuilds in `start` (called at boot and again by the supervisor after a handler threw). It reaches peers
 * only through `context.call`, which the scheduler checks against the board's capability list.
 *
 *   export const echoActor: ActorDefinition<typeof echoProtocol> = {
 *     protocol: echoProtocol,
 *     start: () => ({ handlers: { echo: async (request) => ok({ text: request.text }) } }),
 *   };
 */
import type { CallResult, HandlerResult, OperationName, Protocol, RequestOf } from '../messages/protocol.js';

export interface CallOptions {
  /** Milliseconds before the call ends in a `timeout` error. Default: the scheduler's. */
  timeoutMs?: number;
}

export interface ActorContext {
  readonly self: string;
  /** Sends a request to the actor owning `protocol` and resolves with its reply or a typed error. Never rejects. */
  call<P extends Protocol, K extends OperationName<P>>(protocol: P, operation: K, request: RequestOf<P, K>, options?: CallOptions): Promise<CallResult<P, K>>;
  /** (Re)starts the named timer; its expiry arrives as a `timer.expired` message through the mailbox. */
  startTimer(name: string, milliseconds: number): void;
  cancelTimer(name: string): void;
  now(): number;
  /** A line in this actor's trace ring (never put secrets here). */
  log(message: string): void;
}

export type Handler<P extends Protocol, K extends OperationName<P>> = (
  request: RequestOf<P, K>,
  context: ActorContext,
) => Promise<HandlerResult<P, K>> | HandlerResult<P, K>;

export type Handlers<P extends Protocol> = { [K in OperationName<P>]: Handler<P, K> };

export interface ActorInstance<P extends Protocol> {
  readonly handlers: Handlers<P>;
  /** A timer started with `startTimer` expired. */
  onTimer?(name: string, context: ActorContext): Promise<void> | void;
  /** The board is shutting down: finish durable work. */
  stop?(): Promise<void> | void;
}

export interface ActorDefinition<P extends Protocol> {
  readonly protocol: P;
  /** Mailbox bound; a request arriving at a full mailbox is answered with `busy`. Default 16. */
  readonly mailboxCapacity?: number;
  /** Builds the actor's state; called at boot and after every supervised restart. */
  start(context: ActorContext): Promise<ActorInstance<P>> | ActorInstance<P>;
}

/** An ActorDefinition of any protocol, for lists of actors. */
export type AnyActorDefinition = ActorDefinition<any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- erased only in board lists; every message is validated against the actor's own protocol
