/**
 * The log store: files (2-byte ids, up to MAX_FILE_BYTES each) kept as a circular log of records over the sectors
 * of a NOR flash region. Pure logic over a `Flash`: no messages, no timers. Wear levelling, atomic updates,
 * integrity checks, power-loss recovery and capacity accounting all live here; actors/storage.ts wraps it.
 *
 * ============================================================================================================
 * SPECIFICATION (format version 1)
 * ============================================================================================================
 *
 * Notation: S = sector size, G = page size, N = sector count, P = S - 24 (payload bytes per sector),
 * H = 18 (record header bytes), F = MAX_FILE_BYTES (4096), R = H + F (largest record), W = H + 10 + 2 * 64 (largest
 * wipe marker). All integers are little-endian. CRC = CRC-32/IEEE (actors/storage/crc32.ts).
 *
 * 1. Sector layout
 *    bytes 0-3   magic "HSLS"                       \
 *    byte  4     format version (1)                  |  the 20-byte header frame; every format version keeps
 *    bytes 5-8   sectorSeq (u32)                     |  magic, version and CRC where they are, so a newer format
 *    bytes 9-12  floor (u32)                         |  is recognised (and refused) instead of misread
 *    bytes 13-14 firstRecordOffset (u16, <= P)       |
 *    byte  15    reserved (0xFF)                     |
 *    bytes 16-19 CRC of bytes 0-15                  /
 *    byte  20    retired flag: 0xFF while the sector is live, programmed to 0x00 when it has been reclaimed
 *    bytes 21-23 reserved (0xFF)
 *    bytes 24..S payload (P bytes)
 *    - sectorSeq increases by one each time a sector is opened (the new head), so the live sectors form a run of
 *      consecutive sectorSeqs; their payloads, in that order, are one continuous log. A log position is the number
 *      sectorSeq * P + offset (below 2^48, exact in a JS number).
 *    - firstRecordOffset: where the first record that STARTS in this sector begins. Bytes before it continue a
 *      record from the previous sector. P means "no record starts here" (a continuation fills the sector).
 *    - floor: the sectorSeq of the oldest live sector when this sector was opened. Every sector with a lower
 *      sectorSeq is dead, whatever its own header says (see 5).
 *
 * 2. Record layout (byte-packed, may cross page and sector boundaries)
 *    byte  0     magic 0x5A (never 0xFF, so erased flash is never a record)
 *    byte  1     kind: 1 data, 2 tombstone, 3 wipe marker
 *    bytes 2-3   fileId (u16; 0 for a wipe marker)
 *    bytes 4-7   seq (u32): global, increasing; a copy made by compaction keeps the seq of its original
 *    bytes 8-9   data length (u16): data <= F, tombstone 0, wipe marker 10 + 2k
 *    bytes 10-13 CRC of the data
 *    bytes 14-17 CRC of bytes 0-13
 *    then the data. Wipe marker data: phase (u8: 1 committed, 2 erased), floor (u32; 0 unless erased),
 *    voidBelowSeq (u32), k (u8, <= 64), k kept fileIds (u16 each).
 *
 * 3. Writing. Records are appended at the head, each flash program covering at most one page, in order. When the
 *    head sector's payload is exhausted the next sector is opened: the next sector in circular physical order
 *    after the head (erased first unless it is all 0xFF), its header programmed with sectorSeq = highest + 1,
 *    floor = the current tail's sectorSeq and firstRecordOffset = min(bytes of the record still to write, P) (0 when
 *    the sector begins with a new record). The writer never programs a byte that is not 0xFF (mount guarantees
 *    the head is on erased bytes; opened sectors are verified blank or erased). After programming the new
 *    header, every free sector that is dead by the new floor is erased, so free sectors are blank or "retired but
 *    not yet covered" (reclaimed since the last opening).
 *
 * 4. Reading the log (mount). For each sector: header valid = magic, CRC, firstRecordOffset <= P. A header whose
 *    magic and CRC hold but whose version != 1 makes the whole store `unsupportedFormat`: nothing is read further
 *    and nothing is erased (only `format` erases). The live run: start at the highest sectorSeq among valid,
 *    unretired headers with sectorSeq >= floor (floor = the highest floor of any valid header, raised by a live
 *    erased-phase wipe marker) and walk down while sectorSeq - 1 is also valid, unretired and >= floor. Each live
 *    sector is scanned from its own firstRecordOffset (so damage in one sector never desynchronises another):
 *    - valid record header (magic, known kind, CRC, sane length): if the record ends in this sector, check the
 *      data CRC (bad data: the record is ignored and skipped by its length, which the header CRC vouches for);
 *      if it continues, every following sector it covers must be the next live sector with firstRecordOffset equal
 *      to the continuation (P for a sector it fills), and the data CRC must match; either way the scan of this
 *      sector ends there (a record that runs past the last live sector is invalid and ends the log).
 *    - invalid header: if the rest of its page is all 0xFF the log of this sector ends there; otherwise it is the
 *      garbage of an interrupted first program of a record: skip to the next page boundary and go on.
 *    The head is where the last live sector's log ends; if any byte from there to the sector's end is not 0xFF the
 *    head moves past it to the next page boundary (or the sector's end). Latest seq per fileId wins (equal seqs
 *    are identical copies; the later position is the instance); a tombstone deletes; the newest wipe marker voids
 *    every record with seq < voidBelowSeq whose fileId it does not keep. New record seqs are above every seq seen.
 *    A region with no valid header at all is an empty store if every byte outside the first 24 of each sector is
 *    0xFF (an interrupted first header program may leave those); otherwise it is refused as not a log store.
 *
 * 5. Compaction (reclaim of the tail sector T, never of the head): copy every record whose current instance STARTS
 *    in T and is live (the winning data record of its file, or the live wipe marker) to the head, identical bytes,
 *    same seq. Tombstones and dead records are dropped: a tombstone in the tail covers nothing older, because the
 *    records it deleted were already dead when later sectors were written. Then program T's retired flag. T is
 *    erased only once a later sector header's floor (or an erased-phase marker) covers it, i.e. at the next
 *    opening. Why: an interrupted erase may flip ANY subset of the sector's bits back to 1, including exactly the
 *    bits the retired flag cleared, which would bring back a dead sector with its dead records; a sector below the
 *    floor is dead whatever its bytes say, so only covered sectors are ever erased. (The original design erased
 *    right after retiring; this is the flaw that change closes.)
 *    Circular order (open the next physical sector, reclaim the oldest) makes every sector cycle: wear levelling
 *    without counters. One sector is never opened while it is the last free one, so the sector after the head is
 *    always blank or covered when the head needs it.
 *
 * 6. Capacity. Let writable = (P - head offset) + P * (free sectors - 1) and
 *      slack   = 2 (R + G)                   (what two interrupted operations may waste, see 7)
 *      reserve = P + R - 1 + slack           (the most one reclaim copies: a sector of records starting in the tail
 *                                             plus the last one running past it, plus slack)
 *      limit   = (N - 3) * P - (R - 1) - slack
 *      total   = limit - 2W                  (reported capacity; 2W keeps room for the markers of a wipe and a
 *                                             tombstone even in a full store)
 *    Invariant: after every operation (and every recovery) writable >= reserve. Any sequence of consecutive
 *    reclaims started from writable >= P + R - 1 completes (the records starting in k consecutive sectors span at
 *    most kP + R - 1 bytes and free kP). Full compaction (reclaiming every sector older than the head's) leaves at
 *    most one sector of dead bytes, so writable >= N*P - 2P - used; hence room for a record of r bytes can always
 *    be made when used + r <= limit. `used` = live records including headers (and a live wipe marker); put/patch
 *    answer `full` {needed: H + size, available: total - used} when used + H + size > total, before touching flash.
 *    The new version is written while the old still exists (that is what makes it atomic), so replacing a file
 *    needs room for both. Pico geometry (N = 256, S = 4096, G = 256): total = 1,017,051 of 1,048,576 bytes (97.0%).
 *
 * 7. Power-loss assumptions. An interrupted program or erase may leave any subset of its bit changes done (empty and
 *    all included) and nothing else; completed operations are durable (the host board fsyncs after each store
 *    operation); reads are reliable. Outcomes, by where the cut falls:
 *    - writing a record: its header is invalid (skipped as page garbage) or its data CRC fails (skipped by length):
 *      the file keeps its previous version. The record is the commit.
 *    - opening a sector: an interrupted erase leaves a dead or garbage sector; an interrupted header leaves an
 *      invalid one (both free); a record continuing into it fails its checks.
 *    - compaction: copies are identical duplicates (the later one becomes the instance, so completed copies are
 *      progress); until the retired flag is programmed the tail is live; any non-0xFF retired byte counts as retired.
 *    - wipe: see 8.
 *    One interrupted operation wastes at most R + G bytes of log (the partial record, rounded up to the page where
 *    its garbage ends). Recovery, which runs before the store is usable again (the storage machine's
 *    `recoveryPending`), erases every free sector that is neither blank nor retired-but-uncovered, finishes an
 *    interrupted wipe, and compacts until writable >= reserve again; mount asks for recovery whenever writable is
 *    below the reserve. The slack covers the cut operation plus one more cut during its recovery. Should cuts keep
 *    striking recovery after recovery, the store stays consistent and readable, but a write it cannot make room for
 *    answers `unavailable` (flashFault) instead of corrupting anything; a delete is still written whenever the
 *    bytes physically fit, and deleting files that start in the tail sector lets compaction proceed again.
 *
 * 8. Wipe(keep), changed from the original "copy the kept files into a fresh sector" (which needs room for a second
 *    copy of everything kept and so can fail on a full store, while the protocol gives wipe no `full` error):
 *    (a) append a committed-phase wipe marker {voidBelowSeq = its own seq, keep}: from here mount sees exactly
 *        the kept files; (b) reclaim every sector up to and including the one holding the marker (opening a fresh
 *        sector first if that one is the head): kept files and the marker are copied forward, everything else is
 *        dropped; (c) append an erased-phase marker whose floor is the new tail: every older sector is now dead;
 *        (d) erase every free sector that is not blank. A cut before (a) completes leaves all files, after it
 *        exactly the kept ones; mount finishes (b)-(d). No byte of a deleted file survives (d).
 *    format() = wipe([]) when the store is readable (so a cut cannot expose part of the old files), then erase
 *    every sector and open sector 0. A cut during format's erasing may leave partly erased sectors that no longer
 *    look like a store: mount then refuses the region (unsupportedFormat) and format has to be run again.
 *
 * 9. Limits and lifetime: record seqs and sectorSeqs are u32 (4 billion writes; an exhausted counter is reported as
 *    a flash fault, never wrapped). Each sector is erased once per trip of the log around the region, so with
 *    write amplification A (bytes programmed per file byte written; about 1 / (1 - used / (N * P)) from copying
 *    live records, plus headers) and an endurance of E erase cycles, the region absorbs about E * N * P / A file
 *    bytes: for the Pico region, E = 100,000 and A = 2.5, some 40 GB.
 */
import { FlashError, type Flash, type FlashGeometry } from '../../hal/types.js';
import { fail, ok, type Result } from '../../messages/protocol.js';
import { MAX_FILE_BYTES } from '../../messages/storage.js';
import { crc32 } from './crc32.js';

export const FORMAT_VERSION = 1;
export const SECTOR_HEADER_BYTES = 24;
export const RECORD_HEADER_BYTES = 18;
export const MAX_KEPT_FILES = 64;

const SECTOR_MAGIC = [0x48, 0x53, 0x4c, 0x53]; // "HSLS"
const SECTOR_FRAME_BYTES = 20;
const SECTOR_CRC_OFFSET = 16;
const RETIRED_FLAG_OFFSET = 20;
const RECORD_MAGIC = 0x5a;
const MARKER_FIXED_BYTES = 10;
const U32_LIMIT = 0xffff_ffff;

/** Record kinds, indexed by their code (byte 1 of a record). */
const RECORD_KINDS = [undefined, 'data', 'tombstone', 'wipeMarker'] as const;
type RecordKind = NonNullable<(typeof RECORD_KINDS)[number]>;
/** Wipe marker phases, indexed by their code (byte 0 of a marker's data). */
const MARKER_PHASES = [undefined, 'committed', 'erased'] as const;
type MarkerPhase = NonNullable<(typeof MARKER_PHASES)[number]>;

// ---------------------------------------------------------------------------------------------------------
// Layout and capacity

export interface StoreLayout {
  readonly geometry: FlashGeometry;
  /** Payload bytes per sector (P). */
  readonly payloadBytes: number;
  /** The largest record (R = header + MAX_FILE_BYTES). */
  readonly maxRecordBytes: number;
  /** The largest wipe marker (W). */
  readonly maxMarkerBytes: number;
  /** Room kept for what interrupted operations waste. */
  readonly cutSlackBytes: number;
  /** Writable bytes kept free after every operation so a compaction can always finish. */
  readonly reclaimReserveBytes: number;
  /** Live bytes up to which internal records (tombstones, wipe markers) always fit. */
  readonly limitBytes: number;
  /** The capacity reported to callers: live bytes (headers included) files may use in all. */
  readonly capacityBytes: number;
}

/** The capacity formulas of the specification (section 6). Throws RangeError for a geometry that cannot hold a store. */
export function layoutFor(geometry: FlashGeometry): StoreLayout {
  const { sectorSize, pageSize, sectorCount } = geometry;
  if (sectorSize % pageSize !== 0 || sectorSize <= SECTOR_HEADER_BYTES + RECORD_HEADER_BYTES || sectorSize - SECTOR_HEADER_BYTES > 0xffff) {
    throw new RangeError(`sector size ${sectorSize} must be a multiple of the page size (${pageSize}) in ${SECTOR_HEADER_BYTES + RECORD_HEADER_BYTES + 1}..${0xffff + SECTOR_HEADER_BYTES}`);
  }
  const payloadBytes = sectorSize - SECTOR_HEADER_BYTES;
  const maxRecordBytes = RECORD_HEADER_BYTES + MAX_FILE_BYTES;
  const maxMarkerBytes = RECORD_HEADER_BYTES + MARKER_FIXED_BYTES + 2 * MAX_KEPT_FILES;
  const cutSlackBytes = 2 * (maxRecordBytes + pageSize);
  const reclaimReserveBytes = payloadBytes + maxRecordBytes - 1 + cutSlackBytes;
  const limitBytes = (sectorCount - 3) * payloadBytes - (maxRecordBytes - 1) - cutSlackBytes;
  const capacityBytes = limitBytes - 2 * maxMarkerBytes;
  if (capacityBytes < maxRecordBytes) {
    throw new RangeError(`${sectorCount} sectors of ${sectorSize} bytes hold ${capacityBytes} bytes, less than one ${maxRecordBytes}-byte record`);
  }
  return { geometry, payloadBytes, maxRecordBytes, maxMarkerBytes, cutSlackBytes, reclaimReserveBytes, limitBytes, capacityBytes };
}

// ---------------------------------------------------------------------------------------------------------
// Public types

export type UnavailableReason = 'notMounted' | 'unsupportedFormat' | 'flashFault';
export type NotFoundError = { code: 'notFound'; fileId: number };
export type BadRangeError = { code: 'badRange'; offset: number; size: number };
export type FullError = { code: 'full'; needed: number; available: number };
export type TooLargeError = { code: 'tooLarge'; size: number; max: number };
export type UnavailableError = { code: 'unavailable'; reason: UnavailableReason; detail: string };

export type ReadResult = Result<{ data: Uint8Array; size: number }, NotFoundError | BadRangeError | UnavailableError>;
export type PutResult = Result<{ size: number }, FullError | TooLargeError | UnavailableError>;
export type PatchResult = Result<{ size: number }, NotFoundError | BadRangeError | FullError | TooLargeError | UnavailableError>;
export type DeleteResult = Result<Record<string, never>, NotFoundError | UnavailableError>;
export type StatResult = Result<{ size: number }, NotFoundError | UnavailableError>;
export type ListResult = Result<{ fileIds: number[] }, UnavailableError>;
export type CapacityResult = Result<Capacity, UnavailableError>;
export type PlainResult = Result<Record<string, never>, UnavailableError>;

export interface Capacity {
  readonly total: number;
  readonly used: number;
  readonly free: number;
  readonly largestWritable: number;
  readonly files: number;
}

export type StoreStatus = 'unmounted' | 'recovering' | 'mounted' | 'failed';
export interface StoreFailure {
  readonly reason: 'unsupportedFormat' | 'flashFault';
  readonly detail: string;
}

export interface MountReport {
  readonly files: number;
  readonly liveSectors: number;
  /** Flash work mount found pending (interrupted erase or wipe); `recover()` does it. */
  readonly recoveryNeeded: boolean;
  readonly recoveryReasons: readonly string[];
  /** Records with a valid header whose data or continuation failed its check. */
  readonly invalidRecords: number;
  /** Bytes of page garbage skipped (interrupted first programs). */
  readonly garbageBytes: number;
}
export type MountOutcome = { ok: true; report: MountReport } | { ok: false; failure: StoreFailure };

/** Told when a write has to compact first (the storage machine's `compacting` state). */
export interface CompactionListener {
  compactionStarted(): void;
  compactionFinished(): void;
  /**
   * After each reclaim of the tail sector: how many live records it carried forward, and how many it had to drop
   * because their bytes no longer passed the CRC (flash decay). For statistics (log-store-diagnostics.ts).
   */
  tailReclaimed?(recordsCopied: number, corruptRecordsDropped: number): void;
}

export type SectorCondition = 'blank' | 'live' | 'retired' | 'dirty';
export interface SectorDescription {
  readonly physical: number;
  readonly condition: SectorCondition;
  readonly sectorSeq: number | undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Internal types

interface FileEntry {
  seq: number;
  /** Log position of the current instance's first byte. */
  address: number;
  dataLength: number;
  dataCrc: number;
}

interface MarkerData {
  readonly phase: MarkerPhase;
  readonly floor: number;
  readonly voidBelowSeq: number;
  readonly keep: readonly number[];
}

interface MarkerEntry extends MarkerData {
  readonly seq: number;
  address: number;
  readonly recordBytes: number;
}

interface RecordHeader {
  readonly kind: RecordKind;
  readonly fileId: number;
  readonly seq: number;
  readonly dataLength: number;
  readonly dataCrc: number;
}

/** The latest record of a file found by the scan (a data record or a tombstone). */
interface ScannedRecord extends FileEntry {
  readonly kind: RecordKind;
}

/** A valid version-1 sector header, with the sector's physical index. */
interface SectorHeader {
  readonly kind: 'valid';
  readonly physical: number;
  readonly seq: number;
  readonly floor: number;
  readonly firstRecordOffset: number;
  readonly retired: boolean;
}

type HeaderReading = { kind: 'blank' } | { kind: 'invalid' } | { kind: 'unsupported'; version: number } | SectorHeader;

export interface SectorState {
  condition: SectorCondition;
  /** sectorSeq of a valid header (live or retired sectors), else -1. */
  seq: number;
}

interface TailResident {
  readonly entry: FileEntry | MarkerEntry;
  /** undefined for the wipe marker. */
  readonly fileId: number | undefined;
  readonly recordBytes: number;
}

type Failure<E> = { ok: false; error: E };

class StoreFault extends Error {
  override readonly name = 'StoreFault';
}

// ---------------------------------------------------------------------------------------------------------

export class LogStore {
  readonly layout: StoreLayout;
  private readonly geometry: FlashGeometry;
  private readonly payload: number;

  // The mounted state. resetState() sets all of it (from the constructor and before every mount), so the initial
  // values are listed once; `declare` because TypeScript cannot see that the constructor's call assigns them.
  private declare statusValue: StoreStatus;
  private declare failureValue: StoreFailure | undefined;
  /** Each physical sector's role (protected: MeasuredLogStore in log-store-diagnostics.ts describes them). */
  protected declare sectors: SectorState[];
  /** Physical indices of the live sectors, tail first; sector i has sectorSeq tailSeq + i. */
  private declare live: number[];
  private declare tailSeq: number;
  private declare headOffset: number;
  private declare highestSectorSeq: number;
  /** Sectors with a lower sectorSeq are dead. */
  private declare floor: number;
  private declare highestHeaderFloor: number;
  private declare nextRecordSeq: number;
  private declare files: Map<number, FileEntry>;
  /** The newest wipe marker while it is live: committed, or erased with a floor above every sector header's. */
  private declare liveMarker: MarkerEntry | undefined;
  /** Whether the running mutate() programmed or erased anything (then it syncs). */
  private declare flashTouched: boolean;

  constructor(
    private readonly flash: Flash,
    private readonly listener?: CompactionListener,
  ) {
    this.geometry = flash.geometry;
    this.layout = layoutFor(flash.geometry);
    this.payload = this.layout.payloadBytes;
    this.resetState();
  }

  get status(): StoreStatus {
    return this.statusValue;
  }

  get failure(): StoreFailure | undefined {
    return this.failureValue;
  }

  // -------------------------------------------------------------------------------------------------------
  // Mount and recovery

  /** Reads the region and rebuilds the index. Never writes. Never throws: flash errors become a failed outcome. */
  mount(): MountOutcome {
    this.resetState();
    try {
      return this.mountFromFlash();
    } catch (error) {
      if (error instanceof FlashError) return this.failMount('flashFault', `reading the region failed: ${error.message}`);
      throw error;
    }
  }

  /** Does the flash work mount found pending (see MountReport.recoveryNeeded). No-op when there is none. */
  recover(): PlainResult {
    if (this.statusValue === 'mounted') return ok({});
    if (this.statusValue !== 'recovering') return fail(this.unavailable());
    return this.mutate(() => {
      if (this.wipeInterrupted()) this.finishWipe();
      this.eraseDeadFreeSectors();
      // Restore the reserve that interrupted writes wasted, so the next cut finds it whole (section 7).
      this.ensureRoom(0);
      this.statusValue = 'mounted';
      return ok({});
    });
  }

  private mountFromFlash(): MountOutcome {
    const { sectorCount, sectorSize } = this.geometry;
    const headers: HeaderReading[] = [];
    for (let physical = 0; physical < sectorCount; physical++) {
      headers.push(parseSectorHeader(physical, this.flash.read(physical * sectorSize, SECTOR_HEADER_BYTES), this.payload));
    }
    let anyValid = false;
    for (let physical = 0; physical < sectorCount; physical++) {
      const header = headers[physical];
      if (header.kind === 'unsupported') {
        return this.failMount('unsupportedFormat', `sector ${physical} holds log store format version ${header.version}; this firmware reads version ${FORMAT_VERSION} (format to re-commission)`);
      }
      if (header.kind === 'valid') {
        anyValid = true;
        this.highestSectorSeq = Math.max(this.highestSectorSeq, header.seq);
        this.highestHeaderFloor = Math.max(this.highestHeaderFloor, header.floor);
      }
    }
    for (let physical = 0; !anyValid && physical < sectorCount; physical++) {
      if (!isErased(this.flash.read(this.payloadAddress(physical, 0), this.payload))) {
        return this.failMount('unsupportedFormat', `the region holds data but no log store sector header (first in sector ${physical}); format to use it`);
      }
    }

    // The floor: the highest of the headers', raised by a live erased-phase wipe marker; when that kills the first
    // sectors of the run, the run is built again from the new floor.
    this.floor = this.highestHeaderFloor;
    let run: SectorHeader[];
    let scan: ScanOutcome;
    for (let attempt = 1; ; attempt++) {
      run = this.takeRun(headers);
      scan = this.scanRun(run);
      const marker = scan.marker;
      if (marker === undefined || marker.phase !== 'erased' || marker.floor <= this.floor || marker.floor > this.sectorSeqOf(marker.address)) break;
      this.floor = marker.floor;
      if (attempt === 3 || run.length === 0 || run[0].seq >= this.floor) break;
    }

    this.headOffset = scan.headEnd;
    this.buildIndex(scan);
    this.nextRecordSeq = scan.highestRecordSeq + 1;

    const reasons: string[] = [];
    const live = new Set(this.live);
    headers.forEach((header, physical) => {
      const seq = header.kind === 'valid' ? header.seq : -1;
      let condition: SectorCondition = 'dirty';
      if (live.has(physical)) condition = 'live';
      else if (header.kind === 'valid' && header.retired && seq >= this.floor) condition = 'retired';
      else if (header.kind === 'blank' && this.sectorIsBlank(physical)) condition = 'blank';
      else reasons.push(`sector ${physical} is free but not erased (interrupted erase or reclaim)`);
      this.sectors.push({ condition, seq });
    });
    if (this.wipeInterrupted()) reasons.push('a wipe was interrupted before every sector holding deleted files was erased');
    if (run.length > 0 && this.writable() < this.layout.reclaimReserveBytes) reasons.push('interrupted writes used part of the compaction reserve');
    this.statusValue = reasons.length > 0 ? 'recovering' : 'mounted';
    return {
      ok: true,
      report: {
        files: this.files.size,
        liveSectors: this.live.length,
        recoveryNeeded: reasons.length > 0,
        recoveryReasons: reasons,
        invalidRecords: scan.invalidRecords,
        garbageBytes: scan.garbageBytes,
      },
    };
  }

  private failMount(reason: StoreFailure['reason'], detail: string): MountOutcome {
    this.resetState();
    return { ok: false, failure: this.setFailure(reason, detail) };
  }

  private setFailure(reason: StoreFailure['reason'], detail: string): StoreFailure {
    this.statusValue = 'failed';
    return (this.failureValue = { reason, detail });
  }

  private resetState(): void {
    this.statusValue = 'unmounted';
    this.failureValue = undefined;
    this.sectors = [];
    this.live = [];
    this.tailSeq = 0;
    this.headOffset = this.payload;
    this.highestSectorSeq = -1;
    this.floor = 0;
    this.highestHeaderFloor = 0;
    this.nextRecordSeq = 0;
    this.files = new Map();
    this.liveMarker = undefined;
  }

  /**
   * Makes the live run the store's live sectors, and returns it: consecutive sectorSeqs down from the highest
   * valid, unretired header at or above the floor.
   */
  private takeRun(headers: readonly HeaderReading[]): SectorHeader[] {
    const bySeq = new Map<number, SectorHeader>();
    let highest = -1;
    headers.forEach((header) => {
      // A duplicate sectorSeq only exists in damaged images: the first one wins.
      if (header.kind !== 'valid' || header.retired || header.seq < this.floor || bySeq.has(header.seq)) return;
      bySeq.set(header.seq, header);
      highest = Math.max(highest, header.seq);
    });
    const run: SectorHeader[] = [];
    for (let seq = highest; seq >= this.floor; seq--) {
      const sector = bySeq.get(seq);
      if (sector === undefined) break;
      run.unshift(sector);
    }
    this.live = run.map((sector) => sector.physical);
    this.tailSeq = run.length > 0 ? run[0].seq : 0;
    return run;
  }

  /** Scans the live run (section 4): the latest record of each file, the newest wipe marker, the head. */
  private scanRun(run: readonly SectorHeader[]): ScanOutcome {
    const payload = this.payload;
    const latest = new Map<number, ScannedRecord>();
    let marker: MarkerEntry | undefined;
    let headEnd = payload;
    let highestRecordSeq = -1;
    let invalidRecords = 0;
    let garbageBytes = 0;
    const logEnd = (this.tailSeq + run.length) * payload;
    run.forEach(({ physical, seq, firstRecordOffset }, index) => {
      const sectorStart = seq * payload;
      const bytes = this.flash.read(this.payloadAddress(physical, 0), payload);
      /** `length` bytes from `offset` of this sector on, or undefined if they run past the last live sector. */
      const span = (offset: number, length: number): Uint8Array | undefined => {
        if (offset + length <= payload) return bytes.subarray(offset, offset + length);
        return sectorStart + offset + length <= logEnd ? this.readLog(sectorStart + offset, length) : undefined;
      };
      let offset = firstRecordOffset;
      while (offset < payload) {
        // A header that would run past the last live sector is treated like an invalid one.
        const headerBytes = span(offset, RECORD_HEADER_BYTES);
        const header = headerBytes && parseRecordHeader(headerBytes);
        if (header === undefined) {
          const pageEnd = this.pageEndOffset(offset);
          if (isErased(bytes, offset, pageEnd)) break;
          garbageBytes += pageEnd - offset;
          offset = pageEnd;
          continue;
        }
        highestRecordSeq = Math.max(highestRecordSeq, header.seq);
        const end = offset + RECORD_HEADER_BYTES + header.dataLength;
        // A record continuing into the following sectors: each must be live and agree on where it ends.
        const continues = end > payload;
        const data = continues && !continuationMatches(run, index, end - payload, payload) ? undefined : span(offset + RECORD_HEADER_BYTES, header.dataLength);
        const address = sectorStart + offset;
        if (data === undefined || crc32(data) !== header.dataCrc) {
          invalidRecords += 1;
        } else if (header.kind === 'wipeMarker') {
          marker = newerMarker(marker, header, address, data);
        } else {
          const current = latest.get(header.fileId);
          // A literal, not a spread of the header: spread objects made mount twice as slow (measured on V8).
          if (current === undefined || header.seq >= current.seq) {
            latest.set(header.fileId, { kind: header.kind, seq: header.seq, address, dataLength: header.dataLength, dataCrc: header.dataCrc });
          }
        }
        offset = continues ? payload : end;
      }
      if (index === run.length - 1) {
        // The head: where the last live sector's log ends (offset stops there, or at the payload's end), moved
        // past any byte after it that is not 0xFF.
        let lastUsed = payload - 1;
        while (lastUsed >= offset && bytes[lastUsed] === 0xff) lastUsed--;
        headEnd = lastUsed < offset ? offset : this.pageEndOffset(lastUsed);
      }
    });
    return { latest, marker, headEnd, highestRecordSeq, invalidRecords, garbageBytes };
  }

  private buildIndex({ latest, marker }: ScanOutcome): void {
    this.liveMarker = marker;
    for (const [fileId, record] of latest) {
      if (record.kind !== 'data') continue;
      // The newest marker voids what it does not keep (section 4).
      if (marker !== undefined && record.seq < marker.voidBelowSeq && !marker.keep.includes(fileId)) continue;
      this.files.set(fileId, { seq: record.seq, address: record.address, dataLength: record.dataLength, dataCrc: record.dataCrc });
    }
    this.dropCoveredMarker();
  }

  /** Whether a wipe's committed marker is live: the wipe has steps (b)-(d) of section 8 left to do. */
  private wipeInterrupted(): boolean {
    return this.liveMarker?.phase === 'committed';
  }

  /** Drops the live marker if it is an erased-phase one that a sector header's floor now covers. */
  private dropCoveredMarker(): void {
    if (this.liveMarker?.phase === 'erased' && this.liveMarker.floor <= this.highestHeaderFloor) this.liveMarker = undefined;
  }

  /** Live bytes (section 6): the current records of the files, headers included, and the live marker. */
  private usedBytes(): number {
    let used = this.liveMarker?.recordBytes ?? 0;
    for (const entry of this.files.values()) used += RECORD_HEADER_BYTES + entry.dataLength;
    return used;
  }

  private sectorIsBlank(physical: number): boolean {
    const { sectorSize } = this.geometry;
    return isErased(this.flash.read(physical * sectorSize, sectorSize));
  }

  // -------------------------------------------------------------------------------------------------------
  // Operations

  read(fileId: number, offset?: number, length?: number): ReadResult {
    return this.withFile(fileId, (entry): ReadResult => {
      const size = entry.dataLength;
      const start = offset ?? 0;
      if (start > size) return fail({ code: 'badRange', offset: start, size });
      const data = this.readVerified(fileId, entry);
      if (!data.ok) return data;
      return ok({ data: data.value.slice(start, start + Math.min(length ?? size - start, size - start)), size });
    });
  }

  stat(fileId: number): StatResult {
    return this.withFile(fileId, (entry) => ok({ size: entry.dataLength }));
  }

  /** File ids present, ascending; with `prefix`, those whose high byte equals it. */
  list(prefix?: number): ListResult {
    return this.whenMounted(() => ok({ fileIds: [...this.files.keys()].filter((fileId) => prefix === undefined || fileId >> 8 === prefix).sort((a, b) => a - b) }));
  }

  capacity(): CapacityResult {
    return this.whenMounted(() => {
      const free = this.freeBytes();
      return ok({
        total: this.layout.capacityBytes,
        used: this.usedBytes(),
        free,
        largestWritable: Math.max(0, Math.min(MAX_FILE_BYTES, free - RECORD_HEADER_BYTES)),
        files: this.files.size,
      });
    });
  }

  put(fileId: number, data: Uint8Array): PutResult {
    requireFileId(fileId);
    return this.whenMounted(() => (data.length > MAX_FILE_BYTES ? fail(tooLarge(data.length)) : this.mutate(() => this.writeFile(fileId, data))));
  }

  /** Writes `data` at `offset` (at most the file's size) of an existing file, growing it if needed. */
  patch(fileId: number, offset: number, data: Uint8Array): PatchResult {
    requireFileId(fileId);
    return this.withFile(fileId, (entry): PatchResult => {
      if (!Number.isInteger(offset) || offset < 0 || offset > entry.dataLength) return fail({ code: 'badRange', offset, size: entry.dataLength });
      const size = Math.max(entry.dataLength, offset + data.length);
      if (size > MAX_FILE_BYTES) return fail(tooLarge(size));
      const current = this.readVerified(fileId, entry);
      if (!current.ok) return current;
      const updated = new Uint8Array(size);
      updated.set(current.value);
      updated.set(data, offset);
      return this.mutate(() => this.writeFile(fileId, updated));
    });
  }

  delete(fileId: number): DeleteResult {
    requireFileId(fileId);
    return this.withFile(fileId, () =>
      this.mutate(() => {
        // Deleting must stay possible even when compaction is stuck (deleting records of the tail unblocks it).
        if (!this.ensureRoom(RECORD_HEADER_BYTES) && this.writable() < RECORD_HEADER_BYTES) return fail(this.noRoom('a tombstone'));
        this.appendRecord(encodeRecord('tombstone', fileId, this.takeRecordSeq(), new Uint8Array(0)));
        this.files.delete(fileId);
        return ok({});
      }),
    );
  }

  /**
   * Deletes every file not in `keep` atomically, then erases every sector that held anything else (section 8).
   */
  wipe(keep: readonly number[]): PlainResult {
    const kept = [...new Set(keep)].sort((a, b) => a - b);
    kept.forEach(requireFileId);
    if (kept.length > MAX_KEPT_FILES) throw new RangeError(`wipe keeps at most ${MAX_KEPT_FILES} files, got ${kept.length}`);
    return this.whenMounted(() =>
      this.mutate(() => {
        if (!this.appendMarker('committed', 0, kept)) return fail(this.noRoom('a wipe marker'));
        for (const fileId of [...this.files.keys()]) if (!kept.includes(fileId)) this.files.delete(fileId);
        this.finishWipe();
        return ok({});
      }),
    );
  }

  /** Erases the whole region (after an atomic wipe when the store is readable) and starts an empty store. */
  format(): PlainResult {
    if (this.statusValue === 'recovering') {
      const recovered = this.recover();
      if (!recovered.ok) return recovered;
    }
    if (this.statusValue === 'mounted') {
      const wiped = this.wipe([]);
      if (!wiped.ok) return wiped;
    }
    return this.mutate(() => {
      const { sectorCount } = this.geometry;
      // The sector map is trusted only in a mounted store: after an interrupted operation a sector it calls blank
      // may hold what the cut left.
      const known = this.statusValue === 'mounted';
      for (let physical = 0; physical < sectorCount; physical++) {
        if (known && this.sectors[physical].condition === 'blank') continue;
        if (!this.sectorIsBlank(physical)) this.eraseSector(physical);
      }
      this.resetState();
      this.sectors = Array.from({ length: sectorCount }, () => ({ condition: 'blank' as const, seq: -1 }));
      this.openSector(0);
      this.statusValue = 'mounted';
      return ok({});
    });
  }

  /** Runs `operation` when the store is mounted; otherwise answers why it is not. */
  private whenMounted<R>(operation: () => R): R | Failure<UnavailableError> {
    return this.statusValue === 'mounted' ? operation() : fail(this.unavailable());
  }

  /** Runs `operation` on the file's entry when the store is mounted and the file exists. */
  private withFile<R>(fileId: number, operation: (entry: FileEntry) => R): R | Failure<NotFoundError | UnavailableError> {
    return this.whenMounted(() => {
      const entry = this.files.get(fileId);
      return entry === undefined ? fail<NotFoundError>({ code: 'notFound', fileId }) : operation(entry);
    });
  }

  // -------------------------------------------------------------------------------------------------------
  // Writing

  private writeFile(fileId: number, data: Uint8Array): Result<{ size: number }, FullError | UnavailableError> {
    const recordBytes = RECORD_HEADER_BYTES + data.length;
    const available = this.freeBytes();
    if (recordBytes > available) return fail({ code: 'full', needed: recordBytes, available });
    if (!this.ensureRoom(recordBytes)) return fail(this.noRoom(`a ${recordBytes}-byte record`));
    const seq = this.takeRecordSeq();
    const address = this.appendRecord(encodeRecord('data', fileId, seq, data));
    this.files.set(fileId, { seq, address, dataLength: data.length, dataCrc: crc32(data) });
    return ok({ size: data.length });
  }

  /** Runs a flash-changing operation: any throw leaves the store unmounted (its memory no longer matches flash). */
  private mutate<V, E>(operation: () => Result<V, E | UnavailableError>): Result<V, E | UnavailableError> {
    this.flashTouched = false;
    try {
      const result = operation();
      if (this.flashTouched) this.flash.sync();
      return result;
    } catch (error) {
      this.statusValue = 'unmounted';
      // The store's own consistency checks failed: a damaged region, not a power cut. Refuse further work.
      if (error instanceof StoreFault) return fail(unavailableFor(this.setFailure('flashFault', error.message)));
      throw error;
    }
  }

  private takeRecordSeq(): number {
    if (this.nextRecordSeq > U32_LIMIT) throw new StoreFault('record sequence numbers are exhausted');
    return this.nextRecordSeq++;
  }

  /** Capacity left for files (section 6). */
  private freeBytes(): number {
    return Math.max(0, this.layout.capacityBytes - this.usedBytes());
  }

  private writable(): number {
    const freeSectors = this.geometry.sectorCount - this.live.length;
    const headRoom = this.live.length > 0 ? this.payload - this.headOffset : 0;
    return headRoom + this.payload * Math.max(0, freeSectors - 1);
  }

  /** Compacts until `bytes` can be appended with the reclaim reserve kept. False if compaction cannot get there. */
  private ensureRoom(bytes: number): boolean {
    const needed = bytes + this.layout.reclaimReserveBytes;
    if (this.writable() >= needed) return true;
    this.listener?.compactionStarted();
    let rounds = 0;
    while (this.writable() < needed && this.live.length >= 2 && rounds < 2 * this.geometry.sectorCount && this.reclaimTail()) rounds += 1;
    this.listener?.compactionFinished();
    return this.writable() >= needed;
  }

  /** Entries (files and the live marker) whose current instance starts in the tail sector, in log order. */
  private tailResidents(): TailResident[] {
    const residents: TailResident[] = [];
    for (const [fileId, entry] of this.files) {
      if (this.sectorSeqOf(entry.address) === this.tailSeq) residents.push({ entry, fileId, recordBytes: RECORD_HEADER_BYTES + entry.dataLength });
    }
    const marker = this.liveMarker;
    if (marker !== undefined && this.sectorSeqOf(marker.address) === this.tailSeq) residents.push({ entry: marker, fileId: undefined, recordBytes: marker.recordBytes });
    return residents.sort((a, b) => a.entry.address - b.entry.address);
  }

  /**
   * Copies the tail's live records to the head, then marks the tail retired (section 5). False, with nothing done,
   * when the records do not fit in the writable bytes.
   */
  private reclaimTail(): boolean {
    if (this.live.length < 2) throw new StoreFault('cannot reclaim the head sector');
    const residents = this.tailResidents();
    let residentBytes = 0;
    for (const resident of residents) residentBytes += resident.recordBytes;
    if (residentBytes > this.writable()) return false;
    let copied = 0;
    let dropped = 0;
    for (const resident of residents) {
      const bytes = this.readLog(resident.entry.address, resident.recordBytes);
      const header = parseRecordHeader(bytes);
      if (header !== undefined && crc32(bytes, 0, RECORD_HEADER_BYTES) === header.dataCrc) {
        resident.entry.address = this.appendRecord(bytes);
        copied += 1;
      } else {
        // The flash decayed under a live record: it cannot be carried forward, and it is not served any more.
        if (resident.fileId === undefined) this.liveMarker = undefined;
        else this.files.delete(resident.fileId);
        dropped += 1;
      }
    }
    const tail = this.live[0];
    this.programChecked(tail * this.geometry.sectorSize + RETIRED_FLAG_OFFSET, new Uint8Array([0x00]));
    this.sectors[tail] = { condition: 'retired', seq: this.tailSeq };
    this.live.shift();
    this.tailSeq += 1;
    this.listener?.tailReclaimed?.(copied, dropped);
    return true;
  }

  /** Appends a wipe marker (voiding below its own seq unless told otherwise) as the live one; false if no room. */
  private appendMarker(phase: MarkerPhase, floor: number, keep: readonly number[], voidBelowSeq?: number): boolean {
    const seq = this.takeRecordSeq();
    const marker: MarkerData = { phase, floor, voidBelowSeq: voidBelowSeq ?? seq, keep };
    const record = encodeRecord('wipeMarker', 0, seq, encodeMarker(marker));
    if (!this.ensureRoom(record.length)) return false;
    this.liveMarker = { ...marker, seq, address: this.appendRecord(record), recordBytes: record.length };
    return true;
  }

  /** Steps (b)-(d) of a wipe whose committed marker is the live one (section 8). */
  private finishWipe(): void {
    const marker = this.liveMarker;
    if (marker === undefined || marker.phase !== 'committed') throw new StoreFault('no wipe to finish');
    const lastDirtySeq = this.sectorSeqOf(marker.address);
    while (this.live.length > 0 && this.tailSeq <= lastDirtySeq) {
      if (this.live.length === 1) this.openSector(0); // the marker's sector is the head: move the head on
      if (!this.reclaimTail()) throw new StoreFault('no room to finish the wipe');
    }
    const floor = this.tailSeq;
    if (!this.appendMarker('erased', floor, marker.keep, marker.voidBelowSeq)) throw new StoreFault('no room for the wipe marker');
    this.dropCoveredMarker();
    this.raiseFloor(floor);
    this.eraseDeadFreeSectors();
  }

  /** Appends one record at the head (opening sectors as needed); returns its log position. */
  private appendRecord(record: Uint8Array): number {
    const payload = this.payload;
    if (this.live.length === 0 || this.headOffset >= payload) this.openSector(0);
    const start = (this.tailSeq + this.live.length - 1) * payload + this.headOffset;
    for (let written = 0; written < record.length; ) {
      // A sector the record continues into says how much of it the continuation fills.
      if (this.headOffset >= payload) this.openSector(Math.min(record.length - written, payload));
      const chunk = Math.min(record.length - written, payload - this.headOffset);
      this.programSpan(this.payloadAddress(this.headSector(), this.headOffset), record.subarray(written, written + chunk));
      written += chunk;
      this.headOffset += chunk;
    }
    return start;
  }

  /** Opens the next sector as the head (section 3). */
  private openSector(firstRecordOffset: number): void {
    const { sectorCount, sectorSize } = this.geometry;
    const live = this.live;
    const seq = this.highestSectorSeq + 1;
    if (seq > U32_LIMIT) throw new StoreFault('sector sequence numbers are exhausted');
    if (live.length > 0 && sectorCount - live.length < 2) throw new StoreFault('no free sector may be opened');
    const start = live.length > 0 ? this.headSector() + 1 : 0;
    let chosen = -1;
    for (let step = 0; chosen < 0 && step < sectorCount; step++) {
      const candidate = (start + step) % sectorCount;
      const condition = this.sectors[candidate].condition;
      if (condition === 'blank' || condition === 'dirty') chosen = candidate;
    }
    if (chosen < 0) throw new StoreFault('no blank or erasable sector to open');
    if (this.sectors[chosen].condition !== 'blank' && !this.sectorIsBlank(chosen)) this.eraseSector(chosen);
    const floor = live.length > 0 ? this.tailSeq : seq;
    this.programSpan(chosen * sectorSize, encodeSectorHeader(seq, floor, firstRecordOffset));
    if (live.length === 0) this.tailSeq = seq;
    live.push(chosen);
    this.sectors[chosen] = { condition: 'live', seq };
    this.highestSectorSeq = seq;
    this.headOffset = 0;
    this.highestHeaderFloor = Math.max(this.highestHeaderFloor, floor);
    this.dropCoveredMarker();
    this.raiseFloor(floor);
    this.eraseDeadFreeSectors();
  }

  private raiseFloor(floor: number): void {
    if (floor <= this.floor) return;
    this.floor = floor;
    for (const sector of this.sectors) if (sector.condition === 'retired' && sector.seq < floor) sector.condition = 'dirty';
  }

  /** Erases every free sector that is neither blank nor retired-but-uncovered. */
  private eraseDeadFreeSectors(): void {
    this.sectors.forEach((sector, physical) => {
      if (sector.condition === 'dirty') this.eraseSector(physical);
    });
  }

  private eraseSector(physical: number): void {
    this.flashTouched = true;
    this.flash.erase(physical);
    this.sectors[physical] = { condition: 'blank', seq: -1 };
  }

  /** Programs `bytes` at `address`, one flash program per page they touch. */
  private programSpan(address: number, bytes: Uint8Array): void {
    const { pageSize } = this.geometry;
    for (let written = 0; written < bytes.length; ) {
      const chunk = Math.min(bytes.length - written, pageSize - ((address + written) % pageSize));
      this.programChecked(address + written, bytes.subarray(written, written + chunk));
      written += chunk;
    }
  }

  private programChecked(address: number, bytes: Uint8Array): void {
    this.flashTouched = true;
    this.flash.program(address, bytes);
  }

  // -------------------------------------------------------------------------------------------------------
  // Reading

  private readLog(address: number, length: number): Uint8Array {
    const payload = this.payload;
    const result = new Uint8Array(length);
    for (let done = 0; done < length; ) {
      const position = address + done;
      const offset = position % payload;
      const index = this.sectorSeqOf(position) - this.tailSeq;
      if (index < 0 || index >= this.live.length) throw new StoreFault(`log position ${position} is outside the live sectors`);
      const count = Math.min(length - done, payload - offset);
      result.set(this.flash.read(this.payloadAddress(this.live[index], offset), count), done);
      done += count;
    }
    return result;
  }

  /** The file's data, or `unavailable` if it no longer passes its CRC. */
  private readVerified(fileId: number, entry: FileEntry): Result<Uint8Array, UnavailableError> {
    const data = this.readLog(entry.address + RECORD_HEADER_BYTES, entry.dataLength);
    return crc32(data) === entry.dataCrc ? ok(data) : fail(flashFault(`file ${fileId} failed its integrity check`));
  }

  /** The sectorSeq of the sector holding log position `address`. */
  private sectorSeqOf(address: number): number {
    return Math.floor(address / this.payload);
  }

  /** Physical index of the head sector (the store has live sectors). */
  private headSector(): number {
    return this.live[this.live.length - 1];
  }

  /** Flash address of byte `offset` of a sector's payload. */
  private payloadAddress(physical: number, offset: number): number {
    return physical * this.geometry.sectorSize + SECTOR_HEADER_BYTES + offset;
  }

  /** Payload offset of the page boundary after `offset` (capped at the payload size). */
  private pageEndOffset(offset: number): number {
    const { pageSize } = this.geometry;
    const physical = SECTOR_HEADER_BYTES + offset;
    return Math.min(this.payload, (Math.floor(physical / pageSize) + 1) * pageSize - SECTOR_HEADER_BYTES);
  }

  /** Why the store refuses an operation while it is not mounted. */
  private unavailable(): UnavailableError {
    if (this.statusValue === 'failed' && this.failureValue !== undefined) return unavailableFor(this.failureValue);
    const detail = this.statusValue === 'recovering' ? 'the store is mounted but its recovery has not run' : 'the store is not mounted';
    return { code: 'unavailable', reason: 'notMounted', detail };
  }

  private noRoom(what: string): UnavailableError {
    return flashFault(`compaction could not make room for ${what}: the region is damaged, or repeated power cuts used up the compaction reserve (deleting files frees it)`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Scanning helpers

interface ScanOutcome {
  /** Each file's latest record (data or tombstone; equal seqs: the later one). */
  latest: Map<number, ScannedRecord>;
  /** The newest well-formed wipe marker (equal seqs: the later one). */
  marker: MarkerEntry | undefined;
  /** The head's offset in the last live sector (the payload size when the run is empty). */
  headEnd: number;
  highestRecordSeq: number;
  invalidRecords: number;
  garbageBytes: number;
}

/** Whether the sectors after run[index] agree that a record continues `remaining` bytes into them. */
function continuationMatches(run: readonly SectorHeader[], index: number, remaining: number, payload: number): boolean {
  let left = remaining;
  for (let next = index + 1; ; next++) {
    if (next >= run.length) return false;
    if (run[next].firstRecordOffset !== Math.min(left, payload)) return false;
    if (left <= payload) return true;
    left -= payload;
  }
}

/** `marker`, or the wipe marker just scanned if it is well-formed and not older (equal seqs: the later one). */
function newerMarker(marker: MarkerEntry | undefined, header: RecordHeader, address: number, data: Uint8Array): MarkerEntry | undefined {
  const scanned = decodeMarker(data);
  if (scanned === undefined || (marker !== undefined && header.seq < marker.seq)) return marker;
  return { ...scanned, seq: header.seq, address, recordBytes: RECORD_HEADER_BYTES + header.dataLength };
}

function isErased(bytes: Uint8Array, start = 0, end = bytes.length): boolean {
  for (let index = start; index < end; index++) if (bytes[index] !== 0xff) return false;
  return true;
}

function requireFileId(fileId: number): void {
  if (!Number.isInteger(fileId) || fileId < 0 || fileId > 0xffff) throw new RangeError(`file id ${fileId} is not a u16`);
}

function flashFault(detail: string): UnavailableError {
  return { code: 'unavailable', reason: 'flashFault', detail };
}

function unavailableFor(failure: StoreFailure): UnavailableError {
  return { code: 'unavailable', ...failure };
}

function tooLarge(size: number): TooLargeError {
  return { code: 'tooLarge', size, max: MAX_FILE_BYTES };
}

// ---------------------------------------------------------------------------------------------------------
// Encoding

/** Writes `value` at `offset` as a little-endian unsigned integer of `size` bytes. */
function writeUint(bytes: Uint8Array, offset: number, size: 2 | 4, value: number): void {
  for (let index = 0; index < size; index++) bytes[offset + index] = (value >>> (8 * index)) & 0xff;
}

/** The little-endian unsigned integer of `size` bytes at `offset`. */
function readUint(bytes: Uint8Array, offset: number, size: 2 | 4): number {
  let value = 0;
  for (let index = size - 1; index >= 0; index--) value = value * 256 + bytes[offset + index];
  return value;
}

/** The 24 header bytes of a sector being opened (retired flag and reserved bytes left erased). */
export function encodeSectorHeader(seq: number, floor: number, firstRecordOffset: number, version = FORMAT_VERSION): Uint8Array {
  const bytes = new Uint8Array(SECTOR_FRAME_BYTES);
  bytes.set(SECTOR_MAGIC, 0);
  bytes[4] = version;
  writeUint(bytes, 5, 4, seq);
  writeUint(bytes, 9, 4, floor);
  writeUint(bytes, 13, 2, firstRecordOffset);
  bytes[15] = 0xff;
  writeUint(bytes, SECTOR_CRC_OFFSET, 4, crc32(bytes, 0, 0, SECTOR_CRC_OFFSET));
  return bytes;
}

/** What the header bytes of sector `physical` say (section 4). */
function parseSectorHeader(physical: number, bytes: Uint8Array, payload: number): HeaderReading {
  if (isErased(bytes, 0, SECTOR_HEADER_BYTES)) return { kind: 'blank' };
  if (SECTOR_MAGIC.some((byte, index) => bytes[index] !== byte) || crc32(bytes, 0, 0, SECTOR_CRC_OFFSET) !== readUint(bytes, SECTOR_CRC_OFFSET, 4)) return { kind: 'invalid' };
  const version = bytes[4];
  if (version !== FORMAT_VERSION) return { kind: 'unsupported', version };
  const firstRecordOffset = readUint(bytes, 13, 2);
  if (firstRecordOffset > payload) return { kind: 'invalid' };
  return { kind: 'valid', physical, seq: readUint(bytes, 5, 4), floor: readUint(bytes, 9, 4), firstRecordOffset, retired: bytes[RETIRED_FLAG_OFFSET] !== 0xff };
}

/** A whole record: header (with both CRCs) followed by the data. */
export function encodeRecordBytes(kind: 'data' | 'tombstone', fileId: number, seq: number, data: Uint8Array): Uint8Array {
  return encodeRecord(kind, fileId, seq, data);
}

function encodeRecord(kind: RecordKind, fileId: number, seq: number, data: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(RECORD_HEADER_BYTES + data.length);
  bytes[0] = RECORD_MAGIC;
  bytes[1] = RECORD_KINDS.indexOf(kind);
  writeUint(bytes, 2, 2, fileId);
  writeUint(bytes, 4, 4, seq);
  writeUint(bytes, 8, 2, data.length);
  writeUint(bytes, 10, 4, crc32(data));
  writeUint(bytes, 14, 4, crc32(bytes, 0, 0, 14));
  bytes.set(data, RECORD_HEADER_BYTES);
  return bytes;
}

/** The record header at the start of `bytes`, or undefined if it is not a valid one (sections 2 and 4). */
function parseRecordHeader(bytes: Uint8Array): RecordHeader | undefined {
  const kind = RECORD_KINDS[bytes[1]];
  const dataLength = readUint(bytes, 8, 2);
  const saneLength =
    kind === 'data' ? dataLength <= MAX_FILE_BYTES : kind === 'tombstone' ? dataLength === 0 : dataLength >= MARKER_FIXED_BYTES && dataLength <= MARKER_FIXED_BYTES + 2 * MAX_KEPT_FILES;
  if (bytes[0] !== RECORD_MAGIC || crc32(bytes, 0, 0, 14) !== readUint(bytes, 14, 4) || kind === undefined || !saneLength) return undefined;
  return { kind, fileId: readUint(bytes, 2, 2), seq: readUint(bytes, 4, 4), dataLength, dataCrc: readUint(bytes, 10, 4) };
}

function encodeMarker(marker: MarkerData): Uint8Array {
  const bytes = new Uint8Array(MARKER_FIXED_BYTES + 2 * marker.keep.length);
  bytes[0] = MARKER_PHASES.indexOf(marker.phase);
  writeUint(bytes, 1, 4, marker.floor);
  writeUint(bytes, 5, 4, marker.voidBelowSeq);
  bytes[9] = marker.keep.length;
  marker.keep.forEach((fileId, index) => writeUint(bytes, MARKER_FIXED_BYTES + 2 * index, 2, fileId));
  return bytes;
}

/** A wipe marker's data, or undefined if it is not well-formed (then the record is ignored). */
function decodeMarker(data: Uint8Array): MarkerData | undefined {
  const phase = MARKER_PHASES[data[0]];
  const count = data[9];
  if (phase === undefined || data.length < MARKER_FIXED_BYTES || count > MAX_KEPT_FILES || data.length !== MARKER_FIXED_BYTES + 2 * count) return undefined;
  const keep: number[] = [];
  for (let index = 0; index < count; index++) keep.push(readUint(data, MARKER_FIXED_BYTES + 2 * index, 2));
  return { phase, floor: readUint(data, 1, 4), voidBelowSeq: readUint(data, 5, 4), keep };
}
