/**
 * The applet actor: the SmartCard-HSM command table.
 *
 * Owns: the card session (current file) and the mapping of each instruction to its handler (actors/applet/).
 * Accepts: appletProtocol (command: one parsed, de-chained APDU; reset: power events).
 * Calls: keystore (files, key metadata), pin (authentication), lifecycle (INITIALIZE, stage), crypto (keys,
 * signatures, deciphering, symmetric operations, challenges), storage (capacity for the device information).
 *
 * The transport has already checked the class byte and the APDU's shape; a handler checks P1/P2 and data and
 * answers a precise status word. An instruction not in the table gets 6D00.
 */
import { appletProtocol } from '../messages/applet.js';
import { pinProtocol } from '../messages/pin.js';
import { ok } from '../messages/protocol.js';
import { changeReferenceData, getChallenge, initializeDevice, resetRetryCounter, verify } from './applet/authentication.js';
import { status, type CommandHandler, type Session } from './applet/context.js';
import { cipherSymmetric, computeSignature, decipher, generateKeyPair, generateSecretKey } from './applet/keys.js';
import { deleteFile, enumerateObjects, readBinary, readBinaryOdd, select, updateBinaryOdd } from './applet/files.js';
import { SW } from './card/status-words.js';
import { managementCommand } from './applet/management.js';
import { defineActor, type RegisteredActor } from './scheduler.js';

/** Refusals by design: the product has no key export (WRAP) and no key import (UNWRAP, DKEK shares). */
const refuseKeyExport: CommandHandler = () => status(SW.commandNotAllowed);
const notOffered: CommandHandler = () => status(SW.insNotSupported);

export const COMMANDS: ReadonlyMap<number, CommandHandler> = new Map<number, CommandHandler>([
  [0xa4, select],
  [0xb0, readBinary],
  [0xb1, readBinaryOdd],
  [0xd7, updateBinaryOdd],
  [0xe4, deleteFile],
  [0x58, enumerateObjects],
  [0x20, verify],
  [0x24, changeReferenceData],
  [0x2c, resetRetryCounter],
  [0x50, initializeDevice],
  [0x84, getChallenge],
  [0x46, generateKeyPair],
  [0x48, generateSecretKey],
  [0x68, computeSignature],
  [0x62, decipher],
  [0x78, cipherSymmetric],
  [0x72, refuseKeyExport],
  [0x74, notOffered],
  [0x52, notOffered],
]);

export function createAppletActor(commands: ReadonlyMap<number, CommandHandler> = COMMANDS): RegisteredActor {
  return defineActor({
    protocol: appletProtocol,
    start: (context) => {
      const sessions = new Map<number, Session>();
      const sessionOf = (id: number): Session => {
        let session = sessions.get(id);
        if (!session) {
          session = { id, application: 'hsm', currentFile: undefined };
          sessions.set(id, session);
        }
        return session;
      };
      return {
        handlers: {
          command: async (command) => {
            const session = sessionOf(command.session ?? 0);
            // SELECT switches applications; everything else goes to the selected one.
            const handler = session.application === 'management' && command.ins !== 0xa4 ? managementCommand : commands.get(command.ins);
            const response = handler ? await handler(command, session, context) : status(SW.insNotSupported);
            return ok({ data: response.data, statusWord: response.statusWord });
          },
          reset: async ({ session = 0 }) => {
            sessions.delete(session);
            await context.call(pinProtocol, 'endSession', { session });
            return ok({});
          },
        },
      };
    },
  });
}
