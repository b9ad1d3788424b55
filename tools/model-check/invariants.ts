/**
 * The invariant catalogue, written once: every invariant's id, title and statement, and every check of it, on
 * the machines (tools/model-check/models.ts explores them) and on the whole device (tools/model-check/composition.ts
 * runs the real actors). docs/invariants.md is generated from this file (tools/model-check/diagrams.ts).
 *
 * Machine-level checks are predicates over one reached state (`state`) or over one step (state, event, next
 * state). Where the specification must not trust the machine's own bookkeeping, a monitor (ghost state fed by the
 * event stream) carries the specification side: e.g. "verified in this session" is tracked by the PIN monitor from
 * the events, and the machine's `userVerified` flag must never claim more than the monitor allows.
 *
 * System-level checks compare two observations of the real device (before and after one command, a power cut
 * included) with what the command presented (right or wrong PIN, SO-PIN) and with the order in which the PIN actor
 * received its requests.
 */
import type { SnapshotFrom } from 'xstate';
import type { LifecycleEvent } from '../../machines/lifecycle.js';
import { lifecycleMachine } from '../../machines/lifecycle.js';
import type { PinEvent } from '../../machines/pin.js';
import { pinMachine } from '../../machines/pin.js';
import type { StorageEvent } from '../../machines/storage.js';
import { storageMachine } from '../../machines/storage.js';
import type { Invariant, Monitor, Observed, Reachability } from './explore.js';
import type { SystemTransition } from './composition.js';

// -------------------------------------------------------------------------------------------------------------
// The catalogue

export type Scope = 'pin' | 'lifecycle' | 'storage' | 'system';

export interface CatalogueEntry {
  readonly id: string;
  readonly title: string;
  readonly statement: string;
  /** `issue`: required by the issue; `found`: added while modelling (see the report). */
  readonly origin: 'issue' | 'found';
  /** Where the invariant is owned, when the machine that the issue names does not hold the notion. */
  readonly note?: string;
}

export const CATALOGUE: readonly CatalogueEntry[] = [
  {
    id: 'key-operation-needs-verified-session',
    title: 'No key operation without a user PIN verified in the current session',
    statement:
      'A key operation (GENERATE ASYMMETRIC KEY PAIR, COMPUTE SIGNATURE, and every write to a PIN-protected file) is accepted in a card session only if the user PIN was verified (a matching VERIFY or CHANGE REFERENCE DATA) in that session after it began; SELECT and power events of the session, reboots, INITIALIZE and a reload end it. Another link client\'s verification never counts.',
    origin: 'issue',
    note: 'The lifecycle machine has no notion of a key operation, and machines/pin.ts models a single session: its `userVerified` means "some card session is verified". Since sessions became per link client, the PIN actor gates key operations on its own set of verified sessions, not on the machine flag. So the machine-level check is that the flag is only ever set by a user PIN match since the last session boundary (against a monitor of the events), and the per-session gate is checked at system level, at each moment the applet or the key store asked the PIN actor.',
  },
  {
    id: 'retry-counter-rises-only-by-match-reset-reinit',
    title: 'Retry counters rise only through a match, an SO-PIN reset or re-initialisation',
    statement:
      'The user PIN retry counter never rises except by a successful verification of the user PIN, a RESET RETRY COUNTER with the right SO-PIN, or re-initialisation; the SO-PIN counter only by a successful SO-PIN verification or re-initialisation. Power cuts included.',
    origin: 'issue',
  },
  {
    id: 'try-spent-before-comparison',
    title: 'A try is spent (and persisted) before the comparison',
    statement:
      'Every comparison of a presented PIN happens in `checking`, which is entered only by lowering the counter by exactly one; a comparison result changes nothing outside `checking`. At system level: a wrong PIN presented costs a try whatever a power cut hits.',
    origin: 'issue',
    note: 'The issue\'s mutant "verify without spending"; the PIN actor persists the lowered counter before it sends `*_ATTEMPT_STARTED`.',
  },
  {
    id: 'blocked-left-only-by-so-reset-or-reinit',
    title: 'A blocked PIN is left only by an SO-PIN reset or re-initialisation',
    statement:
      'A blocked user PIN becomes usable again only through RESET RETRY COUNTER with the right SO-PIN or re-initialisation (a wipe); a blocked SO-PIN only through re-initialisation. Reboots and power cuts keep a PIN blocked.',
    origin: 'issue',
  },
  {
    id: 'reinit-requires-so-pin',
    title: 'Re-initialisation requires the SO-PIN once one is set',
    statement:
      'Once an SO-PIN is set, the device is wiped and re-provisioned only after that SO-PIN was accepted, whatever stage the device reports; INITIALIZE with a wrong SO-PIN changes nothing but the SO counter.',
    origin: 'issue',
    note: 'Finding F1 (fixed) violated it: a power cut during INITIALIZE left a device `installed` with its PINs set, which accepted INITIALIZE with any SO-PIN.',
  },
  {
    id: 'reinit-wipes-everything',
    title: 'Re-initialisation wipes all keys',
    statement:
      'Setting new PINs (initializing) always follows a recorded wipe; after a re-initialisation no key, data object or certificate of the user remains, not even as stale bytes in the flash, and a wipe interrupted by a power cut is all or nothing.',
    origin: 'issue',
  },
  {
    id: 'stage-never-regresses-without-wipe',
    title: 'The lifecycle never returns to an earlier stage without a wipe',
    statement:
      'The stages installed < commissioned < operational only move forward, except through a wipe: a return to an earlier stage is preceded by a recorded wipe since that stage was reached. At system level the stage survives reboots and power cuts.',
    origin: 'issue',
  },
  {
    id: 'storage-ready-only-when-recovered',
    title: 'Storage is never ready while an interrupted operation is unrecovered',
    statement:
      'The storage machine is `ready` (or `compacting`) only when no power loss and no pending work found by a mount is left unrecovered. At system level: whenever the store reports ready after a power cut, mounting the same flash again finds nothing left to recover.',
    origin: 'issue',
  },
  {
    id: 'pin-state-consistent',
    title: 'PIN states agree with their counters',
    statement:
      'With PINs set, 0 <= retries <= limit and limit >= 1; `blocked` exactly when the counter is 0 (outside a comparison); `checking` only below the limit; a verified session only on a usable PIN at its full counter; no PIN set means nothing counted and nothing verified.',
    origin: 'found',
  },
  {
    id: 'operational-only-after-user-verification',
    title: 'Operational only after the user PIN was verified',
    statement:
      'A commissioned device becomes operational only through a successful user PIN verification (or by loading that stage from storage, or by returning to it after a refused re-initialisation); commissioned only through provisioning or loading.',
    origin: 'found',
  },
  {
    id: 'storage-recovery-flag-honest',
    title: 'The storage recovery flag never under-reports',
    statement:
      'The machine\'s `recoveryPending` is set whenever the monitor knows an operation was interrupted, is cleared only by RECOVERY_DONE or FORMATTED, a power loss always unmounts, and a failure is recorded exactly while failed.',
    origin: 'found',
  },
  {
    id: 'refused-commands-change-nothing',
    title: 'A refused command changes nothing durable',
    statement:
      'A command answered with an error status word (anything but 9000, 63Cx or 6983) leaves the stage, the PIN records and counters, and the stored files as they were.',
    origin: 'found',
  },
  {
    id: 'durable-state-matches-live-state',
    title: 'What survives a reboot is what the device said',
    statement:
      'The counters the PIN actor reports are the ones in its stored records, and a reboot (without a cut) changes nothing but the sessions: the stage, counters, PIN states and files read back after the power cycle are those the running device reported.',
    origin: 'found',
  },
  {
    id: 'recovers-from-every-power-cut',
    title: 'The device recovers from a power cut anywhere',
    statement:
      'After a power cut at any flash operation of any command and a reboot, the store is ready and the device is at a lifecycle stage (installed, commissioned or operational), never stuck booting or in need of re-commissioning.',
    origin: 'found',
  },
  {
    id: 'commissioning-is-atomic',
    title: 'Commissioning is all or nothing',
    statement:
      'After any command (power cuts included) the lifecycle stage and the PIN records agree: a device with user PINs set is commissioned or operational, and a commissioned device has its PINs set.',
    origin: 'found',
    note: 'Finding F1 (fixed) violated it.',
  },
  {
    id: 'always-recoverable',
    title: 'No trap: what must stay reachable stays reachable',
    statement:
      'From every reachable state of each machine the states it must always be able to reach remain reachable: a verified user session without re-initialisation (PIN), fresh provisioning (PIN), commissioning and re-initialisation (lifecycle), `ready` (storage); and no state other than an intended terminal one has no way out.',
    origin: 'issue',
  },
];

/**
 * Known findings: real defects of the actors, found by the composition and reported to their owners, not fixed
 * here. A violation is classified as a known finding only if its transition matches the finding's precise
 * description; any other violation of the same invariant still fails `npm run model-check`. When a finding is
 * fixed, test/composition.test.ts says so; then delete its entry.
 */
export interface KnownFinding {
  readonly id: string;
  readonly title: string;
  /** What happens, the counterexample, and where the fix belongs. */
  readonly description: string;
  /** The invariants its transitions violate. */
  readonly invariants: readonly string[];
  matches(step: SystemTransition): boolean;
}

const pinsSet = (observation: SystemTransition['before']['observation']): boolean => observation.user.state !== 'unset' && observation.user.state !== 'unavailable';
/** No SO-PIN is set (a device never commissioned, or wiped): INITIALIZE needs none. */
const noSoPin = (observation: SystemTransition['before']['observation']): boolean => observation.so.state === 'unset';

/**
 * Findings the checker reports without failing while they are being fixed. Empty: F1 (a power cut during
 * INITIALIZE could leave PINs on a device reading as `installed`, whose SO-PIN then guarded nothing) was fixed by
 * committing commissioning with the SO-PIN record, the last of configuration, user PIN, SO-PIN
 * (actors/lifecycle.ts); test/composition.test.ts keeps its counterexample as a regression case.
 */
export const KNOWN_FINDINGS: readonly KnownFinding[] = [];

/** The known finding that explains a violation of `invariant` on this transition, if any. */
export function knownFinding(invariant: string, step: SystemTransition): KnownFinding | undefined {
  return KNOWN_FINDINGS.find((finding) => finding.invariants.includes(invariant) && finding.matches(step));
}

export function entry(id: string): CatalogueEntry {
  const found = CATALOGUE.find((item) => item.id === id);
  if (!found) throw new Error(`no invariant ${id} in the catalogue`);
  return found;
}

// -------------------------------------------------------------------------------------------------------------
// PIN machine

export type PinSnapshot = SnapshotFrom<typeof pinMachine>;
/** Specification side: a user PIN match was seen (after an attempt) since the last session boundary. */
export interface PinMonitor {
  readonly verifiedThisSession: boolean;
}
type PinObserved = Observed<PinSnapshot, PinMonitor>;

const userIs = (snapshot: PinSnapshot, state: 'ready' | 'checking' | 'blocked'): boolean => snapshot.matches({ active: { user: state } });
const soIs = (snapshot: PinSnapshot, state: 'ready' | 'checking' | 'blocked'): boolean => snapshot.matches({ active: { so: state } });
/** Session boundaries: SELECT and power events (SESSION_RESET), a wipe or reload (WIPED), and setting PINs on an empty machine. */
const isSessionBoundary = (before: PinSnapshot, event: PinEvent): boolean =>
  event.type === 'SESSION_RESET' || event.type === 'WIPED' || ((event.type === 'PROVISIONED' || event.type === 'RESTORED') && before.matches('unset'));

export const pinMonitor: Monitor<PinSnapshot, PinEvent, PinMonitor> = {
  initial: () => ({ verifiedThisSession: false }),
  next: (before, event) => {
    if (isSessionBoundary(before.snapshot, event)) return { verifiedThisSession: false };
    if (event.type === 'USER_MATCHED' && userIs(before.snapshot, 'checking')) return { verifiedThisSession: true };
    return before.monitor;
  },
};

export const PIN_INVARIANTS: readonly Invariant<PinSnapshot, PinEvent, PinMonitor>[] = [
  {
    kind: 'state',
    id: 'key-operation-needs-verified-session',
    check: 'context.userVerified (some session verified) implies the monitor saw a user PIN match (after an attempt) since the last session boundary',
    holds: ({ snapshot, monitor }) => !snapshot.context.userVerified || monitor.verifiedThisSession,
  },
  {
    kind: 'step',
    id: 'retry-counter-rises-only-by-match-reset-reinit',
    check: 'with PINs set, userRetries rises only on USER_MATCHED, USER_RESET_BY_SO or PROVISIONED; soRetries only on SO_MATCHED or PROVISIONED',
    holds: (before, event, after) => {
      if (before.snapshot.matches('unset')) return true;
      const b = before.snapshot.context;
      const a = after.snapshot.context;
      if (a.userRetries > b.userRetries && !['USER_MATCHED', 'USER_RESET_BY_SO', 'PROVISIONED'].includes(event.type)) return false;
      if (a.soRetries > b.soRetries && !['SO_MATCHED', 'PROVISIONED'].includes(event.type)) return false;
      return true;
    },
  },
  {
    kind: 'step',
    id: 'try-spent-before-comparison',
    check: 'entering checking lowers that counter by exactly one (and ends the session); a comparison result changes the state only from checking',
    holds: (before, event, after) => {
      const b = before.snapshot;
      const a = after.snapshot;
      if (userIs(a, 'checking') && !userIs(b, 'checking')) {
        if (a.context.userRetries !== b.context.userRetries - 1 || a.context.userVerified) return false;
      }
      if (soIs(a, 'checking') && !soIs(b, 'checking') && a.context.soRetries !== b.context.soRetries - 1) return false;
      const changed = JSON.stringify([b.value, b.context]) !== JSON.stringify([a.value, a.context]);
      if (changed && (event.type === 'USER_MATCHED' || event.type === 'USER_MISMATCHED') && !userIs(b, 'checking')) return false;
      if (changed && (event.type === 'SO_MATCHED' || event.type === 'SO_MISMATCHED') && !soIs(b, 'checking')) return false;
      return true;
    },
  },
  {
    kind: 'step',
    id: 'blocked-left-only-by-so-reset-or-reinit',
    check: 'user.blocked is left only on USER_RESET_BY_SO, WIPED or PROVISIONED; so.blocked only on WIPED or PROVISIONED',
    holds: (before, event, after) => {
      if (userIs(before.snapshot, 'blocked') && !userIs(after.snapshot, 'blocked') && !['USER_RESET_BY_SO', 'WIPED', 'PROVISIONED'].includes(event.type)) return false;
      if (soIs(before.snapshot, 'blocked') && !soIs(after.snapshot, 'blocked') && !['WIPED', 'PROVISIONED'].includes(event.type)) return false;
      return true;
    },
  },
  {
    kind: 'state',
    id: 'pin-state-consistent',
    check: 'counters within 0..limit, blocked exactly at 0, checking below the limit, verified only at a full counter in user.ready, unset holds nothing',
    holds: ({ snapshot }) => {
      const c = snapshot.context;
      if (snapshot.matches('unset')) return c.userLimit === 0 && c.userRetries === 0 && c.soLimit === 0 && c.soRetries === 0 && !c.userVerified;
      if (c.userLimit < 1 || c.soLimit < 1) return false;
      if (c.userRetries < 0 || c.userRetries > c.userLimit || c.soRetries < 0 || c.soRetries > c.soLimit) return false;
      if (userIs(snapshot, 'blocked') !== (c.userRetries === 0 && !userIs(snapshot, 'checking'))) return false;
      if (soIs(snapshot, 'blocked') !== (c.soRetries === 0 && !soIs(snapshot, 'checking'))) return false;
      if (userIs(snapshot, 'checking') && c.userRetries >= c.userLimit) return false;
      if (soIs(snapshot, 'checking') && c.soRetries >= c.soLimit) return false;
      if (c.userVerified && !(userIs(snapshot, 'ready') && c.userRetries === c.userLimit)) return false;
      return true;
    },
  },
];

const pinVerified = ({ snapshot }: PinObserved): boolean => userIs(snapshot, 'ready') && snapshot.context.userVerified;

export const PIN_REACHABILITY: readonly Reachability<PinSnapshot, PinMonitor>[] = [
  {
    id: 'always-recoverable',
    check: 'pin: from every state with PINs set, a verified user session is reachable without leaving `active` (an SO-PIN reset recovers a blocked user PIN)',
    from: ({ snapshot }) => snapshot.matches('active'),
    target: pinVerified,
    via: ({ snapshot }) => snapshot.matches('active'),
  },
  {
    id: 'always-recoverable',
    check: 'pin: from every state, freshly provisioned PINs (full counters, not verified) are reachable',
    target: ({ snapshot }) => userIs(snapshot, 'ready') && soIs(snapshot, 'ready') && snapshot.context.userRetries === snapshot.context.userLimit && snapshot.context.soRetries === snapshot.context.soLimit && !snapshot.context.userVerified,
  },
];

// -------------------------------------------------------------------------------------------------------------
// Lifecycle machine

export type LifecycleSnapshot = SnapshotFrom<typeof lifecycleMachine>;
/**
 * Specification side: the highest stage reached since the last recorded wipe (-1: none), and whether the current
 * SO-PIN was accepted since the device last (re-)entered use.
 */
export interface LifecycleMonitor {
  readonly highest: number;
  readonly soAccepted: boolean;
}

/** installed 0 < commissioned 1 < operational 2; the transient states have no rank. */
export function stageRank(snapshot: LifecycleSnapshot): number | undefined {
  if (snapshot.matches('installed')) return 0;
  if (snapshot.matches({ inUse: 'commissioned' })) return 1;
  if (snapshot.matches({ inUse: 'operational' })) return 2;
  return undefined;
}

export const lifecycleMonitor: Monitor<LifecycleSnapshot, LifecycleEvent, LifecycleMonitor> = {
  initial: (snapshot) => ({ highest: stageRank(snapshot) ?? -1, soAccepted: false }),
  next: (before, event, after) => {
    const wiped = after.context.wipes > before.snapshot.context.wipes;
    const rank = stageRank(after) ?? -1;
    const highest = wiped ? rank : Math.max(before.monitor.highest, rank);
    const enteringUse = after.matches('inUse') && !before.snapshot.matches('inUse');
    let soAccepted = before.monitor.soAccepted;
    if (event.type === 'SO_PIN_ACCEPTED' && before.snapshot.matches('checkingSoPin')) soAccepted = true;
    else if (enteringUse) soAccepted = false;
    return { highest, soAccepted };
  },
};

const entering = (before: LifecycleSnapshot, after: LifecycleSnapshot, state: Parameters<LifecycleSnapshot['matches']>[0]): boolean => after.matches(state) && !before.matches(state);

export const LIFECYCLE_INVARIANTS: readonly Invariant<LifecycleSnapshot, LifecycleEvent, LifecycleMonitor>[] = [
  {
    kind: 'step',
    id: 'stage-never-regresses-without-wipe',
    check: 'a step to a stage ranked below the highest stage reached since the last wipe is not allowed',
    holds: (before, _event, after) => {
      const rank = stageRank(after.snapshot);
      return rank === undefined || rank >= before.monitor.highest || after.snapshot.context.wipes > before.snapshot.context.wipes;
    },
  },
  {
    kind: 'step',
    id: 'reinit-requires-so-pin',
    check: 'wiping is entered only from checkingSoPin on SO_PIN_ACCEPTED; initializing after commissioning only once the SO-PIN was accepted',
    holds: (before, event, after) => {
      if (entering(before.snapshot, after.snapshot, 'wiping') && !(before.snapshot.matches('checkingSoPin') && event.type === 'SO_PIN_ACCEPTED')) return false;
      if (entering(before.snapshot, after.snapshot, 'initializing') && before.monitor.highest >= 1 && !after.monitor.soAccepted) return false;
      return true;
    },
  },
  {
    kind: 'step',
    id: 'reinit-wipes-everything',
    check: 'every step into initializing records exactly one wipe (wipes + 1, wipedSinceCommissioning)',
    holds: (before, _event, after) =>
      !entering(before.snapshot, after.snapshot, 'initializing') || (after.snapshot.context.wipes === before.snapshot.context.wipes + 1 && after.snapshot.context.wipedSinceCommissioning),
  },
  {
    kind: 'state',
    id: 'reinit-wipes-everything',
    check: 'initializing only while wipedSinceCommissioning; in use only once it is cleared',
    holds: ({ snapshot }) => (snapshot.matches('initializing') ? snapshot.context.wipedSinceCommissioning : snapshot.matches('inUse') ? !snapshot.context.wipedSinceCommissioning : true),
  },
  {
    kind: 'step',
    id: 'operational-only-after-user-verification',
    check: 'operational is entered only on USER_VERIFIED from commissioned, LOADED from booting, or SO_PIN_REJECTED back to an operational device; inUse only on PROVISIONED, LOADED or SO_PIN_REJECTED',
    holds: (before, event, after) => {
      const b = before.snapshot;
      const a = after.snapshot;
      if (entering(b, a, { inUse: 'operational' })) {
        const verified = event.type === 'USER_VERIFIED' && b.matches({ inUse: 'commissioned' });
        const loaded = event.type === 'LOADED' && b.matches('booting');
        const refusedBack = event.type === 'SO_PIN_REJECTED' && b.matches('checkingSoPin') && before.monitor.highest === 2;
        if (!verified && !loaded && !refusedBack) return false;
      }
      if (entering(b, a, 'inUse')) {
        const ok =
          (event.type === 'PROVISIONED' && b.matches('initializing')) || (event.type === 'LOADED' && b.matches('booting')) || (event.type === 'SO_PIN_REJECTED' && b.matches('checkingSoPin'));
        if (!ok) return false;
      }
      return true;
    },
  },
];

export const LIFECYCLE_REACHABILITY: readonly Reachability<LifecycleSnapshot, LifecycleMonitor>[] = [
  { id: 'always-recoverable', check: 'lifecycle: from every state, commissioned is reachable', target: ({ snapshot }) => snapshot.matches({ inUse: 'commissioned' }) },
  { id: 'always-recoverable', check: 'lifecycle: from every state, re-initialisation (initializing) is reachable', target: ({ snapshot }) => snapshot.matches('initializing') },
];

// -------------------------------------------------------------------------------------------------------------
// Storage machine

export type StorageSnapshot = SnapshotFrom<typeof storageMachine>;
/** Specification side: an operation was interrupted (power lost while powered, or a mount found pending work). */
export interface StorageMonitor {
  readonly unrecovered: boolean;
}

export const storageMonitor: Monitor<StorageSnapshot, StorageEvent, StorageMonitor> = {
  initial: () => ({ unrecovered: false }),
  next: (before, event) => {
    const b = before.snapshot;
    if (event.type === 'POWER_LOST' && (b.matches('mounting') || b.matches('ready') || b.matches('compacting'))) return { unrecovered: true };
    if (event.type === 'MOUNTED' && event.recoveryNeeded && b.matches({ mounting: 'scanning' })) return { unrecovered: true };
    if (event.type === 'RECOVERY_DONE' && b.matches({ mounting: 'recovering' })) return { unrecovered: false };
    if (event.type === 'FORMATTED' && b.can(event)) return { unrecovered: false };
    return before.monitor;
  },
};

export const STORAGE_INVARIANTS: readonly Invariant<StorageSnapshot, StorageEvent, StorageMonitor>[] = [
  {
    kind: 'state',
    id: 'storage-ready-only-when-recovered',
    check: 'ready or compacting only while the monitor knows of no unrecovered interruption and recoveryPending is false',
    holds: ({ snapshot, monitor }) => !(snapshot.matches('ready') || snapshot.matches('compacting')) || (!monitor.unrecovered && !snapshot.context.recoveryPending),
  },
  {
    kind: 'state',
    id: 'storage-recovery-flag-honest',
    check: 'recoveryPending is set whenever the monitor knows of an unrecovered interruption; failure recorded exactly while failed (kept when power is lost while failed)',
    holds: ({ snapshot, monitor }) => {
      if (monitor.unrecovered && !snapshot.context.recoveryPending) return false;
      if (snapshot.matches('failed') && snapshot.context.failure === undefined) return false;
      if ((snapshot.matches('mounting') || snapshot.matches('ready') || snapshot.matches('compacting')) && snapshot.context.failure !== undefined) return false;
      return true;
    },
  },
  {
    kind: 'step',
    id: 'storage-recovery-flag-honest',
    check: 'recoveryPending is cleared only on RECOVERY_DONE or FORMATTED; a handled POWER_LOST always ends unmounted with recoveryPending',
    holds: (before, event, after) => {
      if (before.snapshot.context.recoveryPending && !after.snapshot.context.recoveryPending && event.type !== 'RECOVERY_DONE' && event.type !== 'FORMATTED') return false;
      if (event.type === 'POWER_LOST' && before.snapshot.can(event) && !(after.snapshot.matches('unmounted') && after.snapshot.context.recoveryPending)) return false;
      return true;
    },
  },
];

export const STORAGE_REACHABILITY: readonly Reachability<StorageSnapshot, StorageMonitor>[] = [
  { id: 'always-recoverable', check: 'storage: from every state, ready is reachable', target: ({ snapshot }) => snapshot.matches('ready') },
];

// -------------------------------------------------------------------------------------------------------------
// System level: the real actors on the simulated board

export interface SystemInvariant {
  readonly id: string;
  readonly check: string;
  /** true, or what went wrong. */
  holds(step: SystemTransition): true | string;
}

const RANKS: Readonly<Record<string, number>> = { installed: 0, commissioned: 1, operational: 2 };
const isWrongPinStatus = (statusWord: number): boolean => (statusWord & 0xfff0) === 0x63c0 || statusWord === 0x6983;
const sameFiles = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((fileId, at) => fileId === b[at]);
const hex = (statusWord: number | undefined): string => (statusWord === undefined ? 'no answer (power cut)' : statusWord.toString(16).padStart(4, '0'));

/** Whether the command re-initialised legitimately: INITIALIZE with the right SO-PIN, or where no SO-PIN is set. */
function legitimateReinit(step: SystemTransition): boolean {
  const { command } = step.step;
  return command.reinitialises === true && (command.presents.so === 'right' || noSoPin(step.before.observation));
}

export const SYSTEM_INVARIANTS: readonly SystemInvariant[] = [
  {
    id: 'key-operation-needs-verified-session',
    check: 'an accepted key operation (GENERATE, SIGN, protected UPDATE BINARY) was authorised, at every question the applet or key store asked the PIN actor, while its own card session was verified by the history; pin.status `verified` never claims a session the history did not verify',
    holds: (step) => {
      const claimed = step.after.observation.verified.findIndex((flag, session) => flag && !step.after.sessions[session]);
      if (claimed >= 0) return `pin.status says session ${claimed} is verified but no user PIN was verified in that session`;
      if (!step.step.command.keyOperation || step.cut || step.statusWord !== 0x9000) return true;
      if (step.authorisations.length === 0) return `${step.step.command.id} was accepted without asking the PIN actor`;
      return step.authorisations.every(Boolean) ? true : `${step.step.command.id} was accepted although its session was not verified when the PIN actor was asked`;
    },
  },
  {
    id: 'retry-counter-rises-only-by-match-reset-reinit',
    check: 'a counter read after the command (and the reboot after a cut) is above the one before only if the command presented the right PIN (user: VERIFY or CHANGE; SO: RESET RETRY COUNTER or INITIALIZE) or re-initialised',
    holds: (step) => {
      const b = step.before.observation;
      const a = step.after.observation;
      const { presents } = step.step.command;
      if (legitimateReinit(step)) return true;
      const setBoth = (view: typeof b.user, later: typeof a.user): boolean => view.state !== 'unset' && view.state !== 'unavailable' && later.state !== 'unset' && later.state !== 'unavailable';
      if (setBoth(b.user, a.user) && a.user.retries > b.user.retries && presents.user !== 'right' && presents.so !== 'right') return `user counter ${b.user.retries} -> ${a.user.retries}`;
      if (setBoth(b.so, a.so) && a.so.retries > b.so.retries && presents.so !== 'right') return `SO counter ${b.so.retries} -> ${a.so.retries}`;
      return true;
    },
  },
  {
    id: 'try-spent-before-comparison',
    check: 'a wrong PIN that reached the comparison (the KDF ran) always costs a try, whatever the power cut hit',
    holds: (step) => {
      const { presents } = step.step.command;
      const b = step.before.observation;
      const a = step.after.observation;
      if (!step.compared || legitimateReinit(step)) return true;
      if (presents.user === 'wrong' && b.user.state === 'ready' && a.user.state !== 'unset' && a.user.retries >= b.user.retries) return `wrong user PIN compared, counter ${b.user.retries} -> ${a.user.retries}`;
      if (presents.so === 'wrong' && b.so.state === 'ready' && a.so.state !== 'unset' && a.so.retries >= b.so.retries) return `wrong SO-PIN compared, counter ${b.so.retries} -> ${a.so.retries}`;
      return true;
    },
  },
  {
    id: 'blocked-left-only-by-so-reset-or-reinit',
    check: 'a blocked user PIN is usable afterwards only after RESET RETRY COUNTER with the right SO-PIN or re-initialisation; a blocked SO-PIN only after re-initialisation',
    holds: (step) => {
      const b = step.before.observation;
      const a = step.after.observation;
      const { command } = step.step;
      if (b.user.state === 'blocked' && a.user.state !== 'blocked' && !(command.resetsUser && command.presents.so === 'right') && !legitimateReinit(step)) return `user PIN left blocked (${a.user.state})`;
      if (b.so.state === 'blocked' && a.so.state !== 'blocked' && !legitimateReinit(step)) return `SO-PIN left blocked (${a.so.state})`;
      return true;
    },
  },
  {
    id: 'reinit-requires-so-pin',
    check: 'once an SO-PIN is set (whatever stage the device reports), files vanish, PIN records are re-sealed or the stage drops only after INITIALIZE with the right SO-PIN',
    holds: (step) => {
      const b = step.before.observation;
      const a = step.after.observation;
      if (noSoPin(b) || b.so.state === 'unavailable' || legitimateReinit(step)) return true;
      const vanished = b.userFiles.filter((fileId) => !a.userFiles.includes(fileId));
      if (vanished.length > 0) return `files ${vanished.map((fileId) => fileId.toString(16)).join(',')} vanished`;
      if (b.soPinSalt !== a.soPinSalt) return 'the SO-PIN record was re-sealed';
      if (b.userPinSalt !== a.userPinSalt && !step.step.command.changesUserPin) return 'the user PIN record was re-sealed';
      if ((RANKS[a.stage] ?? -1) < (RANKS[b.stage] ?? -1)) return `stage ${b.stage} -> ${a.stage}`;
      return true;
    },
  },
  {
    id: 'reinit-wipes-everything',
    check: 'after a successful INITIALIZE no user file remains and the flash holds no byte pattern of any file written before; after a cut INITIALIZE the files are all there or all gone (and then gone from the flash too)',
    holds: (step) => {
      if (!step.step.command.reinitialises) return true;
      const b = step.before.observation;
      const a = step.after.observation;
      const gone = a.userFiles.length === 0;
      if (!step.cut && step.statusWord === 0x9000 && !gone) return `files left after INITIALIZE: ${a.userFiles.map((fileId) => fileId.toString(16)).join(',')}`;
      if (step.cut && !gone && !sameFiles(a.userFiles, b.userFiles)) return `a cut wipe left some files: ${b.userFiles.join(',')} -> ${a.userFiles.join(',')}`;
      if (gone && b.userFiles.length > 0 && step.patternInFlash) return 'the files are gone but their bytes are still in the flash';
      return true;
    },
  },
  {
    id: 'stage-never-regresses-without-wipe',
    check: 'the stage read after the command (after the reboot, for a cut) is below the one before only if every user file is gone and the command re-initialised legitimately',
    holds: (step) => {
      const before = RANKS[step.before.observation.stage];
      const after = RANKS[step.after.observation.stage];
      if (before === undefined || after === undefined || after >= before) return true;
      if (legitimateReinit(step) && step.after.observation.userFiles.length === 0) return true;
      return `stage ${step.before.observation.stage} -> ${step.after.observation.stage} after ${step.step.command.id}${step.cut ? ' (cut)' : ''}`;
    },
  },
  {
    id: 'storage-ready-only-when-recovered',
    check: 'after a cut and reboot, if the store reports ready, a fresh mount of the same flash finds no recovery pending',
    holds: (step) => (step.remountNeedsRecovery === true ? 'the store reported ready but a fresh mount of its flash still finds work to recover' : true),
  },
  {
    id: 'refused-commands-change-nothing',
    check: 'an answer other than 9000, 63Cx or 6983 (no cut) leaves stage, PIN states, counters, records and files unchanged',
    holds: (step) => {
      if (step.cut || step.statusWord === undefined || step.statusWord === 0x9000 || isWrongPinStatus(step.statusWord)) return true;
      const strip = (o: typeof step.before.observation) => JSON.stringify({ ...o, verified: [] });
      return strip(step.before.observation) === strip(step.after.observation) ? true : `answer ${hex(step.statusWord)} but the device changed`;
    },
  },
  {
    id: 'durable-state-matches-live-state',
    check: 'the counters pin.status reports are those of the stored records, after every step; a clean reboot changes nothing but the sessions',
    holds: (step) => {
      const a = step.after.observation;
      for (const [name, view, stored] of [['user', a.user, a.stored.user], ['SO', a.so, a.stored.so]] as const) {
        if (view.state !== 'unset' && view.state !== 'unavailable' && stored && (stored.retries !== view.retries || stored.limit !== view.limit)) {
          return `${name} PIN: pin.status ${view.retries}/${view.limit}, stored record ${stored.retries}/${stored.limit}`;
        }
      }
      if (!step.step.command.reboot || step.cut) return true;
      const strip = (o: typeof step.before.observation) => JSON.stringify({ ...o, verified: [] });
      return strip(step.before.observation) === strip(step.after.observation) ? true : `before ${strip(step.before.observation)} after ${strip(step.after.observation)}`;
    },
  },
  {
    id: 'recovers-from-every-power-cut',
    check: 'after a cut and reboot: store ready, stage installed/commissioned/operational',
    holds: (step) => {
      if (!step.cut) return true;
      const a = step.after.observation;
      if (a.storage !== 'ready') return `store ${a.storage} after the reboot`;
      return RANKS[a.stage] === undefined ? `stage ${a.stage} after the reboot` : true;
    },
  },
  {
    id: 'commissioning-is-atomic',
    check: 'user PIN set exactly when the stage is commissioned or operational',
    holds: (step) => {
      const a = step.after.observation;
      const pinsSet = a.user.state !== 'unset' && a.user.state !== 'unavailable';
      const commissioned = a.stage === 'commissioned' || a.stage === 'operational';
      return pinsSet === commissioned ? true : `stage ${a.stage} with the user PIN ${a.user.state}`;
    },
  },
];

/** Every invariant id with a check somewhere, by scope (for the docs and the coverage test). */
export function checksByScope(): Record<string, Scope[]> {
  const scopes: Record<string, Scope[]> = {};
  const add = (id: string, scope: Scope): void => {
    scopes[id] ??= [];
    if (!scopes[id].includes(scope)) scopes[id].push(scope);
  };
  PIN_INVARIANTS.forEach((item) => add(item.id, 'pin'));
  PIN_REACHABILITY.forEach((item) => add(item.id, 'pin'));
  LIFECYCLE_INVARIANTS.forEach((item) => add(item.id, 'lifecycle'));
  LIFECYCLE_REACHABILITY.forEach((item) => add(item.id, 'lifecycle'));
  STORAGE_INVARIANTS.forEach((item) => add(item.id, 'storage'));
  STORAGE_REACHABILITY.forEach((item) => add(item.id, 'storage'));
  SYSTEM_INVARIANTS.forEach((item) => add(item.id, 'system'));
  return scopes;
}

/** The checks of one invariant, as lines for the docs. */
export function checksOf(id: string): { scope: Scope; check: string }[] {
  const lines: { scope: Scope; check: string }[] = [];
  const collect = (scope: Scope, items: readonly { id: string; check: string }[]): void => {
    for (const item of items) if (item.id === id) lines.push({ scope, check: item.check });
  };
  collect('pin', PIN_INVARIANTS);
  collect('pin', PIN_REACHABILITY);
  collect('lifecycle', LIFECYCLE_INVARIANTS);
  collect('lifecycle', LIFECYCLE_REACHABILITY);
  collect('storage', STORAGE_INVARIANTS);
  collect('storage', STORAGE_REACHABILITY);
  collect('system', SYSTEM_INVARIANTS);
  return lines;
}

