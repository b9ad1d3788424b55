/**
 * The key store actor.
 *
 * Owns: the SmartCard-HSM file namespace and its access rules (which file may be read or written by whom).
 * Accepts: keystoreProtocol (list, stat, read, write, delete).
 * Calls: storage (the files), pin (is the user verified in this session?).
 *
 * Access rules (protocol.md section 5):
 * - CCxx key files: never readable, never written through UPDATE BINARY (keys come only from key generation).
 * - 2F02 device certificate: readable by anyone, never writable. 2F00 (EF.DIR) is synthesized, read-only.
 * - CDxx PIN-protected data: reading needs the verified user PIN.
 * - C4xx, C8xx, C9xx, CAxx, CExx, CFxx, 2F03: readable by anyone.
 * - Every write and delete needs the verified user PIN; CC00 (the device key id) cannot be deleted.
 * - Internal files (0x1000-0x10FF: PIN records, configuration, device key) do not exist for the card interface.
 */
import { keystoreProtocol } from '../messages/keystore.js';
import { pinProtocol } from '../messages/pin.js';
import { fail, ok } from '../messages/protocol.js';
import { CARD_FILES } from '../messages/records.js';
import { MAX_FILE_BYTES, storageProtocol } from '../messages/storage.js';
import type { ActorContext } from './actor.js';
import { concat, tlv } from './card/tlv.js';
import { defineActor, type RegisteredActor } from './scheduler.js';

export const SMARTCARD_HSM_AID = Uint8Array.of(0xe8, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x81, 0xc3, 0x1f, 0x02, 0x01);

export const FILE_PREFIX = {
  keyDescription: 0xc4,
  certificateDescription: 0xc8,
  dataObjectDescription: 0xc9,
  caCertificate: 0xca,
  key: 0xcc,
  protectedData: 0xcd,
  endEntityCertificate: 0xce,
  publicData: 0xcf,
} as const;

const WRITABLE_PREFIXES: readonly number[] = [
  FILE_PREFIX.keyDescription,
  FILE_PREFIX.certificateDescription,
  FILE_PREFIX.dataObjectDescription,
  FILE_PREFIX.caCertificate,
  FILE_PREFIX.protectedData,
  FILE_PREFIX.endEntityCertificate,
  FILE_PREFIX.publicData,
];

const encoder = new TextEncoder();

/** EF.DIR: one application template naming the SmartCard-HSM applet. */
export const EF_DIR = tlv(0x61, tlv(0x4f, SMARTCARD_HSM_AID), tlv(0x50, encoder.encode('SmartCard-HSM')));

function prefixOf(fileId: number): number {
  return fileId >> 8;
}

/** Whether a file id belongs to the card namespace (anything else reads as absent). */
export function isCardFile(fileId: number): boolean {
  const prefix = prefixOf(fileId);
  return (
    fileId === CARD_FILES.efDir ||
    fileId === CARD_FILES.deviceCertificate ||
    fileId === CARD_FILES.tokenInfo ||
    prefix === FILE_PREFIX.key ||
    WRITABLE_PREFIXES.includes(prefix)
  );
}

export function createKeystoreActor(): RegisteredActor {
  async function userVerified(context: ActorContext): Promise<boolean> {
    const status = await context.call(pinProtocol, 'status', { reference: 'user' });
    return status.ok && status.value.verified;
  }

  return defineActor({
    protocol: keystoreProtocol,
    start: (context) => ({
      handlers: {
        list: async () => {
          const listed = await context.call(storageProtocol, 'list', {});
          if (!listed.ok) return fail({ code: 'storageFailure' as const, detail: listed.error.code });
          const fileIds = listed.value.fileIds.filter(isCardFile);
          if (!fileIds.includes(CARD_FILES.efDir)) fileIds.push(CARD_FILES.efDir);
          fileIds.sort((a, b) => a - b);
          return ok({ fileIds });
        },

        stat: async ({ fileId }) => {
          if (fileId === CARD_FILES.efDir) return ok({ size: EF_DIR.length });
          if (!isCardFile(fileId)) return fail({ code: 'notFound' as const });
          const stat = await context.call(storageProtocol, 'stat', { fileId });
          if (stat.ok) return ok({ size: stat.value.size });
          return stat.error.code === 'notFound' ? fail({ code: 'notFound' as const }) : fail({ code: 'storageFailure' as const, detail: stat.error.code });
        },

        read: async ({ fileId, offset, length }) => {
          if (!isCardFile(fileId)) return fail({ code: 'notFound' as const });
          if (prefixOf(fileId) === FILE_PREFIX.key) {
            const exists = await context.call(storageProtocol, 'stat', { fileId });
            return exists.ok ? fail({ code: 'denied' as const, reason: 'forbidden' as const }) : fail({ code: 'notFound' as const });
          }
          let content: Uint8Array;
          if (fileId === CARD_FILES.efDir) {
            content = EF_DIR;
          } else {
            if (prefixOf(fileId) === FILE_PREFIX.protectedData && !(await userVerified(context))) {
              const exists = await context.call(storageProtocol, 'stat', { fileId });
              return exists.ok ? fail({ code: 'denied' as const, reason: 'pinRequired' as const }) : fail({ code: 'notFound' as const });
            }
            const read = await context.call(storageProtocol, 'read', { fileId });
            if (!read.ok) {
              return read.error.code === 'notFound' ? fail({ code: 'notFound' as const }) : fail({ code: 'storageFailure' as const, detail: read.error.code });
            }
            content = read.value.data;
          }
          if (offset > content.length) return fail({ code: 'badOffset' as const, offset, size: content.length });
          return ok({ data: content.slice(offset, Math.min(content.length, offset + length)), size: content.length });
        },

        write: async ({ fileId, offset, data }) => {
          const prefix = prefixOf(fileId);
          if (fileId !== CARD_FILES.tokenInfo && !WRITABLE_PREFIXES.includes(prefix)) {
            return fail({ code: 'denied' as const, reason: 'forbidden' as const });
          }
          if (!(await userVerified(context))) return fail({ code: 'denied' as const, reason: 'pinRequired' as const });
          let before: Uint8Array = new Uint8Array(0);
          if (offset > 0) {
            const read = await context.call(storageProtocol, 'read', { fileId });
            if (!read.ok && read.error.code !== 'notFound') return fail({ code: 'storageFailure' as const, detail: read.error.code });
            before = read.ok ? read.value.data : before;
            if (offset > before.length) return fail({ code: 'badOffset' as const, offset, size: before.length });
          }
          // UPDATE BINARY semantics of the SmartCard-HSM: the file becomes its first `offset` bytes || data.
          const content = concat(before.subarray(0, offset), data);
          if (content.length > MAX_FILE_BYTES) return fail({ code: 'tooLarge' as const, size: content.length, max: MAX_FILE_BYTES });
          const written = await context.call(storageProtocol, 'put', { fileId, data: content });
          if (written.ok) return ok({ size: content.length });
          switch (written.error.code) {
            case 'full':
              return fail({ code: 'full' as const, needed: written.error.needed, available: written.error.available });
            case 'tooLarge':
              return fail({ code: 'tooLarge' as const, size: written.error.size, max: written.error.max });
            default:
              return fail({ code: 'storageFailure' as const, detail: written.error.code });
          }
        },

        delete: async ({ fileId }) => {
          if (!isCardFile(fileId)) return fail({ code: 'notFound' as const });
          if (fileId === CARD_FILES.deviceCertificate || fileId === CARD_FILES.efDir || fileId === 0xcc00) {
            return fail({ code: 'denied' as const, reason: 'forbidden' as const });
          }
          if (!(await userVerified(context))) return fail({ code: 'denied' as const, reason: 'pinRequired' as const });
          const deleted = await context.call(storageProtocol, 'delete', { fileId });
          if (deleted.ok) return ok({});
          return deleted.error.code === 'notFound' ? fail({ code: 'notFound' as const }) : fail({ code: 'storageFailure' as const, detail: deleted.error.code });
        },
      },
    }),
  });
}
