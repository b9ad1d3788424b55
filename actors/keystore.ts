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
import type { Entropy } from '../hal/types.js';
import { zeroize, type CryptoEngine } from '../hal/crypto/types.js';
import { keystoreProtocol } from '../messages/keystore.js';
import { pinProtocol } from '../messages/pin.js';
import { cbor, fail, ok } from '../messages/protocol.js';
import { CARD_FILES, keyRecord } from '../messages/records.js';
import { errorMessage, validate, type Infer } from '../messages/schema.js';
import { MAX_FILE_BYTES, storageProtocol } from '../messages/storage.js';
import type { ActorContext } from './actor.js';
import { concat, tlv } from './card/tlv.js';
import { defineActor, type RegisteredActor } from './scheduler.js';

export const SMARTCARD_HSM_AID = Uint8Array.of(0xe8, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x81, 0xc3, 0x1f, 0x02, 0x01);

export enum FILE_PREFIX {
  keyDescription = 0xc4,
  certificateDescription = 0xc8,
  dataObjectDescription = 0xc9,
  caCertificate = 0xca,
  key = 0xcc,
  protectedData = 0xcd,
  endEntityCertificate = 0xce,
  publicData = 0xcf,
}

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

type KeyRecord = Infer<typeof keyRecord>;

export interface KeystoreActorOptions {
  /** Seals key material at rest (ChaCha20-Poly1305, the same on every board). */
  readonly engine: CryptoEngine;
  readonly entropy: Entropy;
}

/** The associated data binding sealed material to its file and kind: a sealed blob moved elsewhere will not open. */
function keyAad(fileId: number, kind: string): Uint8Array {
  return encoder.encode(`key:${fileId.toString(16).padStart(4, '0')}:${kind}`);
}

export function createKeystoreActor(options: KeystoreActorOptions): RegisteredActor {
  const { engine, entropy } = options;

  async function userVerified(context: ActorContext, session: number): Promise<boolean> {
    const status = await context.call(pinProtocol, 'status', { reference: 'user', session });
    return status.ok && status.value.verified;
  }

  async function readKeyRecord(context: ActorContext, fileId: number): Promise<{ ok: true; record: KeyRecord } | { ok: false; code: 'notFound' | 'storageFailure'; detail: string }> {
    const read = await context.call(storageProtocol, 'read', { fileId });
    if (!read.ok) return { ok: false, code: read.error.code === 'notFound' ? 'notFound' : 'storageFailure', detail: read.error.code };
    try {
      return { ok: true, record: validate(keyRecord, cbor.decode(read.value.data)) };
    } catch (error) {
      return { ok: false, code: 'storageFailure', detail: `key record ${fileId.toString(16)} is corrupt: ${errorMessage(error)}` };
    }
  }

  function publicFields(record: KeyRecord) {
    return {
      kind: record.kind,
      bits: record.bits,
      ...(record.curve !== undefined ? { curve: record.curve } : {}),
      ...(record.publicKey !== undefined ? { publicKey: record.publicKey } : {}),
      ...(record.publicExponent !== undefined ? { publicExponent: record.publicExponent } : {}),
    };
  }

  return defineActor({
    protocol: keystoreProtocol,
    start: (context) => ({
      handlers: {
        storeKey: async (request) => {
          if (prefixOf(request.fileId) !== FILE_PREFIX.key || request.fileId === 0xcc00) return fail({ code: 'storageFailure' as const, detail: 'not a key file id' });
          const existing = await context.call(storageProtocol, 'stat', { fileId: request.fileId });
          if (existing.ok) return fail({ code: 'exists' as const });
          const master = await context.call(pinProtocol, 'masterKey', { session: request.session ?? 0 });
          if (!master.ok) return fail({ code: 'notVerified' as const });
          const nonce = entropy.randomBytes(12);
          const sealed = engine.aeadSeal(master.value.key, nonce, request.material, keyAad(request.fileId, request.kind));
          zeroize(master.value.key, request.material);
          const record: KeyRecord = {
            kind: request.kind,
            bits: request.bits,
            nonce,
            sealed,
            ...(request.curve !== undefined ? { curve: request.curve } : {}),
            ...(request.publicKey !== undefined ? { publicKey: request.publicKey } : {}),
            ...(request.publicExponent !== undefined ? { publicExponent: request.publicExponent } : {}),
            ...(request.usesLeft !== undefined ? { usesLeft: request.usesLeft } : {}),
            ...(request.allowedAlgorithms !== undefined ? { allowedAlgorithms: request.allowedAlgorithms } : {}),
          };
          const encoded = cbor.encode(validate(keyRecord, record));
          // Finite storage: the key, its companion and what the client writes next must all fit, or nothing is
          // stored. Each record also costs its header in the log; 64 bytes per file covers it.
          const capacity = await context.call(storageProtocol, 'capacity', {});
          if (!capacity.ok) return fail({ code: 'storageFailure' as const, detail: capacity.error.code });
          const needed = encoded.length + (request.companion?.data.length ?? 0) + request.reserveBytes + 128;
          if (needed > capacity.value.free) return fail({ code: 'full' as const, needed, available: capacity.value.free });
          const stored = await context.call(storageProtocol, 'put', { fileId: request.fileId, data: encoded });
          if (!stored.ok) {
            return stored.error.code === 'full'
              ? fail({ code: 'full' as const, needed: stored.error.needed, available: stored.error.available })
              : fail({ code: 'storageFailure' as const, detail: stored.error.code });
          }
          if (request.companion) {
            const companion = await context.call(storageProtocol, 'put', request.companion);
            if (!companion.ok) {
              // Roll the key back: no half-made object stays behind.
              await context.call(storageProtocol, 'delete', { fileId: request.fileId });
              return companion.error.code === 'full'
                ? fail({ code: 'full' as const, needed: companion.error.needed, available: companion.error.available })
                : fail({ code: 'storageFailure' as const, detail: companion.error.code });
            }
          }
          return ok({});
        },

        loadKey: async ({ fileId, algorithm, session = 0 }) => {
          const read = await readKeyRecord(context, fileId);
          if (!read.ok) return read.code === 'notFound' ? fail({ code: 'notFound' as const }) : fail({ code: 'storageFailure' as const, detail: read.detail });
          const record = read.record;
          if (record.allowedAlgorithms !== undefined && !record.allowedAlgorithms.includes(algorithm)) return fail({ code: 'algorithmNotAllowed' as const });
          const master = await context.call(pinProtocol, 'masterKey', { session });
          if (!master.ok) return fail({ code: 'notVerified' as const });
          if (record.usesLeft !== undefined) {
            if (record.usesLeft === 0) {
              zeroize(master.value.key);
              return fail({ code: 'exhausted' as const });
            }
            // Spend the use durably before the key is handed out: a power cut cannot give a free use.
            const spent = await context.call(storageProtocol, 'put', { fileId, data: cbor.encode(validate(keyRecord, { ...record, usesLeft: record.usesLeft - 1 })) });
            if (!spent.ok) {
              zeroize(master.value.key);
              return fail({ code: 'storageFailure' as const, detail: `spending a use: ${spent.error.code}` });
            }
          }
          const material = engine.aeadOpen(master.value.key, record.nonce, record.sealed, keyAad(fileId, record.kind));
          zeroize(master.value.key);
          if (!material) return fail({ code: 'storageFailure' as const, detail: 'the key does not open under the master key' });
          return ok({ ...publicFields(record), material });
        },

        keyInfo: async ({ fileId }) => {
          const read = await readKeyRecord(context, fileId);
          if (!read.ok) return read.code === 'notFound' ? fail({ code: 'notFound' as const }) : fail({ code: 'storageFailure' as const, detail: read.detail });
          const record = read.record;
          return ok({
            ...publicFields(record),
            ...(record.usesLeft !== undefined ? { usesLeft: record.usesLeft } : {}),
            ...(record.allowedAlgorithms !== undefined ? { allowedAlgorithms: record.allowedAlgorithms } : {}),
          });
        },

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

        read: async ({ fileId, offset, length, session = 0 }) => {
          if (!isCardFile(fileId)) return fail({ code: 'notFound' as const });
          if (prefixOf(fileId) === FILE_PREFIX.key) {
            const exists = await context.call(storageProtocol, 'stat', { fileId });
            return exists.ok ? fail({ code: 'denied' as const, reason: 'forbidden' as const }) : fail({ code: 'notFound' as const });
          }
          let content: Uint8Array;
          if (fileId === CARD_FILES.efDir) {
            content = EF_DIR;
          } else {
            if (prefixOf(fileId) === FILE_PREFIX.protectedData && !(await userVerified(context, session))) {
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

        write: async ({ fileId, offset, data, session = 0 }) => {
          const prefix = prefixOf(fileId);
          if (fileId !== CARD_FILES.tokenInfo && !WRITABLE_PREFIXES.includes(prefix)) {
            return fail({ code: 'denied' as const, reason: 'forbidden' as const });
          }
          if (!(await userVerified(context, session))) return fail({ code: 'denied' as const, reason: 'pinRequired' as const });
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

        delete: async ({ fileId, session = 0 }) => {
          if (!isCardFile(fileId)) return fail({ code: 'notFound' as const });
          if (fileId === CARD_FILES.deviceCertificate || fileId === CARD_FILES.efDir || fileId === 0xcc00) {
            return fail({ code: 'denied' as const, reason: 'forbidden' as const });
          }
          if (!(await userVerified(context, session))) return fail({ code: 'denied' as const, reason: 'pinRequired' as const });
          const deleted = await context.call(storageProtocol, 'delete', { fileId });
          if (deleted.ok) return ok({});
          return deleted.error.code === 'notFound' ? fail({ code: 'notFound' as const }) : fail({ code: 'storageFailure' as const, detail: deleted.error.code });
        },
      },
    }),
  });
}
