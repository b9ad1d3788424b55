/**
 * The transport actor (the USB transport of the original device).
 *
 * Owns: the APDU layer of every card session (one per link client: vpcd's reader is session 0, each local-socket
 * client has its own): parsing (short and extended lengths), command chaining (CLA bit 0x10), long responses
 * (61xx + GET RESPONSE), power events and the ATR. A session's chain and pending response are its own.
 * Accepts: transportProtocol (apdu, power, atr) from the links (vpcd, local socket, the Pico's serial framing).
 * Calls: applet (command, reset).
 *
 * Every malformed APDU gets the status word actors/transport/apdu.ts documents; nothing a link sends can crash
 * the actor. If the applet fails (restarted, busy, timed out) the answer is 6F00 and the session goes on.
 */
import { appletProtocol } from '../messages/applet.js';
import { ok } from '../messages/protocol.js';
import { transportProtocol } from '../messages/transport.js';
import {
  APDU_SW,
  assembleChain,
  getResponse,
  isGetResponse,
  parseCommandApdu,
  startResponse,
  statusWordBytes,
  type ChainState,
  type PendingResponse,
} from './transport/apdu.js';
import { SW } from './card/status-words.js';
import { defineActor, type RegisteredActor } from './scheduler.js';

/** The SmartCard-HSM ATR (protocol.md section 1): OpenSC's sc-hsm driver recognises the card by it. */
export const SMARTCARD_HSM_ATR = Uint8Array.of(0x3b, 0xfe, 0x18, 0x00, 0x00, 0x81, 0x31, 0xfe, 0x45, 0x80, 0x31, 0x81, 0x54, 0x48, 0x53, 0x4d, 0x31, 0x73, 0x80, 0x21, 0x40, 0x81, 0x07, 0xfa);

/** Largest data piece in one response: a vpcd frame holds 65535 bytes including the status word. */
export const MAX_RESPONSE_CHUNK = 65_533;

export function createTransportActor(): RegisteredActor {
  return defineActor({
    protocol: transportProtocol,
    mailboxCapacity: 32,
    start: (context) => {
      interface SessionState {
        chain: ChainState;
        pending: PendingResponse | null;
      }
      const sessions = new Map<number, SessionState>();
      const sessionOf = (id: number): SessionState => {
        let state = sessions.get(id);
        if (!state) {
          state = { chain: null, pending: null };
          sessions.set(id, state);
        }
        return state;
      };

      async function resetSession(id: number, event: 'on' | 'off' | 'reset'): Promise<void> {
        // A session that powers off is forgotten (its client left); on/reset start it afresh.
        if (event === 'off') sessions.delete(id);
        else sessions.set(id, { chain: null, pending: null });
        await context.call(appletProtocol, 'reset', { session: id });
      }

      return {
        handlers: {
          apdu: async ({ bytes, session: sessionId = 0 }) => {
            const state = sessionOf(sessionId);
            const parsed = parseCommandApdu(bytes);
            if (!parsed.ok) return ok({ bytes: statusWordBytes(parsed.statusWord) });
            const apdu = parsed.apdu;
            if (isGetResponse(apdu) && state.chain === null) {
              const step = getResponse(state.pending, apdu, { maxChunk: MAX_RESPONSE_CHUNK });
              state.pending = step.pending;
              return ok({ bytes: step.response });
            }
            // Any other command discards data still pending for GET RESPONSE (ISO 7816-4).
            state.pending = null;
            const step = assembleChain(state.chain, apdu);
            state.chain = step.state;
            switch (step.result.kind) {
              case 'continue':
                return ok({ bytes: statusWordBytes(APDU_SW.ok) });
              case 'error':
                return ok({ bytes: statusWordBytes(step.result.statusWord) });
              case 'complete': {
                const command = step.result.apdu;
                const answered = await context.call(appletProtocol, 'command', {
                  cla: command.cla,
                  ins: command.ins,
                  p1: command.p1,
                  p2: command.p2,
                  data: command.data,
                  le: command.le,
                  extended: command.extended,
                  session: sessionId,
                });
                if (!answered.ok) {
                  context.log(`applet failed: ${answered.error.code}`);
                  return ok({ bytes: statusWordBytes(SW.noPreciseDiagnosis) });
                }
                const response = startResponse(answered.value.data, answered.value.statusWord, command.le, { maxChunk: MAX_RESPONSE_CHUNK });
                state.pending = response.pending;
                return ok({ bytes: response.response });
              }
            }
          },
          power: async ({ event, session: sessionId = 0 }) => {
            await resetSession(sessionId, event);
            context.log(`power ${event} (session ${sessionId})`);
            return ok({ atr: event === 'off' ? new Uint8Array(0) : SMARTCARD_HSM_ATR });
          },
          atr: () => ok({ atr: SMARTCARD_HSM_ATR }),
        },
      };
    },
  });
}
