/**
 * Diagnostics of a log store for tests and benchmarks: wear and compaction statistics, and each sector's role. The
 * device bundle leaves this module out: the engine itself keeps no counters, a MeasuredLogStore counts what passes
 * between the engine and its flash.
 *
 *   const store = new MeasuredLogStore(flash);
 *   store.mount();
 *   ...
 *   const { bytesProgrammed, reclaims } = store.statistics();
 *   const blank = store.describeSectors().filter((sector) => sector.condition === 'blank');
 */
import type { Flash, FlashGeometry } from '../../hal/types.js';
import { LogStore, type CompactionListener, type PatchResult, type PutResult, type SectorDescription } from './log-store.js';

export interface StoreStatistics {
  readonly erasesBySector: readonly number[];
  readonly eraseCalls: number;
  readonly programCalls: number;
  readonly bytesProgrammed: number;
  /** File bytes handed to put/patch (successful calls). */
  readonly callerBytes: number;
  /** Completed reclaims of the tail sector (one a power cut or fault interrupts is not counted, nor its copies). */
  readonly reclaims: number;
  /** Live records completed reclaims carried forward. */
  readonly recordsCopied: number;
  /** Live records completed reclaims dropped because their bytes no longer passed the CRC (flash decay). */
  readonly corruptRecordsDropped: number;
}

/** Sits between a store and its flash and listener: counts every erase, program and reclaim, passing all on. */
class StoreCounter implements Flash, CompactionListener {
  readonly geometry: FlashGeometry;
  readonly erasesBySector: number[];
  eraseCalls = 0;
  programCalls = 0;
  bytesProgrammed = 0;
  callerBytes = 0;
  reclaims = 0;
  recordsCopied = 0;
  corruptRecordsDropped = 0;

  constructor(
    private readonly flash: Flash,
    private readonly listener: CompactionListener | undefined,
  ) {
    this.geometry = flash.geometry;
    this.erasesBySector = new Array<number>(flash.geometry.sectorCount).fill(0);
  }

  read(address: number, length: number): Uint8Array {
    return this.flash.read(address, length);
  }

  program(address: number, data: Uint8Array): void {
    // Counted before the flash runs it, so an operation a power cut interrupts is counted too.
    this.programCalls += 1;
    this.bytesProgrammed += data.length;
    this.flash.program(address, data);
  }

  erase(sector: number): void {
    this.eraseCalls += 1;
    this.erasesBySector[sector] += 1;
    this.flash.erase(sector);
  }

  sync(): void {
    this.flash.sync();
  }

  compactionStarted(): void {
    this.listener?.compactionStarted();
  }

  compactionFinished(): void {
    this.listener?.compactionFinished();
  }

  tailReclaimed(recordsCopied: number, corruptRecordsDropped: number): void {
    this.reclaims += 1;
    this.recordsCopied += recordsCopied;
    this.corruptRecordsDropped += corruptRecordsDropped;
    this.listener?.tailReclaimed?.(recordsCopied, corruptRecordsDropped);
  }
}

/** A LogStore (same behaviour, same flash work) that also reports its statistics and its sectors' roles. */
export class MeasuredLogStore extends LogStore {
  private readonly counter: StoreCounter;

  constructor(flash: Flash, listener?: CompactionListener) {
    const counter = new StoreCounter(flash, listener);
    super(counter, counter);
    this.counter = counter;
  }

  override put(fileId: number, data: Uint8Array): PutResult {
    const result = super.put(fileId, data);
    if (result.ok) this.counter.callerBytes += data.length;
    return result;
  }

  override patch(fileId: number, offset: number, data: Uint8Array): PatchResult {
    const result = super.patch(fileId, offset, data);
    if (result.ok) this.counter.callerBytes += data.length;
    return result;
  }

  statistics(): StoreStatistics {
    const counter = this.counter;
    return {
      erasesBySector: [...counter.erasesBySector],
      eraseCalls: counter.eraseCalls,
      programCalls: counter.programCalls,
      bytesProgrammed: counter.bytesProgrammed,
      callerBytes: counter.callerBytes,
      reclaims: counter.reclaims,
      recordsCopied: counter.recordsCopied,
      corruptRecordsDropped: counter.corruptRecordsDropped,
    };
  }

  /** Each physical sector's role. */
  describeSectors(): SectorDescription[] {
    return this.sectors.map((sector, physical) => ({
      physical,
      condition: sector.condition,
      sectorSeq: sector.seq >= 0 ? sector.seq : undefined,
    }));
  }
}
