/** The fuzz targets, by name. */
import type { FuzzTarget } from './common.js';
import { apduParserTarget } from './target-apdu-parser.js';
import { decodersTarget } from './target-decoders.js';
import { deviceTarget } from './target-device.js';
import { handlersTarget } from './target-handlers.js';
import { storageMountTarget } from './target-storage-mount.js';

export const TARGETS: readonly FuzzTarget<any>[] = [decodersTarget, handlersTarget, apduParserTarget, deviceTarget, storageMountTarget]; // eslint-disable-line @typescript-eslint/no-explicit-any -- each target's input type is its own

export function targetNamed(name: string): FuzzTarget<unknown> {
  const found = TARGETS.find((target) => target.name === name);
  if (!found) throw new Error(`no fuzz target ${name}; targets: ${TARGETS.map((target) => target.name).join(', ')}`);
  return found as FuzzTarget<unknown>;
}
