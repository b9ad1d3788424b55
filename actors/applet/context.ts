/**
 * What every command handler of the applet receives: the parsed command, the session, and the actor context
 * through which it reaches its peers. Handlers answer data and a status word.
 */
import type { ActorContext } from '../actor.js';
import type { RequestOf } from '../../messages/protocol.js';
import type { appletProtocol } from '../../messages/applet.js';

export type Command = RequestOf<typeof appletProtocol, 'command'>;

export interface Response {
  readonly data: Uint8Array;
  readonly statusWord: number;
}

/** Volatile state of one card session (cleared by SELECT of the applet and by power events). */
export interface Session {
  /** The card session's number (0: the vpcd reader; one per local-socket client). */
  readonly id: number;
  /** The selected application: the SmartCard-HSM applet (default after power-on) or the management applet. */
  application: 'hsm' | 'management';
  /** The current elementary file (set by SELECT and by UPDATE BINARY creating a file). */
  currentFile: number | undefined;
}

export type CommandHandler = (command: Command, session: Session, context: ActorContext) => Promise<Response> | Response;

const EMPTY = new Uint8Array(0);

export function status(statusWord: number): Response {
  return { data: EMPTY, statusWord };
}

export function reply(data: Uint8Array, statusWord = 0x9000): Response {
  return { data, statusWord };
}
