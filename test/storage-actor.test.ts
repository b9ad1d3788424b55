import { getInitialSnapshot, getNextSnapshot } from 'xstate';
import { getShortestPaths } from 'xstate/graph';
import { describe, expect, it } from 'vitest';
import { createStorageActor, stateOf } from '../actors/storage.js';
import { LogStore, encodeSectorHeader } from '../actors/storage/log-store.js';
import { Scheduler } from '../actors/scheduler.js';
import { SimFlash } from '../hal/sim/flash.js';
import { ManualTime } from '../hal/sim/time.js';
import type { FlashGeometry } from '../hal/types.js';
import { storageMachine, type StorageEvent } from '../machines/storage.js';
import type { CallResult, OperationName, RequestOf } from '../messages/protocol.js';
import { MAX_FILE_BYTES, storageProtocol } from '../messages/storage.js';

const GEOMETRY: FlashGeometry = { sectorSize: 4096, pageSize: 256, sectorCount: 16 };

const ALPHABET: readonly StorageEvent[] = [
  { type: 'MOUNT' },
  { type: 'MOUNTED', recoveryNeeded: false },
  { type: 'MOUNTED', recoveryNeeded: true },
  { type: 'MOUNT_FAILED', reason: 'unsupportedFormat', detail: 'v2' },
  { type: 'MOUNT_FAILED', reason: 'flashFault', detail: 'io' },
  { type: 'RECOVERY_DONE' },
  { type: 'COMPACT_STARTED' },
  { type: 'COMPACT_DONE' },
  { type: 'POWER_LOST' },
  { type: 'FLASH_FAULT', detail: 'io' },
  { type: 'FORMATTED' },
];

describe('storage machine', () => {
  const paths = getShortestPaths(storageMachine, { events: ALPHABET });

  it('reaches every lifecycle state, and `ready` never with recovery pending', () => {
    const reached = new Set<string>();
    for (const path of paths) {
      const state = stateOf(path.state);
      reached.add(state);
      if (state === 'ready' || state === 'compacting') {
        expect(path.state.context.recoveryPending, path.steps.map((step) => step.event.type).join(' > ')).toBe(false);
      }
      if (state === 'failed') expect(path.state.context.failure).toBeDefined();
    }
    expect([...reached].sort()).toEqual(['compacting', 'failed', 'mounting', 'ready', 'unmounted']);
    console.log(`storage machine: ${paths.length} reachable (state, context) pairs under ${ALPHABET.length} events`);
  });

  it('after a power loss, a clean mount still goes through recovery', () => {
    const events: StorageEvent[] = [
      { type: 'MOUNT' },
      { type: 'MOUNTED', recoveryNeeded: false },
      { type: 'COMPACT_STARTED' },
      { type: 'POWER_LOST' },
      { type: 'MOUNT' },
      { type: 'MOUNTED', recoveryNeeded: false },
    ];
    let snapshot = getInitialSnapshot(storageMachine);
    for (const event of events) snapshot = getNextSnapshot(storageMachine, snapshot, event);
    expect(snapshot.matches({ mounting: 'recovering' })).toBe(true);
    expect(snapshot.context.recoveryPending).toBe(true);
    snapshot = getNextSnapshot(storageMachine, snapshot, { type: 'RECOVERY_DONE' });
    expect(stateOf(snapshot)).toBe('ready');
    expect(snapshot.context.recoveryPending).toBe(false);
  });
});

async function boot(flash: SimFlash): Promise<Scheduler> {
  const time = new ManualTime();
  const scheduler = new Scheduler({ capabilities: { test: ['storage'] }, clock: time.clock, timers: time.timers });
  await scheduler.start([createStorageActor({ flash })]);
  return scheduler;
}

type StorageProtocol = typeof storageProtocol;
function caller(scheduler: Scheduler) {
  return <K extends OperationName<StorageProtocol>>(operation: K, request: RequestOf<StorageProtocol, K>): Promise<CallResult<StorageProtocol, K>> =>
    scheduler.call('test', storageProtocol, operation, request);
}

function bytes(length: number, seed: number): Uint8Array {
  return new Uint8Array(length).map((_, index) => (index * 31 + seed) & 0xff);
}

describe('storage actor', () => {
  it('serves every operation of the protocol with typed answers', async () => {
    const scheduler = await boot(new SimFlash(GEOMETRY));
    const call = caller(scheduler);
    const info = await call('info', {});
    expect(info).toEqual({ ok: true, value: { state: 'ready', formatVersion: 1, sectors: 16, sectorSize: 4096 } });

    expect(await call('put', { fileId: 0x0101, data: bytes(700, 1) })).toEqual({ ok: true, value: { size: 700 } });
    expect(await call('put', { fileId: 0x0102, data: bytes(5, 2) })).toEqual({ ok: true, value: { size: 5 } });
    expect(await call('put', { fileId: 0x2001, data: bytes(5, 3) })).toEqual({ ok: true, value: { size: 5 } });
    expect(await call('read', { fileId: 0x0101, offset: 690 })).toEqual({ ok: true, value: { data: bytes(700, 1).slice(690), size: 700 } });
    expect(await call('patch', { fileId: 0x0102, offset: 5, data: bytes(3, 9) })).toEqual({ ok: true, value: { size: 8 } });
    expect(await call('stat', { fileId: 0x0102 })).toEqual({ ok: true, value: { size: 8 } });
    expect(await call('list', { prefix: 0x01 })).toEqual({ ok: true, value: { fileIds: [0x0101, 0x0102] } });
    expect(await call('list', {})).toEqual({ ok: true, value: { fileIds: [0x0101, 0x0102, 0x2001] } });
    const capacity = await call('capacity', {});
    expect(capacity.ok && capacity.value.files).toBe(3);

    expect(await call('read', { fileId: 0x0999 })).toEqual({ ok: false, error: { code: 'notFound', fileId: 0x0999 } });
    expect(await call('read', { fileId: 0x0102, offset: 9 })).toEqual({ ok: false, error: { code: 'badRange', offset: 9, size: 8 } });
    expect(await call('put', { fileId: 1, data: new Uint8Array(MAX_FILE_BYTES + 1) })).toEqual({ ok: false, error: { code: 'tooLarge', size: MAX_FILE_BYTES + 1, max: MAX_FILE_BYTES } });
    expect(await call('patch', { fileId: 0x0999, offset: 0, data: bytes(1, 1) })).toEqual({ ok: false, error: { code: 'notFound', fileId: 0x0999 } });
    expect(await call('delete', { fileId: 0x2001 })).toEqual({ ok: true, value: {} });
    expect(await call('delete', { fileId: 0x2001 })).toEqual({ ok: false, error: { code: 'notFound', fileId: 0x2001 } });

    let fileId = 0x3000;
    let full: unknown;
    for (;;) {
      const put = await call('put', { fileId: fileId++, data: bytes(MAX_FILE_BYTES, fileId) });
      if (!put.ok) {
        full = put.error;
        break;
      }
    }
    expect(full).toMatchObject({ code: 'full', needed: 18 + MAX_FILE_BYTES });

    expect(await call('wipe', { keep: [0x0101] })).toEqual({ ok: true, value: {} });
    expect(await call('list', {})).toEqual({ ok: true, value: { fileIds: [0x0101] } });
    expect(await call('format', {})).toEqual({ ok: true, value: {} });
    expect(await call('list', {})).toEqual({ ok: true, value: { fileIds: [] } });
    await scheduler.stop();
  });

  it('reports an unsupported format as failed, answers unavailable, and re-commissions with format', async () => {
    const flash = new SimFlash(GEOMETRY);
    flash.program(3 * GEOMETRY.sectorSize, encodeSectorHeader(1, 0, 0, 9));
    const scheduler = await boot(flash);
    const call = caller(scheduler);
    const info = await call('info', {});
    expect(info.ok && info.value.state).toBe('failed');
    expect(info.ok && info.value.failure).toContain('version 9');
    expect(await call('read', { fileId: 1 })).toMatchObject({ ok: false, error: { code: 'unavailable', reason: 'unsupportedFormat' } });
    expect(await call('put', { fileId: 1, data: bytes(1, 1) })).toMatchObject({ ok: false, error: { code: 'unavailable', reason: 'unsupportedFormat' } });
    expect(flash.eraseCalls).toBe(0);
    expect(await call('format', {})).toEqual({ ok: true, value: {} });
    const after = await call('info', {});
    expect(after.ok && after.value.state).toBe('ready');
    expect(await call('put', { fileId: 1, data: bytes(1, 1) })).toEqual({ ok: true, value: { size: 1 } });
  });

  it('answers a power cut with unavailable, then remounts and recovers on the next request', async () => {
    const flash = new SimFlash(GEOMETRY);
    const scheduler = await boot(flash);
    const call = caller(scheduler);
    expect((await call('put', { fileId: 7, data: bytes(3000, 1) })).ok).toBe(true);
    flash.armPowerCut({ atOperation: 4, flipSeed: 77 });
    const cut = await call('put', { fileId: 7, data: bytes(3000, 2) });
    expect(cut).toMatchObject({ ok: false, error: { code: 'unavailable', reason: 'flashFault' } });
    const during = await call('info', {});
    expect(during.ok && during.value.state).toBe('unmounted');
    flash.powerOn();
    const read = await call('read', { fileId: 7 });
    expect(read.ok).toBe(true);
    if (read.ok) expect([bytes(3000, 1), bytes(3000, 2)]).toContainEqual(read.value.data);
    const after = await call('info', {});
    expect(after.ok && after.value.state).toBe('ready');
  });

  it('finishes an interrupted wipe before serving anything', async () => {
    const flash = new SimFlash(GEOMETRY);
    const store = new LogStore(flash);
    store.mount();
    for (let fileId = 0; fileId < 8; fileId++) store.put(fileId, bytes(3000, fileId));
    flash.armPowerCut({ atOperation: 12, flipSeed: 5 });
    expect(() => store.wipe([2])).toThrow();
    flash.powerOn();
    const probe = new LogStore(flash);
    const outcome = probe.mount();
    expect(outcome.ok && outcome.report.recoveryNeeded).toBe(true);

    const scheduler = await boot(flash);
    const call = caller(scheduler);
    const info = await call('info', {});
    expect(info.ok && info.value.state).toBe('ready');
    expect(await call('list', {})).toEqual({ ok: true, value: { fileIds: [2] } });
    const clean = new LogStore(flash);
    const remounted = clean.mount();
    expect(remounted.ok && remounted.report.recoveryNeeded).toBe(false);
  });
});
