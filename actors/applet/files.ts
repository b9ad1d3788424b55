/**
 * File commands of the SmartCard-HSM applet: SELECT (by AID, file id or path), READ BINARY (B0/B1),
 * UPDATE BINARY (D7), DELETE FILE (E4) and ENUMERATE OBJECTS (58). The key store enforces who may read or
 * write what; this module translates APDUs to key store requests and answers to status words.
 */
import { keystoreProtocol } from '../../messages/keystore.js';
import { lifecycleProtocol } from '../../messages/lifecycle.js';
import { pinProtocol } from '../../messages/pin.js';
import { FILE_PREFIX, SMARTCARD_HSM_AID } from '../keystore.js';
import { MANAGEMENT_AID } from '../../messages/management.js';
import { managementSelectResponse } from './management.js';
import { findTlv, parseTlvList, readUint, tlv, uintBytes, concat } from '../card/tlv.js';
import { reply, status, type CommandHandler, type Response } from './context.js';
import { SW } from '../card/status-words.js';

/** The firmware version reported in the applet's FCP (tag 85) and by INITIALIZE without data. */
export const FIRMWARE_VERSION = { major: 1, minor: 0 } as const;

const MASTER_FILE = 0x3f00;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, index) => byte === b[index]);
}

/** FCP of the SmartCard-HSM applet; tag 85 = options (2 bytes), type FF, version major, minor. */
export function appletFcp(options: number): Uint8Array {
  return tlv(
    0x62,
    tlv(0x81, uintBytes(0, 2)),
    tlv(0x82, Uint8Array.of(0x01)),
    tlv(0x83, uintBytes(0, 2)),
    tlv(0x84, SMARTCARD_HSM_AID),
    tlv(0x8a, Uint8Array.of(0x05)),
    tlv(0x85, Uint8Array.of((options >> 8) & 0xff, options & 0xff, 0xff, FIRMWARE_VERSION.major, FIRMWARE_VERSION.minor)),
  );
}

/** FCP of an elementary file: size, working EF with transparent structure, file id, lifecycle "operational". */
export function fileFcp(fileId: number, size: number): Uint8Array {
  return tlv(0x62, tlv(0x81, uintBytes(Math.min(size, 0xffff), 2)), tlv(0x82, Uint8Array.of(0x01)), tlv(0x83, uintBytes(fileId, 2)), tlv(0x8a, Uint8Array.of(0x05)));
}

function masterFileFcp(): Uint8Array {
  return tlv(0x62, tlv(0x82, Uint8Array.of(0x38)), tlv(0x83, uintBytes(MASTER_FILE, 2)), tlv(0x8a, Uint8Array.of(0x05)));
}

async function selectFile(fileId: number, session: Parameters<CommandHandler>[1], context: Parameters<CommandHandler>[2], wantFcp: boolean): Promise<Response> {
  if (fileId === MASTER_FILE) {
    session.currentFile = undefined;
    return wantFcp ? reply(masterFileFcp()) : status(SW.ok);
  }
  const stat = await context.call(keystoreProtocol, 'stat', { fileId });
  if (!stat.ok) return status(stat.error.code === 'notFound' ? SW.fileNotFound : SW.memoryFailure);
  session.currentFile = fileId;
  return wantFcp ? reply(fileFcp(fileId, stat.value.size)) : status(SW.ok);
}

export const select: CommandHandler = async (command, session, context) => {
  const { p1, p2, data } = command;
  // P2: 00 = return FCI/FCP (what OpenSC sends), 04 = FCP, 0C = no response data: refused like the C firmware.
  if (p2 !== 0x00 && p2 !== 0x04) return status(SW.incorrectP1P2);
  switch (p1) {
    case 0x04: {
      // By DF name (AID).
      if (sameBytes(data, MANAGEMENT_AID)) {
        session.application = 'management';
        session.currentFile = undefined;
        return reply(await managementSelectResponse(context));
      }
      if (!sameBytes(data, SMARTCARD_HSM_AID)) return status(SW.fileNotFound);
      session.application = 'hsm';
      session.currentFile = undefined;
      await context.call(pinProtocol, 'endSession', { session: session.id });
      const info = await context.call(lifecycleProtocol, 'info', {});
      return reply(appletFcp(info.ok ? info.value.options : 0));
    }
    case 0x00:
    case 0x02: {
      // By file id (00: any, 02: EF under the current DF).
      if (data.length === 0 && p1 === 0x00) return selectFile(MASTER_FILE, session, context, true);
      if (data.length !== 2) return status(SW.wrongLength);
      return selectFile(readUint(data), session, context, true);
    }
    case 0x08:
    case 0x09: {
      // By path from the MF (08) or from the current DF (09): a sequence of file ids, the last one selected.
      if (data.length === 0 || data.length % 2 !== 0) return status(SW.wrongLength);
      const ids: number[] = [];
      for (let offset = 0; offset < data.length; offset += 2) ids.push(readUint(data.subarray(offset, offset + 2)));
      const path = ids[0] === MASTER_FILE ? ids.slice(1) : ids;
      if (path.length === 0) return selectFile(MASTER_FILE, session, context, true);
      if (path.length > 1) return status(SW.fileNotFound);
      return selectFile(path[0] ?? 0, session, context, true);
    }
    default:
      return status(SW.incorrectP1P2);
  }
};

/** Reads `length` bytes at `offset` of a file through the key store and maps its errors. */
async function readThrough(fileId: number, offset: number, length: number, session: number, context: Parameters<CommandHandler>[2]): Promise<Response> {
  const read = await context.call(keystoreProtocol, 'read', { fileId, offset, length, session });
  if (read.ok) return reply(read.value.data);
  switch (read.error.code) {
    case 'notFound':
      return status(SW.fileNotFound);
    case 'denied':
      return status(read.error.reason === 'pinRequired' ? SW.securityStatusNotSatisfied : SW.commandNotAllowed);
    case 'badOffset':
      return status(SW.wrongParameters);
    default:
      return status(SW.memoryFailure);
  }
}

/** READ BINARY, even INS: P1P2 is the offset into the current EF (short EF ids are not supported). */
export const readBinary: CommandHandler = (command, session, context) => {
  if (command.data.length !== 0) return status(SW.wrongLength);
  if (command.p1 & 0x80) return status(SW.functionNotSupported);
  if (session.currentFile === undefined) return status(SW.conditionsNotSatisfied);
  const offset = (command.p1 << 8) | command.p2;
  return readThrough(session.currentFile, offset, command.le === 0 ? 256 : command.le, session.id, context);
};

/** The offset of an odd-INS command: data object 54 (1 to 3 bytes). */
function offsetFrom(items: ReturnType<typeof parseTlvList>): number | undefined {
  if (!items) return undefined;
  const offset = findTlv(items, 0x54);
  if (!offset || offset.length === 0 || offset.length > 3) return undefined;
  return readUint(offset);
}

/** READ BINARY, odd INS: P1P2 = file id (0000 = current), data `54 L offset`. */
export const readBinaryOdd: CommandHandler = async (command, session, context) => {
  const fileId = (command.p1 << 8) | command.p2;
  const target = fileId === 0 ? session.currentFile : fileId;
  if (target === undefined) return status(SW.conditionsNotSatisfied);
  let offset = 0;
  if (command.data.length > 0) {
    const parsed = offsetFrom(parseTlvList(command.data));
    if (parsed === undefined) return status(SW.wrongData);
    offset = parsed;
  }
  const response = await readThrough(target, offset, command.le === 0 ? 256 : command.le, session.id, context);
  if (fileId !== 0 && response.statusWord === SW.ok) session.currentFile = fileId;
  return response;
};

/** UPDATE BINARY, odd INS: P1P2 = file id (0000 = current), data `54 L offset 53 L data`; creates the file. */
export const updateBinaryOdd: CommandHandler = async (command, session, context) => {
  const fileId = (command.p1 << 8) | command.p2;
  const target = fileId === 0 ? session.currentFile : fileId;
  if (target === undefined) return status(SW.conditionsNotSatisfied);
  const items = parseTlvList(command.data);
  const offset = offsetFrom(items);
  const content = items ? findTlv(items, 0x53) : undefined;
  if (offset === undefined || content === undefined) return status(SW.wrongData);
  const written = await context.call(keystoreProtocol, 'write', { fileId: target, offset, data: content, session: session.id });
  if (written.ok) {
    session.currentFile = target;
    return status(SW.ok);
  }
  switch (written.error.code) {
    case 'denied':
      return status(written.error.reason === 'pinRequired' ? SW.securityStatusNotSatisfied : SW.commandNotAllowed);
    case 'badOffset':
      return status(SW.wrongParameters);
    case 'full':
    case 'tooLarge':
      return status(SW.notEnoughMemory);
    default:
      return status(SW.memoryFailure);
  }
};

/** DELETE FILE: data = the file id (P1P2 ignored, as OpenSC sends 02 00). */
export const deleteFile: CommandHandler = async (command, session, context) => {
  if (command.data.length !== 2) return status(SW.wrongLength);
  const fileId = readUint(command.data);
  const deleted = await context.call(keystoreProtocol, 'delete', { fileId, session: session.id });
  if (deleted.ok) {
    if (session.currentFile === fileId) session.currentFile = undefined;
    return status(SW.ok);
  }
  switch (deleted.error.code) {
    case 'notFound':
      return status(SW.fileNotFound);
    case 'denied':
      return status(deleted.error.reason === 'pinRequired' ? SW.securityStatusNotSatisfied : SW.commandNotAllowed);
    default:
      return status(SW.memoryFailure);
  }
};

const ENUMERATED_PREFIXES: readonly number[] = [FILE_PREFIX.key, FILE_PREFIX.keyDescription, FILE_PREFIX.certificateDescription, FILE_PREFIX.dataObjectDescription];

/**
 * ENUMERATE OBJECTS: CC00 first (it reserves key id 0 for the device key, so OpenSC numbers new keys from 1),
 * then every CCxx, C4xx, C8xx and C9xx. OpenSC derives CExx, CAxx, CDxx and CFxx from these.
 */
export const enumerateObjects: CommandHandler = async (command, _session, context) => {
  if (command.p1 !== 0 || command.p2 !== 0) return status(SW.incorrectP1P2);
  if (command.data.length !== 0) return status(SW.wrongLength);
  const listed = await context.call(keystoreProtocol, 'list', {});
  if (!listed.ok) return status(SW.memoryFailure);
  const deviceKeyId = (FILE_PREFIX.key << 8) | 0x00;
  const ordered = [deviceKeyId];
  for (const prefix of ENUMERATED_PREFIXES) {
    for (const fileId of listed.value.fileIds) {
      if (fileId >> 8 === prefix && fileId !== deviceKeyId) ordered.push(fileId);
    }
  }
  return reply(concat(...ordered.map((fileId) => uintBytes(fileId, 2))));
};
